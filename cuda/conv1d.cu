// CUDA conv1d without im2col. The batch is read as one long sequence of R = B * T rows, so every
// GEMM runs on x (or the gradient) as it is, through cuda/gemm.cuh (cuBLAS or the built-in
// kernel); an output row r = b * T + t is valid for t < out_len[b], and the rows whose window
// would cross into the next sequence are never used (forward) or hold a zero gradient (backward).
//   forward:  Z = x [R, Cin] @ Wk^T for all k at once (W3 [K * Cout, Cin], one GEMM), then one
//             pass y[b, t, o] = act(bias[o] + sum_k Z[r + k, k * Cout + o]) (zero past out_len);
//   backward: g (the pre-activation gradient, zero past out_len) in the long layout [R, Cout];
//             db = column sums of g; dx[r] = sum_k P[r - k, k * Cin : (k + 1) * Cin] with
//             P = g @ w2 (w2 [Cout, K * Cin], one GEMM, gathered: no atomics);
//             dW_k = g[0 : R - k]^T @ x[k : R] (K GEMMs on shifted views of x and g).
// The forward's scratch Z is R x K*Cout (like im2col's R x K*Cin, but x itself is read once).
#include <cuda_runtime.h>

#include "activation.cuh"
#include "conv1d.cuh"
#include "cuda_lengths.cuh"
#include "gemm.cuh"
#include "train_common.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

namespace {

__device__ __forceinline__ int64_t out_len_of(const int64_t* len, int64_t b, int64_t K,
                                              int64_t To) {
  if (!len) return To;
  const int64_t v = len[b] - K + 1;
  return v > 0 ? v : 0;
}

// w [Cout, Cin, K] -> W3 [K, Cout, Cin] (forward) and w2 [Cout, K, Cin] (backward's dx).
template <class T>
__global__ void __launch_bounds__(train::kThreads)
    reorder_weight_kernel(const T* __restrict__ w, int64_t Cout, int64_t Cin, int64_t K,
                          T* __restrict__ w3, T* __restrict__ w2) {
  const int64_t n = Cout * Cin * K;
  for (int64_t i = flat_index(); i < n; i += flat_stride()) {
    const int64_t k = i % K, c = (i / K) % Cin, o = i / (K * Cin);
    if (w3) w3[(k * Cout + o) * Cin + c] = w[i];
    if (w2) w2[(o * K + k) * Cin + c] = w[i];
  }
}

// dw3 [K, Cout, Cin] -> dw [Cout, Cin, K]
template <class T>
__global__ void __launch_bounds__(train::kThreads)
    gather_dw_kernel(const T* __restrict__ dw3, int64_t Cout, int64_t Cin, int64_t K,
                     T* __restrict__ dw) {
  const int64_t n = Cout * Cin * K;
  for (int64_t i = flat_index(); i < n; i += flat_stride()) {
    const int64_t k = i % K, c = (i / K) % Cin, o = i / (K * Cin);
    dw[i] = dw3[(k * Cout + o) * Cin + c];
  }
}

// y[b, t, o] from Z [B * T, K * Cout]; one thread per output element (o fastest: coalesced).
template <class T>
__global__ void __launch_bounds__(train::kThreads)
    forward_epilogue_kernel(const T* __restrict__ Z, const T* __restrict__ bias,
                            const int64_t* __restrict__ len, int64_t B, int64_t T_, int64_t To,
                            int64_t Cout, int64_t K, int relu, T* __restrict__ y) {
  const int64_t n = B * To * Cout;
  const int64_t KC = K * Cout;
  for (int64_t i = flat_index(); i < n; i += flat_stride()) {
    const int64_t o = i % Cout, row = i / Cout, t = row % To, b = row / To;
    if (t >= out_len_of(len, b, K, To)) {
      y[i] = T(0);
      continue;
    }
    const T* z = Z + (b * T_ + t) * KC + o;
    T acc = bias ? bias[o] : T(0);
    for (int64_t k = 0; k < K; ++k) acc += z[k * (KC + Cout)];  // row r + k, column k*Cout + o
    y[i] = relu ? train::relu(acc) : acc;
  }
}

// g [B * T, Cout] (long layout): dy masked by the lengths and the ReLU, zero for t >= out_len.
template <class T>
__global__ void __launch_bounds__(train::kThreads)
    grad_long_kernel(const T* __restrict__ dy, const T* __restrict__ y,
                     const int64_t* __restrict__ len, int64_t B, int64_t T_, int64_t To,
                     int64_t Cout, int64_t K, T* __restrict__ g) {
  const int64_t n = B * T_ * Cout;
  for (int64_t i = flat_index(); i < n; i += flat_stride()) {
    const int64_t o = i % Cout, row = i / Cout, t = row % T_, b = row / T_;
    T v = T(0);
    if (t < out_len_of(len, b, K, To)) {
      const int64_t j = (b * To + t) * Cout + o;
      v = y ? train::relu_grad(dy[j], y[j]) : dy[j];
    }
    g[i] = v;
  }
}

// dx[r, c] = sum_{k <= r} P[r - k, k * Cin + c] over the long rows r = b * T + s (P's rows past
// a sequence's out_len come from zero gradient rows, so windows never mix sequences).
template <class T>
__global__ void __launch_bounds__(train::kThreads)
    col2im_gather_kernel(const T* __restrict__ P, int64_t R, int64_t Cin, int64_t K,
                         T* __restrict__ dx) {
  const int64_t n = R * Cin;
  const int64_t KC = K * Cin;
  for (int64_t i = flat_index(); i < n; i += flat_stride()) {
    const int64_t c = i % Cin, r = i / Cin;
    const int64_t k1 = r < K - 1 ? r : K - 1;
    T acc = T(0);
    for (int64_t k = 0; k <= k1; ++k) acc += P[(r - k) * KC + k * Cin + c];
    dx[i] = acc;
  }
}

}  // namespace

template <class T>
void conv1d_forward(const Conv1dDims& d, const Conv1dInputs& in, const Tensor& y, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  const int64_t R = d.B * d.T, KC = d.K * d.Cout, nw = d.Cout * d.Cin * d.K;
  DeviceBuffer<T> w3(nw, s), Z(R * KC, s);
  train::launch(reorder_weight_kernel<T>, dim3(train::blocks_for(nw)), dim3(train::kThreads), s,
                "conv1d reorder_weight_kernel", in.w.ptr<T>(), d.Cout, d.Cin, d.K, w3.get(),
                static_cast<T*>(nullptr));
  gemm<T>(s, false, true, R, KC, d.Cin, in.x.ptr<T>(), d.Cin, w3.get(), d.Cin, Z.get(), KC);
  const DeviceLengths len(in.lengths, d.B, s);
  const int64_t n = d.B * d.To * d.Cout;
  train::launch(forward_epilogue_kernel<T>, dim3(train::blocks_for(n)), dim3(train::kThreads), s,
                "conv1d forward_epilogue_kernel", Z.get(),
                in.b.defined() ? in.b.ptr<T>() : nullptr, len.get(), d.B, d.T, d.To, d.Cout, d.K,
                static_cast<int>(in.relu), y.ptr<T>());
}

template <class T>
void conv1d_backward(const Conv1dDims& d, const Tensor& dy, const Conv1dInputs& in,
                     const Tensor& y, const Tensor& dx, const Tensor& dw, const Tensor& db,
                     void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  const int64_t R = d.B * d.T, Cin = d.Cin, Cout = d.Cout, K = d.K, KC = K * Cin;
  const int64_t nw = Cout * Cin * K;
  const DeviceLengths len(in.lengths, d.B, s);
  DeviceBuffer<T> g(R * Cout, s);
  train::launch(grad_long_kernel<T>, dim3(train::blocks_for(R * Cout)), dim3(train::kThreads), s,
                "conv1d grad_long_kernel", dy.ptr<T>(), in.relu ? y.ptr<T>() : nullptr,
                len.get(), d.B, d.T, d.To, Cout, K, g.get());
  if (db.defined()) column_sum<T>(s, g.get(), R, Cout, Cout, db.ptr<T>());

  if (dx.defined()) {  // absent: no input gradient wanted
    DeviceBuffer<T> w2(nw, s), P(R * KC, s);
    train::launch(reorder_weight_kernel<T>, dim3(train::blocks_for(nw)), dim3(train::kThreads),
                  s, "conv1d reorder_weight_kernel", in.w.ptr<T>(), Cout, Cin, K,
                  static_cast<T*>(nullptr), w2.get());
    gemm<T>(s, false, false, R, KC, Cout, g.get(), Cout, w2.get(), KC, P.get(), KC);
    train::launch(col2im_gather_kernel<T>, dim3(train::blocks_for(R * Cin)),
                  dim3(train::kThreads), s, "conv1d col2im_gather_kernel", P.get(), R, Cin, K,
                  dx.ptr<T>());
  }

  DeviceBuffer<T> dw3(nw, s);
  const T* x = in.x.ptr<T>();
  for (int64_t k = 0; k < K; ++k)  // dW_k [Cout, Cin] = g[0 : R - k]^T @ x[k : R]
    gemm<T>(s, true, false, Cout, Cin, R - k, g.get(), Cout, x + k * Cin, Cin,
            dw3.get() + k * Cout * Cin, Cin);
  train::launch(gather_dw_kernel<T>, dim3(train::blocks_for(nw)), dim3(train::kThreads), s,
                "conv1d gather_dw_kernel", dw3.get(), Cout, Cin, K, dw.ptr<T>());
}

template void conv1d_forward<float>(const Conv1dDims&, const Conv1dInputs&, const Tensor&, void*);
template void conv1d_forward<double>(const Conv1dDims&, const Conv1dInputs&, const Tensor&,
                                     void*);
template void conv1d_backward<float>(const Conv1dDims&, const Tensor&, const Conv1dInputs&,
                                     const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                     void*);
template void conv1d_backward<double>(const Conv1dDims&, const Tensor&, const Conv1dInputs&,
                                      const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                      void*);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
