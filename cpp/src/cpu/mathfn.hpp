#pragma once
// Activations. float (scalar and 8-lane packs) uses one exp: Cody-Waite reduction + degree-6
// polynomial (max rel. error ~2 ulp, no libm call), written once for both so a tail element gets
// the same result as a pack lane; double uses libm for reference accuracy.
#include <cmath>
#include <cstdint>

#include "simd.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class V>  // float or pack_t<float>
inline V fast_exp(V x) {
  // The clamp keeps 2^k a normal float; ternaries on packs become blends.
  x = x < -87.0f ? V{} - 87.0f : x;
  x = x > 88.0f ? V{} + 88.0f : x;
  const V t = x * 1.44269504088896341f;
  const V k = (t + 12582912.0f) - 12582912.0f;  // round to nearest (|t| < 2^22)
  const V r = x - k * 0.693359375f + k * 2.12194440e-4f;
  V p = V{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  if constexpr (sizeof(V) == sizeof(float)) {
    const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
    return p * __builtin_bit_cast(float, bits);
  } else {
    using I = Pack<float>::I;
    const I bits = (__builtin_convertvector(k, I) + 127) << 23;
    return p * __builtin_bit_cast(V, bits);
  }
}

inline float sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }
inline pack_t<float> sigmoid(pack_t<float> x) { return 1.0f / (1.0f + fast_exp(-x)); }
inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline float tanh_(float x) { return 2.0f / (1.0f + fast_exp(-2.0f * x)) - 1.0f; }
inline pack_t<float> tanh_(pack_t<float> x) { return 2.0f / (1.0f + fast_exp(-2.0f * x)) - 1.0f; }
inline double tanh_(double x) { return std::tanh(x); }

/// max(v, 0) with NaN passed through (as torch.relu and np.maximum): a NaN never becomes 0.
template <class V>  // float, double or a pack
inline V relu(V v) {
  return v < V{} ? V{} : v;
}
/// dL/dz = dy where the output y = relu(z) is not <= 0 (torch's threshold_backward: a NaN y
/// passes dy on).
template <class V>
inline V relu_grad(V dy, V y) {
  return y <= V{} ? V{} : dy;
}

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
