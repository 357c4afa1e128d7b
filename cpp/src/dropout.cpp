// Device-neutral entry points of dropout: validate once, then dispatch on device and dtype.
#include "chronoscale/dropout.hpp"

#include "cpu/dropout.hpp"
#include "cuda_dispatch.hpp"
#include "validate.hpp"
#ifdef CHRONOSCALE_WITH_CUDA
#include "dropout.cuh"
#endif

namespace chronoscale {
inline namespace v1 {

namespace {

void check_pair(const Tensor& in, const char* in_name, const Tensor& out, const char* out_name) {
  check::floating(in, in_name);
  check::defined(out, out_name);
  check::like(out, in, out_name, in_name);
  check::cuda_usable({{&in, in_name}, {&out, out_name}}, "dropout");
  bool ok = out.ndim == in.ndim;
  for (int i = 0; ok && i < in.ndim; ++i) ok = out.shape[i] == in.shape[i];
  CS_CHECK(ok, ValueError, out_name, " must have the shape of ", in_name, " ", in.shape_str(),
           ", got ", out.shape_str());
}

}  // namespace

void dropout_check(const Tensor& x, const char* name) {
  check::floating(x, name);
  check::cuda_usable(x, "dropout", name);
}

void dropout_check_p(double p) {
  CS_CHECK(p >= 0.0 && p < 1.0, ValueError, "p (the drop probability) must be in [0, 1), got ",
           p);
}

void dropout_forward(const Tensor& x, double p, uint64_t seed, const Tensor& y, void* stream) {
  check_pair(x, "x", y, "y");
  dropout_check_p(p);
  CS_DISPATCH_FLOAT(x.dtype, "dropout_forward", [&] {
    CS_DEVICE_CALL(x, dropout_apply, x.ptr<scalar_t>(), x.numel(), p, seed, y.ptr<scalar_t>());
  });
}

void dropout_backward(const Tensor& dy, double p, uint64_t seed, const Tensor& dx,
                      void* stream) {
  check_pair(dy, "dy", dx, "dx");
  dropout_check_p(p);
  CS_DISPATCH_FLOAT(dy.dtype, "dropout_backward", [&] {
    CS_DEVICE_CALL(dy, dropout_apply, dy.ptr<scalar_t>(), dy.numel(), p, seed, dx.ptr<scalar_t>());
  });
}

void dropout_mask(double p, uint64_t seed, const Tensor& mask, void* stream) {
  check::floating(mask, "mask");
  check::cuda_usable(mask, "dropout", "mask");
  dropout_check_p(p);
  CS_DISPATCH_FLOAT(mask.dtype, "dropout_mask", [&] {
    CS_DEVICE_CALL(mask, dropout_apply, static_cast<const scalar_t*>(nullptr), mask.numel(), p,
                   seed, mask.ptr<scalar_t>());
  });
}

}  // namespace v1
}  // namespace chronoscale
