#pragma once
// CUDA kernels of windowed pooling (count and wall-clock windows). Plain C++ header, included by
// cpp/src/pool.cpp and cuda/multiscale.cu.
//
// Split of the work: everything that is integer bookkeeping over lengths and timestamps (out
// lengths, counts, window starts, event -> step maps) is planned on the host, where the inputs
// already are (lengths and timestamps are host arrays) and where the CPU path validates them; the
// device gets the float work. A pooled window of sorted events is a contiguous run [start,
// start + count) of events, so the forward is a gather: one thread per (window, channel) walks
// its run in event order (the CPU's summation order, ties to the first index). The backward is a
// gather too: one thread per (event, channel) sums the windows that hold the event, so there are
// no atomics and results do not depend on scheduling. Consecutive threads take consecutive
// channels: reads and writes are coalesced.
#include <cstdint>
#include <vector>

#include "chronoscale/pool.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

/// B batch, T events, C channels, W output steps; y / dy rows are `ldy` elements apart (>= C).
struct PoolShape {
  int64_t B, T, C, W, ldy;
};

// ---- launchers: every pointer is device memory; all work is queued on `stream` ----------------

/// y [B, W, ldy] (columns [0, C)) and, in max mode, argmax [B, W, C] from x [B, T, C]. Window
/// r = b*W + j pools counts[r] events starting at first_event[r] (first_event null: j*stride);
/// empty windows give zeros and argmax -1. count_col: also y[r, C] = log1p(counts[r]).
template <class T>
void launch_pool_forward(PoolMode mode, const PoolShape& s, const T* x, const int64_t* counts,
                         const int64_t* first_event, int64_t stride, T* y, int64_t* argmax,
                         bool count_col, void* stream);

/// dx [B, T, C] = (or += with accumulate) the gradient of a count pooling from dy [B, W, ldy].
/// counts [B, W] are zero past each sequence's out length. argmax entries are only compared
/// with event indices, never used as addresses.
template <class T>
void launch_count_pool_backward(PoolMode mode, int64_t size, int64_t stride, const PoolShape& s,
                                const T* dy, const int64_t* counts, const int64_t* argmax, T* dx,
                                bool accumulate, void* stream);

/// Same for a time pooling: event_step [B, T] (-1: not pooled) and counts [B, W].
template <class T>
void launch_time_pool_backward(PoolMode mode, const PoolShape& s, const T* dy,
                               const int64_t* counts, const int64_t* event_step,
                               const int64_t* argmax, T* dx, bool accumulate, void* stream);

// ---- entry-point level: the index arrays are host arrays, uploaded here in one copy -----------

/// launch_pool_forward with host counts [B, W] and host first_event [B, W] (or null).
template <class T>
void pool_forward(PoolMode mode, const PoolShape& s, const T* x, const int64_t* counts,
                  const int64_t* first_event, int64_t stride, T* y, int64_t* argmax,
                  void* stream);

/// launch_count_pool_backward with host counts [B, W]; dx is overwritten.
template <class T>
void count_pool_backward(PoolMode mode, int64_t size, int64_t stride, const PoolShape& s,
                         const T* dy, const int64_t* counts, const int64_t* argmax, T* dx,
                         void* stream);

/// launch_time_pool_backward with host counts [B, W] and event_step [B, T]; dx is overwritten.
template <class T>
void time_pool_backward(PoolMode mode, const PoolShape& s, const T* dy, const int64_t* counts,
                        const int64_t* event_step, const int64_t* argmax, T* dx, void* stream);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
