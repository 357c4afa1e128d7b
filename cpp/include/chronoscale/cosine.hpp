#pragma once
/// Cosine interaction features of a padded batch of event embeddings.
///
///   cos(a, b) = a . b / (max(|a|, eps) * max(|b|, eps))
///
/// eps (> 0, default 1e-8) keeps zero and near-zero vectors finite: a vector with |v| <= eps is
/// divided by eps instead of |v| (so a zero vector gives cos = 0, never NaN), and its gradient
/// treats that norm as the constant eps. For |a|, |b| > eps it is the usual cosine similarity.
///
/// Shapes: B batch, T time steps, D features. Outputs at t >= lengths[b] are zero, and the
/// backward ignores dy there. Arrays live on the CPU or on one CUDA device (all on the same);
/// lengths is always a host array.
#include "chronoscale/tensor.hpp"

namespace chronoscale {
inline namespace v1 {

/// Inputs of the cosine features.
struct CosineInputs {
  Tensor x;        ///< [B, T, D] float32 / float64
  Tensor q;        ///< [B, D] query per sequence (cosine_query only)
  Tensor lengths;  ///< [B] int64 on the host, 0 <= lengths[b] <= T, or absent (all T)
  int64_t lag = 1;     ///< cosine_lag only: compare x[b, t] with x[b, t - lag]; lag >= 1
  double eps = 1e-8;   ///< norm floor, > 0
};

/// Forward outputs, saved for the backward (all of x's dtype and device).
struct CosineCache {
  Tensor y;      ///< [B, T] the features
  Tensor xnorm;  ///< [B, T] |x[b, t]| for t < lengths[b], else 0
  Tensor qnorm;  ///< [B] |q[b]| (cosine_query only)
};

/// Dimensions found by validation.
struct CosineDims {
  int64_t B, T, D;
};

/// Validate the inputs of cosine_lag_*; throws ValueError / TypeError naming the argument,
/// chronoscale::CudaError / Unsupported when a CUDA array cannot be used.
CosineDims cosine_lag_check(const CosineInputs& in);
/// Validate the inputs of cosine_query_* (same errors as cosine_lag_check).
CosineDims cosine_query_check(const CosineInputs& in);

/// y[b, t] = cos(x[b, t], x[b, t - lag]) for lag <= t < lengths[b], else 0.
/// Writes out.y [B, T] and out.xnorm [B, T] (caller-allocated).
void cosine_lag_forward(const CosineInputs& in, const CosineCache& out, void* stream = nullptr);

/// dx [B, T, D] from dy [B, T] and the forward's cache (y, xnorm). Each x[b, t] gets the
/// gradient of both features it enters (t and t + lag), summed without atomics.
void cosine_lag_backward(const Tensor& dy, const CosineInputs& in, const CosineCache& fwd,
                         const Tensor& dx, void* stream = nullptr);

/// y[b, t] = cos(q[b], x[b, t]) for t < lengths[b], else 0.
/// Writes out.y [B, T], out.xnorm [B, T] and out.qnorm [B].
void cosine_query_forward(const CosineInputs& in, const CosineCache& out, void* stream = nullptr);

/// dq [B, D] and dx [B, T, D] from dy [B, T] and the forward's cache (y, xnorm, qnorm).
void cosine_query_backward(const Tensor& dy, const CosineInputs& in, const CosineCache& fwd,
                           const Tensor& dq, const Tensor& dx, void* stream = nullptr);

}  // namespace v1
}  // namespace chronoscale
