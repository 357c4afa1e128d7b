#pragma once
/// 1-D convolution over time of a padded batch: valid padding, stride 1, optional fused ReLU.
///
///   y[b, t, o] = act(bias[o] + sum_{c, k} w[o, c, k] * x[b, t + k, c]),  0 <= t < T - K + 1
///
/// (cross-correlation, as torch.nn.Conv1d). Shapes: B batch, T time steps, Cin / Cout channels,
/// K kernel size, To = T - K + 1 output steps. The weight uses the torch.nn.Conv1d layout
/// [Cout, Cin, K]; a Keras Conv1D kernel [K, Cin, Cout] converts with kernel.transpose(2, 1, 0).
/// With lengths, out_lengths[b] = max(lengths[b] - K + 1, 0) and y[b, t] = 0 for
/// t >= out_lengths[b], so no output sees a padded step. x, w, b and the outputs are CPU or CUDA
/// arrays (one device; `stream` is the cudaStream_t the CUDA kernels use); lengths and
/// out_lengths stay on the host.
#include "chronoscale/tensor.hpp"

namespace chronoscale {
inline namespace v1 {

struct Conv1dInputs {
  Tensor x;        ///< [B, T, Cin] float32 / float64
  Tensor w;        ///< [Cout, Cin, K]
  Tensor b;        ///< [Cout] or absent
  Tensor lengths;  ///< [B] int64 on the host, 0 <= lengths[b] <= T, or absent (all T)
  bool relu = false;
};

struct Conv1dDims {
  int64_t B, T, Cin, Cout, K, To;
};

/// Validate; throws ValueError / TypeError naming the argument (ValueError naming w and K when
/// T < K), Unsupported for CUDA arrays in a build without CUDA.
Conv1dDims conv1d_check(const Conv1dInputs& in);

/// Forward: y [B, To, Cout]; out_lengths [B] int64 on the host (optional) gets
/// max(lengths[b] - K + 1, 0) (To without lengths). Outputs are caller-allocated.
void conv1d_forward(const Conv1dInputs& in, const Tensor& y, const Tensor& out_lengths,
                    void* stream = nullptr);

/// Backward from dy [B, To, Cout] (ignored past out_lengths). `y` is the forward output, needed
/// for the ReLU mask when in.relu (may be absent otherwise). Writes dx [B, T, Cin] (optional:
/// absent skips the input gradient, e.g. for a first layer fed with data), dw [Cout, Cin, K]
/// and db [Cout] (optional).
void conv1d_backward(const Tensor& dy, const Conv1dInputs& in, const Tensor& y, const Tensor& dx,
                     const Tensor& dw, const Tensor& db, void* stream = nullptr);

}  // namespace v1
}  // namespace chronoscale
