// Device-neutral entry points of conv1d: validate once, then dispatch on device and dtype.
#include "chronoscale/conv1d.hpp"

#include "cpu/conv1d.hpp"
#include "cuda_dispatch.hpp"
#include "validate.hpp"
#ifdef CHRONOSCALE_WITH_CUDA
#include "conv1d.cuh"
#endif

namespace chronoscale {
inline namespace v1 {

namespace {

int64_t out_length(const Conv1dDims& d, const Tensor& lengths, int64_t b) {
  if (!lengths.defined()) return d.To;
  const int64_t v = lengths.ptr<int64_t>()[b] - d.K + 1;
  return v > 0 ? v : 0;
}

void check_arg(const Tensor& t, const Tensor& x, const char* name,
               std::initializer_list<int64_t> dims, const char* expect) {
  check::usable_like(t, x, name, "x", dims, expect, "conv1d");
}

}  // namespace

Conv1dDims conv1d_check(const Conv1dInputs& in) {
  const auto [B, T, Cin] = check::sequence(in.x, "x", "[B, T, Cin]");
  check::cuda_usable(in.x, "conv1d", "x");
  check::defined(in.w, "w");
  check::like(in.w, in.x, "w", "x");
  check::cuda_usable(in.w, "conv1d", "w");
  check::shape(in.w, "w", {-1, Cin, -1}, "[Cout, Cin, K]");
  const int64_t Cout = in.w.shape[0], K = in.w.shape[2];
  CS_CHECK(Cout > 0, ValueError, "w: output channels Cout must be > 0");
  CS_CHECK(K > 0, ValueError, "w: kernel size K must be > 0");
  CS_CHECK(T >= K, ValueError, "w: kernel size K = ", K, " exceeds the T = ", T,
           " time steps of x (valid padding needs T >= K)");
  if (in.b.defined()) check_arg(in.b, in.x, "b", {Cout}, "[Cout]");
  check::lengths(in.lengths, B, T);
  return {B, T, Cin, Cout, K, T - K + 1};
}

void conv1d_forward(const Conv1dInputs& in, const Tensor& y, const Tensor& out_lengths,
                    void* stream) {
  const Conv1dDims d = conv1d_check(in);
  check_arg(y, in.x, "y", {d.B, d.To, d.Cout}, "[B, T - K + 1, Cout]");
  if (out_lengths.defined()) {
    check::dtype(out_lengths, DType::int64, "out_lengths");
    check::shape(out_lengths, "out_lengths", {d.B}, "[B]");
    CS_CHECK(out_lengths.device == Device::cpu, ValueError, "out_lengths must be a host array");
    for (int64_t b = 0; b < d.B; ++b) out_lengths.ptr<int64_t>()[b] = out_length(d, in.lengths, b);
  }
  CS_DISPATCH_FLOAT(in.x.dtype, "conv1d_forward",
                    [&] { CS_DEVICE_CALL(in.x, conv1d_forward, d, in, y); });
}

void conv1d_backward(const Tensor& dy, const Conv1dInputs& in, const Tensor& y, const Tensor& dx,
                     const Tensor& dw, const Tensor& db, void* stream) {
  const Conv1dDims d = conv1d_check(in);
  check::defined(dy, "dy");
  check_arg(dy, in.x, "dy", {d.B, d.To, d.Cout}, "[B, T - K + 1, Cout]");
  if (in.relu) {
    CS_CHECK(y.defined(), ValueError, "y (the forward output) is required for the ReLU mask");
    check_arg(y, in.x, "y", {d.B, d.To, d.Cout}, "[B, T - K + 1, Cout]");
  }
  if (dx.defined()) check_arg(dx, in.x, "dx", {d.B, d.T, d.Cin}, "[B, T, Cin]");
  check_arg(dw, in.x, "dw", {d.Cout, d.Cin, d.K}, "[Cout, Cin, K]");
  if (db.defined()) check_arg(db, in.x, "db", {d.Cout}, "[Cout]");
  CS_DISPATCH_FLOAT(in.x.dtype, "conv1d_backward",
                    [&] { CS_DEVICE_CALL(in.x, conv1d_backward, d, dy, in, y, dx, dw, db); });
}

}  // namespace v1
}  // namespace chronoscale
