// The pybind11 module chronoscale._core: a thin layer over the C++ core. It converts arrays to
// views, releases the GIL inside kernels and maps C++ exceptions to Python ones.
#include <pybind11/pybind11.h>

#include "chronoscale/error.hpp"
#include "chronoscale/runtime.hpp"
#include "chronoscale/version.hpp"
#include "common.hpp"

namespace py = pybind11;
namespace cs = chronoscale;

PYBIND11_MODULE(_core, m) {
  m.doc() = "chronoscale native core (C++ kernels; CUDA where built)";
  static py::exception<cs::CudaError> cuda_error(m, "CudaError", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const cs::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const cs::CudaError& e) {
      PyErr_SetString(cuda_error.ptr(), e.what());
    }
  });
  m.attr("__version__") = CHRONOSCALE_VERSION_STRING;
  cs::py_bind::bind_runtime(m);
  cs::py_bind::bind_recurrent(m);
  cs::py_bind::bind_cuda_info(m);
  cs::py_bind::bind_cosine(m);
  cs::py_bind::bind_conv1d(m);
  cs::py_bind::bind_embedding(m);
  cs::py_bind::bind_pool(m);
  cs::py_bind::bind_multiscale(m);
  cs::py_bind::bind_linear(m);
  cs::py_bind::bind_optim(m);
  cs::py_bind::bind_dropout(m);
  cs::py_bind::bind_loss(m);
  cs::py_bind::bind_plan(m);
  cs::py_bind::bind_rows(m);
  cs::py_bind::bind_normalize(m);
  cs::py_bind::bind_packed(m);
  cs::py_bind::bind_fusion(m);
  cs::py_bind::bind_top_k(m);
}
