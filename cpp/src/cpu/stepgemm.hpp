#pragma once
// The per-step recurrent product C[M, N] (+)= A[M, K] @ B[K, N] for few rows (M = the batch rows
// of a thread), all row-major with leading dimensions. B is used in place (no packing): the
// recurrent weights are re-read every step, so a BLAS that packs them per call does that work T
// times; here B streams from cache with register tiles of up to 4 rows x 24..64 columns.
#include <cstdint>

namespace chronoscale {
inline namespace v1 {
namespace cpu {

/// C = A @ B (+ C when accumulate). M, N, K >= 0; any leading dimensions >= the row lengths.
template <class T>
void step_gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb,
               T* C, int64_t ldc, bool accumulate);

/// Bt[k, n] = A[n, k] for n < N, k < K: A rows with stride lda, Bt rows with stride ldb.
template <class T>
void transpose(int64_t N, int64_t K, const T* A, int64_t lda, int64_t ldb, T* Bt);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
