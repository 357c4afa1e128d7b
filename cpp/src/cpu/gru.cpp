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
  void forward_row(int64_t H, T* g, const T* hg, T* h, T*, T* aux) const {
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T r = sigmoid(g[j] + hg[j]);
      const T z = sigmoid(g[H + j] + hg[H + j]);
      const T n = tanh_(g[2 * H + j] + r * hg[2 * H + j]);
      g[j] = r;
      g[H + j] = z;
      g[2 * H + j] = n;
      aux[j] = hg[2 * H + j];
      h[j] = (T(1) - z) * n + z * h[j];
    }
  }

  template <class T>
  void backward_row(int64_t H, const T* dy, const T* g, const T* aux, const T* hprev, const T*,
                    T* dh, T*, T* dgi, T* dhg) const {
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T r = g[j], z = g[H + j], n = g[2 * H + j];
      const T dht = dh[j] + dy[j];
      const T dn = dht * (T(1) - z) * (T(1) - n * n);
      const T dr = dn * aux[j] * r * (T(1) - r);
      const T dz = dht * (hprev[j] - n) * z * (T(1) - z);
      dgi[j] = dr;
      dgi[H + j] = dz;
      dgi[2 * H + j] = dn;
      dhg[j] = dr;
      dhg[H + j] = dz;
      dhg[2 * H + j] = dn * r;
      dh[j] = dht * z;
    }
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
