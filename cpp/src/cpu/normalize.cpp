// CPU kernels of the row normalisation: one task per row, a dot product and a scaled copy that
// vectorise.
#include "normalize.hpp"

#include <cmath>

#include "../cosine_math.hpp"
#include "parallel.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class T>
void normalize_forward(const NormalizeDims& d, const T* x, T eps, T* y, T* norm) {
  const int64_t D = d.D;
  parallel_for(d.N, 2 * D, [&](int64_t n) {
    const T* xr = x + n * D;
    T* yr = y + n * D;
    T s = T(0);
#pragma omp simd reduction(+ : s)
    for (int64_t k = 0; k < D; ++k) s += xr[k] * xr[k];
    norm[n] = std::sqrt(s);
    const T nf = cosine_math::floor_eps(norm[n], eps);
#pragma omp simd
    for (int64_t k = 0; k < D; ++k) yr[k] = xr[k] / nf;
  });
}

template <class T>
void normalize_backward(const NormalizeDims& d, const T* dy, const T* y, const T* norm, T eps,
                        T* dx) {
  const int64_t D = d.D;
  parallel_for(d.N, 3 * D, [&](int64_t n) {
    const T* g = dy + n * D;
    const T* yr = y + n * D;
    T* o = dx + n * D;
    T radial = T(0);
    if (norm[n] > eps) {
#pragma omp simd reduction(+ : radial)
      for (int64_t k = 0; k < D; ++k) radial += yr[k] * g[k];
    }
    const T nf = cosine_math::floor_eps(norm[n], eps);
#pragma omp simd
    for (int64_t k = 0; k < D; ++k) o[k] = (g[k] - yr[k] * radial) / nf;
  });
}

#define CS_INSTANTIATE_NORMALIZE(T)                                              \
  template void normalize_forward<T>(const NormalizeDims&, const T*, T, T*, T*); \
  template void normalize_backward<T>(const NormalizeDims&, const T*, const T*, const T*, T, T*);
CS_INSTANTIATE_NORMALIZE(float)
CS_INSTANTIATE_NORMALIZE(double)

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
