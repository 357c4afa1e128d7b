// CPU optimiser steps: one fused pass over param / grad / state per element range. Dense updates
// split the arrays into fixed chunks, sparse updates work row by row; every element is updated
// independently, so results do not depend on the thread count.
#include "optim.hpp"

#include <cmath>
#include <vector>

#include "parallel.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

namespace {

constexpr int64_t kChunk = 8192;

template <class T>
struct AdamCoef {
  T one_minus_b1, b2, one_minus_b2, eps, wd, decay, step_size, bc2_sqrt;
  bool decoupled;

  explicit AdamCoef(const AdamOptions& o) {
    const double bc1 = 1.0 - std::pow(o.beta1, static_cast<double>(o.step));
    const double bc2 = 1.0 - std::pow(o.beta2, static_cast<double>(o.step));
    one_minus_b1 = T(1.0 - o.beta1);
    b2 = T(o.beta2);
    one_minus_b2 = T(1.0 - o.beta2);
    eps = T(o.eps);
    wd = T(o.weight_decay);
    decay = T(1.0 - o.lr * o.weight_decay);
    step_size = T(o.lr / bc1);
    bc2_sqrt = T(std::sqrt(bc2));
    decoupled = o.decoupled;
  }
};

template <class T>
inline void adam_range(T* __restrict p, const T* __restrict g, T* __restrict m,
                       T* __restrict v, int64_t n, const AdamCoef<T>& c) {
  const bool l2 = !c.decoupled && c.wd != T(0), shrink = c.decoupled && c.wd != T(0);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    T gi = g[i];
    if (l2) gi += c.wd * p[i];
    T pi = shrink ? p[i] * c.decay : p[i];
    const T mi = m[i] + c.one_minus_b1 * (gi - m[i]);
    const T vi = c.b2 * v[i] + c.one_minus_b2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - c.step_size * (mi / (std::sqrt(vi) / c.bc2_sqrt + c.eps));
  }
}

template <class T>
inline void sgd_range(T* __restrict p, const T* __restrict g, T* __restrict buf, int64_t n,
                      T lr, T mom, T wd, bool nesterov) {
  if (!buf) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) p[i] -= lr * (g[i] + wd * p[i]);
    return;
  }
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i] + wd * p[i];
    const T b = mom * buf[i] + gi;
    buf[i] = b;
    p[i] -= lr * (nesterov ? gi + mom * b : b);
  }
}

template <class F>
void chunks(int64_t n, int64_t work_per_elem, F&& f) {
  const int64_t nc = (n + kChunk - 1) / kChunk;
  parallel_for(nc, kChunk * work_per_elem, [&](int64_t c) {
    const int64_t i0 = c * kChunk, i1 = i0 + kChunk < n ? i0 + kChunk : n;
    f(i0, i1 - i0);
  });
}

}  // namespace

template <class T>
void adam_step(T* p, const T* g, T* m, T* v, int64_t n, const AdamOptions& o) {
  const AdamCoef<T> c(o);
  chunks(n, 8, [&](int64_t i, int64_t k) { adam_range(p + i, g + i, m + i, v + i, k, c); });
}

template <class T>
void adam_step_many(const std::vector<AdamSlice<T>>& slices, const AdamOptions& o) {
  struct Piece {
    size_t s;
    int64_t i0, n;
  };
  std::vector<AdamCoef<T>> coef;
  std::vector<Piece> pieces;
  int64_t total = 0;
  for (size_t s = 0; s < slices.size(); ++s) {
    AdamOptions os = o;
    os.step = slices[s].step;
    coef.emplace_back(os);
    for (int64_t i = 0; i < slices[s].n; i += kChunk)
      pieces.push_back({s, i, slices[s].n - i < kChunk ? slices[s].n - i : kChunk});
    total += slices[s].n;
  }
  // A model's worth of small arrays is cheaper on one thread than with a fork / join.
  constexpr int64_t kManyParallel = int64_t(1) << 18;
  const int64_t np = static_cast<int64_t>(pieces.size());
#pragma omp parallel for schedule(static) if (total >= kManyParallel && np > 1) \
    num_threads(max_threads())
  for (int64_t k = 0; k < np; ++k) {
    const Piece& q = pieces[k];
    const AdamSlice<T>& a = slices[q.s];
    adam_range(a.p + q.i0, a.g + q.i0, a.m + q.i0, a.v + q.i0, q.n, coef[q.s]);
  }
}

template <class T>
void adam_step_rows(T* p, const int64_t* rows, int64_t U, int64_t D, const T* g, T* m, T* v,
                    const AdamOptions& o) {
  const AdamCoef<T> c(o);
  parallel_for(U, 8 * D, [&](int64_t u) {
    const int64_t r = rows[u] * D;
    adam_range(p + r, g + u * D, m + r, v + r, D, c);
  });
}

template <class T>
void sgd_step(T* p, const T* g, T* buf, int64_t n, const SgdOptions& o) {
  const T lr = T(o.lr), mom = T(o.momentum), wd = T(o.weight_decay);
  chunks(n, 4, [&](int64_t i, int64_t k) {
    sgd_range(p + i, g + i, buf ? buf + i : nullptr, k, lr, mom, wd, o.nesterov);
  });
}

template <class T>
void sgd_step_rows(T* p, const int64_t* rows, int64_t U, int64_t D, const T* g, T* buf,
                   const SgdOptions& o) {
  const T lr = T(o.lr), mom = T(o.momentum), wd = T(o.weight_decay);
  parallel_for(U, 4 * D, [&](int64_t u) {
    const int64_t r = rows[u] * D;
    sgd_range(p + r, g + u * D, buf ? buf + r : nullptr, D, lr, mom, wd, o.nesterov);
  });
}

template <class T>
double sum_squares(const T* x, int64_t n) {
  const int64_t nc = (n + kChunk - 1) / kChunk;
  std::vector<double> part(static_cast<size_t>(nc));
  parallel_for(nc, kChunk, [&](int64_t c) {
    const int64_t i0 = c * kChunk, i1 = i0 + kChunk < n ? i0 + kChunk : n;
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = i0; i < i1; ++i) s += double(x[i]) * double(x[i]);
    part[c] = s;
  });
  double s = 0.0;
  for (double v : part) s += v;
  return s;
}

template <class T>
void scale(T* x, int64_t n, double s) {
  const T f = T(s);
  chunks(n, 1, [&](int64_t i, int64_t k) {
#pragma omp simd
    for (int64_t j = i; j < i + k; ++j) x[j] *= f;
  });
}

#define CS_INSTANTIATE(T)                                                                      \
  template void adam_step<T>(T*, const T*, T*, T*, int64_t, const AdamOptions&);               \
  template void adam_step_many<T>(const std::vector<AdamSlice<T>>&, const AdamOptions&);      \
  template void adam_step_rows<T>(T*, const int64_t*, int64_t, int64_t, const T*, T*, T*,      \
                                  const AdamOptions&);                                         \
  template void sgd_step<T>(T*, const T*, T*, int64_t, const SgdOptions&);                     \
  template void sgd_step_rows<T>(T*, const int64_t*, int64_t, int64_t, const T*, T*,           \
                                 const SgdOptions&);                                           \
  template double sum_squares<T>(const T*, int64_t);                                           \
  template void scale<T>(T*, int64_t, double);
CS_INSTANTIATE(float)
CS_INSTANTIATE(double)
#undef CS_INSTANTIATE

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
