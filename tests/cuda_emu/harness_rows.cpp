// C entry points (for ctypes) that run the CUDA row glue of the models -- the row gather /
// scatter and window rows (cuda/rows.cu), the row normalisation (cuda/normalize.cu), the
// packed running sums (cuda/packed.cu), the scale fusion (cuda/fusion.cu) and the top-k
// (cuda/top_k.cu), kernels and host side -- in the CPU emulator (emu.hpp).
// tests/python/test_{rows,normalize,packed,fusion,top_k}_cuda_emu.py build it with
//   g++ -std=c++20 -shared -fPIC -I tests/cuda_emu/include -I cuda -I cpp/include -I cpp/src
// and compare the results with the CPU kernels of the real module. "Device" memory is host
// memory here, so the Python side passes NumPy buffers.
#include <cuda_runtime.h>  // tests/cuda_emu/include: the emulator

#include <cmath>
#include <cstdint>
#include <exception>
#include <string>
#include <type_traits>

using std::sqrt;

// Device atomics, which the shared emulator headers do not provide. Threads are coroutines on
// one OS thread that only switch at barriers, so a read-modify-write is atomic.
template <class T>
inline T atomicAdd(T* p, T v) {
  const T old = *p;
  *p = old + v;
  return old;
}

#include "../../cuda/fusion.cu"
#include "../../cuda/normalize.cu"
#include "../../cuda/packed.cu"
#include "../../cuda/rows.cu"
#include "../../cuda/top_k.cu"

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

// f(in, out) with the buffers cast to float or double.
template <class F>
int typed(int is_double, uint32_t seed, const void* in, void* out, F&& f) {
  return guarded(seed, [&] {
    if (is_double)
      f(static_cast<const double*>(in), static_cast<double*>(out));
    else
      f(static_cast<const float*>(in), static_cast<float*>(out));
  });
}

}  // namespace

extern "C" {

const char* emu_rows_error() {
  return g_error.c_str();
}

/// out [N, W] columns [col, col + H) = src [M, H] rows of index [N] (zeros where none).
int emu_gather_rows(int is_double, int64_t N, int64_t M, int64_t H, int64_t W, int64_t col,
                    const void* src, const int64_t* index, void* out, uint32_t seed) {
  return typed(is_double, seed, src, out, [&](const auto* in, auto* o) {
    cuda::gather_rows(RowsDims{N, M, H, W, col}, in, index, o, nullptr);
  });
}

/// out [M, H] += g [N, W] columns [col, col + H) at the rows of index [N].
int emu_scatter_rows(int is_double, int64_t N, int64_t M, int64_t H, int64_t W, int64_t col,
                     const void* g, const int64_t* index, void* out, uint32_t seed) {
  return typed(is_double, seed, g, out, [&](const auto* in, auto* o) {
    cuda::scatter_rows(RowsDims{N, M, H, W, col}, in, index, o, nullptr);
  });
}

/// Normalisation forward (x [N, D] -> y [N, D], norm [N]) then backward (dy -> dx [N, D]).
int emu_normalize(int is_double, int64_t N, int64_t D, double eps, const void* x, const void* dy,
                  void* y, void* norm, void* dx, uint32_t seed) {
  return typed(is_double, seed, x, y, [&](const auto* xp, auto* yp) {
    using T = std::remove_pointer_t<decltype(yp)>;
    const NormalizeDims d{N, D};
    const T e = static_cast<T>(eps);
    cuda::normalize_forward<T>(d, xp, e, yp, static_cast<T*>(norm), nullptr);
    cuda::normalize_backward<T>(d, static_cast<const T*>(dy), yp, static_cast<const T*>(norm), e,
                                static_cast<T*>(dx), nullptr);
  });
}

/// out [N, D] = the packed running sums of x [N, D] with batch_sizes [T] (a host array).
int emu_packed_cumsum(int is_double, int64_t N, int64_t D, const int64_t* batch_sizes, int64_t T,
                      int reverse, const void* x, void* out, uint32_t seed) {
  return typed(is_double, seed, x, out, [&](const auto* in, auto* o) {
    const Tensor bs(const_cast<int64_t*>(batch_sizes), DType::int64, {T});
    cuda::packed_cumsum(PackedDims{N, D, T}, in, bs, reverse != 0, o, nullptr);
  });
}

/// Scale fusion forward (ys [S, B, K], logits [S, K] -> y [B, K], alpha [S, K]) then backward
/// (dy [B, K] -> dys [S, B, K], dlogits [S, K]).
int emu_scale_fusion(int is_double, int64_t S, int64_t B, int64_t K, const void* ys,
                     const void* logits, const void* dy, void* y, void* alpha, void* dys,
                     void* dlogits, uint32_t seed) {
  return typed(is_double, seed, ys, y, [&](const auto* in, auto* out) {
    using T = std::remove_pointer_t<decltype(out)>;
    const FusionDims d{S, B, K};
    cuda::scale_fusion_forward<T>(d, in, static_cast<const T*>(logits), out, static_cast<T*>(alpha),
                                  nullptr);
    cuda::scale_fusion_backward<T>(d, static_cast<const T*>(dy), in, static_cast<const T*>(alpha),
                                   static_cast<T*>(dys), static_cast<T*>(dlogits), nullptr);
  });
}

/// ids / values [N, k] = the top k of scores [N, V] per row; rows split into segments of at
/// least min_segment columns when they are few (0: the library's minimum).
int emu_top_k(int is_double, int64_t N, int64_t V, int64_t k, const void* scores, int64_t* ids,
              void* values, int64_t min_segment, uint32_t seed) {
  return typed(is_double, seed, scores, values, [&](const auto* in, auto* out) {
    if (min_segment <= 0)
      cuda::top_k(TopKDims{N, V, k}, in, ids, out, nullptr);
    else
      cuda::top_k_impl::run(TopKDims{N, V, k}, in, ids, out, nullptr, min_segment);
  });
}

/// rows [N] of window_rows for the events (b, t) [N]; len / out_len [B], closed [B, T] or null.
int emu_window_rows(int64_t N, const int64_t* b, const int64_t* t, int64_t B, int64_t T, int64_t W,
                    int64_t size, int64_t stride, const int64_t* len, const int64_t* out_len,
                    const int64_t* closed, int64_t* rows, uint32_t seed) {
  return guarded(seed, [&] {
    const auto dev = [](const int64_t* p, std::initializer_list<int64_t> dims) {
      return p ? Tensor(const_cast<int64_t*>(p), DType::int64, dims, Device::cuda) : Tensor{};
    };
    const WindowRowsArgs a{
        dev(b, {N}), dev(t, {N}), dev(len, {B}), dev(out_len, {B}), dev(closed, {B, T}), B, T,
        W,           size,        stride};
    cuda::window_rows(a, rows, nullptr);
  });
}

}  // extern "C"
