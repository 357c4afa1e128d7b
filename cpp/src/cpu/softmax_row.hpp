#pragma once
// One row of the softmax cross-entropy, shared by the full-softmax kernels: d = (softmax(x) -
// onehot(t)) * scale in three vectorised passes (max, exp + sum, scale); returns the row's loss
// logsumexp(x) - x[t] in double.
#include <cmath>
#include <cstdint>

#include "mathfn.hpp"
#include "simd.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

inline float softmax_exp(float x) { return fast_exp(x); }
inline double softmax_exp(double x) { return std::exp(x); }

/// x, d: [V] (d may alias x); 0 <= t < V.
template <class T>
inline double softmax_xent_row(const T* x, T* d, int64_t V, int64_t t, T scale) {
  const T xt = x[t];
  T m = x[0];
#pragma omp simd reduction(max : m)
  for (int64_t v = 0; v < V; ++v) m = x[v] > m ? x[v] : m;
  T s = T(0);
  int64_t v0 = 0;
  if constexpr (sizeof(T) == 4) {  // explicit packs: the scalar fast_exp does not vectorise
    using P = pack_t<float>;
    constexpr int L = Pack<float>::L;
    P acc{};
    for (; v0 + L <= V; v0 += L) {
      const P e = fast_exp(loadu<P>(x + v0) - m);
      storeu(d + v0, e);
      acc += e;
    }
    for (int l = 0; l < L; ++l) s += acc[l];
  }
  for (int64_t v = v0; v < V; ++v) {
    const T e = softmax_exp(x[v] - m);
    d[v] = e;
    s += e;
  }
  const T f = scale / s;
#pragma omp simd
  for (int64_t v = 0; v < V; ++v) d[v] *= f;
  d[t] -= scale;
  return static_cast<double>(m) + std::log(static_cast<double>(s)) - static_cast<double>(xt);
}

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
