#pragma once
// The per-step recurrent product C[M, N] (+)= A[M, K] @ B[K, N] for few rows (M = the batch rows
// a thread steps). B (the recurrent weights) is packed once per pass into column panels, so each
// step streams it sequentially; a BLAS would pack it again on every one of the T calls. Register
// tiles of up to 4 rows x 48 columns (float) accumulate in SIMD packs.
#include <cstdint>

namespace chronoscale {
inline namespace v1 {
namespace cpu {

/// Columns per panel of a packed B: 48 for float, 24 for double.
template <class T>
constexpr int64_t panel_cols() {
  return 6 * 32 / int64_t(sizeof(T));
}

/// Elements of a packed [K, N] B (N rounded up to whole panels).
template <class T>
constexpr int64_t packed_size(int64_t K, int64_t N) {
  return (N + panel_cols<T>() - 1) / panel_cols<T>() * panel_cols<T>() * K;
}

/// Pack B [K, N] into panels: out[(p * K + k) * P + q] = B[k, p * P + q], zero past N. The
/// source is B itself (row stride ldb) or, with `from_rows`, rows of a matrix W [N, K] (B = W^T).
template <class T>
void pack_panels(int64_t K, int64_t N, const T* src, int64_t ldb, bool from_rows, T* out);

/// C = A @ B (+ C when accumulate) with B packed by pack_panels; A rows with stride lda.
template <class T>
void step_gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* packed, T* C,
               int64_t ldc, bool accumulate);

/// Same with row m of A at A[m].
template <class T>
void step_gemm_rows(int64_t M, int64_t N, int64_t K, const T* const* A, const T* packed, T* C,
                    int64_t ldc, bool accumulate);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
