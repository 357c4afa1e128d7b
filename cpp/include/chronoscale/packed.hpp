#pragma once
/// Running sums over the sequences of a packed batch: the time-major layout of
/// torch.nn.utils.rnn.PackedSequence, where block t holds batch_sizes[t] rows (non-increasing in
/// t: the sequences sorted longest first) and row r of block t continues row r of block t - 1.
/// For x [N, D] with N = sum(batch_sizes) and off[t] = sum_{tau < t} batch_sizes[tau]:
///
///   forward:  out[off[t] + r] = x[off[0] + r] + ... + x[off[t] + r]
///   reverse:  out[off[t] + r] = x[off[t] + r] + ... + x[off[L_r - 1] + r]
///
/// (L_r: the length of sequence r). Every sum adds in time order (reverse: from the sequence's
/// last step back), one sequence per thread, so the result is the same for any thread count and
/// on the CPU and CUDA. batch_sizes is a host int64 array (like lengths); x and out live on the
/// CPU or on one CUDA device.
#include "chronoscale/tensor.hpp"

namespace chronoscale {
inline namespace v1 {

struct PackedDims {
  int64_t N, D, T;
};

/// Validate x [N, D] (float) and batch_sizes [T] (host int64, >= 0, non-increasing, summing to
/// N); throws TypeError / ValueError naming the argument, Unsupported / CudaError for unusable
/// CUDA arrays.
PackedDims packed_cumsum_check(const Tensor& x, const Tensor& batch_sizes);

/// out [N, D] (x's dtype and device; may not be x) = the running sums of x (reverse: from the end).
void packed_cumsum(const Tensor& x, const Tensor& batch_sizes, bool reverse, const Tensor& out,
                   void* stream = nullptr);

}  // namespace v1
}  // namespace chronoscale
