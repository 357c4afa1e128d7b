#pragma once
/// Row normalisation to unit length with the norm floor of the cosine features:
///
///   norm[n] = |x[n]|,   y[n] = x[n] / max(norm[n], eps)
///
/// so a zero row stays zero (never NaN) and, at or below eps, the norm is the constant eps for
/// the gradient:
///
///   dx[n] = (dy[n] - [norm[n] > eps] * y[n] * (y[n] . dy[n])) / max(norm[n], eps)
///
/// x, y, dy, dx are [N, D] float32 / float64 on one device (the CPU or one CUDA device); norm
/// is [N] of the same dtype. (The recommender's history direction and its scoring table are
/// normalised item embeddings: one call instead of a chain of array operations.)
#include "chronoscale/tensor.hpp"

namespace chronoscale {
inline namespace v1 {

struct NormalizeDims {
  int64_t N, D;
};

/// Validate x [N, D] (float, eps finite > 0); throws TypeError / ValueError naming the argument
/// (`name`), Unsupported / CudaError when a CUDA array cannot be used.
NormalizeDims normalize_check(const Tensor& x, double eps, const char* name = "x");

/// y [N, D] and norm [N] (caller-allocated, x's dtype and device).
void normalize_forward(const Tensor& x, double eps, const Tensor& y, const Tensor& norm,
                       void* stream = nullptr);

/// dx [N, D] from dy [N, D] and the forward's y and norm.
void normalize_backward(const Tensor& dy, const Tensor& y, const Tensor& norm, double eps,
                        const Tensor& dx, void* stream = nullptr);

}  // namespace v1
}  // namespace chronoscale
