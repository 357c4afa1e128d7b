// Device-neutral entry points of dropout: validate once, then dispatch on device and dtype.
#include "chronoscale/dropout.hpp"

#include "cpu/dropout.hpp"
#include "validate.hpp"

namespace chronoscale {
inline namespace v1 {

namespace {

void check_pair(const Tensor& in, const char* in_name, const Tensor& out, const char* out_name) {
  check::floating(in, in_name);
  check::cpu_only(in, "dropout");
  check::defined(out, out_name);
  check::like(out, in, out_name, in_name);
  bool ok = out.ndim == in.ndim;
  for (int i = 0; ok && i < in.ndim; ++i) ok = out.shape[i] == in.shape[i];
  CS_CHECK(ok, ValueError, out_name, " must have the shape of ", in_name, " ", in.shape_str(),
           ", got ", out.shape_str());
}

}  // namespace

void dropout_check_p(double p) {
  CS_CHECK(p >= 0.0 && p < 1.0, ValueError, "p (the drop probability) must be in [0, 1), got ",
           p);
}

void dropout_forward(const Tensor& x, double p, uint64_t seed, const Tensor& y, void* stream) {
  (void)stream;
  check_pair(x, "x", y, "y");
  dropout_check_p(p);
  CS_DISPATCH_FLOAT(x.dtype, "dropout_forward", [&] {
    cpu::dropout_apply<scalar_t>(x.ptr<scalar_t>(), x.numel(), p, seed, y.ptr<scalar_t>());
  });
}

void dropout_backward(const Tensor& dy, double p, uint64_t seed, const Tensor& dx,
                      void* stream) {
  (void)stream;
  check_pair(dy, "dy", dx, "dx");
  dropout_check_p(p);
  CS_DISPATCH_FLOAT(dy.dtype, "dropout_backward", [&] {
    cpu::dropout_apply<scalar_t>(dy.ptr<scalar_t>(), dy.numel(), p, seed, dx.ptr<scalar_t>());
  });
}

void dropout_mask(double p, uint64_t seed, const Tensor& mask, void* stream) {
  (void)stream;
  check::floating(mask, "mask");
  check::cpu_only(mask, "dropout");
  dropout_check_p(p);
  CS_DISPATCH_FLOAT(mask.dtype, "dropout_mask", [&] {
    cpu::dropout_apply<scalar_t>(nullptr, mask.numel(), p, seed, mask.ptr<scalar_t>());
  });
}

}  // namespace v1
}  // namespace chronoscale
