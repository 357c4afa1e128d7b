#pragma once
// 256-bit SIMD packs through the GCC / Clang vector extension: the compiler lowers them to AVX2
// (or to pairs of SSE registers, or to NEON), so there are no intrinsics and no per-ISA code.
#include <cstdint>
#include <cstring>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"  // packs only cross inline functions of this library
#endif

namespace chronoscale {
inline namespace v1 {
namespace cpu {

typedef float f32x8 __attribute__((vector_size(32)));
typedef double f64x4 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));

template <class T>
struct Pack;
template <>
struct Pack<float> {
  static constexpr int L = 8;  // lanes
  using V = f32x8;
  using I = i32x8;  // lane-matched int32
};
template <>
struct Pack<double> {
  static constexpr int L = 4;
  using V = f64x4;
};
template <class T>
using pack_t = typename Pack<T>::V;

/// Asks the compiler to keep v in a register (an empty asm that "changes" it), so that a value
/// reused across an unrolled loop is not folded into, and reloaded by, each use. Only where a
/// pack fits one register (AVX); elsewhere a pack spans registers and this is a no-op.
template <class V>
inline void keep_in_register([[maybe_unused]] V& v) {
#if defined(__AVX__) && (defined(__GNUC__) || defined(__clang__))
  asm("" : "+x"(v));
#endif
}

template <class V, class T>
inline V loadu(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <class T, class V>
inline void storeu(T* p, V v) {
  std::memcpy(p, &v, sizeof(V));
}

/// Calls f(j, tag) for j = 0, L, 2L, ... with tag = pack_t<float> on full packs of L floats, then
/// f(j, float) for each remaining element; for double (libm math) f(j, double) element-wise.
/// Inside f, `using V = decltype(tag);` and load / store with ld<V>() / st().
template <class T, class F>
inline void for_packs(int64_t n, F&& f) {
  int64_t j = 0;
  if constexpr (sizeof(T) == 4) {
    constexpr int L = Pack<T>::L;
    for (; j + L <= n; j += L) f(j, pack_t<T>{});
  }
  for (; j < n; ++j) f(j, T{});
}

template <class V, class T>
inline V ld(const T* p) {
  if constexpr (sizeof(V) == sizeof(T)) return *p;
  else return loadu<V>(p);
}
template <class T, class V>
inline void st(T* p, V v) {
  if constexpr (sizeof(V) == sizeof(T)) *p = v;
  else storeu(p, v);
}

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
