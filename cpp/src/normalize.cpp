// Device-neutral entry points of the row normalisation: validate once, then dispatch on device
// and dtype.
#include "chronoscale/normalize.hpp"

#include <cmath>

#include "cpu/normalize.hpp"
#include "cuda_dispatch.hpp"
#include "validate.hpp"
#ifdef CHRONOSCALE_WITH_CUDA
#include "normalize.cuh"
#endif

namespace chronoscale {
inline namespace v1 {

namespace {

void check_like(const Tensor& t, const Tensor& ref, const char* name, const char* ref_name,
                std::initializer_list<int64_t> dims, const char* expect) {
  check::usable_like(t, ref, name, ref_name, dims, expect, "normalize");
}

}  // namespace

NormalizeDims normalize_check(const Tensor& x, double eps, const char* name) {
  check::floating(x, name);
  check::shape(x, name, {-1, -1}, "[N, D]");
  CS_CHECK(std::isfinite(eps) && eps > 0, ValueError, "eps must be a finite number > 0, got ", eps);
  check::cuda_usable(x, "normalize", name);
  return {x.shape[0], x.shape[1]};
}

void normalize_forward(const Tensor& x, double eps, const Tensor& y, const Tensor& norm,
                       void* stream) {
  const NormalizeDims d = normalize_check(x, eps);
  check_like(y, x, "y", "x", {d.N, d.D}, "[N, D]");
  check_like(norm, x, "norm", "x", {d.N}, "[N]");
  CS_DISPATCH_FLOAT(x.dtype, "normalize_forward", [&] {
    CS_DEVICE_CALL(x, normalize_forward, d, x.ptr<scalar_t>(), static_cast<scalar_t>(eps),
                   y.ptr<scalar_t>(), norm.ptr<scalar_t>());
  });
}

void normalize_backward(const Tensor& dy, const Tensor& y, const Tensor& norm, double eps,
                        const Tensor& dx, void* stream) {
  const NormalizeDims d = normalize_check(y, eps, "y");
  check_like(dy, y, "dy", "y", {d.N, d.D}, "[N, D]");
  check_like(norm, y, "norm", "y", {d.N}, "[N]");
  check_like(dx, y, "dx", "y", {d.N, d.D}, "[N, D]");
  CS_DISPATCH_FLOAT(y.dtype, "normalize_backward", [&] {
    CS_DEVICE_CALL(y, normalize_backward, d, dy.ptr<scalar_t>(), y.ptr<scalar_t>(),
                   norm.ptr<scalar_t>(), static_cast<scalar_t>(eps), dx.ptr<scalar_t>());
  });
}

}  // namespace v1
}  // namespace chronoscale
