// Bindings of the row gather / scatter; ops/rows.py wraps them with the documented signatures.
#include "chronoscale/rows.hpp"

#include "chronoscale/error.hpp"
#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

namespace {

// `given` as the output (its view), or a new array of `shape` on the device of `like`.
Out output(py::handle given, const Tensor& like, const std::vector<int64_t>& shape, bool zero) {
  if (!given.is_none())
    return {py::reinterpret_borrow<py::object>(given), view_writable(given, "out")};
  return out(like, shape, like.dtype, zero);
}

}  // namespace

void bind_rows(py::module_& m) {
  m.def(
      "gather_rows",
      [](py::handle src, py::handle index, py::handle out_arr, int64_t col) {
        const Tensor S = view(src, "src"), I = view(index, "index");
        if (out_arr.is_none()) gather_rows_check(S, I, Tensor{}, col);
        Out o = output(out_arr, S, {I.shape[0], S.shape[1]}, false);  // checked by gather_rows
        void* stream = current_stream(S);
        {
          py::gil_scoped_release nogil;
          gather_rows(S, I, o.t, col, stream);
        }
        return o.obj;
      },
      "Low-level row gather; use chronoscale.ops.gather_rows.");

  m.def(
      "scatter_rows",
      [](py::handle g, py::handle index, py::handle out_arr, int64_t size, int64_t col,
         int64_t width) {
        const Tensor G = view(g, "g"), I = view(index, "index");
        if (out_arr.is_none()) {
          scatter_rows_check(G, I, Tensor{}, col);
          CS_CHECK(size >= 0, ValueError, "size must be >= 0, got ", size);
          CS_CHECK(width >= 0, ValueError, "width must be >= 0, got ", width);
        }
        Out o = output(out_arr, G, {size, width}, true);  // checked by scatter_rows
        void* stream = current_stream(G);
        {
          py::gil_scoped_release nogil;
          scatter_rows(G, I, o.t, col, stream);
        }
        return o.obj;
      },
      "Low-level row scatter-add; use chronoscale.ops.scatter_rows.");

  m.def(
      "window_rows",
      [](py::handle b, py::handle t, int64_t B, int64_t T, int64_t W, py::handle lengths,
         py::handle out_lengths, int64_t size, int64_t stride, py::handle closed) {
        WindowRowsArgs a{view(b, "b"),
                         view(t, "t"),
                         view(lengths, "lengths", true),
                         view(out_lengths, "out_lengths", true),
                         view(closed, "closed", true),
                         B,
                         T,
                         W,
                         size,
                         stride};
        const int64_t N = window_rows_check(a);
        Out rows = out(a.b, {N}, DType::int64);
        void* stream = current_stream(a.b);
        {
          py::gil_scoped_release nogil;
          window_rows(a, rows.t, stream);
        }
        return rows.obj;
      },
      "Low-level window rows; use chronoscale.ops.window_rows.");
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
