#pragma once
/// Top-k per row: the k highest scores of each row of scores [N, V], best first.
///
/// The order is total and the same on every device: higher score first, equal scores (-0 equals
/// +0) by lower column, NaN below every number (-inf included), so ids and values never depend
/// on the thread count or the device. ids [N, k] int64 are the columns, values [N, k] (the
/// scores' dtype) are scores[n, ids[n, j]]. 1 <= k <= V.
///
/// The recommender's top-k recommendation over its catalogue (the scores of every item, the
/// history's own items at -inf) is this op.
#include "chronoscale/tensor.hpp"

namespace chronoscale {
inline namespace v1 {

struct TopKDims {
  int64_t N, V, k;
};

/// Validate scores [N, V] (float32 / float64, V >= 1, V < 2^31) and 1 <= k <= V; throws
/// TypeError / ValueError naming the argument, Unsupported / CudaError when a CUDA array cannot
/// be used.
TopKDims top_k_check(const Tensor& scores, int64_t k);

/// ids [N, k] int64 and values [N, k] (caller-allocated, on the scores' device).
void top_k(const Tensor& scores, int64_t k, const Tensor& ids, const Tensor& values,
           void* stream = nullptr);

}  // namespace v1
}  // namespace chronoscale
