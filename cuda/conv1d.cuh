#pragma once
// CUDA kernels of conv1d: the functions of cpp/src/cpu/conv1d.hpp with a trailing stream
// (cudaStream_t as void*). Plain C++ header, included by cpp/src/conv1d.cpp.
#include "chronoscale/conv1d.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

template <class T>
void conv1d_forward(const Conv1dDims& d, const Conv1dInputs& in, const Tensor& y, void* stream);
template <class T>
void conv1d_backward(const Conv1dDims& d, const Tensor& dy, const Conv1dInputs& in,
                     const Tensor& y, const Tensor& dx, const Tensor& dw, const Tensor& db,
                     void* stream);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
