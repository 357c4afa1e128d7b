#pragma once
// The softmax cross-entropy rows of the CUDA losses (softmax_cross_entropy in loss.cu, the full
// softmax in full_softmax.cu): per row n of logits [N, V] (row stride ldx) with target t, the
// loss m + log(sum exp(x - m)) - x[t] (float64 sum) and the gradient (softmax - onehot(t)) / K,
// stored by a Grad* writer (below). Rows whose target is ignore_index get loss 0, gradient 0.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>

#include "bf16.cuh"
#include "tf32.cuh"
#include "train_common.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {
namespace xent {

// Writers: where and how a row's gradient goes. `put(r, v, is_target, f, inv_k, e)` stores the
// gradient at class v of row r (f: the softmax's scale inv_k / sum, e(): the exponential
// exp(x[v] - max), recomputed by the writers that do not keep it).

/// In T, in place over the exponentials that `keep` wrote first (the output may be the logits).
template <class T>
struct GradKeep {
  static constexpr bool kKeep = true;
  T* d;
  int64_t ld;
  __device__ T* row(int64_t n) const { return d + n * ld; }
  __device__ void zero(T* r, int64_t v) const { r[v] = T(0); }
  __device__ void keep(T* r, int64_t v, T e) const { r[v] = e; }
  template <class E>
  __device__ void put(T* r, int64_t v, bool is_target, T f, T inv_k, E) const {
    r[v] = is_target ? r[v] * f - inv_k : r[v] * f;
  }
};

/// In bfloat16 (float32 only: the bf16 products read it; no float32 gradient, no conversion).
struct GradBf16 {
  static constexpr bool kKeep = false;
  uint16_t* d;
  int64_t ld;
  __device__ uint16_t* row(int64_t n) const { return d + n * ld; }
  __device__ void zero(uint16_t* r, int64_t v) const { r[v] = 0; }
  __device__ void keep(uint16_t*, int64_t, float) const {}
  template <class E>
  __device__ void put(uint16_t* r, int64_t v, bool is_target, float f, float inv_k, E e) const {
    const float x = e();
    r[v] = float_to_bf16(is_target ? x * f - inv_k : x * f);
  }
};

/// As a TF32 pair (float32 only, the 3xTF32 products): g = hi + lo exactly, hi = tf32_round(g)
/// at column v of the row, lo = g - hi at column lo_at + v.
struct GradTf32Pair {
  static constexpr bool kKeep = false;
  float* d;
  int64_t ld, lo_at;
  __device__ float* row(int64_t n) const { return d + n * ld; }
  __device__ void zero(float* r, int64_t v) const { r[v] = r[lo_at + v] = 0.0f; }
  __device__ void keep(float*, int64_t, float) const {}
  template <class E>
  __device__ void put(float* r, int64_t v, bool is_target, float f, float inv_k, E e) const {
    const float x = e();
    const float g = is_target ? x * f - inv_k : x * f;
    const float hi = tf32_round(g);
    r[v] = hi;
    r[lo_at + v] = g - hi;
  }
};

// Rows with more classes: one block per row (grid-stride over rows); threads stride over V.
template <class T, class W>
__global__ void __launch_bounds__(train::kThreads)
    rows_block_kernel(const T* logits, int64_t ldx, const int64_t* __restrict__ target, int64_t N,
                      int64_t V, int64_t ignore_index, T inv_k, W w,
                      double* __restrict__ row_loss) {
  __shared__ T shm[train::kThreads];
  __shared__ double shd[train::kThreads];
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    const T* x = logits + n * ldx;
    auto d = w.row(n);
    const int64_t t = target[n];
    if (t == ignore_index) {
      for (int64_t v = threadIdx.x; v < V; v += blockDim.x) w.zero(d, v);
      if (threadIdx.x == 0) row_loss[n] = 0.0;
      continue;
    }
    const T xt = x[t];  // read before the barrier below, before any write (in place)
    T m = x[0];
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x) m = x[v] > m ? x[v] : m;
    m = train::block_max<train::kThreads>(m, shm);
    double s = 0.0;
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
      const T e = exp(x[v] - m);
      if constexpr (W::kKeep) w.keep(d, v, e);
      s += static_cast<double>(e);
    }
    s = train::block_sum<train::kThreads>(s, shd);
    const T f = inv_k / static_cast<T>(s);
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x)  // each thread its own d[v]
      w.put(d, v, v == t, f, inv_k, [&] { return T(exp(x[v] - m)); });
    if (threadIdx.x == 0) row_loss[n] = static_cast<double>(m) + log(s) - static_cast<double>(xt);
  }
}

// Rows with V <= kWarpRowMax classes: one warp per row (8 rows per block), no block barriers.
constexpr int64_t kWarpRowMax = 1024;
constexpr int kWarpsPerBlock = train::kThreads / 32;

// kWarpRowMax, or CHRONOSCALE_CUDA_XENT_WARP_MAX (read at each call: bench/gpu/bench_xent.py
// times both kernels at the recommender's size with it).
inline int64_t warp_row_max() {
  const char* v = std::getenv("CHRONOSCALE_CUDA_XENT_WARP_MAX");
  if (!v || !*v) return kWarpRowMax;
  char* end = nullptr;
  const long long n = std::strtoll(v, &end, 10);
  CS_CHECK(*end == '\0' && n >= 0, ValueError,
           "CHRONOSCALE_CUDA_XENT_WARP_MAX must be an integer >= 0 or unset, got '", v, "'");
  return n;
}

template <class T, class W>
__global__ void __launch_bounds__(train::kThreads)
    rows_warp_kernel(const T* logits, int64_t ldx, const int64_t* __restrict__ target, int64_t N,
                     int64_t V, int64_t ignore_index, T inv_k, W w, double* __restrict__ row_loss) {
  const int lane = threadIdx.x % 32;
  const int64_t step = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t n = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32; n < N;
       n += step) {  // warp-uniform
    const T* x = logits + n * ldx;
    auto d = w.row(n);
    const int64_t t = target[n];
    if (t == ignore_index) {
      for (int64_t v = lane; v < V; v += 32) w.zero(d, v);
      if (lane == 0) row_loss[n] = 0.0;
      continue;
    }
    const T xt = x[t];  // read before any write: the output may be the logits (in place)
    __syncwarp();       // every lane's read of x[t] before the lane owning t overwrites it
    T m = x[0];
    for (int64_t v = lane; v < V; v += 32) m = x[v] > m ? x[v] : m;
    m = train::warp_max(m);
    double s = 0.0;
    for (int64_t v = lane; v < V; v += 32) {
      const T e = exp(x[v] - m);
      if constexpr (W::kKeep) w.keep(d, v, e);
      s += static_cast<double>(e);
    }
    s = train::warp_sum(s);
    const T f = inv_k / static_cast<T>(s);
    for (int64_t v = lane; v < V; v += 32)
      w.put(d, v, v == t, f, inv_k, [&] { return T(exp(x[v] - m)); });
    if (lane == 0) row_loss[n] = static_cast<double>(m) + log(s) - static_cast<double>(xt);
  }
}

/// Queue the cross-entropy of N rows of logits (row stride ldx), the gradient through the
/// writer w, row_loss[N] per row; one warp per row up to warp_row_max() classes, else a block.
template <class T, class W>
void queue(const T* logits, int64_t ldx, const int64_t* dtarget, int64_t N, int64_t V,
           int64_t ignore_index, T inv_k, W w, double* row_loss, cudaStream_t s) {
  if (V <= warp_row_max())
    train::launch(rows_warp_kernel<T, W>, dim3(train::blocks_for(N, kWarpsPerBlock)),
                  dim3(train::kThreads), s, "softmax_xent_warp_kernel", logits, ldx, dtarget, N, V,
                  ignore_index, inv_k, w, row_loss);
  else
    train::launch(rows_block_kernel<T, W>, dim3(train::blocks_for(N, 1)), dim3(train::kThreads), s,
                  "softmax_xent_kernel", logits, ldx, dtarget, N, V, ignore_index, inv_k, w,
                  row_loss);
}

}  // namespace xent
}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
