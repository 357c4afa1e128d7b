#pragma once
// Gate maths of one (batch row, hidden unit) of the recurrent cells on the device: the same
// formulas as cpp/src/cpu/{lstm,gru,rnn}.cpp, in registers. The kernels (recurrent_kernels.cuh)
// gather the inputs and scatter the results; these functions only compute.
//
//   forward(pre, hg, hp, cp, act, h, c, aux):
//     pre[g] = (x W_ih^T)[g] + b_ih[g] (+ b_hh[g] unless kSplit), hg[g] = (W_hh h)[g] (+ b_hh[g]
//     when kSplit); hp / cp the states entering the step. Writes the saved activations act[g]
//     (cache.gates), the new h and c, and aux (LSTM c_t, GRU W_hn h + b_hn).
//   backward(act, aux, hp, cp, dht, dc, dgi, dhg, dh_direct):
//     dht = dL/dh_t (dy included), dc = dL/dc_t on entry and dL/dc_{t-1} on exit (LSTM).
//     dgi: gradient of the gate pre-activations (input side), dhg: of W_hh h (+ b_hh), equal to
//     dgi except for the GRU; dh_direct: the part of dL/dh_{t-1} that does not go through W_hh.
#include <cuda_runtime.h>

#include "activation.cuh"
#include "chronoscale/recurrent.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

// float: __fdividef (reciprocal and multiply, 2 ulp) instead of the IEEE division, whose
// slow-path branch serialised the gates' sigmoids on the recurrent critical path; 1 / inf = 0.
// __expf (ex2.approx of v * log2(e): 2 instructions for expf's 8; relative error about
// 2^-21 + |v| * 2^-24, and the sigmoid damps it further) for the same reason.
__device__ __forceinline__ float sigmoid_d(float v) {
  return __fdividef(1.0f, 1.0f + __expf(-v));
}
__device__ __forceinline__ double sigmoid_d(double v) { return 1.0 / (1.0 + exp(-v)); }
__device__ __forceinline__ float tanh_d(float v) { return tanhf(v); }
__device__ __forceinline__ double tanh_d(double v) { return tanh(v); }

struct LstmCellD {
  static constexpr int G = 4;
  static constexpr bool kSplit = false, kHasC = true, kHasAux = true;

  template <class T>
  __device__ __forceinline__ static void forward(const T (&pre)[G], const T (&hg)[G], T, T cp,
                                                 T (&act)[G], T& h, T& c, T& aux, int) {
    const T i = sigmoid_d(pre[0] + hg[0]), f = sigmoid_d(pre[1] + hg[1]);
    const T g = tanh_d(pre[2] + hg[2]), o = sigmoid_d(pre[3] + hg[3]);
    c = f * cp + i * g;
    aux = c;
    h = o * tanh_d(c);
    act[0] = i;
    act[1] = f;
    act[2] = g;
    act[3] = o;
  }

  template <class T>
  __device__ __forceinline__ static void backward(const T (&act)[G], T aux, T, T cp, T dht, T& dc,
                                                  T (&dgi)[G], T (&dhg)[G], T& dh_direct, int) {
    const T i = act[0], f = act[1], g = act[2], o = act[3];
    const T tc = tanh_d(aux);
    const T dct = dc + dht * o * (T(1) - tc * tc);
    dgi[0] = dct * g * i * (T(1) - i);
    dgi[1] = dct * cp * f * (T(1) - f);
    dgi[2] = dct * i * (T(1) - g * g);
    dgi[3] = dht * tc * o * (T(1) - o);
#pragma unroll
    for (int k = 0; k < G; ++k) dhg[k] = dgi[k];
    dc = dct * f;
    dh_direct = T(0);
  }
};

struct GruCellD {
  static constexpr int G = 3;
  static constexpr bool kSplit = true, kHasC = false, kHasAux = true;

  template <class T>
  __device__ __forceinline__ static void forward(const T (&pre)[G], const T (&hg)[G], T hp, T,
                                                 T (&act)[G], T& h, T& c, T& aux, int) {
    const T r = sigmoid_d(pre[0] + hg[0]);
    const T z = sigmoid_d(pre[1] + hg[1]);
    const T n = tanh_d(pre[2] + r * hg[2]);
    act[0] = r;
    act[1] = z;
    act[2] = n;
    aux = hg[2];
    h = (T(1) - z) * n + z * hp;
    c = T(0);
  }

  template <class T>
  __device__ __forceinline__ static void backward(const T (&act)[G], T aux, T hp, T, T dht, T&,
                                                  T (&dgi)[G], T (&dhg)[G], T& dh_direct, int) {
    const T r = act[0], z = act[1], n = act[2];
    const T dn = dht * (T(1) - z) * (T(1) - n * n);
    const T dr = dn * aux * r * (T(1) - r);
    const T dz = dht * (hp - n) * z * (T(1) - z);
    dgi[0] = dr;
    dgi[1] = dz;
    dgi[2] = dn;
    dhg[0] = dr;
    dhg[1] = dz;
    dhg[2] = dn * r;
    dh_direct = dht * z;
  }
};

/// Vanilla RNN; the activation (Cell::rnn_tanh / rnn_sigmoid / rnn_relu) is a kernel argument,
/// uniform across the grid, so one kernel serves all three.
struct RnnCellD {
  static constexpr int G = 1;
  static constexpr bool kSplit = false, kHasC = false, kHasAux = false;

  template <class T>
  __device__ __forceinline__ static void forward(const T (&pre)[G], const T (&hg)[G], T, T,
                                                 T (&act)[G], T& h, T& c, T& aux, int kind) {
    const T v = pre[0] + hg[0];
    T a;
    if (kind == static_cast<int>(Cell::rnn_tanh)) a = tanh_d(v);
    else if (kind == static_cast<int>(Cell::rnn_sigmoid)) a = sigmoid_d(v);
    else
      a = train::relu(v);
    act[0] = a;
    h = a;
    c = T(0);
    aux = T(0);
  }

  template <class T>
  __device__ __forceinline__ static void backward(const T (&act)[G], T, T, T, T dht, T&,
                                                  T (&dgi)[G], T (&dhg)[G], T& dh_direct,
                                                  int kind) {
    const T a = act[0];
    T d;  // derivative through the output a = act(v), as on the CPU
    if (kind == static_cast<int>(Cell::rnn_tanh)) d = T(1) - a * a;
    else if (kind == static_cast<int>(Cell::rnn_sigmoid)) d = a * (T(1) - a);
    else
      d = train::relu_grad(T(1), a);
    dgi[0] = dht * d;
    dhg[0] = dgi[0];
    dh_direct = T(0);
  }
};

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
