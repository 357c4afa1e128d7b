#pragma once
// CPU kernels of conv1d; inputs are validated by cpp/src/conv1d.cpp.
#include "chronoscale/conv1d.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class T>
void conv1d_forward(const Conv1dDims& d, const Conv1dInputs& in, const Tensor& y);
template <class T>
void conv1d_backward(const Conv1dDims& d, const Tensor& dy, const Conv1dInputs& in,
                     const Tensor& y, const Tensor& dx, const Tensor& dw, const Tensor& db);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
