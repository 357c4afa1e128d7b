#pragma once
// Per-device facts read once (multiprocessor count, opt-in shared memory, cooperative launch) for
// the launch plans of the CUDA kernels.
#include <cuda_runtime.h>

#include <mutex>

#include "cuda_check.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

struct DeviceProps {
  int device = 0;
  int sms = 1;                 ///< multiprocessors
  size_t smem_optin = 48 << 10;  ///< largest dynamic shared memory a block may opt into
  bool cooperative = false;    ///< cudaLaunchCooperativeKernel supported
};

/// Facts of the current device (cached; thread-safe).
inline DeviceProps current_device_props() {
  constexpr int kMaxDevices = 64;
  static std::mutex mu;
  static DeviceProps cache[kMaxDevices];
  static bool known[kMaxDevices] = {};
  const int dev = current_device();
  std::lock_guard<std::mutex> lock(mu);
  if (dev >= 0 && dev < kMaxDevices && known[dev]) return cache[dev];
  DeviceProps p;
  p.device = dev;
  int v = 0;
  CS_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev));
  p.sms = v > 0 ? v : 1;
  CS_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  p.smem_optin = static_cast<size_t>(v);
  CS_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrCooperativeLaunch, dev));
  p.cooperative = v != 0;
  if (dev >= 0 && dev < kMaxDevices) {
    cache[dev] = p;
    known[dev] = true;
  }
  return p;
}

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
