#include "common.hpp"

#include <cstring>
#include <string>

#include "chronoscale/error.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

namespace {

// chronoscale._cuda's helpers, looked up once: every CUDA op calls them (kept for the life of
// the process and never destroyed, so interpreter shutdown cannot run into them; the bindings
// run with the GIL held, so the first lookup does not race).
struct CudaHelpers {
  py::object empty, zeros, stream;
};
const CudaHelpers& cuda_helpers() {
  static const CudaHelpers* h = nullptr;
  if (!h) {
    auto m = py::module_::import("chronoscale._cuda");
    h = new CudaHelpers{m.attr("empty"), m.attr("zeros"), m.attr("current_stream_ptr")};
  }
  return *h;
}

DType dtype_from_typestr(const std::string& ts, const char* name) {
  if (ts == "<f4") return DType::float32;
  if (ts == "<f8") return DType::float64;
  if (ts == "<i8") return DType::int64;
  if (ts == "<i4") return DType::int32;
  throw TypeError(detail::cat(name, " has unsupported dtype '", ts,
                              "' (chronoscale takes float32 or float64 values and int64 or int32 indices)"));
}

const char* numpy_name(DType d) { return dtype_name(d); }

/// Throws unless strides (stride(i), in units where one element is `unit`) are C order for
/// t's shape (axes of extent 1 may have any stride).
template <class Stride>
void check_c_order(const Tensor& t, int64_t unit, Stride stride, const char* name,
                   const char* hint) {
  int64_t expect = unit;
  for (int i = t.ndim - 1; i >= 0; --i) {
    if (t.shape[i] > 1)
      CS_CHECK(stride(i) == expect, ValueError, name, " must be C-contiguous (", hint, ")");
    expect *= t.shape[i];
  }
}

// `cai`: the array's __cuda_array_interface__ (read once per view: CuPy builds the dict anew at
// every access).
Tensor cuda_view(const py::object& cai_obj, const char* name) {
  CS_CHECK(py::isinstance<py::dict>(cai_obj), TypeError, name,
           ".__cuda_array_interface__ is not a dict");
  const auto cai = py::reinterpret_borrow<py::dict>(cai_obj);
  Tensor t;
  t.device = Device::cuda;
  t.dtype = dtype_from_typestr(py::str(cai["typestr"]), name);
  py::tuple shape = cai["shape"];
  CS_CHECK(shape.size() <= static_cast<size_t>(kMaxDims), ValueError, name, " has too many dims");
  t.ndim = static_cast<int32_t>(shape.size());
  for (int i = 0; i < t.ndim; ++i) t.shape[i] = shape[i].cast<int64_t>();
  py::tuple data = cai["data"];
  t.data = reinterpret_cast<void*>(data[0].cast<uintptr_t>());
  if (cai.contains("strides") && !cai["strides"].is_none()) {
    py::tuple strides = cai["strides"];
    check_c_order(t, dtype_size(t.dtype), [&](int i) { return strides[i].cast<int64_t>(); },
                  name, "call .copy() / cupy.ascontiguousarray first");
  }
  return t;
}

// The DLPack ABI (dlpack.h, stable since v0.2): the part a view reads. The export is asked
// for without a copy (copy=False; producers older than that keyword never copy), so the memory
// belongs to the caller's array, which outlives the call; the capsule keeps its name
// "dltensor" and its destructor hands the export back to the producer when view() returns.
struct DLDevice_ {
  int32_t device_type, device_id;
};
struct DLDataType_ {
  uint8_t code, bits;
  uint16_t lanes;
};
struct DLTensor_ {
  void* data;
  DLDevice_ device;
  int32_t ndim;
  DLDataType_ dtype;
  int64_t* shape;
  int64_t* strides;
  uint64_t byte_offset;
};
struct DLManagedTensor_ {
  DLTensor_ dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor_*);
};
constexpr int32_t kDLCPU = 1, kDLCUDA = 2, kDLCUDAHost = 3, kDLCUDAManaged = 13;

// A Python tuple of ints (no pybind11/stl.h caster needed).
py::tuple shape_tuple(const std::vector<int64_t>& shape) {
  py::tuple t(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) t[i] = py::int_(shape[i]);
  return t;
}

Tensor dlpack_view(py::handle obj, const char* name) {
  py::tuple dev = obj.attr("__dlpack_device__")();
  const int32_t type = dev[0].cast<int32_t>();
  CS_CHECK(type == kDLCPU || type == kDLCUDA || type == kDLCUDAHost || type == kDLCUDAManaged,
           TypeError, name, " is a DLPack array on device type ", type,
           " (only CPU and CUDA arrays are supported)");
  py::object stream = py::none();
  if (type == kDLCUDA || type == kDLCUDAManaged) {  // ready on CuPy's current stream
    const uintptr_t s = cuda_helpers().stream().cast<uintptr_t>();
    stream = py::int_(s == 0 ? uintptr_t(1) : s);  // 1: the legacy default stream
  }
  py::object capsule;
  try {
    capsule = obj.attr("__dlpack__")(py::arg("stream") = stream, py::arg("copy") = false);
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_TypeError)) throw;  // e.g. BufferError: no zero-copy export
    capsule = obj.attr("__dlpack__")(py::arg("stream") = stream);  // before `copy` existed
  }
  auto* m = static_cast<DLManagedTensor_*>(PyCapsule_GetPointer(capsule.ptr(), "dltensor"));
  if (!m) throw py::error_already_set();
  const DLTensor_& d = m->dl_tensor;
  Tensor t;
  t.device = type == kDLCPU || type == kDLCUDAHost ? Device::cpu : Device::cuda;
  const uint8_t code = d.dtype.code, bits = d.dtype.bits;
  CS_CHECK(d.dtype.lanes == 1, TypeError, name, " has a vector dtype (lanes > 1)");
  if (code == 2 && bits == 32) t.dtype = DType::float32;
  else if (code == 2 && bits == 64) t.dtype = DType::float64;
  else if (code == 0 && bits == 64) t.dtype = DType::int64;
  else if (code == 0 && bits == 32) t.dtype = DType::int32;
  else
    throw TypeError(detail::cat(name, " has unsupported DLPack dtype (code ", int(code), ", ",
                                int(bits), " bits; chronoscale takes float32 or float64 values and int64 or int32 indices)"));
  CS_CHECK(d.ndim <= kMaxDims, ValueError, name, " has too many dims (", d.ndim, ")");
  t.ndim = d.ndim;
  for (int i = 0; i < t.ndim; ++i) t.shape[i] = d.shape[i];
  if (d.strides)
    check_c_order(t, 1, [&](int i) { return d.strides[i]; }, name,
                  "call .contiguous() / a contiguous copy first");
  t.data = static_cast<char*>(d.data) + d.byte_offset;
  return t;
}

/// The DType of a NumPy dtype (CuPy arrays carry NumPy dtypes too).
DType dtype_of(const py::dtype& dt, const char* name) {
  if (dt.is(py::dtype::of<float>())) return DType::float32;
  if (dt.is(py::dtype::of<double>())) return DType::float64;
  if (dt.is(py::dtype::of<int64_t>())) return DType::int64;
  // equal but not identical descriptors, and the errors
  CS_CHECK(dt.byteorder() != '>', TypeError, name, " must be in native byte order");
  const char kind = dt.kind();
  const auto size = dt.itemsize();
  if (kind == 'f' && size == 4) return DType::float32;
  if (kind == 'f' && size == 8) return DType::float64;
  if (kind == 'i' && size == 8) return DType::int64;
  if (kind == 'i' && size == 4) return DType::int32;
  throw TypeError(detail::cat(name, " has unsupported dtype ", std::string(py::str(dt)),
                              " (chronoscale takes float32 or float64 values and int64 or int32 indices)"));
}

/// Whether `obj` is exactly a cupy.ndarray (of the CuPy in sys.modules, looked up at every call
/// so that a replaced module is honoured; no CuPy loaded: false).
bool is_cupy_ndarray(py::handle obj) {
  PyObject* cupy = PyDict_GetItemString(PyImport_GetModuleDict(), "cupy");  // borrowed
  if (!cupy) return false;
  const py::object nd = py::getattr(cupy, "ndarray", py::none());
  return nd.ptr() == reinterpret_cast<PyObject*>(Py_TYPE(obj.ptr()));
}

/// A C-contiguous cupy.ndarray read through its dtype, shape and data pointer: a few attribute
/// reads instead of __cuda_array_interface__, whose dict (with dtype.descr and the current
/// stream) CuPy builds at every access. Not C-contiguous: an absent view (the caller takes the
/// interface path, which reports it).
Tensor cupy_view(py::handle obj, const char* name) {
  if (!obj.attr("flags").attr("c_contiguous").cast<bool>()) return Tensor{};
  Tensor t;
  t.device = Device::cuda;
  t.dtype = dtype_of(obj.attr("dtype").cast<py::dtype>(), name);
  const auto shape = obj.attr("shape").cast<py::tuple>();
  CS_CHECK(shape.size() <= static_cast<size_t>(kMaxDims), ValueError, name, " has too many dims");
  t.ndim = static_cast<int32_t>(shape.size());
  for (int i = 0; i < t.ndim; ++i) t.shape[i] = shape[size_t(i)].cast<int64_t>();
  t.data = reinterpret_cast<void*>(obj.attr("data").attr("ptr").cast<uintptr_t>());
  return t;
}

}  // namespace

Tensor view_writable(py::handle obj, const char* name, bool optional) {
  const Tensor t = view(obj, name, optional);
  if (t.defined() && t.device == Device::cpu && py::isinstance<py::array>(obj))
    CS_CHECK(py::reinterpret_borrow<py::array>(obj).writeable(), ValueError, name,
             " must be writable (the call writes into it)");
  return t;
}

Tensor view(py::handle obj, const char* name, bool optional) {
  if (obj.is_none()) {
    CS_CHECK(optional, ValueError, name, " is required, got None");
    return Tensor{};
  }
  // NumPy first: the common case pays no __cuda_array_interface__ probe (a failed hasattr
  // raises and catches an AttributeError on every call).
  if (!py::isinstance<py::array>(obj)) {
    if (is_cupy_ndarray(obj))
      if (Tensor t = cupy_view(obj, name); t.defined()) return t;
    const py::object cai = py::getattr(obj, "__cuda_array_interface__", py::none());
    if (!cai.is_none()) return cuda_view(cai, name);
    if (py::hasattr(obj, "__dlpack__") && py::hasattr(obj, "__dlpack_device__"))
      return dlpack_view(obj, name);
    throw TypeError(detail::cat(name, " must be a NumPy array (or a CUDA / DLPack array), got ",
                                std::string(py::str(py::type::of(obj).attr("__name__")))));
  }
  auto a = py::reinterpret_borrow<py::array>(obj);
  Tensor t;
  t.dtype = dtype_of(a.dtype(), name);
  CS_CHECK(a.ndim() <= kMaxDims, ValueError, name, " has too many dims (", a.ndim(), ")");
  CS_CHECK(a.flags() & py::array::c_style, ValueError, name,
           " must be C-contiguous (call np.ascontiguousarray first)");
  t.ndim = static_cast<int32_t>(a.ndim());
  for (int i = 0; i < t.ndim; ++i) t.shape[i] = a.shape(i);
  t.data = const_cast<void*>(a.data());
  t.device = Device::cpu;
  return t;
}

py::object empty(const Tensor& like, const std::vector<int64_t>& shape, DType dtype) {
  if (like.device == Device::cuda)
    return cuda_helpers().empty(shape_tuple(shape), numpy_name(dtype));
  return py::array(py::dtype(numpy_name(dtype)),
                   std::vector<py::ssize_t>(shape.begin(), shape.end()));
}

py::object zeros(const Tensor& like, const std::vector<int64_t>& shape, DType dtype) {
  if (like.device == Device::cuda)
    return cuda_helpers().zeros(shape_tuple(shape), numpy_name(dtype));
  py::array a(py::dtype(numpy_name(dtype)), std::vector<py::ssize_t>(shape.begin(), shape.end()));
  std::memset(a.mutable_data(), 0, static_cast<size_t>(a.nbytes()));
  return a;
}

Out out(const Tensor& like, const std::vector<int64_t>& shape, DType dtype, bool zero) {
  Out o;
  o.obj = zero ? zeros(like, shape, dtype) : empty(like, shape, dtype);
  if (like.device != Device::cuda) {
    o.t = view(o.obj, "output");
    return o;
  }
  // A new C-contiguous CuPy array of this shape and dtype: only its address is needed (cheaper
  // than its __cuda_array_interface__, which CuPy builds as a dict).
  CS_CHECK(shape.size() <= static_cast<size_t>(kMaxDims), ValueError, "output has too many dims");
  o.t.device = Device::cuda;
  o.t.dtype = dtype;
  o.t.ndim = static_cast<int32_t>(shape.size());
  for (int i = 0; i < o.t.ndim; ++i) o.t.shape[i] = shape[size_t(i)];
  o.t.data = reinterpret_cast<void*>(o.obj.attr("data").attr("ptr").cast<uintptr_t>());
  return o;
}

void* current_stream(const Tensor& t) {
  if (t.device != Device::cuda) return nullptr;
  return reinterpret_cast<void*>(cuda_helpers().stream().cast<uintptr_t>());
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
