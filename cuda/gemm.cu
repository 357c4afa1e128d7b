// GEMM dispatch (cuBLAS when loaded, else the built-in kernel of gemm_kernels.cuh) and
// deterministic column sums. The built-in GEMM: 64 x 64 output tiles, 16-deep shared-memory
// stages, 256 threads with 4 x 4 outputs each; a K split over gridDim.z (partials in scratch,
// summed in a fixed order) keeps the chip busy when M x N has few tiles (weight gradients: K =
// B*T is the long side).
#include <cuda_runtime.h>

#include <algorithm>

#include "bf16.cuh"
#include "cuda_check.hpp"
#include "device_buffer.cuh"
#include "device_props.cuh"
#include "gemm.cuh"
#include "gemm_kernels.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

namespace {

using namespace gemm_detail;

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

// An empty product: nothing to write (M or N is 0) or C = 0 (K is 0). True when handled.
template <class T>
bool empty_product(cudaStream_t s, int64_t M, int64_t N, int64_t K, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return true;
  if (K > 0) return false;
  CS_CUDA_CHECK(cudaMemset2DAsync(C, sizeof(T) * ldc, 0, sizeof(T) * N, M, s));
  return true;
}

}  // namespace

template <class T>
void gemm(cudaStream_t s, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A,
          int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc) {
  if (empty_product(s, M, N, K, C, ldc)) return;
  if (cublas_gemm<T>(s, ta, tb, M, N, K, A, lda, B, ldb, C, ldc)) return;
  if (!ta && !tb) return builtin_gemm<T, false, false>(s, M, N, K, A, lda, B, ldb, C, ldc);
  if (!ta && tb) return builtin_gemm<T, false, true>(s, M, N, K, A, lda, B, ldb, C, ldc);
  if (ta && !tb) return builtin_gemm<T, true, false>(s, M, N, K, A, lda, B, ldb, C, ldc);
  return builtin_gemm<T, true, true>(s, M, N, K, A, lda, B, ldb, C, ldc);
}

void gemm_bf16(cudaStream_t s, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
               const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, float* C,
               int64_t ldc) {
  if (empty_product(s, M, N, K, C, ldc)) return;
  constexpr int kR16BF = 14, kCompute32F = 68;
  if (cublas_gemm_ex(s, ta, tb, M, N, K, A, lda, B, ldb, C, ldc, kR16BF, kCompute32F, "bf16"))
    return;
  // Without cuBLAS: the bf16 values widened to float32 (exact), then the float32 GEMM.
  // Elements the operands span: rows x ld, less the unused tail of the last row.
  const int64_t na = ((ta ? K : M) - 1) * lda + (ta ? M : K);
  const int64_t nb = ((tb ? N : K) - 1) * ldb + (tb ? K : N);
  const DeviceBuffer<float> a(na, s), b(nb, s);
  from_bf16(A, a.get(), na, s);
  from_bf16(B, b.get(), nb, s);
  gemm<float>(s, ta, tb, M, N, K, a.get(), lda, b.get(), ldb, C, ldc);
}

void gemm_tf32(cudaStream_t s, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A,
               int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc) {
  if (empty_product(s, M, N, K, C, ldc)) return;
  constexpr int kR32F = 0, kComputeFastTf32 = 77;
  if (cublas_gemm_ex(s, ta, tb, M, N, K, A, lda, B, ldb, C, ldc, kR32F, kComputeFastTf32, "tf32"))
    return;
  gemm<float>(s, ta, tb, M, N, K, A, lda, B, ldb, C, ldc);  // no TF32 here: float32 throughout
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
