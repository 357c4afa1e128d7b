// C entry points (for ctypes) that run chronoscale's CUDA kernels in the CPU emulator (emu.hpp):
// the persistent recurrent kernels in each launch mode, the built-in GEMM and column-sum kernels,
// and the launch planner. tests/python/test_recurrent_cuda_emu.py builds this file with
//   g++ -std=c++20 -shared -fPIC -I tests/cuda_emu/include -I cuda -I cpp/include -I cpp/src
// and compares the results with the CPU kernels. The host code that calls CUDA (cuBLAS, stream
// allocation, the launches themselves) is not covered here: it needs a GPU (bench/gpu).
#include <cuda_runtime.h>  // tests/cuda_emu/include: the emulator

#include <exception>
#include <string>
#include <vector>

#include "gemm_kernels.cuh"
#include "recurrent_plan.cuh"
// The planner itself (host code) is compiled in, with inert CUDA stubs.
#include "../../cuda/recurrent_plan.cu"

using namespace chronoscale::cuda;

namespace {

std::string g_error;

int fail(const std::exception& e) {
  g_error = e.what();
  return 1;
}

}  // namespace

extern "C" {

/// Everything an emulated recurrent launch needs. Pointers may be null where the op allows.
struct EmuRec {
  int cell;       // chronoscale::Cell
  int is_double;  // float64 (else float32)
  int64_t B, T;
  int H;
  int nj, ks, rb, mode, gy;  // tile and grid; kModeResident needs gy == number of tiles
  int reg;                   // forward: W_hh in registers (kModeResident, rb == 1)
  uint32_t seed;             // scheduling order
  const int64_t* len;
  const void *w_hh, *b_ih, *b_hh, *h0, *c0;
  void *gates, *hprev, *aux, *y, *h_n, *c_n;  // gates holds x W_ih^T on entry to the forward
  const void *dy, *dh_n, *dc_n;
  void *dgi, *dhg, *dh0, *dc0;
};

const char* emu_last_error() { return g_error.c_str(); }

}  // extern "C"

namespace {

int64_t t_loop_of(const EmuRec& r) {
  if (!r.len) return r.T;
  int64_t m = 0;
  for (int64_t b = 0; b < r.B; ++b) m = std::max(m, r.len[b]);
  return std::max<int64_t>(m, 1);
}

/// reg_kr: the KR of the register-resident forward when r.reg (else unused).
RecTile tile_of(const EmuRec& r, int K, int reg_kr = 0) {
  const int ld = rec_ld(K, r.ks, r.reg ? reg_kr : 0);
  return RecTile{r.nj, r.ks, kRecThreads / (r.nj * r.ks), ld, r.mode, r.reg};
}

template <class CellD, class T, int RB, bool REG = false>
void forward_rb(const EmuRec& r) {
  const bool has_c = CellD::kHasC;
  const FwdArgs<T> a{static_cast<const T*>(r.w_hh), static_cast<const T*>(r.b_ih),
                     static_cast<const T*>(r.b_hh), static_cast<const T*>(r.h0),
                     has_c ? static_cast<const T*>(r.c0) : nullptr, r.len,
                     static_cast<T*>(r.gates), static_cast<T*>(r.hprev),
                     CellD::kHasAux ? static_cast<T*>(r.aux) : nullptr, static_cast<T*>(r.y),
                     static_cast<T*>(r.h_n), has_c ? static_cast<T*>(r.c_n) : nullptr, r.B, r.T,
                     r.H, r.cell, int(t_loop_of(r))};
  const RecTile tl = tile_of(r, r.H, reg_slice(CellD::G, int(sizeof(T))));
  const size_t smem =
      size_t(rec_smem_elems(CellD::G, tl.nj, tl.nbg, RB, tl.ld, tl.mode, tl.reg)) * sizeof(T);
  const dim3 grid((r.H + r.nj - 1) / r.nj, r.gy);
  uint32_t seed = r.seed;
  auto go = [&](int t0, int t1, int tail) {
    emu::launch(grid, dim3(kRecThreads), smem, tl.mode == kModeGrid, seed++,
                [&] { recurrent_forward_kernel<CellD, T, RB, REG>(a, tl, t0, t1, tail); });
  };
  if (tl.mode == kModeStep)
    for (int t = 0; t < a.t_loop; ++t) go(t, t + 1, t + 1 == a.t_loop);
  else
    go(0, a.t_loop, 1);
}

template <class CellD, class T, int RB>
void backward_rb(const EmuRec& r) {
  const bool has_c = CellD::kHasC;
  std::vector<T> dh(size_t(r.B * r.H)), dc(size_t(r.B * r.H));
  T* dc0 = has_c ? static_cast<T*>(r.dc0) : nullptr;
  const BwdArgs<T> a{static_cast<const T*>(r.w_hh), static_cast<const T*>(r.gates),
                     static_cast<const T*>(r.hprev),
                     CellD::kHasAux ? static_cast<const T*>(r.aux) : nullptr,
                     has_c ? static_cast<const T*>(r.c0) : nullptr, r.len,
                     static_cast<const T*>(r.dy), static_cast<const T*>(r.dh_n),
                     has_c ? static_cast<const T*>(r.dc_n) : nullptr, static_cast<T*>(r.dgi),
                     CellD::kSplit ? static_cast<T*>(r.dhg) : static_cast<T*>(r.dgi), dh.data(),
                     dc.data(), static_cast<T*>(r.dh0), dc0, r.B, r.T, r.H, r.cell,
                     int(t_loop_of(r))};
  const RecTile tl = tile_of(r, CellD::G * r.H);
  const size_t smem = size_t(rec_smem_elems(1, tl.nj, tl.nbg, RB, tl.ld, tl.mode, 0)) * sizeof(T);
  const dim3 grid((r.H + r.nj - 1) / r.nj, r.gy);
  const int t_last = (r.dh0 || dc0) ? -1 : 0;
  uint32_t seed = r.seed;
  auto go = [&](int t0, int t1, int init) {
    emu::launch(grid, dim3(kRecThreads), smem, tl.mode == kModeGrid, seed++,
                [&] { recurrent_backward_kernel<CellD, T, RB>(a, tl, t0, t1, init); });
  };
  if (tl.mode == kModeStep)
    for (int t = a.t_loop - 1; t >= t_last; --t) go(t, t, t == a.t_loop - 1);
  else
    go(a.t_loop - 1, t_last, 1);
}

template <class CellD, class T>
void dispatch(const EmuRec& r, bool backward) {
  if (r.reg) {
    constexpr int KR = reg_slice(CellD::G, int(sizeof(T)));
    if (backward || r.rb != 1 || r.mode != kModeResident || r.H > KR * r.ks || r.nj < r.H)
      throw std::runtime_error("reg needs a resident forward tile with rb 1 and H <= KR * ks");
    return forward_rb<CellD, T, 1, true>(r);
  }
  switch (r.rb) {
    case 1: return backward ? backward_rb<CellD, T, 1>(r) : forward_rb<CellD, T, 1>(r);
    case 2: return backward ? backward_rb<CellD, T, 2>(r) : forward_rb<CellD, T, 2>(r);
    case 4: return backward ? backward_rb<CellD, T, 4>(r) : forward_rb<CellD, T, 4>(r);
    case 8: return backward ? backward_rb<CellD, T, 8>(r) : forward_rb<CellD, T, 8>(r);
    default: throw std::runtime_error("rb must be 1, 2, 4 or 8");
  }
}

template <class T>
void dispatch_cell(const EmuRec& r, bool backward) {
  if (r.cell == int(chronoscale::Cell::lstm)) return dispatch<LstmCellD, T>(r, backward);
  if (r.cell == int(chronoscale::Cell::gru)) return dispatch<GruCellD, T>(r, backward);
  return dispatch<RnnCellD, T>(r, backward);
}

int run_recurrent(const EmuRec* r, bool backward) {
  try {
    if (r->nj < 1 || r->ks < 1 || r->nj * r->ks > kRecThreads || r->gy < 1)
      throw std::runtime_error("bad tile");
    if (r->is_double) dispatch_cell<double>(*r, backward);
    else dispatch_cell<float>(*r, backward);
    return 0;
  } catch (const std::exception& e) {
    return fail(e);
  }
}

template <class T>
void gemm_t(int ta, int tb, int64_t M, int64_t N, int64_t K, const void* A, int64_t lda,
            const void* B, int64_t ldb, void* C, int64_t ldc, int split, uint32_t seed) {
  using namespace gemm_detail;
  const int64_t tm = (M + kBM - 1) / kBM, tn = (N + kBN - 1) / kBN;
  const int64_t k_chunk = ((K + split - 1) / split + kBK - 1) / kBK * kBK;
  const int64_t S = std::max<int64_t>(1, (K + k_chunk - 1) / k_chunk);
  std::vector<T> part(size_t(S > 1 ? S * M * N : 0));
  T* out = S > 1 ? part.data() : static_cast<T*>(C);
  const int64_t ldo = S > 1 ? N : ldc, stride = S > 1 ? M * N : 0;
  auto body = [&] {
    const T* a = static_cast<const T*>(A);
    const T* b = static_cast<const T*>(B);
    if (ta && tb) gemm_tile_kernel<T, true, true>(M, N, K, k_chunk, a, lda, b, ldb, out, ldo, stride);
    else if (ta) gemm_tile_kernel<T, true, false>(M, N, K, k_chunk, a, lda, b, ldb, out, ldo, stride);
    else if (tb) gemm_tile_kernel<T, false, true>(M, N, K, k_chunk, a, lda, b, ldb, out, ldo, stride);
    else gemm_tile_kernel<T, false, false>(M, N, K, k_chunk, a, lda, b, ldb, out, ldo, stride);
  };
  emu::launch(dim3(unsigned(tm), unsigned(tn), unsigned(S)), dim3(kGemmThreads), 0, false, seed,
              body, 1);
  if (S > 1)
    emu::launch(dim3(2), dim3(64), 0, false, seed + 1, [&] {
      split_sum_kernel<T>(part.data(), int(S), M, N, static_cast<T*>(C), ldc);
    });
}

template <class T>
void colsum_t(const void* A, int64_t rows, int64_t cols, int64_t ld, void* out, int chunks,
              uint32_t seed) {
  using namespace gemm_detail;
  const int64_t per = (rows + chunks - 1) / chunks, used = (rows + per - 1) / per;
  std::vector<T> part(size_t(used * cols));
  T* dst = used > 1 ? part.data() : static_cast<T*>(out);
  emu::launch(dim3(unsigned((cols + 31) / 32), unsigned(used)), dim3(32, 8), 0, false, seed, [&] {
    column_partial_kernel<T>(static_cast<const T*>(A), rows, cols, ld, per, dst);
  }, 1);
  if (used > 1)
    emu::launch(dim3(unsigned((cols + 63) / 64)), dim3(64), 0, false, seed + 1, [&] {
      column_finish_kernel<T>(part.data(), int(used), cols, static_cast<T*>(out));
    });
}

}  // namespace

extern "C" {

int emu_recurrent_forward(const EmuRec* r) { return run_recurrent(r, false); }
int emu_recurrent_backward(const EmuRec* r) { return run_recurrent(r, true); }

int emu_gemm(int is_double, int ta, int tb, int64_t M, int64_t N, int64_t K, const void* A,
             int64_t lda, const void* B, int64_t ldb, void* C, int64_t ldc, int split,
             uint32_t seed) {
  try {
    if (is_double) gemm_t<double>(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, split, seed);
    else gemm_t<float>(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, split, seed);
    return 0;
  } catch (const std::exception& e) {
    return fail(e);
  }
}

int emu_colsum(int is_double, const void* A, int64_t rows, int64_t cols, int64_t ld, void* out,
               int chunks, uint32_t seed) {
  try {
    if (is_double) colsum_t<double>(A, rows, cols, ld, out, chunks, seed);
    else colsum_t<float>(A, rows, cols, ld, out, chunks, seed);
    return 0;
  } catch (const std::exception& e) {
    return fail(e);
  }
}

/// The planner's choice for an H100-like device (sms multiprocessors, smem_optin bytes, 228 KiB
/// per multiprocessor, 64 Ki registers, 2048 threads); regs[rb index] = registers per thread of
/// the kernel with rb rows (1, 2, 4, 8), regs[4] of the register-resident forward (rb 1).
/// out = {nj, ks, rb, nbg, ld, mode, gx, gy, reg}, out_smem.
int emu_plan(int backward, int G, int elem, int64_t B, int H, int sms, int64_t smem_optin,
             int cooperative, const int* regs, int* out, int64_t* out_smem) {
  try {
    DeviceProps d;
    d.device = 0;
    d.sms = sms;
    d.smem_optin = size_t(smem_optin);
    d.cooperative = cooperative != 0;
    const BlocksPerSm occ = [&](int rb, bool reg, size_t smem) {
      const int idx = reg ? 4 : rb == 1 ? 0 : rb == 2 ? 1 : rb == 4 ? 2 : 3;
      const int by_threads = 2048 / kRecThreads;
      const int by_smem = int((228 << 10) / (smem + 1024));
      const int by_regs = 65536 / (regs[idx] * kRecThreads);
      return std::min({by_threads, by_smem, by_regs});
    };
    static int family_tag;
    const RecPlan p = plan_recurrent(RecProblem{backward != 0, G, elem, B, H}, d, occ,
                                     &family_tag + (backward ? 1 : 0) + 2 * G + 16 * elem);
    const int v[9] = {p.tile.nj, p.tile.ks, p.rb, p.tile.nbg, p.tile.ld, p.tile.mode,
                      int(p.gx), int(p.gy), p.tile.reg};
    for (int i = 0; i < 9; ++i) out[i] = v[i];
    *out_smem = int64_t(p.smem);
    return 0;
  } catch (const std::exception& e) {
    return fail(e);
  }
}

}  // extern "C"
