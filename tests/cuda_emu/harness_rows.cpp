// C entry points (for ctypes) that run the CUDA row gather / scatter (cuda/rows.cu: kernels and
// their host side) in the CPU emulator (emu.hpp). tests/python/test_rows_cuda_emu.py builds it
// with g++ -std=c++20 -shared -fPIC -I tests/cuda_emu/include -I cuda -I cpp/include -I cpp/src
// and compares the results with the CPU kernels of the real module. "Device" memory is host
// memory here, so the Python side passes NumPy buffers.
#include <cuda_runtime.h>  // tests/cuda_emu/include: the emulator

#include <cstdint>
#include <exception>
#include <string>

// Device atomics, which the shared emulator headers do not provide. Threads are coroutines on
// one OS thread that only switch at barriers, so a read-modify-write is atomic.
template <class T>
inline T atomicAdd(T* p, T v) {
  const T old = *p;
  *p = old + v;
  return old;
}

#include "../../cuda/rows.cu"

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

}  // namespace

extern "C" {

const char* emu_rows_error() { return g_error.c_str(); }

/// out [N, W] columns [col, col + H) = src [M, H] rows of index [N] (zeros where none).
int emu_gather_rows(int is_double, int64_t N, int64_t M, int64_t H, int64_t W, int64_t col,
                    const void* src, const int64_t* index, void* out, uint32_t seed) {
  return guarded(seed, [&] {
    const RowsDims d{N, M, H, W, col};
    if (is_double)
      cuda::gather_rows<double>(d, static_cast<const double*>(src), index,
                                static_cast<double*>(out), nullptr);
    else
      cuda::gather_rows<float>(d, static_cast<const float*>(src), index,
                               static_cast<float*>(out), nullptr);
  });
}

/// out [M, H] += g [N, W] columns [col, col + H) at the rows of index [N].
int emu_scatter_rows(int is_double, int64_t N, int64_t M, int64_t H, int64_t W, int64_t col,
                     const void* g, const int64_t* index, void* out, uint32_t seed) {
  return guarded(seed, [&] {
    const RowsDims d{N, M, H, W, col};
    if (is_double)
      cuda::scatter_rows<double>(d, static_cast<const double*>(g), index,
                                 static_cast<double*>(out), nullptr);
    else
      cuda::scatter_rows<float>(d, static_cast<const float*>(g), index,
                                static_cast<float*>(out), nullptr);
  });
}

/// rows [N] of window_rows for the events (b, t) [N]; len / out_len [B], closed [B, T] or null.
int emu_window_rows(int64_t N, const int64_t* b, const int64_t* t, int64_t B, int64_t T,
                    int64_t W, int64_t size, int64_t stride, const int64_t* len,
                    const int64_t* out_len, const int64_t* closed, int64_t* rows, uint32_t seed) {
  return guarded(seed, [&] {
    const auto dev = [](const int64_t* p, std::initializer_list<int64_t> dims) {
      return p ? Tensor(const_cast<int64_t*>(p), DType::int64, dims, Device::cuda) : Tensor{};
    };
    const WindowRowsArgs a{dev(b, {N}),      dev(t, {N}),         dev(len, {B}),
                           dev(out_len, {B}), dev(closed, {B, T}), B, T, W, size, stride};
    cuda::window_rows(a, rows, nullptr);
  });
}

}  // extern "C"
