#pragma once
// Grid-stride loops of the elementwise kernels: each thread starts at its flat index in the grid
// and steps by the grid's thread count, so a capped grid covers any number of items:
//   for (int64_t i = flat_index(); i < n; i += flat_stride()) ...
#include <cuda_runtime.h>

#include <cstdint>

namespace chronoscale {
inline namespace v1 {
namespace cuda {

__device__ __forceinline__ int64_t flat_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t flat_stride() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

/// Blocks for n items at `per_block` items per block: at least 1, at most max_blocks (the
/// grid-stride loops cover the rest).
inline unsigned grid_blocks(int64_t n, int64_t per_block, int64_t max_blocks) {
  const int64_t b = (n + per_block - 1) / per_block;
  return static_cast<unsigned>(b < 1 ? 1 : (b > max_blocks ? max_blocks : b));
}

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
