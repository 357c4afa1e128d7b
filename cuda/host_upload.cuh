#pragma once
// Several host int64 arrays (plans computed on the host: counts, event maps, ...) packed into one
// device buffer with a single stream-ordered copy through the pinned staging of memory.cuh (no
// wait for the device).
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "cuda_check.hpp"
#include "device_buffer.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

class HostUpload {
 public:
  /// Appends n elements of `p` (null or n == 0: nothing); returns their offset in elements.
  int64_t add(const int64_t* p, int64_t n) {
    const auto off = static_cast<int64_t>(host_.size());
    if (p && n > 0) host_.insert(host_.end(), p, p + n);
    return off;
  }
  /// Copies everything appended so far to the device on `stream`.
  void upload(cudaStream_t stream) { dev_ = to_device(host_, stream); }
  /// Device address of the array appended at `offset` (after upload).
  const int64_t* at(int64_t offset) const { return dev_.get() + offset; }

 private:
  std::vector<int64_t> host_;
  DeviceBuffer<int64_t> dev_;
};

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
