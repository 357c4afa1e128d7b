// CPU kernels of the cosine features. One task per sequence; the row loops are dot products and
// axpy-style updates that vectorise. The backward gathers each row's gradient from the (at most
// two) features it enters, so there are no scattered writes and sums are deterministic.
#include "cosine.hpp"

#include <cmath>
#include <cstring>

#include "../cosine_math.hpp"
#include "parallel.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

namespace {

template <class T>
T dot(const T* a, const T* b, int64_t n) {
  T s = T(0);
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < n; ++j) s += a[j] * b[j];
  return s;
}

using cosine_math::floor_eps;

int64_t length_of(const Tensor& lengths, int64_t b, int64_t T) {
  return cosine_math::length_of(lengths.defined() ? lengths.ptr<int64_t>() : nullptr, b, T);
}

}  // namespace

template <class T>
void cosine_lag_forward(const CosineDims& d, const CosineInputs& in, const CosineCache& out) {
  const int64_t T_ = d.T, D = d.D, lag = in.lag;
  const T eps = static_cast<T>(in.eps);
  const T* x = in.x.ptr<T>();
  T* y = out.y.ptr<T>();
  T* nrm = out.xnorm.ptr<T>();
  parallel_for(d.B, T_ * D, [&](int64_t b) {
    const int64_t L = length_of(in.lengths, b, T_);
    const T* xb = x + b * T_ * D;
    T* yb = y + b * T_;
    T* nb = nrm + b * T_;
    for (int64_t t = 0; t < L; ++t) nb[t] = std::sqrt(dot(xb + t * D, xb + t * D, D));
    for (int64_t t = 0; t < T_; ++t) {
      if (t < lag || t >= L) {
        yb[t] = T(0);
        if (t >= L) nb[t] = T(0);
        continue;
      }
      yb[t] = dot(xb + t * D, xb + (t - lag) * D, D) /
              (floor_eps(nb[t], eps) * floor_eps(nb[t - lag], eps));
    }
  });
}

// With n = max(|a|, eps) and y = a.b / (n_a n_b):
//   dy/da = b / (n_a n_b) - [|a| > eps] * y * a / n_a^2.
// Row t is `a` of feature t (partner t - lag) and `b` of feature t + lag (partner t + lag).
template <class T>
void cosine_lag_backward(const CosineDims& d, const Tensor& dy_t, const CosineInputs& in,
                         const CosineCache& fwd, const Tensor& dx_t) {
  const int64_t T_ = d.T, D = d.D, lag = in.lag;
  const T eps = static_cast<T>(in.eps);
  const T* x = in.x.ptr<T>();
  const T* dy = dy_t.ptr<T>();
  const T* y = fwd.y.ptr<T>();
  const T* nrm = fwd.xnorm.ptr<T>();
  T* dx = dx_t.ptr<T>();
  parallel_for(d.B, T_ * D, [&](int64_t b) {
    const int64_t L = length_of(in.lengths, b, T_), r0 = b * T_;
    for (int64_t t = 0; t < T_; ++t) {
      const int64_t r = r0 + t;
      T* o = dx + r * D;
      if (t >= L) {
        std::memset(o, 0, sizeof(T) * D);
        continue;
      }
      const T* a = x + r * D;
      const auto c = cosine_math::lag_coefficients(r, t, L, lag, dy, y, nrm, eps);
      const T* prev = c.has_prev ? a - lag * D : a;
      const T* next = c.has_next ? a + lag * D : a;
#pragma omp simd
      for (int64_t j = 0; j < D; ++j) o[j] = c.self * a[j] + c.prev * prev[j] + c.next * next[j];
    }
  });
}

template <class T>
void cosine_query_forward(const CosineDims& d, const CosineInputs& in, const CosineCache& out) {
  const int64_t T_ = d.T, D = d.D;
  const T eps = static_cast<T>(in.eps);
  const T* x = in.x.ptr<T>();
  const T* q = in.q.ptr<T>();
  T* y = out.y.ptr<T>();
  T* nrm = out.xnorm.ptr<T>();
  T* qnrm = out.qnorm.ptr<T>();
  parallel_for(d.B, T_ * D, [&](int64_t b) {
    const int64_t L = length_of(in.lengths, b, T_);
    const T* qb = q + b * D;
    const T qn = std::sqrt(dot(qb, qb, D));
    qnrm[b] = qn;
    for (int64_t t = 0; t < T_; ++t) {
      const int64_t r = b * T_ + t;
      if (t >= L) {
        y[r] = nrm[r] = T(0);
        continue;
      }
      const T* xr = x + r * D;
      nrm[r] = std::sqrt(dot(xr, xr, D));
      y[r] = dot(qb, xr, D) / (floor_eps(qn, eps) * floor_eps(nrm[r], eps));
    }
  });
}

template <class T>
void cosine_query_backward(const CosineDims& d, const Tensor& dy_t, const CosineInputs& in,
                           const CosineCache& fwd, const Tensor& dq_t, const Tensor& dx_t) {
  const int64_t T_ = d.T, D = d.D;
  const T eps = static_cast<T>(in.eps);
  const T* x = in.x.ptr<T>();
  const T* q = in.q.ptr<T>();
  const T* dy = dy_t.ptr<T>();
  const T* y = fwd.y.ptr<T>();
  const T* nrm = fwd.xnorm.ptr<T>();
  const T* qnrm = fwd.qnorm.ptr<T>();
  T* dq = dq_t.ptr<T>();
  T* dx = dx_t.ptr<T>();
  parallel_for(d.B, T_ * D, [&](int64_t b) {
    const int64_t L = length_of(in.lengths, b, T_);
    const T* qb = q + b * D;
    T* dqb = dq + b * D;
    const T nq = floor_eps(qnrm[b], eps);
    std::memset(dqb, 0, sizeof(T) * D);
    T s = T(0);  // sum_t dy_t y_t, for the part of dq through |q|
    for (int64_t t = 0; t < T_; ++t) {
      const int64_t r = b * T_ + t;
      T* o = dx + r * D;
      if (t >= L) {
        std::memset(o, 0, sizeof(T) * D);
        continue;
      }
      const T* xr = x + r * D;
      const T nx = floor_eps(nrm[r], eps);
      const T c = dy[r] / (nq * nx);
      const T c_self = nrm[r] > eps ? -dy[r] * y[r] / (nx * nx) : T(0);
      s += dy[r] * y[r];
#pragma omp simd
      for (int64_t j = 0; j < D; ++j) {
        o[j] = c * qb[j] + c_self * xr[j];
        dqb[j] += c * xr[j];
      }
    }
    const T c_q = qnrm[b] > eps ? -s / (nq * nq) : T(0);
#pragma omp simd
    for (int64_t j = 0; j < D; ++j) dqb[j] += c_q * qb[j];
  });
}

#define CS_INSTANTIATE_COSINE(T)                                                              \
  template void cosine_lag_forward<T>(const CosineDims&, const CosineInputs&,                 \
                                      const CosineCache&);                                    \
  template void cosine_lag_backward<T>(const CosineDims&, const Tensor&, const CosineInputs&, \
                                       const CosineCache&, const Tensor&);                    \
  template void cosine_query_forward<T>(const CosineDims&, const CosineInputs&,               \
                                        const CosineCache&);                                  \
  template void cosine_query_backward<T>(const CosineDims&, const Tensor&,                    \
                                         const CosineInputs&, const CosineCache&,             \
                                         const Tensor&, const Tensor&);
CS_INSTANTIATE_COSINE(float)
CS_INSTANTIATE_COSINE(double)

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
