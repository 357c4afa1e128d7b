// Device-neutral entry points of the scale fusion: validate once, then dispatch on device and
// dtype.
#include "chronoscale/fusion.hpp"

#include "cpu/fusion.hpp"
#include "cuda_dispatch.hpp"
#include "validate.hpp"
#ifdef CHRONOSCALE_WITH_CUDA
#include "fusion.cuh"
#endif

namespace chronoscale {
inline namespace v1 {

namespace {

void check_like(const Tensor& t, const Tensor& ys, const char* name,
                std::initializer_list<int64_t> dims, const char* expect) {
  check::usable_like(t, ys, name, "ys", dims, expect, "scale_fusion");
}

}  // namespace

FusionDims scale_fusion_check(const Tensor& ys, const Tensor& logits, const char* name) {
  check::floating(ys, "ys");
  check::shape(ys, "ys", {-1, -1, -1}, "[S, B, K]");
  const FusionDims d{ys.shape[0], ys.shape[1], ys.shape[2]};
  CS_CHECK(d.S >= 1, ValueError, "ys: no scales (S = 0)");
  check::cuda_usable(ys, "scale_fusion", "ys");
  check_like(logits, ys, name, {d.S, d.K}, "[S, K]");
  return d;
}

void scale_fusion_forward(const Tensor& ys, const Tensor& logits, const Tensor& y,
                          const Tensor& alpha, void* stream) {
  const FusionDims d = scale_fusion_check(ys, logits);
  check_like(y, ys, "y", {d.B, d.K}, "[B, K]");
  check_like(alpha, ys, "alpha", {d.S, d.K}, "[S, K]");
  CS_DISPATCH_FLOAT(ys.dtype, "scale_fusion_forward", [&] {
    CS_DEVICE_CALL(ys, scale_fusion_forward, d, ys.ptr<scalar_t>(), logits.ptr<scalar_t>(),
                   y.ptr<scalar_t>(), alpha.ptr<scalar_t>());
  });
}

void scale_fusion_backward(const Tensor& dy, const Tensor& ys, const Tensor& alpha,
                           const Tensor& dys, const Tensor& dlogits, void* stream) {
  const FusionDims d = scale_fusion_check(ys, alpha, "alpha");
  check_like(dy, ys, "dy", {d.B, d.K}, "[B, K]");
  check_like(dys, ys, "dys", {d.S, d.B, d.K}, "[S, B, K]");
  check_like(dlogits, ys, "dlogits", {d.S, d.K}, "[S, K]");
  CS_DISPATCH_FLOAT(ys.dtype, "scale_fusion_backward", [&] {
    CS_DEVICE_CALL(ys, scale_fusion_backward, d, dy.ptr<scalar_t>(), ys.ptr<scalar_t>(),
                   alpha.ptr<scalar_t>(), dys.ptr<scalar_t>(), dlogits.ptr<scalar_t>());
  });
}

}  // namespace v1
}  // namespace chronoscale
