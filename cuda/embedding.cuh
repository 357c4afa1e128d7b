#pragma once
// CUDA kernels of the embedding: the contract of cpp/src/cpu/embedding.hpp with a trailing
// stream. Plain C++ header, included by cpp/src/embedding.cpp after the shape checks.
//
// ids live on the device, so the id range check (which the CPU path does by reading ids) is a
// device kernel that records the first bad position in row-major order; that flag is copied back
// with the op's ONE synchronisation (cudaStreamSynchronize on the op's stream), needed to raise
// ValueError before anything is written, as the CPU path does. Nothing else waits for the device.
#include <cstdint>

#include "chronoscale/embedding.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

/// ValueError (the CPU message: ids, first bad (b, t), value) unless every id at a valid position
/// lies in [0, V). One kernel and one synchronisation of `stream`.
void embedding_check_ids(const EmbeddingDims& d, const Tensor& ids, const Tensor& lengths,
                         void* stream);

/// y [B, T, D] = table rows (zero past the lengths). Checks ids first (embedding_check_ids).
template <class T>
void embedding_forward(const EmbeddingDims& d, const Tensor& ids, const Tensor& table,
                       const Tensor& lengths, const Tensor& y, void* stream);

/// dtable [V, D] = zeros + dy rows scattered with atomicAdd (summation order not fixed).
/// Checks ids first.
template <class T>
void embedding_backward_dense(const EmbeddingDims& d, const Tensor& dy, const Tensor& ids,
                              const Tensor& lengths, const Tensor& dtable, void* stream);

/// Sparse gradient grouped on the device without sorting: mark the used ids in a [V] table
/// (which also checks the id range), exclusive scan -> row slot of each used id and rows
/// (sorted), then scatter-add dy rows into grad[slot] with atomicAdd. rows [N] int64 and grad
/// [N, D] need N >= U (min(valid positions, V) is enough); their first U entries are written.
/// Returns U; the one synchronisation reads U and the range flag together.
template <class T>
int64_t embedding_backward_sparse(const EmbeddingDims& d, const Tensor& dy, const Tensor& ids,
                                  const Tensor& lengths, const Tensor& rows, const Tensor& grad,
                                  void* stream);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
