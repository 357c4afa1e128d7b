// Bindings of the cosine features; ops/cosine.py wraps them with the documented signatures.
#include "chronoscale/cosine.hpp"

#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

void bind_cosine(py::module_& m) {
  m.def(
      "cosine_lag_forward",
      [](py::handle x, int64_t lag, py::handle lengths, double eps) {
        CosineInputs in{view(x, "x"), Tensor{}, view(lengths, "lengths", true), lag, eps};
        const CosineDims d = cosine_lag_check(in);
        Out y = out(in.x, {d.B, d.T}), xnorm = out(in.x, {d.B, d.T});
        void* stream = current_stream(in.x);
        {
          py::gil_scoped_release nogil;
          cosine_lag_forward(in, {y.t, xnorm.t, Tensor{}}, stream);
        }
        return py::make_tuple(y.obj, xnorm.obj);
      },
      "Low-level cosine_lag forward; use chronoscale.ops.cosine_lag_forward.");

  m.def(
      "cosine_lag_backward",
      [](py::handle dy, py::handle x, int64_t lag, py::handle lengths, double eps, py::handle y,
         py::handle xnorm) {
        CosineInputs in{view(x, "x"), Tensor{}, view(lengths, "lengths", true), lag, eps};
        const CosineDims d = cosine_lag_check(in);
        const CosineCache fwd{view(y, "cache.y"), view(xnorm, "cache.xnorm"), Tensor{}};
        const Tensor DY = view(dy, "dy");
        Out dx = out(in.x, {d.B, d.T, d.D});
        void* stream = current_stream(in.x);
        {
          py::gil_scoped_release nogil;
          cosine_lag_backward(DY, in, fwd, dx.t, stream);
        }
        return dx.obj;
      },
      "Low-level cosine_lag backward; use chronoscale.ops.cosine_lag_backward.");

  m.def(
      "cosine_query_forward",
      [](py::handle q, py::handle x, py::handle lengths, double eps) {
        CosineInputs in{view(x, "x"), view(q, "q"), view(lengths, "lengths", true), 1, eps};
        const CosineDims d = cosine_query_check(in);
        Out y = out(in.x, {d.B, d.T}), xnorm = out(in.x, {d.B, d.T}), qnorm = out(in.x, {d.B});
        void* stream = current_stream(in.x);
        {
          py::gil_scoped_release nogil;
          cosine_query_forward(in, {y.t, xnorm.t, qnorm.t}, stream);
        }
        return py::make_tuple(y.obj, xnorm.obj, qnorm.obj);
      },
      "Low-level cosine_query forward; use chronoscale.ops.cosine_query_forward.");

  m.def(
      "cosine_query_backward",
      [](py::handle dy, py::handle q, py::handle x, py::handle lengths, double eps, py::handle y,
         py::handle xnorm, py::handle qnorm) {
        CosineInputs in{view(x, "x"), view(q, "q"), view(lengths, "lengths", true), 1, eps};
        const CosineDims d = cosine_query_check(in);
        const CosineCache fwd{view(y, "cache.y"), view(xnorm, "cache.xnorm"),
                              view(qnorm, "cache.qnorm")};
        const Tensor DY = view(dy, "dy");
        Out dq = out(in.x, {d.B, d.D}), dx = out(in.x, {d.B, d.T, d.D});
        void* stream = current_stream(in.x);
        {
          py::gil_scoped_release nogil;
          cosine_query_backward(DY, in, fwd, dq.t, dx.t, stream);
        }
        return py::make_tuple(dq.obj, dx.obj);
      },
      "Low-level cosine_query backward; use chronoscale.ops.cosine_query_backward.");
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
