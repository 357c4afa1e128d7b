#pragma once
// Error checking for CUDA runtime calls: a failure throws chronoscale::CudaError
// ("<call> failed: <message>"); the library never aborts on a CUDA error.
#include <cuda_runtime.h>

#include "chronoscale/error.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

/// Throw CudaError("<call> failed: <cudaGetErrorString>") when `err` is not cudaSuccess.
inline void check(cudaError_t err, const char* call) {
  if (err == cudaSuccess) return;
  (void)cudaGetLastError();  // clear a non-sticky error so that later calls can still work
  throw CudaError(detail::cat(call, " failed: ", cudaGetErrorString(err)));
}

/// The calling thread's current CUDA device (cudaGetDevice, checked).
inline int current_device() {
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  return dev;
}

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale

/// Evaluate a CUDA runtime call; throw CudaError naming the call when it fails.
#define CS_CUDA_CHECK(call) ::chronoscale::cuda::check((call), #call)

/// Check the launch of the kernel just queued (bad configurations surface here).
#define CS_CUDA_CHECK_LAUNCH(kernel) ::chronoscale::cuda::check(cudaGetLastError(), "launch of " kernel)
