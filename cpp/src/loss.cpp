// Device-neutral entry points of the losses: validate once, then dispatch on device and dtype.
#include "chronoscale/loss.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "cpu/loss.hpp"
#include "cuda_dispatch.hpp"
#include "validate.hpp"
#ifdef CHRONOSCALE_WITH_CUDA
#include "loss.cuh"
#endif

namespace chronoscale {
inline namespace v1 {

namespace {

void same_shape(const Tensor& t, const Tensor& ref, const char* name, const char* ref_name) {
  check::defined(t, name);
  check::like(t, ref, name, ref_name);
  check::cuda_usable(t, "loss", name);
  bool ok = t.ndim == ref.ndim;
  for (int i = 0; ok && i < t.ndim; ++i) ok = t.shape[i] == ref.shape[i];
  CS_CHECK(ok, ValueError, name, " must have the shape of ", ref_name, " ", ref.shape_str(),
           ", got ", t.shape_str());
}

/// Targets of the counted rows in [0, V); returns how many rows are counted.
int64_t check_targets(const Tensor& target, int64_t V, int64_t ignore_index) {
  const int64_t* t = target.ptr<int64_t>();
  const int64_t n = target.numel();
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (t[i] == ignore_index) continue;
    CS_CHECK(t[i] >= 0 && t[i] < V, ValueError, "target[", i, "] = ", t[i],
             " is out of range for V = ", V, " classes (valid: 0 .. ", V - 1,
             ", or ignore_index = ", ignore_index, ")");
    ++count;
  }
  return count;
}

void check_log_q(const Tensor& log_q, int64_t V) {
  if (!log_q.defined()) return;
  check::floating(log_q, "log_q");
  check::shape(log_q, "log_q", {V}, "[V]");
  CS_CHECK(log_q.device == Device::cpu, ValueError, "log_q must be a host (NumPy) array");
  CS_DISPATCH_FLOAT(log_q.dtype, "log_q", [&] { check::finite<scalar_t>(log_q, "log_q"); });
}

void check_target_array(const Tensor& target) {
  check::dtype(target, DType::int64, "target");
  CS_CHECK(target.device == Device::cpu, ValueError, "target must be a host (NumPy) array");
}

// A device loss (`loss_out`): a CUDA float64 scalar beside CUDA inputs, or null.
void check_device_loss(const Tensor* loss_out, const Tensor& input, const char* op) {
  CS_CHECK(!loss_out || (input.device == Device::cuda && loss_out->device == Device::cuda &&
                         loss_out->dtype == DType::float64 && loss_out->numel() == 1),
           ValueError, op,
           ": a device loss needs CUDA arrays and a float64 scalar on their device");
}

}  // namespace

void loss_check_input(const Tensor& t, const char* name) {
  check::floating(t, name);
  CS_CHECK(t.numel() > 0, ValueError, name, " is empty (shape ", t.shape_str(), ")");
  check::cuda_usable(t, "loss", name);
}

double point_loss(PointLoss kind, const Tensor& pred, const Tensor& target, const Tensor& weights,
                  double delta, const Tensor& dpred, const char* pred_name, void* stream,
                  const Tensor* loss_out) {
  check::floating(pred, pred_name);
  CS_CHECK(pred.numel() > 0, ValueError, pred_name, " is empty (shape ", pred.shape_str(), ")");
  check::cuda_usable(pred, "loss", pred_name);
  same_shape(target, pred, "target", pred_name);
  if (weights.defined()) same_shape(weights, pred, "weights", pred_name);
  same_shape(dpred, pred, "dpred", pred_name);
  if (kind == PointLoss::huber)
    CS_CHECK(delta > 0.0, ValueError, "delta must be > 0, got ", delta);
  check_device_loss(loss_out, pred, "loss");
  return CS_DISPATCH_FLOAT(pred.dtype, "loss", [&] {
    const scalar_t* w = weights.defined() ? weights.ptr<scalar_t>() : nullptr;
#ifdef CHRONOSCALE_WITH_CUDA
    if (pred.device == Device::cuda)
      return cuda::point_loss<scalar_t>(kind, pred.ptr<scalar_t>(), target.ptr<scalar_t>(), w,
                                        pred.numel(), delta, dpred.ptr<scalar_t>(), stream,
                                        loss_out ? loss_out->ptr<double>() : nullptr);
#endif
    (void)stream;
    return cpu::point_loss<scalar_t>(kind, pred.ptr<scalar_t>(), target.ptr<scalar_t>(), w,
                                     pred.numel(), delta, dpred.ptr<scalar_t>());
  });
}

double softmax_cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index,
                             const Tensor& dlogits, void* stream) {
  check::floating(logits, "logits");
  CS_CHECK(logits.ndim >= 2, ValueError, "logits must have shape [N, V] (or [..., V]), got ",
           logits.shape_str());
  const int64_t V = logits.shape[logits.ndim - 1];
  CS_CHECK(V > 0, ValueError, "logits: no classes (V = 0)");
  const int64_t N = logits.numel() / V;
  CS_CHECK(N > 0, ValueError, "logits: no rows, got shape ", logits.shape_str());
  check::cuda_usable(logits, "softmax_cross_entropy", "logits");
  check_target_array(target);
  bool ok = target.ndim == logits.ndim - 1;
  for (int i = 0; ok && i < target.ndim; ++i) ok = target.shape[i] == logits.shape[i];
  if (!ok) {
    Tensor want = logits;
    want.ndim -= 1;
    throw ValueError(detail::cat("target must have shape [N] (logits' leading dims) = ",
                                 want.shape_str(), ", got ", target.shape_str()));
  }
  same_shape(dlogits, logits, "dlogits", "logits");
  const int64_t K = check_targets(target, V, ignore_index);
  return CS_DISPATCH_FLOAT(logits.dtype, "softmax_cross_entropy", [&] {
    return CS_DEVICE_CALL(logits, softmax_cross_entropy, logits.ptr<scalar_t>(),
                          target.ptr<int64_t>(), N, V, ignore_index, K, dlogits.ptr<scalar_t>());
  });
}

namespace {

struct TableDims {
  int64_t N, D, V, K;  ///< K: counted rows (target != ignore_index)
};

/// The scoring of user rows against an item table: user [N, D] and items [V, D] of one float
/// dtype with N, D, V > 0 (host arrays, or CUDA arrays on a usable device), target [N] int64 on
/// the host with its counted entries in [0, V).
TableDims check_table(const Tensor& user, const Tensor& items, const Tensor& target,
                      int64_t ignore_index, const char* op) {
  check::floating(user, "user");
  check::shape(user, "user", {-1, -1}, "[N, D]");
  const int64_t N = user.shape[0], D = user.shape[1];
  CS_CHECK(N > 0, ValueError, "user: no rows (N = 0)");
  CS_CHECK(D > 0, ValueError, "user: vector size D must be > 0");
  check::cuda_usable(user, op, "user");
  check::defined(items, "items");
  check::like(items, user, "items", "user");
  check::cuda_usable(items, op, "items");
  check::shape(items, "items", {-1, D}, "[V, D]");
  const int64_t V = items.shape[0];
  CS_CHECK(V > 0, ValueError, "items: no rows (V = 0)");
  check_target_array(target);
  check::shape(target, "target", {N}, "[N]");
  return {N, D, V, check_targets(target, V, ignore_index)};
}

}  // namespace

SampledSoftmaxDims sampled_softmax_check(const SampledSoftmaxInputs& in) {
  const TableDims t =
      check_table(in.user, in.items, in.target, in.ignore_index, "sampled_softmax_loss");
  const int64_t N = t.N, D = t.D, V = t.V;
  CS_CHECK(in.num_samples >= 1, ValueError, "num_samples must be >= 1, got ", in.num_samples);
  check_log_q(in.log_q, V);
  return {N, D, V, in.num_samples};
}

double sample_items(int64_t V, int64_t S, uint64_t seed, const Tensor& log_q, int64_t* negatives) {
  CS_CHECK(V >= 1, ValueError, "num_items must be >= 1, got ", V);
  CS_CHECK(S >= 1, ValueError, "num_samples must be >= 1, got ", S);
  check_log_q(log_q, V);
  if (!log_q.defined()) return cpu::sample_uniform(V, S, seed, negatives);
  return CS_DISPATCH_FLOAT(log_q.dtype, "log_q", [&] {
    return cpu::sample_log_q<scalar_t>(log_q.ptr<scalar_t>(), V, S, seed, negatives);
  });
}

SampledSoftmaxPlan sampled_softmax_plan(const SampledSoftmaxInputs& in) {
  const SampledSoftmaxDims d = sampled_softmax_check(in);
  SampledSoftmaxPlan plan;
  plan.negatives.resize(static_cast<size_t>(d.S));
  plan.log_norm = sample_items(d.V, d.S, in.seed, in.log_q, plan.negatives.data());
  std::vector<std::pair<int64_t, int64_t>> pairs;  // (item, source)
  pairs.reserve(static_cast<size_t>(d.S + d.N));
  for (int64_t j = 0; j < d.S; ++j) pairs.emplace_back(plan.negatives[j], j);
  const int64_t* t = in.target.ptr<int64_t>();
  for (int64_t n = 0; n < d.N; ++n)
    if (t[n] != in.ignore_index) pairs.emplace_back(t[n], d.S + n);
  std::sort(pairs.begin(), pairs.end());
  plan.sources.reserve(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (i == 0 || pairs[i].first != pairs[i - 1].first) {
      plan.rows.push_back(pairs[i].first);
      plan.offsets.push_back(static_cast<int64_t>(i));
    }
    plan.sources.push_back(pairs[i].second);
  }
  plan.offsets.push_back(static_cast<int64_t>(pairs.size()));
  return plan;
}

double sampled_softmax_loss(const SampledSoftmaxInputs& in, const SampledSoftmaxPlan& plan,
                            const Tensor& d_user, const Tensor& d_rows, void* stream) {
  const SampledSoftmaxDims d = sampled_softmax_check(in);
  const auto U = static_cast<int64_t>(plan.rows.size());
  CS_CHECK(static_cast<int64_t>(plan.negatives.size()) == d.S &&
               static_cast<int64_t>(plan.offsets.size()) == U + 1 &&
               plan.offsets.back() == static_cast<int64_t>(plan.sources.size()),
           ValueError, "plan: inconsistent (use sampled_softmax_plan on the same inputs)");
  for (int64_t s : plan.sources)
    CS_CHECK(s >= 0 && s < d.S + d.N, ValueError, "plan: source ", s, " out of range");
  for (int64_t r : plan.rows)
    CS_CHECK(r >= 0 && r < d.V, ValueError, "plan: row ", r, " out of range");
  for (int64_t r : plan.negatives)
    CS_CHECK(r >= 0 && r < d.V, ValueError, "plan: negative ", r, " out of range");
  check::defined(d_user, "d_user");
  check::like(d_user, in.user, "d_user", "user");
  check::shape(d_user, "d_user", {d.N, d.D}, "[N, D]");
  check::defined(d_rows, "d_rows");
  check::like(d_rows, in.user, "d_rows", "user");
  check::shape(d_rows, "d_rows", {U, d.D}, "[U, D]");
  check::cuda_usable({{&d_user, "d_user"}, {&d_rows, "d_rows"}}, "sampled_softmax_loss");
  return CS_DISPATCH_FLOAT(in.user.dtype, "sampled_softmax_loss", [&] {
    return CS_DEVICE_CALL(in.user, sampled_softmax_loss, d, in, plan, d_user.ptr<scalar_t>(),
                          d_rows.ptr<scalar_t>());
  });
}

double full_softmax_loss(const Tensor& user, const Tensor& items, const Tensor& target,
                         int64_t ignore_index, const Tensor& d_user, const Tensor& d_items,
                         void* stream, MatmulPrecision precision, const Tensor* loss_out) {
  const TableDims t = check_table(user, items, target, ignore_index, "full_softmax_loss");
  check_device_loss(loss_out, user, "full_softmax_loss");
  const int prec = static_cast<int>(precision);
  CS_CHECK(prec >= 0 && prec <= 3, ValueError, "full_softmax_loss: unknown precision ", prec);
  constexpr const char* kNames[] = {"float32", "bfloat16", "tfloat32", "tf32x3"};
  const char* name = kNames[prec];
  CS_CHECK(prec == 0 || user.device == Device::cuda, ValueError, "precision='", name,
           "' runs on CUDA arrays only (user and items are host arrays)");
  CS_CHECK(prec == 0 || user.dtype == DType::float32, ValueError, "precision='", name,
           "' needs float32 user and items");
  const int64_t N = t.N, D = t.D, V = t.V, K = t.K;
  CS_CHECK(V < (int64_t(1) << 31) && D < (int64_t(1) << 31), ValueError,
           "items: V and D must be < 2^31 (the BLAS index range), got [", V, ", ", D, "]");
  same_shape(d_user, user, "d_user", "user");
  same_shape(d_items, items, "d_items", "items");
  return CS_DISPATCH_FLOAT(user.dtype, "full_softmax_loss", [&] {
#ifdef CHRONOSCALE_WITH_CUDA
    if (user.device == Device::cuda)
      return cuda::full_softmax_loss<scalar_t>(
          user.ptr<scalar_t>(), items.ptr<scalar_t>(), target.ptr<int64_t>(), N, V, D, ignore_index,
          K, d_user.ptr<scalar_t>(), d_items.ptr<scalar_t>(), stream, int64_t(1) << 26, precision,
          loss_out ? loss_out->ptr<double>() : nullptr);
#endif
    (void)stream;
    return cpu::full_softmax_loss<scalar_t>(user.ptr<scalar_t>(), items.ptr<scalar_t>(),
                                            target.ptr<int64_t>(), N, V, D, ignore_index, K,
                                            d_user.ptr<scalar_t>(), d_items.ptr<scalar_t>());
  });
}

}  // namespace v1
}  // namespace chronoscale
