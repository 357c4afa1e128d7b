#pragma once
/// Windowed pooling over padded event sequences, forward and backward.
///
/// Two kinds of window:
///  - count windows: output step j pools events [j*stride, j*stride + size) of the sequence;
///  - wall-clock (time) windows: event t goes to window k = floor((ts[t] - origin) / window);
///    one output step per window from the sequence's first event's window to its last event's
///    window, empty windows included (count 0, zeros), optionally only the last `max_windows`.
///
/// Shapes: B batch, T events, C channels, W output steps. x [B, T, C] float32 / float64,
/// C-contiguous, on the host or on a CUDA device; lengths [B] int64 on the host (absent: all T);
/// timestamps [B, T] int64 seconds on the host, non-decreasing within each sequence's valid
/// prefix. Outputs past out_lengths[b] are zero.
///
/// Devices: y, argmax (and dy, dx of the backward) live on the device of x; the integer plan
/// arrays (counts, out_lengths, window_start, first_window, event_step) are always host arrays:
/// they derive from the host lengths / timestamps, out_lengths is the lengths argument of the
/// next op, and the backward validates them without reading device memory. CUDA work is queued
/// on `stream` (cudaStream_t; null: the legacy default stream) without synchronisation.
/// Modes: max (argmax kept for the backward; ties go to the first index; a window holding NaN
/// is NaN with the last NaN's index, as torch's max_pool1d), mean (sum / count), sum.
#include <cstdint>

#include "chronoscale/tensor.hpp"

namespace chronoscale {
inline namespace v1 {

enum class PoolMode : int32_t { max = 0, mean = 1, sum = 2 };

const char* pool_mode_name(PoolMode mode);

/// Count window: `size` events wide, a new window every `stride` events (0 means `size`).
/// partial = false keeps only full windows (Keras MaxPooling1D "valid"):
///   W = (T - size) / stride + 1, out_lengths[b] = (L_b - size) / stride + 1 (0 when L_b < size);
/// partial = true keeps every window that starts inside the sequence:
///   W = ceil(T / stride), out_lengths[b] = ceil(L_b / stride).
struct CountWindow {
  int64_t size = 1;
  int64_t stride = 0;
  bool partial = false;
};

/// Wall-clock window of `window` seconds (> 0) aligned on `origin`; max_windows > 0 keeps only
/// each sequence's most recent max_windows windows (events in earlier windows are dropped),
/// 0 keeps all.
struct TimeWindow {
  int64_t window = 0;
  int64_t origin = 0;
  int64_t max_windows = 0;
};

/// Largest W a time pooling may produce; beyond it the plan raises ValueError (suggesting
/// max_windows or a larger window) instead of allocating.
constexpr int64_t kMaxTimeWindows = 10'000'000;

/// Largest memory (bytes, estimated) the per-window arrays of one time scale of a multi-scale
/// call may need (B sequences x W windows x their pooled inputs, gates and states); beyond it
/// the call raises ValueError naming the sequence with the longest span (often an outlier
/// timestamp) instead of allocating.
constexpr double kMaxTimePoolBytes = 16.0 * (int64_t(1) << 30);

/// Outputs of a pooling forward pass (caller-allocated) and what its backward pass reads.
struct PoolOutputs {
  Tensor y;             ///< [B, W, C] dtype of x
  Tensor counts;        ///< [B, W] int64: events pooled in each step (0 past out_lengths)
  Tensor out_lengths;   ///< [B] int64
  Tensor argmax;        ///< [B, W, C] int64 event index per channel (-1 when empty); max only
  Tensor window_start;  ///< [B, W] int64 origin + k*window of each step (0 past out_lengths); time
  Tensor first_window;  ///< [B] int64 window index k of each sequence's step 0; time
  Tensor event_step;    ///< [B, T] int64 output step of each event, -1 if not pooled; time
};

/// Dimensions found by validation: x [B, T, C] pooled into W steps.
struct PoolDims {
  int64_t B, T, C, W;
};

/// W of a count pooling over T events; ValueError naming `size` / `stride` on bad values or
/// when partial is false and T < size.
int64_t count_pool_windows(const CountWindow& win, int64_t T);

/// Validate the inputs of a count-window forward pass (mode, window, x, lengths).
PoolDims count_pool_check(PoolMode mode, const CountWindow& win, const Tensor& x,
                          const Tensor& lengths);

/// Count-window forward: fills y, counts, out_lengths and (max) argmax.
void count_pool_forward(PoolMode mode, const CountWindow& win, const Tensor& x,
                        const Tensor& lengths, const PoolOutputs& out, void* stream = nullptr);

/// Count-window backward: dy [B, W, C] (entries past out_lengths ignored) -> dx [B, T, C].
/// Reads fwd.counts, fwd.out_lengths and (max) fwd.argmax.
void count_pool_backward(PoolMode mode, const CountWindow& win, const Tensor& dy,
                         const PoolOutputs& fwd, const Tensor& dx, void* stream = nullptr);

/// Time-window plan (W depends on the data): validates mode, window, x [B, T, C], timestamps
/// [B, T] (ValueError naming b and t when unsorted) and lengths, and returns the dimensions with
/// W = max over b of out_lengths[b], at least 1. When given, out_lengths [B] and first_window [B]
/// (int64) receive the plan.
PoolDims time_pool_plan(PoolMode mode, const TimeWindow& win, const Tensor& x,
                        const Tensor& timestamps, const Tensor& lengths,
                        const Tensor& out_lengths = {}, const Tensor& first_window = {});

/// Time-window forward: redoes the plan into out.out_lengths / out.first_window, then fills y,
/// counts, window_start, event_step and (max) argmax; y must be [B, W, C] with the plan's W.
void time_pool_forward(PoolMode mode, const TimeWindow& win, const Tensor& x,
                       const Tensor& timestamps, const Tensor& lengths, const PoolOutputs& out,
                       void* stream = nullptr);

/// Time-window backward: dy [B, W, C] -> dx [B, T, C]. Reads fwd.counts, fwd.event_step and
/// (max) fwd.argmax.
void time_pool_backward(PoolMode mode, const Tensor& dy, const PoolOutputs& fwd, const Tensor& dx,
                        void* stream = nullptr);

}  // namespace v1
}  // namespace chronoscale
