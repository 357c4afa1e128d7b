#pragma once
// Host-side CUDA helpers callable from plain C++ (no CUDA types in this header).
#include <cstdint>

namespace chronoscale {
inline namespace v1 {
namespace cuda {

/// Throws ValueError unless `p` points to device (or managed) memory on the current device.
void check_device_pointer(const void* p, const char* op, const char* name);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
