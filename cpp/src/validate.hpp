#pragma once
// Argument checks shared by every op's entry point (one validation point per op).
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "chronoscale/error.hpp"
#include "chronoscale/tensor.hpp"

namespace chronoscale {
inline namespace v1 {
namespace check {

inline void defined(const Tensor& t, const char* name) {
  CS_CHECK(t.defined(), ValueError, name, " is required");
}

/// float32 or float64.
inline void floating(const Tensor& t, const char* name) {
  defined(t, name);
  CS_CHECK(t.dtype == DType::float32 || t.dtype == DType::float64, TypeError, name,
           " must be float32 or float64, got ", dtype_name(t.dtype));
}

inline void dtype(const Tensor& t, DType want, const char* name) {
  defined(t, name);
  CS_CHECK(t.dtype == want, TypeError, name, " must be ", dtype_name(want), ", got ",
           dtype_name(t.dtype));
}

/// Same dtype and device as `ref` (the op's main input).
inline void like(const Tensor& t, const Tensor& ref, const char* name, const char* ref_name) {
  CS_CHECK(t.dtype == ref.dtype, TypeError, name, " must have the dtype of ", ref_name, " (",
           dtype_name(ref.dtype), "), got ", dtype_name(t.dtype));
  CS_CHECK(t.device == ref.device, ValueError, name, " must be on the device of ", ref_name);
}

/// Shape check; -1 in `dims` matches any extent. `expect` is the documented shape, e.g. "[B, T, I]".
inline void shape(const Tensor& t, const char* name, std::initializer_list<int64_t> dims,
                  const char* expect) {
  defined(t, name);
  bool ok = t.ndim == static_cast<int32_t>(dims.size());
  int i = 0;
  for (int64_t d : dims) {
    if (ok && d >= 0 && t.shape[i] != d) ok = false;
    ++i;
  }
  if (!ok) {
    std::string want = "[";
    i = 0;
    for (int64_t d : dims) want += (i++ ? ", " : "") + (d >= 0 ? std::to_string(d) : "*");
    want += "]";
    throw ValueError(detail::cat(name, " must have shape ", expect, " = ", want, ", got ",
                                 t.shape_str()));
  }
}

/// `t` exists, has the dtype and device of `ref` and the shape `dims` (-1: any).
inline void like_shape(const Tensor& t, const Tensor& ref, const char* name, const char* ref_name,
                       std::initializer_list<int64_t> dims, const char* expect) {
  defined(t, name);
  like(t, ref, name, ref_name);
  shape(t, name, dims, expect);
}

/// An int64 array (indices: ids, argmax) of the shape `dims` on the device of `ref`.
inline void int64_like(const Tensor& t, const Tensor& ref, const char* name, const char* ref_name,
                       std::initializer_list<int64_t> dims, const char* expect) {
  dtype(t, DType::int64, name);
  shape(t, name, dims, expect);
  CS_CHECK(t.device == ref.device, ValueError, name, " must be on the device of ", ref_name);
}

struct SeqDims {
  int64_t B, T, C;
};

/// A float sequence batch [B, T, C] with B, T, C > 0. `expect` documents it ("[B, T, I]").
inline SeqDims sequence(const Tensor& x, const char* name, const char* expect) {
  floating(x, name);
  shape(x, name, {-1, -1, -1}, expect);
  const int64_t B = x.shape[0], T = x.shape[1], C = x.shape[2];
  CS_CHECK(B > 0, ValueError, name, ": empty batch (B = 0)");
  CS_CHECK(T > 0, ValueError, name, ": no time steps (T = 0)");
  CS_CHECK(C > 0, ValueError, name, ": no channels (C = 0 in ", expect, ")");
  return {B, T, C};
}

/// The bytes [lo, hi) of t (empty for an undefined or empty array).
inline std::pair<uintptr_t, uintptr_t> bytes_of(const Tensor& t) {
  if (!t.defined() || t.numel() == 0) return {0, 0};
  const auto lo = reinterpret_cast<uintptr_t>(t.data);
  return {lo, lo + uintptr_t(t.numel() * dtype_size(t.dtype))};
}

/// Whether the memory of a and b overlaps (the same array, or views of one buffer).
inline bool overlap(const Tensor& a, const Tensor& b) {
  const auto [a0, a1] = bytes_of(a);
  const auto [b0, b1] = bytes_of(b);
  return a0 < a1 && b0 < b1 && a0 < b1 && b0 < a1;
}

/// ValueError unless a and b are separate memory (an output that aliases an input).
inline void distinct(const Tensor& a, const char* an, const Tensor& b, const char* bn) {
  CS_CHECK(!overlap(a, b), ValueError, an, " and ", bn,
           " must be different arrays (they share memory)");
}

/// Arrays with their argument names.
using Named = std::vector<std::pair<const Tensor*, const char*>>;

inline Named joined(Named a, const Named& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

/// ValueError unless the (defined) arrays a call writes share no memory with each other or
/// with the arrays it reads (an aliased output would be read after it was overwritten).
inline void no_aliasing(const Named& writes, const Named& reads) {
  for (auto w = writes.begin(); w != writes.end(); ++w) {
    for (auto v = w + 1; v != writes.end(); ++v)
      distinct(*w->first, w->second, *v->first, v->second);
    for (const auto& r : reads) distinct(*w->first, w->second, *r.first, r.second);
  }
}

/// Optional `lengths[B]` int64 on the host with 0 <= lengths[b] <= T. Returns max length (T if absent).
inline int64_t lengths(const Tensor& len, int64_t B, int64_t T) {
  if (!len.defined()) return T;
  dtype(len, DType::int64, "lengths");
  shape(len, "lengths", {B}, "[B]");
  CS_CHECK(len.device == Device::cpu, ValueError, "lengths must be a host array (NumPy in Python)");
  const int64_t* p = len.ptr<int64_t>();
  int64_t mx = 0;
  for (int64_t b = 0; b < B; ++b) {
    CS_CHECK(p[b] >= 0 && p[b] <= T, ValueError, "lengths[", b, "] = ", p[b],
             " is outside [0, T] with T = ", T);
    mx = p[b] > mx ? p[b] : mx;
  }
  return mx;
}

/// Host float array has no NaN / inf.
template <class T>
inline void finite(const Tensor& t, const char* name) {
  if (t.device != Device::cpu) return;
  const T* p = t.ptr<T>();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i)
    CS_CHECK(std::isfinite(p[i]), ValueError, name, " contains NaN or inf (at flat index ", i, ")");
}

inline void cpu_only(const Tensor& t, const char* op) {
  CS_CHECK(t.device == Device::cpu, Unsupported, op,
           ": the CUDA path of this op is not implemented yet; pass NumPy arrays");
}

}  // namespace check

/// Run `BODY` with `scalar_t` bound to the C++ type of a float dtype.
#define CS_DISPATCH_FLOAT(DT, NAME, ...)                                              \
  [&] {                                                                               \
    switch (DT) {                                                                     \
      case ::chronoscale::DType::float32: { using scalar_t = float; return __VA_ARGS__(); }  \
      case ::chronoscale::DType::float64: { using scalar_t = double; return __VA_ARGS__(); } \
      default:                                                                        \
        throw ::chronoscale::TypeError(std::string(NAME) + ": unsupported dtype " +   \
                                       ::chronoscale::dtype_name(DT));                \
    }                                                                                 \
  }()

}  // namespace v1
}  // namespace chronoscale
