#pragma once
// TF32 pairs for float32-accurate products on the tensor cores (3xTF32): a float32 x is
// hi + lo exactly, hi = x rounded to TF32 (10 explicit mantissa bits, the low 13 bits zero) and
// lo = x - hi (|lo| <= 2^-11 |x|). A product a b is then a_hi b_hi + a_hi b_lo + a_lo b_hi, each
// term a TF32 product with float32 accumulation: what is dropped (a_lo b_lo, and lo's own
// rounding to TF32 on the tensor cores) is below 2^-20 |a b|, against 2^-11 for one TF32 product.
#include <cuda_runtime.h>

#include <cstdint>

#include "float_bits.cuh"
#include "grid_stride.cuh"
#include "train_common.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

/// x rounded to the nearest TF32 value (ties away from zero), as a float32. Where that would
/// overflow (|x| within half a TF32 step of the largest float) and for inf / NaN: x truncated to
/// TF32 (so hi stays finite for finite x).
__host__ __device__ __forceinline__ float tf32_round(float x) {
  const uint32_t u = float_bits(x), r = (u + 0x1000u) & 0xffffe000u;
  return bits_float((r & 0x7f800000u) == 0x7f800000u ? u & 0xffffe000u : r);
}

// out[i, p * ld_part + c] for p < 3 (each row 3 parts of ld_part >= cols columns, the columns
// from cols on zero): hi of x[i, c], or lo where bit p of `lo_parts` is set.
static __global__ void tf32_split_kernel(const float* __restrict__ x, int64_t rows, int64_t cols,
                                         int64_t ld_part, int lo_parts, float* __restrict__ out) {
  const int64_t n = rows * ld_part;
  for (int64_t i = flat_index(); i < n; i += flat_stride()) {
    const int64_t r = i / ld_part, c = i % ld_part;
    const float v = c < cols ? x[r * cols + c] : 0.0f;
    const float hi = tf32_round(v), lo = v - hi;
    float* o = out + r * 3 * ld_part + c;
    for (int p = 0; p < 3; ++p) o[p * ld_part] = (lo_parts >> p) & 1 ? lo : hi;
  }
}

// out[i, c] (+)= a[i, c] + a[i, ld_part + c] + a[i, 2 ld_part + c] (a's rows 3 ld_part long).
static __global__ void tf32_sum3_kernel(const float* __restrict__ a, int64_t rows, int64_t cols,
                                        int64_t ld_part, bool accumulate, float* __restrict__ out) {
  const int64_t n = rows * cols;
  for (int64_t i = flat_index(); i < n; i += flat_stride()) {
    const int64_t r = i / cols, c = i % cols;
    const float* x = a + r * 3 * ld_part + c;
    const float s = (x[0] + x[ld_part]) + x[2 * ld_part];
    out[i] = accumulate ? out[i] + s : s;
  }
}

/// Queue out [rows, 3 ld_part] = three copies of x [rows, cols] as TF32 parts: part p holds the
/// lo parts where bit p of lo_parts is set, else the hi parts; columns cols..ld_part zero.
inline void tf32_split(const float* x, int64_t rows, int64_t cols, int64_t ld_part, int lo_parts,
                       float* out, cudaStream_t s) {
  if (rows > 0)
    train::launch(tf32_split_kernel, dim3(train::blocks_for(rows * ld_part)), dim3(train::kThreads),
                  s, "tf32_split_kernel", x, rows, cols, ld_part, lo_parts, out);
}

/// Queue out [rows, cols] = (accumulate ? out : 0) + the sum of the three parts of a
/// [rows, 3 ld_part] (the partial products of the 3xTF32 GEMMs).
inline void tf32_sum3(const float* a, int64_t rows, int64_t cols, int64_t ld_part, bool accumulate,
                      float* out, cudaStream_t s) {
  if (rows > 0 && cols > 0)
    train::launch(tf32_sum3_kernel, dim3(train::blocks_for(rows * cols)), dim3(train::kThreads), s,
                  "tf32_sum3_kernel", a, rows, cols, ld_part, accumulate, out);
}

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
