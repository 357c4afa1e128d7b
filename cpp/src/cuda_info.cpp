// CUDA facts for builds without CUDA; the CUDA build defines them in cuda/cuda_info.cu and
// cuda/cublas.cu.
#include "chronoscale/cuda_info.hpp"

#include "chronoscale/error.hpp"

namespace chronoscale {
inline namespace v1 {

#ifndef CHRONOSCALE_WITH_CUDA
int cuda_device_count() { return 0; }
std::string cuda_gemm_backend() { return "none"; }
void cuda_load_cublas(const std::string&) {
  throw Unsupported("cuda_load_cublas: chronoscale was built without CUDA");
}
void cuda_release_memory() {}
void cuda_upload(const Tensor&, const Tensor&, void*) {
  throw Unsupported("cuda_upload: chronoscale was built without CUDA");
}
#endif

}  // namespace v1
}  // namespace chronoscale
