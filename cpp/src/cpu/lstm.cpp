// LSTM cell (torch.nn.LSTM gate order i, f, g, o) on the shared CPU recurrent driver.
#include "cells.hpp"
#include "mathfn.hpp"
#include "recurrent.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

// Activations of gate pre-activations gi + hg + bi over m values: tanh on [lo, hi) (the g gate),
// sigmoid elsewhere. One pass with independent elements, so consecutive packs overlap (per unit,
// the five activations of a step form one long dependency chain). For float a pack may straddle
// two gates: tanh(v) = 2 / (1 + exp(-2v)) - 1 and sigmoid(v) = 1 / (1 + exp(-v)) are then one
// formula with per-lane constants, operation for operation those of tanh_() / sigmoid().
template <class T>
inline void gate_acts(int64_t m, int64_t lo, int64_t hi, const T* gi, const T* hg, const T* bi,
                      T* g) {
  int64_t j = 0;
  if constexpr (sizeof(T) == 4) {
    using V = pack_t<float>;
    using I = Pack<float>::I;
    const int32_t l = static_cast<int32_t>(lo), h = static_cast<int32_t>(hi);
    for (; j + 8 <= m; j += 8) {
      const V pre = ld<V>(gi + j) + ld<V>(hg + j) + ld<V>(bi + j);
      const I idx = I{0, 1, 2, 3, 4, 5, 6, 7} + static_cast<int32_t>(j);
      const I th = (idx >= l) & (idx < h);
      const V k = th ? V{} + 2.0f : V{} + 1.0f;
      const V s = k / (1.0f + fast_exp(-(k * pre)));
      st(g + j, th ? s - 1.0f : s);
    }
  }
  for (; j < m; ++j) {
    const T pre = gi[j] + hg[j] + bi[j];
    g[j] = j >= lo && j < hi ? tanh_(pre) : sigmoid(pre);
  }
}

struct LstmCell {
  static constexpr int G = 4;
  static constexpr bool kSplit = false, kHasC = true, kHasAux = true;

  template <class T>
  void forward_row(int64_t n, int64_t H, const T* gi, T* g, const T* hg, const T* bi, const T*,
                   T* h, T* c, T* aux) const {
    if (n == H) {
      gate_acts(4 * H, 2 * H, 3 * H, gi, hg, bi, g);
    } else {
      for (int64_t k = 0; k < 4; ++k)
        gate_acts(n, 0, k == 2 ? n : 0, gi + k * H, hg + k * H, bi + k * H, g + k * H);
    }
    for_packs<T>(n, [&](int64_t j, auto tag) {
      using V = decltype(tag);
      const V cn = ld<V>(g + H + j) * ld<V>(c + j) + ld<V>(g + j) * ld<V>(g + 2 * H + j);
      st(c + j, cn);
      st(aux + j, cn);
      st(h + j, ld<V>(g + 3 * H + j) * tanh_(cn));
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
