#pragma once
// CUDA kernels of the cosine features: the functions of cpp/src/cpu/cosine.hpp with a trailing
// stream (cudaStream_t as void*). Plain C++ header, included by cpp/src/cosine.cpp.
#include "chronoscale/cosine.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

template <class T>
void cosine_lag_forward(const CosineDims& d, const CosineInputs& in, const CosineCache& out,
                        void* stream);
template <class T>
void cosine_lag_backward(const CosineDims& d, const Tensor& dy, const CosineInputs& in,
                         const CosineCache& fwd, const Tensor& dx, void* stream);
template <class T>
void cosine_query_forward(const CosineDims& d, const CosineInputs& in, const CosineCache& out,
                          void* stream);
template <class T>
void cosine_query_backward(const CosineDims& d, const Tensor& dy, const CosineInputs& in,
                           const CosineCache& fwd, const Tensor& dq, const Tensor& dx,
                           void* stream);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
