// C entry points (for ctypes) that run the CUDA row normalisation (cuda/normalize.cu: kernels
// and host side) in the CPU emulator (emu.hpp). tests/python/test_normalize_cuda_emu.py builds
// it with g++ -std=c++20 -shared -fPIC -I tests/cuda_emu/include -I cuda -I cpp/include
// -I cpp/src and compares the results with the CPU kernels of the real module.
#include <cuda_runtime.h>  // tests/cuda_emu/include: the emulator

#include <cmath>
#include <cstdint>
#include <exception>
#include <string>

using std::sqrt;

#include "../../cuda/normalize.cu"

using namespace chronoscale;

namespace {

std::string g_error;

template <class F>
int guarded(uint32_t seed, F&& f) {
  try {
    emu::device().seed = seed;
    f();
    return 0;
  } catch (const std::exception& e) {
    g_error = e.what();
    return 1;
  }
}

template <class T>
void run(int64_t N, int64_t D, double eps, const void* x, const void* dy, void* y, void* norm,
         void* dx) {
  const NormalizeDims d{N, D};
  const T e = static_cast<T>(eps);
  cuda::normalize_forward<T>(d, static_cast<const T*>(x), e, static_cast<T*>(y),
                             static_cast<T*>(norm), nullptr);
  cuda::normalize_backward<T>(d, static_cast<const T*>(dy), static_cast<const T*>(y),
                              static_cast<const T*>(norm), e, static_cast<T*>(dx), nullptr);
}

}  // namespace

extern "C" {

const char* emu_normalize_error() { return g_error.c_str(); }

/// Forward (x [N, D] -> y [N, D], norm [N]) then backward (dy [N, D] -> dx [N, D]).
int emu_normalize(int is_double, int64_t N, int64_t D, double eps, const void* x, const void* dy,
                  void* y, void* norm, void* dx, uint32_t seed) {
  return guarded(seed, [&] {
    if (is_double) run<double>(N, D, eps, x, dy, y, norm, dx);
    else run<float>(N, D, eps, x, dy, y, norm, dx);
  });
}

}  // extern "C"
