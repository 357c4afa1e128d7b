// Bindings of conv1d; ops/conv1d.py wraps them with the documented signatures.
#include "chronoscale/conv1d.hpp"

#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

namespace {

Conv1dInputs inputs(py::handle x, py::handle w, py::handle b, py::handle lengths, bool relu) {
  return {view(x, "x"), view(w, "w"), view(b, "b", true), view(lengths, "lengths", true), relu};
}

}  // namespace

void bind_conv1d(py::module_& m) {
  m.def(
      "conv1d_forward",
      [](py::handle x, py::handle w, py::handle b, py::handle lengths, bool relu) {
        const Conv1dInputs in = inputs(x, w, b, lengths, relu);
        const Conv1dDims d = conv1d_check(in);
        Out y = out(in.x, {d.B, d.To, d.Cout});
        py::array_t<int64_t> out_lengths(d.B);
        const Tensor ol(out_lengths.mutable_data(), DType::int64, {d.B});
        void* stream = current_stream(in.x);
        {
          py::gil_scoped_release nogil;
          conv1d_forward(in, y.t, ol, stream);
        }
        return py::make_tuple(y.obj, out_lengths);
      },
      "Low-level conv1d forward; use chronoscale.ops.conv1d_forward.");

  m.def(
      "conv1d_backward",
      [](py::handle dy, py::handle x, py::handle w, py::handle b, py::handle lengths, bool relu,
         py::handle y, bool input_grad) {
        const Conv1dInputs in = inputs(x, w, b, lengths, relu);
        const Conv1dDims d = conv1d_check(in);
        const Tensor DY = view(dy, "dy"), Y = view(y, "y", true);
        Out dx = input_grad ? out(in.x, {d.B, d.T, d.Cin}) : Out{},
            dw = out(in.x, {d.Cout, d.Cin, d.K}), db = out(in.x, {d.Cout});
        void* stream = current_stream(in.x);
        {
          py::gil_scoped_release nogil;
          conv1d_backward(DY, in, Y, dx.t, dw.t, db.t, stream);
        }
        return py::make_tuple(obj_or_none(dx), dw.obj, db.obj);
      },
      "Low-level conv1d backward; use chronoscale.ops.conv1d_backward.");
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
