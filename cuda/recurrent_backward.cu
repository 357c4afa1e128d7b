// Backward pass of the CUDA recurrent cells: the persistent kernel runs the dh recurrence and
// writes the gate gradients of every step; dx, dW_ih, dW_hh are then GEMMs over all B*T rows and
// the bias gradients deterministic column sums.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>

#include "cuda_check.hpp"
#include "cuda_lengths.cuh"
#include "device_buffer.cuh"
#include "device_props.cuh"
#include "gemm.cuh"
#include "recurrent.cuh"
#include "recurrent_plan.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

namespace {

template <class CellD, class T>
const void* backward_kernel(int rb) {
  switch (rb) {
    case 1: return reinterpret_cast<const void*>(&recurrent_backward_kernel<CellD, T, 1>);
    case 2: return reinterpret_cast<const void*>(&recurrent_backward_kernel<CellD, T, 2>);
    case 4: return reinterpret_cast<const void*>(&recurrent_backward_kernel<CellD, T, 4>);
    default: return reinterpret_cast<const void*>(&recurrent_backward_kernel<CellD, T, 8>);
  }
}

template <class CellD, class T>
void backward_cell(int act, const RecurrentDims& d, const Tensor& dy, const Tensor& dh_n,
                   const Tensor& dc_n, const RecurrentInputs& in, const RecurrentOutputs& fwd,
                   const RecurrentGrads& g, cudaStream_t s) {
  constexpr int G = CellD::G;
  CS_CHECK(d.T <= INT_MAX && d.H <= INT_MAX / 4, ValueError,
           "recurrent CUDA kernel: T and 4H must fit in 32 bits");
  const int64_t GH = G * d.H, R = d.B * d.T;
  const DeviceProps props = current_device_props();
  auto opt = [](const Tensor& t) { return t.defined() ? t.ptr<T>() : nullptr; };

  // Scratch, stream-ordered: freed after the GEMMs below have been queued.
  DeviceBuffer<T> dgi(R * GH, s);
  DeviceBuffer<T> dhg_split(CellD::kSplit ? R * GH : 0, s);
  T* dhg = CellD::kSplit ? dhg_split.get() : dgi.get();
  DeviceBuffer<T> dh(d.B * d.H, s), dc(CellD::kHasC ? d.B * d.H : 0, s);
  const DeviceLengths len(in.lengths, d.B, s);

  T* dh0 = opt(g.dh0);
  T* dc0 = CellD::kHasC ? opt(g.dc0) : nullptr;
  const BwdArgs<T> a{in.w_hh.ptr<T>(),
                     fwd.cache.gates.ptr<T>(),
                     fwd.cache.hprev.ptr<T>(),
                     CellD::kHasAux ? fwd.cache.aux.ptr<T>() : nullptr,
                     CellD::kHasC ? opt(in.c0) : nullptr,
                     len.get(),
                     opt(dy),
                     opt(dh_n),
                     CellD::kHasC ? opt(dc_n) : nullptr,
                     dgi.get(),
                     dhg,
                     dh.get(),
                     dc.get(),
                     dh0,
                     dc0,
                     d.B,
                     d.T,
                     static_cast<int>(d.H),
                     act,
                     static_cast<int>(steps_to_run(in.lengths, d.B, d.T))};
  const RecProblem prob{true, G, static_cast<int>(sizeof(T)), d.B, static_cast<int>(d.H)};
  RecPlan plan = plan_for(prob, props, backward_kernel<CellD, T>);
  RecTile tile = plan.tile;
  void* const func = const_cast<void*>(backward_kernel<CellD, T>(plan.rb));
  const int t_last = (dh0 || dc0) ? -1 : 0;  // -1: the phase that forms dh0 / dc0
  bool done = false;
  if (plan.tile.mode != kModeStep) {
    int t0 = a.t_loop - 1, t1 = t_last, init = 1;
    void* args[] = {const_cast<BwdArgs<T>*>(&a), &tile, &t0, &t1, &init};
    done = launch_recurrent(func, plan, args, s);
    if (!done) {
      plan = stepwise_plan(plan);
      tile = plan.tile;
    }
  }
  for (int t = a.t_loop - 1; !done && t >= t_last; --t) {
    int t0 = t, t1 = t, init = t == a.t_loop - 1 ? 1 : 0;
    void* args[] = {const_cast<BwdArgs<T>*>(&a), &tile, &t0, &t1, &init};
    launch_recurrent(func, plan, args, s);
  }

  const T* x = in.x.ptr<T>();
  gemm<T>(s, false, false, R, d.I, GH, dgi.get(), GH, in.w_ih.ptr<T>(), d.I, g.dx.ptr<T>(), d.I);
  gemm<T>(s, true, false, GH, d.I, R, dgi.get(), GH, x, d.I, g.dw_ih.ptr<T>(), d.I);
  gemm<T>(s, true, false, GH, d.H, R, dhg, GH, fwd.cache.hprev.ptr<T>(), d.H, g.dw_hh.ptr<T>(),
          d.H);
  if (g.db_ih.defined()) column_sum<T>(s, dgi.get(), R, GH, GH, g.db_ih.ptr<T>());
  if (g.db_hh.defined()) {
    if (!CellD::kSplit && g.db_ih.defined())  // dhg == dgi: same sums
      CS_CUDA_CHECK(cudaMemcpyAsync(g.db_hh.ptr<T>(), g.db_ih.ptr<T>(), sizeof(T) * GH,
                                    cudaMemcpyDeviceToDevice, s));
    else
      column_sum<T>(s, dhg, R, GH, GH, g.db_hh.ptr<T>());
  }
}

}  // namespace

template <class T>
void recurrent_backward(Cell cell, const RecurrentDims& d, const Tensor& dy, const Tensor& dh_n,
                        const Tensor& dc_n, const RecurrentInputs& in, const RecurrentOutputs& fwd,
                        const RecurrentGrads& g, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  switch (cell) {
    case Cell::lstm: return backward_cell<LstmCellD, T>(0, d, dy, dh_n, dc_n, in, fwd, g, s);
    case Cell::gru: return backward_cell<GruCellD, T>(0, d, dy, dh_n, dc_n, in, fwd, g, s);
    default:
      return backward_cell<RnnCellD, T>(static_cast<int>(cell), d, dy, dh_n, dc_n, in, fwd, g, s);
  }
}

template void recurrent_backward<float>(Cell, const RecurrentDims&, const Tensor&, const Tensor&,
                                        const Tensor&, const RecurrentInputs&,
                                        const RecurrentOutputs&, const RecurrentGrads&, void*);
template void recurrent_backward<double>(Cell, const RecurrentDims&, const Tensor&, const Tensor&,
                                         const Tensor&, const RecurrentInputs&,
                                         const RecurrentOutputs&, const RecurrentGrads&, void*);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
