#pragma once
/// Inverted dropout with a counter-based random number generator.
///
///   keep[i] = (u(seed, i) >= p),   y[i] = keep[i] ? x[i] / (1 - p) : 0
///
/// where i is the flat (row-major) index and u(seed, i) in [0, 1) is a pure function of the seed
/// and the index (splitmix64 of a seed-derived key and i, 53 bits). The mask therefore depends
/// only on (seed, p, number of elements): not on the dtype, the thread count or the device, and
/// the backward recomputes it instead of storing it. p in [0, 1); p == 0 keeps everything.
/// CPU or CUDA arrays (`stream`: the cudaStream_t of the CUDA kernel); the CUDA mask equals the
/// CPU mask bit for bit.
#include <cstdint>

#include "chronoscale/tensor.hpp"

namespace chronoscale {
inline namespace v1 {

/// Validate p (ValueError naming p unless 0 <= p < 1).
void dropout_check_p(double p);

/// Validate the input `x` (named `name`): float32 / float64, usable on its device (Unsupported
/// for a CUDA array in a build without CUDA). Bindings call it before allocating outputs.
void dropout_check(const Tensor& x, const char* name);

/// y = x * mask (x any shape, float32 / float64; y caller-allocated with x's shape and dtype;
/// y may be x itself).
void dropout_forward(const Tensor& x, double p, uint64_t seed, const Tensor& y,
                     void* stream = nullptr);

/// dx = dy * mask with the mask of the forward call with the same (p, seed) and shape.
void dropout_backward(const Tensor& dy, double p, uint64_t seed, const Tensor& dx,
                      void* stream = nullptr);

/// mask[i] = keep[i] / (1 - p) (0 or the scale), in mask's dtype: the factor y = x * mask.
void dropout_mask(double p, uint64_t seed, const Tensor& mask, void* stream = nullptr);

}  // namespace v1
}  // namespace chronoscale
