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

// Rows [0, MR) x columns [0, width) of C from one panel slice B (row stride P); row m of A at
// A[m] (row pointers: the backward's rows are scattered over the packed steps).
template <class T, int MR, int S>
inline void tile(int64_t K, const T* const* A, const T* B, T* C, int64_t ldc, int64_t width,
                 bool acc) {
  using V = pack_t<T>;
  constexpr int L = Pack<T>::L;
  constexpr int64_t P = panel_cols<T>();
  const bool full = width == S * L;
  const T* a[MR];
  for (int m = 0; m < MR; ++m) a[m] = A[m];
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
      keep_in_register(b[s]);
    }
    for (int m = 0; m < MR; ++m) {
      const T v = a[m][k];
      for (int s = 0; s < S; ++s) c[m][s] += v * b[s];
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

// The narrowest tile of at most S packs that covers `width` columns.
template <class T, int MR, int S>
inline void tile_upto(int64_t K, const T* const* A, const T* B, T* C, int64_t ldc, int64_t width,
                      bool acc) {
  if constexpr (S > 1)
    if (width <= (S - 1) * Pack<T>::L)
      return tile_upto<T, MR, S - 1>(K, A, B, C, ldc, width, acc);
  tile<T, MR, S>(K, A, B, C, ldc, width, acc);
}

// MR rows x the columns [j, min(j + P, N)) of one panel.
template <class T, int MR>
inline void panel(int64_t N, int64_t j, int64_t K, const T* const* A, const T* Bp, T* C,
                  int64_t ldc, bool acc) {
  constexpr int S = MR <= 2 ? 6 : (MR <= 4 ? 3 : 2);
  constexpr int64_t P = panel_cols<T>(), W = S * Pack<T>::L;
  for (int64_t q = 0; q < P && j + q < N; q += W) {
    const int64_t width = N - j - q < W ? N - j - q : W;
    tile_upto<T, MR, S>(K, A, Bp + j * K + q, C + j + q, ldc, width, acc);
  }
}

// C rows [0, M) against the panels of Bp; A rows by pointer.
template <class T>
void gemm_rows(int64_t M, int64_t N, int64_t K, const T* const* A, const T* Bp, T* C,
               int64_t ldc, bool acc) {
  // Panels outside, row groups inside: a panel is reused from cache by every group.
  for (int64_t j = 0; j < N; j += panel_cols<T>()) {
    int64_t i = 0;
    for (; i + 6 <= M; i += 6) panel<T, 6>(N, j, K, A + i, Bp, C + i * ldc, ldc, acc);
    const T* const* a = A + i;
    T* c = C + i * ldc;
    switch (M - i) {
      case 1: panel<T, 1>(N, j, K, a, Bp, c, ldc, acc); break;
      case 2: panel<T, 2>(N, j, K, a, Bp, c, ldc, acc); break;
      case 3: panel<T, 3>(N, j, K, a, Bp, c, ldc, acc); break;
      case 4: panel<T, 4>(N, j, K, a, Bp, c, ldc, acc); break;
      case 5: panel<T, 5>(N, j, K, a, Bp, c, ldc, acc); break;
      default: break;
    }
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
  constexpr int64_t kChunk = 96;  // rows per batch of row pointers
  const T* rows[kChunk];
  for (int64_t i0 = 0; i0 < M; i0 += kChunk) {
    const int64_t m = M - i0 < kChunk ? M - i0 : kChunk;
    for (int64_t i = 0; i < m; ++i) rows[i] = A + (i0 + i) * lda;
    gemm_rows<T>(m, N, K, rows, Bp, C + i0 * ldc, ldc, acc);
  }
}

template <class T>
void step_gemm_rows(int64_t M, int64_t N, int64_t K, const T* const* A, const T* Bp, T* C,
                    int64_t ldc, bool acc) {
  gemm_rows<T>(M, N, K, A, Bp, C, ldc, acc);
}

#define CS_STEPGEMM(T)                                                                          \
  template void pack_panels<T>(int64_t, int64_t, const T*, int64_t, bool, T*);                  \
  template void step_gemm<T>(int64_t, int64_t, int64_t, const T*, int64_t, const T*, T*,        \
                             int64_t, bool);                                               \
  template void step_gemm_rows<T>(int64_t, int64_t, int64_t, const T* const*, const T*, T*,    \
                                  int64_t, bool);
CS_STEPGEMM(float)
CS_STEPGEMM(double)
#undef CS_STEPGEMM

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
