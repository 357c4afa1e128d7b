#pragma once
// CUDA row normalisation: the functions of cpp/src/cpu/normalize.hpp with a trailing stream
// (cudaStream_t as void*). Plain C++ header, included by cpp/src/normalize.cpp.
#include "chronoscale/normalize.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

template <class T>
void normalize_forward(const NormalizeDims& d, const T* x, T eps, T* y, T* norm, void* stream);
template <class T>
void normalize_backward(const NormalizeDims& d, const T* dy, const T* y, const T* norm, T eps,
                        T* dx, void* stream);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
