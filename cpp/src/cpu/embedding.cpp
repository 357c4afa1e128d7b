// CPU embedding: row copies forward; backward sums each id's dy rows in position order, one id
// per task, so the result does not depend on the thread count.
#include "embedding.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "parallel.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

namespace {

int64_t length_of(const Tensor& lengths, int64_t b, int64_t T) {
  return lengths.defined() ? lengths.ptr<int64_t>()[b] : T;
}

}  // namespace

template <class T>
void embedding_forward(const EmbeddingDims& d, const Tensor& ids_t, const Tensor& table_t,
                       const Tensor& lengths, const Tensor& y_t) {
  const int64_t D = d.D;
  const int64_t* ids = ids_t.ptr<int64_t>();
  const T* table = table_t.ptr<T>();
  T* y = y_t.ptr<T>();
  parallel_for(d.B * d.T, D, [&](int64_t r) {
    T* o = y + r * D;
    if (r % d.T >= length_of(lengths, r / d.T, d.T)) std::memset(o, 0, sizeof(T) * D);
    else std::memcpy(o, table + ids[r] * D, sizeof(T) * D);
  });
}

EmbeddingGroups embedding_groups(const EmbeddingDims& d, const Tensor& ids_t,
                                 const Tensor& lengths) {
  const int64_t* ids = ids_t.ptr<int64_t>();
  std::vector<std::pair<int64_t, int64_t>> pairs;  // (id, position)
  for (int64_t b = 0; b < d.B; ++b) {
    const int64_t L = length_of(lengths, b, d.T);
    for (int64_t t = 0; t < L; ++t) pairs.emplace_back(ids[b * d.T + t], b * d.T + t);
  }
  std::sort(pairs.begin(), pairs.end());
  EmbeddingGroups g;
  g.positions.resize(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (i == 0 || pairs[i].first != pairs[i - 1].first) {
      g.rows.push_back(pairs[i].first);
      g.offsets.push_back(static_cast<int64_t>(i));
    }
    g.positions[i] = pairs[i].second;
  }
  g.offsets.push_back(static_cast<int64_t>(pairs.size()));
  return g;
}

template <class T>
void embedding_backward(const EmbeddingDims& d, const Tensor& dy_t, const EmbeddingGroups& g,
                        bool dense, const Tensor& out_t) {
  const int64_t D = d.D, U = static_cast<int64_t>(g.rows.size());
  const T* dy = dy_t.ptr<T>();
  T* out = out_t.ptr<T>();
  if (dense) std::memset(out, 0, sizeof(T) * d.V * D);
  const int64_t avg = U ? static_cast<int64_t>(g.positions.size()) / U + 1 : 1;
  parallel_for(U, avg * D, [&](int64_t u) {
    T* o = out + (dense ? g.rows[u] : u) * D;
    std::memset(o, 0, sizeof(T) * D);
    for (int64_t i = g.offsets[u]; i < g.offsets[u + 1]; ++i) {
      const T* src = dy + g.positions[i] * D;
#pragma omp simd
      for (int64_t j = 0; j < D; ++j) o[j] += src[j];
    }
  });
}

template void embedding_forward<float>(const EmbeddingDims&, const Tensor&, const Tensor&,
                                       const Tensor&, const Tensor&);
template void embedding_forward<double>(const EmbeddingDims&, const Tensor&, const Tensor&,
                                        const Tensor&, const Tensor&);
template void embedding_backward<float>(const EmbeddingDims&, const Tensor&,
                                        const EmbeddingGroups&, bool, const Tensor&);
template void embedding_backward<double>(const EmbeddingDims&, const Tensor&,
                                         const EmbeddingGroups&, bool, const Tensor&);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
