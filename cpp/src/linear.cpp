// Device-neutral entry points of the dense layer: validate once, then dispatch on device and dtype.
#include "chronoscale/linear.hpp"

#include "cpu/linear.hpp"
#include "cuda_dispatch.hpp"
#include "validate.hpp"
#ifdef CHRONOSCALE_WITH_CUDA
#include "linear.cuh"
#endif

namespace chronoscale {
inline namespace v1 {

namespace {

/// `t` must have x's leading dims followed by `last` (the documented shape is `expect`).
void check_rows(const Tensor& t, const Tensor& x, int64_t last, const char* name,
                const char* expect) {
  check::defined(t, name);
  check::like(t, x, name, "x");
  bool ok = t.ndim == x.ndim && t.shape[t.ndim - 1] == last;
  for (int i = 0; ok && i + 1 < x.ndim; ++i) ok = t.shape[i] == x.shape[i];
  if (!ok) {
    Tensor want = x;
    want.shape[x.ndim - 1] = last;
    throw ValueError(detail::cat(name, " must have shape ", expect, " = ", want.shape_str(),
                                 ", got ", t.shape_str()));
  }
}

}  // namespace

Activation parse_activation(const std::string& name) {
  if (name == "none") return Activation::none;
  if (name == "relu") return Activation::relu;
  if (name == "sigmoid") return Activation::sigmoid;
  if (name == "tanh") return Activation::tanh;
  throw ValueError(detail::cat("activation must be 'none', 'relu', 'sigmoid' or 'tanh', got '",
                               name, "'"));
}

LinearDims linear_check(const Tensor& x, const Tensor& w, const Tensor& b) {
  check::floating(x, "x");
  CS_CHECK(x.ndim >= 1, ValueError, "x must have shape [..., I] (at least 1 dim), got a scalar");
  const int64_t I = x.shape[x.ndim - 1];
  const int64_t N = x.numel() / (I > 0 ? I : 1);
  CS_CHECK(I > 0, ValueError, "x: input features I (last dim) must be > 0, got shape ",
           x.shape_str());
  CS_CHECK(N > 0, ValueError, "x: no rows (a leading dim is 0), got shape ", x.shape_str());
  check::cuda_usable(x, "linear", "x");
  check::defined(w, "w");
  check::like(w, x, "w", "x");
  check::cuda_usable(w, "linear", "w");
  check::shape(w, "w", {-1, I}, "[O, I]");
  const int64_t O = w.shape[0];
  CS_CHECK(O > 0, ValueError, "w: output features O must be > 0");
  if (b.defined()) {
    check::like(b, x, "b", "x");
    check::shape(b, "b", {O}, "[O]");
    check::cuda_usable(b, "linear", "b");
  }
  return {N, I, O};
}

void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Activation act,
                    const Tensor& y, void* stream) {
  const LinearDims d = linear_check(x, w, b);
  check_rows(y, x, d.O, "y", "[..., O]");
  check::cuda_usable(y, "linear_forward", "y");
  CS_DISPATCH_FLOAT(x.dtype, "linear_forward", [&] {
    CS_DEVICE_CALL(x, linear_forward, d, x.ptr<scalar_t>(), w.ptr<scalar_t>(),
                   b.defined() ? b.ptr<scalar_t>() : nullptr, act, y.ptr<scalar_t>());
  });
}

void linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& y,
                     Activation act, const Tensor& dx, const Tensor& dw, const Tensor& db,
                     void* stream) {
  const LinearDims d = linear_check(x, w, Tensor{});
  check_rows(dy, x, d.O, "dy", "[..., O]");
  if (act != Activation::none) {
    CS_CHECK(y.defined(), ValueError,
             "y (the forward output) is required for the activation's derivative");
    check_rows(y, x, d.O, "y", "[..., O]");
  }
  check_rows(dx, x, d.I, "dx", "[..., I]");
  check::defined(dw, "dw");
  check::like(dw, x, "dw", "x");
  check::shape(dw, "dw", {d.O, d.I}, "[O, I]");
  if (db.defined()) {
    check::like(db, x, "db", "x");
    check::shape(db, "db", {d.O}, "[O]");
  }
  check::cuda_usable({{&dy, "dy"}, {&y, "y"}, {&dx, "dx"}, {&dw, "dw"}, {&db, "db"}},
                     "linear_backward");
  CS_DISPATCH_FLOAT(x.dtype, "linear_backward", [&] {
    CS_DEVICE_CALL(x, linear_backward, d, dy.ptr<scalar_t>(), x.ptr<scalar_t>(), w.ptr<scalar_t>(),
                   act != Activation::none ? y.ptr<scalar_t>() : nullptr, act, dx.ptr<scalar_t>(),
                   dw.ptr<scalar_t>(), db.defined() ? db.ptr<scalar_t>() : nullptr);
  });
}

}  // namespace v1
}  // namespace chronoscale
