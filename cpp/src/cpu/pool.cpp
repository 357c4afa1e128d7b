// Windowed pooling on the CPU. Count windows run one output row per task (windows may overlap);
// time windows run one sequence per task (each event lands in at most one window).
#include "pool.hpp"

#include <cstring>

#include "parallel.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

namespace {

template <class T>
inline void copy_row(T* dst, const T* src, int64_t C) {
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) dst[c] = src[c];
}

template <class T>
inline void add_row(T* dst, const T* src, T w, int64_t C) {
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) dst[c] += w * src[c];
}

template <class T>
inline void scale_row(T* dst, T w, int64_t C) {
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) dst[c] *= w;
}

// Pools event row `xr` (index t) into output row `yr` that already holds `n` events.
template <class T>
inline void pool_event(PoolMode mode, T* yr, int64_t* am, const T* xr, int64_t t, int64_t n,
                       int64_t C) {
  if (n == 0) {
    copy_row(yr, xr, C);
    if (mode == PoolMode::max)
      for (int64_t c = 0; c < C; ++c) am[c] = t;
  } else if (mode == PoolMode::max) {
    // Selects into a scratch block, then plain copies back: GCC turns `v = cond ? new : v` in
    // place into masked stores, which are microcoded (slow) on AMD cores.
    constexpr int64_t kBlock = 64;
    T yb[kBlock];
    int64_t ab[kBlock];
    for (int64_t c0 = 0; c0 < C; c0 += kBlock) {
      const int64_t n = C - c0 < kBlock ? C - c0 : kBlock;
      const T* x = xr + c0;
      T* y = yr + c0;
      int64_t* a = am + c0;
#pragma omp simd
      for (int64_t c = 0; c < n; ++c) {
        // strict: ties keep the first index; a NaN is always taken (so the last NaN), as torch
        const bool take = x[c] > y[c] || x[c] != x[c];
        yb[c] = take ? x[c] : y[c];
        ab[c] = take ? t : a[c];
      }
      std::memcpy(y, yb, sizeof(T) * static_cast<size_t>(n));
      std::memcpy(a, ab, sizeof(int64_t) * static_cast<size_t>(n));
    }
  } else {
    add_row(yr, xr, T(1), C);
  }
}

}  // namespace

template <class T>
void count_pool_forward(PoolMode mode, const CountWindow& win, const PoolShape& s, const T* x,
                        const int64_t* len, T* y, int64_t* counts, int64_t* out_len,
                        int64_t* argmax) {
  const int64_t B = s.B, T_ = s.T, C = s.C, W = s.W, size = win.size, stride = win.stride;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t L = len ? len[b] : T_;
    if (win.partial) out_len[b] = L / stride + (L % stride != 0);
    else out_len[b] = L >= size ? (L - size) / stride + 1 : 0;
  }
  parallel_for(B * W, (size < T_ ? size : T_) * C, [&](int64_t r) {
    const int64_t b = r / W, j = r % W, L = len ? len[b] : T_, start = j * stride;
    T* yr = y + r * s.ldy;
    int64_t* am = argmax ? argmax + r * C : nullptr;
    const int64_t n = j < out_len[b] ? (L - start < size ? L - start : size) : 0;
    counts[r] = n;
    if (n == 0) {
      std::memset(yr, 0, sizeof(T) * C);
      if (am)
        for (int64_t c = 0; c < C; ++c) am[c] = -1;
      return;
    }
    for (int64_t i = 0; i < n; ++i)
      pool_event(mode, yr, am, x + (b * T_ + start + i) * C, start + i, i, C);
    if (mode == PoolMode::mean) scale_row(yr, T(1) / T(n), C);
  });
}

template <class T>
void count_pool_backward(PoolMode mode, const CountWindow& win, const PoolShape& s, const T* dy,
                         const int64_t* counts, const int64_t* out_len, const int64_t* argmax,
                         T* dx, bool accumulate) {
  const int64_t B = s.B, T_ = s.T, C = s.C, W = s.W, size = win.size, stride = win.stride;
  if (mode == PoolMode::max) {
    parallel_for(B, T_ * C, [&](int64_t b) {
      T* dxb = dx + b * T_ * C;
      if (!accumulate) std::memset(dxb, 0, sizeof(T) * T_ * C);
      for (int64_t j = 0; j < out_len[b]; ++j) {
        const int64_t* am = argmax + (b * W + j) * C;
        const T* dyr = dy + (b * W + j) * s.ldy;
        for (int64_t c = 0; c < C; ++c)
          if (am[c] >= 0) dxb[am[c] * C + c] += dyr[c];
      }
    });
    return;
  }
  // Gather form: event t receives from the windows j with j*stride <= t < j*stride + counts[j].
  const int64_t per_event = (size < T_ ? size : T_) / stride + 1;  // windows holding an event
  parallel_for(B * T_, C * per_event, [&](int64_t r) {
    const int64_t b = r / T_, t = r % T_;
    T* dxr = dx + r * C;
    if (!accumulate) std::memset(dxr, 0, sizeof(T) * C);
    const int64_t j_lo = t >= size ? (t - size) / stride + 1 : 0;
    const int64_t j_hi = t / stride < out_len[b] - 1 ? t / stride : out_len[b] - 1;
    for (int64_t j = j_lo; j <= j_hi; ++j) {
      const int64_t n = counts[b * W + j];
      if (t >= j * stride + n) continue;
      add_row(dxr, dy + (b * W + j) * s.ldy, mode == PoolMode::mean ? T(1) / T(n) : T(1), C);
    }
  });
}

template <class T>
void time_pool_forward(PoolMode mode, const TimeWindow& win, const PoolShape& s, const T* x,
                       const int64_t* ts, const int64_t* len, const int64_t* out_len,
                       const int64_t* first, T* y, int64_t* counts, int64_t* window_start,
                       int64_t* event_step, int64_t* argmax) {
  const int64_t T_ = s.T, C = s.C, W = s.W;
  parallel_for(s.B, T_ * C, [&](int64_t b) {
    const int64_t L = len ? len[b] : T_;
    int64_t* cnt = counts + b * W;
    int64_t* es = event_step + b * T_;
    for (int64_t j = 0; j < W; ++j) {
      std::memset(y + (b * W + j) * s.ldy, 0, sizeof(T) * C);
      cnt[j] = 0;
      window_start[b * W + j] =
          j < out_len[b]
              ? static_cast<int64_t>(win.origin + static_cast<__int128>(first[b] + j) * win.window)
              : 0;
    }
    if (argmax)
      for (int64_t i = 0; i < W * C; ++i) argmax[b * W * C + i] = -1;
    for (int64_t t = 0; t < T_; ++t) {
      const int64_t j =
          t < L ? time_window_index(ts[b * T_ + t], win.origin, win.window) - first[b] : -1;
      es[t] = j < 0 ? -1 : j;
      if (j < 0) continue;  // past the length, or before the last max_windows windows
      pool_event(mode, y + (b * W + j) * s.ldy, argmax ? argmax + (b * W + j) * C : nullptr,
                 x + (b * T_ + t) * C, t, cnt[j]++, C);
    }
    if (mode == PoolMode::mean)
      for (int64_t j = 0; j < out_len[b]; ++j)
        if (cnt[j] > 1) scale_row(y + (b * W + j) * s.ldy, T(1) / T(cnt[j]), C);
  });
}

template <class T>
void time_pool_backward(PoolMode mode, const PoolShape& s, const T* dy, const int64_t* counts,
                        const int64_t* out_len, const int64_t* event_step, const int64_t* argmax,
                        T* dx, bool accumulate) {
  const int64_t T_ = s.T, C = s.C, W = s.W;
  parallel_for(s.B, T_ * C, [&](int64_t b) {
    T* dxb = dx + b * T_ * C;
    if (!accumulate) std::memset(dxb, 0, sizeof(T) * T_ * C);
    if (mode == PoolMode::max) {
      for (int64_t j = 0; j < out_len[b]; ++j) {
        const int64_t* am = argmax + (b * W + j) * C;
        const T* dyr = dy + (b * W + j) * s.ldy;
        for (int64_t c = 0; c < C; ++c)
          if (am[c] >= 0) dxb[am[c] * C + c] += dyr[c];
      }
      return;
    }
    for (int64_t t = 0; t < T_; ++t) {
      const int64_t j = event_step[b * T_ + t];
      if (j < 0 || j >= out_len[b]) continue;
      const T w = mode == PoolMode::mean ? T(1) / T(counts[b * W + j]) : T(1);
      add_row(dxb + t * C, dy + (b * W + j) * s.ldy, w, C);
    }
  });
}

#define CS_INSTANTIATE_POOL(T)                                                                   \
  template void count_pool_forward<T>(PoolMode, const CountWindow&, const PoolShape&, const T*, \
                                      const int64_t*, T*, int64_t*, int64_t*, int64_t*);        \
  template void count_pool_backward<T>(PoolMode, const CountWindow&, const PoolShape&,          \
                                       const T*, const int64_t*, const int64_t*,                \
                                       const int64_t*, T*, bool);                               \
  template void time_pool_forward<T>(PoolMode, const TimeWindow&, const PoolShape&, const T*,   \
                                     const int64_t*, const int64_t*, const int64_t*,            \
                                     const int64_t*, T*, int64_t*, int64_t*, int64_t*,          \
                                     int64_t*);                                                 \
  template void time_pool_backward<T>(PoolMode, const PoolShape&, const T*, const int64_t*,     \
                                      const int64_t*, const int64_t*, const int64_t*, T*, bool);

CS_INSTANTIATE_POOL(float)
CS_INSTANTIATE_POOL(double)

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
