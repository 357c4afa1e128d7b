#pragma once
// The bits of a float32 and back (host and device; the narrow float formats of bf16.cuh and
// tf32.cuh are cut from them).
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

namespace chronoscale {
inline namespace v1 {
namespace cuda {

__host__ __device__ __forceinline__ uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

__host__ __device__ __forceinline__ float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
