// Device-neutral entry point of the packed running sums: validate once, then dispatch on device
// and dtype.
#include "chronoscale/packed.hpp"

#include "cpu/packed.hpp"
#include "cuda_dispatch.hpp"
#include "validate.hpp"
#ifdef CHRONOSCALE_WITH_CUDA
#include "packed.cuh"
#endif

namespace chronoscale {
inline namespace v1 {

PackedDims packed_cumsum_check(const Tensor& x, const Tensor& batch_sizes) {
  check::floating(x, "x");
  check::shape(x, "x", {-1, -1}, "[N, D]");
  check::dtype(batch_sizes, DType::int64, "batch_sizes");
  check::shape(batch_sizes, "batch_sizes", {-1}, "[T]");
  CS_CHECK(batch_sizes.device == Device::cpu, ValueError,
           "batch_sizes must be a host (NumPy) array");
  const int64_t T = batch_sizes.shape[0];
  const int64_t* bs = batch_sizes.ptr<int64_t>();
  int64_t n = 0;
  for (int64_t t = 0; t < T; ++t) {
    CS_CHECK(bs[t] >= 0, ValueError, "batch_sizes[", t, "] = ", bs[t], " is negative");
    CS_CHECK(t == 0 || bs[t] <= bs[t - 1], ValueError, "batch_sizes must not increase (",
             "sequences sorted longest first), but batch_sizes[", t, "] = ", bs[t], " > ",
             bs[t - 1]);
    n += bs[t];
  }
  CS_CHECK(n == x.shape[0], ValueError, "batch_sizes sum to ", n, " but x has N = ", x.shape[0],
           " rows");
  check::cuda_usable(x, "packed_cumsum", "x");
  return {x.shape[0], x.shape[1], T};
}

void packed_cumsum(const Tensor& x, const Tensor& batch_sizes, bool reverse, const Tensor& out,
                   void* stream) {
  const PackedDims d = packed_cumsum_check(x, batch_sizes);
  check::usable_like(out, x, "out", "x", {d.N, d.D}, "[N, D]", "packed_cumsum");
  CS_CHECK(out.data != x.data || d.N * d.D == 0, ValueError, "out must not be x");
  CS_DISPATCH_FLOAT(x.dtype, "packed_cumsum", [&] {
    CS_DEVICE_CALL(x, packed_cumsum, d, x.ptr<scalar_t>(), batch_sizes, reverse,
                   out.ptr<scalar_t>());
  });
}

}  // namespace v1
}  // namespace chronoscale
