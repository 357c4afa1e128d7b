#pragma once
/// Row gather and scatter-add through an index array: the glue of models that score selected
/// events (pick the rows of a state or embedding block, send their gradients back).
///
///   gather_rows:  out[n, col + k]  = src[index[n], k]       (a zero row when index[n] is none)
///   scatter_rows: out[index[n], k] += g[n, col + k]         (nothing when index[n] is none)
///
/// for n < N, k < H. An index outside [0, M) is "none" (-1 is the usual marker): a gather gives
/// zeros there and a scatter drops the row, so no index can reach memory outside the arrays and a
/// device index never has to be read back to be checked. `col` places the H columns inside wider
/// rows of width W (a column block of a C-contiguous [N, W] array), so the scales of a
/// concatenated state can be gathered into, and scattered from, one array without copies.
///
/// All arrays live on one device (the CPU or one CUDA device), index included. On the CPU a
/// scatter adds the rows in the order n = 0, 1, ... (deterministic for any thread count); on CUDA
/// it uses atomic adds, so the float summation order of repeated indices is not fixed.
#include "chronoscale/tensor.hpp"

namespace chronoscale {
inline namespace v1 {

/// Dimensions found by validation: N index entries, M rows of H columns in the row block, W
/// columns in the wide array, H columns starting at col.
struct RowsDims {
  int64_t N, M, H, W, col;
};

/// Validate gather_rows: src [M, H] float, index [N] int64, out [N, W] with src's dtype, all on
/// one device, 0 <= col and col + H <= W. Throws TypeError / ValueError naming the argument,
/// Unsupported / CudaError when a CUDA array cannot be used. An absent `out` (a Tensor{}) checks
/// the inputs alone, before a new output is allocated.
RowsDims gather_rows_check(const Tensor& src, const Tensor& index, const Tensor& out, int64_t col);
/// Validate scatter_rows: g [N, W] float, index [N] int64, out [M, H] (same rules).
RowsDims scatter_rows_check(const Tensor& g, const Tensor& index, const Tensor& out, int64_t col);

/// out[n, col:col + H] = src[index[n]] (zeros where index[n] is outside [0, M)); the other
/// columns of out are not touched.
void gather_rows(const Tensor& src, const Tensor& index, const Tensor& out, int64_t col,
                 void* stream = nullptr);

/// out[index[n]] += g[n, col:col + H] for every n with index[n] in [0, M).
void scatter_rows(const Tensor& g, const Tensor& index, const Tensor& out, int64_t col,
                  void* stream = nullptr);

/// Which row of one scale's outputs y [B, W, H] (as y.reshape(B * W, H)) holds the state for a
/// prediction right after event (b[n], t[n]): the scale's last step whose window is closed once
/// events 0..t have been seen (the index of gather_rows; MultiScaleNext in Python).
///
///   c = closed[b, t]                                          a wall-clock scale (closed given)
///   c = clamp(floor((t + 1 - size) / stride) + 1, 0, out_lengths[b]) if t < lengths[b], else 0
///                                                             a count scale
///   rows[n] = b * W + min(c, W) - 1 if c > 0, else -1 (none: no window closed yet)
///
/// An event outside the batch (b not in [0, B) or t not in [0, T)) gives -1. Every array lives on
/// the device of b (the per-sequence arrays uploaded by the caller on CUDA).
struct WindowRowsArgs {
  Tensor b, t;                  ///< [N] int64 events
  Tensor lengths;               ///< [B] int64 events per sequence, or absent (all T); count scales
  Tensor out_lengths;           ///< [B] int64 steps of the scale per sequence; count scales
  Tensor closed;                ///< [B, T] int64 steps closed through each event; wall-clock scales
  int64_t B = 0, T = 0, W = 0;  ///< batch, events per sequence, steps of the scale
  int64_t size = 1, stride = 1;  ///< count window (size >= 1, stride >= 1)
};

/// Validate window_rows (TypeError / ValueError naming the argument, CudaError / Unsupported);
/// returns N.
int64_t window_rows_check(const WindowRowsArgs& a);

/// rows [N] int64 on the device of b (see WindowRowsArgs).
void window_rows(const WindowRowsArgs& a, const Tensor& rows, void* stream = nullptr);

}  // namespace v1
}  // namespace chronoscale
