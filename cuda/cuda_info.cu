// Device discovery and pointer checks. cuda_device_count() must work without a driver or a
// device: it is what decides whether the CUDA path may be used at all.
#include "chronoscale/cuda_info.hpp"
#include "cuda_check.hpp"
#include "cuda_info.cuh"
#include "memory.cuh"

namespace chronoscale {
inline namespace v1 {

int cuda_device_count() {
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      (void)cudaGetLastError();
      return 0;
    }
    return n;
  }();
  return count;
}

void cuda_release_memory() {
  if (cuda_device_count() > 0) cuda::release_scratch();
}

void cuda_upload(const Tensor& src, const Tensor& dst, void* stream) {
  CS_CHECK(src.defined() && src.device == Device::cpu, ValueError,
           "cuda_upload: src must be a host (NumPy) array");
  CS_CHECK(dst.defined() && dst.device == Device::cuda, ValueError,
           "cuda_upload: dst must be a CUDA array");
  CS_CHECK(src.dtype == dst.dtype && src.numel() == dst.numel(), ValueError, "cuda_upload: src (",
           dtype_name(src.dtype), " ", src.shape_str(), ") and dst (", dtype_name(dst.dtype), " ",
           dst.shape_str(), ") must hold as many values of one dtype");
  if (src.numel() == 0) return;
  cuda::check_device_pointer(dst.data, "cuda_upload", "dst");
  cuda::upload(dst.data, src.data, static_cast<size_t>(src.numel() * dtype_size(src.dtype)),
               static_cast<cudaStream_t>(stream));
}

namespace cuda {

void check_device_pointer(const void* p, const char* op, const char* name) {
  cudaPointerAttributes attr{};
  const cudaError_t err = cudaPointerGetAttributes(&attr, p);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    throw ValueError(detail::cat(op, ": ", name, " is not CUDA memory (", cudaGetErrorString(err),
                                 ")"));
  }
  CS_CHECK(attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged, ValueError,
           op, ": ", name, " claims to be a CUDA array but does not point to device memory");
  const int current = current_device();
  CS_CHECK(attr.device == current, ValueError, op, ": ", name, " lives on CUDA device ",
           attr.device, " but the current device is ", current,
           " (use `with cupy.cuda.Device(", attr.device, "):`)");
}

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
