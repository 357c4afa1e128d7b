#pragma once
/// CUDA availability, safe to call on any machine and in any build; and the host -> device copy
/// of the Python glue.
#include <string>

#include "chronoscale/tensor.hpp"

namespace chronoscale {
inline namespace v1 {

/// Number of CUDA devices this process can use: 0 when built without CUDA, when no driver is
/// installed, or when no device is visible. Never throws.
int cuda_device_count();

/// Which library serves the GEMMs of the CUDA kernels: "cublas:<path>" (loaded at run time) or
/// "builtin (<why>)" (chronoscale's own tiled kernel); "none" in a build without CUDA.
std::string cuda_gemm_backend();

/// Use the cuBLAS shared library at `path` for the CUDA kernels' GEMMs from now on.
/// Throws ValueError when it cannot be loaded, Unsupported in a build without CUDA.
void cuda_load_cublas(const std::string& path);

/// Hand the unused memory of chronoscale's CUDA scratch pools back to the driver (waits for
/// the devices first). The pools otherwise keep it for the next call. No-op without CUDA.
void cuda_release_memory();

/// Queue a copy of the host array `src` into the CUDA array `dst` (same dtype and element count)
/// on `stream` through chronoscale's pinned staging blocks: no wait for the device (up to
/// 16 MiB), and `src` may change as soon as this returns. ValueError for mismatched arrays,
/// Unsupported in a build without CUDA.
void cuda_upload(const Tensor& src, const Tensor& dst, void* stream);

}  // namespace v1
}  // namespace chronoscale
