#pragma once
// lengths[B] arrive as a host array; kernels read a device copy made on the op's stream.
#include <cuda_runtime.h>

#include <cstdint>

#include "chronoscale/tensor.hpp"
#include "cuda_check.hpp"
#include "device_buffer.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

/// Stream-ordered device copy of an optional host `lengths[B]` (nullptr when absent), uploaded
/// through the pinned staging of memory.cuh (no wait). The copy is freed on the same stream,
/// after the kernels queued before the destructor ran.
class DeviceLengths {
 public:
  DeviceLengths() = default;
  DeviceLengths(const Tensor& lengths, int64_t B, cudaStream_t stream) {
    if (lengths.defined()) buf_ = to_device(lengths.ptr<int64_t>(), B, stream);
  }

  const int64_t* get() const { return buf_.get(); }

 private:
  DeviceBuffer<int64_t> buf_;
};

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
