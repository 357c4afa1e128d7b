// CPU kernels of the scale fusion: the softmax per column, then row loops over [B, K] blocks
// (one per scale) that vectorise; the logits' gradient sums over the rows in order, in double.
#include "fusion.hpp"

#include <vector>

#include "../fusion_math.hpp"
#include "parallel.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class T>
void scale_fusion_forward(const FusionDims& d, const T* ys, const T* logits, T* y, T* alpha) {
  const int64_t S = d.S, B = d.B, K = d.K;
  for (int64_t k = 0; k < K; ++k) fusion_math::softmax_column(logits, S, K, k, alpha);
  parallel_for(B, S * K, [&](int64_t b) {
    T* yr = y + b * K;
    for (int64_t k = 0; k < K; ++k) yr[k] = alpha[k] * ys[b * K + k];
    for (int64_t s = 1; s < S; ++s) {
      const T* a = alpha + s * K;
      const T* src = ys + (s * B + b) * K;
#pragma omp simd
      for (int64_t k = 0; k < K; ++k) yr[k] += a[k] * src[k];
    }
  });
}

template <class T>
void scale_fusion_backward(const FusionDims& d, const T* dy, const T* ys, const T* alpha, T* dys,
                           T* dlogits) {
  const int64_t S = d.S, B = d.B, K = d.K;
  parallel_for(S * B, K, [&](int64_t sb) {
    const int64_t s = sb / B, b = sb % B;
    const T* a = alpha + s * K;
#pragma omp simd
    for (int64_t k = 0; k < K; ++k) dys[sb * K + k] = a[k] * dy[b * K + k];
  });
  std::vector<double> g(static_cast<size_t>(S));
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t s = 0; s < S; ++s) {
      double acc = 0.0;
      for (int64_t b = 0; b < B; ++b)
        acc += static_cast<double>(dy[b * K + k]) * static_cast<double>(ys[(s * B + b) * K + k]);
      g[static_cast<size_t>(s)] = acc;
    }
    fusion_math::logits_grad_column(alpha, g.data(), S, K, k, dlogits);
  }
}

#define CS_INSTANTIATE_FUSION(T)                                                        \
  template void scale_fusion_forward<T>(const FusionDims&, const T*, const T*, T*, T*); \
  template void scale_fusion_backward<T>(const FusionDims&, const T*, const T*, const T*, T*, T*);
CS_INSTANTIATE_FUSION(float)
CS_INSTANTIATE_FUSION(double)

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
