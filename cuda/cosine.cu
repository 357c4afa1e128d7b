// CUDA kernels of the cosine features (same maths as cpp/src/cpu/cosine.cpp). One warp per
// (b, t) row: lanes stride over D and the row's sums are combined with warp shuffles. The
// backward gathers each row's gradient (no atomics); dq uses one block per sequence with threads
// over D and a serial, hence deterministic, sum over t.
#include <cuda_runtime.h>

#include <algorithm>

#include "../cpp/src/cosine_math.hpp"
#include "cosine.cuh"
#include "cuda_check.hpp"
#include "cuda_lengths.cuh"
#include "train_common.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

namespace {

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 8;
constexpr int kRowThreads = kWarp * kWarpsPerBlock;
constexpr int kMaxBlocks = 65535 * 4;  // grid-stride loops cover the rest

using train::warp_sum;  // (train_common.cuh)

using cosine_math::floor_eps;
using cosine_math::length_of;

// Warp-uniform row index loop: every lane of a warp sees the same r.
#define CS_FOR_EACH_ROW(r, rows)                                                           \
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp; \
       r < (rows); r += static_cast<int64_t>(gridDim.x) * kWarpsPerBlock)

template <class T>
__global__ void lag_forward_kernel(const T* __restrict__ x, const int64_t* __restrict__ len,
                                   int64_t B, int64_t T_, int64_t D, int64_t lag, T eps,
                                   T* __restrict__ y, T* __restrict__ nrm) {
  const int lane = threadIdx.x % kWarp;
  CS_FOR_EACH_ROW(r, B * T_) {
    const int64_t b = r / T_, t = r % T_;
    if (t >= length_of(len, b, T_)) {
      if (lane == 0) y[r] = nrm[r] = T(0);
      continue;
    }
    const T* a = x + r * D;
    const bool pair = t >= lag;
    const T* p = pair ? a - lag * D : a;
    T saa = T(0), spp = T(0), sap = T(0);
    for (int64_t j = lane; j < D; j += kWarp) {
      const T av = a[j], pv = p[j];
      saa += av * av;
      spp += pv * pv;
      sap += av * pv;
    }
    saa = warp_sum(saa);
    spp = warp_sum(spp);
    sap = warp_sum(sap);
    if (lane == 0) {
      const T na = sqrt(saa);
      nrm[r] = na;
      y[r] = pair ? sap / (floor_eps(na, eps) * floor_eps(T(sqrt(spp)), eps)) : T(0);
    }
  }
}

template <class T>
__global__ void lag_backward_kernel(const T* __restrict__ dy, const T* __restrict__ x,
                                    const T* __restrict__ y, const T* __restrict__ nrm,
                                    const int64_t* __restrict__ len, int64_t B, int64_t T_,
                                    int64_t D, int64_t lag, T eps, T* __restrict__ dx) {
  const int lane = threadIdx.x % kWarp;
  CS_FOR_EACH_ROW(r, B * T_) {
    const int64_t b = r / T_, t = r % T_, L = length_of(len, b, T_);
    T* o = dx + r * D;
    if (t >= L) {
      for (int64_t j = lane; j < D; j += kWarp) o[j] = T(0);
      continue;
    }
    const T* a = x + r * D;
    const auto c = cosine_math::lag_coefficients(r, t, L, lag, dy, y, nrm, eps);
    const T* prev = c.has_prev ? a - lag * D : a;
    const T* next = c.has_next ? a + lag * D : a;
    for (int64_t j = lane; j < D; j += kWarp)
      o[j] = c.self * a[j] + c.prev * prev[j] + c.next * next[j];
  }
}

template <class T>
__global__ void query_forward_kernel(const T* __restrict__ q, const T* __restrict__ x,
                                     const int64_t* __restrict__ len, int64_t B, int64_t T_,
                                     int64_t D, T eps, T* __restrict__ y, T* __restrict__ nrm,
                                     T* __restrict__ qnrm) {
  const int lane = threadIdx.x % kWarp;
  CS_FOR_EACH_ROW(r, B * T_) {
    const int64_t b = r / T_, t = r % T_;
    const bool valid = t < length_of(len, b, T_);
    if (!valid && t != 0) {  // the warp of t == 0 always runs: it writes qnorm[b]
      if (lane == 0) y[r] = nrm[r] = T(0);
      continue;
    }
    const T* qb = q + b * D;
    const T* xr = x + r * D;
    T sqq = T(0), sxx = T(0), sqx = T(0);
    for (int64_t j = lane; j < D; j += kWarp) {
      const T qv = qb[j];
      sqq += qv * qv;
      if (valid) {
        const T xv = xr[j];
        sxx += xv * xv;
        sqx += qv * xv;
      }
    }
    sqq = warp_sum(sqq);
    sxx = warp_sum(sxx);
    sqx = warp_sum(sqx);
    if (lane == 0) {
      const T qn = sqrt(sqq), xn = sqrt(sxx);
      if (t == 0) qnrm[b] = qn;
      nrm[r] = valid ? xn : T(0);
      y[r] = valid ? sqx / (floor_eps(qn, eps) * floor_eps(xn, eps)) : T(0);
    }
  }
}

template <class T>
__global__ void query_backward_dx_kernel(const T* __restrict__ dy, const T* __restrict__ q,
                                         const T* __restrict__ x, const T* __restrict__ y,
                                         const T* __restrict__ nrm, const T* __restrict__ qnrm,
                                         const int64_t* __restrict__ len, int64_t B, int64_t T_,
                                         int64_t D, T eps, T* __restrict__ dx) {
  const int lane = threadIdx.x % kWarp;
  CS_FOR_EACH_ROW(r, B * T_) {
    const int64_t b = r / T_, t = r % T_;
    T* o = dx + r * D;
    if (t >= length_of(len, b, T_)) {
      for (int64_t j = lane; j < D; j += kWarp) o[j] = T(0);
      continue;
    }
    const T* qb = q + b * D;
    const T* xr = x + r * D;
    const T nx = floor_eps(nrm[r], eps);
    const T c = dy[r] / (floor_eps(qnrm[b], eps) * nx);
    const T c_self = nrm[r] > eps ? -dy[r] * y[r] / (nx * nx) : T(0);
    for (int64_t j = lane; j < D; j += kWarp) o[j] = c * qb[j] + c_self * xr[j];
  }
}

// One block per sequence, threads over D; the sum over t runs in order (deterministic).
template <class T>
__global__ void query_backward_dq_kernel(const T* __restrict__ dy, const T* __restrict__ q,
                                         const T* __restrict__ x, const T* __restrict__ y,
                                         const T* __restrict__ nrm, const T* __restrict__ qnrm,
                                         const int64_t* __restrict__ len, int64_t B, int64_t T_,
                                         int64_t D, T eps, T* __restrict__ dq) {
  for (int64_t b = blockIdx.x; b < B; b += gridDim.x) {
    const int64_t L = length_of(len, b, T_);
    const T nq = floor_eps(qnrm[b], eps);
    T s = T(0);
    for (int64_t t = 0; t < L; ++t) s += dy[b * T_ + t] * y[b * T_ + t];
    const T c_q = qnrm[b] > eps ? -s / (nq * nq) : T(0);
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
      T acc = T(0);
      for (int64_t t = 0; t < L; ++t) {
        const int64_t r = b * T_ + t;
        acc += dy[r] / (nq * floor_eps(nrm[r], eps)) * x[r * D + j];
      }
      dq[b * D + j] = acc + c_q * q[b * D + j];
    }
  }
}

#undef CS_FOR_EACH_ROW

unsigned row_blocks(int64_t rows) {
  const int64_t n = (rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
  return static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(n, 1), kMaxBlocks));
}

}  // namespace

template <class T>
void cosine_lag_forward(const CosineDims& d, const CosineInputs& in, const CosineCache& out,
                        void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  const DeviceLengths len(in.lengths, d.B, s);
  lag_forward_kernel<T><<<row_blocks(d.B * d.T), kRowThreads, 0, s>>>(
      in.x.ptr<T>(), len.get(), d.B, d.T, d.D, in.lag, static_cast<T>(in.eps), out.y.ptr<T>(),
      out.xnorm.ptr<T>());
  CS_CUDA_CHECK_LAUNCH("cosine lag_forward_kernel");
}

template <class T>
void cosine_lag_backward(const CosineDims& d, const Tensor& dy, const CosineInputs& in,
                         const CosineCache& fwd, const Tensor& dx, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  const DeviceLengths len(in.lengths, d.B, s);
  lag_backward_kernel<T><<<row_blocks(d.B * d.T), kRowThreads, 0, s>>>(
      dy.ptr<T>(), in.x.ptr<T>(), fwd.y.ptr<T>(), fwd.xnorm.ptr<T>(), len.get(), d.B, d.T, d.D,
      in.lag, static_cast<T>(in.eps), dx.ptr<T>());
  CS_CUDA_CHECK_LAUNCH("cosine lag_backward_kernel");
}

template <class T>
void cosine_query_forward(const CosineDims& d, const CosineInputs& in, const CosineCache& out,
                          void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  const DeviceLengths len(in.lengths, d.B, s);
  query_forward_kernel<T><<<row_blocks(d.B * d.T), kRowThreads, 0, s>>>(
      in.q.ptr<T>(), in.x.ptr<T>(), len.get(), d.B, d.T, d.D, static_cast<T>(in.eps),
      out.y.ptr<T>(), out.xnorm.ptr<T>(), out.qnorm.ptr<T>());
  CS_CUDA_CHECK_LAUNCH("cosine query_forward_kernel");
}

template <class T>
void cosine_query_backward(const CosineDims& d, const Tensor& dy, const CosineInputs& in,
                           const CosineCache& fwd, const Tensor& dq, const Tensor& dx,
                           void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  const DeviceLengths len(in.lengths, d.B, s);
  const T eps = static_cast<T>(in.eps);
  query_backward_dx_kernel<T><<<row_blocks(d.B * d.T), kRowThreads, 0, s>>>(
      dy.ptr<T>(), in.q.ptr<T>(), in.x.ptr<T>(), fwd.y.ptr<T>(), fwd.xnorm.ptr<T>(),
      fwd.qnorm.ptr<T>(), len.get(), d.B, d.T, d.D, eps, dx.ptr<T>());
  CS_CUDA_CHECK_LAUNCH("cosine query_backward_dx_kernel");
  const int threads = d.D >= 128 ? 128 : 32;
  const auto blocks = static_cast<unsigned>(std::min<int64_t>(d.B, kMaxBlocks));
  query_backward_dq_kernel<T><<<blocks, threads, 0, s>>>(
      dy.ptr<T>(), in.q.ptr<T>(), in.x.ptr<T>(), fwd.y.ptr<T>(), fwd.xnorm.ptr<T>(),
      fwd.qnorm.ptr<T>(), len.get(), d.B, d.T, d.D, eps, dq.ptr<T>());
  CS_CUDA_CHECK_LAUNCH("cosine query_backward_dq_kernel");
}

#define CS_INSTANTIATE_COSINE(T)                                                               \
  template void cosine_lag_forward<T>(const CosineDims&, const CosineInputs&,                  \
                                      const CosineCache&, void*);                              \
  template void cosine_lag_backward<T>(const CosineDims&, const Tensor&, const CosineInputs&,  \
                                       const CosineCache&, const Tensor&, void*);              \
  template void cosine_query_forward<T>(const CosineDims&, const CosineInputs&,                \
                                        const CosineCache&, void*);                            \
  template void cosine_query_backward<T>(const CosineDims&, const Tensor&,                     \
                                         const CosineInputs&, const CosineCache&,              \
                                         const Tensor&, const Tensor&, void*);
CS_INSTANTIATE_COSINE(float)
CS_INSTANTIATE_COSINE(double)

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
