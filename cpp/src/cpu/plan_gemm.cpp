// Register-blocked GEMM over pre-packed weights for inference plans (see plan_gemm.hpp).
#include "plan_gemm.hpp"

#include "simd.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

namespace {

// MR rows x NP panels. init rows are ldi apart (0: one row broadcast, the bias); the first
// ncols columns of the NP panels are written.
template <class T, int MR, int NP>
void micro(int64_t K, const T* a, int64_t lda, const T* w, int64_t pstride, const T* init,
           int64_t ldi, T* c, int64_t ldc, int64_t ncols) {
  constexpr int64_t W = Pack<T>::L, NR = 2 * W, NC = NP * NR;
  if (ncols < NC) {  // the last, partial panel group: go through a full-width buffer
    alignas(64) T ti[MR][NC], tc[MR][NC];
    for (int r = 0; r < MR; ++r)
      for (int64_t j = 0; j < NC; ++j) ti[r][j] = j < ncols ? init[r * ldi + j] : T(0);
    micro<T, MR, NP>(K, a, lda, w, pstride, &ti[0][0], NC, &tc[0][0], NC, NC);
    for (int r = 0; r < MR; ++r) std::memcpy(c + r * ldc, tc[r], sizeof(T) * ncols);
    return;
  }
  using V = pack_t<T>;
  V acc[MR][NP][2];
  for (int r = 0; r < MR; ++r)
    for (int p = 0; p < NP; ++p) {
      acc[r][p][0] = loadu<V>(init + r * ldi + p * NR);
      acc[r][p][1] = loadu<V>(init + r * ldi + p * NR + W);
    }
  for (int64_t k = 0; k < K; ++k) {
    for (int p = 0; p < NP; ++p) {
      const T* wk = w + p * pstride + k * NR;
      const V w0 = loadu<V>(wk), w1 = loadu<V>(wk + W);
      for (int r = 0; r < MR; ++r) {
        const T av = a[r * lda + k];
        acc[r][p][0] += w0 * av;
        acc[r][p][1] += w1 * av;
      }
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int p = 0; p < NP; ++p) {
      storeu(c + r * ldc + p * NR, acc[r][p][0]);
      storeu(c + r * ldc + p * NR + W, acc[r][p][1]);
    }
}

// One block of MR rows across all panels.
template <class T, int MR>
void row_block(const T* a, int64_t lda, const PackedWeight<T>& Wt, const T* init, int64_t ldi,
               T* c, int64_t ldc) {
  constexpr int NP = MR == 1 ? 4 : (MR >= 4 ? 1 : 2);
  constexpr int64_t NR = kPanel<T>;
  const int64_t K = Wt.K, N = Wt.N, pstride = K * NR;
  const T* w = Wt.data.get();
  int64_t p = 0;
  for (; p + NP <= Wt.panels; p += NP) {
    const int64_t n0 = p * NR, nc = N - n0 < NP * NR ? N - n0 : NP * NR;
    micro<T, MR, NP>(K, a, lda, w + p * pstride, pstride, init + n0, ldi, c + n0, ldc, nc);
  }
  for (; p < Wt.panels; ++p) {
    const int64_t n0 = p * NR, nc = N - n0 < NR ? N - n0 : NR;
    micro<T, MR, 1>(K, a, lda, w + p * pstride, pstride, init + n0, ldi, c + n0, ldc, nc);
  }
}

}  // namespace

template <class T>
void gemm_packed(int64_t M, const T* A, int64_t lda, const PackedWeight<T>& W, T* C, int64_t ldc,
                 bool accumulate) {
  if (M <= 0 || W.N <= 0) return;
  const T* bias = W.bias.get();
  auto init = [&](int64_t m) { return accumulate ? C + m * ldc : bias; };
  const int64_t ldi = accumulate ? ldc : 0;
  // 6 x 2 vectors of accumulators: each is updated every 6 FMAs, more than the FMA latency.
  int64_t m = 0;
  for (; m + 6 <= M; m += 6) row_block<T, 6>(A + m * lda, lda, W, init(m), ldi, C + m * ldc, ldc);
  if (M - m >= 4) {
    row_block<T, 4>(A + m * lda, lda, W, init(m), ldi, C + m * ldc, ldc);
    m += 4;
  }
  switch (M - m) {
    case 3: row_block<T, 3>(A + m * lda, lda, W, init(m), ldi, C + m * ldc, ldc); break;
    case 2: row_block<T, 2>(A + m * lda, lda, W, init(m), ldi, C + m * ldc, ldc); break;
    case 1: row_block<T, 1>(A + m * lda, lda, W, init(m), ldi, C + m * ldc, ldc); break;
    default: break;
  }
}

template void gemm_packed<float>(int64_t, const float*, int64_t, const PackedWeight<float>&,
                                 float*, int64_t, bool);
template void gemm_packed<double>(int64_t, const double*, int64_t, const PackedWeight<double>&,
                                  double*, int64_t, bool);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
