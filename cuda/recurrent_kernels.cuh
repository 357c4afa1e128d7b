#pragma once
// The persistent recurrent kernels (forward and backward) shared by RNN / LSTM / GRU.
//
// Work split. Block (x, y) owns the hidden units [x * nj, x * nj + nj) and the batch tiles
// y, y + gridDim.y, ... (a tile is nbg * RB consecutive batch rows). Its slice of W_hh is copied
// into shared memory once per launch and stays there for every time step:
//   forward:  rows {g * H + j : every gate g, j in the slice}      -> Ws [G * nj][ld]
//   backward: columns j of W_hh (all G * H rows), i.e. W_hh^T rows -> Ws [nj][ld]
// Thread tid = ((bg * nj) + jj) * ks + kk: ks lanes (kk) split one dot product over k and are
// summed with shuffles; jj picks the unit; bg the tile rows bg, bg + nbg, ... (RB of them). The
// lane kk == 0 of each group ("owner") then does the gate maths of its (row, unit) pairs, so the
// recurrent product, the activations and all writes are one fused pass. A (row, unit) pair has
// the same owner thread at every step and in every launch of one op call, so the running state
// an owner keeps in global memory (h_n, c_n, aux; dh, dc in the backward) needs no barrier.
//
// Steps and synchronisation (tile.mode):
//   kModeGrid:     one cooperative launch for all steps; cg::this_grid().sync() between steps.
//                  Step t reads h_{t-1} = cache.hprev[:, t] written by every block at step t - 1
//                  (through L2: __ldcg) and writes cache.hprev[:, t + 1], a different slice, so
//                  one grid barrier per step is enough.
//   kModeResident: a block owns every unit (gridDim.x == 1) and exactly one batch tile
//                  (gridDim.y == number of tiles): the state never leaves shared memory and
//                  blocks never wait for each other. h alternates between two shared buffers
//                  (step t reads one and writes the other), so one __syncthreads() per step
//                  orders the steps. With tile.reg (forward, one row per thread, small H) each
//                  thread keeps its k-slice of W_hh in registers instead of shared memory: the
//                  dot product then reads only h from shared memory (the B = 1 latency case;
//                  recurrent_forward_reg_run, its own loop).
//   kModeStep:     fallback when the grid cannot be co-resident: the host launches one step per
//                  kernel (stream order replaces the grid barrier).
//   (kModeGemm, large batches, runs none of these kernels: see recurrent_gemm_mode.cuh.)
// Steps past the longest sequence (t >= t_loop) carry no work and are filled without barriers.
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "dynamic_smem.cuh"
#include "recurrent_cells.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

constexpr int kRecThreads = 256;

/// kModeGemm: no persistent kernel, one GEMM and one elementwise kernel per step
/// (recurrent_gemm_mode.cuh).
enum RecMode : int { kModeStep = 0, kModeGrid = 1, kModeResident = 2, kModeGemm = 3 };

/// Launch geometry shared by the host plan and the kernels.
struct RecTile {
  int nj;    ///< hidden units per block (power of two)
  int ks;    ///< lanes per dot product (power of two, <= 32)
  int nbg;   ///< row groups: kRecThreads / (nj * ks)
  int ld;    ///< shared-memory row stride in elements (padded against bank conflicts)
  int mode;  ///< RecMode
  int reg;   ///< 1: the forward's W_hh slices in registers (kModeResident, rb == 1); else 0
};

/// 32-bit registers per thread that hold W_hh in the register-resident forward, and the k
/// values of one dot product a thread can hold for G gates of `elem` bytes (KR of the kernel):
/// the tile qualifies when ceil(H / ks) <= reg_slice(G, elem).
constexpr int kWRegs = 64;
__host__ __device__ constexpr int reg_slice(int G, int elem) { return kWRegs * 4 / (G * elem); }

/// The register-resident forward's split of a dot product of length K over ks lanes: lane kk
/// holds k = kk * len + s (s < len, len = ceil(K / ks) <= KR), and its h values lie in its
/// own segment of a state row, `stride` words apart (odd, so that the ks lanes of a dot
/// product read distinct banks) and read at immediate offsets.
struct RegSplit {
  int len, stride;
  __host__ __device__ constexpr RegSplit(int K, int ks)
      : len((K + ks - 1) / ks), stride(((K + ks - 1) / ks) | 1) {}
  /// Where h_k lies in a state row.
  __host__ __device__ constexpr int index(int k) const { return k / len * stride + k % len; }
};

/// Row stride (elements) of a block's shared state rows (and W_hh rows) for dot products of
/// length K split over ks lanes. tile_dot: K padded to a multiple of 32, plus ks % 32 (banks).
/// The register-resident forward (reg_kr = its KR): ks segments (RegSplit) and room for the
/// last lane to read KR words from the start of its segment (past its len they meet zeros or
/// the padding: W_hh is zero there).
__host__ __device__ constexpr int rec_ld(int K, int ks, int reg_kr) {
  return reg_kr ? (ks - 1) * RegSplit(K, ks).stride + reg_kr : (K + 31) / 32 * 32 + ks % 32;
}

/// Elements of dynamic shared memory of a recurrent block: the W_hh slice (unless it is in
/// registers) and the tile's state rows (twice in the resident mode: the steps alternate).
/// cpt: W rows per unit (forward G, backward 1); ld: the row stride (dot length, padded).
__host__ __device__ constexpr int64_t rec_smem_elems(int cpt, int nj, int nbg, int rb, int ld,
                                                     int mode, int reg) {
  return (int64_t(reg ? 0 : cpt * nj) + int64_t(nbg) * rb * (mode == kModeResident ? 2 : 1)) *
         ld;
}

template <class T>
struct FwdArgs {
  const T* w_hh;        // [G*H, H]
  const T* b_ih;        // [G*H] or null
  const T* b_hh;        // [G*H] or null
  const T* h0;          // [B, H] or null
  const T* c0;          // [B, H] or null
  const int64_t* len;   // [B] (device) or null
  T* gates;             // [B, T, G*H]: x W_ih^T on entry, activations on exit
  T* hprev;             // [B, T, H]
  T* aux;               // [B, T, H] or null (RNN)
  T* y;                 // [B, T, H]
  T* h_n;               // [B, H]
  T* c_n;               // [B, H] or null
  int64_t B, T_;  // batch, time steps
  int H, act, t_loop;   // act: Cell id (RNN activation); t_loop = max(1, longest length)
};

template <class T>
struct BwdArgs {
  const T* w_hh;
  const T* gates;       // forward cache
  const T* hprev;
  const T* aux;
  const T* c0;
  const int64_t* len;
  const T* dy;          // [B, T, H] or null
  const T* dh_n;        // [B, H] or null
  const T* dc_n;        // [B, H] or null
  T* dgi;               // [B, T, G*H] gate gradients (input side)
  T* dhg;               // [B, T, G*H] recurrent-side gate gradients (== dgi unless GRU)
  T* dh;                // [B, H] running dL/dh (owner-only scratch)
  T* dc;                // [B, H] running dL/dc (LSTM; owner-only scratch)
  T* dh0;               // [B, H] or null
  T* dc0;               // [B, H] or null
  int64_t B, T_;  // batch, time steps
  int H, act, t_loop;
  int state_regs = 1;  // 0: the running dh / dc in global memory at every step (see below)
};

template <class T, int CPT, int RB>
__device__ __forceinline__ void zero_acc(T (&acc)[CPT][RB]) {
#pragma unroll
  for (int c = 0; c < CPT; ++c)
#pragma unroll
    for (int i = 0; i < RB; ++i) acc[c][i] = T(0);
}

/// Sums acc over the ks lanes of a group with shuffles (every lane ends with the total). Every
/// thread of the block must call it (the shuffles use the full warp mask).
template <class T, int CPT, int RB>
__device__ __forceinline__ void lane_sum(int ks, T (&acc)[CPT][RB]) {
  for (int off = ks >> 1; off > 0; off >>= 1)
#pragma unroll
    for (int c = 0; c < CPT; ++c)
#pragma unroll
      for (int i = 0; i < RB; ++i) acc[c][i] += __shfl_xor_sync(0xffffffffu, acc[c][i], off);
}

/// acc[c][i] = sum_k Ws[(c * nj + jj) * ld + k] * Vs[(bg + nbg * i) * ld + k], summed over the
/// ks lanes of the group (lane_sum). Banks: the plan pads ld to ld % 32 == ks % 32, so the
/// lanes of a warp (kk fastest, then jj or bg) read 32 distinct banks or the same word.
template <class T, int CPT, int RB>
__device__ __forceinline__ void tile_dot(const T* __restrict__ Ws, const T* __restrict__ Vs,
                                         int K, const RecTile& tl, int kk, int jj, int bg,
                                         T (&acc)[CPT][RB]) {
  zero_acc(acc);
  const T* w = Ws + jj * tl.ld;
  const T* v = Vs + bg * tl.ld;
  const int wstep = tl.nj * tl.ld, vstep = tl.nbg * tl.ld;
#pragma unroll 4
  for (int k = kk; k < K; k += tl.ks) {
    T wv[CPT], hv[RB];
#pragma unroll
    for (int c = 0; c < CPT; ++c) wv[c] = w[c * wstep + k];
#pragma unroll
    for (int i = 0; i < RB; ++i) hv[i] = v[i * vstep + k];
#pragma unroll
    for (int c = 0; c < CPT; ++c)
#pragma unroll
      for (int i = 0; i < RB; ++i) acc[c][i] = fma(wv[c], hv[i], acc[c][i]);
  }
  lane_sum(tl.ks, acc);
}

/// The register-resident forward's dot products: Wr[c][s] = W row c at k = kk * len + s (zero
/// from s = len or k = K on; RegSplit), v = the lane's segment of the state row: KR loads at
/// immediate offsets, all issued before the FMAs; summed over the ks lanes (lane_sum).
template <class T, int CPT, int KR>
__device__ __forceinline__ void reg_dot(const T (&Wr)[CPT][KR], const T* __restrict__ v, int ks,
                                        T (&acc)[CPT][1]) {
  zero_acc(acc);
  T hv[KR];
#pragma unroll
  for (int s = 0; s < KR; ++s) hv[s] = v[s];
#pragma unroll
  for (int s = 0; s < KR; ++s)
#pragma unroll
    for (int c = 0; c < CPT; ++c) acc[c][0] = fma(Wr[c][s], hv[s], acc[c][0]);
  lane_sum(ks, acc);
}

/// Forward bookkeeping of row b at a step t >= lengths[b] (unit j, owner thread only): zero
/// outputs and cache entries, carry the final state into cache.hprev. At t == 0 (empty
/// sequence) the final states are h0 / c0.
template <class Cell, class T>
__device__ __forceinline__ void forward_pad(const FwdArgs<T>& a, int64_t b, int t, int j) {
  constexpr int G = Cell::G;
  const int H = a.H;
  const int64_t GH = int64_t(G) * H, o = b * a.T_ + t, bj = b * H + j;
#pragma unroll
  for (int g = 0; g < G; ++g) a.gates[o * GH + int64_t(g) * H + j] = T(0);
  if constexpr (Cell::kHasAux) a.aux[o * H + j] = T(0);
  a.y[o * H + j] = T(0);
  T hf;
  if (t == 0) {
    hf = a.h0 ? a.h0[bj] : T(0);
    a.hprev[o * H + j] = hf;
    a.h_n[bj] = hf;
    if constexpr (Cell::kHasC) a.c_n[bj] = a.c0 ? a.c0[bj] : T(0);
  } else {
    hf = a.h_n[bj];  // written by this same thread at step lengths[b] - 1 (or at t == 0)
  }
  if (t + 1 < a.T_) a.hprev[(o + 1) * H + j] = hf;
}

/// Forward writes of row b, unit j at a step t < lengths[b] = L (owner thread only): the saved
/// activations, aux, y, the next step's cache.hprev (and this step's at t == 0: hp) and, at the
/// last step, the final states. og = (b * T + t) * G * H + j and oh = (b * T + t) * H + j: the
/// (row, step, unit)'s offsets into the gates and into the [B, T, H] arrays; bj = b * H + j.
template <class Cell, class T>
__device__ __forceinline__ void forward_store_at(const FwdArgs<T>& a, int64_t og, int64_t oh,
                                                 int64_t bj, int t, int64_t L,
                                                 const T (&act)[Cell::G], T hp, T h, T c, T auxv) {
  const int H = a.H;
#pragma unroll
  for (int g = 0; g < Cell::G; ++g) a.gates[og + g * H] = act[g];
  if constexpr (Cell::kHasAux) a.aux[oh] = auxv;
  a.y[oh] = h;
  if (t == 0) a.hprev[oh] = hp;
  if (t + 1 < a.T_) a.hprev[oh + H] = h;
  if (t + 1 == L) {
    a.h_n[bj] = h;
    if constexpr (Cell::kHasC) a.c_n[bj] = c;
  }
}

/// forward_store_at of row b, unit j at step t.
template <class Cell, class T>
__device__ __forceinline__ void forward_store(const FwdArgs<T>& a, int64_t b, int t, int j,
                                              int64_t L, const T (&act)[Cell::G], T hp, T h, T c,
                                              T auxv) {
  const int64_t o = b * a.T_ + t;
  forward_store_at<Cell>(a, o * Cell::G * a.H + j, o * a.H + j, b * a.H + j, t, L, act, hp, h, c,
                         auxv);
}

/// Biases of unit j (zero for j >= H): bi[g] = b_ih (+ b_hh unless the cell splits them),
/// bh[g] = b_hh when it does (added to the recurrent side).
template <class Cell, class T>
__device__ __forceinline__ void gate_biases(const FwdArgs<T>& a, int j, T (&bi)[Cell::G],
                                            T (&bh)[Cell::G]) {
#pragma unroll
  for (int g = 0; g < Cell::G; ++g) {
    bi[g] = bh[g] = T(0);
    if (j >= a.H) continue;
    if (a.b_ih) bi[g] += a.b_ih[g * a.H + j];
    if (a.b_hh) (Cell::kSplit ? bh[g] : bi[g]) += a.b_hh[g * a.H + j];
  }
}

/// The forward steps [t_begin, t_end) of block (bx, by) of a grid with gy blocks along y (the
/// launch's blockIdx / gridDim, or a block's place within its scale in the fused launch).
template <class Cell, class T, int RB>
__device__ __forceinline__ void recurrent_forward_run(const FwdArgs<T>& a, const RecTile& tl,
                                                      int t_begin, int t_end, int tail, unsigned bx,
                                                      unsigned by, unsigned gy) {
  constexpr int G = Cell::G;
  T* Ws = dynamic_smem<T>();  // [G * nj][ld]
  // [nbg * RB][ld]: h_{t-1} of the tile's rows; resident: two such buffers, h_{t-1} in
  // buffer t & 1 (h0 in buffer 0), step t writes h_t into the other.
  T* const Hs = Ws + G * tl.nj * tl.ld;
  const int H = a.H;
  const int64_t GH = int64_t(G) * H;
  const int kk = threadIdx.x % tl.ks, q = threadIdx.x / tl.ks;
  const int jj = q % tl.nj, bg = q / tl.nj;
  const int j0 = int(bx) * tl.nj, j = j0 + jj;
  const bool owner = kk == 0 && j < H;
  const int nb = tl.nbg * RB;
  const int64_t ntiles = (a.B + nb - 1) / nb;
  const bool resident = tl.mode == kModeResident;

  for (int e = threadIdx.x; e < G * tl.nj * H; e += kRecThreads) {
    const int row = e / H, k = e % H, u = j0 + row % tl.nj, g = row / tl.nj;
    Ws[row * tl.ld + k] = u < H ? a.w_hh[(int64_t(g) * H + u) * H + k] : T(0);
  }
  T bi[G], bh[G];
  gate_biases<Cell>(a, j, bi, bh);
  // Ws is first read after the __syncthreads_or below.

  // The input-side gates of step t for the owner's rows (zero for rows not running at t), as
  // loaded: the bias is added where they are used, so that a load issued one step ahead is not
  // waited for at once (an add right after the load stalled every step on its latency).
  auto load_pre = [&](int t, int64_t row0, const int64_t (&L)[RB], T (&dst)[RB][G]) {
#pragma unroll
    for (int i = 0; i < RB; ++i) {
      const T* gi = a.gates + ((row0 + bg + tl.nbg * i) * a.T_ + t) * GH + j;
#pragma unroll
      for (int g = 0; g < G; ++g) dst[i][g] = owner && t < L[i] ? gi[g * H] : T(0);
    }
  };
  // A resident block owns one batch tile for every step (one launch from t = 0): its rows'
  // lengths, the next step's input-side gates (loaded one step ahead, so that their latency
  // hides behind a whole step) and the LSTM cell states stay in registers.
  int64_t Lr[RB];
  T nxt[RB][G], creg[RB];
  if (resident) {
#pragma unroll
    for (int i = 0; i < RB; ++i) {
      const int64_t b = int64_t(by) * nb + bg + tl.nbg * i;
      Lr[i] = b < a.B ? (a.len ? a.len[b] : a.T_) : 0;
      creg[i] = T(0);
      if constexpr (Cell::kHasC)
        if (owner && b < a.B && a.c0) creg[i] = a.c0[b * H + j];
    }
    if (t_begin < t_end) load_pre(t_begin, int64_t(by) * nb, Lr, nxt);
  }

  for (int t = t_begin; t < t_end; ++t) {
    for (int64_t bt = by; bt < ntiles; bt += gy) {
      const int64_t row0 = bt * nb;
      // Inputs off the recurrence are loaded before the barrier so their latency overlaps it.
      int64_t L[RB];
      T pre[RB][G], cp[RB];
      bool mine = false;
#pragma unroll
      for (int i = 0; i < RB; ++i) {
        const int64_t b = row0 + bg + tl.nbg * i;
        L[i] = resident ? Lr[i] : (b < a.B ? (a.len ? a.len[b] : a.T_) : 0);
        mine |= t < L[i];
      }
      if (resident) {
#pragma unroll
        for (int i = 0; i < RB; ++i) {
          cp[i] = creg[i];
#pragma unroll
          for (int g = 0; g < G; ++g) pre[i][g] = nxt[i][g];
        }
        if (t + 1 < t_end) load_pre(t + 1, row0, L, nxt);
      } else {
        load_pre(t, row0, L, pre);
#pragma unroll
        for (int i = 0; i < RB; ++i) {
          const int64_t b = row0 + bg + tl.nbg * i;
          cp[i] = T(0);
          if constexpr (Cell::kHasC)
            if (owner && t < L[i])
              cp[i] = t > 0 ? a.aux[(b * a.T_ + t - 1) * H + j] : (a.c0 ? a.c0[b * H + j] : T(0));
        }
      }
      // Barrier: Ws is complete, every thread is done with Hs from the previous tile / step
      // (resident: with the buffer this step writes) and the previous step's h is written.
      const bool active = __syncthreads_or(mine);
      T* const Hc = resident ? Hs + (t & 1) * nb * tl.ld : Hs;  // h_{t-1}
      T* const Hn = Hs + ((t + 1) & 1) * nb * tl.ld;            // resident: h_t
      T acc[G][RB];
      if (active) {  // block-uniform
        if (!resident || t == 0) {
          for (int e = threadIdx.x; e < nb * H; e += kRecThreads) {
            const int r = e / H, k = e % H;
            const int64_t b = row0 + r;
            T v = T(0);
            if (b < a.B) {
              if (t == 0) v = a.h0 ? a.h0[b * H + k] : T(0);
              else v = __ldcg(a.hprev + (b * a.T_ + t) * H + k);  // other blocks wrote it
            }
            Hc[r * tl.ld + k] = v;
          }
          __syncthreads();
        }
        tile_dot<T, G, RB>(Ws, Hc, H, tl, kk, jj, bg, acc);
      } else {
        zero_acc(acc);
      }
#pragma unroll
      for (int i = 0; i < RB; ++i) {
        const int64_t b = row0 + bg + tl.nbg * i;
        if (!owner || b >= a.B) continue;
        if (t >= L[i]) {
          forward_pad<Cell>(a, b, t, j);
          continue;
        }
        const int r = bg + tl.nbg * i;
        T pb[G], hg[G], act[G], h, c, auxv;
#pragma unroll
        for (int g = 0; g < G; ++g) {
          pb[g] = pre[i][g] + bi[g];
          hg[g] = acc[g][i] + bh[g];
        }
        const T hp = Hc[r * tl.ld + j];
        Cell::forward(pb, hg, hp, cp[i], act, h, c, auxv, a.act);
        forward_store<Cell>(a, b, t, j, L[i], act, hp, h, c, auxv);
        if constexpr (Cell::kHasC) creg[i] = c;
        if (resident) Hn[r * tl.ld + j] = h;  // read by the next step after its barrier
      }
    }
    if (tl.mode == kModeGrid && t + 1 < t_end) cooperative_groups::this_grid().sync();
  }

  if (tail) {  // steps no sequence reaches: owner-only writes, no barrier needed
    for (int t = a.t_loop; t < a.T_; ++t)
      for (int64_t bt = by; bt < ntiles; bt += gy)
#pragma unroll
        for (int i = 0; i < RB; ++i) {
          const int64_t b = bt * nb + bg + tl.nbg * i;
          if (owner && b < a.B) forward_pad<Cell>(a, b, t, j);
        }
  }
}

/// The register-resident forward (tl.reg: a resident plan with one row per thread, every unit
/// in the block, small H): the B = 1 latency case, written for the fewest instructions per
/// step. Thread (bg, j, kk) keeps W_hh[g * H + j, kk * len + s] (s < len; RegSplit) in
/// registers and reads the matching h values from its own segment of the state row at
/// immediate offsets; the rows' padding holds zeros (W_hh is zero there, but 0 * NaN is not).
/// Block `by` owns the batch rows by * nbg + bg for every step of one launch (t = 0 to
/// t_loop, then the tail); the offsets into the caches advance by one step per iteration.
template <class Cell, class T>
__device__ __forceinline__ void recurrent_forward_reg_run(const FwdArgs<T>& a, const RecTile& tl,
                                                          unsigned by) {
  constexpr int G = Cell::G;
  constexpr int KR = reg_slice(G, int(sizeof(T)));
  const int H = a.H;
  const int64_t GH = int64_t(G) * H;
  const int kk = threadIdx.x % tl.ks, q = threadIdx.x / tl.ks;
  const int j = q % tl.nj, bg = q / tl.nj;
  const int64_t b = int64_t(by) * tl.nbg + bg;
  const bool owner = kk == 0 && j < H && b < a.B;
  const int64_t L = b < a.B ? (a.len ? a.len[b] : a.T_) : 0;
  // Two buffers of nbg state rows: h_{t-1} in buffer t & 1 (h0 in buffer 0), step t writes h_t
  // into the other. One pass writes h0 and every zero, so the loop's first barrier orders it.
  T* const Hs = dynamic_smem<T>();
  const int nbuf = tl.nbg * tl.ld;
  const RegSplit sp(H, tl.ks);
  for (int e = threadIdx.x; e < 2 * nbuf; e += kRecThreads) {
    const int r = (e % nbuf) / tl.ld, p = e % tl.ld, s = p % sp.stride;
    const int k = p / sp.stride * sp.len + s;
    const int64_t rb = int64_t(by) * tl.nbg + r;
    const bool real = e < nbuf && s < sp.len && k < H && rb < a.B && a.h0;
    Hs[e] = real ? a.h0[rb * H + k] : T(0);
  }
  T Wr[G][KR];
#pragma unroll
  for (int g = 0; g < G; ++g)
#pragma unroll
    for (int s = 0; s < KR; ++s) {
      const int k = kk * sp.len + s;
      Wr[g][s] = j < H && s < sp.len && k < H ? a.w_hh[(int64_t(g) * H + j) * H + k] : T(0);
    }
  T bi[G], bh[G];
  gate_biases<Cell>(a, j, bi, bh);
  const T* const seg = Hs + bg * tl.ld + kk * sp.stride;  // this lane's h_k, buffer 0
  T* const hj = Hs + bg * tl.ld + sp.index(j);            // the owner's h_j, buffer 0
  int64_t og = b * a.T_ * GH + j, oh = b * a.T_ * H + j;  // step 0 (owners only)
  // The input-side gates of the next step, loaded one step ahead; the bias is added where
  // they are used (see recurrent_forward_run). gp: this step's, advanced with og.
  const T* gp = a.gates + og;
  T nxt[G], creg = T(0);
#pragma unroll
  for (int g = 0; g < G; ++g) nxt[g] = owner && 0 < L ? gp[g * H] : T(0);
  if constexpr (Cell::kHasC)
    if (owner && a.c0) creg = a.c0[b * H + j];

  for (int t = 0; t < a.t_loop; ++t) {
    T pre[G];
    gp += GH;
#pragma unroll
    for (int g = 0; g < G; ++g) {
      pre[g] = nxt[g];
      nxt[g] = owner && t + 1 < L ? gp[g * H] : T(0);
    }
    // Orders the previous step's writes of h (and, at t == 0, the buffers' initial values).
    const bool active = __syncthreads_or(t < L);
    const int cur = (t & 1) * nbuf, next = nbuf - cur;
    T acc[G][1];
    if (active) {  // block-uniform
      reg_dot<T, G, KR>(Wr, seg + cur, tl.ks, acc);
    } else {
      zero_acc(acc);
    }
    if (owner) {
      if (t < L) {
        T pb[G], hg[G], act[G], h, c, auxv;
#pragma unroll
        for (int g = 0; g < G; ++g) {
          pb[g] = pre[g] + bi[g];
          hg[g] = acc[g][0] + bh[g];
        }
        const T hp = hj[cur];
        Cell::forward(pb, hg, hp, creg, act, h, c, auxv, a.act);
        forward_store_at<Cell>(a, og, oh, b * H + j, t, L, act, hp, h, c, auxv);
        if constexpr (Cell::kHasC) creg = c;
        hj[next] = h;  // read by the next step after its barrier
      } else {
        forward_pad<Cell>(a, b, t, j);
      }
    }
    og += GH;
    oh += H;
  }
  for (int t = a.t_loop; t < a.T_; ++t)  // steps no sequence reaches: no barrier needed
    if (owner) forward_pad<Cell>(a, b, t, j);
}

template <class Cell, class T, int RB, bool REG = false>
__global__ void __launch_bounds__(kRecThreads)
    recurrent_forward_kernel(const FwdArgs<T> a, const RecTile tl, int t_begin, int t_end,
                             int tail) {
  if constexpr (REG) {  // always one launch for every step
    recurrent_forward_reg_run<Cell, T>(a, tl, blockIdx.y);
  } else {
    recurrent_forward_run<Cell, T, RB>(a, tl, t_begin, t_end, tail, blockIdx.x, blockIdx.y,
                                       gridDim.y);
  }
}

/// Several independent recurrences (the scales of a multi-scale layer) in ONE launch: scale s
/// owns the blocks y0[s] <= blockIdx.y < y0[s + 1], each with a resident plan (one block per
/// batch tile, every unit, gridDim.x == 1), so that no block waits for another and the scales'
/// different step counts do not hold each other up.
constexpr int kMaxFused = 8;
template <class Args>
struct Fused {
  Args a[kMaxFused];
  RecTile tl[kMaxFused];
  int t_last[kMaxFused];  ///< backward: the last step (-1: the dh0 / dc0 phase)
  unsigned y0[kMaxFused + 1];
  int n;

  /// The recurrence that block row `by` belongs to.
  __device__ __forceinline__ int scale_of(unsigned by) const {
    int s = 0;
    while (s + 1 < n && by >= y0[s + 1]) ++s;
    return s;
  }
};

template <class Cell, class T, int RB, bool REG = false>
__global__ void __launch_bounds__(kRecThreads)
    recurrent_forward_many_kernel(const Fused<FwdArgs<T>> m) {
  const int s = m.scale_of(blockIdx.y);
  if constexpr (REG) {
    recurrent_forward_reg_run<Cell, T>(m.a[s], m.tl[s], blockIdx.y - m.y0[s]);
  } else {
    recurrent_forward_run<Cell, T, RB>(m.a[s], m.tl[s], 0, m.a[s].t_loop, 1, 0,
                                       blockIdx.y - m.y0[s], m.y0[s + 1] - m.y0[s]);
  }
}

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale

#include "recurrent_backward_kernel.cuh"
