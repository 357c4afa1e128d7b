#pragma once
// The log-Q correction of the sampled softmax, shared by the CPU kernel (cpu/loss_sampled.cpp)
// and the CUDA host code (cuda/loss_sampled.cu), so that both subtract the same values.
#include <cmath>
#include <cstdint>

#include "chronoscale/loss.hpp"

namespace chronoscale {
inline namespace v1 {

/// log(S q[i]): the log expected number of draws of item i among the S negatives (q = softmax
/// of in.log_q, uniform without it). Host arrays only (in.log_q stays on the host).
class SampledLogQ {
 public:
  SampledLogQ(const SampledSoftmaxInputs& in, const SampledSoftmaxPlan& plan, int64_t S)
      : log_q_(in.log_q), log_s_(std::log(static_cast<double>(S))), log_norm_(plan.log_norm) {}

  double operator()(int64_t i) const {
    if (!log_q_.defined()) return log_s_ - log_norm_;
    const double lq = log_q_.dtype == DType::float32 ? static_cast<double>(log_q_.ptr<float>()[i])
                                                     : log_q_.ptr<double>()[i];
    return log_s_ + lq - log_norm_;
  }

 private:
  const Tensor& log_q_;
  double log_s_, log_norm_;
};

}  // namespace v1
}  // namespace chronoscale
