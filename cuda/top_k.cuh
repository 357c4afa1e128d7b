#pragma once
// CUDA top-k: the function of cpp/src/cpu/top_k.hpp with a trailing stream (cudaStream_t as
// void*). Plain C++ header, included by cpp/src/top_k.cpp.
#include "chronoscale/top_k.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

template <class T>
void top_k(const TopKDims& d, const T* scores, int64_t* ids, T* values, void* stream);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
