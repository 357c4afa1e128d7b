#pragma once
// The order of the top-k op (chronoscale/top_k.hpp), shared by the CPU kernel (cpu/top_k.cpp)
// and the CUDA kernel (cuda/top_k.cu): each score becomes an unsigned key whose integer order is
// the order of the scores, with -0 and +0 one key and NaN the lowest key; ties go to the lower
// column.
#include <cstdint>
#include <cstring>

#include "host_device.hpp"

namespace chronoscale {
inline namespace v1 {
namespace top_k_math {

template <class T>
struct KeyOf;
template <>
struct KeyOf<float> {
  using type = uint32_t;
};
template <>
struct KeyOf<double> {
  using type = uint64_t;
};
template <class T>
using Key = typename KeyOf<T>::type;

/// Key of a score: order-preserving (x < y <=> key(x) < key(y) for numbers), key(-0) ==
/// key(+0), key(NaN) == 0 below every number's key (key(-inf) > 0).
template <class T>
CS_HOST_DEVICE Key<T> key(T x) {
  using K = Key<T>;
  constexpr K sign = K(1) << (8 * sizeof(K) - 1);
  K bits;
  memcpy(&bits, &x, sizeof bits);
  K r = (bits & sign) ? K(~bits) : K(bits | sign);  // negative: flipped; else above them
  r = x == T(0) ? sign : r;                         // -0 -> the key of +0
  return x != x ? K(0) : r;                         // NaN -> 0 (selects: vectorises)
}

/// Column a (key ka) ranks before column b (key kb): a higher key, or the same key and a lower
/// column.
template <class K, class I>
CS_HOST_DEVICE bool before(K ka, I a, K kb, I b) {
  return ka > kb || (ka == kb && a < b);
}

}  // namespace top_k_math
}  // namespace v1
}  // namespace chronoscale
