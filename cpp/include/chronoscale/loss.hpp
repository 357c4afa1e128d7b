#pragma once
/// Losses: each returns the mean loss and writes the gradient w.r.t. the prediction in one fused
/// pass. Sums are accumulated in float64 over fixed chunks added in order, so the loss is
/// bit-identical for any thread count.
///
/// Device: the float arrays may be CUDA arrays (all of one call on the same device); class
/// targets, log_q and the sampled-softmax plan stay host arrays (they are validated there) and
/// are copied to the device on `stream` (cudaStream_t as void*, ignored on the CPU). On CUDA the
/// loss is reduced on the device in float64 (fixed order) and the one scalar is copied back, so
/// the call waits for the stream.
#include <cstdint>
#include <vector>

#include "chronoscale/tensor.hpp"

namespace chronoscale {
inline namespace v1 {

enum class PointLoss : int32_t { mse = 0, mae = 1, huber = 2, bce_with_logits = 3 };

/// Validate a loss's main input `t` (named `name`): float32 / float64, at least one element,
/// usable on its device (Unsupported for a CUDA array in a build without CUDA). Bindings call it
/// before allocating the gradient.
void loss_check_input(const Tensor& t, const char* name);

/// Elementwise loss averaged over all n elements (torch reduction="mean"):
///   loss = (1/n) sum_i w_i l(p_i, t_i),   dpred_i = w_i dl/dp(p_i, t_i) / n   (w_i = 1 if absent)
///   mse:    l = (p - t)^2
///   mae:    l = |p - t|                               (derivative sign(p - t), 0 at p == t)
///   huber:  l = (p - t)^2 / 2 if |p - t| <= delta, else delta (|p - t| - delta / 2)
///   bce_with_logits: l = max(p, 0) - p t + log1p(exp(-|p|))  (p a logit, t in [0, 1]; the
///                    stable form of -t log s(p) - (1 - t) log(1 - s(p)); derivative s(p) - t)
/// pred: any shape with n > 0 elements, float32 / float64; target and weights (optional) and
/// the caller-allocated dpred: pred's shape and dtype. delta > 0 (huber only).
/// Errors name the prediction `pred_name` ("logits" for bce_with_logits, say).
/// `loss_out`: null, or a CUDA float64 scalar (one element) on pred's device: the mean loss is
/// written there on the stream and NaN is returned, so that the call does not wait for the
/// device (ValueError with host arrays or another shape / dtype / device).
double point_loss(PointLoss kind, const Tensor& pred, const Tensor& target, const Tensor& weights,
                  double delta, const Tensor& dpred, const char* pred_name = "pred",
                  void* stream = nullptr, const Tensor* loss_out = nullptr);

/// Softmax cross-entropy over the last axis: logits [..., V] (N rows), target [...] int64 on the
/// host. Rows whose target equals ignore_index are excluded; the others need 0 <= target < V
/// (ValueError naming target and the row otherwise). With K counted rows:
///   loss = (1/K) sum_n (logsumexp(logits[n]) - logits[n, target[n]])
///   dlogits[n] = (softmax(logits[n]) - onehot(target[n])) / K,   0 for ignored rows.
/// K == 0 gives loss 0 and a zero gradient. dlogits is caller-allocated with logits' shape.
double softmax_cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index,
                             const Tensor& dlogits, void* stream = nullptr);

/// Sampled softmax with the log-Q correction (Jean et al. 2015; Bengio & Senecal), for scoring
/// against a large item table without the full softmax.
///
/// Negatives: S = num_samples item ids drawn with replacement, shared by the whole batch, from
/// q = softmax(log_q) (log_q given; it holds log-probabilities up to an additive constant) or
/// uniformly over the V items; draw j uses the counter RNG of (seed, j), so the negatives are a
/// function of (V, S, seed, log_q) only. Row n (target t_n != ignore_index) has the candidates
/// c_0 = t_n and c_j = negative j (1 <= j <= S) with logits
///   z_nk = user[n] . items[c_k] - log(S q[c_k])
/// (log(S q) is the log of the expected number of draws of the item; it cancels the sampling
/// bias). With remove_accidental_hits, negatives equal to t_n are dropped from row n's softmax.
///   loss = mean over counted rows of (logsumexp_k z_nk - z_n0)
/// and the gradients are exact for this (fixed-negatives) loss. Rows with target ==
/// ignore_index are excluded (K == 0: loss 0, zero gradients).
struct SampledSoftmaxInputs {
  Tensor user;    ///< [N, D] float32 / float64
  Tensor items;   ///< [V, D] user's dtype
  Tensor target;  ///< [N] int64 (host), in [0, V) or == ignore_index
  Tensor log_q;   ///< [V] float32 / float64, finite, or absent (uniform)
  int64_t num_samples = 1;  ///< S >= 1
  uint64_t seed = 0;
  bool remove_accidental_hits = true;
  int64_t ignore_index = -1;
};

struct SampledSoftmaxDims {
  int64_t N, D, V, S;
};

/// The drawn negatives and the distinct item rows that receive a gradient.
struct SampledSoftmaxPlan {
  std::vector<int64_t> negatives;  ///< [S] in draw order
  double log_norm = 0.0;           ///< logsumexp(log_q) (log V when uniform)
  std::vector<int64_t> rows;       ///< [U] sorted distinct ids among counted targets and negatives
  std::vector<int64_t> offsets;    ///< [U + 1]: row u sums sources[offsets[u] : offsets[u + 1]]
  std::vector<int64_t> sources;    ///< j < S: negative j; S + n: the target of row n
};

/// Validate every argument; throws ValueError / TypeError naming it.
SampledSoftmaxDims sampled_softmax_check(const SampledSoftmaxInputs& in);

/// Draw the S negatives of (V, seed, log_q) into negatives[S]; returns logsumexp(log_q) (log V
/// when log_q is absent). Validates V >= 1 (named num_items), S >= 1 and log_q ([V], finite).
double sample_items(int64_t V, int64_t S, uint64_t seed, const Tensor& log_q, int64_t* negatives);

/// Validate, draw the negatives and group the gradient sources by item row.
SampledSoftmaxPlan sampled_softmax_plan(const SampledSoftmaxInputs& in);

/// Loss; writes d_user [N, D] and d_rows [U, D] (row u: gradient of items[plan.rows[u]]), both
/// caller-allocated with user's dtype. `plan` comes from sampled_softmax_plan on the same inputs.
double sampled_softmax_loss(const SampledSoftmaxInputs& in, const SampledSoftmaxPlan& plan,
                            const Tensor& d_user, const Tensor& d_rows, void* stream = nullptr);

/// Precision of the full softmax's products (full_softmax_loss).
enum class MatmulPrecision : int { float32 = 0, bfloat16 = 1, tfloat32 = 2, tf32x3 = 3 };

/// Full softmax over an item table without the [N, V] logits in memory:
///   logits = user @ items^T  ([N, V]),  loss = softmax_cross_entropy(logits, target)
///   d_user = dlogits @ items  ([N, D]),  d_items = dlogits^T @ user  ([V, D])
/// with dlogits as in softmax_cross_entropy (rows with target == ignore_index count for
/// nothing; K == 0 gives loss 0 and zero gradients). The rows run in blocks whose logits stay in
/// cache: forward GEMM, cross-entropy and both backward GEMMs per block. user [N, D] and items
/// [V, D] float32 / float64 (same dtype), target [N] int64 on the host in [0, V) or ==
/// ignore_index; d_user and d_items caller-allocated with user's dtype. d_items is deterministic
/// for a given thread count (its sums over rows are grouped by the number of threads).
/// CUDA arrays (user, items, d_user, d_items; target stays on the host) run blocks of up to
/// 2^26 logits on the GPU: GEMM, cross-entropy in place, both backward GEMMs; `stream`.
/// `precision`: of the three products. float32: in the arrays' dtype. bfloat16 / tfloat32 /
/// tf32x3 (CUDA float32 arrays only; ValueError on the CPU or with float64): the GEMMs read
/// bfloat16 copies of their operands, or round them to TF32 (10-bit mantissa) on the tensor
/// cores, and accumulate in float32; tf32x3: each operand as a TF32 pair (hi + lo) and each
/// product as three TF32 products (hi hi + hi lo + lo hi), float32-accurate (cuda/tf32.cuh).
/// `loss_out`: null, or a CUDA float64 scalar (one element) on user's device: the mean loss is
/// written there on the stream and NaN is returned, so that the call does not wait for the
/// device (ValueError with host arrays or another shape / dtype / device).
double full_softmax_loss(const Tensor& user, const Tensor& items, const Tensor& target,
                         int64_t ignore_index, const Tensor& d_user, const Tensor& d_items,
                         void* stream = nullptr,
                         MatmulPrecision precision = MatmulPrecision::float32,
                         const Tensor* loss_out = nullptr);

}  // namespace v1
}  // namespace chronoscale
