#pragma once
/// Embedding lookup of a padded batch of ids, with a sparse (or dense) table gradient.
///
/// Shapes: B batch, T time steps, V table rows (vocabulary), D embedding size, U distinct ids
/// at valid positions. y[b, t] = table[ids[b, t]] for t < lengths[b] and 0 elsewhere; ids past
/// the lengths are never read as indices (padding may hold any value).
///
/// Devices: ids and table on the host, or both on one CUDA device (lengths always on the host);
/// outputs live with table. On CUDA the id range check runs on the device and costs one
/// synchronisation of `stream` per call (it must raise before anything is written); the sparse
/// gradient is grouped on the device by embedding_backward_sparse_rows.
#include <cstdint>
#include <vector>

#include "chronoscale/tensor.hpp"

namespace chronoscale {
inline namespace v1 {

struct EmbeddingDims {
  int64_t B, T, V, D;
};

/// Validate ids [B, T] int64 (host), table [V, D] float32 / float64 and lengths [B] (host int64
/// or absent). Every id at a valid position must lie in [0, V); otherwise ValueError names ids,
/// the first bad (b, t) in row-major order and its value.
EmbeddingDims embedding_check(const Tensor& ids, const Tensor& table, const Tensor& lengths,
                              void* stream = nullptr);

/// embedding_check without the id range check (shapes, dtypes, devices, lengths): what a caller
/// needs to allocate outputs; the entry points below do the range check.
EmbeddingDims embedding_dims(const Tensor& ids, const Tensor& table, const Tensor& lengths);

/// y [B, T, D] (caller-allocated, table's dtype) = the looked-up rows, zero past the lengths.
void embedding_forward(const Tensor& ids, const Tensor& table, const Tensor& lengths,
                       const Tensor& y, void* stream = nullptr);

/// The valid positions grouped by id, which fixes the order of every gradient sum
/// (deterministic, no atomics).
struct EmbeddingGroups {
  std::vector<int64_t> rows;       ///< [U] sorted distinct ids
  std::vector<int64_t> offsets;    ///< [U + 1]: group u is positions[offsets[u] : offsets[u + 1]]
  std::vector<int64_t> positions;  ///< flat positions b * T + t, ascending within a group
};

/// Validate (as embedding_check) and group the valid positions of ids by id. Host ids only.
EmbeddingGroups embedding_groups(const Tensor& ids, const Tensor& table, const Tensor& lengths);

/// Sparse gradient: grad[u] = sum of dy[b, t] over valid (b, t) with ids[b, t] == g.rows[u].
/// dy [B, T, D], grad [U, D] with U = g.rows.size(); `g` comes from embedding_groups on the same
/// ids and lengths.
void embedding_backward_sparse(const Tensor& dy, const Tensor& ids, const Tensor& table,
                               const Tensor& lengths, const EmbeddingGroups& g,
                               const Tensor& grad, void* stream = nullptr);

/// Sparse gradient on either device without host groups: rows [N] int64 and grad [N, D] (on the
/// device of table, N >= U; min(number of valid positions, V) always suffices) receive the
/// sorted distinct ids and their gradient rows in their first U entries; returns U. On CUDA the
/// grouping runs on the device (no sort) and rows are summed with atomicAdd (order not fixed).
int64_t embedding_backward_sparse_rows(const Tensor& dy, const Tensor& ids, const Tensor& table,
                                       const Tensor& lengths, const Tensor& rows,
                                       const Tensor& grad, void* stream = nullptr);

/// Dense gradient dtable [V, D]: the sparse gradient scattered into zeros.
void embedding_backward_dense(const Tensor& dy, const Tensor& ids, const Tensor& table,
                              const Tensor& lengths, const Tensor& dtable,
                              void* stream = nullptr);

}  // namespace v1
}  // namespace chronoscale
