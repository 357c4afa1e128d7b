#pragma once
// CUDA packed running sums: the function of cpp/src/cpu/packed.hpp with a trailing stream
// (cudaStream_t as void*). Plain C++ header, included by cpp/src/packed.cpp.
#include "chronoscale/packed.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

template <class T>
void packed_cumsum(const PackedDims& d, const T* x, const Tensor& batch_sizes, bool reverse,
                   T* out, void* stream);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
