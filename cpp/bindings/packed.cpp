// Bindings of the packed running sums; ops/packed.py wraps them with the documented signature.
#include "chronoscale/packed.hpp"

#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

void bind_packed(py::module_& m) {
  m.def(
      "packed_cumsum",
      [](py::handle x, py::handle batch_sizes, bool reverse) {
        const Tensor X = view(x, "x"), BS = view(batch_sizes, "batch_sizes");
        const PackedDims d = packed_cumsum_check(X, BS);
        Out y = out(X, {d.N, d.D});
        void* stream = current_stream(X);
        {
          py::gil_scoped_release nogil;
          packed_cumsum(X, BS, reverse, y.t, stream);
        }
        return y.obj;
      },
      "Low-level packed running sums; use chronoscale.ops.packed_cumsum.");
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
