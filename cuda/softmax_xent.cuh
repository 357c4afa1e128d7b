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

// Writers: where and how a row's gradient goes. `store(r, v, g)` writes the gradient g of class
// v into row r (from `row(n)`); the writers with kKeep first `keep` the exponential there (the
// three-pass kernels read it back with `kept` instead of computing it again).

/// In T, in place over the exponentials that `keep` wrote first (the output may be the logits).
template <class T>
struct GradKeep {
  static constexpr bool kKeep = true;
  T* d;
  int64_t ld;
  __device__ T* row(int64_t n) const { return d + n * ld; }
  __device__ void keep(T* r, int64_t v, T e) const { r[v] = e; }
  __device__ T kept(const T* r, int64_t v) const { return r[v]; }
  __device__ void store(T* r, int64_t v, T g) const { r[v] = g; }
};

/// In bfloat16 (float32 only: the bf16 products read it; no float32 gradient, no conversion).
struct GradBf16 {
  static constexpr bool kKeep = false;
  uint16_t* d;
  int64_t ld;
  __device__ uint16_t* row(int64_t n) const { return d + n * ld; }
  __device__ void keep(uint16_t*, int64_t, float) const {}
  __device__ float kept(const uint16_t*, int64_t) const { return 0.0f; }
  __device__ void store(uint16_t* r, int64_t v, float g) const { r[v] = float_to_bf16(g); }
};

/// As a TF32 pair (float32 only, the 3xTF32 products): g = hi + lo exactly, hi = tf32_round(g)
/// at column v of the row, lo = g - hi at column lo_at + v.
struct GradTf32Pair {
  static constexpr bool kKeep = false;
  float* d;
  int64_t ld, lo_at;
  __device__ float* row(int64_t n) const { return d + n * ld; }
  __device__ void keep(float*, int64_t, float) const {}
  __device__ float kept(const float*, int64_t) const { return 0.0f; }
  __device__ void store(float* r, int64_t v, float g) const {
    const float hi = tf32_round(g);
    r[v] = hi;
    r[lo_at + v] = g - hi;
  }
};

/// The gradient of class v from its exponential e: (e / sum - [v == t]) / K = e f - [v == t] / K.
template <class T>
__device__ __forceinline__ T grad_of(T e, bool is_target, T f, T inv_k) {
  return is_target ? e * f - inv_k : e * f;
}

// One block per row (grid-stride over rows), threads striding over V, three passes over the row
// (maximum, sum of exponentials, gradient): rows above kRegRowMax classes, or all block rows
// with CHRONOSCALE_CUDA_XENT_REG=0.
template <class T, class W>
__global__ void __launch_bounds__(train::kThreads)
    rows_block_kernel(const T* logits, int64_t ldx, const int64_t* __restrict__ target, int64_t N,
                      int64_t V, int64_t ignore_index, T inv_k, W w,
                      double* __restrict__ row_loss) {
  __shared__ T shm[train::kReduceSlots];
  __shared__ double shd[train::kReduceSlots];
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    const T* x = logits + n * ldx;
    auto d = w.row(n);
    const int64_t t = target[n];
    if (t == ignore_index) {
      for (int64_t v = threadIdx.x; v < V; v += blockDim.x) w.store(d, v, T(0));
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
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {  // each thread its own d[v]
      const T e = W::kKeep ? w.kept(d, v) : T(exp(x[v] - m));
      w.store(d, v, grad_of(e, v == t, f, inv_k));
    }
    if (threadIdx.x == 0) row_loss[n] = static_cast<double>(m) + log(s) - static_cast<double>(xt);
  }
}

// Rows of up to kThreads * PER classes: one block per row, the row read once into registers
// (PER values per thread, class v = threadIdx.x + j * kThreads in slot j), so each logit is read
// from memory once and its exponential computed once. The same sums in the same order as
// rows_block_kernel (each thread's classes in the same order, then the same block reductions):
// bit-identical results.
template <class T, class W, int PER>
__global__ void __launch_bounds__(train::kThreads)
    rows_reg_kernel(const T* logits, int64_t ldx, const int64_t* __restrict__ target, int64_t N,
                    int64_t V, int64_t ignore_index, T inv_k, W w, double* __restrict__ row_loss) {
  constexpr int NT = train::kThreads;
  __shared__ T shm[NT / 32];
  __shared__ double shd[NT / 32];
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    const T* x = logits + n * ldx;
    auto d = w.row(n);
    const int64_t t = target[n];
    if (t == ignore_index) {
      for (int64_t v = threadIdx.x; v < V; v += NT) w.store(d, v, T(0));
      if (threadIdx.x == 0) row_loss[n] = 0.0;
      continue;
    }
    const T xt = x[t];  // read before the barrier below, before any write (in place)
    T e[PER];
#pragma unroll
    for (int j = 0; j < PER; ++j) {
      const int64_t v = threadIdx.x + static_cast<int64_t>(j) * NT;
      e[j] = v < V ? x[v] : T(0);
    }
    T m = x[0];
#pragma unroll
    for (int j = 0; j < PER; ++j)
      if (threadIdx.x + static_cast<int64_t>(j) * NT < V) m = e[j] > m ? e[j] : m;
    m = train::block_max<NT>(m, shm);
    double s = 0.0;
#pragma unroll
    for (int j = 0; j < PER; ++j)
      if (threadIdx.x + static_cast<int64_t>(j) * NT < V) {
        e[j] = exp(e[j] - m);
        s += static_cast<double>(e[j]);
      }
    s = train::block_sum<NT>(s, shd);
    const T f = inv_k / static_cast<T>(s);
#pragma unroll
    for (int j = 0; j < PER; ++j) {
      const int64_t v = threadIdx.x + static_cast<int64_t>(j) * NT;
      if (v < V) w.store(d, v, grad_of(e[j], v == t, f, inv_k));
    }
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
      for (int64_t v = lane; v < V; v += 32) w.store(d, v, T(0));
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
    for (int64_t v = lane; v < V; v += 32) {
      const T e = W::kKeep ? w.kept(d, v) : T(exp(x[v] - m));
      w.store(d, v, grad_of(e, v == t, f, inv_k));
    }
    if (lane == 0) row_loss[n] = static_cast<double>(m) + log(s) - static_cast<double>(xt);
  }
}

// Classes per row up to which a row is read into registers (rows_reg_kernel), unless
// CHRONOSCALE_CUDA_XENT_REG=0 (read at each call: bench/gpu/bench_xent.py times both).
constexpr int64_t kRegRowMax = int64_t(train::kThreads) * 32;

inline bool reg_rows() {
  const char* v = std::getenv("CHRONOSCALE_CUDA_XENT_REG");
  if (!v || !*v) return true;
  CS_CHECK((v[0] == '0' || v[0] == '1') && v[1] == '\0', ValueError,
           "CHRONOSCALE_CUDA_XENT_REG must be 0, 1 or unset, got '", v, "'");
  return v[0] == '1';
}

/// Queue the cross-entropy of N rows of logits (row stride ldx), the gradient through the
/// writer w, row_loss[N] per row: one warp per row up to warp_row_max() classes, else one block
/// per row, the row in registers up to kRegRowMax classes.
template <class T, class W>
void queue(const T* logits, int64_t ldx, const int64_t* dtarget, int64_t N, int64_t V,
           int64_t ignore_index, T inv_k, W w, double* row_loss, cudaStream_t s) {
  const dim3 rows(train::blocks_for(N, 1)), threads(train::kThreads);
  if (V <= warp_row_max()) {
    train::launch(rows_warp_kernel<T, W>, dim3(train::blocks_for(N, kWarpsPerBlock)), threads, s,
                  "softmax_xent_warp_kernel", logits, ldx, dtarget, N, V, ignore_index, inv_k, w,
                  row_loss);
  } else if (reg_rows() && V <= kRegRowMax) {  // (the knob checked for every block row)
    auto kernel = V <= 8 * train::kThreads    ? rows_reg_kernel<T, W, 8>
                  : V <= 16 * train::kThreads ? rows_reg_kernel<T, W, 16>
                                              : rows_reg_kernel<T, W, 32>;
    train::launch(kernel, rows, threads, s, "softmax_xent_reg_kernel", logits, ldx, dtarget, N, V,
                  ignore_index, inv_k, w, row_loss);
  } else {
    train::launch(rows_block_kernel<T, W>, rows, threads, s, "softmax_xent_kernel", logits, ldx,
                  dtarget, N, V, ignore_index, inv_k, w, row_loss);
  }
}

}  // namespace xent
}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
