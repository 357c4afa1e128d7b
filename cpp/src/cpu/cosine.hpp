#pragma once
// CPU kernels of the cosine features; cuda/cosine.cuh declares the same functions (plus a
// stream) in namespace cuda. Inputs are validated by cpp/src/cosine.cpp.
#include "chronoscale/cosine.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class T>
void cosine_lag_forward(const CosineDims& d, const CosineInputs& in, const CosineCache& out);
template <class T>
void cosine_lag_backward(const CosineDims& d, const Tensor& dy, const CosineInputs& in,
                         const CosineCache& fwd, const Tensor& dx);
template <class T>
void cosine_query_forward(const CosineDims& d, const CosineInputs& in, const CosineCache& out);
template <class T>
void cosine_query_backward(const CosineDims& d, const Tensor& dy, const CosineInputs& in,
                           const CosineCache& fwd, const Tensor& dq, const Tensor& dx);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
