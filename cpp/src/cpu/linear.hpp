#pragma once
// CPU kernels of the dense layer; inputs are validated by cpp/src/linear.cpp. x is [N, I], w
// [O, I], y [N, O]; b, y (backward, act none) and db may be null.
#include "chronoscale/linear.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class T>
void linear_forward(const LinearDims& d, const T* x, const T* w, const T* b, Activation act,
                    T* y);
template <class T>
void linear_backward(const LinearDims& d, const T* dy, const T* x, const T* w, const T* y,
                     Activation act, T* dx, T* dw, T* db);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
