#pragma once
// Row-major GEMM and column sums on the GPU for the CUDA kernels. C = op(A) @ op(B) with op(A)
// [M, K], op(B) [K, N], C [M, N] (overwritten). Served by cuBLAS when it can be loaded at run
// time (cublas.cu: dlopen, so the library never links it), else by a tiled shared-memory kernel
// (gemm.cu). Everything is queued on `stream`; nothing synchronises.
#include <cuda_runtime.h>

#include <cstdint>

namespace chronoscale {
inline namespace v1 {
namespace cuda {

template <class T>
void gemm(cudaStream_t stream, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
          const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc);

/// C (float32) = op(A) @ op(B) with A and B in bfloat16 storage (uint16_t, see bf16.cuh) and
/// float32 accumulation: cuBLAS GemmEx (tensor cores) when loaded, else the operands widened to
/// float32 scratch and the float32 GEMM (the same products, slower).
void gemm_bf16(cudaStream_t stream, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
               const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, float* C,
               int64_t ldc);

/// C (float32) = op(A) @ op(B) with float32 A and B rounded to TF32 (10-bit mantissa) on the
/// tensor cores and float32 accumulation: cuBLAS GemmEx (CUBLAS_COMPUTE_32F_FAST_TF32) when
/// loaded and the device has them, else the float32 GEMM (at least as precise).
void gemm_tf32(cudaStream_t stream, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
               const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc);

/// The cuBLAS part of gemm_bf16 / gemm_tf32 (cublasGemmEx with A and B of the cudaDataType_t
/// `in_type`, float32 C, the cublasComputeType_t `compute`); false when cuBLAS (or its GemmEx)
/// is not available, the device cannot run that combination, or the sizes exceed 32-bit
/// indices.
bool cublas_gemm_ex(cudaStream_t stream, bool trans_a, bool trans_b, int64_t M, int64_t N,
                    int64_t K, const void* A, int64_t lda, const void* B, int64_t ldb, float* C,
                    int64_t ldc, int in_type, int compute, const char* what);

/// out[c] = sum over r < rows of A[r * ld + c], c < cols; deterministic (fixed order).
template <class T>
void column_sum(cudaStream_t stream, const T* A, int64_t rows, int64_t cols, int64_t ld, T* out);

/// Whether cuBLAS serves the float GEMMs: it loads and CHRONOSCALE_CUDA_GEMM=builtin is not set
/// (the recurrent planner uses the per-step GEMM mode only then).
bool cublas_serves();

/// The cuBLAS part: queue the product through cuBLAS and return true, or return false when
/// cuBLAS is not available or the sizes exceed its 32-bit indices (the caller then uses the
/// built-in kernel). Throws CudaError when cuBLAS reports an error.
template <class T>
bool cublas_gemm(cudaStream_t stream, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                 const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
