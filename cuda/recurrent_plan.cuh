#pragma once
// Launch plans of the persistent recurrent kernels: tile shape (units per block nj, lanes per dot
// ks, rows per thread rb), grid and mode (resident / cooperative grid / one launch per step),
// chosen by a small cost model over all candidates that fit the device, cached per shape.
//
// Tuning and testing overrides (read at every call):
//   CHRONOSCALE_CUDA_RNN_MODE=step   one launch per step (the fallback path)
//   CHRONOSCALE_CUDA_RNN_MODE=grid   never the resident mode (cooperative when it fits)
//   CHRONOSCALE_CUDA_RNN_MODE=gemm   always the GEMM mode (one cuBLAS GEMM + one elementwise
//                                    kernel per step, recurrent_gemm_mode.cuh); unset, it is
//                                    chosen when B * G * H * H >= kGemmModeMinWork and cuBLAS
//                                    serves the GEMMs, or when no persistent tile fits (H too
//                                    large for shared memory)
//   CHRONOSCALE_CUDA_RNN_MODE=persistent   never the GEMM mode (otherwise automatic)
//   CHRONOSCALE_CUDA_RNN_PLAN=nj,ks,rb[,gy]   force a tile (and cap gridDim.y)
//   CHRONOSCALE_CUDA_RNN_REG=0       never keep W_hh in registers (the forward's small-H plans)
//   CHRONOSCALE_CUDA_RNN_STATE_REGS=0  the backward's running dh / dc in global memory at every
//                                    step (default: in registers where a block owns one tile)
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include "device_props.cuh"
#include "recurrent_kernels.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

struct RecPlan {
  RecTile tile;
  int rb;          ///< rows per thread (template argument of the kernel)
  unsigned gx, gy; ///< grid
  size_t smem;     ///< dynamic shared memory per block (bytes)
  int64_t tiles;   ///< batch tiles (ceil(B / (nbg * rb)))
};

struct RecProblem {
  bool backward;
  int G;       ///< gates
  int elem;    ///< sizeof(T)
  int64_t B;
  int H;
};

/// Multiply-adds of one step's recurrent product (B * G * H * H) from which the automatic plan is
/// the GEMM mode: there one step's GEMM keeps the device busy (H200 run of 390f3c2: the persistent
/// LSTM training step was 0.42-0.56x cuDNN's at B = 1024, H = 256 and 0.89-1.02x at H = 128).
constexpr int64_t kGemmModeMinWork = int64_t(1) << 26;

/// Blocks of the kernel for `rb` (`reg`: its register-resident variant) that fit on one
/// multiprocessor with `smem` bytes (0: none).
using BlocksPerSm = std::function<int(int rb, bool reg, size_t smem)>;

/// A kernel family's launch handles: the kernel for `rb` rows per thread (`reg`: W_hh in
/// registers; only forward kernels with rb == 1 have that variant).
using KernelOf = const void* (*)(int rb, bool reg);

/// The plan for `p` on device `d`; `family` identifies the kernel set (cache key): the GEMM mode
/// (tile.mode == kModeGemm, no tile) for large problems served by cuBLAS (see kGemmModeMinWork)
/// and for hidden sizes too large for the persistent kernels' shared memory, else the best
/// persistent tile. Throws Unsupported when a persistent tile is required (`only_rb`, a forced
/// tile or mode) and none fits. `only_rb` > 0: the best persistent plan with that many rows per
/// thread; `no_reg`: none with W_hh in registers (both to share a fused launch with other
/// recurrences).
RecPlan plan_recurrent(const RecProblem& p, const DeviceProps& d, const BlocksPerSm& occupancy,
                       const void* family, int only_rb = 0, bool no_reg = false);

/// The same tile as `plan` in the one-launch-per-step mode (after a cooperative launch failed).
RecPlan stepwise_plan(const RecPlan& plan);

/// Allow `func` the device's largest dynamic shared memory (once per function and device).
void allow_max_smem(const void* func, const DeviceProps& d);

/// Queue one launch of `func` (a recurrent kernel) with `plan`'s grid and shared memory:
/// cooperative in kModeGrid, ordinary otherwise. Returns false, with the error cleared, when the
/// device refuses a cooperative launch (the caller then runs stepwise_plan); throws CudaError on
/// any other failure.
bool launch_recurrent(const void* func, const RecPlan& plan, void** args, cudaStream_t stream);

/// plan_recurrent with the occupancy of the kernels `kernel_of(rb, reg)`.
inline RecPlan plan_for(const RecProblem& p, const DeviceProps& d, KernelOf kernel_of,
                        int only_rb = 0, bool no_reg = false) {
  const BlocksPerSm occupancy = [&](int rb, bool reg, size_t smem) {
    const void* f = kernel_of(rb, reg);
    allow_max_smem(f, d);
    int n = 0;
    CS_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, f, kRecThreads, smem));
    return n;
  };
  const RecPlan plan = plan_recurrent(p, d, occupancy, kernel_of(1, false), only_rb, no_reg);
  if (plan.tile.mode != kModeGemm)  // a cached plan skipped the queries
    allow_max_smem(kernel_of(plan.rb, plan.tile.reg), d);
  return plan;
}

/// A recurrence's plan with what re-planning it needs (problem, device, kernel family).
struct Planned {
  RecProblem prob{};
  DeviceProps props{};
  KernelOf kernel_of = nullptr;
  RecPlan plan{};

  void make(const RecProblem& p, const DeviceProps& d, KernelOf kernels) {
    prob = p;
    props = d;
    kernel_of = kernels;
    plan = plan_for(prob, props, kernel_of);
  }
  /// The plan with `rb` rows per thread (0: any) and, with `no_reg`, W_hh in shared memory;
  /// `plan` itself when no such tile fits.
  RecPlan plan_with(int rb, bool no_reg = false) const {
    try {
      return plan_for(prob, props, kernel_of, rb, no_reg);
    } catch (const Unsupported&) {
      return plan;
    }
  }
};

/// False when CHRONOSCALE_CUDA_RNN_FUSE=0: several recurrences never share a launch.
bool fuse_recurrences();
/// False when CHRONOSCALE_CUDA_RNN_STATE_REGS=0 (BwdArgs::state_regs; ValueError unless '0',
/// '1' or unset).
bool backward_state_in_registers();

/// Whether several prepared recurrences (Planned, with `a.t_loop`) can share one fused launch:
/// every plan resident with the same rows per thread and W_hh placement (tile.reg), and all
/// their blocks co-resident on the device (`capacity(rb, reg, smem)`: blocks of the fused kernel
/// that fit at once). Otherwise blocks of the short recurrences would queue behind the long
/// one's, which is slower than one launch after the other. Plans with another rb are re-planned
/// with the rb of the recurrence that runs the most steps, and when the plans disagree on
/// tile.reg all are re-planned with W_hh in shared memory; they replace the plans only when the
/// launch is fused. Returns that rb, or 0 (every plan as it was); the fused kernel is then the
/// one for (rb, preps[0]->plan.tile.reg).
template <class Preps, class Capacity>
int fused_rb(Preps& preps, Capacity capacity) {
  if (preps.size() < 2 || preps.size() > size_t(kMaxFused) || !fuse_recurrences()) return 0;
  for (const auto& p : preps)  // a recurrence planned in the GEMM mode keeps it
    if (p->plan.tile.mode == kModeGemm) return 0;
  size_t lead = 0;
  for (size_t i = 1; i < preps.size(); ++i)
    if (preps[i]->a.t_loop > preps[lead]->a.t_loop) lead = i;
  // First as planned; when the recurrences disagree on W_hh in registers, once more with all of
  // them in shared memory.
  for (bool no_reg : {false, true}) {
    const RecPlan lp = no_reg ? preps[lead]->plan_with(0, true) : preps[lead]->plan;
    if (lp.tile.mode != kModeResident) return 0;
    const int rb = lp.rb, reg = lp.tile.reg;
    int64_t blocks = 0;
    size_t smem = 0;
    bool same = true, any_reg = false;
    std::vector<RecPlan> plans;
    for (const auto& p : preps) {
      const bool keep = !no_reg && p->plan.rb == rb;
      plans.push_back(keep ? p->plan : p->plan_with(rb, no_reg));
      const RecPlan& q = plans.back();
      any_reg |= q.tile.reg != 0;
      if (q.tile.mode != kModeResident || q.rb != rb) return 0;
      same &= q.tile.reg == reg;
      blocks += q.gy;
      smem = std::max(smem, q.smem);
    }
    if (!same) {
      if (no_reg || !any_reg) return 0;
      continue;
    }
    if (blocks > 65535 || blocks > capacity(rb, reg != 0, smem)) return 0;
    for (size_t i = 0; i < preps.size(); ++i) preps[i]->plan = plans[i];
    return rb;
  }
  return 0;
}

/// One launch of the fused kernel `func` for the prepared recurrences `preps` (see fused_rb):
/// recurrence i on its own range of gy blocks along y, with the largest shared memory of them.
template <class Args, class Preps>
void launch_fused(const void* func, const Preps& preps, const DeviceProps& d, cudaStream_t s,
                  const char* what) {
  Fused<Args> m{};
  m.n = static_cast<int>(preps.size());
  size_t smem = 0;
  for (size_t i = 0; i < preps.size(); ++i) {
    m.a[i] = preps[i]->a;
    m.tl[i] = preps[i]->plan.tile;
    m.t_last[i] = preps[i]->t_last;
    m.y0[i + 1] = m.y0[i] + preps[i]->plan.gy;
    smem = std::max(smem, preps[i]->plan.smem);
  }
  allow_max_smem(func, d);
  void* args[] = {&m};
  check(cudaLaunchKernel(func, dim3(1, m.y0[m.n]), dim3(kRecThreads), args, smem, s), what);
}

/// The kernel name<CellD, T, rb> (rb in {1, 2, 4, 8}) as a launch handle.
#define CS_REC_KERNEL(name, rb)                                                      \
  ((rb) == 1   ? reinterpret_cast<const void*>(&name<CellD, T, 1>)                   \
   : (rb) == 2 ? reinterpret_cast<const void*>(&name<CellD, T, 2>)                   \
   : (rb) == 4 ? reinterpret_cast<const void*>(&name<CellD, T, 4>)                   \
               : reinterpret_cast<const void*>(&name<CellD, T, 8>))
/// The same with the register-resident variant name<CellD, T, 1, true> when `reg`.
#define CS_REC_KERNEL_REG(name, rb, reg)                                             \
  ((reg) ? reinterpret_cast<const void*>(&name<CellD, T, 1, true>) : CS_REC_KERNEL(name, rb))

/// Blocks of `func` (kRecThreads threads, `smem` bytes) that fit on the device at once.
inline int64_t coresident_blocks(const void* func, size_t smem, const DeviceProps& d) {
  allow_max_smem(func, d);
  int n = 0;
  CS_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, func, kRecThreads, smem));
  return int64_t(n) * d.sms;
}

/// max(1, longest sequence): the steps the kernels must run (host lengths, already validated).
inline int64_t steps_to_run(const Tensor& lengths, int64_t B, int64_t T) {
  if (!lengths.defined()) return T;
  const int64_t* p = lengths.ptr<int64_t>();
  int64_t m = 0;
  for (int64_t b = 0; b < B; ++b) m = p[b] > m ? p[b] : m;
  return m > 1 ? m : 1;
}

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
