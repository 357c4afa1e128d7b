#pragma once
// CUDA losses: the functions of cpp/src/cpu/loss.hpp (device arrays; targets, row ids and log_q
// stay on the host and are copied) with a trailing stream (cudaStream_t as void*). Each returns
// the loss as a double: the sums are reduced on the device (float64, fixed order) and the one
// scalar is copied back, so these calls wait for the stream (unless given `loss_out`). Plain C++
// header, included by cpp/src/loss.cpp.
#include <cstdint>

#include "chronoscale/loss.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

/// `loss_out` (device, one double) or null: where the mean loss goes without a wait (the call
/// then returns NaN); null: it is read back (the call's only wait) and returned.
template <class T>
double point_loss(PointLoss kind, const T* pred, const T* target, const T* weights, int64_t n,
                  double delta, T* dpred, void* stream, double* loss_out = nullptr);

/// logits [N, V] on the device; target [N] on the host; K = rows with target != ignore_index.
template <class T>
double softmax_cross_entropy(const T* logits, const int64_t* target, int64_t N, int64_t V,
                             int64_t ignore_index, int64_t K, T* dlogits, void* stream);

/// Full softmax of user [N, D] against items [V, D] (device), target [N] on the host: row
/// blocks of at most 2^26 logits, each one GEMM, the cross-entropy in place and the two
/// backward GEMMs (d_items summed over the blocks). `block_logits`: logits per block (tests).
/// `bf16` (float32 only): the three GEMMs read bfloat16 copies of their operands (gemm_bf16:
/// float32 accumulation); logits, cross-entropy and results stay float32. `loss_out` (device,
/// one double) or null: where the mean loss goes without a wait (the call then returns NaN);
/// null: it is read back (the call's only wait) and returned.
template <class T>
double full_softmax_loss(const T* user, const T* items, const int64_t* target, int64_t N, int64_t V,
                         int64_t D, int64_t ignore_index, int64_t K, T* d_user, T* d_items,
                         void* stream, int64_t block_logits = int64_t(1) << 26,
                         MatmulPrecision precision = MatmulPrecision::float32,
                         double* loss_out = nullptr);

/// user, items, d_user, d_rows on the device; in.target, in.log_q and the plan on the host.
template <class T>
double sampled_softmax_loss(const SampledSoftmaxDims& d, const SampledSoftmaxInputs& in,
                            const SampledSoftmaxPlan& plan, T* d_user, T* d_rows, void* stream);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
