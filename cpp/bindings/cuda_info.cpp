// CUDA availability: _core.cuda_device_count() (0 without a CUDA build, driver or device), and
// which library serves the CUDA GEMMs (_core.cuda_gemm_backend / _core.cuda_load_cublas).
#include "chronoscale/cuda_info.hpp"

#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

void bind_cuda_info(py::module_& m) {
  m.def("cuda_device_count", &cuda_device_count,
        "Number of usable CUDA devices (0 when built without CUDA or without a driver/device).");
  m.def("cuda_gemm_backend", &cuda_gemm_backend,
        "'cublas:<path>' or 'builtin (<why>)' for the CUDA kernels' GEMMs; 'none' without CUDA.");
  m.def("cuda_load_cublas", &cuda_load_cublas, py::arg("path"),
        "Use the cuBLAS library at `path` for the CUDA kernels' GEMMs (ValueError if it fails).");
  m.def("cuda_release_memory", &cuda_release_memory, py::call_guard<py::gil_scoped_release>(),
        "Return the unused memory of chronoscale's CUDA scratch pools to the driver.");
  m.def(
      "cuda_upload",
      [](py::handle src, py::handle dst) {
        const Tensor s = view(src, "src"), d = view(dst, "dst");
        void* stream = d.device == Device::cuda ? current_stream(d) : nullptr;
        py::gil_scoped_release nogil;
        cuda_upload(s, d, stream);
      },
      py::arg("src"), py::arg("dst"),
      "Copy the host array src into the CUDA array dst on CuPy's current stream, through pinned "
      "staging (no wait for the device).");
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
