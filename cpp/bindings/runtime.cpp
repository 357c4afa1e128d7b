// Runtime settings and build facts.
#include "chronoscale/runtime.hpp"

#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

void bind_runtime(py::module_& m) {
  m.def("load_blas", &load_blas, py::arg("path"), "Load a CBLAS shared library by path.");
  m.def("blas_name", &blas_name);
  m.def("blas_path", &blas_path);
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("get_num_threads", &get_num_threads);
  m.def("release_scratch", &release_scratch);
  m.def("build_info_json", &build_info_json);
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
