// CUDA elementwise losses and the softmax cross-entropy (the full softmax: full_softmax.cu). Each
// is one fused pass writing the gradient while the loss is summed in float64: per fixed-size
// chunk (elementwise) or per row (softmax, softmax_xent.cuh), then one block adds the partial
// sums in a fixed order, so the loss does not depend on scheduling. The scalar is copied back at
// the end (the only wait for the stream).
#include <cuda_runtime.h>

#include <cmath>
#include <limits>

#include "loss.cuh"
#include "softmax_xent.cuh"
#include "train_common.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

namespace {

constexpr int64_t kLossChunk = 8192;  // elements per block of the elementwise losses

template <class T, int KIND>
__device__ __forceinline__ T point_eval(T p, T t, T delta, T& g) {
  if constexpr (KIND == static_cast<int>(PointLoss::mse)) {
    const T e = p - t;
    g = T(2) * e;
    return e * e;
  } else if constexpr (KIND == static_cast<int>(PointLoss::mae)) {
    const T e = p - t;
    g = e > T(0) ? T(1) : (e < T(0) ? T(-1) : T(0));
    return e > T(0) ? e : -e;
  } else if constexpr (KIND == static_cast<int>(PointLoss::huber)) {
    const T e = p - t, a = e > T(0) ? e : -e;
    const bool quad = a <= delta;
    g = quad ? e : (e > T(0) ? delta : -delta);
    return quad ? T(0.5) * e * e : delta * (a - T(0.5) * delta);
  } else {  // bce_with_logits; exp(-|x|) in (0, 1] never overflows
    const T e = exp(-(p > T(0) ? p : -p));
    const T s = p >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
    g = s - t;
    return (p > T(0) ? p : T(0)) - p * t + log1p(e);
  }
}

template <class T, int KIND>
__global__ void __launch_bounds__(train::kThreads)
    point_loss_kernel(const T* __restrict__ p, const T* __restrict__ t, const T* __restrict__ w,
                      int64_t n, T delta, T inv_n, T* __restrict__ d, double* __restrict__ part) {
  __shared__ double sh[train::kReduceSlots];
  const int64_t i0 = static_cast<int64_t>(blockIdx.x) * kLossChunk;
  const int64_t i1 = i0 + kLossChunk < n ? i0 + kLossChunk : n;
  double s = 0.0;
  for (int64_t i = i0 + threadIdx.x; i < i1; i += blockDim.x) {
    T g;
    const T l = point_eval<T, KIND>(p[i], t[i], delta, g);
    if (w) {
      s += static_cast<double>(w[i] * l);
      d[i] = w[i] * g * inv_n;
    } else {
      s += static_cast<double>(l);
      d[i] = g * inv_n;
    }
  }
  s = train::block_sum<train::kThreads>(s, sh);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}

template <class T, int KIND>
void point_launch(const T* p, const T* t, const T* w, int64_t n, double delta, T* d,
                  double* part, cudaStream_t s) {
  const T inv_n = T(1.0 / static_cast<double>(n));
  train::launch(point_loss_kernel<T, KIND>, dim3(train::blocks_for(n, kLossChunk)),
                dim3(train::kThreads), s, "point_loss_kernel", p, t, w, n, T(delta), inv_n, d,
                part);
}

}  // namespace

template <class T>
double point_loss(PointLoss kind, const T* pred, const T* target, const T* weights, int64_t n,
                  double delta, T* dpred, void* stream, double* loss_out) {
  const auto s = static_cast<cudaStream_t>(stream);
  const int64_t nb = train::ceil_div(n, kLossChunk);
  CS_CHECK(nb <= train::kMaxGrid, ValueError, "loss: too many elements for the CUDA kernel (",
           n, ")");
  DeviceBuffer<double> part(nb + 1, s);
  switch (kind) {
    case PointLoss::mse:
      point_launch<T, 0>(pred, target, weights, n, delta, dpred, part.get(), s);
      break;
    case PointLoss::mae:
      point_launch<T, 1>(pred, target, weights, n, delta, dpred, part.get(), s);
      break;
    case PointLoss::huber:
      point_launch<T, 2>(pred, target, weights, n, delta, dpred, part.get(), s);
      break;
    case PointLoss::bce_with_logits:
      point_launch<T, 3>(pred, target, weights, n, delta, dpred, part.get(), s);
      break;
  }
  if (loss_out) {  // the mean on the device, no wait
    train::finish_sum(part.get(), nb, static_cast<double>(n), loss_out, s);
    return std::numeric_limits<double>::quiet_NaN();
  }
  train::finish_sum(part.get(), nb, 1.0, part.get() + nb, s);
  return train::read_scalar(part.get() + nb, s) / static_cast<double>(n);
}

template <class T>
double softmax_cross_entropy(const T* logits, const int64_t* target, int64_t N, int64_t V,
                             int64_t ignore_index, int64_t K, T* dlogits, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  if (K == 0) {
    CS_CUDA_CHECK(cudaMemsetAsync(dlogits, 0, sizeof(T) * static_cast<size_t>(N * V), s));
    return 0.0;
  }
  const auto dtarget = train::to_device(target, N, s);
  DeviceBuffer<double> row_loss(N + 1, s);
  const T inv_k = T(1.0 / static_cast<double>(K));
  xent::queue(logits, V, dtarget.get(), N, V, ignore_index, inv_k, xent::GradKeep<T>{dlogits, V},
              row_loss.get(), s);
  train::finish_sum(row_loss.get(), N, 1.0, row_loss.get() + N, s);
  return train::read_scalar(row_loss.get() + N, s) / static_cast<double>(K);
}

#define CS_INSTANTIATE(T)                                                                       \
  template double point_loss<T>(PointLoss, const T*, const T*, const T*, int64_t, double, T*,   \
                                void*, double*);                                                \
  template double softmax_cross_entropy<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, \
                                           int64_t, T*, void*);
CS_INSTANTIATE(float)
CS_INSTANTIATE(double)
#undef CS_INSTANTIATE

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
