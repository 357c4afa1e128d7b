#pragma once
// CPU kernels of the scale fusion; cuda/fusion.cuh declares the same functions (plus a stream)
// in namespace cuda. Inputs are validated by cpp/src/fusion.cpp.
#include "chronoscale/fusion.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class T>
void scale_fusion_forward(const FusionDims& d, const T* ys, const T* logits, T* y, T* alpha);
template <class T>
void scale_fusion_backward(const FusionDims& d, const T* dy, const T* ys, const T* alpha, T* dys,
                           T* dlogits);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
