#pragma once
// Array <-> view conversion for the pybind11 module. NumPy arrays become CPU views; objects with
// __cuda_array_interface__ (CuPy, torch CUDA tensors, ...) become CUDA views. Nothing is copied:
// non-contiguous input is rejected with a message naming the argument.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <vector>

#include "chronoscale/tensor.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

namespace py = pybind11;

/// View of `obj`; None gives an absent view when `optional`, a ValueError otherwise.
Tensor view(py::handle obj, const char* name, bool optional = false);

/// View of an array the call writes into: as `view`, and a read-only NumPy array is refused
/// (ValueError "`name` must be writable"; a read-only memory map would fault).
Tensor view_writable(py::handle obj, const char* name, bool optional = false);

/// A new uninitialised array on the device of `like` (NumPy on the CPU, CuPy on CUDA).
py::object empty(const Tensor& like, const std::vector<int64_t>& shape, DType dtype);
/// Same, filled with zeros.
py::object zeros(const Tensor& like, const std::vector<int64_t>& shape, DType dtype);

/// Allocate with `empty` and return both the object and its view.
struct Out {
  py::object obj;
  Tensor t;
};
Out out(const Tensor& like, const std::vector<int64_t>& shape, DType dtype, bool zero = false);
inline Out out(const Tensor& like, const std::vector<int64_t>& shape) {
  return out(like, shape, like.dtype);
}
inline py::object obj_or_none(const Out& o) { return o.t.defined() ? o.obj : py::none(); }

/// cudaStream_t of CuPy's current stream when `t` is on CUDA, else nullptr.
void* current_stream(const Tensor& t);

void bind_runtime(py::module_& m);
void bind_recurrent(py::module_& m);
void bind_cuda_info(py::module_& m);
void bind_cosine(py::module_& m);
void bind_conv1d(py::module_& m);
void bind_embedding(py::module_& m);
void bind_pool(py::module_& m);
void bind_multiscale(py::module_& m);
void bind_linear(py::module_& m);
void bind_optim(py::module_& m);
void bind_dropout(py::module_& m);
void bind_loss(py::module_& m);
void bind_plan(py::module_& m);
void bind_rows(py::module_& m);
void bind_normalize(py::module_& m);
void bind_packed(py::module_& m);
void bind_fusion(py::module_& m);
void bind_top_k(py::module_& m);

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
