// CUDA row normalisation (same maths as cpp/src/cpu/normalize.cpp): one warp per row, lanes
// strided over D (coalesced), the row's sum combined with warp shuffles.
#include <cuda_runtime.h>

#include "../cpp/src/cosine_math.hpp"
#include "normalize.cuh"
#include "train_common.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

// Named (not anonymous) so that the emulator harness can reach the kernels.
namespace normalize_impl {

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = train::kThreads / kWarp;

using train::warp_sum;

// Warp-uniform row loop: every lane of a warp sees the same n.
__device__ __forceinline__ int64_t first_row() {
  return static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
}
__device__ __forceinline__ int64_t row_stride() {
  return static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
}

template <class T>
__global__ void __launch_bounds__(train::kThreads)
    forward_kernel(const NormalizeDims d, const T* __restrict__ x, T eps, T* __restrict__ y,
                   T* __restrict__ norm) {
  const int lane = threadIdx.x % kWarp;
  for (int64_t n = first_row(); n < d.N; n += row_stride()) {
    const T* xr = x + n * d.D;
    T s = T(0);
    for (int64_t k = lane; k < d.D; k += kWarp) s += xr[k] * xr[k];
    const T nrm = sqrt(warp_sum(s));
    const T nf = cosine_math::floor_eps(nrm, eps);
    for (int64_t k = lane; k < d.D; k += kWarp) y[n * d.D + k] = xr[k] / nf;
    if (lane == 0) norm[n] = nrm;
  }
}

template <class T>
__global__ void __launch_bounds__(train::kThreads)
    backward_kernel(const NormalizeDims d, const T* __restrict__ dy, const T* __restrict__ y,
                    const T* __restrict__ norm, T eps, T* __restrict__ dx) {
  const int lane = threadIdx.x % kWarp;
  for (int64_t n = first_row(); n < d.N; n += row_stride()) {
    const T* g = dy + n * d.D;
    const T* yr = y + n * d.D;
    const T nrm = norm[n];
    T radial = T(0);
    if (nrm > eps) {  // warp-uniform
      for (int64_t k = lane; k < d.D; k += kWarp) radial += yr[k] * g[k];
      radial = warp_sum(radial);
    }
    const T nf = cosine_math::floor_eps(nrm, eps);
    for (int64_t k = lane; k < d.D; k += kWarp) dx[n * d.D + k] = (g[k] - yr[k] * radial) / nf;
  }
}

inline unsigned row_blocks(int64_t rows) {
  return train::blocks_for(rows, kWarpsPerBlock);
}

}  // namespace normalize_impl

template <class T>
void normalize_forward(const NormalizeDims& d, const T* x, T eps, T* y, T* norm, void* stream) {
  if (d.N == 0) return;
  train::launch(normalize_impl::forward_kernel<T>, dim3(normalize_impl::row_blocks(d.N)),
                dim3(train::kThreads), static_cast<cudaStream_t>(stream),
                "normalize forward_kernel", d, x, eps, y, norm);
}

template <class T>
void normalize_backward(const NormalizeDims& d, const T* dy, const T* y, const T* norm, T eps,
                        T* dx, void* stream) {
  if (d.N == 0) return;
  train::launch(normalize_impl::backward_kernel<T>, dim3(normalize_impl::row_blocks(d.N)),
                dim3(train::kThreads), static_cast<cudaStream_t>(stream),
                "normalize backward_kernel", d, dy, y, norm, eps, dx);
}

#define CS_INSTANTIATE_NORMALIZE(T)                                                              \
  template void normalize_forward<T>(const NormalizeDims&, const T*, T, T*, T*, void*);          \
  template void normalize_backward<T>(const NormalizeDims&, const T*, const T*, const T*, T, T*, \
                                      void*);
CS_INSTANTIATE_NORMALIZE(float)
CS_INSTANTIATE_NORMALIZE(double)

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
