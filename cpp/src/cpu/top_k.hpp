#pragma once
// CPU kernel of the top-k op; cuda/top_k.cuh declares the same function (plus a stream) in
// namespace cuda. Inputs are validated by cpp/src/top_k.cpp.
#include "chronoscale/top_k.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class T>
void top_k(const TopKDims& d, const T* scores, int64_t* ids, T* values);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
