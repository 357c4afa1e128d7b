#pragma once
// One row of the softmax cross-entropy, shared by the full-softmax kernels: d = (softmax(x) -
// onehot(t)) * scale in three vectorised passes (max, exp + sum, scale); returns the row's loss
// logsumexp(x) - x[t] in double.
#include <cmath>
#include <cstdint>

#include "mathfn.hpp"

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
#pragma omp simd reduction(+ : s)
  for (int64_t v = 0; v < V; ++v) {
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
