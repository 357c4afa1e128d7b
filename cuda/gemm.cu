// GEMM dispatch (cuBLAS when loaded, else the built-in kernel below) and deterministic column
// sums. The built-in GEMM: 64 x 64 output tiles, 16-deep shared-memory stages, 256 threads with
// 4 x 4 outputs each; a K split over gridDim.z (partials in scratch, summed in a fixed order)
// keeps the chip busy when M x N has few tiles (weight gradients: K = B*T is the long side).
#include <cuda_runtime.h>

#include <algorithm>

#include "cuda_check.hpp"
#include "device_buffer.cuh"
#include "device_props.cuh"
#include "gemm.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

namespace {

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

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <class T, bool TA, bool TB>
void builtin_gemm(cudaStream_t s, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
                  const T* B, int64_t ldb, T* C, int64_t ldc) {
  const int64_t tm = ceil_div(M, kBM), tn = ceil_div(N, kBN);
  CS_CHECK(tm <= 0x7fffffffLL && tn <= 65535, ValueError, "GEMM of ", M, " x ", N,
           " exceeds the built-in kernel's grid; load cuBLAS (CHRONOSCALE_CUBLAS_LIB)");
  const int64_t target = 4LL * current_device_props().sms;
  int64_t S = 1;
  if (tm * tn < target) S = std::min<int64_t>({kMaxSplit, ceil_div(target, tm * tn),
                                               std::max<int64_t>(1, K / (4 * kBK))});
  const int64_t k_chunk = ceil_div(ceil_div(K, S), kBK) * kBK;
  S = std::max<int64_t>(1, ceil_div(K, k_chunk));
  const dim3 grid(static_cast<unsigned>(tm), static_cast<unsigned>(tn), static_cast<unsigned>(S));
  if (S == 1) {
    gemm_tile_kernel<T, TA, TB><<<grid, kGemmThreads, 0, s>>>(M, N, K, k_chunk, A, lda, B, ldb,
                                                              C, ldc, 0);
    CS_CUDA_CHECK_LAUNCH("gemm_tile_kernel");
    return;
  }
  DeviceBuffer<T> part(S * M * N, s);
  gemm_tile_kernel<T, TA, TB><<<grid, kGemmThreads, 0, s>>>(M, N, K, k_chunk, A, lda, B, ldb,
                                                            part.get(), N, M * N);
  CS_CUDA_CHECK_LAUNCH("gemm_tile_kernel (split K)");
  const auto blocks = static_cast<unsigned>(std::min<int64_t>(ceil_div(M * N, 256), 65535));
  split_sum_kernel<T><<<blocks, 256, 0, s>>>(part.get(), static_cast<int>(S), M, N, C, ldc);
  CS_CUDA_CHECK_LAUNCH("split_sum_kernel");
}

}  // namespace

template <class T>
void gemm(cudaStream_t s, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A,
          int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    CS_CUDA_CHECK(cudaMemset2DAsync(C, sizeof(T) * ldc, 0, sizeof(T) * N, M, s));
    return;
  }
  if (cublas_gemm<T>(s, ta, tb, M, N, K, A, lda, B, ldb, C, ldc)) return;
  if (!ta && !tb) return builtin_gemm<T, false, false>(s, M, N, K, A, lda, B, ldb, C, ldc);
  if (!ta && tb) return builtin_gemm<T, false, true>(s, M, N, K, A, lda, B, ldb, C, ldc);
  if (ta && !tb) return builtin_gemm<T, true, false>(s, M, N, K, A, lda, B, ldb, C, ldc);
  return builtin_gemm<T, true, true>(s, M, N, K, A, lda, B, ldb, C, ldc);
}

template <class T>
void column_sum(cudaStream_t s, const T* A, int64_t rows, int64_t cols, int64_t ld, T* out) {
  if (cols <= 0) return;
  if (rows <= 0) {
    CS_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(T) * cols, s));
    return;
  }
  const int64_t bx = ceil_div(cols, 32);
  CS_CHECK(bx <= 0x7fffffffLL, ValueError, "column_sum: too many columns (", cols, ")");
  const int64_t want = ceil_div(4LL * current_device_props().sms, bx);
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>({want, ceil_div(rows, 64), 4096}));
  const int64_t per = ceil_div(rows, chunks);
  const int64_t used = ceil_div(rows, per);  // every chunk non-empty
  const dim3 grid(static_cast<unsigned>(bx), static_cast<unsigned>(used));
  if (used == 1) {
    column_partial_kernel<T><<<grid, dim3(32, 8), 0, s>>>(A, rows, cols, ld, per, out);
    CS_CUDA_CHECK_LAUNCH("column_partial_kernel");
    return;
  }
  DeviceBuffer<T> part(used * cols, s);
  column_partial_kernel<T><<<grid, dim3(32, 8), 0, s>>>(A, rows, cols, ld, per, part.get());
  CS_CUDA_CHECK_LAUNCH("column_partial_kernel");
  column_finish_kernel<T><<<static_cast<unsigned>(ceil_div(cols, 256)), 256, 0, s>>>(
      part.get(), static_cast<int>(used), cols, out);
  CS_CUDA_CHECK_LAUNCH("column_finish_kernel");
}

template void gemm<float>(cudaStream_t, bool, bool, int64_t, int64_t, int64_t, const float*,
                          int64_t, const float*, int64_t, float*, int64_t);
template void gemm<double>(cudaStream_t, bool, bool, int64_t, int64_t, int64_t, const double*,
                           int64_t, const double*, int64_t, double*, int64_t);
template void column_sum<float>(cudaStream_t, const float*, int64_t, int64_t, int64_t, float*);
template void column_sum<double>(cudaStream_t, const double*, int64_t, int64_t, int64_t,
                                 double*);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
