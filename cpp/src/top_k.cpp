// Device-neutral entry point of the top-k op: validate once, then dispatch on device and dtype.
#include "chronoscale/top_k.hpp"

#include <cstdint>
#include <limits>

#include "cpu/top_k.hpp"
#include "cuda_dispatch.hpp"
#include "validate.hpp"
#ifdef CHRONOSCALE_WITH_CUDA
#include "top_k.cuh"
#endif

namespace chronoscale {
inline namespace v1 {

TopKDims top_k_check(const Tensor& scores, int64_t k) {
  check::floating(scores, "scores");
  check::shape(scores, "scores", {-1, -1}, "[N, V]");
  const int64_t N = scores.shape[0], V = scores.shape[1];
  CS_CHECK(V > 0, ValueError, "scores: no columns to rank (V = 0 in [N, V])");
  CS_CHECK(V <= std::numeric_limits<int32_t>::max(), ValueError,
           "scores: at most 2^31 - 1 columns, got V = ", V);
  CS_CHECK(k >= 1 && k <= V, ValueError, "k must be in [1, V = ", V, "], got ", k);
  check::cuda_usable(scores, "top_k", "scores");
  return {N, V, k};
}

void top_k(const Tensor& scores, int64_t k, const Tensor& ids, const Tensor& values, void* stream) {
  const TopKDims d = top_k_check(scores, k);
  check::int64_like(ids, scores, "ids", "scores", {d.N, d.k}, "[N, k] (N from scores)");
  check::cuda_usable(ids, "top_k", "ids");
  check::usable_like(values, scores, "values", "scores", {d.N, d.k}, "[N, k] (N from scores)",
                     "top_k");
  check::distinct(ids, "ids", scores, "scores");  // outputs written while scores are read
  check::distinct(values, "values", scores, "scores");
  check::distinct(ids, "ids", values, "values");
  CS_DISPATCH_FLOAT(scores.dtype, "top_k", [&] {
    CS_DEVICE_CALL(scores, top_k, d, scores.ptr<scalar_t>(), ids.ptr<int64_t>(),
                   values.ptr<scalar_t>());
  });
}

}  // namespace v1
}  // namespace chronoscale
