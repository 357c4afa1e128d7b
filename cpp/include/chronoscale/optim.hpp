#pragma once
/// Optimiser steps: fused single-pass updates, in place on the parameter and its state, with the
/// exact formulas of torch.optim.Adam / AdamW / SGD (dampening 0, no amsgrad / maximize).
///
/// Adam (step t >= 1, g the gradient, p the parameter, m / v the moment estimates):
///   decoupled (AdamW):  p <- p * (1 - lr * weight_decay)        else:  g <- g + weight_decay * p
///   m <- m + (1 - beta1) * (g - m);   v <- beta2 * v + (1 - beta2) * g * g
///   p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
/// SGD:
///   g <- g + weight_decay * p
///   momentum != 0:  buf <- momentum * buf + g;  g <- nesterov ? g + momentum * buf : buf
///   p <- p - lr * g
/// (buf starts at zero, which equals torch's first step buf = g.)
///
/// The *_rows variants are the sparse ("lazy") updates for embedding tables param [V, D]: only
/// the rows listed in rows [U] move, each with its gradient row grad_rows [U, D]; the state of the
/// other rows is untouched (weight decay, too, applies to the listed rows only). `step` is the
/// caller's global step. rows must be distinct and in [0, V).
///
/// Device: NumPy (CPU) or CUDA arrays, all of one op on the same device; `stream` is the
/// cudaStream_t (as void*) the CUDA kernels are queued on (ignored on the CPU). rows stay a host
/// array (they are validated there) and are copied to the device on the stream.
#include <cstdint>
#include <vector>

#include "chronoscale/tensor.hpp"

namespace chronoscale {
inline namespace v1 {

struct AdamOptions {
  int64_t step = 1;  ///< 1 on the first update
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled = false;  ///< true: AdamW
};

struct SgdOptions {
  double lr = 1e-2;
  double momentum = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

/// Adam / AdamW on param, grad, m, v (same shape and dtype, float32 / float64, distinct arrays).
/// Throws ValueError for bad hyper-parameters (step < 1, lr < 0, beta outside [0, 1), eps < 0,
/// weight_decay < 0) or shapes, TypeError for dtypes.
void adam_step(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
               const AdamOptions& o, void* stream = nullptr);

/// Adam / AdamW over several parameters in one call (one optimiser step of a whole model):
/// params[i], grads[i], m[i], v[i] as in adam_step, with step count steps[i] (>= 1) and the
/// other options shared. Every array is validated before any is updated; errors name the list
/// and index (e.g. grads[3]). Results equal adam_step on each parameter in turn.
void adam_step_many(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    const std::vector<Tensor>& m, const std::vector<Tensor>& v,
                    const std::vector<int64_t>& steps, const AdamOptions& o,
                    void* stream = nullptr);
/// Sparse Adam / AdamW: param, m, v [V, D]; rows [U] int64 (host, distinct, in [0, V));
/// grad_rows [U, D].
void adam_step_rows(const Tensor& param, const Tensor& rows, const Tensor& grad_rows,
                    const Tensor& m, const Tensor& v, const AdamOptions& o,
                    void* stream = nullptr);

/// SGD on param, grad and buf (param's shape; buf may be absent when momentum == 0).
void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& buf, const SgdOptions& o,
              void* stream = nullptr);

/// Sparse SGD: param, buf [V, D] (buf may be absent when momentum == 0), rows [U],
/// grad_rows [U, D].
void sgd_step_rows(const Tensor& param, const Tensor& rows, const Tensor& grad_rows,
                   const Tensor& buf, const SgdOptions& o, void* stream = nullptr);

/// Global L2 norm of all `grads` (each float32 or float64; accumulated in float64, independent of
/// the thread count). When max_norm / (norm + 1e-6) < 1 every array is scaled in place by that
/// factor (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping (NaN / inf are
/// returned as they are, not raised). max_norm must be >= 0. All arrays on one device; on CUDA
/// the clipping happens on the device and the call waits for the stream to return the norm,
/// unless `read_norm` is false: then nothing waits and the return value is NaN.
double clip_grad_norm(const std::vector<Tensor>& grads, double max_norm, void* stream = nullptr,
                      bool read_norm = true);

}  // namespace v1
}  // namespace chronoscale
