// CUDA kernels of windowed pooling (same results as cpp/src/cpu/pool.cpp, see pool.cuh for the
// design). Launched with cudaLaunchKernel and one argument struct, so that tests/cuda_emu can run
// them. Grid-stride loops over flat (row, channel) indices; no shared memory, no atomics.
#include <cuda_runtime.h>

#include "cuda_check.hpp"
#include "grid_stride.cuh"
#include "host_upload.cuh"
#include "pool.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

// Named (not anonymous) so that the emulator harness can include embedding.cu and this file.
namespace pool_impl {

constexpr int kPoolThreads = 256;
constexpr int64_t kPoolMaxBlocks = 65535LL * 8;  // grid-stride loops cover the rest

template <class T>
struct PoolFwdArgs {
  const T* x;
  const int64_t* counts;
  const int64_t* first_event;  // null: j * stride
  T* y;
  int64_t* argmax;  // max mode only
  int64_t B, T_, C, W, ldy, stride;
  int mode, count_col;
};

template <class T>
struct PoolBwdArgs {
  const T* dy;
  const int64_t* counts;
  const int64_t* event_step;  // time windows; null for count windows
  const int64_t* argmax;      // max mode only
  T* dx;
  int64_t B, T_, C, W, ldy, size, stride;
  int mode, accumulate;
};

template <class T>
__global__ void pool_forward_kernel(const PoolFwdArgs<T> a) {
  const bool is_max = a.mode == static_cast<int>(PoolMode::max);
  const int64_t n_items = a.B * a.W * a.C;
  for (int64_t i = flat_index(); i < n_items; i += flat_stride()) {
    const int64_t r = i / a.C, c = i % a.C, b = r / a.W, j = r % a.W;
    const int64_t n = a.counts[r];
    const int64_t t0 = a.first_event ? a.first_event[r] : j * a.stride;
    T acc = T(0);
    int64_t am = -1;
    if (n > 0) {
      const T* xp = a.x + (b * a.T_ + t0) * a.C + c;
      acc = xp[0];
      am = t0;
      for (int64_t k = 1; k < n; ++k) {
        const T v = xp[k * a.C];
        if (!is_max) {
          acc += v;
        } else if (v > acc || v != v) {  // strict: ties keep the first index; NaN wins, as torch
          acc = v;
          am = t0 + k;
        }
      }
      if (a.mode == static_cast<int>(PoolMode::mean)) acc *= T(1) / T(n);
    }
    a.y[r * a.ldy + c] = acc;
    if (is_max) a.argmax[r * a.C + c] = am;
    if (a.count_col && c == 0)
      a.y[r * a.ldy + a.C] = static_cast<T>(log1p(static_cast<double>(n)));
  }
}

// Adds window j's gradient for event t, channel c to acc (mean divides by the window's count,
// max passes it only to the argmax).
template <class T>
__device__ __forceinline__ void add_window(const PoolBwdArgs<T>& a, int64_t b, int64_t j,
                                           int64_t t, int64_t c, int64_t n, T& acc) {
  const int64_t r = b * a.W + j;
  const T g = a.dy[r * a.ldy + c];
  if (a.mode == static_cast<int>(PoolMode::max)) {
    if (a.argmax[r * a.C + c] == t) acc += g;
  } else if (a.mode == static_cast<int>(PoolMode::mean)) {
    acc += g * (T(1) / T(n));
  } else {
    acc += g;
  }
}

// Count windows: event t lies in the windows j with j*stride <= t < j*stride + counts[j].
template <class T>
__global__ void count_pool_backward_kernel(const PoolBwdArgs<T> a) {
  const int64_t n_items = a.B * a.T_ * a.C;
  for (int64_t i = flat_index(); i < n_items; i += flat_stride()) {
    const int64_t r = i / a.C, c = i % a.C, b = r / a.T_, t = r % a.T_;
    T acc = a.accumulate ? a.dx[i] : T(0);
    const int64_t j_lo = t >= a.size ? (t - a.size) / a.stride + 1 : 0;
    const int64_t j_hi = min(t / a.stride, a.W - 1);
    for (int64_t j = j_lo; j <= j_hi; ++j) {
      const int64_t n = a.counts[b * a.W + j];
      if (t < j * a.stride + n) add_window(a, b, j, t, c, n, acc);
    }
    a.dx[i] = acc;
  }
}

// Time windows: each event lies in at most one window, event_step[b, t].
template <class T>
__global__ void time_pool_backward_kernel(const PoolBwdArgs<T> a) {
  const int64_t n_items = a.B * a.T_ * a.C;
  for (int64_t i = flat_index(); i < n_items; i += flat_stride()) {
    const int64_t r = i / a.C, c = i % a.C, b = r / a.T_, t = r % a.T_;
    T acc = a.accumulate ? a.dx[i] : T(0);
    const int64_t j = a.event_step[r];
    if (j >= 0 && j < a.W) add_window(a, b, j, t, c, a.counts[b * a.W + j], acc);
    a.dx[i] = acc;
  }
}

template <class Args>
void launch(const void* kernel, int64_t items, const Args& a, void* stream, const char* what) {
  void* args[] = {const_cast<Args*>(&a)};
  const dim3 grid(grid_blocks(items, kPoolThreads, kPoolMaxBlocks));
  check(cudaLaunchKernel(kernel, grid, dim3(kPoolThreads), args, 0,
                         static_cast<cudaStream_t>(stream)),
        what);
}

}  // namespace pool_impl

using namespace pool_impl;

template <class T>
void launch_pool_forward(PoolMode mode, const PoolShape& s, const T* x, const int64_t* counts,
                         const int64_t* first_event, int64_t stride, T* y, int64_t* argmax,
                         bool count_col, void* stream) {
  const PoolFwdArgs<T> a{x,   counts, first_event, y,      argmax,
                         s.B, s.T,    s.C,         s.W,    s.ldy,
                         stride, static_cast<int>(mode), count_col ? 1 : 0};
  launch(reinterpret_cast<const void*>(&pool_forward_kernel<T>), s.B * s.W * s.C, a, stream,
         "cudaLaunchKernel(pool_forward_kernel)");
}

template <class T>
void launch_count_pool_backward(PoolMode mode, int64_t size, int64_t stride, const PoolShape& s,
                                const T* dy, const int64_t* counts, const int64_t* argmax, T* dx,
                                bool accumulate, void* stream) {
  const PoolBwdArgs<T> a{dy,  counts, nullptr, argmax, dx,     s.B,
                         s.T, s.C,    s.W,     s.ldy,  size,   stride,
                         static_cast<int>(mode), accumulate ? 1 : 0};
  launch(reinterpret_cast<const void*>(&count_pool_backward_kernel<T>), s.B * s.T * s.C, a,
         stream, "cudaLaunchKernel(count_pool_backward_kernel)");
}

template <class T>
void launch_time_pool_backward(PoolMode mode, const PoolShape& s, const T* dy,
                               const int64_t* counts, const int64_t* event_step,
                               const int64_t* argmax, T* dx, bool accumulate, void* stream) {
  const PoolBwdArgs<T> a{dy,  counts, event_step, argmax, dx, s.B,
                         s.T, s.C,    s.W,        s.ldy,  1,  1,
                         static_cast<int>(mode), accumulate ? 1 : 0};
  launch(reinterpret_cast<const void*>(&time_pool_backward_kernel<T>), s.B * s.T * s.C, a,
         stream, "cudaLaunchKernel(time_pool_backward_kernel)");
}

template <class T>
void pool_forward(PoolMode mode, const PoolShape& s, const T* x, const int64_t* counts,
                  const int64_t* first_event, int64_t stride, T* y, int64_t* argmax,
                  void* stream) {
  HostUpload up;
  const int64_t oc = up.add(counts, s.B * s.W), of = up.add(first_event, s.B * s.W);
  up.upload(static_cast<cudaStream_t>(stream));
  launch_pool_forward<T>(mode, s, x, up.at(oc), first_event ? up.at(of) : nullptr, stride, y,
                         argmax, false, stream);
}

template <class T>
void count_pool_backward(PoolMode mode, int64_t size, int64_t stride, const PoolShape& s,
                         const T* dy, const int64_t* counts, const int64_t* argmax, T* dx,
                         void* stream) {
  HostUpload up;
  const int64_t oc = up.add(counts, s.B * s.W);
  up.upload(static_cast<cudaStream_t>(stream));
  launch_count_pool_backward<T>(mode, size, stride, s, dy, up.at(oc), argmax, dx, false, stream);
}

template <class T>
void time_pool_backward(PoolMode mode, const PoolShape& s, const T* dy, const int64_t* counts,
                        const int64_t* event_step, const int64_t* argmax, T* dx, void* stream) {
  HostUpload up;
  const int64_t oc = up.add(counts, s.B * s.W), oe = up.add(event_step, s.B * s.T);
  up.upload(static_cast<cudaStream_t>(stream));
  launch_time_pool_backward<T>(mode, s, dy, up.at(oc), up.at(oe), argmax, dx, false, stream);
}

#define CS_INSTANTIATE_CUDA_POOL(T)                                                             \
  template void launch_pool_forward<T>(PoolMode, const PoolShape&, const T*, const int64_t*,   \
                                       const int64_t*, int64_t, T*, int64_t*, bool, void*);    \
  template void launch_count_pool_backward<T>(PoolMode, int64_t, int64_t, const PoolShape&,    \
                                              const T*, const int64_t*, const int64_t*, T*,    \
                                              bool, void*);                                    \
  template void launch_time_pool_backward<T>(PoolMode, const PoolShape&, const T*,             \
                                             const int64_t*, const int64_t*, const int64_t*,   \
                                             T*, bool, void*);                                 \
  template void pool_forward<T>(PoolMode, const PoolShape&, const T*, const int64_t*,          \
                                const int64_t*, int64_t, T*, int64_t*, void*);                 \
  template void count_pool_backward<T>(PoolMode, int64_t, int64_t, const PoolShape&, const T*, \
                                       const int64_t*, const int64_t*, T*, void*);             \
  template void time_pool_backward<T>(PoolMode, const PoolShape&, const T*, const int64_t*,    \
                                      const int64_t*, const int64_t*, T*, void*);
CS_INSTANTIATE_CUDA_POOL(float)
CS_INSTANTIATE_CUDA_POOL(double)
#undef CS_INSTANTIATE_CUDA_POOL

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
