#pragma once
// CPU kernel of the packed running sums; cuda/packed.cuh declares the same function (plus a
// stream) in namespace cuda. Inputs are validated by cpp/src/packed.cpp.
#include "chronoscale/packed.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class T>
void packed_cumsum(const PackedDims& d, const T* x, const Tensor& batch_sizes, bool reverse,
                   T* out);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
