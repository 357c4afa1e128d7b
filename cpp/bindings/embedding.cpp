// Bindings of the embedding; ops/embedding.py wraps them with the documented signatures.
#include "chronoscale/embedding.hpp"

#include <cstring>

#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

void bind_embedding(py::module_& m) {
  m.def(
      "embedding_forward",
      [](py::handle ids, py::handle table, py::handle lengths) {
        const Tensor I = view(ids, "ids"), W = view(table, "table"),
                     L = view(lengths, "lengths", true);
        const EmbeddingDims d = embedding_dims(I, W, L);  // the entry checks the id range
        Out y = out(W, {d.B, d.T, d.D});
        void* stream = current_stream(W);
        {
          py::gil_scoped_release nogil;
          embedding_forward(I, W, L, y.t, stream);
        }
        return y.obj;
      },
      "Low-level embedding forward; use chronoscale.ops.embedding_forward.");

  m.def(
      "embedding_backward",
      [](py::handle dy, py::handle ids, py::handle table, py::handle lengths,
         bool sparse) -> py::object {
        const Tensor DY = view(dy, "dy"), I = view(ids, "ids"), W = view(table, "table"),
                     L = view(lengths, "lengths", true);
        const EmbeddingDims d = embedding_dims(I, W, L);  // the entries check the id range
        void* stream = current_stream(W);
        if (!sparse) {
          Out dtable = out(W, {d.V, d.D});
          {
            py::gil_scoped_release nogil;
            embedding_backward_dense(DY, I, W, L, dtable.t, stream);
          }
          return dtable.obj;
        }
        if (W.device == Device::cuda) {
          // Grouped on the device: rows / grad sized by an upper bound of U, then cut to U.
          int64_t n = 0;
          for (int64_t b = 0; b < d.B; ++b) n += L.defined() ? L.ptr<int64_t>()[b] : d.T;
          n = n < d.V ? n : d.V;
          Out rows = out(W, {n}, DType::int64), grad = out(W, {n, d.D});
          int64_t U = 0;
          if (n > 0) {
            py::gil_scoped_release nogil;
            U = embedding_backward_sparse_rows(DY, I, W, L, rows.t, grad.t, stream);
          }
          const py::slice head(0, U, 1);
          return py::make_tuple(rows.obj[head], grad.obj[head]);
        }
        EmbeddingGroups g;
        {
          py::gil_scoped_release nogil;
          g = embedding_groups(I, W, L);
        }
        const auto U = static_cast<int64_t>(g.rows.size());
        py::array_t<int64_t> rows(U);
        if (U) std::memcpy(rows.mutable_data(), g.rows.data(), sizeof(int64_t) * U);
        Out grad = out(W, {U, d.D});
        {
          py::gil_scoped_release nogil;
          embedding_backward_sparse(DY, I, W, L, g, grad.t, stream);
        }
        return py::make_tuple(rows, grad.obj);
      },
      "Low-level embedding backward; use chronoscale.ops.embedding_backward.");
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
