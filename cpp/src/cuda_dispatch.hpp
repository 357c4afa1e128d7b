#pragma once
// Device checks for ops that have a CUDA path. A CUDA view needs a CUDA build, a visible device and
// a pointer to device memory on the current device; all of this is checked before any kernel (or
// host code) touches the pointer, so a bad array raises instead of crashing.
#include <initializer_list>
#include <utility>

#include "chronoscale/cuda_info.hpp"
#include "chronoscale/error.hpp"
#include "chronoscale/tensor.hpp"
#include "validate.hpp"
#ifdef CHRONOSCALE_WITH_CUDA
#include "cuda_info.cuh"
#endif

namespace chronoscale {
inline namespace v1 {
namespace check {

/// Throws unless the CUDA view `t` can be used by a kernel (no-op for CPU views).
inline void cuda_usable(const Tensor& t, const char* op, const char* name) {
  if (!t.defined() || t.device != Device::cuda) return;
#ifdef CHRONOSCALE_WITH_CUDA
  CS_CHECK(cuda_device_count() > 0, CudaError, op, ": ", name,
           " is a CUDA array but no CUDA device is available");
  // An empty array may carry a null pointer (CuPy allocates nothing for size 0); no kernel
  // reads it, so only non-empty arrays need device memory on the current device.
  if (t.numel() == 0) return;
  cuda::check_device_pointer(t.data, op, name);
#else
  throw Unsupported(detail::cat(op, ": ", name,
                                " is a CUDA array but chronoscale was built without CUDA "
                                "(rebuild with CHRONOSCALE_CUDA=ON)"));
#endif
}

inline void cuda_usable(std::initializer_list<std::pair<const Tensor*, const char*>> ts,
                        const char* op) {
  for (auto [t, name] : ts) cuda_usable(*t, op, name);
}

/// An array that goes with `ref` (an output or a cached input of `op`): check::like_shape
/// (defined, ref's dtype and device, the shape `dims`), then usable on its device.
inline void usable_like(const Tensor& t, const Tensor& ref, const char* name, const char* ref_name,
                        std::initializer_list<int64_t> dims, const char* expect, const char* op) {
  like_shape(t, ref, name, ref_name, dims, expect);
  cuda_usable(t, op, name);
}

}  // namespace check
}  // namespace v1
}  // namespace chronoscale

/// Inside CS_DISPATCH_FLOAT (scalar_t bound) with a `stream` in scope:
/// cuda::name<scalar_t>(args..., stream) when the view `t` is on CUDA, else
/// cpu::name<scalar_t>(args...). The CUDA branch exists only with CHRONOSCALE_WITH_CUDA;
/// without it check::cuda_usable has already thrown Unsupported for CUDA views.
#ifdef CHRONOSCALE_WITH_CUDA
#define CS_DEVICE_CALL(t, name, ...)                                                     \
  ((t).device == ::chronoscale::Device::cuda ? cuda::name<scalar_t>(__VA_ARGS__, stream) \
                                             : cpu::name<scalar_t>(__VA_ARGS__))
#else
#define CS_DEVICE_CALL(t, name, ...) ((void)stream, cpu::name<scalar_t>(__VA_ARGS__))
#endif
