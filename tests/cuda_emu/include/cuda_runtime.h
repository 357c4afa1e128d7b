#pragma once
// Stand-in for the CUDA runtime header in the CPU emulation (tests/cuda_emu). The device API
// comes from emu.hpp; the host calls that chronoscale's CUDA host code makes run on the CPU:
// "device" memory is host memory, streams are ignored (everything is synchronous), and kernel
// launches go through a registry of kernels whose argument types the harness knows
// (emu::kernel_registry, filled by host_glue.cpp). The emulated device: emu::device().
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>

#include "../emu.hpp"

typedef int cudaError_t;
typedef void* cudaStream_t;
enum : int {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorCooperativeLaunchTooLarge = 720,
  cudaErrorNotSupported = 801,
};
enum cudaDeviceAttr : int {
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
  cudaDevAttrCooperativeLaunch = 95,
  cudaDevAttrMemoryPoolsSupported = 115,
};
enum cudaFuncAttribute : int {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
  cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};
enum : int { cudaSharedmemCarveoutMaxShared = 100 };
enum cudaMemcpyKind : int {
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
};

namespace emu {

struct Device {
  int sms = 4;
  int smem_optin = 227 << 10;
  int cooperative = 1;
  bool refuse_cooperative_launch = false;  // cudaLaunchCooperativeKernel -> too large
  uint32_t seed = 1;
  int launches = 0, cooperative_launches = 0;
  int reg_launches = 0;  // of register-resident recurrent kernels (tests/cuda_emu/host_glue.cpp)
  int gemm_launches = 0;  // of the recurrent GEMM mode's elementwise kernels (host_glue.cpp)
};
inline Device& device() {
  static Device d;
  return d;
}

using Invoker = std::function<void(void** args, dim3 grid, dim3 block, size_t smem, bool coop)>;
inline std::map<const void*, Invoker>& kernel_registry() {
  static std::map<const void*, Invoker> r;
  return r;
}

}  // namespace emu

inline const char* cudaGetErrorString(cudaError_t e) {
  return e == cudaErrorCooperativeLaunchTooLarge ? "cooperative launch too large"
                                                 : "emulated CUDA error";
}
inline cudaError_t cudaPeekAtLastError() { return cudaSuccess; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaGetDevice(int* d) {
  *d = 0;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int) {
  const emu::Device& d = emu::device();
  *v = a == cudaDevAttrMultiProcessorCount ? d.sms
       : a == cudaDevAttrMaxSharedMemoryPerBlockOptin ? d.smem_optin
                                                      : d.cooperative;
  return cudaSuccess;
}
inline cudaError_t cudaFuncSetAttribute(const void*, cudaFuncAttribute, int) { return cudaSuccess; }
/// 228 KiB of shared memory and 2048 threads per multiprocessor (an H100).
inline cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* n, const void*, int threads,
                                                                 size_t smem) {
  const int by_smem = int((228 << 10) / (smem + 1024));
  *n = by_smem < 2048 / threads ? by_smem : 2048 / threads;
  return cudaSuccess;
}
inline cudaError_t cudaMallocAsync(void** p, size_t n, cudaStream_t) {
  *p = std::malloc(n ? n : 1);
  std::memset(*p, 0xFF, n);  // NaN in float and double: unwritten scratch shows
  return *p ? cudaSuccess : cudaErrorInvalidValue;
}
inline cudaError_t cudaFreeAsync(void* p, cudaStream_t) {
  std::free(p);
  return cudaSuccess;
}
// Stream-ordered pools (memory.cuh): one emulated pool; allocations are plain mallocs.
typedef void* cudaMemPool_t;
enum cudaMemAllocationType : int { cudaMemAllocationTypePinned = 1 };
enum cudaMemLocationType : int { cudaMemLocationTypeDevice = 1 };
enum cudaMemPoolAttr : int { cudaMemPoolAttrReleaseThreshold = 4 };
struct cudaMemLocation {
  cudaMemLocationType type;
  int id;
};
struct cudaMemPoolProps {
  cudaMemAllocationType allocType;
  int handleTypes;
  cudaMemLocation location;
};
inline cudaError_t cudaMemPoolCreate(cudaMemPool_t* p, const cudaMemPoolProps*) {
  static int pool;
  *p = &pool;
  return cudaSuccess;
}
inline cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t, cudaMemPoolAttr, void*) {
  return cudaSuccess;
}
inline cudaError_t cudaMemPoolTrimTo(cudaMemPool_t, size_t) { return cudaSuccess; }
inline cudaError_t cudaMallocFromPoolAsync(void** p, size_t n, cudaMemPool_t, cudaStream_t s) {
  return cudaMallocAsync(p, n, s);
}
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
enum cudaMemoryType : int { cudaMemoryTypeUnregistered = 0, cudaMemoryTypeHost = 1 };
struct cudaPointerAttributes {
  cudaMemoryType type;
  int device;
};
/// Emulated memory is plain host memory: reported as unregistered (pageable).
inline cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* a, const void*) {
  a->type = cudaMemoryTypeUnregistered;
  a->device = 0;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
// Pinned staging (memory.cuh): host memory; events complete at once (everything is synchronous).
typedef void* cudaEvent_t;
enum : int { cudaErrorNotReady = 600 };
enum : unsigned { cudaHostAllocPortable = 1, cudaEventDisableTiming = 2 };
inline cudaError_t cudaHostAlloc(void** p, size_t n, unsigned) {
  *p = std::malloc(n ? n : 1);
  return *p ? cudaSuccess : cudaErrorInvalidValue;
}
inline cudaError_t cudaFreeHost(void* p) {
  std::free(p);
  return cudaSuccess;
}
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) {
  static int ev;
  *e = &ev;
  return cudaSuccess;
}
inline cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaEventQuery(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind,
                                   cudaStream_t) {
  std::memcpy(d, s, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t) {
  std::memset(d, v, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemset2DAsync(void* d, size_t pitch, int v, size_t w, size_t h,
                                     cudaStream_t) {
  for (size_t r = 0; r < h; ++r) std::memset(static_cast<char*>(d) + r * pitch, v, w);
  return cudaSuccess;
}
inline cudaError_t emu_launch_registered(const void* f, dim3 g, dim3 b, void** args, size_t smem,
                                         bool coop) {
  auto it = emu::kernel_registry().find(f);
  if (it == emu::kernel_registry().end()) return cudaErrorNotSupported;
  it->second(args, g, b, smem, coop);
  return cudaSuccess;
}
inline cudaError_t cudaLaunchKernel(const void* f, dim3 g, dim3 b, void** args, size_t smem,
                                    cudaStream_t) {
  ++emu::device().launches;
  return emu_launch_registered(f, g, b, args, smem, false);
}
inline cudaError_t cudaLaunchCooperativeKernel(const void* f, dim3 g, dim3 b, void** args,
                                               size_t smem, cudaStream_t) {
  if (emu::device().refuse_cooperative_launch) return cudaErrorCooperativeLaunchTooLarge;
  int per_sm = 0;
  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, f, int(b.x * b.y * b.z), smem);
  if (int64_t(g.x) * g.y * g.z > int64_t(per_sm) * emu::device().sms)
    return cudaErrorCooperativeLaunchTooLarge;  // the grid would not be co-resident
  ++emu::device().launches;
  ++emu::device().cooperative_launches;
  return emu_launch_registered(f, g, b, args, smem, true);
}
