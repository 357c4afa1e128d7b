#pragma once
// CUDA multi-scale driver: the contract of cpp/src/multiscale.cpp on the device. Plain C++
// header, included by cpp/src/multiscale.cpp after validation.
//
// Forward: the integer plans of every scale (out lengths, counts, the time windows' event maps,
// closed_before) are computed on the host from the host lengths / timestamps, exactly as the CPU
// driver does, and uploaded in ONE copy; then, per scale, one pooling kernel writes straight
// into the cell input z (pooled channels + the log1p(count) column) and the CUDA recurrent cell
// runs over z. Backward: per scale the cell backward into a stream-ordered scratch dz, then one
// gather kernel adds the pooled gradient into dx. Everything is queued on `stream`; nothing is
// copied back to the host and nothing synchronises.
#include <vector>

#include "chronoscale/multiscale.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

template <class T>
void multiscale_forward(const MultiscaleInputs& in, const MultiscaleDims& d,
                        const std::vector<ScaleOutputs>& out, void* stream);

template <class T>
void multiscale_backward(const MultiscaleInputs& in, const MultiscaleDims& d,
                         const std::vector<ScaleOutputs>& fwd, const std::vector<Tensor>& dy,
                         const std::vector<Tensor>& dh_n, const std::vector<Tensor>& dc_n,
                         const Tensor& dx, const std::vector<ScaleGrads>& grads, void* stream);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
