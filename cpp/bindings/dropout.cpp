// Bindings of dropout; ops/dropout.py wraps them with the documented signatures.
#include "chronoscale/dropout.hpp"

#include <vector>

#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

namespace {

std::vector<int64_t> shape_of(const Tensor& t) { return {t.shape, t.shape + t.ndim}; }

}  // namespace

void bind_dropout(py::module_& m) {
  m.def(
      "dropout_forward",
      [](py::handle x, double p, uint64_t seed) {
        const Tensor X = view(x, "x");
        dropout_check(X, "x");
        dropout_check_p(p);
        Out y = out(X, shape_of(X));
        void* stream = current_stream(X);
        {
          py::gil_scoped_release nogil;
          dropout_forward(X, p, seed, y.t, stream);
        }
        return y.obj;
      },
      "Low-level dropout forward; use chronoscale.ops.dropout_forward.");

  m.def(
      "dropout_backward",
      [](py::handle dy, double p, uint64_t seed) {
        const Tensor DY = view(dy, "dy");
        dropout_check(DY, "dy");
        dropout_check_p(p);
        Out dx = out(DY, shape_of(DY));
        void* stream = current_stream(DY);
        {
          py::gil_scoped_release nogil;
          dropout_backward(DY, p, seed, dx.t, stream);
        }
        return dx.obj;
      },
      "Low-level dropout backward; use chronoscale.ops.dropout_backward.");

  m.def(
      "dropout_mask",
      [](py::handle mask, double p, uint64_t seed) {
        const Tensor M = view(mask, "mask");
        void* stream = current_stream(M);
        py::gil_scoped_release nogil;
        dropout_mask(p, seed, M, stream);
      },
      "Fill `mask` with the dropout factors of (p, seed); use DropoutCache.mask.");
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
