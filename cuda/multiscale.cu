// CUDA multi-scale driver (see multiscale.cuh): host plans, one upload, then per scale the
// pooling kernels of pool.cu, and the CUDA cells of recurrent_forward.cu (every scale's
// recurrence in one fused launch where the plans allow) / recurrent_backward.cu, all on one
// stream.
#include <cuda_runtime.h>

#include <vector>

#include "../cpp/src/cpu/multiscale.hpp"
#include "../cpp/src/pool.hpp"
#include "cuda_check.hpp"
#include "device_buffer.cuh"
#include "host_upload.cuh"
#include "multiscale.cuh"
#include "pool.cuh"
#include "recurrent.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

namespace {

using pool_detail::normalized;

const int64_t* host_or_null(const Tensor& t) {
  return t.defined() ? t.ptr<int64_t>() : nullptr;
}

RecurrentInputs cell_inputs(const MultiscaleInputs& in, size_t s, const PoolOutputs& p) {
  const ScaleWeights& w = in.weights[s];
  return {p.y, w.w_ih, w.w_hh, w.b_ih, w.b_hh, Tensor{}, Tensor{}, p.out_lengths};
}

}  // namespace

template <class T>
void multiscale_forward(const MultiscaleInputs& in, const MultiscaleDims& d,
                        const std::vector<ScaleOutputs>& out, void* stream) {
  const int64_t B = d.B, T_ = d.T, C = d.C;
  const int64_t *len = host_or_null(in.lengths), *ts = host_or_null(in.timestamps);
  const size_t S = out.size();
  // Host plans of every scale, then one upload of their counts and window starts.
  HostUpload up;
  std::vector<int64_t> off_counts(S), off_first(S, -1);
  for (size_t s = 0; s < S; ++s) {
    const ScaleSpec& sc = in.scales[s];
    const PoolOutputs& p = out[s].pool;
    const int64_t W = d.scales[s].W;
    int64_t *ol = p.out_lengths.ptr<int64_t>(), *counts = p.counts.ptr<int64_t>();
    int64_t* first = nullptr;
    if (sc.kind == ScaleKind::count) {
      pool_detail::count_plan(normalized(sc.count), B, T_, W, len, ol, counts);
      off_counts[s] = up.add(counts, B * W);
    } else {
      first = p.first_window.ptr<int64_t>();
      pool_detail::time_plan(sc.time, B, T_, ts, len, ol, first);
      std::vector<int64_t> first_event(B * W);
      pool_detail::time_index(sc.time, B, T_, W, ts, len, ol, first, counts,
                              p.window_start.ptr<int64_t>(), p.event_step.ptr<int64_t>(),
                              first_event.data());
      off_counts[s] = up.add(counts, B * W);
      off_first[s] = up.add(first_event.data(), B * W);
    }
    cpu::closed_before(sc, B, T_, len, ts, ol, first, out[s].closed_before.ptr<int64_t>());
  }
  up.upload(static_cast<cudaStream_t>(stream));
  std::vector<RecurrentDims> dims;
  std::vector<RecurrentInputs> cells;
  std::vector<RecurrentOutputs> outs;
  for (size_t s = 0; s < S; ++s) {
    const ScaleSpec& sc = in.scales[s];
    const PoolOutputs& p = out[s].pool;
    const int64_t W = d.scales[s].W, I = d.scales[s].I;
    const int64_t stride = sc.kind == ScaleKind::count ? normalized(sc.count).stride : 0;
    launch_pool_forward<T>(sc.mode, {B, T_, C, W, I}, in.x.ptr<T>(), up.at(off_counts[s]),
                           off_first[s] >= 0 ? up.at(off_first[s]) : nullptr, stride,
                           p.y.ptr<T>(),
                           sc.mode == PoolMode::max ? p.argmax.ptr<int64_t>() : nullptr,
                           in.count_feature, stream);
    cells.push_back(cell_inputs(in, s, p));
    outs.push_back(out[s].rnn);
    dims.push_back(recurrent_forward_check(in.cell, cells.back(), outs.back()));
  }
  // Every scale's cell: the input projections, then one fused launch where the plans allow.
  recurrent_forward_many<T>(in.cell, dims, cells, outs, stream);
}

template <class T>
void multiscale_backward(const MultiscaleInputs& in, const MultiscaleDims& d,
                         const std::vector<ScaleOutputs>& fwd, const std::vector<Tensor>& dy,
                         const std::vector<Tensor>& dh_n, const std::vector<Tensor>& dc_n,
                         const Tensor& dx, const std::vector<ScaleGrads>& grads, void* stream) {
  const auto s_ = static_cast<cudaStream_t>(stream);
  const int64_t B = d.B, T_ = d.T, C = d.C;
  const size_t S = fwd.size();
  HostUpload up;
  std::vector<int64_t> off_counts(S), off_step(S, -1);
  for (size_t s = 0; s < S; ++s) {
    const PoolOutputs& p = fwd[s].pool;
    off_counts[s] = up.add(p.counts.ptr<int64_t>(), B * d.scales[s].W);
    if (in.scales[s].kind == ScaleKind::time)
      off_step[s] = up.add(p.event_step.ptr<int64_t>(), B * T_);
  }
  up.upload(s_);
  CS_CUDA_CHECK(cudaMemsetAsync(dx.data, 0, sizeof(T) * B * T_ * C, s_));
  // Every scale's cell backward into its dz (the persistent kernels in one fused launch where
  // the plans allow), then each scale's pooling backward adds dz onto dx.
  std::vector<DeviceBuffer<T>> dz;
  RecurrentBackwardMany w;
  for (size_t s = 0; s < S; ++s) {
    const int64_t W = d.scales[s].W, I = d.scales[s].I;
    dz.emplace_back(B * W * I, s_);
    const ScaleGrads& g = grads[s];
    w.in.push_back(cell_inputs(in, s, fwd[s].pool));
    w.dy.push_back(dy[s]);
    w.dh_n.push_back(dh_n[s]);
    w.dc_n.push_back(dc_n[s]);
    w.fwd.push_back(fwd[s].rnn);
    w.grads.push_back({Tensor(dz.back().get(), in.x.dtype, {B, W, I}, Device::cuda), g.dw_ih,
                       g.dw_hh, g.db_ih, g.db_hh, Tensor{}, Tensor{}});
    w.dims.push_back(recurrent_backward_check(in.cell, dy[s], dh_n[s], dc_n[s], w.in.back(),
                                              w.fwd.back(), w.grads.back()));
  }
  recurrent_backward_many<T>(in.cell, w, stream);
  for (size_t s = 0; s < S; ++s) {
    const ScaleSpec& sc = in.scales[s];
    const PoolOutputs& p = fwd[s].pool;
    const int64_t W = d.scales[s].W, I = d.scales[s].I;
    const PoolShape ps{B, T_, C, W, I};
    const int64_t* am = sc.mode == PoolMode::max ? p.argmax.ptr<int64_t>() : nullptr;
    if (sc.kind == ScaleKind::count) {
      const CountWindow win = normalized(sc.count);
      launch_count_pool_backward<T>(sc.mode, win.size, win.stride, ps, dz[s].get(),
                                    up.at(off_counts[s]), am, dx.ptr<T>(), true, stream);
    } else {
      launch_time_pool_backward<T>(sc.mode, ps, dz[s].get(), up.at(off_counts[s]),
                                   up.at(off_step[s]), am, dx.ptr<T>(), true, stream);
    }
  }
}

#define CS_INSTANTIATE_CUDA_MULTISCALE(T)                                                      \
  template void multiscale_forward<T>(const MultiscaleInputs&, const MultiscaleDims&,          \
                                      const std::vector<ScaleOutputs>&, void*);                \
  template void multiscale_backward<T>(                                                        \
      const MultiscaleInputs&, const MultiscaleDims&, const std::vector<ScaleOutputs>&,        \
      const std::vector<Tensor>&, const std::vector<Tensor>&, const std::vector<Tensor>&,      \
      const Tensor&, const std::vector<ScaleGrads>&, void*);
CS_INSTANTIATE_CUDA_MULTISCALE(float)
CS_INSTANTIATE_CUDA_MULTISCALE(double)
#undef CS_INSTANTIATE_CUDA_MULTISCALE

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
