#pragma once
// Shared helpers of the CUDA kernels of the training ops (conv1d, linear, dropout, optimisers,
// losses): kernel launches that also run in the CPU emulator (tests/cuda_emu), host -> device
// copies on the op's stream, deterministic block / partial sums, and reading back a scalar.
// Everything is queued on the op's stream; only read_scalar waits for it (the losses return a
// Python float).
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "chronoscale/error.hpp"
#include "cuda_check.hpp"
#include "device_buffer.cuh"
#include "grid_stride.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {
namespace train {

constexpr int kThreads = 256;                  // block size of the elementwise kernels
constexpr int kReduceSlots = kThreads / 32;    // shared values a block_reduce of kThreads needs
constexpr int64_t kMaxGrid = int64_t(1) << 20;  // grid-stride loops cover the rest

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Blocks for n items at `per_block` items per block (at least 1, at most kMaxGrid).
inline unsigned blocks_for(int64_t n, int64_t per_block = kThreads) {
  return grid_blocks(n, per_block, kMaxGrid);
}

/// kernel<<<grid, block, smem, stream>>>(args...) (smem: bytes of dynamic shared memory, at
/// most 48 KiB), launch checked (CudaError naming `name`). In the emulator the blocks run one
/// after the other (kernels may use static __shared__ arrays).
template <class... P, class... A>
void launch_smem(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                 const char* name, A&&... args) {
#ifdef CS_CUDA_EMU
  (void)stream;
  (void)name;
  emu::launch(
      grid, block, smem, false, emu::device().seed++, [&] { kernel(static_cast<P>(args)...); }, 1);
#else
  // clang-format off
  kernel<<<grid, block, smem, stream>>>(static_cast<P>(args)...);
  // clang-format on
  check(cudaGetLastError(), name);
#endif
}

/// launch_smem without dynamic shared memory.
template <class... P, class... A>
void launch(void (*kernel)(P...), dim3 grid, dim3 block, cudaStream_t stream, const char* name,
            A&&... args) {
  launch_smem(kernel, grid, block, 0, stream, name, static_cast<A&&>(args)...);
}

using cuda::to_device;  // (device_buffer.cuh)

/// Copy one double from the device and wait for the stream (the only synchronisation of the
/// training ops: a loss is returned to Python as a float).
inline double read_scalar(const double* dev, cudaStream_t s) {
  double h = 0.0;
  CS_CUDA_CHECK(cudaMemcpyAsync(&h, dev, sizeof(double), cudaMemcpyDeviceToHost, s));
  CS_CUDA_CHECK(cudaStreamSynchronize(s));
  return h;
}

/// The reductions' operations (argument order as in the butterflies below).
struct SumOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct MaxOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return b > a ? b : a;
  }
};

/// op over the 32 lanes of a warp (butterfly: a fixed order, every lane gets it). Every lane of
/// the warp must call it.
template <class T, class Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  return warp_reduce(v, SumOp{});
}
template <class T>
__device__ __forceinline__ T warp_max(T v) {
  return warp_reduce(v, MaxOp{});
}

/// op over the block (blockDim.x == NT, a multiple of 32), in a fixed order (a butterfly in each
/// warp, then the warps' results in warp order): every thread gets the result. Two barriers.
/// `sh` is at least NT / 32 values of shared memory.
template <int NT, class T, class Op>
__device__ __forceinline__ T block_reduce(T v, T* sh, Op op) {
  static_assert(NT % 32 == 0, "block_reduce: whole warps");
  v = warp_reduce(v, op);
  if (threadIdx.x % 32 == 0) sh[threadIdx.x / 32] = v;
  __syncthreads();
  T r = sh[0];
#pragma unroll
  for (int w = 1; w < NT / 32; ++w) r = op(r, sh[w]);
  __syncthreads();  // sh may be written again by the next call
  return r;
}
template <int NT>
__device__ __forceinline__ double block_sum(double v, double* sh) {
  return block_reduce<NT>(v, sh, SumOp{});
}
template <int NT, class T>
__device__ __forceinline__ T block_max(T v, T* sh) {
  return block_reduce<NT>(v, sh, MaxOp{});
}

/// out[0] = sum of part[0 .. n) in a fixed order (one block of kThreads threads) / divisor: a
/// mean left on the device rounds as the host's division of the read-back sum does.
static __global__ void __launch_bounds__(kThreads)
    finish_sum_kernel(const double* __restrict__ part, int64_t n, double divisor,
                      double* __restrict__ out) {
  __shared__ double sh[kReduceSlots];
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) s += part[i];
  s = block_sum<kThreads>(s, sh);
  if (threadIdx.x == 0) out[0] = s / divisor;
}

/// Queue out[0] = sum(part[0 .. n)) / divisor.
inline void finish_sum(const double* part, int64_t n, double divisor, double* out, cudaStream_t s) {
  launch(finish_sum_kernel, dim3(1), dim3(kThreads), s, "finish_sum_kernel", part, n, divisor, out);
}

}  // namespace train
}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
