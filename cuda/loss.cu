// CUDA elementwise losses and the full softmax cross-entropy. Each is one fused pass writing the
// gradient while the loss is summed in float64: per fixed-size chunk (elementwise) or per row
// (softmax), then one block adds the partial sums in a fixed order, so the loss does not depend
// on scheduling. The scalar is copied back at the end (the only wait for the stream).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <type_traits>

#include "bf16.cuh"
#include "gemm.cuh"
#include "loss.cuh"
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
  __shared__ double sh[train::kThreads];
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

// The gradient at v of a row (d its output, x its logits, t its target, m its maximum, f the
// softmax's scale): from the exponential kept in d (T outputs), or recomputed and rounded to
// bfloat16 (O = uint16_t, float32 only: the bf16 products then read it directly, with no
// float32 gradient and no conversion pass).
template <class T, class O>
__device__ __forceinline__ void put_grad(O* d, const T* x, int64_t v, int64_t t, T m, T f,
                                         T inv_k) {
  if constexpr (std::is_same_v<O, T>) {
    d[v] = v == t ? d[v] * f - inv_k : d[v] * f;
  } else {
    const T e = exp(x[v] - m);
    d[v] = float_to_bf16(v == t ? e * f - inv_k : e * f);
  }
}

// Rows with more classes: one block per row (grid-stride over rows); threads stride over V. The
// exponentials go to dl (T outputs) for the rescaling pass, or are recomputed there (bfloat16
// outputs: dl is then the bf16 gradient, and the logits are not written).
template <class T, class O>
__global__ void __launch_bounds__(train::kThreads)
    softmax_xent_kernel(const T* logits, const int64_t* __restrict__ target, int64_t N, int64_t V,
                        int64_t ignore_index, T inv_k, O* dl, double* __restrict__ row_loss) {
  constexpr bool kKeep = std::is_same_v<O, T>;
  __shared__ T shm[train::kThreads];
  __shared__ double shd[train::kThreads];
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    const T* x = logits + n * V;
    O* d = dl + n * V;
    const int64_t t = target[n];
    if (t == ignore_index) {
      for (int64_t v = threadIdx.x; v < V; v += blockDim.x) d[v] = O(0);
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
      if constexpr (kKeep) d[v] = e;
      s += static_cast<double>(e);
    }
    s = train::block_sum<train::kThreads>(s, shd);
    const T f = inv_k / static_cast<T>(s);
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x)  // each thread its own d[v]
      put_grad(d, x, v, t, m, f, inv_k);
    if (threadIdx.x == 0)
      row_loss[n] = static_cast<double>(m) + log(s) - static_cast<double>(xt);
  }
}

// Rows with V <= kWarpRowMax classes: one warp per row (8 rows per block), no block barriers.
constexpr int64_t kWarpRowMax = 1024;

// kWarpRowMax, or CHRONOSCALE_CUDA_XENT_WARP_MAX (read at each call: bench/gpu/bench_xent.py
// times both kernels at the recommender's size with it).
int64_t warp_row_max() {
  const char* v = std::getenv("CHRONOSCALE_CUDA_XENT_WARP_MAX");
  if (!v || !*v) return kWarpRowMax;
  char* end = nullptr;
  const long long n = std::strtoll(v, &end, 10);
  CS_CHECK(*end == '\0' && n >= 0, ValueError,
           "CHRONOSCALE_CUDA_XENT_WARP_MAX must be an integer >= 0 or unset, got '", v, "'");
  return n;
}
constexpr int kWarpsPerBlock = train::kThreads / 32;

template <class T, class O>
__global__ void __launch_bounds__(train::kThreads)
    softmax_xent_warp_kernel(const T* logits, const int64_t* __restrict__ target, int64_t N,
                             int64_t V, int64_t ignore_index, T inv_k, O* dl,
                             double* __restrict__ row_loss) {
  constexpr bool kKeep = std::is_same_v<O, T>;
  const int lane = threadIdx.x % 32;
  const int64_t step = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t n = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32; n < N;
       n += step) {  // warp-uniform
    const T* x = logits + n * V;
    O* d = dl + n * V;
    const int64_t t = target[n];
    if (t == ignore_index) {
      for (int64_t v = lane; v < V; v += 32) d[v] = O(0);
      if (lane == 0) row_loss[n] = 0.0;
      continue;
    }
    const T xt = x[t];  // read before any write: dl may be logits (in place)
    __syncwarp();       // every lane's read of x[t] before the lane owning t overwrites it
    T m = x[0];
    for (int64_t v = lane; v < V; v += 32) m = x[v] > m ? x[v] : m;
    m = train::warp_max(m);
    double s = 0.0;
    for (int64_t v = lane; v < V; v += 32) {
      const T e = exp(x[v] - m);
      if constexpr (kKeep) d[v] = e;
      s += static_cast<double>(e);
    }
    s = train::warp_sum(s);
    const T f = inv_k / static_cast<T>(s);
    for (int64_t v = lane; v < V; v += 32) put_grad(d, x, v, t, m, f, inv_k);
    if (lane == 0) row_loss[n] = static_cast<double>(m) + log(s) - static_cast<double>(xt);
  }
}

// Queue the cross-entropy rows (dlogits may be logits: in place; or, O = uint16_t, the
// gradient in bfloat16); row_loss[N] per row.
template <class T, class O>
void queue_softmax_xent(const T* logits, const int64_t* dtarget, int64_t N, int64_t V,
                        int64_t ignore_index, T inv_k, O* dl, double* row_loss, cudaStream_t s) {
  if (V <= warp_row_max())
    train::launch(softmax_xent_warp_kernel<T, O>, dim3(train::blocks_for(N, kWarpsPerBlock)),
                  dim3(train::kThreads), s, "softmax_xent_warp_kernel", logits, dtarget, N, V,
                  ignore_index, inv_k, dl, row_loss);
  else
    train::launch(softmax_xent_kernel<T, O>, dim3(train::blocks_for(N, 1)), dim3(train::kThreads),
                  s, "softmax_xent_kernel", logits, dtarget, N, V, ignore_index, inv_k, dl,
                  row_loss);
}

template <class T>
__global__ void add_kernel(T* __restrict__ dst, const T* __restrict__ src, int64_t n) {
  for (int64_t i = flat_index(); i < n; i += flat_stride()) dst[i] += src[i];
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
                  double delta, T* dpred, void* stream) {
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
  queue_softmax_xent<T, T>(logits, dtarget.get(), N, V, ignore_index, inv_k, dlogits,
                           row_loss.get(), s);
  train::finish_sum(row_loss.get(), N, 1.0, row_loss.get() + N, s);
  return train::read_scalar(row_loss.get() + N, s) / static_cast<double>(K);
}

template <class T>
double full_softmax_loss(const T* user, const T* items, const int64_t* target, int64_t N, int64_t V,
                         int64_t D, int64_t ignore_index, int64_t K, T* d_user, T* d_items,
                         void* stream, int64_t block_logits, MatmulPrecision precision,
                         double* loss_out) {
  const auto s = static_cast<cudaStream_t>(stream);
  if (K == 0) {
    CS_CUDA_CHECK(cudaMemsetAsync(d_user, 0, sizeof(T) * static_cast<size_t>(N * D), s));
    CS_CUDA_CHECK(cudaMemsetAsync(d_items, 0, sizeof(T) * static_cast<size_t>(V * D), s));
    if (loss_out) CS_CUDA_CHECK(cudaMemsetAsync(loss_out, 0, sizeof(double), s));  // 0.0
    return loss_out ? std::numeric_limits<double>::quiet_NaN() : 0.0;
  }
  const int64_t R = std::max<int64_t>(1, std::min<int64_t>(N, block_logits / V));
  const auto dtarget = train::to_device(target, N, s);
  DeviceBuffer<double> row_loss(N + 1, s);
  const DeviceBuffer<T> logits(R * V, s);
  const DeviceBuffer<T> part(R < N ? V * D : 0, s);  // d_items of the blocks after the first
  const T inv_k = T(1.0 / static_cast<double>(K));
  // bfloat16: the three products read bfloat16 copies of their operands (tensor cores),
  // accumulate and write float32; the logits and the cross-entropy stay float32, and the
  // cross-entropy kernel writes the logits' gradient in bfloat16 for the two backward products.
  // tfloat32: the products read the float32 operands, rounded to TF32 on the tensor cores.
  constexpr bool kFloat = std::is_same_v<T, float>;
  const bool half = kFloat && precision == MatmulPrecision::bfloat16;
  const bool tf32 = kFloat && precision == MatmulPrecision::tfloat32;
  const DeviceBuffer<uint16_t> items_h(half ? V * D : 0, s), user_h(half ? R * D : 0, s),
      dl_h(half ? R * V : 0, s);
  // Operand x (n values) in bfloat16 (into `h`) when `half`.
  auto narrow = [&](const T* x, const DeviceBuffer<uint16_t>& h, int64_t n) {
    if constexpr (kFloat)
      if (half) to_bf16(x, h.get(), n, s);
  };
  // C = op(A) op(B), from the bfloat16 copies (Ah, Bh) when `half`.
  auto product = [&](bool ta, bool tb, int64_t M, int64_t Nc, int64_t Kc, const T* A,
                     const DeviceBuffer<uint16_t>& Ah, int64_t lda, const T* B,
                     const DeviceBuffer<uint16_t>& Bh, int64_t ldb, T* C, int64_t ldc) {
    if constexpr (kFloat) {
      if (half) return gemm_bf16(s, ta, tb, M, Nc, Kc, Ah.get(), lda, Bh.get(), ldb, C, ldc);
      if (tf32) return gemm_tf32(s, ta, tb, M, Nc, Kc, A, lda, B, ldb, C, ldc);
    }
    gemm<T>(s, ta, tb, M, Nc, Kc, A, lda, B, ldb, C, ldc);
  };
  narrow(items, items_h, V * D);
  for (int64_t i = 0; i < N; i += R) {
    const int64_t r = std::min(R, N - i);
    const T* u = user + i * D;
    T* di = i == 0 ? d_items : part.get();
    narrow(u, user_h, r * D);
    product(false, true, r, V, D, u, user_h, D, items, items_h, D, logits.get(), V);
    if constexpr (kFloat) {
      if (half)  // the gradient straight to bfloat16 (the logits stay as they are)
        queue_softmax_xent<T, uint16_t>(logits.get(), dtarget.get() + i, r, V, ignore_index, inv_k,
                                        dl_h.get(), row_loss.get() + i, s);
    }
    if (!half)
      queue_softmax_xent<T, T>(logits.get(), dtarget.get() + i, r, V, ignore_index, inv_k,
                               logits.get(), row_loss.get() + i, s);
    product(false, false, r, D, V, logits.get(), dl_h, V, items, items_h, D, d_user + i * D, D);
    product(true, false, V, D, r, logits.get(), dl_h, V, u, user_h, D, di, D);
    if (i > 0)
      train::launch(add_kernel<T>, dim3(train::blocks_for(V * D)), dim3(train::kThreads), s,
                    "add_kernel", d_items, part.get(), V * D);
  }
  if (loss_out) {  // the mean on the device, no wait
    train::finish_sum(row_loss.get(), N, 1.0 / static_cast<double>(K), loss_out, s);
    return std::numeric_limits<double>::quiet_NaN();
  }
  train::finish_sum(row_loss.get(), N, 1.0, row_loss.get() + N, s);
  return train::read_scalar(row_loss.get() + N, s) / static_cast<double>(K);
}

#define CS_INSTANTIATE(T)                                                                       \
  template double point_loss<T>(PointLoss, const T*, const T*, const T*, int64_t, double, T*,   \
                                void*);                                                         \
  template double softmax_cross_entropy<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, \
                                           int64_t, T*, void*);                                 \
  template double full_softmax_loss<T>(const T*, const T*, const int64_t*, int64_t, int64_t,    \
                                       int64_t, int64_t, int64_t, T*, T*, void*, int64_t,       \
                                       MatmulPrecision, double*);
CS_INSTANTIATE(float)
CS_INSTANTIATE(double)
#undef CS_INSTANTIATE

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
