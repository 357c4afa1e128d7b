#pragma once
// Row-major GEMM through the runtime-loaded CBLAS: C = alpha * op(A) @ op(B) + beta * C,
// op(A) [M, K], op(B) [K, N], C [M, N].
#include <cstdint>

namespace chronoscale {
inline namespace v1 {
namespace blas {

/// Single-threaded GEMM (the BLAS is kept at one thread; chronoscale threads around it).
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

/// Same, with the M rows split across chronoscale's threads when the product is large enough.
/// Must not be called from inside a parallel region.
template <class T>
void gemm_parallel(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha,
                   const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

}  // namespace blas
}  // namespace v1
}  // namespace chronoscale
