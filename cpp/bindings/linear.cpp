// Bindings of the dense layer; ops/linear.py wraps them with the documented signatures.
#include "chronoscale/linear.hpp"

#include <string>
#include <vector>

#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

namespace {

std::vector<int64_t> with_last(const Tensor& x, int64_t last) {
  std::vector<int64_t> s(x.shape, x.shape + x.ndim);
  s.back() = last;
  return s;
}

}  // namespace

void bind_linear(py::module_& m) {
  m.def(
      "linear_forward",
      [](py::handle x, py::handle w, py::handle b, const std::string& activation) {
        const Activation act = parse_activation(activation);
        const Tensor X = view(x, "x"), W = view(w, "w"), Bi = view(b, "b", true);
        const LinearDims d = linear_check(X, W, Bi);
        Out y = out(X, with_last(X, d.O));
        void* stream = current_stream(X);
        {
          py::gil_scoped_release nogil;
          linear_forward(X, W, Bi, act, y.t, stream);
        }
        return y.obj;
      },
      "Low-level dense forward; use chronoscale.ops.linear_forward.");

  m.def(
      "linear_backward",
      [](py::handle dy, py::handle x, py::handle w, py::handle y, const std::string& activation) {
        const Activation act = parse_activation(activation);
        const Tensor X = view(x, "x"), W = view(w, "w");
        const LinearDims d = linear_check(X, W, Tensor{});
        const Tensor DY = view(dy, "dy"), Y = view(y, "y", true);
        Out dx = out(X, with_last(X, d.I)), dw = out(X, {d.O, d.I}), db = out(X, {d.O});
        void* stream = current_stream(X);
        {
          py::gil_scoped_release nogil;
          linear_backward(DY, X, W, Y, act, dx.t, dw.t, db.t, stream);
        }
        return py::make_tuple(dx.obj, dw.obj, db.obj);
      },
      "Low-level dense backward; use chronoscale.ops.linear_backward.");
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
