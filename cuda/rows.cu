// CUDA row gather / scatter (see rows.cuh): one thread per (row, column), consecutive threads on
// consecutive columns, so each row is read and written coalesced. The scatter adds with
// atomicAdd (float, and double on sm_60+); an index outside [0, M) reads and writes nothing.
#include <cuda_runtime.h>

#include "../cpp/src/window_rows_math.hpp"
#include "rows.cuh"
#include "train_common.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

// Named (not anonymous) so that the emulator harness can reach the kernels.
namespace rows_impl {

template <class T>
__global__ void __launch_bounds__(train::kThreads)
    gather_rows_kernel(const RowsDims d, const T* __restrict__ src,
                       const int64_t* __restrict__ index, T* __restrict__ out) {
  for (int64_t i = flat_index(); i < d.N * d.H; i += flat_stride()) {
    const int64_t n = i / d.H, k = i - n * d.H, v = index[n];
    out[n * d.W + d.col + k] = v >= 0 && v < d.M ? src[v * d.H + k] : T(0);
  }
}

template <class T>
__global__ void __launch_bounds__(train::kThreads)
    scatter_rows_kernel(const RowsDims d, const T* __restrict__ g,
                        const int64_t* __restrict__ index, T* __restrict__ out) {
  for (int64_t i = flat_index(); i < d.N * d.H; i += flat_stride()) {
    const int64_t n = i / d.H, k = i - n * d.H, v = index[n];
    if (v >= 0 && v < d.M) atomicAdd(out + v * d.H + k, g[n * d.W + d.col + k]);
  }
}

__global__ void __launch_bounds__(train::kThreads)
    window_rows_kernel(int64_t N, const int64_t* __restrict__ b, const int64_t* __restrict__ t,
                       int64_t B, int64_t T, int64_t W, int64_t size, int64_t stride,
                       const int64_t* __restrict__ len, const int64_t* __restrict__ out_len,
                       const int64_t* __restrict__ closed, int64_t* __restrict__ rows) {
  for (int64_t n = flat_index(); n < N; n += flat_stride())
    rows[n] = window_rows_math::row_of(b[n], t[n], B, T, W, size, stride, len, out_len, closed);
}

}  // namespace rows_impl

template <class T>
void gather_rows(const RowsDims& d, const T* src, const int64_t* index, T* out, void* stream) {
  if (d.N * d.H == 0) return;
  train::launch(rows_impl::gather_rows_kernel<T>, dim3(train::blocks_for(d.N * d.H)),
                dim3(train::kThreads), static_cast<cudaStream_t>(stream), "gather_rows_kernel", d,
                src, index, out);
}

template <class T>
void scatter_rows(const RowsDims& d, const T* g, const int64_t* index, T* out, void* stream) {
  if (d.N * d.H == 0) return;
  train::launch(rows_impl::scatter_rows_kernel<T>, dim3(train::blocks_for(d.N * d.H)),
                dim3(train::kThreads), static_cast<cudaStream_t>(stream), "scatter_rows_kernel", d,
                g, index, out);
}

void window_rows(const WindowRowsArgs& a, int64_t* rows, void* stream) {
  const int64_t N = a.b.shape[0];
  if (N == 0) return;
  const auto ptr = [](const Tensor& x) { return x.defined() ? x.ptr<int64_t>() : nullptr; };
  train::launch(rows_impl::window_rows_kernel, dim3(train::blocks_for(N)), dim3(train::kThreads),
                static_cast<cudaStream_t>(stream), "window_rows_kernel", N, a.b.ptr<int64_t>(),
                a.t.ptr<int64_t>(), a.B, a.T, a.W, a.size, a.stride, ptr(a.lengths),
                ptr(a.out_lengths), ptr(a.closed), rows);
}

#define CS_INSTANTIATE_ROWS(T)                                                        \
  template void gather_rows<T>(const RowsDims&, const T*, const int64_t*, T*, void*); \
  template void scatter_rows<T>(const RowsDims&, const T*, const int64_t*, T*, void*);
CS_INSTANTIATE_ROWS(float)
CS_INSTANTIATE_ROWS(double)

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
