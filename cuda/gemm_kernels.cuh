#pragma once
// Device kernels of the built-in GEMM and of the column sums (host side: gemm.cu). Kept in a
// header so that tests/cuda_emu can run them on the CPU.
#include <cuda_runtime.h>

#include <cstdint>

namespace chronoscale {
inline namespace v1 {
namespace cuda {
namespace gemm_detail {

constexpr int kBM = 64, kBN = 64, kBK = 16, kGemmThreads = 256;
constexpr int kMaxSplit = 64;

// Block (blockIdx.x: M tile, blockIdx.y: N tile, blockIdx.z: K split) computes its tile over
// k in [z * k_chunk, min(K, (z + 1) * k_chunk)) and stores it to out + z * split_stride.
template <class T, bool TA, bool TB>
__global__ void __launch_bounds__(kGemmThreads)
    gemm_tile_kernel(int64_t M, int64_t N, int64_t K, int64_t k_chunk, const T* __restrict__ A,
                     int64_t lda, const T* __restrict__ B, int64_t ldb, T* __restrict__ out,
                     int64_t ldo, int64_t split_stride) {
  __shared__ T As[kBK][kBM + 1];
  __shared__ T Bs[kBK][kBN + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * kBM;
  const int64_t n0 = static_cast<int64_t>(blockIdx.y) * kBN;
  const int64_t kb = static_cast<int64_t>(blockIdx.z) * k_chunk;
  const int64_t ke = min(K, kb + k_chunk);
  T acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = T(0);
  for (int64_t k0 = kb; k0 < ke; k0 += kBK) {
    // Loads walk the contiguous dimension of each operand with consecutive threads.
    for (int e = threadIdx.x; e < kBM * kBK; e += kGemmThreads) {
      const int mm = TA ? e % kBM : e / kBK, kk = TA ? e / kBM : e % kBK;
      const int64_t m = m0 + mm, k = k0 + kk;
      As[kk][mm] = (m < M && k < ke) ? (TA ? A[k * lda + m] : A[m * lda + k]) : T(0);
    }
    for (int e = threadIdx.x; e < kBN * kBK; e += kGemmThreads) {
      const int nn = TB ? e / kBK : e % kBN, kk = TB ? e % kBK : e / kBN;
      const int64_t n = n0 + nn, k = k0 + kk;
      Bs[kk][nn] = (n < N && k < ke) ? (TB ? B[n * ldb + k] : B[k * ldb + n]) : T(0);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      T a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();  // the next stage overwrites As / Bs
  }
  T* o = out + static_cast<int64_t>(blockIdx.z) * split_stride;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t m = m0 + ty + 16 * i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t n = n0 + tx + 16 * j;
      if (n < N) o[m * ldo + n] = acc[i][j];
    }
  }
}

// C[m, n] = sum over s of P[s][m][n], s in order.
template <class T>
__global__ void split_sum_kernel(const T* __restrict__ P, int S, int64_t M, int64_t N,
                                 T* __restrict__ C, int64_t ldc) {
  const int64_t MN = M * N;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < MN;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    T s = T(0);
    for (int z = 0; z < S; ++z) s += P[z * MN + e];
    C[(e / N) * ldc + e % N] = s;
  }
}

// Block (x: 32 columns, y: a chunk of rows) of 32 x 8 threads: partial[y][c] = sum of its rows.
template <class T>
__global__ void column_partial_kernel(const T* __restrict__ A, int64_t rows, int64_t cols,
                                      int64_t ld, int64_t rows_per_chunk, T* __restrict__ part) {
  __shared__ T red[8][33];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * 32 + threadIdx.x;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * rows_per_chunk;
  const int64_t r1 = min(rows, r0 + rows_per_chunk);
  T s = T(0);
  if (c < cols)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += 8) s += A[r * ld + c];
  red[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    T t = T(0);
#pragma unroll
    for (int i = 0; i < 8; ++i) t += red[i][threadIdx.x];
    part[static_cast<int64_t>(blockIdx.y) * cols + c] = t;
  }
}

template <class T>
__global__ void column_finish_kernel(const T* __restrict__ part, int chunks, int64_t cols,
                                     T* __restrict__ out) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  T s = T(0);
  for (int z = 0; z < chunks; ++z) s += part[z * cols + c];
  out[c] = s;
}

}  // namespace gemm_detail
}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
