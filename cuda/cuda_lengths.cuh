#pragma once
// lengths[B] arrive as a host array; kernels read a device copy made on the op's stream.
#include <cuda_runtime.h>

#include <cstdint>

#include "chronoscale/tensor.hpp"
#include "cuda_check.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

/// Stream-ordered device copy of an optional host `lengths[B]` (nullptr when absent). The copy
/// is freed on the same stream, after the kernels queued before the destructor ran.
class DeviceLengths {
 public:
  DeviceLengths(const Tensor& lengths, int64_t B, cudaStream_t stream) : stream_(stream) {
    if (!lengths.defined()) return;
    const size_t bytes = sizeof(int64_t) * static_cast<size_t>(B);
    CS_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&ptr_), bytes, stream_));
    // Pageable source: the call returns once the host data is staged, so the caller's array
    // may go away afterwards.
    const cudaError_t err =
        cudaMemcpyAsync(ptr_, lengths.data, bytes, cudaMemcpyHostToDevice, stream_);
    if (err != cudaSuccess) {
      (void)cudaFreeAsync(ptr_, stream_);
      check(err, "cudaMemcpyAsync(lengths)");
    }
  }
  ~DeviceLengths() {
    if (ptr_) (void)cudaFreeAsync(ptr_, stream_);
  }
  DeviceLengths(const DeviceLengths&) = delete;
  DeviceLengths& operator=(const DeviceLengths&) = delete;

  const int64_t* get() const { return ptr_; }

 private:
  int64_t* ptr_ = nullptr;
  cudaStream_t stream_;
};

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
