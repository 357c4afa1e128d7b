#pragma once
// Activations of the inference plans, written on 8-wide float vectors (GCC/Clang vector
// extensions) so that they vectorise whatever the auto-vectoriser decides: the same Cody-Waite +
// degree-6 polynomial exp as mathfn.hpp's fast_exp, operation for operation. double keeps the
// scalar mathfn.hpp functions (libm), which is what the reference ops use.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "mathfn.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {
namespace vmath {

typedef float F8 __attribute__((vector_size(32)));
typedef int32_t I8 __attribute__((vector_size(32)));

inline F8 splat(float v) { return F8{v, v, v, v, v, v, v, v}; }

/// 8 floats from p. The plan's row loops read whole vectors past a row's end (into the next row
/// or the buffers' kPad slack) and only store the valid lanes.
inline F8 load(const float* p) {
  F8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
/// n (< 8) floats from p, zero-padded (no read past p + n).
inline F8 load_n(const float* p, int64_t n) {
  F8 v = splat(0.0f);
  for (int64_t i = 0; i < n; ++i) v[i] = p[i];
  return v;
}
/// The first n (<= 8) lanes of v to p.
inline void store(float* p, const F8& v, int64_t n) {
  if (n >= 8) {
    std::memcpy(p, &v, sizeof(v));
    return;
  }
  for (int64_t i = 0; i < n; ++i) p[i] = v[i];
}

// The activations are mathfn.hpp's (one exp for scalars and packs): F8 is pack_t<float>.
static_assert(sizeof(F8) == sizeof(pack_t<float>));
inline F8 tanh(const F8& x) { return tanh_(x); }

}  // namespace vmath

/// Elements of slack at the end of every buffer whose rows the float kernels read as vectors.
constexpr int64_t kPad = 16;

/// LSTM cell update of one row (gate pre-activations g [4H], i f g o): c, h in place.
/// float: g, h, c must be readable kPad elements past their row (see vmath::load).
template <class T>
inline void lstm_update(int64_t H, const T* g, T* h, T* c) {
  if constexpr (std::is_same_v<T, float>) {
    using namespace vmath;
    for (int64_t j = 0; j < H; j += 8) {
      const int64_t n = H - j;
      const F8 i = sigmoid(load(g + j)), f = sigmoid(load(g + H + j)),
               gg = tanh(load(g + 2 * H + j)), o = sigmoid(load(g + 3 * H + j));
      const F8 cn = f * load(c + j) + i * gg;
      store(c + j, cn, n);
      store(h + j, o * tanh(cn), n);
    }
  } else {
    for (int64_t j = 0; j < H; ++j) {
      const T i = sigmoid(g[j]), f = sigmoid(g[H + j]), gg = tanh_(g[2 * H + j]),
              o = sigmoid(g[3 * H + j]);
      const T cn = f * c[j] + i * gg;
      c[j] = cn;
      h[j] = o * tanh_(cn);
    }
  }
}

/// GRU update of one row: g [3H] input part (+ b_ih), hg [3H] W_hh h + b_hh; h in place.
template <class T>
inline void gru_update(int64_t H, const T* g, const T* hg, T* h) {
  if constexpr (std::is_same_v<T, float>) {
    using namespace vmath;
    for (int64_t j = 0; j < H; j += 8) {
      const int64_t n = H - j;
      const F8 r = sigmoid(load(g + j) + load(hg + j));
      const F8 z = sigmoid(load(g + H + j) + load(hg + H + j));
      const F8 nn = tanh(load(g + 2 * H + j) + r * load(hg + 2 * H + j));
      store(h + j, (1.0f - z) * nn + z * load(h + j), n);
    }
  } else {
    for (int64_t j = 0; j < H; ++j) {
      const T r = sigmoid(g[j] + hg[j]);
      const T z = sigmoid(g[H + j] + hg[H + j]);
      const T n = tanh_(g[2 * H + j] + r * hg[2 * H + j]);
      h[j] = (T(1) - z) * n + z * h[j];
    }
  }
}

/// y = act(y) on n values; act 0 identity, 1 relu, 2 sigmoid, 3 tanh (reads y[0, n) only).
template <class T>
inline void apply(int act, T* y, int64_t n) {
  if (act == 0) return;
  if (act == 1) {
    for (int64_t i = 0; i < n; ++i) y[i] = relu(y[i]);
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    using namespace vmath;
    for (int64_t i = 0; i < n; i += 8) {
      const F8 v = i + 8 <= n ? load(y + i) : load_n(y + i, n - i);
      store(y + i, act == 2 ? sigmoid(v) : tanh(v), n - i);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = act == 2 ? sigmoid(y[i]) : tanh_(y[i]);
  }
}

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
