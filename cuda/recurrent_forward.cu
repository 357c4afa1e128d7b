// Forward pass of the CUDA recurrent cells: gates = x W_ih^T for all steps (one GEMM), then the
// persistent kernel (biases, W_hh h, activations, state update and every write, fused), or for
// large batches a GEMM and an elementwise kernel per step (recurrent_gemm_mode.cuh).
// recurrent_forward_many runs several independent recurrences (the scales of a multi-scale
// layer) with ONE persistent launch when all of them have resident plans.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "cuda_check.hpp"
#include "cuda_lengths.cuh"
#include "device_props.cuh"
#include "gemm.cuh"
#include "recurrent.cuh"
#include "recurrent_gemm_mode.cuh"
#include "recurrent_plan.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

namespace {

template <class CellD, class T>
const void* forward_kernel(int rb, bool reg) {
  return CS_REC_KERNEL_REG(recurrent_forward_kernel, rb, reg);
}

template <class CellD, class T>
const void* forward_many_kernel(int rb, bool reg) {
  return CS_REC_KERNEL_REG(recurrent_forward_many_kernel, rb, reg);
}

// One recurrence with its input projection queued (x W_ih^T for all steps), its lengths on the
// device and its plan; launch() queues the persistent kernel.
template <class CellD, class T>
struct ForwardPrep : Planned {
  DeviceLengths len;
  FwdArgs<T> a{};
  int t_last = 0;  // (the backward's; unused)

  ForwardPrep(int act, const RecurrentDims& d, const RecurrentInputs& in,
              const RecurrentOutputs& out, const DeviceProps& props, cudaStream_t s)
      : len(in.lengths, d.B, s) {
    constexpr int G = CellD::G;
    CS_CHECK(d.T <= INT_MAX && d.H <= INT_MAX / 4, ValueError,
             "recurrent CUDA kernel: T and 4H must fit in 32 bits");
    const int64_t GH = G * d.H;
    gemm<T>(s, false, true, d.B * d.T, GH, d.I, in.x.ptr<T>(), d.I, in.w_ih.ptr<T>(), d.I,
            out.cache.gates.ptr<T>(), GH);
    auto opt = [](const Tensor& t) { return t.defined() ? t.ptr<T>() : nullptr; };
    a = FwdArgs<T>{in.w_hh.ptr<T>(),
                   opt(in.b_ih),
                   opt(in.b_hh),
                   opt(in.h0),
                   CellD::kHasC ? opt(in.c0) : nullptr,
                   len.get(),
                   out.cache.gates.ptr<T>(),
                   out.cache.hprev.ptr<T>(),
                   CellD::kHasAux ? out.cache.aux.ptr<T>() : nullptr,
                   out.y.ptr<T>(),
                   out.h_n.ptr<T>(),
                   CellD::kHasC ? out.c_n.ptr<T>() : nullptr,
                   d.B,
                   d.T,
                   static_cast<int>(d.H),
                   act,
                   static_cast<int>(steps_to_run(in.lengths, d.B, d.T))};
    make({false, G, static_cast<int>(sizeof(T)), d.B, static_cast<int>(d.H)}, props,
         forward_kernel<CellD, T>);
  }

  void launch(cudaStream_t s) const {
    if (plan.tile.mode == kModeGemm) return recurrent_forward_gemm_mode<CellD>(a, s);
    RecPlan p = plan;
    RecTile tile = p.tile;
    void* const func = const_cast<void*>(forward_kernel<CellD, T>(p.rb, p.tile.reg));
    if (p.tile.mode != kModeStep) {  // every step in one launch
      int t0 = 0, t1 = a.t_loop, tail = 1;
      void* args[] = {const_cast<FwdArgs<T>*>(&a), &tile, &t0, &t1, &tail};
      if (launch_recurrent(func, p, args, s)) return;
      p = stepwise_plan(p);  // the cooperative launch was refused
      tile = p.tile;
    }
    for (int t = 0; t < a.t_loop; ++t) {  // one launch per step; stream order is the barrier
      int t0 = t, t1 = t + 1, tail = t + 1 == a.t_loop ? 1 : 0;
      void* args[] = {const_cast<FwdArgs<T>*>(&a), &tile, &t0, &t1, &tail};
      launch_recurrent(func, p, args, s);
    }
  }
};

template <class CellD, class T>
void forward_many(int act, size_t n, const RecurrentDims* d, const RecurrentInputs* in,
                  const RecurrentOutputs* out, cudaStream_t s) {
  const DeviceProps props = current_device_props();
  std::vector<std::unique_ptr<ForwardPrep<CellD, T>>> preps;
  for (size_t i = 0; i < n; ++i)
    preps.push_back(std::make_unique<ForwardPrep<CellD, T>>(act, d[i], in[i], out[i], props, s));
  const int rb = fused_rb(preps, [&](int r, bool reg, size_t smem) {  // one launch if it pays
    return coresident_blocks(forward_many_kernel<CellD, T>(r, reg), smem, props);
  });
  if (rb == 0) {
    for (const auto& p : preps) p->launch(s);
    return;
  }
  launch_fused<FwdArgs<T>>(forward_many_kernel<CellD, T>(rb, preps[0]->plan.tile.reg), preps,
                           props, s,
                           "cudaLaunchKernel(fused recurrent kernel)");
}

template <class T>
void forward_cells(Cell cell, size_t n, const RecurrentDims* d, const RecurrentInputs* in,
                   const RecurrentOutputs* out, cudaStream_t s) {
  switch (cell) {
    case Cell::lstm: return forward_many<LstmCellD, T>(0, n, d, in, out, s);
    case Cell::gru: return forward_many<GruCellD, T>(0, n, d, in, out, s);
    default: return forward_many<RnnCellD, T>(static_cast<int>(cell), n, d, in, out, s);
  }
}

}  // namespace

template <class T>
void recurrent_forward_many(Cell cell, const std::vector<RecurrentDims>& d,
                            const std::vector<RecurrentInputs>& in,
                            const std::vector<RecurrentOutputs>& out, void* stream) {
  CS_CHECK(d.size() == in.size() && d.size() == out.size(), ValueError,
           "recurrent_forward_many: one dims, inputs and outputs per recurrence");
  forward_cells<T>(cell, d.size(), d.data(), in.data(), out.data(),
                   static_cast<cudaStream_t>(stream));
}

template <class T>
void recurrent_forward(Cell cell, const RecurrentDims& d, const RecurrentInputs& in,
                       const RecurrentOutputs& out, void* stream) {
  forward_cells<T>(cell, 1, &d, &in, &out, static_cast<cudaStream_t>(stream));
}

template void recurrent_forward<float>(Cell, const RecurrentDims&, const RecurrentInputs&,
                                       const RecurrentOutputs&, void*);
template void recurrent_forward<double>(Cell, const RecurrentDims&, const RecurrentInputs&,
                                        const RecurrentOutputs&, void*);
template void recurrent_forward_many<float>(Cell, const std::vector<RecurrentDims>&,
                                            const std::vector<RecurrentInputs>&,
                                            const std::vector<RecurrentOutputs>&, void*);
template void recurrent_forward_many<double>(Cell, const std::vector<RecurrentDims>&,
                                             const std::vector<RecurrentInputs>&,
                                             const std::vector<RecurrentOutputs>&, void*);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
