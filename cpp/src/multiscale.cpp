// Multi-scale driver: validate every scale once, then per scale pool (cpu/pool.cpp kernels,
// straight into the cell input), run the cell through the recurrent entry points, and count the windows
// closed before each event. The backward runs the cell backward, then pools the input gradient
// back onto the events, summing over scales. CUDA inputs go to cuda/multiscale.cu after the same
// validation (the integer plans stay host arrays there too).
#include "chronoscale/multiscale.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cpu/multiscale.hpp"
#include "cpu/pool.hpp"
#include "cuda_dispatch.hpp"
#include "pool.hpp"
#include "validate.hpp"
#ifdef CHRONOSCALE_WITH_CUDA
#include "multiscale.cuh"
#endif

namespace chronoscale {
inline namespace v1 {

using namespace pool_detail;

namespace {

std::string indexed(const char* what, size_t s, const char* field = "") {
  return detail::cat(what, "[", s, "]", field);
}

void check_i64(const Tensor& t, const std::string& name, std::initializer_list<int64_t> dims,
               const char* expect) {
  check::dtype(t, DType::int64, name.c_str());
  check::shape(t, name.c_str(), dims, expect);
  CS_CHECK(t.device == Device::cpu, ValueError, name, " must be a host (NumPy) array");
}

void check_like(const Tensor& t, const Tensor& x, const std::string& name,
                std::initializer_list<int64_t> dims, const char* expect) {
  check::like_shape(t, x, name.c_str(), "x", dims, expect);
}

// W of scale s; errors are prefixed with the scale so the caller knows which one.
int64_t plan_scale(const MultiscaleInputs& in, size_t s, int64_t B, int64_t T, int64_t* ol,
                   int64_t* first) {
  const ScaleSpec& sc = in.scales[s];
  try {
    check_mode(sc.mode);
    if (sc.kind == ScaleKind::count) return count_pool_windows(sc.count, T);
    CS_CHECK(sc.kind == ScaleKind::time, ValueError, "kind must be count or time");
    check_time_window(sc.time);
  } catch (const ValueError& e) {
    throw ValueError(detail::cat(indexed("scales", s), ": ", e.what()));
  }
  CS_CHECK(in.timestamps.defined(), ValueError, "timestamps are required by the time scale ",
           indexed("scales", s), " (window ", sc.time.window, " s)");
  const int64_t* len = in.lengths.defined() ? in.lengths.ptr<int64_t>() : nullptr;
  return time_plan(sc.time, B, T, in.timestamps.ptr<int64_t>(), len, ol, first);
}

void check_weights(const MultiscaleInputs& in, size_t s, int64_t I, int64_t G, int64_t* H_out) {
  const ScaleWeights& w = in.weights[s];
  const std::string ih = indexed("weights", s, ".w_ih"), hh = indexed("weights", s, ".w_hh");
  check::defined(w.w_hh, hh.c_str());
  check::like(w.w_hh, in.x, hh.c_str(), "x");
  check::shape(w.w_hh, hh.c_str(), {-1, -1}, "[G*H, H]");
  const int64_t H = w.w_hh.shape[1];
  CS_CHECK(H > 0, ValueError, hh, ": hidden size H must be > 0");
  check::shape(w.w_hh, hh.c_str(), {G * H, H}, "[G*H, H]");
  check_like(w.w_ih, in.x, ih, {G * H, I},
             in.count_feature ? "[G*H, I] with I = C + 1 (count_feature)" : "[G*H, I] with I = C");
  for (auto [t, field] : {std::pair{&w.b_ih, ".b_ih"}, std::pair{&w.b_hh, ".b_hh"}})
    if (t->defined()) check_like(*t, in.x, indexed("weights", s, field), {G * H}, "[G*H]");
  for (auto [t, field] : {std::pair{&w.w_ih, ".w_ih"}, std::pair{&w.w_hh, ".w_hh"},
                          std::pair{&w.b_ih, ".b_ih"}, std::pair{&w.b_hh, ".b_hh"}})
    check::cuda_usable(*t, "multiscale", indexed("weights", s, field).c_str());
  *H_out = H;
}

// The per-window arrays of time scale s (pooled input, gates, output and the states the
// backward keeps, for B x W windows) within kMaxTimePoolBytes; else ValueError naming the
// sequence with the most windows (ol: windows per sequence).
void check_time_memory(const MultiscaleInputs& in, size_t s, int64_t B, int64_t T, int64_t W,
                       int64_t I, int64_t H, const std::vector<int64_t>& ol) {
  const double per_window = static_cast<double>(I + (gate_count(in.cell) + 3) * H);
  const double bytes = static_cast<double>(B) * W * per_window * dtype_size(in.x.dtype);
  if (bytes <= kMaxTimePoolBytes) return;
  const int64_t b = std::max_element(ol.begin(), ol.end()) - ol.begin();
  const int64_t L = in.lengths.defined() ? in.lengths.ptr<int64_t>()[b] : T;
  const int64_t* ts = in.timestamps.ptr<int64_t>() + b * T;
  throw ValueError(
      detail::cat(indexed("scales", s), ": the windows of ", in.scales[s].time.window,
                  " s need about ", static_cast<int64_t>(bytes / double(int64_t(1) << 30)),
                  " GiB for this call (", B, " sequences x ", W, " windows; sequence b = ", b,
                  " spans timestamps ", ts[0], " to ", ts[L > 0 ? L - 1 : 0],
                  ", an outlier timestamp?): pass max_windows, a larger window or "
                  "fewer sequences per call"));
}

}  // namespace

MultiscaleDims multiscale_check(const MultiscaleInputs& in) {
  const auto [B, T, C] = check::sequence(in.x, "x", "[B, T, C]");
  check::lengths(in.lengths, B, T);
  check::cuda_usable(in.x, "multiscale", "x");
  CS_CHECK(in.cell >= Cell::rnn_tanh && in.cell <= Cell::gru, ValueError, "cell must be one of ",
           "rnn_tanh, rnn_sigmoid, rnn_relu, lstm, gru");
  const size_t S = in.scales.size();
  CS_CHECK(S > 0, ValueError, "scales: at least one scale is required");
  CS_CHECK(in.weights.size() == S, ValueError, "weights: expected one set per scale (", S,
           " scales), got ", in.weights.size());
  if (in.timestamps.defined()) check_timestamps(in.timestamps, B, T);
  std::vector<int64_t> ol(B), first(B);
  MultiscaleDims d{B, T, C, {}};
  for (size_t s = 0; s < S; ++s) {
    const int64_t W = plan_scale(in, s, B, T, ol.data(), first.data());
    const int64_t I = C + (in.count_feature ? 1 : 0);
    int64_t H = 0;
    check_weights(in, s, I, gate_count(in.cell), &H);
    if (in.scales[s].kind == ScaleKind::time) check_time_memory(in, s, B, T, W, I, H, ol);
    d.scales.push_back({W, I, H});
  }
  return d;
}

namespace {

void check_pool_outputs(const MultiscaleInputs& in, const MultiscaleDims& d, size_t s,
                        const ScaleOutputs& o, const char* what) {
  const int64_t B = d.B, T = d.T, C = d.C, W = d.scales[s].W, I = d.scales[s].I;
  const ScaleSpec& sc = in.scales[s];
  const PoolOutputs& p = o.pool;
  check_like(p.y, in.x, indexed(what, s, ".pool.y"), {B, W, I}, "[B, W, I]");
  check_i64(p.counts, indexed(what, s, ".pool.counts"), {B, W}, "[B, W]");
  check_i64(p.out_lengths, indexed(what, s, ".pool.out_lengths"), {B}, "[B]");
  if (sc.mode == PoolMode::max) {
    const std::string name = indexed(what, s, ".pool.argmax");
    check_argmax(p.argmax, in.x, name.c_str(), B, W, C);
    check::cuda_usable(p.argmax, "multiscale", name.c_str());
  }
  check::cuda_usable(p.y, "multiscale", indexed(what, s, ".pool.y").c_str());
  if (sc.kind == ScaleKind::time) {
    check_i64(p.first_window, indexed(what, s, ".pool.first_window"), {B}, "[B]");
    check_i64(p.window_start, indexed(what, s, ".pool.window_start"), {B, W}, "[B, W]");
    check_i64(p.event_step, indexed(what, s, ".pool.event_step"), {B, T}, "[B, T]");
  }
}

[[maybe_unused]] bool on_cuda(const Tensor& x) { return x.device == Device::cuda; }

RecurrentInputs cell_inputs(const MultiscaleInputs& in, size_t s, const PoolOutputs& p) {
  const ScaleWeights& w = in.weights[s];
  return {p.y, w.w_ih, w.w_hh, w.b_ih, w.b_hh, Tensor{}, Tensor{}, p.out_lengths};
}

template <class T>
void forward_scale(const MultiscaleInputs& in, const MultiscaleDims& d, size_t s,
                   const ScaleOutputs& o, void* stream) {
  const ScaleSpec& sc = in.scales[s];
  const PoolOutputs& p = o.pool;
  const int64_t B = d.B, T_ = d.T, W = d.scales[s].W, I = d.scales[s].I;
  const cpu::PoolShape ps{B, T_, d.C, W, I};
  const int64_t* len = in.lengths.defined() ? in.lengths.ptr<int64_t>() : nullptr;
  const int64_t* ts = in.timestamps.defined() ? in.timestamps.ptr<int64_t>() : nullptr;
  int64_t* am = sc.mode == PoolMode::max ? p.argmax.ptr<int64_t>() : nullptr;
  int64_t* ol = p.out_lengths.ptr<int64_t>();
  int64_t* first = nullptr;
  if (sc.kind == ScaleKind::count) {
    cpu::count_pool_forward<T>(sc.mode, normalized(sc.count), ps, in.x.ptr<T>(), len,
                               p.y.ptr<T>(), p.counts.ptr<int64_t>(), ol, am);
  } else {
    first = p.first_window.ptr<int64_t>();
    time_plan(sc.time, B, T_, ts, len, ol, first);
    cpu::time_pool_forward<T>(sc.mode, sc.time, ps, in.x.ptr<T>(), ts, len, ol, first,
                              p.y.ptr<T>(), p.counts.ptr<int64_t>(),
                              p.window_start.ptr<int64_t>(), p.event_step.ptr<int64_t>(), am);
  }
  if (in.count_feature)
    cpu::append_count_feature<T>(B * W, I, p.counts.ptr<int64_t>(), p.y.ptr<T>());
  recurrent_forward(in.cell, cell_inputs(in, s, p), o.rnn, stream);
  cpu::closed_before(sc, B, T_, len, ts, ol, first, o.closed_before.ptr<int64_t>());
}

template <class T>
void backward_scale(const MultiscaleInputs& in, const MultiscaleDims& d, size_t s,
                    const ScaleOutputs& f, const Tensor& dy, const Tensor& dh_n,
                    const Tensor& dc_n, const ScaleGrads& g, T* dx, void* stream) {
  const ScaleSpec& sc = in.scales[s];
  const PoolOutputs& p = f.pool;
  const int64_t B = d.B, W = d.scales[s].W, I = d.scales[s].I;
  std::unique_ptr<T[]> dz(new T[B * W * I]);
  const Tensor DZ(dz.get(), in.x.dtype, {B, W, I}, in.x.device);
  recurrent_backward(in.cell, dy, dh_n, dc_n, cell_inputs(in, s, p), f.rnn,
                     {DZ, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh, Tensor{}, Tensor{}}, stream);
  const cpu::PoolShape ps{B, d.T, d.C, W, I};
  const int64_t* am = sc.mode == PoolMode::max ? p.argmax.ptr<int64_t>() : nullptr;
  if (sc.kind == ScaleKind::count)
    cpu::count_pool_backward<T>(sc.mode, normalized(sc.count), ps, dz.get(),
                                p.counts.ptr<int64_t>(), p.out_lengths.ptr<int64_t>(), am, dx,
                                true);
  else
    cpu::time_pool_backward<T>(sc.mode, ps, dz.get(), p.counts.ptr<int64_t>(),
                               p.out_lengths.ptr<int64_t>(), p.event_step.ptr<int64_t>(), am, dx,
                               true);
}

}  // namespace

void multiscale_forward(const MultiscaleInputs& in, const std::vector<ScaleOutputs>& out,
                        void* stream) {
  const MultiscaleDims d = multiscale_check(in);
  CS_CHECK(out.size() == in.scales.size(), ValueError, "out: expected one entry per scale (",
           in.scales.size(), "), got ", out.size());
  for (size_t s = 0; s < out.size(); ++s) {
    check_pool_outputs(in, d, s, out[s], "out");
    check_i64(out[s].closed_before, indexed("out", s, ".closed_before"), {d.B, d.T}, "[B, T]");
  }
  CS_DISPATCH_FLOAT(in.x.dtype, "multiscale", [&] {
#ifdef CHRONOSCALE_WITH_CUDA
    if (on_cuda(in.x)) return cuda::multiscale_forward<scalar_t>(in, d, out, stream);
#endif
    for (size_t s = 0; s < out.size(); ++s) forward_scale<scalar_t>(in, d, s, out[s], stream);
  });
}

void multiscale_backward(const MultiscaleInputs& in, const std::vector<ScaleOutputs>& fwd,
                         const std::vector<Tensor>& dy, const std::vector<Tensor>& dh_n,
                         const std::vector<Tensor>& dc_n, const Tensor& dx,
                         const std::vector<ScaleGrads>& grads, void* stream) {
  const MultiscaleDims d = multiscale_check(in);
  const size_t S = in.scales.size();
  for (auto [n, name] : {std::pair{fwd.size(), "cache"}, std::pair{dy.size(), "dys"},
                         std::pair{dh_n.size(), "dh_ns"}, std::pair{dc_n.size(), "dc_ns"},
                         std::pair{grads.size(), "grads"}})
    CS_CHECK(n == S, ValueError, name, ": expected one entry per scale (", S, "), got ", n);
  check_like(dx, in.x, "dx", {d.B, d.T, d.C}, "[B, T, C]");
  for (size_t s = 0; s < S; ++s) {
    check_pool_outputs(in, d, s, fwd[s], "cache");
    const int64_t W = d.scales[s].W, H = d.scales[s].H;
    if (dy[s].defined()) check_like(dy[s], in.x, indexed("dys", s), {d.B, W, H}, "[B, W, H]");
    if (dh_n[s].defined()) check_like(dh_n[s], in.x, indexed("dh_ns", s), {d.B, H}, "[B, H]");
    if (dc_n[s].defined()) {
      CS_CHECK(in.cell == Cell::lstm, ValueError, indexed("dc_ns", s),
               " must be None: only the LSTM has a cell state");
      check_like(dc_n[s], in.x, indexed("dc_ns", s), {d.B, H}, "[B, H]");
    }
    const ScaleSpec& sc = in.scales[s];
    if (sc.kind == ScaleKind::count)
      check_count_cache(sc.mode, normalized(sc.count), d.B, d.T, d.C, W, fwd[s].pool);
    else
      check_time_cache(sc.mode, d.B, d.T, d.C, W, fwd[s].pool);
  }
  check::cuda_usable(dx, "multiscale", "dx");
  CS_DISPATCH_FLOAT(in.x.dtype, "multiscale", [&] {
#ifdef CHRONOSCALE_WITH_CUDA
    if (on_cuda(in.x))
      return cuda::multiscale_backward<scalar_t>(in, d, fwd, dy, dh_n, dc_n, dx, grads, stream);
#endif
    scalar_t* dxp = dx.ptr<scalar_t>();
    std::memset(dxp, 0, sizeof(scalar_t) * d.B * d.T * d.C);
    for (size_t s = 0; s < S; ++s)
      backward_scale<scalar_t>(in, d, s, fwd[s], dy[s], dh_n[s], dc_n[s], grads[s], dxp, stream);
  });
}

}  // namespace v1
}  // namespace chronoscale
