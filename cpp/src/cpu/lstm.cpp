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
  void forward_row(int64_t H, T* g, const T*, T* h, T* c, T* aux) const {
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T i = sigmoid(g[j]), f = sigmoid(g[H + j]), gg = tanh_(g[2 * H + j]),
              o = sigmoid(g[3 * H + j]);
      const T cn = f * c[j] + i * gg;
      g[j] = i;
      g[H + j] = f;
      g[2 * H + j] = gg;
      g[3 * H + j] = o;
      c[j] = cn;
      aux[j] = cn;
      h[j] = o * tanh_(cn);
    }
  }

  template <class T>
  void backward_row(int64_t H, const T* dy, const T* g, const T* aux, const T*, const T* cprev,
                    T* dh, T* dc, T* dgi, T*) const {
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j];
      const T tc = tanh_(aux[j]);
      const T dht = dh[j] + dy[j];
      const T dct = dc[j] + dht * o * (T(1) - tc * tc);
      dgi[j] = dct * gg * i * (T(1) - i);
      dgi[H + j] = dct * cprev[j] * f * (T(1) - f);
      dgi[2 * H + j] = dct * i * (T(1) - gg * gg);
      dgi[3 * H + j] = dht * tc * o * (T(1) - o);
      dc[j] = dct * f;
      dh[j] = T(0);
    }
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
