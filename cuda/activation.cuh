#pragma once
// Activations of the dense layer and conv1d on the device, and their derivatives taken from the
// output y = act(z) (the formulas of cpp/src/cpu/linear.cpp).
#include <cuda_runtime.h>

#include "chronoscale/linear.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cuda {
namespace train {

/// max(z, 0) with NaN passed through, as on the CPU (mathfn.hpp) and in torch.
template <class T>
__device__ __forceinline__ T relu(T z) {
  return z < T(0) ? T(0) : z;
}
/// dL/dz through y = relu(z): dy unless y <= 0 (a NaN y passes dy on, as torch).
template <class T>
__device__ __forceinline__ T relu_grad(T dy, T y) {
  return y <= T(0) ? T(0) : dy;
}

template <class T>
__device__ __forceinline__ T activate(T z, int act) {
  switch (act) {
    case static_cast<int>(Activation::relu):
      return relu(z);
    case static_cast<int>(Activation::sigmoid): return T(1) / (T(1) + exp(-z));
    case static_cast<int>(Activation::tanh): return tanh(z);
    default: return z;
  }
}

/// dL/dz from dL/dy and y = act(z).
template <class T>
__device__ __forceinline__ T activation_grad(T dy, T y, int act) {
  switch (act) {
    case static_cast<int>(Activation::relu):
      return relu_grad(dy, y);
    case static_cast<int>(Activation::sigmoid): return dy * y * (T(1) - y);
    case static_cast<int>(Activation::tanh): return dy * (T(1) - y * y);
    default: return dy;
  }
}

}  // namespace train
}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
