// Register-tiled small-M GEMM (see stepgemm.hpp). Tiles hold MR rows x NV packs of C in
// registers (MR * NV <= 12 packs, leaving room for the B packs and the broadcast A value).
#include "stepgemm.hpp"

#include "simd.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {
namespace {

template <class T, int MR, int NV>
inline void tile(int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc,
                 bool acc) {
  using V = pack_t<T>;
  constexpr int L = Pack<T>::L;
  V c[MR][NV];
  for (int m = 0; m < MR; ++m)
    for (int v = 0; v < NV; ++v) c[m][v] = acc ? loadu<V>(C + m * ldc + v * L) : V{};
  for (int64_t k = 0; k < K; ++k) {
    V b[NV];
    for (int v = 0; v < NV; ++v) b[v] = loadu<V>(B + k * ldb + v * L);
    for (int m = 0; m < MR; ++m) {
      const T a = A[m * lda + k];
      for (int v = 0; v < NV; ++v) c[m][v] += a * b[v];
    }
  }
  for (int m = 0; m < MR; ++m)
    for (int v = 0; v < NV; ++v) storeu(C + m * ldc + v * L, c[m][v]);
}

// Columns past the last full pack.
template <class T>
void tail(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
          int64_t ldc, bool acc) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      T s = acc ? C[m * ldc + n] : T(0);
      for (int64_t k = 0; k < K; ++k) s += A[m * lda + k] * B[k * ldb + n];
      C[m * ldc + n] = s;
    }
}

// One group of MR rows over all columns: panels of NV packs, then narrower ones.
template <class T, int MR, int NV>
void rows(int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
          int64_t ldc, bool acc) {
  constexpr int L = Pack<T>::L;
  int64_t j = 0;
  for (; j + NV * L <= N; j += NV * L) tile<T, MR, NV>(K, A, lda, B + j, ldb, C + j, ldc, acc);
  if constexpr (NV > 1) {
    const int64_t rest = (N - j) / L;
    if (rest > 0) {
      // NV - 1 >= rest >= 1: one narrower panel, dispatched at compile time.
      if constexpr (NV > 4) {
        if (rest >= 4) {
          tile<T, MR, 4>(K, A, lda, B + j, ldb, C + j, ldc, acc);
          j += 4 * L;
        }
      }
      for (; j + L <= N; j += L) tile<T, MR, 1>(K, A, lda, B + j, ldb, C + j, ldc, acc);
    }
  }
  if (j < N) tail(int64_t(MR), N - j, K, A, lda, B + j, ldb, C + j, ldc, acc);
}

}  // namespace

template <class T>
void step_gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb,
               T* C, int64_t ldc, bool acc) {
  if (M <= 0 || N <= 0) return;
  switch (M) {  // one row group: wider panels for fewer rows keep ~8-12 accumulators busy
    case 1: return rows<T, 1, 8>(N, K, A, lda, B, ldb, C, ldc, acc);
    case 2: return rows<T, 2, 6>(N, K, A, lda, B, ldb, C, ldc, acc);
    case 3: return rows<T, 3, 4>(N, K, A, lda, B, ldb, C, ldc, acc);
    default: break;
  }
  // Column panels outside, row groups of 4 inside: the B panel (K x 24 floats) stays in L1.
  constexpr int L = Pack<T>::L, NV = 3;
  for (int64_t j = 0; j < N; j += NV * L) {
    const int64_t nj = N - j < NV * L ? N - j : NV * L;
    int64_t i = 0;
    for (; i + 4 <= M; i += 4) {
      if (nj == NV * L) tile<T, 4, NV>(K, A + i * lda, lda, B + j, ldb, C + i * ldc + j, ldc, acc);
      else rows<T, 4, NV>(nj, K, A + i * lda, lda, B + j, ldb, C + i * ldc + j, ldc, acc);
    }
    switch (M - i) {
      case 1: rows<T, 1, NV>(nj, K, A + i * lda, lda, B + j, ldb, C + i * ldc + j, ldc, acc); break;
      case 2: rows<T, 2, NV>(nj, K, A + i * lda, lda, B + j, ldb, C + i * ldc + j, ldc, acc); break;
      case 3: rows<T, 3, NV>(nj, K, A + i * lda, lda, B + j, ldb, C + i * ldc + j, ldc, acc); break;
      default: break;
    }
  }
}

template <class T>
void transpose(int64_t N, int64_t K, const T* A, int64_t lda, int64_t ldb, T* Bt) {
  constexpr int64_t kb = 32;
  for (int64_t n0 = 0; n0 < N; n0 += kb)
    for (int64_t k0 = 0; k0 < K; k0 += kb)
      for (int64_t n = n0; n < N && n < n0 + kb; ++n)
        for (int64_t k = k0; k < K && k < k0 + kb; ++k) Bt[k * ldb + n] = A[n * lda + k];
}

template void step_gemm<float>(int64_t, int64_t, int64_t, const float*, int64_t, const float*,
                               int64_t, float*, int64_t, bool);
template void step_gemm<double>(int64_t, int64_t, int64_t, const double*, int64_t, const double*,
                                int64_t, double*, int64_t, bool);
template void transpose<float>(int64_t, int64_t, const float*, int64_t, int64_t, float*);
template void transpose<double>(int64_t, int64_t, const double*, int64_t, int64_t, double*);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
