#pragma once
// CUDA scale fusion: the functions of cpp/src/cpu/fusion.hpp with a trailing stream
// (cudaStream_t as void*). Plain C++ header, included by cpp/src/fusion.cpp.
#include "chronoscale/fusion.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

template <class T>
void scale_fusion_forward(const FusionDims& d, const T* ys, const T* logits, T* y, T* alpha,
                          void* stream);
template <class T>
void scale_fusion_backward(const FusionDims& d, const T* dy, const T* ys, const T* alpha, T* dys,
                           T* dlogits, void* stream);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
