#pragma once
// CPU kernels of the embedding; inputs are validated by cpp/src/embedding.cpp.
#include "chronoscale/embedding.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class T>
void embedding_forward(const EmbeddingDims& d, const Tensor& ids, const Tensor& table,
                       const Tensor& lengths, const Tensor& y);

/// Group the valid positions by id (sort of (id, position) pairs).
EmbeddingGroups embedding_groups(const EmbeddingDims& d, const Tensor& ids, const Tensor& lengths);

/// out[row_of(u)] = sum over group u of dy rows; row_of(u) = u (sparse) or g.rows[u] (dense).
template <class T>
void embedding_backward(const EmbeddingDims& d, const Tensor& dy, const EmbeddingGroups& g,
                        bool dense, const Tensor& out);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
