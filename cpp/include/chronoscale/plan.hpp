#pragma once
/// Inference plans: a whole feed-forward / recurrent stack compiled once, run in one call.
///
/// A Plan is built from a list of layer specs and their weights (torch.nn layouts, the plan's
/// dtype). Building validates the whole stack (dtypes, shapes chained layer to layer, options)
/// and copies the weights into 64-byte aligned storage, pre-packed for the plan's GEMM kernels.
/// `run` then only checks its inputs (x, lengths, y) and computes the forward pass with
/// preallocated scratch buffers: no allocation per call once the largest batch and sequence
/// length have been seen, no Python, no per-layer dispatch.
///
/// Layers (x [B, T, C] in, see each op's header for the exact semantics, which the plan matches):
///   conv1d     valid, stride 1, optional ReLU: [B, T, C] -> [B, T - K + 1, Cout]
///   pool       count windows (max | mean | sum, size, stride, partial): [B, T, C] -> [B, W, C]
///   recurrent  RNN / LSTM / GRU from zero states: [B, T, C] -> [B, T, H] (return_sequences)
///              or the state after each sequence's last valid step [B, H]
///   dense      act(x w^T + b) over the last axis (every step, padded ones included)
/// Only dense layers may follow a recurrent layer without return_sequences. lengths [B] (absent:
/// all T) flow through the layers as in the ops: conv1d max(L - K + 1, 0), pool its out_lengths,
/// recurrent (sequences) and dense unchanged; outputs past them are zero (dense: act(b)).
///
/// Thread safety: `run` is serialised by an internal mutex (one call at a time per plan; the
/// scratch buffers belong to the plan). For concurrent inference build one plan per thread.
/// A call with a large batch splits it into chunks of sequences run in parallel by
/// chronoscale's threads; small batches run on the calling thread only. Each sequence's result
/// does not depend on the batch it is in or on the thread count.
#include <cstdint>
#include <memory>
#include <vector>

#include "chronoscale/linear.hpp"
#include "chronoscale/pool.hpp"
#include "chronoscale/recurrent.hpp"
#include "chronoscale/tensor.hpp"

namespace chronoscale {
inline namespace v1 {

enum class LayerKind : int32_t { conv1d = 0, pool = 1, recurrent = 2, dense = 3 };
const char* layer_kind_name(LayerKind kind);

/// One layer of a plan. Tensors are views: the plan copies them while it is built.
struct LayerSpec {
  LayerKind kind = LayerKind::dense;
  Tensor weight;  ///< conv1d [Cout, Cin, K]; dense [O, I]
  Tensor bias;    ///< conv1d [Cout]; dense [O]; or absent
  bool relu = false;                        ///< conv1d
  Activation activation = Activation::none;  ///< dense
  PoolMode pool_mode = PoolMode::max;       ///< pool
  CountWindow window;                       ///< pool (stride 0: size)
  Cell cell = Cell::lstm;                   ///< recurrent
  Tensor w_ih;                              ///< recurrent [G*H, Cin]
  Tensor w_hh;                              ///< recurrent [G*H, H]
  Tensor b_ih, b_hh;                        ///< recurrent [G*H] or absent
  bool return_sequences = false;            ///< recurrent

  static LayerSpec conv1d(const Tensor& w, const Tensor& b, bool relu);
  static LayerSpec pool(PoolMode mode, const CountWindow& window);
  static LayerSpec recurrent(Cell cell, const Tensor& w_ih, const Tensor& w_hh,
                             const Tensor& b_ih, const Tensor& b_hh, bool return_sequences);
  static LayerSpec dense(const Tensor& w, const Tensor& b, Activation act);
};

class Plan {
 public:
  /// Build a plan for inputs [B, T, in_features] of `dtype` (float32 / float64). Throws
  /// TypeError (a weight of another dtype) or ValueError (shapes, options, a sequence layer
  /// after a recurrent layer without return_sequences) naming `layers[i].<argument>`.
  Plan(DType dtype, int64_t in_features, const std::vector<LayerSpec>& layers);
  ~Plan();
  Plan(Plan&&) noexcept;
  Plan& operator=(Plan&&) noexcept;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;

  DType dtype() const;
  int64_t in_features() const;
  int64_t out_features() const;
  int64_t num_layers() const;
  /// True when the output keeps a time axis ([B, To, O]), false for [B, O].
  bool sequence_output() const;
  /// Shape of the output for x [B, T, in_features]: {B, To, O} or {B, O}. ValueError naming x
  /// when T is too short for a layer (conv1d: T < K; pool without partial: T < size).
  std::vector<int64_t> output_shape(int64_t B, int64_t T) const;
  /// Minimum T accepted by `run`.
  int64_t min_steps() const;
  /// Bytes held by the packed weights and by the scratch buffers grown so far.
  int64_t weight_bytes() const;
  int64_t scratch_bytes() const;

  /// Forward pass: x [B, T, in_features] (C-contiguous host array of the plan's dtype),
  /// lengths [B] int64 or absent, y caller-allocated with output_shape(B, T).
  /// check_finite: also reject NaN / inf in x (ValueError naming x).
  void run(const Tensor& x, const Tensor& lengths, const Tensor& y, bool check_finite = false);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace v1
}  // namespace chronoscale
