// LSTM cell (torch.nn.LSTM gate order i, f, g, o) on the shared CPU recurrent driver.
#include "cells.hpp"
#include "mathfn.hpp"
#include "recurrent.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

struct LstmCell {
  static constexpr int G = 4;
  static constexpr bool kSplit = false, kHasC = true, kHasAux = true;

  template <class T>
  void forward_row(int64_t n, int64_t H, const T* gi, T* g, const T* hg, const T* bi, const T*,
                   T* h, T* c, T* aux) const {
    for_packs<T>(n, [&](int64_t j, auto tag) {
      using V = decltype(tag);
      auto pre = [&](int64_t k) {
        return ld<V>(gi + k * H + j) + ld<V>(hg + k * H + j) + ld<V>(bi + k * H + j);
      };
      const V i = sigmoid(pre(0)), f = sigmoid(pre(1)), gg = tanh_(pre(2)), o = sigmoid(pre(3));
      const V cn = f * ld<V>(c + j) + i * gg;
      st(g + j, i);
      st(g + H + j, f);
      st(g + 2 * H + j, gg);
      st(g + 3 * H + j, o);
      st(c + j, cn);
      st(aux + j, cn);
      st(h + j, o * tanh_(cn));
    });
  }

  template <class T>
  void backward_row(int64_t n, int64_t H, const T* dy, const T* g, const T* aux, const T*,
                    const T* cprev, T* dh, T* dc, T* dgi, T*) const {
    for_packs<T>(n, [&](int64_t j, auto tag) {
      using V = decltype(tag);
      const V i = ld<V>(g + j), f = ld<V>(g + H + j), gg = ld<V>(g + 2 * H + j),
              o = ld<V>(g + 3 * H + j);
      const V tc = tanh_(ld<V>(aux + j));
      const V dht = ld<V>(dh + j) + ld<V>(dy + j);
      const V dct = ld<V>(dc + j) + dht * o * (T(1) - tc * tc);
      st(dgi + j, dct * gg * i * (T(1) - i));
      st(dgi + H + j, dct * ld<V>(cprev + j) * f * (T(1) - f));
      st(dgi + 2 * H + j, dct * i * (T(1) - gg * gg));
      st(dgi + 3 * H + j, dht * tc * o * (T(1) - o));
      st(dc + j, dct * f);
      st(dh + j, V{});
    });
  }
};

template <class T>
void lstm_forward(const RecurrentDims& d, const RecurrentInputs& in, const RecurrentOutputs& out) {
  recurrent_forward_cpu<LstmCell, T>(LstmCell{}, d, in, out);
}
template <class T>
void lstm_backward(const RecurrentDims& d, const Tensor& dy, const Tensor& dh_n, const Tensor& dc_n,
                   const RecurrentInputs& in, const RecurrentOutputs& fwd, const RecurrentGrads& g) {
  recurrent_backward_cpu<LstmCell, T>(LstmCell{}, d, dy, dh_n, dc_n, in, fwd, g);
}

CS_INSTANTIATE_CELL(lstm)

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
