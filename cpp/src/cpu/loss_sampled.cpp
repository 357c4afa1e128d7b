// CPU sampled softmax with the log-Q correction. The S negatives are shared by the batch, so
// the logits against them are one GEMM, user [N, D] @ negatives [S, D]^T, and the gradients are
// two more (d_user = G @ negatives, d_negatives = G^T @ user). Item-row gradients are summed per
// distinct row in the fixed order of the plan (no atomics, deterministic).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "../blas.hpp"
#include "../sampled_log_q.hpp"
#include "loss.hpp"
#include "parallel.hpp"
#include "rng.hpp"
#include "scratch.hpp"
#include "softmax_row.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

namespace {

}  // namespace

double sample_uniform(int64_t V, int64_t S, uint64_t seed, int64_t* negatives) {
  const CounterRng rng(seed, kSaltSampledSoftmax);
  for (int64_t j = 0; j < S; ++j)
    negatives[j] = static_cast<int64_t>(rng.below(static_cast<uint64_t>(j), uint64_t(V)));
  return std::log(static_cast<double>(V));
}

template <class T>
double sample_log_q(const T* log_q, int64_t V, int64_t S, uint64_t seed, int64_t* negatives) {
  double mx = static_cast<double>(log_q[0]);
  for (int64_t i = 1; i < V; ++i) mx = std::max(mx, static_cast<double>(log_q[i]));
  std::vector<double> cdf(static_cast<size_t>(V));
  double acc = 0.0;
  int64_t last = 0;  // last item with a non-zero probability
  for (int64_t i = 0; i < V; ++i) {
    const double w = std::exp(static_cast<double>(log_q[i]) - mx);
    if (w > 0.0) last = i;
    acc += w;
    cdf[i] = acc;
  }
  const CounterRng rng(seed, kSaltSampledSoftmax);
  for (int64_t j = 0; j < S; ++j) {
    const double x = rng.uniform(static_cast<uint64_t>(j)) * acc;
    const auto k = std::upper_bound(cdf.begin(), cdf.end(), x) - cdf.begin();
    negatives[j] = std::min<int64_t>(k, last);
  }
  return mx + std::log(acc);
}

template <class T>
double sampled_softmax_loss(const SampledSoftmaxDims& d, const SampledSoftmaxInputs& in,
                            const SampledSoftmaxPlan& plan, T* d_user, T* d_rows) {
  const int64_t N = d.N, D = d.D, S = d.S;
  const T* user = in.user.ptr<T>();
  const T* items = in.items.ptr<T>();
  const int64_t* target = in.target.ptr<int64_t>();
  const int64_t* neg = plan.negatives.data();
  const SampledLogQ log_sq(in, plan, S);  // log(S q[i]): expected draws of item i
  int64_t K = 0;
  for (int64_t n = 0; n < N; ++n) K += target[n] != in.ignore_index;

  auto eneg = scratch<T>(S * D);  // the negatives' item vectors
  auto corr = scratch<T>(S);
  parallel_for(S, D, [&](int64_t j) {
    std::memcpy(eneg.get() + j * D, items + neg[j] * D, sizeof(T) * static_cast<size_t>(D));
    corr[j] = static_cast<T>(log_sq(neg[j]));
  });
  auto G = scratch<T>(N * S);  // logits, then their gradient
  blas::gemm_parallel<T>(false, true, N, S, D, T(1), user, D, eneg.get(), D, T(0), G.get(), S);

  const T inv_k = K > 0 ? T(1.0 / static_cast<double>(K)) : T(0);
  const bool hits = in.remove_accidental_hits;
  std::vector<T> g0(static_cast<size_t>(N), T(0));
  std::vector<double> row_loss(static_cast<size_t>(N), 0.0);
  parallel_for(N, 4 * S + D, [&](int64_t n) {
    T* z = G.get() + n * S;
    const int64_t t = target[n];
    if (t == in.ignore_index) {
      std::memset(z, 0, sizeof(T) * static_cast<size_t>(S));
      return;
    }
    const T* u = user + n * D;
    const T* et = items + t * D;
    T z0 = T(0);
#pragma omp simd reduction(+ : z0)
    for (int64_t k = 0; k < D; ++k) z0 += u[k] * et[k];
    z0 -= static_cast<T>(log_sq(t));
    T m = z0;
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < S; ++j) {
      z[j] -= corr[j];
      const bool keep = !(hits && neg[j] == t);
      m = keep && z[j] > m ? z[j] : m;
    }
    const T e0 = softmax_exp(z0 - m);
    T s = e0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < S; ++j) {
      const T e = (hits && neg[j] == t) ? T(0) : softmax_exp(z[j] - m);
      z[j] = e;
      s += e;
    }
    const T f = inv_k / s;
#pragma omp simd
    for (int64_t j = 0; j < S; ++j) z[j] *= f;
    g0[n] = e0 * f - inv_k;
    row_loss[n] = static_cast<double>(m) + std::log(static_cast<double>(s)) -
                  static_cast<double>(z0);
  });

  // d_user = G @ eneg + g0[n] * items[target[n]]
  blas::gemm_parallel<T>(false, false, N, D, S, T(1), G.get(), S, eneg.get(), D, T(0), d_user, D);
  parallel_for(N, D, [&](int64_t n) {
    if (target[n] == in.ignore_index) return;
    const T* et = items + target[n] * D;
    T* du = d_user + n * D;
    const T c = g0[n];
#pragma omp simd
    for (int64_t k = 0; k < D; ++k) du[k] += c * et[k];
  });
  // d_negatives = G^T @ user, reusing eneg's storage
  T* dneg = eneg.get();
  blas::gemm_parallel<T>(true, false, S, D, N, T(1), G.get(), S, user, D, T(0), dneg, D);
  const auto U = static_cast<int64_t>(plan.rows.size());
  parallel_for(U, 2 * D, [&](int64_t r) {
    T* out = d_rows + r * D;
    std::memset(out, 0, sizeof(T) * static_cast<size_t>(D));
    for (int64_t i = plan.offsets[r]; i < plan.offsets[r + 1]; ++i) {
      const int64_t src = plan.sources[i];
      if (src < S) {
        const T* a = dneg + src * D;
#pragma omp simd
        for (int64_t k = 0; k < D; ++k) out[k] += a[k];
      } else {
        const T* a = user + (src - S) * D;
        const T c = g0[src - S];
#pragma omp simd
        for (int64_t k = 0; k < D; ++k) out[k] += c * a[k];
      }
    }
  });
  if (K == 0) return 0.0;
  double total = 0.0;
  for (double l : row_loss) total += l;
  return total / static_cast<double>(K);
}

template double sample_log_q<float>(const float*, int64_t, int64_t, uint64_t, int64_t*);
template double sample_log_q<double>(const double*, int64_t, int64_t, uint64_t, int64_t*);
template double sampled_softmax_loss<float>(const SampledSoftmaxDims&,
                                            const SampledSoftmaxInputs&,
                                            const SampledSoftmaxPlan&, float*, float*);
template double sampled_softmax_loss<double>(const SampledSoftmaxDims&,
                                             const SampledSoftmaxInputs&,
                                             const SampledSoftmaxPlan&, double*, double*);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
