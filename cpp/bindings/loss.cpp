// Bindings of the losses; ops/loss.py wraps them with the documented signatures.
#include "chronoscale/loss.hpp"

#include <cstring>
#include <string>
#include <vector>

#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

namespace {

PointLoss parse_kind(const std::string& k) {
  if (k == "mse") return PointLoss::mse;
  if (k == "mae") return PointLoss::mae;
  if (k == "huber") return PointLoss::huber;
  if (k == "bce_with_logits") return PointLoss::bce_with_logits;
  throw ValueError("kind must be 'mse', 'mae', 'huber' or 'bce_with_logits', got '" + k + "'");
}

std::vector<int64_t> shape_of(const Tensor& t) { return {t.shape, t.shape + t.ndim}; }

py::array_t<int64_t> int_array(const std::vector<int64_t>& v) {
  py::array_t<int64_t> a(static_cast<py::ssize_t>(v.size()));
  if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), sizeof(int64_t) * v.size());
  return a;
}

}  // namespace

void bind_loss(py::module_& m) {
  m.def(
      "point_loss",
      [](const std::string& kind, py::handle pred, py::handle target, py::handle weights,
         double delta, bool device_loss) {
        const PointLoss k = parse_kind(kind);
        const char* pn = k == PointLoss::bce_with_logits ? "logits" : "pred";
        const Tensor P = view(pred, pn), T = view(target, "target"),
                     W = view(weights, "weights", true);
        loss_check_input(P, pn);
        Out d = out(P, shape_of(P));
        // device_loss with CUDA arrays: a 0-d float64 array on the device, no wait (as below)
        const bool on_device = device_loss && P.device == Device::cuda;
        Out lo = on_device ? out(P, {}, DType::float64) : Out{};
        void* stream = current_stream(P);
        double loss;
        {
          py::gil_scoped_release nogil;
          loss = point_loss(k, P, T, W, delta, d.t, pn, stream, on_device ? &lo.t : nullptr);
        }
        return py::make_tuple(on_device ? lo.obj : py::float_(loss), d.obj);
      },
      py::arg("kind"), py::arg("pred"), py::arg("target"), py::arg("weights"), py::arg("delta"),
      py::arg("device_loss") = false,
      "Low-level elementwise loss; use chronoscale.ops.mse_loss etc.");

  m.def(
      "softmax_cross_entropy",
      [](py::handle logits, py::handle target, int64_t ignore_index) {
        const Tensor L = view(logits, "logits"), T = view(target, "target");
        loss_check_input(L, "logits");
        Out d = out(L, shape_of(L));
        void* stream = current_stream(L);
        double loss;
        {
          py::gil_scoped_release nogil;
          loss = softmax_cross_entropy(L, T, ignore_index, d.t, stream);
        }
        return py::make_tuple(loss, d.obj);
      },
      "Low-level softmax cross-entropy; use chronoscale.ops.softmax_cross_entropy.");

  m.def(
      "full_softmax_loss",
      [](py::handle user, py::handle items, py::handle target, int64_t ignore_index, int precision,
         bool device_loss) {
        const Tensor U = view(user, "user"), I = view(items, "items"), T = view(target, "target");
        Out du = out(U, shape_of(U)), di = out(I, shape_of(I));
        // device_loss with CUDA arrays: the loss stays on the device (a 0-d float64 array) and
        // the call does not wait; with host arrays it is a float as usual.
        const bool on_device = device_loss && U.device == Device::cuda;
        Out lo = on_device ? out(U, {}, DType::float64) : Out{};
        void* stream = current_stream(U);
        double loss;
        {
          py::gil_scoped_release nogil;
          loss = full_softmax_loss(U, I, T, ignore_index, du.t, di.t, stream,
                                   static_cast<MatmulPrecision>(precision),
                                   on_device ? &lo.t : nullptr);
        }
        return py::make_tuple(on_device ? lo.obj : py::float_(loss), du.obj, di.obj);
      },
      py::arg("user"), py::arg("items"), py::arg("target"), py::arg("ignore_index"),
      py::arg("precision") = 0, py::arg("device_loss") = false,
      "Low-level blocked full softmax over an item table; use chronoscale.ops.full_softmax_loss.");

  m.def(
      "sampled_softmax_loss",
      [](py::handle user, py::handle items, py::handle target, int64_t num_samples,
         uint64_t seed, py::handle log_q, bool remove_accidental_hits, int64_t ignore_index) {
        SampledSoftmaxInputs in;
        in.user = view(user, "user");
        in.items = view(items, "items");
        in.target = view(target, "target");
        in.log_q = view(log_q, "log_q", true);
        in.num_samples = num_samples;
        in.seed = seed;
        in.remove_accidental_hits = remove_accidental_hits;
        in.ignore_index = ignore_index;
        SampledSoftmaxPlan plan;
        {
          py::gil_scoped_release nogil;
          plan = sampled_softmax_plan(in);
        }
        const int64_t N = in.user.shape[0], D = in.user.shape[1];  // validated by the plan
        const auto U = static_cast<int64_t>(plan.rows.size());
        Out du = out(in.user, {N, D}), dr = out(in.user, {U, D});
        void* stream = current_stream(in.user);
        double loss;
        {
          py::gil_scoped_release nogil;
          loss = sampled_softmax_loss(in, plan, du.t, dr.t, stream);
        }
        return py::make_tuple(loss, du.obj, int_array(plan.rows), dr.obj);
      },
      "Low-level sampled softmax loss; use chronoscale.ops.sampled_softmax_loss.");

  m.def(
      "sample_items",
      [](int64_t num_items, int64_t num_samples, uint64_t seed, py::handle log_q) {
        const Tensor LQ = view(log_q, "log_q", true);
        std::vector<int64_t> neg(static_cast<size_t>(num_samples > 0 ? num_samples : 0));
        {
          py::gil_scoped_release nogil;
          sample_items(num_items, num_samples, seed, LQ, neg.data());
        }
        return int_array(neg);
      },
      "Low-level negative sampler; use chronoscale.ops.sampled_softmax_negatives.");
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
