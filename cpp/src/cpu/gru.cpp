// GRU cell (torch.nn.GRU gate order r, z, n; reset gate applied to W_hn h + b_hn).
#include "cells.hpp"
#include "mathfn.hpp"
#include "recurrent.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

struct GruCell {
  static constexpr int G = 3;
  static constexpr bool kSplit = true, kHasC = false, kHasAux = true;

  template <class T>
  void forward_row(int64_t n, int64_t H, const T* gi, T* g, const T* hg, const T* bi,
                   const T* bh, T* h, T*, T* aux) const {
    // r and z first, in one pass over both gates when the row is whole: independent elements,
    // so consecutive packs overlap; then n and h.
    for (int64_t k = 0; k < (n == H ? 1 : 2); ++k) {
      const int64_t o = k * H;
      for_packs<T>(n == H ? 2 * H : n, [&](int64_t j, auto tag) {
        using V = decltype(tag);
        st(g + o + j, sigmoid(ld<V>(gi + o + j) + ld<V>(bi + o + j) + ld<V>(hg + o + j) +
                              ld<V>(bh + o + j)));
      });
    }
    for_packs<T>(n, [&](int64_t j, auto tag) {
      using V = decltype(tag);
      const V r = ld<V>(g + j), z = ld<V>(g + H + j);
      const V hn = ld<V>(hg + 2 * H + j) + ld<V>(bh + 2 * H + j);
      const V nn = tanh_(ld<V>(gi + 2 * H + j) + ld<V>(bi + 2 * H + j) + r * hn);
      st(g + 2 * H + j, nn);
      st(aux + j, hn);
      st(h + j, (T(1) - z) * nn + z * ld<V>(h + j));
    });
  }

  template <class T>
  void backward_row(int64_t n, int64_t H, const T* dy, const T* g, const T* aux, const T* hprev,
                    const T*, T* dh, T*, T* dgi, T* dhg) const {
    for_packs<T>(n, [&](int64_t j, auto tag) {
      using V = decltype(tag);
      const V r = ld<V>(g + j), z = ld<V>(g + H + j), nn = ld<V>(g + 2 * H + j);
      const V dht = ld<V>(dh + j) + ld<V>(dy + j);
      const V dn = dht * (T(1) - z) * (T(1) - nn * nn);
      const V dr = dn * ld<V>(aux + j) * r * (T(1) - r);
      const V dz = dht * (ld<V>(hprev + j) - nn) * z * (T(1) - z);
      st(dgi + j, dr);
      st(dgi + H + j, dz);
      st(dgi + 2 * H + j, dn);
      st(dhg + j, dr);
      st(dhg + H + j, dz);
      st(dhg + 2 * H + j, dn * r);
      st(dh + j, dht * z);
    });
  }
};

template <class T>
void gru_forward(const RecurrentDims& d, const RecurrentInputs& in, const RecurrentOutputs& out) {
  recurrent_forward_cpu<GruCell, T>(GruCell{}, d, in, out);
}
template <class T>
void gru_backward(const RecurrentDims& d, const Tensor& dy, const Tensor& dh_n, const Tensor& dc_n,
                  const RecurrentInputs& in, const RecurrentOutputs& fwd, const RecurrentGrads& g) {
  recurrent_backward_cpu<GruCell, T>(GruCell{}, d, dy, dh_n, dc_n, in, fwd, g);
}

CS_INSTANTIATE_CELL(gru)

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
