// Bindings of dropout; ops/dropout.py wraps them with the documented signatures.
#include "chronoscale/dropout.hpp"

#include <vector>

#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

namespace {

std::vector<int64_t> shape_of(const Tensor& t) { return {t.shape, t.shape + t.ndim}; }

// `given` as the output (its shape and dtype are checked by the core call; it may be the input
// itself), or a new array like `like`.
Out given_or_new(py::handle given, const Tensor& like, const char* name) {
  if (given.is_none()) return out(like, shape_of(like));
  return {py::reinterpret_borrow<py::object>(given), view_writable(given, name)};
}

}  // namespace

void bind_dropout(py::module_& m) {
  m.def(
      "dropout_forward",
      [](py::handle x, double p, uint64_t seed, py::handle out_arr) {
        const Tensor X = view(x, "x");
        dropout_check(X, "x");
        dropout_check_p(p);
        Out y = given_or_new(out_arr, X, "out");
        void* stream = current_stream(X);
        {
          py::gil_scoped_release nogil;
          dropout_forward(X, p, seed, y.t, stream);
        }
        return y.obj;
      },
      py::arg("x"), py::arg("p"), py::arg("seed"), py::arg("out") = py::none(),
      "Low-level dropout forward; use chronoscale.ops.dropout_forward.");

  m.def(
      "dropout_backward",
      [](py::handle dy, double p, uint64_t seed, py::handle out_arr) {
        const Tensor DY = view(dy, "dy");
        dropout_check(DY, "dy");
        dropout_check_p(p);
        Out dx = given_or_new(out_arr, DY, "out");
        void* stream = current_stream(DY);
        {
          py::gil_scoped_release nogil;
          dropout_backward(DY, p, seed, dx.t, stream);
        }
        return dx.obj;
      },
      py::arg("dy"), py::arg("p"), py::arg("seed"), py::arg("out") = py::none(),
      "Low-level dropout backward; use chronoscale.ops.dropout_backward.");

  m.def(
      "dropout_mask",
      [](py::handle mask, double p, uint64_t seed) {
        const Tensor M = view_writable(mask, "mask");
        void* stream = current_stream(M);
        py::gil_scoped_release nogil;
        dropout_mask(p, seed, M, stream);
      },
      "Fill `mask` with the dropout factors of (p, seed); use DropoutCache.mask.");
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
