// CPU dense layer: one GEMM over all rows, then a single pass adding the bias and applying the
// activation. The backward turns dy into the pre-activation gradient g (derivative taken from the
// saved output), then dx = g @ w, dw = g^T @ x (two GEMMs) and db = column sums of g.
#include "linear.hpp"

#include <memory>

#include "../blas.hpp"
#include "mathfn.hpp"
#include "parallel.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

namespace {

template <class T>
void bias_act_row(T* y, const T* b, int64_t O, Activation act) {
  if (b) {
#pragma omp simd
    for (int64_t o = 0; o < O; ++o) y[o] += b[o];
  }
  switch (act) {
    case Activation::none: break;
    case Activation::relu:
#pragma omp simd
      for (int64_t o = 0; o < O; ++o) y[o] = relu(y[o]);
      break;
    case Activation::sigmoid:
#pragma omp simd
      for (int64_t o = 0; o < O; ++o) y[o] = sigmoid(y[o]);
      break;
    case Activation::tanh:
#pragma omp simd
      for (int64_t o = 0; o < O; ++o) y[o] = tanh_(y[o]);
      break;
  }
}

// g = dy * act'(pre-activation), written with the output y = act(pre-activation).
template <class T>
void act_grad_row(T* g, const T* dy, const T* y, int64_t O, Activation act) {
  switch (act) {
    case Activation::none:
#pragma omp simd
      for (int64_t o = 0; o < O; ++o) g[o] = dy[o];
      break;
    case Activation::relu:
#pragma omp simd
      for (int64_t o = 0; o < O; ++o) g[o] = relu_grad(dy[o], y[o]);
      break;
    case Activation::sigmoid:
#pragma omp simd
      for (int64_t o = 0; o < O; ++o) g[o] = dy[o] * y[o] * (T(1) - y[o]);
      break;
    case Activation::tanh:
#pragma omp simd
      for (int64_t o = 0; o < O; ++o) g[o] = dy[o] * (T(1) - y[o] * y[o]);
      break;
  }
}

}  // namespace

template <class T>
void linear_forward(const LinearDims& d, const T* x, const T* w, const T* b, Activation act,
                    T* y) {
  blas::gemm_parallel<T>(false, true, d.N, d.O, d.I, T(1), x, d.I, w, d.I, T(0), y, d.O);
  if (!b && act == Activation::none) return;
  parallel_for(d.N, 4 * d.O, [&](int64_t n) { bias_act_row(y + n * d.O, b, d.O, act); });
}

template <class T>
void linear_backward(const LinearDims& d, const T* dy, const T* x, const T* w, const T* y,
                     Activation act, T* dx, T* dw, T* db) {
  const T* g = dy;
  std::unique_ptr<T[]> gbuf;
  if (act != Activation::none) {
    gbuf.reset(new T[d.N * d.O]);
    T* gp = gbuf.get();
    parallel_for(d.N, 2 * d.O, [&](int64_t n) {
      act_grad_row(gp + n * d.O, dy + n * d.O, y + n * d.O, d.O, act);
    });
    g = gp;
  }
  blas::gemm_parallel<T>(false, false, d.N, d.I, d.O, T(1), g, d.O, w, d.I, T(0), dx, d.I);
  blas::gemm_parallel<T>(true, false, d.O, d.I, d.N, T(1), g, d.O, x, d.I, T(0), dw, d.I);
  if (db) column_sum(g, d.N, d.O, db);
}

template void linear_forward<float>(const LinearDims&, const float*, const float*, const float*,
                                    Activation, float*);
template void linear_forward<double>(const LinearDims&, const double*, const double*,
                                     const double*, Activation, double*);
template void linear_backward<float>(const LinearDims&, const float*, const float*, const float*,
                                     const float*, Activation, float*, float*, float*);
template void linear_backward<double>(const LinearDims&, const double*, const double*,
                                      const double*, const double*, Activation, double*, double*,
                                      double*);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
