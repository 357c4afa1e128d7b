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

  template <class V>  // a scalar or a pack
  static V act(V v) {
    if constexpr (Act == Cell::rnn_tanh) return tanh_(v);
    else if constexpr (Act == Cell::rnn_sigmoid) return sigmoid(v);
    else
      return relu(v);
  }
  template <class V>
  static V act_grad(V h) {  // derivative expressed through the output h = act(v)
    if constexpr (Act == Cell::rnn_tanh) return 1 - h * h;
    else if constexpr (Act == Cell::rnn_sigmoid) return h * (1 - h);
    else
      return relu_grad(V{} + 1, h);
  }

  template <class T>
  void forward_row(int64_t n, int64_t, const T* gi, T* g, const T* hg, const T* bi, const T*,
                   T* h, T*, T*) const {
    for_packs<T>(n, [&](int64_t j, auto tag) {
      using V = decltype(tag);
      const V v = act(ld<V>(gi + j) + ld<V>(hg + j) + ld<V>(bi + j));
      st(g + j, v);
      st(h + j, v);
    });
  }

  template <class T>
  void backward_row(int64_t n, int64_t, const T* dy, const T* g, const T*, const T*, const T*,
                    T* dh, T*, T* dgi, T*) const {
    for_packs<T>(n, [&](int64_t j, auto tag) {
      using V = decltype(tag);
      st(dgi + j, (ld<V>(dh + j) + ld<V>(dy + j)) * act_grad(ld<V>(g + j)));
      st(dh + j, V{});
    });
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
