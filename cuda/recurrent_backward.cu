// Backward pass of the CUDA recurrent cells: the persistent kernel (large batches: a GEMM and an
// elementwise kernel per step, recurrent_gemm_mode.cuh) runs the dh recurrence and
// writes the gate gradients of every step; dx, dW_ih, dW_hh are then GEMMs over all B*T rows and
// the bias gradients deterministic column sums. recurrent_backward_many runs the persistent
// kernels of several independent recurrences in one launch where their plans allow.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <memory>
#include <vector>

#include "cuda_check.hpp"
#include "cuda_lengths.cuh"
#include "device_buffer.cuh"
#include "device_props.cuh"
#include "gemm.cuh"
#include "recurrent.cuh"
#include "recurrent_gemm_mode.cuh"
#include "recurrent_plan.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

namespace {

// (The backward has no register-resident variant: the planner never sets reg for it.)
template <class CellD, class T>
const void* backward_kernel(int rb, bool) {
  return CS_REC_KERNEL(recurrent_backward_kernel, rb);
}

template <class CellD, class T>
const void* backward_many_kernel(int rb, bool) {
  return CS_REC_KERNEL(recurrent_backward_many_kernel, rb);
}

// One backward: its plan at construction; alloc() its scratch (stream-ordered: freed after the
// GEMMs of finish() are queued), lengths on the device and kernel arguments; launch() queues
// the persistent kernel (the dh recurrence), finish() the weight / input gradient GEMMs and the
// bias sums.
template <class CellD, class T>
struct BackwardPrep : Planned {
  RecurrentDims d;
  int act;
  const Tensor &dy, &dh_n, &dc_n;
  const RecurrentInputs& in;
  const RecurrentOutputs& fwd;
  const RecurrentGrads& g;
  DeviceBuffer<T> dgi, dhg_split, dh, dc;
  DeviceLengths len;
  BwdArgs<T> a{};
  int t_last = 0;  // -1: the phase that forms dh0 / dc0

  BackwardPrep(int act_, const RecurrentDims& dims, const Tensor& dy_, const Tensor& dh_n_,
               const Tensor& dc_n_, const RecurrentInputs& in_, const RecurrentOutputs& fwd_,
               const RecurrentGrads& g_, const DeviceProps& props)
      : d(dims), act(act_), dy(dy_), dh_n(dh_n_), dc_n(dc_n_), in(in_), fwd(fwd_), g(g_) {
    CS_CHECK(d.T <= INT_MAX && d.H <= INT_MAX / 4, ValueError,
             "recurrent CUDA kernel: T and 4H must fit in 32 bits");
    t_last = (g.dh0.defined() || (CellD::kHasC && g.dc0.defined())) ? -1 : 0;
    make({true, CellD::G, static_cast<int>(sizeof(T)), d.B, static_cast<int>(d.H)}, props,
         backward_kernel<CellD, T>);
  }

  void alloc(cudaStream_t s) {
    const int64_t rows = d.B * d.T * CellD::G * d.H;
    dgi = DeviceBuffer<T>(rows, s);
    dhg_split = DeviceBuffer<T>(CellD::kSplit ? rows : 0, s);
    dh = DeviceBuffer<T>(d.B * d.H, s);
    dc = DeviceBuffer<T>(CellD::kHasC ? d.B * d.H : 0, s);
    len = DeviceLengths(in.lengths, d.B, s);
    auto opt = [](const Tensor& t) { return t.defined() ? t.ptr<T>() : nullptr; };
    T* dh0 = opt(g.dh0);
    T* dc0 = CellD::kHasC ? opt(g.dc0) : nullptr;
    a = BwdArgs<T>{in.w_hh.ptr<T>(),
                   fwd.cache.gates.ptr<T>(),
                   fwd.cache.hprev.ptr<T>(),
                   CellD::kHasAux ? fwd.cache.aux.ptr<T>() : nullptr,
                   CellD::kHasC ? opt(in.c0) : nullptr,
                   len.get(),
                   opt(dy),
                   opt(dh_n),
                   CellD::kHasC ? opt(dc_n) : nullptr,
                   dgi.get(),
                   dhg(),
                   dh.get(),
                   dc.get(),
                   dh0,
                   dc0,
                   d.B,
                   d.T,
                   static_cast<int>(d.H),
                   act,
                   static_cast<int>(steps_to_run(in.lengths, d.B, d.T)),
                   backward_state_in_registers() ? 1 : 0};
  }

  T* dhg() const { return CellD::kSplit ? dhg_split.get() : dgi.get(); }

  void launch(cudaStream_t s) const {
    if (plan.tile.mode == kModeGemm) return recurrent_backward_gemm_mode<CellD>(a, t_last, s);
    RecPlan p = plan;
    RecTile tile = p.tile;
    void* const func = const_cast<void*>(backward_kernel<CellD, T>(p.rb, false));
    bool done = false;
    if (p.tile.mode != kModeStep) {
      int t0 = a.t_loop - 1, t1 = t_last, init = 1;
      void* args[] = {const_cast<BwdArgs<T>*>(&a), &tile, &t0, &t1, &init};
      done = launch_recurrent(func, p, args, s);
      if (!done) {
        p = stepwise_plan(p);
        tile = p.tile;
      }
    }
    for (int t = a.t_loop - 1; !done && t >= t_last; --t) {
      int t0 = t, t1 = t, init = t == a.t_loop - 1 ? 1 : 0;
      void* args[] = {const_cast<BwdArgs<T>*>(&a), &tile, &t0, &t1, &init};
      launch_recurrent(func, p, args, s);
    }
  }

  void finish(cudaStream_t s) const {
    const int64_t GH = CellD::G * d.H, R = d.B * d.T;
    const T* x = in.x.ptr<T>();
    gemm<T>(s, false, false, R, d.I, GH, dgi.get(), GH, in.w_ih.ptr<T>(), d.I, g.dx.ptr<T>(),
            d.I);
    gemm<T>(s, true, false, GH, d.I, R, dgi.get(), GH, x, d.I, g.dw_ih.ptr<T>(), d.I);
    gemm<T>(s, true, false, GH, d.H, R, dhg(), GH, fwd.cache.hprev.ptr<T>(), d.H,
            g.dw_hh.ptr<T>(), d.H);
    if (g.db_ih.defined()) column_sum<T>(s, dgi.get(), R, GH, GH, g.db_ih.ptr<T>());
    if (g.db_hh.defined()) {
      if (!CellD::kSplit && g.db_ih.defined())  // dhg == dgi: same sums
        CS_CUDA_CHECK(cudaMemcpyAsync(g.db_hh.ptr<T>(), g.db_ih.ptr<T>(), sizeof(T) * GH,
                                      cudaMemcpyDeviceToDevice, s));
      else
        column_sum<T>(s, dhg(), R, GH, GH, g.db_hh.ptr<T>());
    }
  }
};

template <class CellD, class T>
void backward_many(int act, const RecurrentBackwardMany& w, cudaStream_t s) {
  const DeviceProps props = current_device_props();
  const size_t n = w.dims.size();
  std::vector<std::unique_ptr<BackwardPrep<CellD, T>>> preps;
  for (size_t i = 0; i < n; ++i)
    preps.push_back(std::make_unique<BackwardPrep<CellD, T>>(
        act, w.dims[i], w.dy[i], w.dh_n[i], w.dc_n[i], w.in[i], w.fwd[i], w.grads[i], props));
  const int rb = fused_rb(preps, [&](int r, bool, size_t smem) {  // one launch when it pays
    return coresident_blocks(backward_many_kernel<CellD, T>(r, false), smem, props);
  });
  if (rb == 0) {  // one after the other, each scale's scratch freed before the next one's
    for (auto& p : preps) {
      p->alloc(s);
      p->launch(s);
      p->finish(s);
      p.reset();
    }
    return;
  }
  for (auto& p : preps) p->alloc(s);  // fused: every scale's scratch at once
  launch_fused<BwdArgs<T>>(backward_many_kernel<CellD, T>(rb, false), preps, props, s,
                           "cudaLaunchKernel(fused recurrent backward kernel)");
  for (const auto& p : preps) p->finish(s);
}

}  // namespace

template <class T>
void recurrent_backward_many(Cell cell, const RecurrentBackwardMany& w, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  const size_t n = w.dims.size();
  CS_CHECK(w.dy.size() == n && w.dh_n.size() == n && w.dc_n.size() == n && w.in.size() == n &&
               w.fwd.size() == n && w.grads.size() == n,
           ValueError, "recurrent_backward_many: one entry per recurrence in every list");
  switch (cell) {
    case Cell::lstm: return backward_many<LstmCellD, T>(0, w, s);
    case Cell::gru: return backward_many<GruCellD, T>(0, w, s);
    default: return backward_many<RnnCellD, T>(static_cast<int>(cell), w, s);
  }
}

template <class T>
void recurrent_backward(Cell cell, const RecurrentDims& d, const Tensor& dy, const Tensor& dh_n,
                        const Tensor& dc_n, const RecurrentInputs& in, const RecurrentOutputs& fwd,
                        const RecurrentGrads& g, void* stream) {
  recurrent_backward_many<T>(cell, {{d}, {dy}, {dh_n}, {dc_n}, {in}, {fwd}, {g}}, stream);
}

template void recurrent_backward<float>(Cell, const RecurrentDims&, const Tensor&, const Tensor&,
                                        const Tensor&, const RecurrentInputs&,
                                        const RecurrentOutputs&, const RecurrentGrads&, void*);
template void recurrent_backward<double>(Cell, const RecurrentDims&, const Tensor&, const Tensor&,
                                         const Tensor&, const RecurrentInputs&,
                                         const RecurrentOutputs&, const RecurrentGrads&, void*);
template void recurrent_backward_many<float>(Cell, const RecurrentBackwardMany&, void*);
template void recurrent_backward_many<double>(Cell, const RecurrentBackwardMany&, void*);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
