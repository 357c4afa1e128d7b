// Inference plans: the single validation point (layer specs at build, inputs per call), then the
// CPU runner (cpu/plan.cpp).
#include "chronoscale/plan.hpp"

#include <cstring>
#include <mutex>
#include <string>

#include "cpu/plan.hpp"
#include "validate.hpp"

namespace chronoscale {
inline namespace v1 {

const char* layer_kind_name(LayerKind kind) {
  switch (kind) {
    case LayerKind::conv1d: return "conv1d";
    case LayerKind::pool: return "pool";
    case LayerKind::recurrent: return "recurrent";
    case LayerKind::dense: return "dense";
  }
  return "?";
}

LayerSpec LayerSpec::conv1d(const Tensor& w, const Tensor& b, bool relu) {
  LayerSpec s;
  s.kind = LayerKind::conv1d;
  s.weight = w;
  s.bias = b;
  s.relu = relu;
  return s;
}

LayerSpec LayerSpec::pool(PoolMode mode, const CountWindow& window) {
  LayerSpec s;
  s.kind = LayerKind::pool;
  s.pool_mode = mode;
  s.window = window;
  return s;
}

LayerSpec LayerSpec::recurrent(Cell cell, const Tensor& w_ih, const Tensor& w_hh,
                               const Tensor& b_ih, const Tensor& b_hh, bool return_sequences) {
  LayerSpec s;
  s.kind = LayerKind::recurrent;
  s.cell = cell;
  s.w_ih = w_ih;
  s.w_hh = w_hh;
  s.b_ih = b_ih;
  s.b_hh = b_hh;
  s.return_sequences = return_sequences;
  return s;
}

LayerSpec LayerSpec::dense(const Tensor& w, const Tensor& b, Activation act) {
  LayerSpec s;
  s.kind = LayerKind::dense;
  s.weight = w;
  s.bias = b;
  s.activation = act;
  return s;
}

struct Plan::Impl {
  DType dtype = DType::float32;
  int64_t in_features = 0, min_steps = 1;
  std::vector<cpu::PlanLayer> layers;
  std::unique_ptr<cpu::PlanRunner> runner;
  std::mutex mu;
};

namespace {

std::string arg(size_t i, const char* name) {
  return detail::cat("layers[", i, "].", name);
}

// A weight of the plan: host array of the plan's dtype with the expected shape (-1: any).
void weight(const Tensor& t, DType dt, size_t i, const char* name,
            std::initializer_list<int64_t> dims, const char* expect, bool optional = false) {
  const std::string n = arg(i, name);
  if (!t.defined()) {
    CS_CHECK(optional, ValueError, n, " is required");
    return;
  }
  CS_CHECK(t.device == Device::cpu, ValueError, n, " must be a host (NumPy) array");
  CS_CHECK(t.dtype == dt, TypeError, n, " must be ", dtype_name(dt), " (the plan's dtype), got ",
           dtype_name(t.dtype));
  check::shape(t, n.c_str(), dims, expect);
  for (int d = 0; d < t.ndim; ++d)
    CS_CHECK(t.shape[d] > 0, ValueError, n, " must not be empty, got ", t.shape_str());
}

cpu::PlanLayer describe(size_t i, const LayerSpec& s, DType dt, int64_t cin, bool seq_in) {
  cpu::PlanLayer l;
  l.kind = s.kind;
  l.cin = cin;
  l.seq_in = l.seq_out = seq_in;
  const int kind = static_cast<int>(s.kind);
  CS_CHECK(kind >= 0 && kind <= 3, ValueError, arg(i, "kind"), " = ", kind,
           " is not conv1d, pool, recurrent or dense");
  CS_CHECK(seq_in || s.kind == LayerKind::dense, ValueError, "layers[", i, "] (",
           layer_kind_name(s.kind), ") needs a sequence input [B, T, C], but an earlier recurrent ",
           "layer returns its last state only (return_sequences=False)");
  switch (s.kind) {
    case LayerKind::conv1d:
      weight(s.weight, dt, i, "weight", {-1, cin, -1}, "[Cout, Cin, K]");
      l.cout = s.weight.shape[0];
      l.k = s.weight.shape[2];
      weight(s.bias, dt, i, "bias", {l.cout}, "[Cout]", true);
      l.relu = s.relu;
      break;
    case LayerKind::pool: {
      const int mode = static_cast<int>(s.pool_mode);
      CS_CHECK(mode >= 0 && mode <= 2, ValueError, arg(i, "mode"), " = ", mode,
               " is not max, mean or sum");
      CS_CHECK(s.window.size >= 1, ValueError, arg(i, "size"), " must be >= 1, got ",
               s.window.size);
      CS_CHECK(s.window.stride >= 0, ValueError, arg(i, "stride"),
               " must be >= 1 (or 0: size), got ", s.window.stride);
      l.mode = s.pool_mode;
      l.win = s.window;
      if (l.win.stride == 0) l.win.stride = l.win.size;
      l.cout = cin;
      break;
    }
    case LayerKind::recurrent: {
      const int cell = static_cast<int>(s.cell);
      CS_CHECK(cell >= 0 && cell <= 4, ValueError, arg(i, "cell"), " = ", cell,
               " is not rnn_tanh, rnn_sigmoid, rnn_relu, lstm or gru");
      l.cell = s.cell;
      l.G = gate_count(s.cell);
      weight(s.w_hh, dt, i, "w_hh", {-1, -1}, "[G*H, H]");
      l.H = s.w_hh.shape[1];
      weight(s.w_hh, dt, i, "w_hh", {l.G * l.H, l.H}, "[G*H, H]");
      weight(s.w_ih, dt, i, "w_ih", {l.G * l.H, cin}, "[G*H, Cin]");
      weight(s.b_ih, dt, i, "b_ih", {l.G * l.H}, "[G*H]", true);
      weight(s.b_hh, dt, i, "b_hh", {l.G * l.H}, "[G*H]", true);
      l.cout = l.H;
      l.seq_out = s.return_sequences;
      break;
    }
    case LayerKind::dense: {
      const int act = static_cast<int>(s.activation);
      CS_CHECK(act >= 0 && act <= 3, ValueError, arg(i, "activation"), " = ", act,
               " is not none, relu, sigmoid or tanh");
      weight(s.weight, dt, i, "weight", {-1, cin}, "[O, I]");
      l.cout = s.weight.shape[0];
      weight(s.bias, dt, i, "bias", {l.cout}, "[O]", true);
      l.act = s.activation;
      break;
    }
  }
  return l;
}

// Smallest T for which every layer has at least one input step.
int64_t steps_needed(const std::vector<cpu::PlanLayer>& layers) {
  int64_t need = 1;
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
    const cpu::PlanLayer& l = *it;
    if (!l.seq_out) need = 1;  // only dense layers follow: any state will do
    if (l.kind == LayerKind::conv1d) need = need + l.k - 1;
    if (l.kind == LayerKind::pool)
      need = (need - 1) * l.win.stride + (l.win.partial ? 1 : l.win.size);
  }
  return need;
}

}  // namespace

Plan::Plan(DType dtype, int64_t in_features, const std::vector<LayerSpec>& layers)
    : impl_(std::make_unique<Impl>()) {
  CS_CHECK(dtype == DType::float32 || dtype == DType::float64, TypeError,
           "dtype must be float32 or float64, got ", dtype_name(dtype));
  CS_CHECK(in_features > 0, ValueError, "in_features must be > 0, got ", in_features);
  Impl& p = *impl_;
  p.dtype = dtype;
  p.in_features = in_features;
  int64_t c = in_features;
  bool seq = true;
  for (size_t i = 0; i < layers.size(); ++i) {
    p.layers.push_back(describe(i, layers[i], dtype, c, seq));
    c = p.layers.back().cout;
    seq = p.layers.back().seq_out;
  }
  p.min_steps = steps_needed(p.layers);
  if (dtype == DType::float32) p.runner = cpu::make_plan_runner<float>(p.layers, layers);
  else p.runner = cpu::make_plan_runner<double>(p.layers, layers);
}

Plan::~Plan() = default;
Plan::Plan(Plan&&) noexcept = default;
Plan& Plan::operator=(Plan&&) noexcept = default;

DType Plan::dtype() const { return impl_->dtype; }
int64_t Plan::in_features() const { return impl_->in_features; }
int64_t Plan::num_layers() const { return static_cast<int64_t>(impl_->layers.size()); }
int64_t Plan::min_steps() const { return impl_->min_steps; }
int64_t Plan::out_features() const {
  return impl_->layers.empty() ? impl_->in_features : impl_->layers.back().cout;
}
bool Plan::sequence_output() const {
  return impl_->layers.empty() || impl_->layers.back().seq_out;
}
int64_t Plan::weight_bytes() const { return impl_->runner->weight_bytes(); }
int64_t Plan::scratch_bytes() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->runner->scratch_bytes();
}

std::vector<int64_t> Plan::output_shape(int64_t B, int64_t T) const {
  CS_CHECK(B > 0, ValueError, "x: empty batch (B = 0)");
  CS_CHECK(T > 0, ValueError, "x: no time steps (T = 0)");
  const auto& layers = impl_->layers;
  int64_t t = T;
  for (size_t i = 0; i < layers.size(); ++i) {
    const int64_t next = cpu::plan_steps(layers[i], t);
    CS_CHECK(next > 0, ValueError, "x has T = ", T, " time steps, too few for layer ", i, " (",
             layer_kind_name(layers[i].kind), "); this plan needs T >= ", impl_->min_steps);
    t = next;
  }
  if (layers.empty()) return {B, T, impl_->in_features};
  const cpu::PlanLayer& l = layers.back();
  if (l.seq_out) return {B, t, l.cout};
  return {B, l.cout};
}

void Plan::run(const Tensor& x, const Tensor& lengths, const Tensor& y, bool check_finite) {
  Impl& p = *impl_;
  check::defined(x, "x");
  CS_CHECK(x.device == Device::cpu, Unsupported,
           "Plan runs on the CPU: x must be a host (NumPy) array");
  CS_CHECK(x.dtype == p.dtype, TypeError, "x must be ", dtype_name(p.dtype),
           " (the plan's dtype), got ", dtype_name(x.dtype));
  check::shape(x, "x", {-1, -1, p.in_features}, "[B, T, F]");
  const int64_t B = x.shape[0], T = x.shape[1];
  const std::vector<int64_t> ys = output_shape(B, T);
  check::lengths(lengths, B, T);
  check::defined(y, "y");
  CS_CHECK(y.device == Device::cpu && y.dtype == p.dtype, TypeError, "y must be a host ",
           dtype_name(p.dtype), " array");
  bool ok = y.ndim == static_cast<int32_t>(ys.size());
  for (size_t d = 0; ok && d < ys.size(); ++d) ok = y.shape[d] == ys[d];
  if (!ok) {
    Tensor want(nullptr, p.dtype, {});
    want.ndim = static_cast<int32_t>(ys.size());
    for (size_t d = 0; d < ys.size(); ++d) want.shape[d] = ys[d];
    throw ValueError(detail::cat("y must have shape ", want.shape_str(), " (the plan's output for x ",
                                 x.shape_str(), "), got ", y.shape_str()));
  }
  if (check_finite) {
    if (p.dtype == DType::float32) check::finite<float>(x, "x");
    else check::finite<double>(x, "x");
  }
  const int64_t* len = lengths.defined() ? lengths.ptr<int64_t>() : nullptr;
  std::lock_guard<std::mutex> lock(p.mu);
  if (p.layers.empty()) {
    std::memcpy(y.data, x.data, static_cast<size_t>(x.numel() * dtype_size(x.dtype)));
    return;
  }
  p.runner->run(B, T, x.data, len, y.data);
}

}  // namespace v1
}  // namespace chronoscale
