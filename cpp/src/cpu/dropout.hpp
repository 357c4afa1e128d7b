#pragma once
// CPU dropout kernel; inputs are validated by cpp/src/dropout.cpp.
#include <cstdint>

namespace chronoscale {
inline namespace v1 {
namespace cpu {

/// out[i] = in[i] * mask[i] over n elements (in == nullptr: out = mask itself). out may be in.
template <class T>
void dropout_apply(const T* in, int64_t n, double p, uint64_t seed, T* out);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
