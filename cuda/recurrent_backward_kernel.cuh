#pragma once
// The persistent backward kernel (included by recurrent_kernels.cuh; read its header first).
//
// Step t (descending) of a block, for each of its tiles:
//   1. dh_t[b, j] = dh_direct[b, j] + sum_c dhg_{t+1}[b, c] * W_hh[c, j]  (rows with t+1 < len)
//      W_hh^T slice on chip; dhg_{t+1} rows come from every block's step t + 1 (read after the
//      grid barrier through L2), or stay in shared memory in the resident mode.
//   2. gate backward of (b, j) at t: dgi_t, dhg_t, dc; dh_direct = the part of dL/dh_{t-1} that
//      does not pass through W_hh (GRU: dht * z). Rows with t >= len pass dh / dc through and
//      get zero gate gradients.
// Then one barrier (grid or block). A last phase t == -1 forms dh0 = dh_direct + W_hh^T dhg_0.
// Weight gradients are GEMMs over all steps afterwards (recurrent_backward.cu).

namespace chronoscale {
inline namespace v1 {
namespace cuda {

/// The forward cache and dy that the gate backward of row b, unit j at step t < lengths[b]
/// reads (hp: GRU only; cp: LSTM only; dyv: 0 without dy).
template <class Cell, class T>
__device__ __forceinline__ void backward_load(const BwdArgs<T>& a, int64_t b, int t, int j,
                                              T (&act)[Cell::G], T& auxv, T& hp, T& cp, T& dyv) {
  const int H = a.H;
  const int64_t o = b * a.T_ + t, GH = int64_t(Cell::G) * H;
#pragma unroll
  for (int g = 0; g < Cell::G; ++g) act[g] = a.gates[o * GH + int64_t(g) * H + j];
  if constexpr (Cell::kHasAux) auxv = a.aux[o * H + j];
  if constexpr (Cell::kSplit) hp = a.hprev[o * H + j];
  if constexpr (Cell::kHasC)
    cp = t > 0 ? a.aux[(o - 1) * H + j] : (a.c0 ? a.c0[b * H + j] : T(0));
  if (a.dy) dyv = a.dy[o * H + j];
}

/// Zero gate gradients of row b, unit j at the flat offset o = (b * T + t) * G * H + j (a step
/// the row does not run).
template <class Cell, class T>
__device__ __forceinline__ void backward_zero_gates(const BwdArgs<T>& a, int64_t o) {
#pragma unroll
  for (int g = 0; g < Cell::G; ++g) {
    a.dgi[o + int64_t(g) * a.H] = T(0);
    if constexpr (Cell::kSplit) a.dhg[o + int64_t(g) * a.H] = T(0);
  }
}

/// Start of the backward of row b, unit j: the running dh / dc from dh_n / dc_n (also returned
/// in dh, dc), and zero gate gradients at the steps t_loop .. T - 1 that no sequence reaches.
template <class Cell, class T>
__device__ __forceinline__ void backward_init(const BwdArgs<T>& a, int64_t b, int j, T& dh, T& dc) {
  const int64_t bj = b * a.H + j, GH = int64_t(Cell::G) * a.H;
  dh = a.dh[bj] = a.dh_n ? a.dh_n[bj] : T(0);
  dc = T(0);
  if constexpr (Cell::kHasC) dc = a.dc[bj] = a.dc_n ? a.dc_n[bj] : T(0);
  for (int64_t t = a.t_loop; t < a.T_; ++t)
    backward_zero_gates<Cell>(a, (b * a.T_ + t) * GH + j);
}

/// Steps t_first down to t_last of block (bx, by) of a grid with gy blocks along y (see
/// recurrent_forward_run).
template <class Cell, class T, int RB>
__device__ __forceinline__ void recurrent_backward_run(const BwdArgs<T>& a, const RecTile& tl,
                                                       int t_first, int t_last, int init,
                                                       unsigned bx, unsigned by, unsigned gy) {
  constexpr int G = Cell::G;
  T* Ws = dynamic_smem<T>();               // [nj][ld]: Ws[u][c] = W_hh[c, j0 + u], c < G*H
  // [nbg * RB][ld]: dhg_{t+1} of the tile's rows; resident: two such buffers, dhg_t in buffer
  // t & 1, so that step t reads one and writes the other (one barrier per step).
  T* Ds = Ws + tl.nj * tl.ld;
  const int H = a.H;
  const int GH = G * H;
  const int kk = threadIdx.x % tl.ks, q = threadIdx.x / tl.ks;
  const int jj = q % tl.nj, bg = q / tl.nj;
  const int j0 = int(bx) * tl.nj, j = j0 + jj;
  const bool owner = kk == 0 && j < H;
  const int nb = tl.nbg * RB;
  const int64_t ntiles = (a.B + nb - 1) / nb;
  const bool resident = tl.mode == kModeResident;
  // A block with at most one tile for every step of this launch (resident, or a grid with a
  // block per tile) keeps its owners' running dh / dc in registers (dhr, dcr) instead of
  // reading them back from global memory at every step (a dependent load on the critical
  // path); otherwise (several tiles per block, one launch per step, or
  // CHRONOSCALE_CUDA_RNN_STATE_REGS=0: a.state_regs == 0) a.dh / a.dc carry them.
  const bool in_regs = a.state_regs && tl.mode != kModeStep && ntiles <= int64_t(gy) && init;
  T dhr[RB] = {}, dcr[RB] = {};  // (in_regs: the block's one tile, from backward_init)

  for (int e = threadIdx.x; e < tl.nj * GH; e += kRecThreads) {
    const int u = e % tl.nj, c = e / tl.nj;  // consecutive threads read consecutive columns
    Ws[u * tl.ld + c] = j0 + u < H ? a.w_hh[int64_t(c) * H + j0 + u] : T(0);
  }
  if (resident)  // rows past B are never written by an owner; keep them finite
    for (int e = threadIdx.x; e < 2 * nb * tl.ld; e += kRecThreads) Ds[e] = T(0);

  if (init) {  // owner-only state: no barrier needed
    for (int64_t bt = by; bt < ntiles; bt += gy)
#pragma unroll
      for (int i = 0; i < RB; ++i) {
        const int64_t b = bt * nb + bg + tl.nbg * i;
        if (owner && b < a.B) backward_init<Cell>(a, b, j, dhr[i], dcr[i]);
      }
  }

  for (int t = t_first; t >= t_last; --t) {
    for (int64_t bt = by; bt < ntiles; bt += gy) {
      const int64_t row0 = bt * nb;
      int64_t L[RB];
      T act[RB][G], auxv[RB], hp[RB], cp[RB], dyv[RB];
      bool mine_dot = false;
#pragma unroll
      for (int i = 0; i < RB; ++i) {
        const int64_t b = row0 + bg + tl.nbg * i;
        L[i] = b < a.B ? (a.len ? a.len[b] : a.T_) : 0;
        mine_dot |= t + 1 < L[i];
        auxv[i] = hp[i] = cp[i] = dyv[i] = T(0);
#pragma unroll
        for (int g = 0; g < G; ++g) act[i][g] = T(0);
        if (!owner || t < 0 || t >= L[i]) continue;
        backward_load<Cell>(a, b, t, j, act[i], auxv[i], hp[i], cp[i], dyv[i]);
      }
      // Barrier: every thread is done with Ds from the previous tile / step (resident: with the
      // buffer this step writes) and the previous step's dhg is written.
      const bool need_dot = __syncthreads_or(mine_dot);
      T* const Dc = resident ? Ds + ((t + 1) & 1) * nb * tl.ld : Ds;  // dhg_{t+1}
      T* const Dn = Ds + (t & 1) * nb * tl.ld;                         // resident: dhg_t
      T acc[1][RB];
      if (need_dot) {  // block-uniform
        if (!resident) {
          for (int e = threadIdx.x; e < nb * GH; e += kRecThreads) {
            const int r = e / GH, c = e % GH;
            const int64_t b = row0 + r;
            // t + 1 < T here (some row has t + 1 < len <= T); written by every block at t + 1.
            Dc[r * tl.ld + c] = b < a.B ? __ldcg(a.dhg + (b * a.T_ + t + 1) * GH + c) : T(0);
          }
          __syncthreads();
        }
        tile_dot<T, 1, RB>(Ws, Dc, GH, tl, kk, jj, bg, acc);
      } else {
        zero_acc(acc);
      }
#pragma unroll
      for (int i = 0; i < RB; ++i) {
        const int64_t b = row0 + bg + tl.nbg * i;
        if (!owner || b >= a.B) continue;
        const int r = bg + tl.nbg * i;
        const int64_t bj = b * H + j;
        T dhv = in_regs ? dhr[i] : a.dh[bj];
        if (t + 1 < L[i]) dhv += acc[0][i];
        if (t < 0) {  // final phase: gradients of the initial states
          if (a.dh0) a.dh0[bj] = dhv;
          if constexpr (Cell::kHasC)
            if (a.dc0) a.dc0[bj] = in_regs ? dcr[i] : a.dc[bj];
          continue;
        }
        const int64_t o = (b * a.T_ + t) * GH + j;
        if (t >= L[i]) {  // dh, dc pass through unchanged
          backward_zero_gates<Cell>(a, o);
          if (resident)
#pragma unroll
            for (int g = 0; g < G; ++g) Dn[r * tl.ld + g * H + j] = T(0);
          continue;
        }
        T dcv = T(0);
        if constexpr (Cell::kHasC) dcv = in_regs ? dcr[i] : a.dc[bj];
        T dgi[G], dhg[G], direct;
        Cell::backward(act[i], auxv[i], hp[i], cp[i], dhv + dyv[i], dcv, dgi, dhg, direct, a.act);
#pragma unroll
        for (int g = 0; g < G; ++g) {
          a.dgi[o + int64_t(g) * H] = dgi[g];
          if constexpr (Cell::kSplit) a.dhg[o + int64_t(g) * H] = dhg[g];
          if (resident) Dn[r * tl.ld + g * H + j] = dhg[g];
        }
        if (in_regs) {
          dcr[i] = dcv;
          dhr[i] = direct;
        } else {
          if constexpr (Cell::kHasC) a.dc[bj] = dcv;
          a.dh[bj] = direct;
        }
      }
    }
    if (tl.mode == kModeGrid && t > t_last) cooperative_groups::this_grid().sync();
  }
}

template <class Cell, class T, int RB>
__global__ void __launch_bounds__(kRecThreads)
    recurrent_backward_kernel(const BwdArgs<T> a, const RecTile tl, int t_first, int t_last,
                              int init) {
  recurrent_backward_run<Cell, T, RB>(a, tl, t_first, t_last, init, blockIdx.x, blockIdx.y,
                                      gridDim.y);
}

/// The backward of several independent recurrences in one launch (see Fused): scale s runs its
/// steps t_loop - 1 down to t_last[s] (-1 when it forms dh0 / dc0) on its blocks.
template <class Cell, class T, int RB>
__global__ void __launch_bounds__(kRecThreads)
    recurrent_backward_many_kernel(const Fused<BwdArgs<T>> m) {
  const int s = m.scale_of(blockIdx.y);
  recurrent_backward_run<Cell, T, RB>(m.a[s], m.tl[s], m.a[s].t_loop - 1, m.t_last[s], 1, 0,
                                      blockIdx.y - m.y0[s], m.y0[s + 1] - m.y0[s]);
}

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
