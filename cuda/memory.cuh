#pragma once
// Where the CUDA ops get memory without waiting for the device.
//
// Scratch (DeviceBuffer): cudaMallocFromPoolAsync from chronoscale's own stream-ordered pool per
// device. Its release threshold is "never": the device's default pool has a threshold of 0 and
// hands its memory back to the driver at every synchronisation, so after each loss read-back the
// next step's scratch (hundreds of MiB for a recurrent backward) would be mapped again.
// `release_scratch()` trims the pools (chronoscale.cuda_release_memory()).
//
// Host -> device copies (upload): through pinned staging blocks, so cudaMemcpyAsync is truly
// asynchronous (from pageable memory it may wait). A block is reused once the event recorded
// after its copy has completed; the host data may go away as soon as upload() returns.
// Pools and blocks live for the process (never freed at exit: the driver may be gone by then).
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

#include "cuda_check.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

namespace memory_detail {

constexpr int kMaxDevices = 64;

struct Pools {
  std::mutex mu;
  cudaMemPool_t pool[kMaxDevices] = {};
};
inline Pools& pools() {
  static Pools* p = new Pools;  // leaked on purpose
  return *p;
}

struct StagingBlock {
  void* host = nullptr;
  size_t cap = 0;
  cudaEvent_t done = nullptr;
  int device = 0;
};
struct Staging {
  std::mutex mu;
  std::vector<StagingBlock> blocks;
  size_t total = 0;
};
inline Staging& staging() {
  static Staging* s = new Staging;  // leaked on purpose
  return *s;
}

constexpr size_t kMinBlock = size_t(64) << 10;     // smallest staging block
constexpr size_t kMaxStaged = size_t(16) << 20;    // larger copies go straight from the source
constexpr size_t kMaxStaging = size_t(256) << 20;  // pinned memory held at most
constexpr size_t kMaxBlocks = 64;                   // staging blocks (copies in flight) at most

}  // namespace memory_detail

/// chronoscale's scratch pool of the current device (created on first use).
inline cudaMemPool_t scratch_pool() {
  using namespace memory_detail;
  const int dev = current_device();
  CS_CHECK(dev >= 0 && dev < kMaxDevices, CudaError, "CUDA device ", dev, " out of range");
  Pools& p = pools();
  std::lock_guard<std::mutex> lock(p.mu);
  if (!p.pool[dev]) {
    int supported = 0;
    CS_CUDA_CHECK(cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, dev));
    CS_CHECK(supported != 0, CudaError, "CUDA device ", dev,
             " does not support stream-ordered memory pools (cudaDevAttrMemoryPoolsSupported = 0, "
             "e.g. some virtual GPUs or old drivers); chronoscale's CUDA ops need them");
    cudaMemPoolProps props{};
    props.allocType = cudaMemAllocationTypePinned;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = dev;
    cudaMemPool_t pool = nullptr;
    CS_CUDA_CHECK(cudaMemPoolCreate(&pool, &props));
    uint64_t keep = UINT64_MAX;
    CS_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
    p.pool[dev] = pool;
  }
  return p.pool[dev];
}

/// Stream-ordered allocation of `bytes` (> 0) from the scratch pool. Out of memory: after the
/// stream's queued work (so that memory it freed counts as unused), the pool's unused memory
/// goes back to the driver and the allocation is tried once more.
inline void* scratch_alloc(size_t bytes, cudaStream_t stream) {
  void* ptr = nullptr;
  const cudaMemPool_t pool = scratch_pool();
  cudaError_t err = cudaMallocFromPoolAsync(&ptr, bytes, pool, stream);
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    CS_CUDA_CHECK(cudaStreamSynchronize(stream));
    CS_CUDA_CHECK(cudaMemPoolTrimTo(pool, 0));
    err = cudaMallocFromPoolAsync(&ptr, bytes, pool, stream);
  }
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    throw CudaError(detail::cat(
        "cudaMallocFromPoolAsync(scratch) failed: out of memory for ", bytes,
        " bytes of scratch (other allocators may hold the memory: CuPy's pool gives its unused "
        "blocks back with cupy.get_default_memory_pool().free_all_blocks(), chronoscale's with "
        "chronoscale.cuda_release_memory())"));
  }
  check(err, "cudaMallocFromPoolAsync(scratch)");
  return ptr;
}

/// Hands the scratch pools' unused memory back to the driver (after waiting for the devices'
/// queued work, so that memory freed by it is unused).
inline void release_scratch() {
  using namespace memory_detail;
  Pools& p = pools();
  std::lock_guard<std::mutex> lock(p.mu);
  const int current = current_device();
  struct Restore {  // the caller's device, also when a call below throws
    int dev;
    ~Restore() { (void)cudaSetDevice(dev); }
  } restore{current};
  for (int dev = 0; dev < kMaxDevices; ++dev) {
    if (!p.pool[dev]) continue;
    CS_CUDA_CHECK(cudaSetDevice(dev));
    CS_CUDA_CHECK(cudaDeviceSynchronize());
    CS_CUDA_CHECK(cudaMemPoolTrimTo(p.pool[dev], 0));
  }
}

/// Queue a copy of `bytes` host bytes from `src` to device memory `dst` on `stream`; `src` may
/// be freed or changed once this returns. Copies up to 16 MiB go through a free pinned staging
/// block and never wait for the device.
inline void upload(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  using namespace memory_detail;
  if (bytes == 0) return;
  if (bytes <= kMaxStaged) {
    const int dev = current_device();
    Staging& st = staging();
    std::lock_guard<std::mutex> lock(st.mu);
    StagingBlock* blk = nullptr;
    for (StagingBlock& b : st.blocks) {
      if (b.device != dev || b.cap < bytes) continue;
      const cudaError_t q = cudaEventQuery(b.done);
      if (q == cudaSuccess) {
        blk = &b;
        break;
      }
      if (q != cudaErrorNotReady) check(q, "cudaEventQuery(staging)");
      // "Not ready" is no error; where the runtime keeps it as the last error, clear it, or
      // the next launch check (cudaGetLastError) would report it.
      if (cudaPeekAtLastError() == cudaErrorNotReady) (void)cudaGetLastError();
    }
    size_t cap = kMinBlock;
    while (cap < bytes) cap *= 2;
    if (!blk && st.total + cap <= kMaxStaging && st.blocks.size() < kMaxBlocks) {
      StagingBlock b;
      b.device = dev;
      b.cap = cap;
      if (cudaHostAlloc(&b.host, cap, cudaHostAllocPortable) == cudaSuccess) {
        if (cudaEventCreateWithFlags(&b.done, cudaEventDisableTiming) == cudaSuccess) {
          st.blocks.push_back(b);
          st.total += cap;
          blk = &st.blocks.back();
        } else {
          (void)cudaFreeHost(b.host);
        }
      }
      if (!blk) (void)cudaGetLastError();  // no pinned memory: the direct copy below
    }
    if (blk) {
      std::memcpy(blk->host, src, bytes);
      CS_CUDA_CHECK(cudaMemcpyAsync(dst, blk->host, bytes, cudaMemcpyHostToDevice, stream));
      CS_CUDA_CHECK(cudaEventRecord(blk->done, stream));
      return;
    }
  }
  // Large, or no staging block free: a direct copy from the source. From pageable memory the
  // call returns once the data is staged; from page-locked memory the copy would still read
  // `src` after the return, so it is waited for (the only wait here, and a rare one).
  CS_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, src) != cudaSuccess) {
    (void)cudaGetLastError();
    return;
  }
  if (attr.type == cudaMemoryTypeHost) CS_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
