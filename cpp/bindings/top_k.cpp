// Binding of the top-k op; ops/top_k.py wraps it with the documented signature.
#include "chronoscale/top_k.hpp"

#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

void bind_top_k(py::module_& m) {
  m.def(
      "top_k",
      [](py::handle scores, int64_t k) {
        const Tensor S = view(scores, "scores");
        const TopKDims d = top_k_check(S, k);
        Out ids = out(S, {d.N, d.k}, DType::int64), values = out(S, {d.N, d.k});
        void* stream = current_stream(S);
        {
          py::gil_scoped_release nogil;
          top_k(S, k, ids.t, values.t, stream);
        }
        return py::make_tuple(ids.obj, values.obj);
      },
      "Low-level top-k per row; use chronoscale.ops.top_k.");
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
