#pragma once
// CUDA kernels of the dense layer: the functions of cpp/src/cpu/linear.hpp (device pointers)
// with a trailing stream (cudaStream_t as void*). Plain C++ header, included by
// cpp/src/linear.cpp.
#include "chronoscale/linear.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

template <class T>
void linear_forward(const LinearDims& d, const T* x, const T* w, const T* b, Activation act,
                    T* y, void* stream);
template <class T>
void linear_backward(const LinearDims& d, const T* dy, const T* x, const T* w, const T* y,
                     Activation act, T* dx, T* dw, T* db, void* stream);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
