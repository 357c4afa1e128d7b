// Vanilla RNN cell h = act(W_ih x + b_ih + W_hh h + b_hh), act in tanh | sigmoid | relu.
#include "cells.hpp"
#include "mathfn.hpp"
#include "recurrent.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <Cell Act>
struct RnnCell {
  static constexpr int G = 1;
  static constexpr bool kSplit = false, kHasC = false, kHasAux = false;

  template <class T>
  static T act(T v) {
    if constexpr (Act == Cell::rnn_tanh) return tanh_(v);
    else if constexpr (Act == Cell::rnn_sigmoid) return sigmoid(v);
    else return v > T(0) ? v : T(0);
  }
  template <class T>
  static T act_grad(T h) {  // derivative expressed through the output h = act(v)
    if constexpr (Act == Cell::rnn_tanh) return T(1) - h * h;
    else if constexpr (Act == Cell::rnn_sigmoid) return h * (T(1) - h);
    else return h > T(0) ? T(1) : T(0);
  }

  template <class T>
  void forward_row(int64_t H, T* g, const T*, T* h, T*, T*) const {
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T v = act(g[j]);
      g[j] = v;
      h[j] = v;
    }
  }

  template <class T>
  void backward_row(int64_t H, const T* dy, const T* g, const T*, const T*, const T*, T* dh, T*,
                    T* dgi, T*) const {
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      dgi[j] = (dh[j] + dy[j]) * act_grad(g[j]);
      dh[j] = T(0);
    }
  }
};

template <class T>
void rnn_forward(Cell act, const RecurrentDims& d, const RecurrentInputs& in,
                 const RecurrentOutputs& out) {
  switch (act) {
    case Cell::rnn_tanh: return recurrent_forward_cpu<RnnCell<Cell::rnn_tanh>, T>({}, d, in, out);
    case Cell::rnn_sigmoid:
      return recurrent_forward_cpu<RnnCell<Cell::rnn_sigmoid>, T>({}, d, in, out);
    default: return recurrent_forward_cpu<RnnCell<Cell::rnn_relu>, T>({}, d, in, out);
  }
}
template <class T>
void rnn_backward(Cell act, const RecurrentDims& d, const Tensor& dy, const Tensor& dh_n,
                  const Tensor& dc_n, const RecurrentInputs& in, const RecurrentOutputs& fwd,
                  const RecurrentGrads& g) {
  switch (act) {
    case Cell::rnn_tanh:
      return recurrent_backward_cpu<RnnCell<Cell::rnn_tanh>, T>({}, d, dy, dh_n, dc_n, in, fwd, g);
    case Cell::rnn_sigmoid:
      return recurrent_backward_cpu<RnnCell<Cell::rnn_sigmoid>, T>({}, d, dy, dh_n, dc_n, in, fwd,
                                                                   g);
    default:
      return recurrent_backward_cpu<RnnCell<Cell::rnn_relu>, T>({}, d, dy, dh_n, dc_n, in, fwd, g);
  }
}

template void rnn_forward<float>(Cell, const RecurrentDims&, const RecurrentInputs&,
                                 const RecurrentOutputs&);
template void rnn_forward<double>(Cell, const RecurrentDims&, const RecurrentInputs&,
                                  const RecurrentOutputs&);
template void rnn_backward<float>(Cell, const RecurrentDims&, const Tensor&, const Tensor&,
                                  const Tensor&, const RecurrentInputs&, const RecurrentOutputs&,
                                  const RecurrentGrads&);
template void rnn_backward<double>(Cell, const RecurrentDims&, const Tensor&, const Tensor&,
                                   const Tensor&, const RecurrentInputs&, const RecurrentOutputs&,
                                   const RecurrentGrads&);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
