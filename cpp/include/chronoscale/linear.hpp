#pragma once
/// Dense (fully connected) layer over the last axis, with the bias and activation fused:
///
///   y[n, o] = act(b[o] + sum_i x[n, i] * w[o, i])
///
/// where n runs over all leading dims of x flattened (x [..., I] is viewed as [N, I], one GEMM).
/// The weight uses the torch.nn.Linear layout [O, I]; a Keras Dense kernel [I, O] converts with
/// np.ascontiguousarray(kernel.T). act is the identity, ReLU, the logistic sigmoid or tanh; the
/// backward takes the activation's derivative from the saved output y. CPU or CUDA arrays (one
/// device; `stream` is the cudaStream_t the CUDA kernels use).
#include <cstdint>
#include <string>

#include "chronoscale/tensor.hpp"

namespace chronoscale {
inline namespace v1 {

enum class Activation : int32_t { none = 0, relu = 1, sigmoid = 2, tanh = 3 };

/// "none" | "relu" | "sigmoid" | "tanh"; anything else throws ValueError naming activation.
Activation parse_activation(const std::string& name);

struct LinearDims {
  int64_t N;  ///< rows: product of x's leading dims
  int64_t I;  ///< input features (x's last dim)
  int64_t O;  ///< output features
};

/// Validate x [..., I] (1 to 6 dims, N > 0, I > 0) float32 / float64, w [O, I] and b [O] (or
/// absent) of x's dtype. Throws ValueError / TypeError naming the argument, Unsupported for CUDA
/// arrays in a build without CUDA.
LinearDims linear_check(const Tensor& x, const Tensor& w, const Tensor& b);

/// Forward: y [..., O] (x's leading dims, caller-allocated).
void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Activation act,
                    const Tensor& y, void* stream = nullptr);

/// Backward from dy [..., O]. `y` is the forward output (needed unless act is none; may be absent
/// then). Writes dx [..., I], dw [O, I] and db [O] (optional).
void linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& y,
                     Activation act, const Tensor& dx, const Tensor& dw, const Tensor& db,
                     void* stream = nullptr);

}  // namespace v1
}  // namespace chronoscale
