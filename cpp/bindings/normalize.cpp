// Bindings of the row normalisation; ops/normalize.py wraps them with the documented signatures.
#include "chronoscale/normalize.hpp"

#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

void bind_normalize(py::module_& m) {
  m.def(
      "normalize_forward",
      [](py::handle x, double eps) {
        const Tensor X = view(x, "x");
        const NormalizeDims d = normalize_check(X, eps);
        Out y = out(X, {d.N, d.D}), norm = out(X, {d.N});
        void* stream = current_stream(X);
        {
          py::gil_scoped_release nogil;
          normalize_forward(X, eps, y.t, norm.t, stream);
        }
        return py::make_tuple(y.obj, norm.obj);
      },
      "Low-level row normalisation; use chronoscale.ops.normalize_forward.");

  m.def(
      "normalize_backward",
      [](py::handle dy, py::handle y, py::handle norm, double eps) {
        const Tensor DY = view(dy, "dy"), Y = view(y, "y"), NORM = view(norm, "norm");
        const NormalizeDims d = normalize_check(Y, eps, "y");
        Out dx = out(Y, {d.N, d.D});
        void* stream = current_stream(Y);
        {
          py::gil_scoped_release nogil;
          normalize_backward(DY, Y, NORM, eps, dx.t, stream);
        }
        return dx.obj;
      },
      "Low-level row normalisation backward; use chronoscale.ops.normalize_backward.");
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
