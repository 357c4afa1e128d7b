// CUDA packed running sums (same sums as cpp/src/cpu/packed.cpp): one thread per (sequence,
// column), consecutive threads on consecutive columns (each step's row is read and written
// coalesced), walking the sequence's steps in order; batch_sizes is copied to the device on the
// stream (like lengths).
#include <cuda_runtime.h>

#include "cuda_lengths.cuh"
#include "packed.cuh"
#include "train_common.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

// Named (not anonymous) so that the emulator harness can reach the kernel.
namespace packed_impl {

template <class T>
__global__ void __launch_bounds__(train::kThreads)
    cumsum_kernel(const PackedDims d, const T* __restrict__ x, const int64_t* __restrict__ bs,
                  int64_t rows, bool reverse, T* __restrict__ out) {
  for (int64_t i = flat_index(); i < rows * d.D; i += flat_stride()) {
    const int64_t r = i / d.D, c = i - r * d.D;
    int64_t end = 0, off = 0;  // the sequence's steps; off: past its last block
    while (end < d.T && bs[end] > r) off += bs[end++];
    if (!reverse) off = 0;
    // The walk's steps in order; step k + 1's value is loaded before step k's is added, so two
    // loads of a sequence are in flight at once instead of one after the other.
    const auto row_at = [&](int64_t k) {  // j of step k (moves off along the walk)
      const int64_t t = reverse ? end - 1 - k : k;
      if (reverse) off -= bs[t];
      const int64_t j = (off + r) * d.D + c;
      if (!reverse) off += bs[t];
      return j;
    };
    if (end == 0) continue;
    int64_t j = row_at(0);
    T cur = x[j], acc = T(0);
    for (int64_t k = 0; k < end; ++k) {
      const int64_t jn = k + 1 < end ? row_at(k + 1) : j;
      const T next = k + 1 < end ? x[jn] : T(0);  // issued before cur is used
      acc = k == 0 ? cur : acc + cur;  // (the first step copies: as the CPU's memcpy)
      out[j] = acc;
      j = jn;
      cur = next;
    }
  }
}

}  // namespace packed_impl

template <class T>
void packed_cumsum(const PackedDims& d, const T* x, const Tensor& batch_sizes, bool reverse,
                   T* out, void* stream) {
  const int64_t rows = d.T ? batch_sizes.ptr<int64_t>()[0] : 0;  // (a host array)
  if (rows * d.D == 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  const DeviceLengths bs(batch_sizes, d.T, s);
  train::launch(packed_impl::cumsum_kernel<T>, dim3(train::blocks_for(rows * d.D)),
                dim3(train::kThreads), s, "packed cumsum_kernel", d, x, bs.get(), rows, reverse,
                out);
}

template void packed_cumsum<float>(const PackedDims&, const float*, const Tensor&, bool, float*,
                                   void*);
template void packed_cumsum<double>(const PackedDims&, const double*, const Tensor&, bool,
                                    double*, void*);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
