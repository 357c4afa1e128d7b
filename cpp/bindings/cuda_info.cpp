// CUDA availability: _core.cuda_device_count() (0 without a CUDA build, driver or device).
#include "chronoscale/cuda_info.hpp"

#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

void bind_cuda_info(py::module_& m) {
  m.def("cuda_device_count", &cuda_device_count,
        "Number of usable CUDA devices (0 when built without CUDA or without a driver/device).");
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
