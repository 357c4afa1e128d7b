#pragma once
/// Exceptions thrown by the C++ core. The Python module maps them to ValueError, TypeError,
/// RuntimeError and chronoscale.CudaError; the C API turns them into error codes plus a
/// thread-local message. Nothing in the library aborts the process.
#include <sstream>
#include <stdexcept>
#include <string>

namespace chronoscale {
inline namespace v1 {

/// Bad value or shape of an argument (Python: ValueError).
struct ValueError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
/// Wrong dtype or kind of argument (Python: TypeError).
struct TypeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
/// A CUDA runtime or library call failed (Python: chronoscale.CudaError).
struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// The operation is not available in this build or on this device (Python: RuntimeError).
struct Unsupported : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... A>
std::string cat(const A&... a) {
  std::ostringstream s;
  (s << ... << a);
  return s.str();
}
}  // namespace detail

}  // namespace v1
}  // namespace chronoscale

/// Throw `Kind` with the streamed message unless `cond` holds.
#define CS_CHECK(cond, Kind, ...)                                        \
  do {                                                                   \
    if (!(cond)) throw ::chronoscale::Kind(::chronoscale::detail::cat(__VA_ARGS__)); \
  } while (0)
