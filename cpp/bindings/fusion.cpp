// Bindings of the scale fusion; ops/fusion.py wraps them with the documented signatures.
#include "chronoscale/fusion.hpp"

#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

void bind_fusion(py::module_& m) {
  m.def(
      "scale_fusion_forward",
      [](py::handle ys, py::handle logits) {
        const Tensor Y = view(ys, "ys"), L = view(logits, "logits");
        const FusionDims d = scale_fusion_check(Y, L);
        Out y = out(Y, {d.B, d.K}), alpha = out(Y, {d.S, d.K});
        void* stream = current_stream(Y);
        {
          py::gil_scoped_release nogil;
          scale_fusion_forward(Y, L, y.t, alpha.t, stream);
        }
        return py::make_tuple(y.obj, alpha.obj);
      },
      "Low-level scale fusion forward; use chronoscale.ops.scale_fusion_forward.");

  m.def(
      "scale_fusion_backward",
      [](py::handle dy, py::handle ys, py::handle alpha) {
        const Tensor DY = view(dy, "dy"), Y = view(ys, "ys"), A = view(alpha, "alpha");
        const FusionDims d = scale_fusion_check(Y, A, "alpha");
        Out dys = out(Y, {d.S, d.B, d.K}), dlogits = out(Y, {d.S, d.K});
        void* stream = current_stream(Y);
        {
          py::gil_scoped_release nogil;
          scale_fusion_backward(DY, Y, A, dys.t, dlogits.t, stream);
        }
        return py::make_tuple(dys.obj, dlogits.obj);
      },
      "Low-level scale fusion backward; use chronoscale.ops.scale_fusion_backward.");
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
