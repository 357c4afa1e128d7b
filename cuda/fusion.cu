// CUDA scale fusion (same maths as cpp/src/cpu/fusion.cpp, the per-column formulas shared in
// cpp/src/fusion_math.hpp). Forward: the softmax per column (one thread per column), then one
// thread per (b, k) output. Backward: one thread per dys element, then one block per column for
// the logits' gradient: each scale's sum over the rows is a fixed-order block sum in double
// (deterministic), kept in a scratch buffer for the column's final formula.
#include <cuda_runtime.h>

#include "../cpp/src/fusion_math.hpp"
#include "device_buffer.cuh"
#include "fusion.cuh"
#include "train_common.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

// Named (not anonymous) so that the emulator harness can reach the kernels.
namespace fusion_impl {

template <class T>
__global__ void __launch_bounds__(train::kThreads)
    alpha_kernel(const FusionDims d, const T* __restrict__ logits, T* __restrict__ alpha) {
  for (int64_t k = flat_index(); k < d.K; k += flat_stride())
    fusion_math::softmax_column(logits, d.S, d.K, k, alpha);
}

template <class T>
__global__ void __launch_bounds__(train::kThreads)
    forward_kernel(const FusionDims d, const T* __restrict__ ys, const T* __restrict__ alpha,
                   T* __restrict__ y) {
  for (int64_t i = flat_index(); i < d.B * d.K; i += flat_stride()) {
    const int64_t k = i % d.K;
    T acc = alpha[k] * ys[i];
    for (int64_t s = 1; s < d.S; ++s) acc += alpha[s * d.K + k] * ys[s * d.B * d.K + i];
    y[i] = acc;
  }
}

template <class T>
__global__ void __launch_bounds__(train::kThreads)
    dys_kernel(const FusionDims d, const T* __restrict__ dy, const T* __restrict__ alpha,
               T* __restrict__ dys) {
  for (int64_t i = flat_index(); i < d.S * d.B * d.K; i += flat_stride()) {
    const int64_t k = i % d.K, s = i / (d.B * d.K);
    dys[i] = alpha[s * d.K + k] * dy[i % (d.B * d.K)];
  }
}

// One block per column k (grid-stride over columns); g: [S, K] double scratch.
template <class T>
__global__ void __launch_bounds__(train::kThreads)
    logits_grad_kernel(const FusionDims d, const T* __restrict__ dy, const T* __restrict__ ys,
                       const T* __restrict__ alpha, double* __restrict__ g,
                       T* __restrict__ dlogits) {
  __shared__ double sh[train::kReduceSlots];
  for (int64_t k = blockIdx.x; k < d.K; k += gridDim.x) {
    for (int64_t s = 0; s < d.S; ++s) {
      double acc = 0.0;
      for (int64_t b = threadIdx.x; b < d.B; b += blockDim.x)
        acc +=
            static_cast<double>(dy[b * d.K + k]) * static_cast<double>(ys[(s * d.B + b) * d.K + k]);
      acc = train::block_sum<train::kThreads>(acc, sh);
      if (threadIdx.x == 0) g[k * d.S + s] = acc;
    }
    if (threadIdx.x == 0) fusion_math::logits_grad_column(alpha, g + k * d.S, d.S, d.K, k, dlogits);
  }
}

}  // namespace fusion_impl

template <class T>
void scale_fusion_forward(const FusionDims& d, const T* ys, const T* logits, T* y, T* alpha,
                          void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  train::launch(fusion_impl::alpha_kernel<T>, dim3(train::blocks_for(d.K)), dim3(train::kThreads),
                s, "fusion alpha_kernel", d, logits, alpha);
  if (d.B * d.K == 0) return;
  train::launch(fusion_impl::forward_kernel<T>, dim3(train::blocks_for(d.B * d.K)),
                dim3(train::kThreads), s, "fusion forward_kernel", d, ys, alpha, y);
}

template <class T>
void scale_fusion_backward(const FusionDims& d, const T* dy, const T* ys, const T* alpha, T* dys,
                           T* dlogits, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  if (d.S * d.B * d.K > 0)
    train::launch(fusion_impl::dys_kernel<T>, dim3(train::blocks_for(d.S * d.B * d.K)),
                  dim3(train::kThreads), s, "fusion dys_kernel", d, dy, alpha, dys);
  if (d.K == 0) return;
  DeviceBuffer<double> g(d.S * d.K, s);
  const auto blocks = static_cast<unsigned>(d.K < 4096 ? d.K : 4096);
  train::launch(fusion_impl::logits_grad_kernel<T>, dim3(blocks), dim3(train::kThreads), s,
                "fusion logits_grad_kernel", d, dy, ys, alpha, g.get(), dlogits);
}

#define CS_INSTANTIATE_FUSION(T)                                                                  \
  template void scale_fusion_forward<T>(const FusionDims&, const T*, const T*, T*, T*, void*);    \
  template void scale_fusion_backward<T>(const FusionDims&, const T*, const T*, const T*, T*, T*, \
                                         void*);
CS_INSTANTIATE_FUSION(float)
CS_INSTANTIATE_FUSION(double)

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
