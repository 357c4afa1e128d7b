// cuda_device_count() for builds without CUDA; the CUDA build defines it in cuda/cuda_info.cu.
#include "chronoscale/cuda_info.hpp"

namespace chronoscale {
inline namespace v1 {

#ifndef CHRONOSCALE_WITH_CUDA
int cuda_device_count() { return 0; }
#endif

}  // namespace v1
}  // namespace chronoscale
