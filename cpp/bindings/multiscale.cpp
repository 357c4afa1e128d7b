// Bindings of the multi-scale driver; ops/multiscale.py wraps them with the documented API.
// Per scale the forward returns one tuple of arrays (the state the backward takes back):
//   (out_lengths, first_window, z, counts, window_start, argmax, event_step, closed_before,
//    y, h_n, c_n, gates, hprev, aux)    (None where a scale has no such array)
// For CUDA x the float arrays and argmax are CuPy arrays; the integer plans stay NumPy.
#include "chronoscale/multiscale.hpp"

#include <pybind11/stl.h>

#include <string>
#include <tuple>

#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

namespace {

// (kind, mode, size, stride, partial, window, origin, max_windows)
using ScaleTuple = std::tuple<int, int, int64_t, int64_t, bool, int64_t, int64_t, int64_t>;

std::string at(const char* what, size_t s, const char* field) {
  return detail::cat(what, "[", s, "]", field);
}

MultiscaleInputs inputs(int cell_id, const std::vector<ScaleTuple>& scales,
                        const py::list& weights, py::handle x, py::handle timestamps,
                        py::handle lengths, bool count_feature) {
  MultiscaleInputs in;
  in.cell = static_cast<Cell>(cell_id);
  for (const auto& [kind, mode, size, stride, partial, window, origin, max_windows] : scales) {
    ScaleSpec sc;
    sc.kind = static_cast<ScaleKind>(kind);
    sc.mode = static_cast<PoolMode>(mode);
    sc.count = {size, stride, partial};
    sc.time = {window, origin, max_windows};
    in.scales.push_back(sc);
  }
  for (size_t s = 0; s < weights.size(); ++s) {
    py::tuple w = weights[s];
    CS_CHECK(w.size() == 4, ValueError, at("weights", s, ""),
             " must be (w_ih, w_hh, b_ih, b_hh)");
    in.weights.push_back({view(w[0], at("weights", s, ".w_ih").c_str()),
                          view(w[1], at("weights", s, ".w_hh").c_str()),
                          view(w[2], at("weights", s, ".b_ih").c_str(), true),
                          view(w[3], at("weights", s, ".b_hh").c_str(), true)});
  }
  in.x = view(x, "x");
  in.timestamps = view(timestamps, "timestamps", true);
  in.lengths = view(lengths, "lengths", true);
  in.count_feature = count_feature;
  return in;
}

std::vector<Tensor> optional_views(const py::list& items, const char* what) {
  std::vector<Tensor> v;
  for (size_t s = 0; s < items.size(); ++s)
    v.push_back(view(items[s], at(what, s, "").c_str(), true));
  return v;
}

}  // namespace

void bind_multiscale(py::module_& m) {
  m.def(
      "multiscale_forward",
      [](int cell_id, const std::vector<ScaleTuple>& scales, const py::list& weights,
         py::handle x, py::handle timestamps, py::handle lengths, bool count_feature) {
        const MultiscaleInputs in =
            inputs(cell_id, scales, weights, x, timestamps, lengths, count_feature);
        const MultiscaleDims d = multiscale_check(in);
        const Tensor& X = in.x;
        const int64_t B = d.B, T = d.T, C = d.C, G = gate_count(in.cell);
        std::vector<ScaleOutputs> outs(in.scales.size());
        py::list states;
        for (size_t s = 0; s < outs.size(); ++s) {
          const int64_t W = d.scales[s].W, I = d.scales[s].I, H = d.scales[s].H;
          const bool time = in.scales[s].kind == ScaleKind::time;
          const bool max = in.scales[s].mode == PoolMode::max;
          // Integer plans are host (NumPy) arrays whatever the device of x; argmax follows x.
          auto i64 = [&](std::vector<int64_t> shape, bool want = true) {
            return want ? out(Tensor{}, shape, DType::int64) : Out{};
          };
          Out ol = i64({B}), first = i64({B}, time), z = out(X, {B, W, I}),
              counts = i64({B, W}), start = i64({B, W}, time),
              am = max ? out(X, {B, W, C}, DType::int64) : Out{}, step = i64({B, T}, time),
              closed = i64({B, T});
          Out y = out(X, {B, W, H}), h_n = out(X, {B, H}),
              c_n = in.cell == Cell::lstm ? out(X, {B, H}) : Out{},
              gates = out(X, {B, W, G * H}), hprev = out(X, {B, W, H}),
              aux = in.cell == Cell::lstm || in.cell == Cell::gru ? out(X, {B, W, H}) : Out{};
          ScaleOutputs& o = outs[s];
          o.pool.y = z.t, o.pool.counts = counts.t, o.pool.out_lengths = ol.t;
          o.pool.argmax = am.t, o.pool.window_start = start.t, o.pool.first_window = first.t;
          o.pool.event_step = step.t;
          o.rnn = {y.t, h_n.t, c_n.t, {gates.t, hprev.t, aux.t}};
          o.closed_before = closed.t;
          states.append(py::make_tuple(ol.obj, obj_or_none(first), z.obj, counts.obj,
                                       obj_or_none(start), obj_or_none(am), obj_or_none(step),
                                       closed.obj, y.obj, h_n.obj, obj_or_none(c_n), gates.obj,
                                       hprev.obj, obj_or_none(aux)));
        }
        void* stream = current_stream(X);
        {
          py::gil_scoped_release nogil;
          multiscale_forward(in, outs, stream);
        }
        return states;
      },
      "Low-level multi-scale forward; use chronoscale.ops.multiscale_forward.");

  m.def(
      "multiscale_backward",
      [](int cell_id, const std::vector<ScaleTuple>& scales, const py::list& weights,
         py::handle x, py::handle timestamps, py::handle lengths, bool count_feature,
         const py::list& states, const py::list& dys, const py::list& dh_ns,
         const py::list& dc_ns) {
        const MultiscaleInputs in =
            inputs(cell_id, scales, weights, x, timestamps, lengths, count_feature);
        const MultiscaleDims d = multiscale_check(in);
        CS_CHECK(states.size() == in.scales.size(), ValueError,
                 "cache: expected one state per scale");
        std::vector<ScaleOutputs> fwd(states.size());
        for (size_t s = 0; s < fwd.size(); ++s) {
          py::tuple st = states[s];
          CS_CHECK(st.size() == 14, ValueError, "cache: malformed state of scale ", s);
          auto v = [&](int i, const char* name) {
            return view(st[i], at("cache", s, name).c_str(), true);
          };
          PoolOutputs& p = fwd[s].pool;
          p.out_lengths = v(0, ".out_lengths"), p.first_window = v(1, ".first_window");
          p.y = v(2, ".z"), p.counts = v(3, ".counts"), p.window_start = v(4, ".window_start");
          p.argmax = v(5, ".argmax"), p.event_step = v(6, ".event_step");
          fwd[s].rnn.cache = {v(11, ".gates"), v(12, ".hprev"), v(13, ".aux")};
        }
        const Tensor& X = in.x;
        Out dx = out(X, {d.B, d.T, d.C});
        std::vector<ScaleGrads> grads;
        py::list wgrads;
        for (size_t s = 0; s < d.scales.size(); ++s) {
          const int64_t I = d.scales[s].I, H = d.scales[s].H, GH = gate_count(in.cell) * H;
          Out dw_ih = out(X, {GH, I}), dw_hh = out(X, {GH, H});
          Out db_ih = in.weights[s].b_ih.defined() ? out(X, {GH}) : Out{};
          Out db_hh = in.weights[s].b_hh.defined() ? out(X, {GH}) : Out{};
          grads.push_back({dw_ih.t, dw_hh.t, db_ih.t, db_hh.t});
          wgrads.append(
              py::make_tuple(dw_ih.obj, dw_hh.obj, obj_or_none(db_ih), obj_or_none(db_hh)));
        }
        const std::vector<Tensor> DY = optional_views(dys, "dys"),
                                  DH = optional_views(dh_ns, "dh_ns"),
                                  DC = optional_views(dc_ns, "dc_ns");
        void* stream = current_stream(X);
        {
          py::gil_scoped_release nogil;
          multiscale_backward(in, fwd, DY, DH, DC, dx.t, grads, stream);
        }
        return py::make_tuple(dx.obj, wgrads);
      },
      "Low-level multi-scale backward; use chronoscale.ops.multiscale_backward.");
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
