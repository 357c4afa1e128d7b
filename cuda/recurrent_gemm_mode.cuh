#pragma once
// The GEMM mode of the recurrent cells (plan mode kModeGemm, chosen for large batches; see
// recurrent_plan.cuh). The persistent kernels do the recurrent products on the CUDA cores of a
// few hundred blocks that each hold a slice of W_hh; at large B * G * H * H one step is a GEMM
// big enough for cuBLAS to run near the device's peak, so each step is queued as
//   forward  t = 0 .. t_loop - 1:  rec = h_{t-1} W_hh^T   [B, G*H]  (GEMM; none when h_{-1} = 0)
//                                  then recurrent_gemm_forward_step (the cell's gate maths, all
//                                  writes and the padding of finished rows; one thread per
//                                  (row, unit))
//   backward t = t_loop - 1 .. t_last:  rec = dhg_{t+1} W_hh  [B, H]  (GEMM; none at the first)
//                                  then recurrent_gemm_backward_step
// (what cuDNN does at large batch). Stream order is the barrier between steps. The cache, the
// outputs and the gradients are exactly those of the persistent kernels (same FwdArgs /
// BwdArgs, same cell maths, same padding rules), so the weight-gradient GEMMs afterwards are
// shared.
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_check.hpp"
#include "device_buffer.cuh"
#include "gemm.cuh"
#include "grid_stride.cuh"
#include "recurrent_kernels.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

constexpr int kGemmModeThreads = 256;

/// Forward step t of every (row b, unit j): `rec` [B, G*H] = h_{t-1} W_hh^T, or null when it is
/// zero (t == 0 without h0).
template <class Cell, class T>
__global__ void __launch_bounds__(kGemmModeThreads)
    recurrent_gemm_forward_step(const FwdArgs<T> a, const T* __restrict__ rec, int t) {
  constexpr int G = Cell::G;
  const int H = a.H;
  const int64_t GH = int64_t(G) * H;
  for (int64_t e = flat_index(); e < a.B * H; e += flat_stride()) {
    const int64_t b = e / H;
    const int j = static_cast<int>(e % H);
    const int64_t L = a.len ? a.len[b] : a.T_;
    if (t >= L) {
      forward_pad<Cell>(a, b, t, j);
      continue;
    }
    const int64_t o = b * a.T_ + t;
    T bi[G], bh[G], pre[G], hg[G], act[G], h, c, auxv;
    gate_biases<Cell>(a, j, bi, bh);
#pragma unroll
    for (int g = 0; g < G; ++g) {
      pre[g] = a.gates[o * GH + int64_t(g) * H + j] + bi[g];
      hg[g] = (rec ? rec[b * GH + int64_t(g) * H + j] : T(0)) + bh[g];
    }
    const T hp = t == 0 ? (a.h0 ? a.h0[e] : T(0)) : a.hprev[o * H + j];
    T cp = T(0);
    if constexpr (Cell::kHasC) cp = t > 0 ? a.aux[(o - 1) * H + j] : (a.c0 ? a.c0[e] : T(0));
    Cell::forward(pre, hg, hp, cp, act, h, c, auxv, a.act);
    forward_store<Cell>(a, b, t, j, L, act, hp, h, c, auxv);
  }
}

/// The steps t_loop .. T - 1 that no sequence reaches: padding only.
template <class Cell, class T>
__global__ void __launch_bounds__(kGemmModeThreads)
    recurrent_gemm_forward_tail(const FwdArgs<T> a) {
  const int64_t steps = a.T_ - a.t_loop;
  for (int64_t e = flat_index(); e < a.B * steps * a.H; e += flat_stride()) {
    const int64_t r = e / a.H;
    forward_pad<Cell>(a, r / steps, static_cast<int>(a.t_loop + r % steps),
                      static_cast<int>(e % a.H));
  }
}

/// The running gradients from dh_n / dc_n, and zero gate gradients at the steps past t_loop.
template <class Cell, class T>
__global__ void __launch_bounds__(kGemmModeThreads)
    recurrent_gemm_backward_init(const BwdArgs<T> a) {
  for (int64_t e = flat_index(); e < a.B * a.H; e += flat_stride()) {
    T dh, dc;  // (kept in a.dh / a.dc)
    backward_init<Cell>(a, e / a.H, static_cast<int>(e % a.H), dh, dc);
  }
}

/// Backward step t (t == -1: dh0 / dc0) of every (row b, unit j): `rec` [B, H] = dhg_{t+1} W_hh,
/// or null at the first step (t + 1 == t_loop: no row runs step t + 1).
template <class Cell, class T>
__global__ void __launch_bounds__(kGemmModeThreads)
    recurrent_gemm_backward_step(const BwdArgs<T> a, const T* __restrict__ rec, int t) {
  constexpr int G = Cell::G;
  const int H = a.H;
  const int64_t GH = int64_t(G) * H;
  for (int64_t e = flat_index(); e < a.B * H; e += flat_stride()) {
    const int64_t b = e / H;
    const int j = static_cast<int>(e % H);
    const int64_t L = a.len ? a.len[b] : a.T_;
    T dhv = a.dh[e];
    if (rec && t + 1 < L) dhv += rec[e];
    if (t < 0) {
      if (a.dh0) a.dh0[e] = dhv;
      if constexpr (Cell::kHasC)
        if (a.dc0) a.dc0[e] = a.dc[e];
      continue;
    }
    const int64_t o = (b * a.T_ + t) * GH + j;
    if (t >= L) {  // dh, dc pass through unchanged
      backward_zero_gates<Cell>(a, o);
      continue;
    }
    T act[G], dgi[G], dhg[G], direct, auxv = T(0), hp = T(0), cp = T(0), dyv = T(0), dcv = T(0);
    backward_load<Cell>(a, b, t, j, act, auxv, hp, cp, dyv);
    if constexpr (Cell::kHasC) dcv = a.dc[e];
    Cell::backward(act, auxv, hp, cp, dhv + dyv, dcv, dgi, dhg, direct, a.act);
#pragma unroll
    for (int g = 0; g < G; ++g) {
      a.dgi[o + int64_t(g) * H] = dgi[g];
      if constexpr (Cell::kSplit) a.dhg[o + int64_t(g) * H] = dhg[g];
    }
    if constexpr (Cell::kHasC) a.dc[e] = dcv;
    a.dh[e] = direct;
  }
}

namespace gemm_mode {

inline unsigned blocks_for(int64_t items) {
  return grid_blocks(items, kGemmModeThreads, int64_t(1) << 16);
}

inline void launch(const void* kernel, int64_t items, void** args, cudaStream_t s,
                   const char* what) {
  check(cudaLaunchKernel(kernel, dim3(blocks_for(items)), dim3(kGemmModeThreads), args, 0, s),
        what);
}

}  // namespace gemm_mode

/// The forward recurrence of `a` in the GEMM mode (x W_ih^T already in a.gates).
template <class Cell, class T>
void recurrent_forward_gemm_mode(const FwdArgs<T>& a, cudaStream_t s) {
  const int64_t GH = int64_t(Cell::G) * a.H;
  DeviceBuffer<T> rec(a.h0 || a.t_loop > 1 ? a.B * GH : 0, s);  // none when no GEMM runs
  FwdArgs<T> args = a;
  const void* step = reinterpret_cast<const void*>(&recurrent_gemm_forward_step<Cell, T>);
  for (int t = 0; t < a.t_loop; ++t) {
    // h_{t-1}: h0 at t == 0 (none: zero), else cache.hprev[:, t] (every row's, written by the
    // previous step kernel; finished rows carry their final state).
    const T* hsrc = t == 0 ? a.h0 : a.hprev + int64_t(t) * a.H;
    const T* r = nullptr;
    if (hsrc) {
      gemm<T>(s, false, true, a.B, GH, a.H, hsrc, t == 0 ? a.H : a.T_ * a.H, a.w_hh, a.H,
              rec.get(), GH);
      r = rec.get();
    }
    int tt = t;
    void* kargs[] = {&args, &r, &tt};
    gemm_mode::launch(step, a.B * a.H, kargs, s, "cudaLaunchKernel(recurrent_gemm_forward_step)");
  }
  if (a.t_loop < a.T_) {
    void* kargs[] = {&args};
    gemm_mode::launch(reinterpret_cast<const void*>(&recurrent_gemm_forward_tail<Cell, T>),
                      a.B * (a.T_ - a.t_loop) * a.H, kargs, s,
                      "cudaLaunchKernel(recurrent_gemm_forward_tail)");
  }
}

/// The backward recurrence of `a` in the GEMM mode: steps t_loop - 1 down to t_last (-1: the
/// dh0 / dc0 phase), writing a.dgi / a.dhg for the weight-gradient GEMMs.
template <class Cell, class T>
void recurrent_backward_gemm_mode(const BwdArgs<T>& a, int t_last, cudaStream_t s) {
  const int64_t GH = int64_t(Cell::G) * a.H;
  // A GEMM runs at the steps t with t + 1 < t_loop, the dh0 phase (t == -1) only for dh0.
  auto gemm_at = [&](int t) { return t + 1 < a.t_loop && (t >= 0 || a.dh0); };
  DeviceBuffer<T> rec(gemm_at(t_last) || gemm_at(0) ? a.B * a.H : 0, s);
  BwdArgs<T> args = a;
  {
    void* kargs[] = {&args};
    gemm_mode::launch(reinterpret_cast<const void*>(&recurrent_gemm_backward_init<Cell, T>),
                      a.B * a.H, kargs, s, "cudaLaunchKernel(recurrent_gemm_backward_init)");
  }
  const void* step = reinterpret_cast<const void*>(&recurrent_gemm_backward_step<Cell, T>);
  for (int t = a.t_loop - 1; t >= t_last; --t) {
    const T* r = nullptr;
    if (gemm_at(t)) {  // dhg_{t+1} of every row (zero for rows that did not run t + 1)
      gemm<T>(s, false, false, a.B, a.H, GH, a.dhg + int64_t(t + 1) * GH, a.T_ * GH, a.w_hh,
              a.H, rec.get(), a.H);
      r = rec.get();
    }
    int tt = t;
    void* kargs[] = {&args, &r, &tt};
    gemm_mode::launch(step, a.B * a.H, kargs, s,
                      "cudaLaunchKernel(recurrent_gemm_backward_step)");
  }
}

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
