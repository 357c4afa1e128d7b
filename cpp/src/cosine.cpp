// Device-neutral entry points of the cosine features: validate once, then dispatch on device
// and dtype.
#include "chronoscale/cosine.hpp"

#include <cmath>

#include "cpu/cosine.hpp"
#include "cuda_dispatch.hpp"
#include "validate.hpp"
#ifdef CHRONOSCALE_WITH_CUDA
#include "cosine.cuh"
#endif

namespace chronoscale {
inline namespace v1 {

namespace {

CosineDims check_x(const CosineInputs& in, const char* op) {
  const auto [B, T, D] = check::sequence(in.x, "x", "[B, T, D]");
  CS_CHECK(std::isfinite(in.eps) && in.eps > 0, ValueError, "eps must be a finite number > 0, got ",
           in.eps);
  check::lengths(in.lengths, B, T);
  check::cuda_usable(in.x, op, "x");
  return {B, T, D};
}

void check_arg(const Tensor& t, const Tensor& x, const char* name,
               std::initializer_list<int64_t> dims, const char* expect, const char* op) {
  check::usable_like(t, x, name, "x", dims, expect, op);
}

}  // namespace

CosineDims cosine_lag_check(const CosineInputs& in) {
  const CosineDims d = check_x(in, "cosine_lag");
  CS_CHECK(in.lag >= 1, ValueError, "lag must be >= 1, got ", in.lag);
  return d;
}

CosineDims cosine_query_check(const CosineInputs& in) {
  const CosineDims d = check_x(in, "cosine_query");
  check::defined(in.q, "q");
  check_arg(in.q, in.x, "q", {d.B, d.D}, "[B, D]", "cosine_query");
  return d;
}

void cosine_lag_forward(const CosineInputs& in, const CosineCache& out, void* stream) {
  const char* op = "cosine_lag_forward";
  const CosineDims d = cosine_lag_check(in);
  check_arg(out.y, in.x, "y", {d.B, d.T}, "[B, T]", op);
  check_arg(out.xnorm, in.x, "xnorm", {d.B, d.T}, "[B, T]", op);
  CS_DISPATCH_FLOAT(in.x.dtype, op, [&] { CS_DEVICE_CALL(in.x, cosine_lag_forward, d, in, out); });
}

void cosine_lag_backward(const Tensor& dy, const CosineInputs& in, const CosineCache& fwd,
                         const Tensor& dx, void* stream) {
  const char* op = "cosine_lag_backward";
  const CosineDims d = cosine_lag_check(in);
  check_arg(dy, in.x, "dy", {d.B, d.T}, "[B, T]", op);
  check_arg(fwd.y, in.x, "cache.y", {d.B, d.T}, "[B, T]", op);
  check_arg(fwd.xnorm, in.x, "cache.xnorm", {d.B, d.T}, "[B, T]", op);
  check_arg(dx, in.x, "dx", {d.B, d.T, d.D}, "[B, T, D]", op);
  CS_DISPATCH_FLOAT(in.x.dtype, op,
                    [&] { CS_DEVICE_CALL(in.x, cosine_lag_backward, d, dy, in, fwd, dx); });
}

void cosine_query_forward(const CosineInputs& in, const CosineCache& out, void* stream) {
  const char* op = "cosine_query_forward";
  const CosineDims d = cosine_query_check(in);
  check_arg(out.y, in.x, "y", {d.B, d.T}, "[B, T]", op);
  check_arg(out.xnorm, in.x, "xnorm", {d.B, d.T}, "[B, T]", op);
  check_arg(out.qnorm, in.x, "qnorm", {d.B}, "[B]", op);
  CS_DISPATCH_FLOAT(in.x.dtype, op,
                    [&] { CS_DEVICE_CALL(in.x, cosine_query_forward, d, in, out); });
}

void cosine_query_backward(const Tensor& dy, const CosineInputs& in, const CosineCache& fwd,
                           const Tensor& dq, const Tensor& dx, void* stream) {
  const char* op = "cosine_query_backward";
  const CosineDims d = cosine_query_check(in);
  check_arg(dy, in.x, "dy", {d.B, d.T}, "[B, T]", op);
  check_arg(fwd.y, in.x, "cache.y", {d.B, d.T}, "[B, T]", op);
  check_arg(fwd.xnorm, in.x, "cache.xnorm", {d.B, d.T}, "[B, T]", op);
  check_arg(fwd.qnorm, in.x, "cache.qnorm", {d.B}, "[B]", op);
  check_arg(dq, in.x, "dq", {d.B, d.D}, "[B, D]", op);
  check_arg(dx, in.x, "dx", {d.B, d.T, d.D}, "[B, T, D]", op);
  CS_DISPATCH_FLOAT(in.x.dtype, op,
                    [&] { CS_DEVICE_CALL(in.x, cosine_query_backward, d, dy, in, fwd, dq, dx); });
}

}  // namespace v1
}  // namespace chronoscale
