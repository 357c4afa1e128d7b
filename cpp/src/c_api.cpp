// The C API: converts cs_tensor to views, runs the same validated entry points as Python, and
// turns exceptions into status codes plus a thread-local message.
#include <new>
#include <string>

#include "chronoscale/chronoscale.h"
#include "chronoscale/error.hpp"
#include "chronoscale/recurrent.hpp"
#include "chronoscale/runtime.hpp"
#include "chronoscale/top_k.hpp"
#include "chronoscale/version.hpp"

namespace cs = chronoscale;

namespace {

thread_local std::string g_last_error;
// Set when storing a message failed (no memory for the string): what last_error returns then.
thread_local const char* g_fixed_error = nullptr;

/// Stores the message of a failed call without throwing: an exception leaving a catch handler
/// here would cross the C boundary (std::terminate).
void set_error(const char* msg) noexcept {
  try {
    g_last_error = msg;
    g_fixed_error = nullptr;
  } catch (...) {
    g_fixed_error = "out of memory (the error message could not be stored)";
  }
}

// `name`: the argument, for the messages ("w_ih: cs_tensor.dtype is not a cs_dtype: 99").
cs::Tensor view(const cs_tensor* t, const char* name) {
  cs::Tensor v;
  if (!t) return v;
  const std::string at = std::string(name) + ": ";
  if (t->ndim < 0 || t->ndim > cs::kMaxDims)
    throw cs::ValueError(at + "cs_tensor.ndim must be in [0, 6], got " + std::to_string(t->ndim));
  if (t->dtype < CS_FLOAT32 || t->dtype > CS_INT32)
    throw cs::TypeError(at + "cs_tensor.dtype is not a cs_dtype: " + std::to_string(t->dtype));
  if (t->device != CS_CPU && t->device != CS_CUDA)
    throw cs::ValueError(at + "cs_tensor.device is not a cs_device: " + std::to_string(t->device));
  int64_t n = 1;  // the element count, overflow-checked (a wrapped count let NULL data through)
  for (int i = 0; i < t->ndim; ++i) {
    if (t->shape[i] < 0)
      throw cs::ValueError(at + "cs_tensor.shape[" + std::to_string(i) + "] must be >= 0, got " +
                           std::to_string(t->shape[i]));
    if (__builtin_mul_overflow(n, t->shape[i], &n))
      throw cs::ValueError(at + "cs_tensor.shape: the element count does not fit in int64");
  }
  if (!t->data && n != 0) throw cs::ValueError(at + "cs_tensor.data is NULL for a non-empty array");
  v.data = t->data;
  v.dtype = static_cast<cs::DType>(t->dtype);
  v.device = static_cast<cs::Device>(t->device);
  v.ndim = t->ndim;
  for (int i = 0; i < t->ndim; ++i) v.shape[i] = t->shape[i];
  return v;
}

template <class F>
cs_status guard(F&& f) noexcept {
  try {
    f();
    g_last_error.clear();
    g_fixed_error = nullptr;
    return CS_OK;
  } catch (const cs::TypeError& e) {
    set_error(e.what());
    return CS_ERR_TYPE;
  } catch (const std::invalid_argument& e) {
    set_error(e.what());
    return CS_ERR_VALUE;
  } catch (const cs::CudaError& e) {
    set_error(e.what());
    return CS_ERR_CUDA;
  } catch (const cs::Unsupported& e) {
    set_error(e.what());
    return CS_ERR_UNSUPPORTED;
  } catch (const std::bad_alloc&) {
    set_error("out of memory");
    return CS_ERR_INTERNAL;
  } catch (const std::exception& e) {
    set_error(e.what());
    return CS_ERR_INTERNAL;
  } catch (...) {
    set_error("unknown error");
    return CS_ERR_INTERNAL;
  }
}

cs::Cell cell_of(cs_cell c) {
  if (static_cast<int>(c) < CS_RNN_TANH || static_cast<int>(c) > CS_GRU)
    throw cs::ValueError("cell is not a cs_cell value: " + std::to_string(static_cast<int>(c)));
  return static_cast<cs::Cell>(c);
}

}  // namespace

extern "C" {

const char* chronoscale_version(void) { return CHRONOSCALE_VERSION_STRING; }

const char* chronoscale_last_error(void) {
  return g_fixed_error ? g_fixed_error : g_last_error.c_str();
}

const char* chronoscale_build_info(void) {
  static const std::string info = cs::build_info_json();
  return info.c_str();
}

cs_status chronoscale_load_blas(const char* path) {
  return guard([&] {
    if (!path) throw cs::ValueError("path is NULL");
    cs::load_blas(path);
  });
}

cs_status chronoscale_set_num_threads(int n) {
  return guard([&] { cs::set_num_threads(n); });
}

cs_status chronoscale_release_scratch(void) {
  return guard([] { cs::release_scratch(); });
}

cs_status chronoscale_recurrent_forward(cs_cell cell, const cs_tensor* x, const cs_tensor* w_ih,
                                        const cs_tensor* w_hh, const cs_tensor* b_ih,
                                        const cs_tensor* b_hh, const cs_tensor* h0,
                                        const cs_tensor* c0, const cs_tensor* lengths,
                                        cs_tensor* y, cs_tensor* h_n, cs_tensor* c_n,
                                        cs_tensor* gates, cs_tensor* hprev, cs_tensor* aux,
                                        void* stream) {
  return guard([&] {
    const cs::RecurrentInputs in{view(x, "x"),       view(w_ih, "w_ih"),      view(w_hh, "w_hh"),
                                 view(b_ih, "b_ih"), view(b_hh, "b_hh"),      view(h0, "h0"),
                                 view(c0, "c0"),     view(lengths, "lengths")};
    const cs::RecurrentOutputs out{view(y, "y"),
                                   view(h_n, "h_n"),
                                   view(c_n, "c_n"),
                                   {view(gates, "gates"), view(hprev, "hprev"), view(aux, "aux")}};
    cs::recurrent_forward(cell_of(cell), in, out, stream);
  });
}

cs_status chronoscale_recurrent_backward(
    cs_cell cell, const cs_tensor* dy, const cs_tensor* dh_n, const cs_tensor* dc_n,
    const cs_tensor* x, const cs_tensor* w_ih, const cs_tensor* w_hh, const cs_tensor* b_ih,
    const cs_tensor* b_hh, const cs_tensor* h0, const cs_tensor* c0, const cs_tensor* lengths,
    const cs_tensor* gates, const cs_tensor* hprev, const cs_tensor* aux, cs_tensor* dx,
    cs_tensor* dw_ih, cs_tensor* dw_hh, cs_tensor* db_ih, cs_tensor* db_hh, cs_tensor* dh0,
    cs_tensor* dc0, void* stream) {
  return guard([&] {
    const cs::RecurrentInputs in{view(x, "x"),       view(w_ih, "w_ih"),      view(w_hh, "w_hh"),
                                 view(b_ih, "b_ih"), view(b_hh, "b_hh"),      view(h0, "h0"),
                                 view(c0, "c0"),     view(lengths, "lengths")};
    cs::RecurrentOutputs fwd;
    fwd.cache = {view(gates, "gates"), view(hprev, "hprev"), view(aux, "aux")};
    const cs::RecurrentGrads g{view(dx, "dx"),       view(dw_ih, "dw_ih"), view(dw_hh, "dw_hh"),
                               view(db_ih, "db_ih"), view(db_hh, "db_hh"), view(dh0, "dh0"),
                               view(dc0, "dc0")};
    cs::recurrent_backward(cell_of(cell), view(dy, "dy"), view(dh_n, "dh_n"), view(dc_n, "dc_n"),
                           in, fwd, g, stream);
  });
}

cs_status chronoscale_top_k(const cs_tensor* scores, int64_t k, cs_tensor* ids, cs_tensor* values,
                            void* stream) {
  return guard([&] {
    cs::top_k(view(scores, "scores"), k, view(ids, "ids"), view(values, "values"), stream);
  });
}

}  // extern "C"
