#pragma once
// The row of one event in window_rows (chronoscale/rows.hpp), shared by the CPU kernel
// (cpu/rows.cpp) and the CUDA kernel (cuda/rows.cu) so that both compute it from one place.
#include <cstdint>

#include "host_device.hpp"

namespace chronoscale {
inline namespace v1 {
namespace window_rows_math {

/// floor(a / s) for s > 0 (C++ division truncates toward zero).
CS_HOST_DEVICE int64_t floor_div(int64_t a, int64_t s) {
  const int64_t q = a / s;
  return (a % s != 0 && a < 0) ? q - 1 : q;
}

/// rows[n] for the event (b, t): -1 outside the batch or before the first closed window.
/// closed: [B, T] or null (a count scale with lengths / out_len, lengths null = all T).
CS_HOST_DEVICE int64_t row_of(int64_t b, int64_t t, int64_t B, int64_t T, int64_t W, int64_t size,
                              int64_t stride, const int64_t* lengths, const int64_t* out_len,
                              const int64_t* closed) {
  if (b < 0 || b >= B || t < 0 || t >= T) return -1;
  int64_t c;
  if (closed) {
    c = closed[b * T + t];
  } else if (t >= (lengths ? lengths[b] : T)) {
    c = 0;
  } else {
    c = floor_div(t + 1 - size, stride) + 1;
    const int64_t hi = out_len[b];
    c = c < 0 ? 0 : (c > hi ? hi : c);
  }
  c = c > W ? W : c;
  return c > 0 ? b * W + c - 1 : -1;
}

}  // namespace window_rows_math
}  // namespace v1
}  // namespace chronoscale
