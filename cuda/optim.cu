// CUDA optimiser steps: one fused elementwise pass over param / grad / state. The multi-tensor
// Adam and the gradient clipping work on a table of fixed-size chunks (one block per chunk), so
// a whole model's update is one launch and the norm's partial sums have a fixed order (the
// result does not depend on the device or on scheduling). Sparse updates copy the host row ids
// to the device on the stream and update U x D elements.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include "optim.cuh"
#include "train_common.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

namespace {

constexpr int64_t kOptChunk = 8192;  // elements per chunk of the multi-tensor kernels

// The coefficients of cpu/optim.cpp's AdamCoef, computed the same way on the host.
template <class T>
struct AdamC {
  T one_minus_b1, b2, one_minus_b2, eps, wd, decay, step_size, bc2_sqrt;
  int l2, shrink;
};

template <class T>
AdamC<T> adam_coef(const AdamOptions& o, int64_t step) {
  const double bc1 = 1.0 - std::pow(o.beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(o.beta2, static_cast<double>(step));
  AdamC<T> c;
  c.one_minus_b1 = T(1.0 - o.beta1);
  c.b2 = T(o.beta2);
  c.one_minus_b2 = T(1.0 - o.beta2);
  c.eps = T(o.eps);
  c.wd = T(o.weight_decay);
  c.decay = T(1.0 - o.lr * o.weight_decay);
  c.step_size = T(o.lr / bc1);
  c.bc2_sqrt = T(std::sqrt(bc2));
  c.l2 = !o.decoupled && c.wd != T(0);
  c.shrink = o.decoupled && c.wd != T(0);
  return c;
}

template <class T>
__device__ __forceinline__ void adam_elem(T* p, T g, T* m, T* v, const AdamC<T>& c) {
  const T p0 = *p;
  if (c.l2) g += c.wd * p0;
  const T pi = c.shrink ? p0 * c.decay : p0;
  const T mi = *m + c.one_minus_b1 * (g - *m);
  const T vi = c.b2 * *v + c.one_minus_b2 * g * g;
  *m = mi;
  *v = vi;
  *p = pi - c.step_size * (mi / (sqrt(vi) / c.bc2_sqrt + c.eps));
}

template <class T>
struct SgdC {
  T lr, mom, wd;
  int nesterov;
};

template <class T>
__device__ __forceinline__ void sgd_elem(T* p, T g, T* buf, const SgdC<T>& c) {
  const T gi = g + c.wd * *p;
  if (!buf) {
    *p -= c.lr * gi;
    return;
  }
  const T b = c.mom * *buf + gi;
  *buf = b;
  *p -= c.lr * (c.nesterov ? gi + c.mom * b : b);
}

template <class T>
__global__ void __launch_bounds__(train::kThreads)
    adam_kernel(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                T* __restrict__ v, int64_t n, AdamC<T> c) {
  for (int64_t i = flat_index(); i < n; i += flat_stride())
    adam_elem(p + i, g[i], m + i, v + i, c);
}

template <class T>
struct AdamChunk {
  T* p;
  const T* g;
  T* m;
  T* v;
  int64_t n;
  int64_t slice;
};

template <class T>
__global__ void __launch_bounds__(train::kThreads)
    adam_many_kernel(const AdamChunk<T>* __restrict__ chunks, int64_t nchunks,
                     const AdamC<T>* __restrict__ coef) {
  for (int64_t k = blockIdx.x; k < nchunks; k += gridDim.x) {
    const AdamChunk<T> ch = chunks[k];
    const AdamC<T> c = coef[ch.slice];
    for (int64_t i = threadIdx.x; i < ch.n; i += blockDim.x)
      adam_elem(ch.p + i, ch.g[i], ch.m + i, ch.v + i, c);
  }
}

template <class T>
__global__ void __launch_bounds__(train::kThreads)
    adam_rows_kernel(T* __restrict__ p, const int64_t* __restrict__ rows, int64_t U, int64_t D,
                     const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v, AdamC<T> c) {
  for (int64_t i = flat_index(); i < U * D; i += flat_stride()) {
    const int64_t e = rows[i / D] * D + i % D;
    adam_elem(p + e, g[i], m + e, v + e, c);
  }
}

template <class T>
__global__ void __launch_bounds__(train::kThreads)
    sgd_kernel(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ buf, int64_t n,
               SgdC<T> c) {
  for (int64_t i = flat_index(); i < n; i += flat_stride())
    sgd_elem(p + i, g[i], buf ? buf + i : nullptr, c);
}

template <class T>
__global__ void __launch_bounds__(train::kThreads)
    sgd_rows_kernel(T* __restrict__ p, const int64_t* __restrict__ rows, int64_t U, int64_t D,
                    const T* __restrict__ g, T* __restrict__ buf, SgdC<T> c) {
  for (int64_t i = flat_index(); i < U * D; i += flat_stride()) {
    const int64_t e = rows[i / D] * D + i % D;
    sgd_elem(p + e, g[i], buf ? buf + e : nullptr, c);
  }
}

template <class T>
struct NormChunk {
  T* p;
  int64_t n;
};

// part[k] = sum of squares of chunk k (float64, fixed tree order).
template <class T>
__global__ void __launch_bounds__(train::kThreads)
    sum_squares_kernel(const NormChunk<T>* __restrict__ chunks, int64_t nchunks,
                       double* __restrict__ part) {
  __shared__ double sh[train::kReduceSlots];
  for (int64_t k = blockIdx.x; k < nchunks; k += gridDim.x) {
    const NormChunk<T> ch = chunks[k];
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < ch.n; i += blockDim.x) {
      const double x = static_cast<double>(ch.p[i]);
      s += x * x;
    }
    s = train::block_sum<train::kThreads>(s, sh);
    if (threadIdx.x == 0) part[k] = s;
  }
}

// Scale every chunk by max_norm / (sqrt(*sq) + 1e-6) when that is < 1 (NaN: no change).
template <class T>
__global__ void __launch_bounds__(train::kThreads)
    clip_scale_kernel(const NormChunk<T>* __restrict__ chunks, int64_t nchunks,
                      const double* __restrict__ sq, double max_norm) {
  const double coef = max_norm / (sqrt(*sq) + 1e-6);
  if (!(coef < 1.0)) return;
  const T f = static_cast<T>(coef);
  for (int64_t k = blockIdx.x; k < nchunks; k += gridDim.x) {
    const NormChunk<T> ch = chunks[k];
    for (int64_t i = threadIdx.x; i < ch.n; i += blockDim.x) ch.p[i] *= f;
  }
}

template <class T>
SgdC<T> sgd_coef(const SgdOptions& o) {
  return {T(o.lr), T(o.momentum), T(o.weight_decay), o.nesterov ? 1 : 0};
}

template <class T>
void push_chunks(std::vector<NormChunk<T>>& table, const Tensor& t) {
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; i += kOptChunk)
    table.push_back({t.ptr<T>() + i, std::min(kOptChunk, n - i)});
}

unsigned chunk_blocks(size_t n) { return train::blocks_for(static_cast<int64_t>(n), 1); }

}  // namespace

template <class T>
void adam_step(T* p, const T* g, T* m, T* v, int64_t n, const AdamOptions& o, void* stream) {
  if (n <= 0) return;
  train::launch(adam_kernel<T>, dim3(train::blocks_for(n)), dim3(train::kThreads),
                static_cast<cudaStream_t>(stream), "adam_kernel", p, g, m, v, n,
                adam_coef<T>(o, o.step));
}

template <class T>
void adam_step_many(const std::vector<cpu::AdamSlice<T>>& slices, const AdamOptions& o,
                    void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  std::vector<AdamC<T>> coef;
  std::vector<AdamChunk<T>> table;
  for (size_t i = 0; i < slices.size(); ++i) {
    const auto& a = slices[i];
    coef.push_back(adam_coef<T>(o, a.step));
    for (int64_t j = 0; j < a.n; j += kOptChunk)
      table.push_back({a.p + j, a.g + j, a.m + j, a.v + j, std::min(kOptChunk, a.n - j),
                       static_cast<int64_t>(i)});
  }
  if (table.empty()) return;
  const auto dcoef = train::to_device(coef, s);
  const auto dtable = train::to_device(table, s);
  train::launch(adam_many_kernel<T>, dim3(chunk_blocks(table.size())), dim3(train::kThreads), s,
                "adam_many_kernel", dtable.get(), static_cast<int64_t>(table.size()),
                dcoef.get());
}

template <class T>
void adam_step_rows(T* p, const int64_t* rows, int64_t U, int64_t D, const T* g, T* m, T* v,
                    const AdamOptions& o, void* stream) {
  if (U <= 0 || D <= 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  const auto drows = train::to_device(rows, U, s);
  train::launch(adam_rows_kernel<T>, dim3(train::blocks_for(U * D)), dim3(train::kThreads), s,
                "adam_rows_kernel", p, drows.get(), U, D, g, m, v, adam_coef<T>(o, o.step));
}

template <class T>
void sgd_step(T* p, const T* g, T* buf, int64_t n, const SgdOptions& o, void* stream) {
  if (n <= 0) return;
  train::launch(sgd_kernel<T>, dim3(train::blocks_for(n)), dim3(train::kThreads),
                static_cast<cudaStream_t>(stream), "sgd_kernel", p, g, buf, n, sgd_coef<T>(o));
}

template <class T>
void sgd_step_rows(T* p, const int64_t* rows, int64_t U, int64_t D, const T* g, T* buf,
                   const SgdOptions& o, void* stream) {
  if (U <= 0 || D <= 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  const auto drows = train::to_device(rows, U, s);
  train::launch(sgd_rows_kernel<T>, dim3(train::blocks_for(U * D)), dim3(train::kThreads), s,
                "sgd_rows_kernel", p, drows.get(), U, D, g, buf, sgd_coef<T>(o));
}

double clip_grad_norm(const std::vector<Tensor>& grads, double max_norm, void* stream,
                      bool read_norm) {
  const auto s = static_cast<cudaStream_t>(stream);
  std::vector<NormChunk<float>> tf;
  std::vector<NormChunk<double>> td;
  for (const Tensor& g : grads) {
    if (g.dtype == DType::float32) push_chunks(tf, g);
    else push_chunks(td, g);
  }
  const int64_t nf = static_cast<int64_t>(tf.size()), nd = static_cast<int64_t>(td.size());
  DeviceBuffer<double> part(nf + nd + 1, s);  // partial sums, then the total
  double* total = part.get() + nf + nd;
  const auto dtf = train::to_device(tf, s);
  const auto dtd = train::to_device(td, s);
  const dim3 block(train::kThreads);
  if (nf)
    train::launch(sum_squares_kernel<float>, dim3(chunk_blocks(tf.size())), block, s,
                  "sum_squares_kernel", dtf.get(), nf, part.get());
  if (nd)
    train::launch(sum_squares_kernel<double>, dim3(chunk_blocks(td.size())), block, s,
                  "sum_squares_kernel", dtd.get(), nd, part.get() + nf);
  train::finish_sum(part.get(), nf + nd, 1.0, total, s);
  if (nf)
    train::launch(clip_scale_kernel<float>, dim3(chunk_blocks(tf.size())), block, s,
                  "clip_scale_kernel", dtf.get(), nf, total, max_norm);
  if (nd)
    train::launch(clip_scale_kernel<double>, dim3(chunk_blocks(td.size())), block, s,
                  "clip_scale_kernel", dtd.get(), nd, total, max_norm);
  return read_norm ? std::sqrt(train::read_scalar(total, s)) : std::nan("");
}

#define CS_INSTANTIATE(T)                                                                      \
  template void adam_step<T>(T*, const T*, T*, T*, int64_t, const AdamOptions&, void*);        \
  template void adam_step_many<T>(const std::vector<cpu::AdamSlice<T>>&, const AdamOptions&,  \
                                  void*);                                                      \
  template void adam_step_rows<T>(T*, const int64_t*, int64_t, int64_t, const T*, T*, T*,      \
                                  const AdamOptions&, void*);                                  \
  template void sgd_step<T>(T*, const T*, T*, int64_t, const SgdOptions&, void*);              \
  template void sgd_step_rows<T>(T*, const int64_t*, int64_t, int64_t, const T*, T*,           \
                                 const SgdOptions&, void*);
CS_INSTANTIATE(float)
CS_INSTANTIATE(double)
#undef CS_INSTANTIATE

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
