#pragma once
// bfloat16 storage for the CUDA GEMMs that pay for it (bf16 inputs on tensor cores, float32
// accumulation and results): the value is the upper 16 bits of a float32, rounded to nearest
// even; NaN stays NaN. Stored as uint16_t so that plain C++ headers need no cuda_bf16.h.
#include <cuda_runtime.h>

#include <cstdint>

#include "float_bits.cuh"
#include "grid_stride.cuh"
#include "train_common.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

__host__ __device__ __forceinline__ uint16_t float_to_bf16(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

__host__ __device__ __forceinline__ float bf16_to_float(uint16_t h) {
  return bits_float(static_cast<uint32_t>(h) << 16);
}

static __global__ void to_bf16_kernel(const float* __restrict__ x, uint16_t* __restrict__ y,
                                      int64_t n) {
  for (int64_t i = flat_index(); i < n; i += flat_stride()) y[i] = float_to_bf16(x[i]);
}

static __global__ void from_bf16_kernel(const uint16_t* __restrict__ x, float* __restrict__ y,
                                        int64_t n) {
  for (int64_t i = flat_index(); i < n; i += flat_stride()) y[i] = bf16_to_float(x[i]);
}

/// Queue y[0 .. n) = bf16(x) on `s`.
inline void to_bf16(const float* x, uint16_t* y, int64_t n, cudaStream_t s) {
  if (n > 0)
    train::launch(to_bf16_kernel, dim3(train::blocks_for(n)), dim3(train::kThreads), s,
                  "to_bf16_kernel", x, y, n);
}

/// Queue y[0 .. n) = float(x) on `s`.
inline void from_bf16(const uint16_t* x, float* y, int64_t n, cudaStream_t s) {
  if (n > 0)
    train::launch(from_bf16_kernel, dim3(train::blocks_for(n)), dim3(train::kThreads), s,
                  "from_bf16_kernel", x, y, n);
}

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
