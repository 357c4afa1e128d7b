// Device-neutral entry points of the row gather / scatter: validate once, then dispatch on
// device and dtype.
#include "chronoscale/rows.hpp"

#include <limits>

#include "cpu/rows.hpp"
#include "cuda_dispatch.hpp"
#include "validate.hpp"
#ifdef CHRONOSCALE_WITH_CUDA
#include "rows.cuh"
#endif

namespace chronoscale {
inline namespace v1 {

namespace {

// `in` is the input (src [M, H] of a gather, g [N, W] of a scatter), `out` the output (the other
// shape; absent: only the inputs are checked, before a new output is allocated).
RowsDims check_rows(const Tensor& in, const Tensor& out, const Tensor& index, int64_t col,
                    bool gather) {
  const char* op = gather ? "gather_rows" : "scatter_rows";
  const char* in_name = gather ? "src" : "g";
  const char* wide_name = gather ? "out" : "g";
  check::floating(in, in_name);
  check::shape(in, in_name, {-1, -1}, gather ? "[M, H]" : "[N, W]");
  check::dtype(index, DType::int64, "index");
  check::shape(index, "index", {-1}, "[N]");
  CS_CHECK(index.device == in.device, ValueError, op, ": index must be on the device of ", in_name,
           " (", in.device == Device::cuda ? "CUDA" : "the host", ")");
  if (out.defined()) {
    check::floating(out, "out");
    check::like(out, in, "out", in_name);
    check::shape(out, "out", {-1, -1}, gather ? "[N, W]" : "[M, H]");
  }
  const Tensor& rows = gather ? in : out;
  const Tensor& wide = gather ? out : in;
  const int64_t N = index.shape[0];
  if (wide.defined())
    CS_CHECK(wide.shape[0] == N, ValueError, "index must have shape [N] with N = ", wide.shape[0],
             " (the rows of ", wide_name, "), got ", index.shape_str());
  RowsDims d{N, 0, 0, 0, col};
  if (rows.defined()) d.M = rows.shape[0], d.H = rows.shape[1];
  d.W = wide.defined() ? wide.shape[1] : d.H;
  if (rows.defined()) {  // (col <= W - H: no overflow for a huge col)
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
    const int64_t end = col > kMax - d.H ? kMax : col + d.H;
    CS_CHECK(col >= 0 && col <= d.W - d.H, ValueError, op, ": columns [", col, ", ", end, ") of ",
             wide_name, " do not fit its width W = ", d.W);
  }
  // out is written while in is read (rows in any order): they must not alias
  if (out.defined()) check::distinct(out, "out", in, in_name);
  check::cuda_usable({{&in, in_name}, {&out, "out"}, {&index, "index"}}, op);
  return d;
}

}  // namespace

RowsDims gather_rows_check(const Tensor& src, const Tensor& index, const Tensor& out, int64_t col) {
  return check_rows(src, out, index, col, true);
}

RowsDims scatter_rows_check(const Tensor& g, const Tensor& index, const Tensor& out, int64_t col) {
  return check_rows(g, out, index, col, false);
}

void gather_rows(const Tensor& src, const Tensor& index, const Tensor& out, int64_t col,
                 void* stream) {
  check::defined(out, "out");
  const RowsDims d = gather_rows_check(src, index, out, col);
  CS_DISPATCH_FLOAT(src.dtype, "gather_rows", [&] {
    CS_DEVICE_CALL(src, gather_rows, d, src.ptr<scalar_t>(), index.ptr<int64_t>(),
                   out.ptr<scalar_t>());
  });
}

void scatter_rows(const Tensor& g, const Tensor& index, const Tensor& out, int64_t col,
                  void* stream) {
  check::defined(out, "out");
  const RowsDims d = scatter_rows_check(g, index, out, col);
  CS_DISPATCH_FLOAT(out.dtype, "scatter_rows", [&] {
    CS_DEVICE_CALL(out, scatter_rows, d, g.ptr<scalar_t>(), index.ptr<int64_t>(),
                   out.ptr<scalar_t>());
  });
}

namespace {

// Every value of the host int64 array t in [0, hi] (device arrays and absent ones pass).
void values_within(const Tensor& t, int64_t hi, const char* name, const char* hi_name) {
  if (!t.defined() || t.device != Device::cpu) return;
  const int64_t* p = t.ptr<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i)
    CS_CHECK(p[i] >= 0 && p[i] <= hi, ValueError, name, "[", i, "] = ", p[i], " is outside [0, ",
             hi_name, "] with ", hi_name, " = ", hi);
}

}  // namespace

int64_t window_rows_check(const WindowRowsArgs& a) {
  const char* op = "window_rows";
  check::dtype(a.b, DType::int64, "b");
  check::shape(a.b, "b", {-1}, "[N]");
  check::like_shape(a.t, a.b, "t", "b", {a.b.shape[0]}, "[N]");
  CS_CHECK(a.B >= 0 && a.T >= 0 && a.W >= 0, ValueError, op, ": B, T and W must be >= 0, got ", a.B,
           ", ", a.T, ", ", a.W);
  CS_CHECK(a.B == 0 || a.W <= std::numeric_limits<int64_t>::max() / a.B, ValueError, op,
           ": B * W (the rows of the scale's outputs) must fit in int64, got B = ", a.B,
           " and W = ", a.W);
  if (a.closed.defined()) {
    check::like_shape(a.closed, a.b, "closed", "b", {a.B, a.T}, "[B, T]");
  } else {
    CS_CHECK(a.size >= 1 && a.stride >= 1, ValueError, op,
             ": a count window needs size >= 1 and stride >= 1, got ", a.size, " and ", a.stride);
    check::defined(a.out_lengths, "out_lengths");
    check::like_shape(a.out_lengths, a.b, "out_lengths", "b", {a.B}, "[B]");
    if (a.lengths.defined()) check::like_shape(a.lengths, a.b, "lengths", "b", {a.B}, "[B]");
    // Host values are checked (device ones are clamped by the row math: rows stay in [-1, B W)).
    values_within(a.lengths, a.T, "lengths", "T");
    values_within(a.out_lengths, a.W, "out_lengths", "W");
  }
  check::cuda_usable({{&a.b, "b"},
                      {&a.t, "t"},
                      {&a.lengths, "lengths"},
                      {&a.out_lengths, "out_lengths"},
                      {&a.closed, "closed"}},
                     op);
  return a.b.shape[0];
}

void window_rows(const WindowRowsArgs& a, const Tensor& rows, void* stream) {
  const int64_t N = window_rows_check(a);
  check::usable_like(rows, a.b, "rows", "b", {N}, "[N]", "window_rows");
#ifdef CHRONOSCALE_WITH_CUDA
  if (a.b.device == Device::cuda) return cuda::window_rows(a, rows.ptr<int64_t>(), stream);
#endif
  (void)stream;
  cpu::window_rows(a, rows.ptr<int64_t>());
}

}  // namespace v1
}  // namespace chronoscale
