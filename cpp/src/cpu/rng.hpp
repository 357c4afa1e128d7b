#pragma once
// Counter-based random numbers: the i-th draw of stream (seed, salt) is a pure function of
// (seed, salt, i) -- the i-th output of a splitmix64 generator started at mix(seed ^ salt) -- so
// parallel kernels draw the same numbers whatever the thread count or the order of the work.
#include <cstdint>

namespace chronoscale {
inline namespace v1 {
namespace cpu {

/// Stream identifiers, so that one seed gives unrelated numbers in different ops.
constexpr uint64_t kSaltDropout = 0x64726f706f757431ULL;
constexpr uint64_t kSaltSampledSoftmax = 0x73616d706c656431ULL;

/// The splitmix64 output function (a bijective 64-bit mixer).
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

struct CounterRng {
  uint64_t key;
  CounterRng(uint64_t seed, uint64_t salt) : key(mix64(seed ^ salt)) {}
  /// 64 random bits of draw i.
  uint64_t bits(uint64_t i) const { return mix64(key + (i + 1) * 0x9e3779b97f4a7c15ULL); }
  /// 53-bit integer k of draw i; the uniform number is k * 2^-53 in [0, 1).
  uint64_t u53(uint64_t i) const { return bits(i) >> 11; }
  double uniform(uint64_t i) const { return static_cast<double>(u53(i)) * 0x1.0p-53; }
  /// Uniform integer in [0, n) (multiply-high; bias < n / 2^64).
  uint64_t below(uint64_t i, uint64_t n) const {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(bits(i)) * n) >> 64);
  }
};

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
