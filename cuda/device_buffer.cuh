#pragma once
// Stream-ordered scratch memory for CUDA kernels (chronoscale's scratch pool, memory.cuh, and
// cudaFreeAsync on the op's stream): no device-wide synchronisation, and the memory goes back to
// the pool only after the work queued on the stream before the destructor ran.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "cuda_check.hpp"
#include "memory.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  /// `n` elements of T on `stream` (n == 0 allocates nothing).
  DeviceBuffer(int64_t n, cudaStream_t stream) : stream_(stream) {
    if (n <= 0) return;
    ptr_ = static_cast<T*>(scratch_alloc(sizeof(T) * static_cast<size_t>(n), stream_));
  }
  ~DeviceBuffer() {
    if (ptr_) (void)cudaFreeAsync(ptr_, stream_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), stream_(o.stream_) { o.ptr_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      if (ptr_) (void)cudaFreeAsync(ptr_, stream_);
      ptr_ = o.ptr_;
      stream_ = o.stream_;
      o.ptr_ = nullptr;
    }
    return *this;
  }

  T* get() const { return ptr_; }

 private:
  T* ptr_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

/// Stream-ordered device copy of n host values through the pinned staging (memory.cuh): no
/// wait, and the host array may go away after the call.
template <class T>
DeviceBuffer<T> to_device(const T* host, int64_t n, cudaStream_t s) {
  DeviceBuffer<T> buf(n, s);
  if (n > 0) upload(buf.get(), host, sizeof(T) * static_cast<size_t>(n), s);
  return buf;
}
template <class T>
DeviceBuffer<T> to_device(const std::vector<T>& host, cudaStream_t s) {
  return to_device(host.data(), static_cast<int64_t>(host.size()), s);
}

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
