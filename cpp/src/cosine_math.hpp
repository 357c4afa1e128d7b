#pragma once
// Scalar maths of the cosine features shared by the CPU kernels (cpu/cosine.cpp) and the CUDA
// kernels (cuda/cosine.cu), so both compute the same formulas from one place.
#include <cstdint>

#include "host_device.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cosine_math {

/// max(n, eps): the norm floor that makes cos(a, b) safe for zero vectors. A NaN norm (a NaN
/// in the vector) stays NaN, as in torch's clamp_min: the results are NaN, not x / eps.
template <class T>
CS_HOST_DEVICE T floor_eps(T n, T eps) {
  return n < eps ? eps : n;
}

CS_HOST_DEVICE int64_t length_of(const int64_t* len, int64_t b, int64_t T) {
  return len ? len[b] : T;
}

/// dL/dx_t = self * x_t + prev * x_{t-lag} + next * x_{t+lag} for y_t = cos(x_t, x_{t-lag}),
/// row r = (b, t) with t < L. A norm at or below eps is the constant eps, so it does not move.
template <class T>
struct LagCoefficients {
  T self, prev, next;
  bool has_prev, has_next;
};

template <class T>
CS_HOST_DEVICE LagCoefficients<T> lag_coefficients(int64_t r, int64_t t, int64_t L, int64_t lag,
                                                   const T* dy, const T* y, const T* nrm, T eps) {
  LagCoefficients<T> c{T(0), T(0), T(0), t >= lag, lag < L - t};
  const T na = floor_eps(nrm[r], eps);
  const bool moves = nrm[r] > eps;
  if (c.has_prev) {
    c.prev = dy[r] / (na * floor_eps(nrm[r - lag], eps));
    if (moves) c.self -= dy[r] * y[r] / (na * na);
  }
  if (c.has_next) {
    c.next = dy[r + lag] / (na * floor_eps(nrm[r + lag], eps));
    if (moves) c.self -= dy[r + lag] * y[r + lag] / (na * na);
  }
  return c;
}

}  // namespace cosine_math
}  // namespace v1
}  // namespace chronoscale
