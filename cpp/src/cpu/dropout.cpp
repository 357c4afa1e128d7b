// CPU dropout: every element draws its own counter-based random number, so any split of the
// work across threads gives the same mask. The keep test u >= p is done exactly on integers:
// u = k * 2^-53 >= p  <=>  k >= ceil(p * 2^53).
#include "dropout.hpp"

#include <cmath>
#include <cstring>
#include <type_traits>

#include "parallel.hpp"
#include "rng.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class T>
void dropout_apply(const T* in, int64_t n, double p, uint64_t seed, T* out) {
  const CounterRng rng(seed, kSaltDropout);
  const auto threshold = static_cast<uint64_t>(std::ceil(std::ldexp(p, 53)));
  const T scale = T(1.0 / (1.0 - p));
  constexpr int64_t kChunk = 4096;
  const int64_t nc = (n + kChunk - 1) / kChunk;
  // The factor (scale or +0) by masking its bits, without a branch: keep / drop is a coin
  // flip per element, and a branch on it (which the compiler made even of scale * bool) was
  // mispredicted about half the time at p = 0.5.
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  Bits scale_bits;
  std::memcpy(&scale_bits, &scale, sizeof scale);
  auto factor = [&](int64_t i) {
    const Bits keep = rng.u53(static_cast<uint64_t>(i)) >= threshold;
    const Bits b = scale_bits & (Bits(0) - keep);
    T f;
    std::memcpy(&f, &b, sizeof f);
    return f;
  };
  parallel_for(nc, 4 * kChunk, [&](int64_t c) {
    const int64_t i0 = c * kChunk, i1 = i0 + kChunk < n ? i0 + kChunk : n;
    if (in) {
      for (int64_t i = i0; i < i1; ++i) out[i] = in[i] * factor(i);
    } else {
      for (int64_t i = i0; i < i1; ++i) out[i] = factor(i);
    }
  });
}

template void dropout_apply<float>(const float*, int64_t, double, uint64_t, float*);
template void dropout_apply<double>(const double*, int64_t, double, uint64_t, double*);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
