#pragma once
// CUDA dropout: the function of cpp/src/cpu/dropout.hpp with a trailing stream (cudaStream_t as
// void*). Plain C++ header, included by cpp/src/dropout.cpp.
#include <cstdint>

namespace chronoscale {
inline namespace v1 {
namespace cuda {

/// out[i] = in[i] * mask[i] over n device elements (in == nullptr: out = mask); the mask is the
/// CPU kernel's, bit for bit (same counter-based generator, same integer keep test).
template <class T>
void dropout_apply(const T* in, int64_t n, double p, uint64_t seed, T* out, void* stream);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
