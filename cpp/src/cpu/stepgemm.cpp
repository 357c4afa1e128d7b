// Register-tiled small-M GEMM on panel-packed B (see stepgemm.hpp). A tile holds MR rows x S
// packs of C in registers (MR * S <= 12, leaving registers for the B packs and the broadcast A
// value); a panel of 6 packs is one tile wide for 1-2 rows and two tiles wide for 3-4 rows.
#include "stepgemm.hpp"

#include <cstring>

#include "simd.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {
namespace {

// Rows [0, MR) x columns [0, width) of C from one panel slice B (row stride P).
template <class T, int MR, int S>
inline void tile(int64_t K, const T* A, int64_t lda, const T* B, T* C, int64_t ldc,
                 int64_t width, bool acc) {
  using V = pack_t<T>;
  constexpr int L = Pack<T>::L;
  constexpr int64_t P = panel_cols<T>();
  const bool full = width == S * L;
  T tmp[MR][S * L];  // partial tiles go through here
  if (!full)
    for (int m = 0; m < MR; ++m)
      for (int q = 0; q < S * L; ++q) tmp[m][q] = acc && q < width ? C[m * ldc + q] : T(0);
  V c[MR][S];
  for (int m = 0; m < MR; ++m)
    for (int s = 0; s < S; ++s)
      c[m][s] = full ? (acc ? loadu<V>(C + m * ldc + s * L) : V{}) : loadu<V>(tmp[m] + s * L);
  for (int64_t k = 0; k < K; ++k) {
    V b[S];
    for (int s = 0; s < S; ++s) {
      b[s] = loadu<V>(B + k * P + s * L);
      // Keep the B packs in registers: folded into every FMA they would be loaded MR times.
      asm("" : "+x"(b[s]));
    }
    for (int m = 0; m < MR; ++m) {
      const T a = A[m * lda + k];
      for (int s = 0; s < S; ++s) c[m][s] += a * b[s];
    }
  }
  for (int m = 0; m < MR; ++m)
    for (int s = 0; s < S; ++s) {
      if (full) storeu(C + m * ldc + s * L, c[m][s]);
      else storeu(tmp[m] + s * L, c[m][s]);
    }
  if (!full)
    for (int m = 0; m < MR; ++m)
      for (int64_t q = 0; q < width; ++q) C[m * ldc + q] = tmp[m][q];
}

// MR rows x the columns [j, min(j + P, N)) of one panel.
template <class T, int MR>
inline void panel(int64_t N, int64_t j, int64_t K, const T* A, int64_t lda, const T* Bp, T* C,
                  int64_t ldc, bool acc) {
  constexpr int S = MR <= 2 ? 6 : (MR <= 4 ? 3 : 2);
  constexpr int64_t P = panel_cols<T>(), W = S * Pack<T>::L;
  for (int64_t q = 0; q < P && j + q < N; q += W) {
    const int64_t width = N - j - q < W ? N - j - q : W;
    tile<T, MR, S>(K, A, lda, Bp + j * K + q, C + j + q, ldc, width, acc);
  }
}

}  // namespace

template <class T>
void pack_panels(int64_t K, int64_t N, const T* src, int64_t ldb, bool from_rows, T* out) {
  constexpr int64_t P = panel_cols<T>();
  for (int64_t j = 0; j < N; j += P) {
    T* panel = out + j * K;
    const int64_t w = N - j < P ? N - j : P;
    if (from_rows) {  // read each source row once, sequentially
      for (int64_t q = 0; q < w; ++q) {
        const T* row = src + (j + q) * ldb;
        for (int64_t k = 0; k < K; ++k) panel[k * P + q] = row[k];
      }
    } else {
      for (int64_t k = 0; k < K; ++k) std::memcpy(panel + k * P, src + k * ldb + j, sizeof(T) * w);
    }
    if (w < P)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t q = w; q < P; ++q) panel[k * P + q] = T(0);
  }
}

template <class T>
void step_gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* Bp, T* C,
               int64_t ldc, bool acc) {
  // Panels outside, row groups of 4 inside: a panel is reused from cache by every group.
  for (int64_t j = 0; j < N; j += panel_cols<T>()) {
    int64_t i = 0;
    for (; i + 6 <= M; i += 6) panel<T, 6>(N, j, K, A + i * lda, lda, Bp, C + i * ldc, ldc, acc);
    const T* a = A + i * lda;
    T* c = C + i * ldc;
    switch (M - i) {
      case 1: panel<T, 1>(N, j, K, a, lda, Bp, c, ldc, acc); break;
      case 2: panel<T, 2>(N, j, K, a, lda, Bp, c, ldc, acc); break;
      case 3: panel<T, 3>(N, j, K, a, lda, Bp, c, ldc, acc); break;
      case 4: panel<T, 4>(N, j, K, a, lda, Bp, c, ldc, acc); break;
      case 5: panel<T, 5>(N, j, K, a, lda, Bp, c, ldc, acc); break;
      default: break;
    }
  }
}

#define CS_STEPGEMM(T)                                                                          \
  template void pack_panels<T>(int64_t, int64_t, const T*, int64_t, bool, T*);                  \
  template void step_gemm<T>(int64_t, int64_t, int64_t, const T*, int64_t, const T*, T*,        \
                             int64_t, bool);
CS_STEPGEMM(float)
CS_STEPGEMM(double)
#undef CS_STEPGEMM

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
