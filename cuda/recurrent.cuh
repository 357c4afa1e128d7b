#pragma once
// CUDA recurrent cells (RNN / LSTM / GRU): the contract of cpp/src/cpu/cells.hpp with a trailing
// stream (cudaStream_t as void*). Plain C++ header, included by cpp/src/recurrent.cpp.
//
// Forward: one GEMM x W_ih^T for all steps (cuBLAS or the built-in kernel), then one persistent
// kernel for all steps (recurrent_kernels.cuh). Backward: one persistent kernel for the dh
// recurrence, then dx, dW_ih, dW_hh as GEMMs over all steps and the bias gradients as column
// sums. For large batches (B * G * H * H >= 2^26) the recurrences instead run one GEMM and one
// elementwise kernel per step (recurrent_gemm_mode.cuh). Everything is queued on `stream`; the
// only host-side waits are the pageable copy of lengths (see cuda_lengths.cuh) and
// stream-ordered scratch allocation.
#include <vector>

#include "chronoscale/recurrent.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

template <class T>
void recurrent_forward(Cell cell, const RecurrentDims& d, const RecurrentInputs& in,
                       const RecurrentOutputs& out, void* stream);

/// Several independent forward passes (validated by the caller; the scales of a multi-scale
/// layer): their input projections, then one launch of the fused persistent kernel when every
/// recurrence gets a resident plan with the same rows per thread (else one launch each).
/// CHRONOSCALE_CUDA_RNN_FUSE=0 always launches them one by one.
template <class T>
void recurrent_forward_many(Cell cell, const std::vector<RecurrentDims>& d,
                            const std::vector<RecurrentInputs>& in,
                            const std::vector<RecurrentOutputs>& out, void* stream);

template <class T>
void recurrent_backward(Cell cell, const RecurrentDims& d, const Tensor& dy, const Tensor& dh_n,
                        const Tensor& dc_n, const RecurrentInputs& in, const RecurrentOutputs& fwd,
                        const RecurrentGrads& grads, void* stream);

/// The arguments of recurrent_backward for several independent recurrences, one entry each.
struct RecurrentBackwardMany {
  std::vector<RecurrentDims> dims;
  std::vector<Tensor> dy, dh_n, dc_n;
  std::vector<RecurrentInputs> in;
  std::vector<RecurrentOutputs> fwd;
  std::vector<RecurrentGrads> grads;
};

/// Their backward passes (validated by the caller): the persistent kernels in one fused launch
/// when every recurrence gets a resident plan with the same rows per thread (else one each),
/// then each one's gradient GEMMs.
template <class T>
void recurrent_backward_many(Cell cell, const RecurrentBackwardMany& w, void* stream);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
