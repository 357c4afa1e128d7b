// Bindings of the recurrent cells; ops/recurrent.py wraps them with the documented signatures.
#include "chronoscale/recurrent.hpp"

#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

namespace {

RecurrentInputs inputs(py::handle x, py::handle w_ih, py::handle w_hh, py::handle b_ih,
                       py::handle b_hh, py::handle h0, py::handle c0, py::handle lengths) {
  return {view(x, "x"),          view(w_ih, "w_ih"),       view(w_hh, "w_hh"),
          view(b_ih, "b_ih", 1), view(b_hh, "b_hh", 1),    view(h0, "h0", 1),
          view(c0, "c0", 1),     view(lengths, "lengths", 1)};
}

bool has_aux(Cell c) { return c == Cell::lstm || c == Cell::gru; }

}  // namespace

void bind_recurrent(py::module_& m) {
  m.def(
      "recurrent_forward",
      [](int cell_id, py::handle x, py::handle w_ih, py::handle w_hh, py::handle b_ih,
         py::handle b_hh, py::handle h0, py::handle c0, py::handle lengths) {
        const Cell cell = static_cast<Cell>(cell_id);
        const RecurrentInputs in = inputs(x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths);
        const RecurrentDims d = recurrent_check(cell, in);
        const Tensor& X = in.x;
        Out y = out(X, {d.B, d.T, d.H}), h_n = out(X, {d.B, d.H});
        Out c_n = cell == Cell::lstm ? out(X, {d.B, d.H}) : Out{};
        Out gates = out(X, {d.B, d.T, d.G * d.H}), hprev = out(X, {d.B, d.T, d.H});
        Out aux = has_aux(cell) ? out(X, {d.B, d.T, d.H}) : Out{};
        RecurrentOutputs o{y.t, h_n.t, c_n.t, {gates.t, hprev.t, aux.t}};
        void* stream = current_stream(X);
        {
          py::gil_scoped_release nogil;
          recurrent_forward(cell, in, o, stream);
        }
        return py::make_tuple(y.obj, h_n.obj, obj_or_none(c_n), gates.obj, hprev.obj,
                              obj_or_none(aux));
      },
      "Low-level recurrent forward; use chronoscale.ops.{rnn,lstm,gru}_forward.");

  m.def(
      "recurrent_backward",
      [](int cell_id, py::handle dy, py::handle dh_n, py::handle dc_n, py::handle x,
         py::handle w_ih, py::handle w_hh, py::handle b_ih, py::handle b_hh, py::handle h0,
         py::handle c0, py::handle lengths, py::handle gates, py::handle hprev, py::handle aux) {
        const Cell cell = static_cast<Cell>(cell_id);
        const RecurrentInputs in = inputs(x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths);
        const RecurrentDims d = recurrent_check(cell, in);
        RecurrentOutputs fwd;
        fwd.cache = {view(gates, "cache.gates"), view(hprev, "cache.hprev"),
                     view(aux, "cache.aux", true)};
        const Tensor& X = in.x;
        Out dx = out(X, {d.B, d.T, d.I}), dw_ih = out(X, {d.G * d.H, d.I}),
            dw_hh = out(X, {d.G * d.H, d.H}), db_ih = out(X, {d.G * d.H}),
            db_hh = out(X, {d.G * d.H}), dh0 = out(X, {d.B, d.H});
        Out dc0 = cell == Cell::lstm ? out(X, {d.B, d.H}) : Out{};
        RecurrentGrads g{dx.t, dw_ih.t, dw_hh.t, db_ih.t, db_hh.t, dh0.t, dc0.t};
        const Tensor DY = view(dy, "dy", true), DH = view(dh_n, "dh_n", true),
                     DC = view(dc_n, "dc_n", true);
        void* stream = current_stream(X);
        {
          py::gil_scoped_release nogil;
          recurrent_backward(cell, DY, DH, DC, in, fwd, g, stream);
        }
        return py::make_tuple(dx.obj, dw_ih.obj, dw_hh.obj, db_ih.obj, db_hh.obj, dh0.obj,
                              obj_or_none(dc0));
      },
      "Low-level recurrent backward; use chronoscale.ops.{rnn,lstm,gru}_backward.");
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
