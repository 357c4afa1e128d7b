#pragma once
// The launch's dynamic shared memory as T* (16-byte aligned), for the kernels that size their
// shared memory at launch (recurrent kernels, top-k). tests/cuda_emu/emu.hpp supplies its own
// (one buffer per emulated block).
#include <cuda_runtime.h>

namespace chronoscale {
inline namespace v1 {
namespace cuda {

#ifndef CS_CUDA_EMU
template <class T>
__device__ __forceinline__ T* dynamic_smem() {
  extern __shared__ __align__(16) unsigned char cs_dynamic_smem[];
  return reinterpret_cast<T*>(cs_dynamic_smem);
}
#endif

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
