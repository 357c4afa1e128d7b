// CUDA dense layer: one GEMM over all rows (cuda/gemm.cuh: cuBLAS or the built-in kernel), then
// one elementwise pass adding the bias and applying the activation. The backward turns dy into
// the pre-activation gradient g in one pass (skipped for the identity), then dx = g @ w and
// dw = g^T @ x (two GEMMs) and db = the column sums of g (deterministic).
#include <cuda_runtime.h>

#include "activation.cuh"
#include "gemm.cuh"
#include "linear.cuh"
#include "train_common.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

namespace {

// y[n, o] = act(y[n, o] + b[o]) over the N x O output (b may be null).
template <class T>
__global__ void __launch_bounds__(train::kThreads)
    bias_act_kernel(T* __restrict__ y, const T* __restrict__ b, int64_t total, int64_t O,
                    int act) {
  for (int64_t i = flat_index(); i < total; i += flat_stride()) {
    const T z = b ? y[i] + b[i % O] : y[i];
    y[i] = train::activate(z, act);
  }
}

template <class T>
__global__ void __launch_bounds__(train::kThreads)
    act_grad_kernel(const T* __restrict__ dy, const T* __restrict__ y, int64_t total, int act,
                    T* __restrict__ g) {
  for (int64_t i = flat_index(); i < total; i += flat_stride())
    g[i] = train::activation_grad(dy[i], y[i], act);
}

}  // namespace

template <class T>
void linear_forward(const LinearDims& d, const T* x, const T* w, const T* b, Activation act,
                    T* y, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  gemm<T>(s, false, true, d.N, d.O, d.I, x, d.I, w, d.I, y, d.O);
  if (!b && act == Activation::none) return;
  const int64_t total = d.N * d.O;
  train::launch(bias_act_kernel<T>, dim3(train::blocks_for(total)), dim3(train::kThreads), s,
                "linear bias_act_kernel", y, b, total, d.O, static_cast<int>(act));
}

template <class T>
void linear_backward(const LinearDims& d, const T* dy, const T* x, const T* w, const T* y,
                     Activation act, T* dx, T* dw, T* db, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  const int64_t total = d.N * d.O;
  DeviceBuffer<T> gbuf;
  const T* g = dy;
  if (act != Activation::none) {
    gbuf = DeviceBuffer<T>(total, s);
    train::launch(act_grad_kernel<T>, dim3(train::blocks_for(total)), dim3(train::kThreads), s,
                  "linear act_grad_kernel", dy, y, total, static_cast<int>(act), gbuf.get());
    g = gbuf.get();
  }
  gemm<T>(s, false, false, d.N, d.I, d.O, g, d.O, w, d.I, dx, d.I);
  gemm<T>(s, true, false, d.O, d.I, d.N, g, d.O, x, d.I, dw, d.I);
  if (db) column_sum<T>(s, g, d.N, d.O, d.O, db);
}

template void linear_forward<float>(const LinearDims&, const float*, const float*, const float*,
                                    Activation, float*, void*);
template void linear_forward<double>(const LinearDims&, const double*, const double*,
                                     const double*, Activation, double*, void*);
template void linear_backward<float>(const LinearDims&, const float*, const float*, const float*,
                                     const float*, Activation, float*, float*, float*, void*);
template void linear_backward<double>(const LinearDims&, const double*, const double*,
                                      const double*, const double*, Activation, double*, double*,
                                      double*, void*);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
