#pragma once
// CPU kernels of the row normalisation; cuda/normalize.cuh declares the same functions (plus a
// stream) in namespace cuda. Inputs are validated by cpp/src/normalize.cpp.
#include "chronoscale/normalize.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class T>
void normalize_forward(const NormalizeDims& d, const T* x, T eps, T* y, T* norm);
template <class T>
void normalize_backward(const NormalizeDims& d, const T* dy, const T* y, const T* norm, T eps,
                        T* dx);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
