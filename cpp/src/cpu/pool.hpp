#pragma once
// CPU kernels of windowed pooling (count and wall-clock windows). Validation happens in the
// device-neutral entries (pool.cpp, multiscale.cpp); these take raw pointers so the multi-scale
// driver can pool straight into a wider cell input (row stride `ldy` >= C) and accumulate the
// gradients of several scales into one dx.
#include <cstdint>

#include "chronoscale/pool.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

/// B batch, T events, C channels, W output steps; y / dy rows are `ldy` elements apart.
struct PoolShape {
  int64_t B, T, C, W, ldy;
};

/// floor((ts - origin) / window) for any signs; the caller has checked that it fits int64.
inline int64_t time_window_index(int64_t ts, int64_t origin, int64_t window) {
  const __int128 d = static_cast<__int128>(ts) - origin;
  __int128 q = d / window;
  if (d % window != 0 && d < 0) --q;
  return static_cast<int64_t>(q);
}

template <class T>
void count_pool_forward(PoolMode mode, const CountWindow& win, const PoolShape& s, const T* x,
                        const int64_t* len, T* y, int64_t* counts, int64_t* out_len,
                        int64_t* argmax);

/// dx [B, T, C] = (or +=, when accumulate) the gradient routed from dy [B, W, ldy].
template <class T>
void count_pool_backward(PoolMode mode, const CountWindow& win, const PoolShape& s, const T* dy,
                         const int64_t* counts, const int64_t* out_len, const int64_t* argmax,
                         T* dx, bool accumulate);

/// out_len / first from time_pool_plan; fills y, counts, window_start, event_step, argmax.
template <class T>
void time_pool_forward(PoolMode mode, const TimeWindow& win, const PoolShape& s, const T* x,
                       const int64_t* ts, const int64_t* len, const int64_t* out_len,
                       const int64_t* first, T* y, int64_t* counts, int64_t* window_start,
                       int64_t* event_step, int64_t* argmax);

template <class T>
void time_pool_backward(PoolMode mode, const PoolShape& s, const T* dy, const int64_t* counts,
                        const int64_t* out_len, const int64_t* event_step, const int64_t* argmax,
                        T* dx, bool accumulate);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
