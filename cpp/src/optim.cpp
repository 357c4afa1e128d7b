// Device-neutral entry points of the optimisers: validate once, then dispatch on device and dtype.
#include "chronoscale/optim.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cpu/optim.hpp"
#include "cuda_dispatch.hpp"
#include "validate.hpp"
#ifdef CHRONOSCALE_WITH_CUDA
#include "optim.cuh"
#endif

namespace chronoscale {
inline namespace v1 {

namespace {

void same_as(const Tensor& t, const Tensor& param, const char* name) {
  check::defined(t, name);
  check::like(t, param, name, "param");
  check::cuda_usable(t, "optimiser step", name);
  bool ok = t.ndim == param.ndim;
  for (int i = 0; ok && i < t.ndim; ++i) ok = t.shape[i] == param.shape[i];
  CS_CHECK(ok, ValueError, name, " must have the shape of param ", param.shape_str(), ", got ",
           t.shape_str());
}

/// adam_step_many: no entry's param, m or v may share memory with any other array of the call
/// (an update would otherwise depend on the order of the entries); grads may share memory with
/// each other (they are only read).
void no_shared_memory(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                      const std::vector<Tensor>& m, const std::vector<Tensor>& v) {
  struct Range {
    uintptr_t lo, hi;
    bool written;
    const char* list;
    size_t i;
  };
  std::vector<Range> r;
  auto add = [&](const std::vector<Tensor>& ts, const char* list, bool written) {
    for (size_t i = 0; i < ts.size(); ++i) {
      const auto [lo, hi] = check::bytes_of(ts[i]);
      if (lo < hi) r.push_back({lo, hi, written, list, i});
    }
  };
  add(params, "params", true);
  add(m, "m", true);
  add(v, "v", true);
  add(grads, "grads", false);
  // Stable: ties keep the order params, m, v, grads (and the index), so messages are fixed.
  std::stable_sort(r.begin(), r.end(),
                   [](const Range& a, const Range& b) { return a.lo < b.lo; });
  // Sweep in address order: a range meets an earlier one when it starts below the largest end
  // so far (of any range if it is written, of the written ones if it is only read).
  const Range *far_any = nullptr, *far_written = nullptr;
  for (const Range& c : r) {
    const Range* hit = c.written ? far_any : far_written;
    CS_CHECK(!hit || c.lo >= hit->hi, ValueError, c.list, "[", c.i, "] and ", hit->list, "[",
             hit->i, "] share memory: every param, m and v must be its own array");
    if (!far_any || c.hi > far_any->hi) far_any = &c;
    if (c.written && (!far_written || c.hi > far_written->hi)) far_written = &c;
  }
}

void check_param(const Tensor& param) {
  check::floating(param, "param");
  check::cuda_usable(param, "optimiser step", "param");
}

void check_adam(const AdamOptions& o) {
  CS_CHECK(o.step >= 1, ValueError, "step must be >= 1 (it counts updates from 1), got ", o.step);
  CS_CHECK(o.lr >= 0.0 && std::isfinite(o.lr), ValueError, "lr must be finite and >= 0, got ",
           o.lr);
  CS_CHECK(o.beta1 >= 0.0 && o.beta1 < 1.0, ValueError, "beta1 must be in [0, 1), got ", o.beta1);
  CS_CHECK(o.beta2 >= 0.0 && o.beta2 < 1.0, ValueError, "beta2 must be in [0, 1), got ", o.beta2);
  CS_CHECK(o.eps >= 0.0 && std::isfinite(o.eps), ValueError, "eps must be finite and >= 0, got ",
           o.eps);
  CS_CHECK(o.weight_decay >= 0.0 && std::isfinite(o.weight_decay), ValueError,
           "weight_decay must be finite and >= 0, got ", o.weight_decay);
}

void check_sgd(const SgdOptions& o, const Tensor& buf) {
  CS_CHECK(o.lr >= 0.0 && std::isfinite(o.lr), ValueError, "lr must be finite and >= 0, got ",
           o.lr);
  CS_CHECK(o.momentum >= 0.0 && std::isfinite(o.momentum), ValueError,
           "momentum must be finite and >= 0, got ", o.momentum);
  CS_CHECK(o.weight_decay >= 0.0 && std::isfinite(o.weight_decay), ValueError,
           "weight_decay must be finite and >= 0, got ", o.weight_decay);
  CS_CHECK(!o.nesterov || o.momentum > 0.0, ValueError, "nesterov needs momentum > 0");
  CS_CHECK(o.momentum == 0.0 || buf.defined(), ValueError,
           "buf (the momentum buffer) is required when momentum != 0");
}

/// param [V, D]; rows [U] int64 on the host, distinct and in [0, V); grad_rows [U, D]. Returns U.
int64_t check_rows(const Tensor& param, const Tensor& rows, const Tensor& grad_rows) {
  check::shape(param, "param", {-1, -1}, "[V, D]");
  const int64_t V = param.shape[0], D = param.shape[1];
  check::dtype(rows, DType::int64, "rows");
  check::shape(rows, "rows", {-1}, "[U]");
  CS_CHECK(rows.device == Device::cpu, ValueError, "rows must be a host (NumPy) array");
  const int64_t U = rows.shape[0];
  check::defined(grad_rows, "grad_rows");
  check::like(grad_rows, param, "grad_rows", "param");
  check::shape(grad_rows, "grad_rows", {U, D}, "[U, D]");
  check::cuda_usable(grad_rows, "optimiser step", "grad_rows");
  const int64_t* r = rows.ptr<int64_t>();
  bool increasing = true;
  for (int64_t u = 0; u < U; ++u) {
    CS_CHECK(r[u] >= 0 && r[u] < V, ValueError, "rows[", u, "] = ", r[u],
             " is out of range for param with V = ", V, " rows");
    if (u > 0 && r[u] <= r[u - 1]) increasing = false;
  }
  if (!increasing) {
    std::vector<int64_t> s(r, r + U);
    std::sort(s.begin(), s.end());
    auto dup = std::adjacent_find(s.begin(), s.end());
    CS_CHECK(dup == s.end(), ValueError, "rows must be distinct, but ", *dup,
             " appears more than once (sum the gradients of repeated rows first)");
  }
  return U;
}

}  // namespace

void adam_step(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
               const AdamOptions& o, void* stream) {
  check_param(param);
  same_as(grad, param, "grad");
  same_as(m, param, "m");
  same_as(v, param, "v");
  check::distinct(param, "param", m, "m");
  check::distinct(param, "param", v, "v");
  check::distinct(m, "m", v, "v");
  check::distinct(grad, "grad", m, "m");
  check::distinct(grad, "grad", v, "v");
  check_adam(o);
  CS_DISPATCH_FLOAT(param.dtype, "adam_step", [&] {
    CS_DEVICE_CALL(param, adam_step, param.ptr<scalar_t>(), grad.ptr<scalar_t>(), m.ptr<scalar_t>(),
                   v.ptr<scalar_t>(), param.numel(), o);
  });
}

void adam_step_many(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    const std::vector<Tensor>& m, const std::vector<Tensor>& v,
                    const std::vector<int64_t>& steps, const AdamOptions& o, void* stream) {
  const size_t n = params.size();
  CS_CHECK(grads.size() == n && m.size() == n && v.size() == n && steps.size() == n, ValueError,
           "params, grads, m, v and steps must have the same length, got ", n, ", ", grads.size(),
           ", ", m.size(), ", ", v.size(), ", ", steps.size());
  // The names in messages ("params[3]") are built only when a check fails: the checks run once
  // with fixed names and, on failure, again with the indexed names to throw the precise error.
  auto check_slice = [&](size_t i, const char* pn, const char* gn, const char* mn,
                         const char* vn) {
    check::floating(params[i], pn);
    CS_CHECK(params[i].dtype == params[0].dtype, TypeError, pn,
             " must have the dtype of params[0] (", dtype_name(params[0].dtype), "), got ",
             dtype_name(params[i].dtype));
    CS_CHECK(params[i].device == params[0].device, ValueError, pn,
             " must be on the device of params[0]");
    check::cuda_usable(params[i], "adam_step_many", pn);
    for (auto [t, name] : {std::pair{&grads[i], gn}, {&m[i], mn}, {&v[i], vn}}) {
      check::defined(*t, name);
      check::like(*t, params[i], name, pn);
      check::cuda_usable(*t, "adam_step_many", name);
      bool ok = t->ndim == params[i].ndim;
      for (int d = 0; ok && d < t->ndim; ++d) ok = t->shape[d] == params[i].shape[d];
      CS_CHECK(ok, ValueError, name, " must have the shape of ", pn, " ", params[i].shape_str(),
               ", got ", t->shape_str());
    }
    check::distinct(params[i], pn, m[i], mn);
    check::distinct(params[i], pn, v[i], vn);
    check::distinct(m[i], mn, v[i], vn);
    check::distinct(grads[i], gn, m[i], mn);
    check::distinct(grads[i], gn, v[i], vn);
  };
  for (size_t i = 0; i < n; ++i) {
    try {
      check_slice(i, "params[i]", "grads[i]", "m[i]", "v[i]");
    } catch (const std::exception&) {
      const std::string pn = detail::cat("params[", i, "]"), gn = detail::cat("grads[", i, "]"),
                        mn = detail::cat("m[", i, "]"), vn = detail::cat("v[", i, "]");
      check_slice(i, pn.c_str(), gn.c_str(), mn.c_str(), vn.c_str());
      throw;
    }
    AdamOptions oi = o;
    oi.step = steps[i];
    CS_CHECK(steps[i] >= 1, ValueError, "steps[", i, "] must be >= 1 (it counts updates from 1), got ",
             steps[i]);
    check_adam(oi);
  }
  no_shared_memory(params, grads, m, v);
  if (n == 0) return;
  CS_DISPATCH_FLOAT(params[0].dtype, "adam_step_many", [&] {
    std::vector<cpu::AdamSlice<scalar_t>> slices;
    for (size_t i = 0; i < n; ++i)
      slices.push_back({params[i].ptr<scalar_t>(), grads[i].ptr<scalar_t>(), m[i].ptr<scalar_t>(),
                        v[i].ptr<scalar_t>(), params[i].numel(), steps[i]});
    CS_DEVICE_CALL(params[0], adam_step_many, slices, o);
  });
}

void adam_step_rows(const Tensor& param, const Tensor& rows, const Tensor& grad_rows,
                    const Tensor& m, const Tensor& v, const AdamOptions& o, void* stream) {
  check_param(param);
  const int64_t U = check_rows(param, rows, grad_rows);
  same_as(m, param, "m");
  same_as(v, param, "v");
  check::distinct(param, "param", m, "m");
  check::distinct(param, "param", v, "v");
  check::distinct(m, "m", v, "v");
  check_adam(o);
  CS_DISPATCH_FLOAT(param.dtype, "adam_step_rows", [&] {
    CS_DEVICE_CALL(param, adam_step_rows, param.ptr<scalar_t>(), rows.ptr<int64_t>(), U,
                   param.shape[1], grad_rows.ptr<scalar_t>(), m.ptr<scalar_t>(), v.ptr<scalar_t>(),
                   o);
  });
}

void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& buf, const SgdOptions& o,
              void* stream) {
  check_param(param);
  same_as(grad, param, "grad");
  check_sgd(o, buf);
  const bool use_buf = o.momentum != 0.0;
  if (use_buf) {
    same_as(buf, param, "buf");
    check::distinct(param, "param", buf, "buf");
    check::distinct(grad, "grad", buf, "buf");
  }
  CS_DISPATCH_FLOAT(param.dtype, "sgd_step", [&] {
    CS_DEVICE_CALL(param, sgd_step, param.ptr<scalar_t>(), grad.ptr<scalar_t>(),
                   use_buf ? buf.ptr<scalar_t>() : nullptr, param.numel(), o);
  });
}

void sgd_step_rows(const Tensor& param, const Tensor& rows, const Tensor& grad_rows,
                   const Tensor& buf, const SgdOptions& o, void* stream) {
  check_param(param);
  const int64_t U = check_rows(param, rows, grad_rows);
  check_sgd(o, buf);
  const bool use_buf = o.momentum != 0.0;
  if (use_buf) {
    same_as(buf, param, "buf");
    check::distinct(param, "param", buf, "buf");
  }
  CS_DISPATCH_FLOAT(param.dtype, "sgd_step_rows", [&] {
    CS_DEVICE_CALL(param, sgd_step_rows, param.ptr<scalar_t>(), rows.ptr<int64_t>(), U,
                   param.shape[1], grad_rows.ptr<scalar_t>(),
                   use_buf ? buf.ptr<scalar_t>() : nullptr, o);
  });
}

double clip_grad_norm(const std::vector<Tensor>& grads, double max_norm, void* stream,
                      bool read_norm) {
  CS_CHECK(max_norm >= 0.0, ValueError, "max_norm must be >= 0, got ", max_norm);
  for (size_t i = 0; i < grads.size(); ++i) {
    const std::string name = "grads[" + std::to_string(i) + "]";
    check::floating(grads[i], name.c_str());
    CS_CHECK(grads[i].device == grads[0].device, ValueError, name,
             " must be on the device of grads[0]");
    check::cuda_usable(grads[i], "clip_grad_norm", name.c_str());
  }
#ifdef CHRONOSCALE_WITH_CUDA
  if (!grads.empty() && grads[0].device == Device::cuda)
    return cuda::clip_grad_norm(grads, max_norm, stream, read_norm);
#else
  (void)stream;
  (void)read_norm;
#endif
  double sq = 0.0;
  for (const Tensor& g : grads)
    sq += CS_DISPATCH_FLOAT(g.dtype, "clip_grad_norm", [&] {
      return cpu::sum_squares<scalar_t>(g.ptr<scalar_t>(), g.numel());
    });
  const double norm = std::sqrt(sq);
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0)
    for (const Tensor& g : grads)
      CS_DISPATCH_FLOAT(g.dtype, "clip_grad_norm",
                        [&] { cpu::scale<scalar_t>(g.ptr<scalar_t>(), g.numel(), coef); });
  return norm;
}

}  // namespace v1
}  // namespace chronoscale
