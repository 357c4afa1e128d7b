#pragma once
// A fast view of a NumPy array for per-call hot paths (plans, fused optimiser steps): the dtype is
// matched against cached descriptors and no CUDA-protocol attribute probe is made. Anything that
// is not a float32 / float64 / int64 NumPy array goes through view() for its messages.
#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

inline Tensor host_view(py::handle obj, const char* name, bool optional = false) {
  if (!py::isinstance<py::array>(obj)) return view(obj, name, optional);
  auto a = py::reinterpret_borrow<py::array>(obj);
  const py::dtype dt = a.dtype();
  Tensor t;
  if (dt.is(py::dtype::of<float>())) t.dtype = DType::float32;
  else if (dt.is(py::dtype::of<double>())) t.dtype = DType::float64;
  else if (dt.is(py::dtype::of<int64_t>())) t.dtype = DType::int64;
  else return view(obj, name, optional);
  CS_CHECK(a.ndim() <= kMaxDims, ValueError, name, " has too many dims (", a.ndim(), ")");
  CS_CHECK(a.flags() & py::array::c_style, ValueError, name,
           " must be C-contiguous (call np.ascontiguousarray first)");
  t.ndim = static_cast<int32_t>(a.ndim());
  for (int i = 0; i < t.ndim; ++i) t.shape[i] = a.shape(i);
  t.data = const_cast<void*>(a.data());
  t.device = Device::cpu;
  return t;
}

/// host_view of an array updated in place: NumPy arrays must be writable.
inline Tensor host_inplace(py::handle obj, const char* name) {
  const Tensor t = host_view(obj, name);
  if (t.device == Device::cpu && py::isinstance<py::array>(obj))
    CS_CHECK(py::reinterpret_borrow<py::array>(obj).writeable(), ValueError, name,
             " must be writable (it is updated in place)");
  return t;
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
