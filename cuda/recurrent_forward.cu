// Forward pass of the CUDA recurrent cells: gates = x W_ih^T for all steps (one GEMM), then the
// persistent kernel (biases, W_hh h, activations, state update and every write, fused).
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>

#include "cuda_check.hpp"
#include "cuda_lengths.cuh"
#include "device_props.cuh"
#include "gemm.cuh"
#include "recurrent.cuh"
#include "recurrent_plan.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

namespace {

template <class CellD, class T>
const void* forward_kernel(int rb) {
  switch (rb) {
    case 1: return reinterpret_cast<const void*>(&recurrent_forward_kernel<CellD, T, 1>);
    case 2: return reinterpret_cast<const void*>(&recurrent_forward_kernel<CellD, T, 2>);
    case 4: return reinterpret_cast<const void*>(&recurrent_forward_kernel<CellD, T, 4>);
    default: return reinterpret_cast<const void*>(&recurrent_forward_kernel<CellD, T, 8>);
  }
}

template <class CellD, class T>
void forward_cell(int act, const RecurrentDims& d, const RecurrentInputs& in,
                  const RecurrentOutputs& out, cudaStream_t s) {
  constexpr int G = CellD::G;
  CS_CHECK(d.T <= INT_MAX && d.H <= INT_MAX / 4, ValueError,
           "recurrent CUDA kernel: T and 4H must fit in 32 bits");
  const int64_t GH = G * d.H;
  const DeviceProps props = current_device_props();
  gemm<T>(s, false, true, d.B * d.T, GH, d.I, in.x.ptr<T>(), d.I, in.w_ih.ptr<T>(), d.I,
          out.cache.gates.ptr<T>(), GH);

  const DeviceLengths len(in.lengths, d.B, s);
  auto opt = [](const Tensor& t) { return t.defined() ? t.ptr<T>() : nullptr; };
  const FwdArgs<T> a{in.w_hh.ptr<T>(),
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
  const RecProblem prob{false, G, static_cast<int>(sizeof(T)), d.B, static_cast<int>(d.H)};
  RecPlan plan = plan_for(prob, props, forward_kernel<CellD, T>);
  RecTile tile = plan.tile;
  void* const func = const_cast<void*>(forward_kernel<CellD, T>(plan.rb));
  if (plan.tile.mode != kModeStep) {  // every step in one launch
    int t0 = 0, t1 = a.t_loop, tail = 1;
    void* args[] = {const_cast<FwdArgs<T>*>(&a), &tile, &t0, &t1, &tail};
    if (launch_recurrent(func, plan, args, s)) return;
    plan = stepwise_plan(plan);  // the cooperative launch was refused
    tile = plan.tile;
  }
  for (int t = 0; t < a.t_loop; ++t) {  // one launch per step; stream order is the barrier
    int t0 = t, t1 = t + 1, tail = t + 1 == a.t_loop ? 1 : 0;
    void* args[] = {const_cast<FwdArgs<T>*>(&a), &tile, &t0, &t1, &tail};
    launch_recurrent(func, plan, args, s);
  }
}

}  // namespace

template <class T>
void recurrent_forward(Cell cell, const RecurrentDims& d, const RecurrentInputs& in,
                       const RecurrentOutputs& out, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  switch (cell) {
    case Cell::lstm: return forward_cell<LstmCellD, T>(0, d, in, out, s);
    case Cell::gru: return forward_cell<GruCellD, T>(0, d, in, out, s);
    default: return forward_cell<RnnCellD, T>(static_cast<int>(cell), d, in, out, s);
  }
}

template void recurrent_forward<float>(Cell, const RecurrentDims&, const RecurrentInputs&,
                                       const RecurrentOutputs&, void*);
template void recurrent_forward<double>(Cell, const RecurrentDims&, const RecurrentInputs&,
                                        const RecurrentOutputs&, void*);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
