#pragma once
/// CUDA availability, safe to call on any machine and in any build.
namespace chronoscale {
inline namespace v1 {

/// Number of CUDA devices this process can use: 0 when built without CUDA, when no driver is
/// installed, or when no device is visible. Never throws.
int cuda_device_count();

}  // namespace v1
}  // namespace chronoscale
