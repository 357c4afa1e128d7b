#pragma once
// CPU runner of inference plans. The device-neutral Plan (src/plan.cpp) validates the layer specs
// into PlanLayer descriptors and each call's inputs; the runner owns the packed weights and the
// per-thread scratch buffers and computes the forward pass.
#include <cstdint>
#include <memory>
#include <vector>

#include "chronoscale/plan.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

/// A validated layer: channels in / out and the options its kernel needs.
struct PlanLayer {
  LayerKind kind = LayerKind::dense;
  int64_t cin = 0, cout = 0;
  bool seq_in = true, seq_out = true;  // time axis on the input / output
  int64_t k = 1;                       // conv1d kernel size
  bool relu = false;                   // conv1d
  Activation act = Activation::none;   // dense
  PoolMode mode = PoolMode::max;       // pool
  CountWindow win;                     // pool, stride normalised (> 0)
  Cell cell = Cell::lstm;              // recurrent
  int64_t G = 1, H = 0;                // recurrent
};

/// Output steps of `layer` for `t` input steps (-1 when t is too short); t itself for layers
/// without a time axis change.
inline int64_t plan_steps(const PlanLayer& l, int64_t t) {
  switch (l.kind) {
    case LayerKind::conv1d: return t >= l.k ? t - l.k + 1 : -1;
    case LayerKind::pool:
      if (l.win.partial) return t >= 1 ? (t + l.win.stride - 1) / l.win.stride : -1;
      return t >= l.win.size ? (t - l.win.size) / l.win.stride + 1 : -1;
    case LayerKind::recurrent: return l.seq_out ? t : 1;
    case LayerKind::dense: return t;
  }
  return t;
}

class PlanRunner {
 public:
  virtual ~PlanRunner() = default;
  /// x [B, T, cin0], lengths [B] or nullptr, y: the output (validated by the caller).
  virtual void run(int64_t B, int64_t T, const void* x, const int64_t* lengths, void* y) = 0;
  virtual int64_t weight_bytes() const = 0;
  virtual int64_t scratch_bytes() const = 0;
};

/// The runner for dtype T; `specs` hold the (validated) weights, copied and packed here.
template <class T>
std::unique_ptr<PlanRunner> make_plan_runner(const std::vector<PlanLayer>& layers,
                                             const std::vector<LayerSpec>& specs);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
