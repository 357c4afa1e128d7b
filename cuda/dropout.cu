// CUDA dropout: one thread per element (grid-stride), each draws its own counter-based number,
// so the mask equals the CPU's for the same (seed, p, n). The generator's key is derived on the
// host by the CPU code (cpu::CounterRng); the device repeats only the per-draw mixing.
#include <cuda_runtime.h>

#include <cmath>

#include "../cpp/src/cpu/rng.hpp"
#include "dropout.cuh"
#include "train_common.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

namespace {

// cpu::mix64 and cpu::CounterRng::u53 (cpp/src/cpu/rng.hpp) on the device.
__device__ __forceinline__ uint64_t mix64_d(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

__device__ __forceinline__ uint64_t u53_d(uint64_t key, uint64_t i) {
  return mix64_d(key + (i + 1) * 0x9e3779b97f4a7c15ULL) >> 11;
}

template <class T>
__global__ void __launch_bounds__(train::kThreads)
    dropout_kernel(const T* in, int64_t n, uint64_t key, uint64_t threshold, T scale, T* out) {
  // (no __restrict__: out may be in itself, an in-place dropout)
  for (int64_t i = flat_index(); i < n; i += flat_stride()) {
    const T f = u53_d(key, static_cast<uint64_t>(i)) >= threshold ? scale : T(0);
    out[i] = in ? in[i] * f : f;
  }
}

}  // namespace

template <class T>
void dropout_apply(const T* in, int64_t n, double p, uint64_t seed, T* out, void* stream) {
  if (n <= 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  const cpu::CounterRng rng(seed, cpu::kSaltDropout);
  const auto threshold = static_cast<uint64_t>(std::ceil(std::ldexp(p, 53)));
  const T scale = T(1.0 / (1.0 - p));
  train::launch(dropout_kernel<T>, dim3(train::blocks_for(n)), dim3(train::kThreads), s,
                "dropout_kernel", in, n, rng.key, threshold, scale, out);
}

template void dropout_apply<float>(const float*, int64_t, double, uint64_t, float*, void*);
template void dropout_apply<double>(const double*, int64_t, double, uint64_t, double*, void*);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
