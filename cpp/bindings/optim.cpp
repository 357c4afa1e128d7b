// Bindings of the optimisers; ops/optim.py wraps them with the documented signatures. Arrays
// that are updated in place must be writable NumPy arrays (checked here, where the Python object
// is still at hand).
#include "chronoscale/optim.hpp"

#include "chronoscale/cuda_info.hpp"

#include <string>
#include <vector>

#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

namespace {

AdamOptions adam_options(int64_t step, double lr, double beta1, double beta2, double eps,
                         double weight_decay, bool decoupled) {
  AdamOptions o;
  o.step = step;
  o.lr = lr;
  o.beta1 = beta1;
  o.beta2 = beta2;
  o.eps = eps;
  o.weight_decay = weight_decay;
  o.decoupled = decoupled;
  return o;
}

/// CuPy's current stream for CUDA arrays. Asked only when a device exists: otherwise the entry
/// point's validation raises the clear error (and CuPy need not be installed).
void* stream_of(const Tensor& t) {
  return t.device == Device::cuda && cuda_device_count() > 0 ? current_stream(t) : nullptr;
}

SgdOptions sgd_options(double lr, double momentum, double weight_decay, bool nesterov) {
  SgdOptions o;
  o.lr = lr;
  o.momentum = momentum;
  o.weight_decay = weight_decay;
  o.nesterov = nesterov;
  return o;
}

}  // namespace

void bind_optim(py::module_& m) {
  m.def(
      "adam_step",
      [](py::handle param, py::handle grad, py::handle m1, py::handle v, int64_t step, double lr,
         double beta1, double beta2, double eps, double weight_decay, bool decoupled) {
        const Tensor P = view_writable(param, "param"), G = view(grad, "grad"),
                     M = view_writable(m1, "m"), V = view_writable(v, "v");
        const AdamOptions o = adam_options(step, lr, beta1, beta2, eps, weight_decay, decoupled);
        void* stream = stream_of(P);
        py::gil_scoped_release nogil;
        adam_step(P, G, M, V, o, stream);
      },
      "Low-level Adam step; use chronoscale.ops.adam_step.");

  m.def(
      "adam_step_many",
      [](const py::sequence& params, const py::sequence& grads, const py::sequence& ms,
         const py::sequence& vs, const py::sequence& step_list, double lr, double beta1,
         double beta2, double eps, double weight_decay, bool decoupled) {
        std::vector<Tensor> P, G, M, V;
        auto views = [](const py::sequence& seq, const char* list, bool write,
                        std::vector<Tensor>& out) {
          const size_t n = seq.size();
          out.reserve(n);
          for (size_t i = 0; i < n; ++i) {
            const py::object item = seq[i];
            try {  // the indexed name is built only for the error message
              out.push_back(write ? view_writable(item, list) : view(item, list));
            } catch (const std::exception&) {
              const std::string name = detail::cat(list, "[", i, "]");
              out.push_back(write ? view_writable(item, name.c_str()) : view(item, name.c_str()));
              throw;
            }
          }
        };
        views(params, "params", true, P);
        views(grads, "grads", false, G);
        views(ms, "m", true, M);
        views(vs, "v", true, V);
        std::vector<int64_t> steps;
        for (size_t i = 0; i < step_list.size(); ++i) steps.push_back(step_list[i].cast<int64_t>());
        const AdamOptions o = adam_options(1, lr, beta1, beta2, eps, weight_decay, decoupled);
        void* stream = P.empty() ? nullptr : stream_of(P[0]);
        py::gil_scoped_release nogil;
        adam_step_many(P, G, M, V, steps, o, stream);
      },
      "Low-level fused Adam step over many parameters; use chronoscale.ops.adam_step_many.");

  m.def(
      "adam_step_rows",
      [](py::handle param, py::handle rows, py::handle grad_rows, py::handle m1, py::handle v,
         int64_t step, double lr, double beta1, double beta2, double eps, double weight_decay,
         bool decoupled) {
        const Tensor P = view_writable(param, "param"), R = view(rows, "rows"),
                     G = view(grad_rows, "grad_rows"), M = view_writable(m1, "m"),
                     V = view_writable(v, "v");
        const AdamOptions o = adam_options(step, lr, beta1, beta2, eps, weight_decay, decoupled);
        void* stream = stream_of(P);
        py::gil_scoped_release nogil;
        adam_step_rows(P, R, G, M, V, o, stream);
      },
      "Low-level sparse Adam step; use chronoscale.ops.adam_step_rows.");

  m.def(
      "sgd_step",
      [](py::handle param, py::handle grad, py::handle buf, double lr, double momentum,
         double weight_decay, bool nesterov) {
        const Tensor P = view_writable(param, "param"), G = view(grad, "grad"),
                     Bu = view_writable(buf, "buf", true);
        const SgdOptions o = sgd_options(lr, momentum, weight_decay, nesterov);
        void* stream = stream_of(P);
        py::gil_scoped_release nogil;
        sgd_step(P, G, Bu, o, stream);
      },
      "Low-level SGD step; use chronoscale.ops.sgd_step.");

  m.def(
      "sgd_step_rows",
      [](py::handle param, py::handle rows, py::handle grad_rows, py::handle buf, double lr,
         double momentum, double weight_decay, bool nesterov) {
        const Tensor P = view_writable(param, "param"), R = view(rows, "rows"),
                     G = view(grad_rows, "grad_rows"), Bu = view_writable(buf, "buf", true);
        const SgdOptions o = sgd_options(lr, momentum, weight_decay, nesterov);
        void* stream = stream_of(P);
        py::gil_scoped_release nogil;
        sgd_step_rows(P, R, G, Bu, o, stream);
      },
      "Low-level sparse SGD step; use chronoscale.ops.sgd_step_rows.");

  m.def(
      "clip_grad_norm",
      [](const py::sequence& grads, double max_norm, bool read_norm) {
        std::vector<Tensor> gs;
        std::vector<std::string> names;
        for (size_t i = 0; i < grads.size(); ++i)
          names.push_back("grads[" + std::to_string(i) + "]");
        for (size_t i = 0; i < grads.size(); ++i)
          gs.push_back(view_writable(grads[i], names[i].c_str()));
        void* stream = gs.empty() ? nullptr : stream_of(gs[0]);
        py::gil_scoped_release nogil;
        return clip_grad_norm(gs, max_norm, stream, read_norm);
      },
      py::arg("grads"), py::arg("max_norm"), py::arg("read_norm") = true,
      "Low-level gradient clipping; use chronoscale.ops.clip_grad_norm.");
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
