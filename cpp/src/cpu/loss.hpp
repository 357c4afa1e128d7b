#pragma once
// CPU kernels of the losses; inputs are validated by cpp/src/loss.cpp.
#include <cstdint>

#include "chronoscale/loss.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class T>
double point_loss(PointLoss kind, const T* pred, const T* target, const T* weights, int64_t n,
                  double delta, T* dpred);

/// logits [N, V]; K = number of rows with target != ignore_index.
template <class T>
double softmax_cross_entropy(const T* logits, const int64_t* target, int64_t N, int64_t V,
                             int64_t ignore_index, int64_t K, T* dlogits);

/// Uniform negatives; returns log V.
double sample_uniform(int64_t V, int64_t S, uint64_t seed, int64_t* negatives);
/// Negatives from softmax(log_q); returns logsumexp(log_q).
template <class T>
double sample_log_q(const T* log_q, int64_t V, int64_t S, uint64_t seed, int64_t* negatives);

template <class T>
double sampled_softmax_loss(const SampledSoftmaxDims& d, const SampledSoftmaxInputs& in,
                            const SampledSoftmaxPlan& plan, T* d_user, T* d_rows);

/// logits = user [N, D] @ items [V, D]^T, softmax cross-entropy, d_user [N, D] and d_items
/// [V, D] (see chronoscale::full_softmax_loss); K = number of counted rows.
template <class T>
double full_softmax_loss(const T* user, const T* items, const int64_t* target, int64_t N,
                         int64_t V, int64_t D, int64_t ignore_index, int64_t K, T* d_user,
                         T* d_items);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
