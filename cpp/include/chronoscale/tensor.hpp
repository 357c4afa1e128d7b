#pragma once
/// A non-owning view of a dense, C-contiguous (row-major) array: pointer + shape + dtype + device.
/// Every kernel entry point takes and returns data through these views, so the same functions
/// serve NumPy (CPU), CuPy / DLPack producers (CUDA) and the C API.
#include <cstdint>
#include <initializer_list>
#include <string>

#include "chronoscale/error.hpp"

namespace chronoscale {
inline namespace v1 {

enum class DType : int32_t { float32 = 0, float64 = 1, int64 = 2, int32 = 3 };
enum class Device : int32_t { cpu = 0, cuda = 1 };

constexpr int kMaxDims = 6;

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::int64: return "int64";
    case DType::int32: return "int32";
  }
  return "?";
}
inline int64_t dtype_size(DType d) { return (d == DType::float32 || d == DType::int32) ? 4 : 8; }

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::float32; }
template <> constexpr DType dtype_of<double>() { return DType::float64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::int64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::int32; }

/// View of a C-contiguous array. `ndim == -1` marks an absent optional argument.
struct Tensor {
  void* data = nullptr;
  DType dtype = DType::float32;
  Device device = Device::cpu;
  int32_t ndim = -1;
  int64_t shape[kMaxDims] = {0, 0, 0, 0, 0, 0};

  Tensor() = default;
  Tensor(void* p, DType dt, std::initializer_list<int64_t> dims, Device dev = Device::cpu)
      : data(p), dtype(dt), device(dev), ndim(static_cast<int32_t>(dims.size())) {
    int i = 0;
    for (int64_t d : dims) shape[i++] = d;
  }

  bool defined() const { return ndim >= 0; }
  int64_t size(int i) const { return shape[i < 0 ? i + ndim : i]; }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  template <class T> T* ptr() const { return static_cast<T*>(data); }
  std::string shape_str() const {
    if (!defined()) return "None";
    std::string s = "[";
    for (int i = 0; i < ndim; ++i) {
      if (i) s.append(", ");
      s.append(std::to_string(shape[i]));
    }
    s.push_back(']');
    return s;
  }
};

}  // namespace v1
}  // namespace chronoscale
