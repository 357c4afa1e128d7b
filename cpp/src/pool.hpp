#pragma once
// Checks and planning shared by the pooling entry points (pool.cpp) and the multi-scale driver
// (multiscale.cpp), so both validate windows, timestamps and backward caches the same way.
#include <cstdint>

#include "chronoscale/pool.hpp"

namespace chronoscale {
inline namespace v1 {
namespace pool_detail {

/// ValueError unless mode is max, mean or sum.
void check_mode(PoolMode mode);

/// The window with stride 0 replaced by size; ValueError naming size / stride when < 1.
CountWindow normalized(const CountWindow& win);

/// ValueError naming window / max_windows.
void check_time_window(const TimeWindow& win);

/// timestamps [B, T] int64 on the host.
void check_timestamps(const Tensor& ts, int64_t B, int64_t T);

/// Plan of a time pooling on raw host arrays (len may be null): checks ordering and range,
/// writes out_len [B] and first [B], returns W (>= 1).
int64_t time_plan(const TimeWindow& win, int64_t B, int64_t T, const int64_t* ts,
                  const int64_t* len, int64_t* out_len, int64_t* first);

/// Host plan of a count pooling (`win` normalized): out_len [B] and counts [B, W] (zero past
/// out_len), the values the CPU kernel computes. The CUDA path plans on the host with this.
void count_plan(const CountWindow& win, int64_t B, int64_t T, int64_t W, const int64_t* len,
                int64_t* out_len, int64_t* counts);

/// Host index arrays of a time pooling planned by time_plan (out_len, first): counts [B, W],
/// window_start [B, W], event_step [B, T] and first_event [B, W] (index of each window's first
/// event, 0 when empty), as the CPU kernel fills them. Used by the CUDA path.
void time_index(const TimeWindow& win, int64_t B, int64_t T, int64_t W, const int64_t* ts,
                const int64_t* len, const int64_t* out_len, const int64_t* first,
                int64_t* counts, int64_t* window_start, int64_t* event_step,
                int64_t* first_event);

/// argmax [B, W, C] int64 on the device of `x` (the CUDA path keeps it on the device).
void check_argmax(const Tensor& argmax, const Tensor& x, const char* name, int64_t B, int64_t W,
                  int64_t C);

/// Backward cache of a count pooling: shapes and the values the kernel indexes with. argmax
/// values are checked on the host only: the CUDA kernels compare them with event indices and
/// never address memory with them, so a device argmax is not read back.
void check_count_cache(PoolMode mode, const CountWindow& win, int64_t B, int64_t T, int64_t C,
                       int64_t W, const PoolOutputs& fwd);

/// Backward cache of a time pooling.
void check_time_cache(PoolMode mode, int64_t B, int64_t T, int64_t C, int64_t W,
                      const PoolOutputs& fwd);

}  // namespace pool_detail
}  // namespace v1
}  // namespace chronoscale
