#pragma once
/// Multi-scale driver: for every scale s, windowed pooling of the events (count or wall-clock
/// windows, pool.hpp) followed by one recurrent cell over the pooled steps (recurrent.hpp), in one
/// native call, forward and backward.
///
/// Shapes: B batch, T events, C channels; per scale s: W_s pooled steps, I_s = C (+1 with
/// count_feature) cell inputs, H_s hidden size, G gates of the cell. x [B, T, C] float32 /
/// float64; timestamps [B, T] int64 seconds (required when a scale is a time window); lengths [B]
/// int64 or absent. The cell of scale s runs over its pooled steps with lengths out_lengths_s
/// and zero initial state.
///
/// Causality: closed_before_s[b, t] is the number of scale-s steps whose windows closed strictly
/// before event t, i.e. contain only events with index < t (count window j: j*stride + size <= t;
/// time window k: origin + (k+1)*window <= timestamps[b, t]); 0 for t >= lengths[b]. The
/// scale-s state usable by a prediction at event t is y_s[b, closed_before_s[b, t] - 1] (the
/// zero initial state when 0). Time scales with max_windows drop windows chosen from the last
/// event, so they are meant for the latest state, not for per-position training.
#include <vector>

#include "chronoscale/pool.hpp"
#include "chronoscale/recurrent.hpp"

namespace chronoscale {
inline namespace v1 {

enum class ScaleKind : int32_t { count = 0, time = 1 };

/// One time scale: count windows (`count`) or wall-clock windows (`time`), pooled with `mode`.
/// The fine scale (every event) is a count window of size 1.
struct ScaleSpec {
  ScaleKind kind = ScaleKind::count;
  PoolMode mode = PoolMode::mean;
  CountWindow count;
  TimeWindow time;
};

/// Weights of one scale's cell, torch.nn layout; biases optional.
struct ScaleWeights {
  Tensor w_ih;  ///< [G*H, I]
  Tensor w_hh;  ///< [G*H, H]
  Tensor b_ih;  ///< [G*H] or absent
  Tensor b_hh;  ///< [G*H] or absent
};

struct MultiscaleInputs {
  Cell cell = Cell::lstm;
  std::vector<ScaleSpec> scales;
  std::vector<ScaleWeights> weights;  ///< one per scale
  Tensor x;                           ///< [B, T, C]
  Tensor timestamps;                  ///< [B, T] int64, or absent when no scale is a time window
  Tensor lengths;                     ///< [B] int64, or absent (all T)
  bool count_feature = false;         ///< append log1p(count) to every pooled step
};

/// Per-scale dimensions found by validation (W from the data for time scales).
struct ScaleDims {
  int64_t W, I, H;
};
struct MultiscaleDims {
  int64_t B, T, C;
  std::vector<ScaleDims> scales;
};

/// Outputs of one scale (caller-allocated with the dims of multiscale_check).
struct ScaleOutputs {
  /// Pooling outputs; pool.y is the cell input z [B, W, I]: the pooled channels, then
  /// log1p(count) with count_feature. argmax (max mode) and window_start / first_window /
  /// event_step (time scales) as in pool.hpp.
  PoolOutputs pool;
  RecurrentOutputs rnn;  ///< y [B, W, H], h_n [B, H], c_n [B, H] (LSTM), cache
  Tensor closed_before;  ///< [B, T] int64
};

/// Weight gradients of one scale (db_* absent when the bias is).
struct ScaleGrads {
  Tensor dw_ih, dw_hh, db_ih, db_hh;
};

/// Validate everything (ValueError / TypeError naming the argument and the scale) and plan the
/// pooled lengths.
MultiscaleDims multiscale_check(const MultiscaleInputs& in);

/// Forward pass of every scale.
void multiscale_forward(const MultiscaleInputs& in, const std::vector<ScaleOutputs>& out,
                        void* stream = nullptr);

/// Backward pass. dy[s] [B, W_s, H_s], dh_n[s] / dc_n[s] [B, H_s] may each be absent; the
/// vectors hold one entry per scale. dx [B, T, C] receives the sum over scales.
void multiscale_backward(const MultiscaleInputs& in, const std::vector<ScaleOutputs>& fwd,
                         const std::vector<Tensor>& dy, const std::vector<Tensor>& dh_n,
                         const std::vector<Tensor>& dc_n, const Tensor& dx,
                         const std::vector<ScaleGrads>& grads, void* stream = nullptr);

}  // namespace v1
}  // namespace chronoscale
