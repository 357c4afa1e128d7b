#pragma once
// Per-column maths of the scale fusion (chronoscale/fusion.hpp), shared by the CPU kernels
// (cpu/fusion.cpp) and the CUDA kernels (cuda/fusion.cu) so that both compute it from one place.
#include <cmath>
#include <cstdint>

#include "host_device.hpp"

namespace chronoscale {
inline namespace v1 {
namespace fusion_math {

/// alpha[s] = softmax over s of logits[s * K + k] (max-shifted), for s < S.
template <class T>
CS_HOST_DEVICE void softmax_column(const T* logits, int64_t S, int64_t K, int64_t k, T* alpha) {
  T mx = logits[k];
  for (int64_t s = 1; s < S; ++s) mx = logits[s * K + k] > mx ? logits[s * K + k] : mx;
  T sum = T(0);
  for (int64_t s = 0; s < S; ++s) sum += (alpha[s * K + k] = exp(logits[s * K + k] - mx));
  for (int64_t s = 0; s < S; ++s) alpha[s * K + k] /= sum;
}

/// dlogits[s, k] = alpha[s, k] * (g[s] - sum_s' alpha[s', k] g[s']) for column k; g[s] = the
/// sum over b of dy[b, k] * ys[s, b, k] (accumulated in double).
template <class T>
CS_HOST_DEVICE void logits_grad_column(const T* alpha, const double* g, int64_t S, int64_t K,
                                       int64_t k, T* dlogits) {
  double mean = 0.0;
  for (int64_t s = 0; s < S; ++s) mean += static_cast<double>(alpha[s * K + k]) * g[s];
  for (int64_t s = 0; s < S; ++s)
    dlogits[s * K + k] = static_cast<T>(static_cast<double>(alpha[s * K + k]) * (g[s] - mean));
}

}  // namespace fusion_math
}  // namespace v1
}  // namespace chronoscale
