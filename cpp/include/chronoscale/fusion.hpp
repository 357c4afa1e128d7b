#pragma once
/// The learned fusion of per-scale predictions (y = alpha y^1 + beta y^2 + gamma y^3 ...):
///
///   alpha[s, k] = softmax over s of logits[s, k]
///   y[b, k]     = sum_s alpha[s, k] * ys[s, b, k]
///
/// and its gradient: dys[s, b, k] = alpha[s, k] * dy[b, k] and
///   dlogits[s, k] = alpha[s, k] * (g[s, k] - sum_s' alpha[s', k] * g[s', k]),
///   g[s, k] = sum_b dy[b, k] * ys[s, b, k]
/// (the sums over b in a fixed order: the same result for any thread count). ys is scale-major
/// [S, B, K] so that each scale's rows (and gradients) are one contiguous [B, K] block; every
/// array on the CPU or on one CUDA device.
#include "chronoscale/tensor.hpp"

namespace chronoscale {
inline namespace v1 {

struct FusionDims {
  int64_t S, B, K;
};

/// Validate ys [S, B, K] (float, S >= 1) and logits [S, K] (same dtype and device; `name`: what
/// the messages call it, "alpha" for the backward); throws TypeError / ValueError naming the
/// argument, Unsupported / CudaError for unusable CUDA arrays.
FusionDims scale_fusion_check(const Tensor& ys, const Tensor& logits,
                              const char* name = "logits");

/// y [B, K] and alpha [S, K] (caller-allocated, ys's dtype and device).
void scale_fusion_forward(const Tensor& ys, const Tensor& logits, const Tensor& y,
                          const Tensor& alpha, void* stream = nullptr);

/// dys [S, B, K] and dlogits [S, K] from dy [B, K], the forward's ys and alpha.
void scale_fusion_backward(const Tensor& dy, const Tensor& ys, const Tensor& alpha,
                           const Tensor& dys, const Tensor& dlogits, void* stream = nullptr);

}  // namespace v1
}  // namespace chronoscale
