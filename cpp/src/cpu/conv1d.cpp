// CPU conv1d as im2col + one GEMM over the whole batch. Row (b, t) of the column matrix is the
// window x[b, t : t + K, :], which is contiguous in [B, T, Cin] (K * Cin values, order k, c), so
// im2col is one memcpy per output row; the weight is reordered once to [Cout, K * Cin] to match.
// The backward uses two GEMMs (dW, dcols) and gathers dcols back into dx (no scattered adds).
#include "conv1d.hpp"

#include <cstring>
#include <memory>

#include "../blas.hpp"
#include "mathfn.hpp"
#include "parallel.hpp"
#include "scratch.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

namespace {

int64_t out_len(const Conv1dDims& d, const Tensor& lengths, int64_t b) {
  if (!lengths.defined()) return d.To;
  const int64_t v = lengths.ptr<int64_t>()[b] - d.K + 1;
  return v > 0 ? v : 0;
}

template <class T>
void im2col(const Conv1dDims& d, const T* x, T* cols) {
  const int64_t KC = d.K * d.Cin;
  parallel_for(d.B * d.To, KC, [&](int64_t r) {
    const int64_t b = r / d.To, t = r % d.To;
    std::memcpy(cols + r * KC, x + (b * d.T + t) * d.Cin, sizeof(T) * KC);
  });
}

// w [Cout, Cin, K] <-> w2 [Cout, K * Cin]
template <class T>
void weight_to_rows(const Conv1dDims& d, const T* w, T* w2) {
  for (int64_t o = 0; o < d.Cout; ++o)
    for (int64_t c = 0; c < d.Cin; ++c)
      for (int64_t k = 0; k < d.K; ++k)
        w2[(o * d.K + k) * d.Cin + c] = w[(o * d.Cin + c) * d.K + k];
}

template <class T>
void rows_to_weight(const Conv1dDims& d, const T* w2, T* w) {
  for (int64_t o = 0; o < d.Cout; ++o)
    for (int64_t c = 0; c < d.Cin; ++c)
      for (int64_t k = 0; k < d.K; ++k)
        w[(o * d.Cin + c) * d.K + k] = w2[(o * d.K + k) * d.Cin + c];
}

}  // namespace

template <class T>
void conv1d_forward(const Conv1dDims& d, const Conv1dInputs& in, const Tensor& y_t) {
  const int64_t R = d.B * d.To, KC = d.K * d.Cin, Cout = d.Cout;
  auto cols = scratch<T>(R * KC);
  auto w2 = scratch<T>(Cout * KC);
  im2col(d, in.x.ptr<T>(), cols.get());
  weight_to_rows(d, in.w.ptr<T>(), w2.get());
  T* y = y_t.ptr<T>();
  blas::gemm<T>(false, true, R, Cout, KC, T(1), cols.get(), KC, w2.get(), KC, T(0), y, Cout);
  const T* bias = in.b.defined() ? in.b.ptr<T>() : nullptr;
  const bool use_relu = in.relu;
  parallel_for(R, Cout, [&](int64_t r) {
    T* yr = y + r * Cout;
    if (r % d.To >= out_len(d, in.lengths, r / d.To)) {
      std::memset(yr, 0, sizeof(T) * Cout);
      return;
    }
    if (bias) {
#pragma omp simd
      for (int64_t o = 0; o < Cout; ++o) yr[o] += bias[o];
    }
    if (use_relu) {
#pragma omp simd
      for (int64_t o = 0; o < Cout; ++o) yr[o] = relu(yr[o]);
    }
  });
}

template <class T>
void conv1d_backward(const Conv1dDims& d, const Tensor& dy_t, const Conv1dInputs& in,
                     const Tensor& y_t, const Tensor& dx_t, const Tensor& dw_t,
                     const Tensor& db_t) {
  const int64_t R = d.B * d.To, KC = d.K * d.Cin, Cout = d.Cout, Cin = d.Cin;
  const T* dy = dy_t.ptr<T>();
  const T* y = in.relu ? y_t.ptr<T>() : nullptr;
  auto g = scratch<T>(R * Cout);  // dL/d(pre-activation), zero past out_lengths
  parallel_for(R, Cout, [&](int64_t r) {
    T* gr = g.get() + r * Cout;
    if (r % d.To >= out_len(d, in.lengths, r / d.To)) {
      std::memset(gr, 0, sizeof(T) * Cout);
      return;
    }
    const T* dyr = dy + r * Cout;
    if (y) {
      const T* yr = y + r * Cout;
#pragma omp simd
      for (int64_t o = 0; o < Cout; ++o) gr[o] = relu_grad(dyr[o], yr[o]);
    } else {
      std::memcpy(gr, dyr, sizeof(T) * Cout);
    }
  });
  if (db_t.defined()) column_sum(g.get(), R, Cout, db_t.ptr<T>());

  auto cols = scratch<T>(R * KC);
  auto w2 = scratch<T>(Cout * KC);
  im2col(d, in.x.ptr<T>(), cols.get());
  weight_to_rows(d, in.w.ptr<T>(), w2.get());
  auto dw2 = scratch<T>(Cout * KC);
  blas::gemm<T>(true, false, Cout, KC, R, T(1), g.get(), Cout, cols.get(), KC, T(0), dw2.get(),
                KC);
  rows_to_weight(d, dw2.get(), dw_t.ptr<T>());
  if (!dx_t.defined()) return;  // no input gradient wanted
  T* dcols = cols.get();  // reuse: the columns are no longer needed
  blas::gemm<T>(false, false, R, KC, Cout, T(1), g.get(), Cout, w2.get(), KC, T(0), dcols, KC);

  // col2im as a gather: dx[b, s] = sum_k dcols[(b, s - k), k] over 0 <= s - k < To.
  T* dx = dx_t.ptr<T>();
  parallel_for(d.B * d.T, d.K * Cin, [&](int64_t row) {
    const int64_t b = row / d.T, s = row % d.T;
    T* o = dx + row * Cin;
    std::memset(o, 0, sizeof(T) * Cin);
    const int64_t k0 = s - d.To + 1 > 0 ? s - d.To + 1 : 0, k1 = s < d.K - 1 ? s : d.K - 1;
    for (int64_t k = k0; k <= k1; ++k) {
      const T* src = dcols + (b * d.To + s - k) * KC + k * Cin;
#pragma omp simd
      for (int64_t c = 0; c < Cin; ++c) o[c] += src[c];
    }
  });
}

template void conv1d_forward<float>(const Conv1dDims&, const Conv1dInputs&, const Tensor&);
template void conv1d_forward<double>(const Conv1dDims&, const Conv1dInputs&, const Tensor&);
template void conv1d_backward<float>(const Conv1dDims&, const Tensor&, const Conv1dInputs&,
                                     const Tensor&, const Tensor&, const Tensor&, const Tensor&);
template void conv1d_backward<double>(const Conv1dDims&, const Tensor&, const Conv1dInputs&,
                                      const Tensor&, const Tensor&, const Tensor&, const Tensor&);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
