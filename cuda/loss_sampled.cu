// CUDA sampled softmax with the log-Q correction (same maths as cpp/src/cpu/loss_sampled.cpp).
// The negatives are drawn on the host (the plan, shared with the CPU path, so both draw the same
// items); their vectors are gathered once and the logits and gradients are three GEMMs through
// cuda/gemm.cuh: G = user @ neg^T, d_user = G @ neg (+ the target terms), d_neg = G^T @ user.
// One block per row does the softmax; item-row gradients are summed per distinct row in the
// plan's fixed order (no atomics, deterministic). The loss scalar is copied back at the end.
#include <cuda_runtime.h>

#include <cmath>
#include <vector>

#include "../cpp/src/sampled_log_q.hpp"
#include "gemm.cuh"
#include "loss.cuh"
#include "train_common.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

namespace {

// eneg[j, :] = items[neg[j], :]
template <class T>
__global__ void __launch_bounds__(train::kThreads)
    gather_rows_kernel(const T* __restrict__ items, const int64_t* __restrict__ neg, int64_t S,
                       int64_t D, T* __restrict__ eneg) {
  const int64_t n = S * D;
  for (int64_t i = flat_index(); i < n; i += flat_stride())
    eneg[i] = items[neg[i / D] * D + i % D];
}

// Row n of G [N, S] holds user[n] . neg_j on entry and dL/dz_nj on exit; g0[n] = dL/dz_n0.
template <class T>
__global__ void __launch_bounds__(train::kThreads)
    sampled_row_kernel(const T* __restrict__ user, const T* __restrict__ items,
                       const int64_t* __restrict__ target, const int64_t* __restrict__ neg,
                       const T* __restrict__ corr, const T* __restrict__ ct, int64_t N,
                       int64_t D, int64_t S, int64_t ignore_index, int hits, T inv_k,
                       T* __restrict__ G, T* __restrict__ g0, double* __restrict__ row_loss) {
  __shared__ T shm[train::kReduceSlots];
  __shared__ double shd[train::kReduceSlots];
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    T* z = G + n * S;
    const int64_t t = target[n];
    if (t == ignore_index) {
      for (int64_t j = threadIdx.x; j < S; j += blockDim.x) z[j] = T(0);
      if (threadIdx.x == 0) {
        g0[n] = T(0);
        row_loss[n] = 0.0;
      }
      continue;
    }
    const T* u = user + n * D;
    const T* et = items + t * D;
    double dot = 0.0;
    for (int64_t k = threadIdx.x; k < D; k += blockDim.x)
      dot += static_cast<double>(u[k] * et[k]);
    const T z0 = static_cast<T>(train::block_sum<train::kThreads>(dot, shd)) - ct[n];
    T m = z0;
    for (int64_t j = threadIdx.x; j < S; j += blockDim.x) {
      const T zj = z[j] - corr[j];
      z[j] = zj;
      if (!(hits && neg[j] == t) && zj > m) m = zj;
    }
    m = train::block_max<train::kThreads>(m, shm);
    const T e0 = exp(z0 - m);
    double s = 0.0;
    for (int64_t j = threadIdx.x; j < S; j += blockDim.x) {
      const T e = (hits && neg[j] == t) ? T(0) : exp(z[j] - m);
      z[j] = e;
      s += static_cast<double>(e);
    }
    s = train::block_sum<train::kThreads>(s, shd) + static_cast<double>(e0);
    const T f = inv_k / static_cast<T>(s);
    for (int64_t j = threadIdx.x; j < S; j += blockDim.x) z[j] *= f;
    if (threadIdx.x == 0) {
      g0[n] = e0 * f - inv_k;
      row_loss[n] = static_cast<double>(m) + log(s) - static_cast<double>(z0);
    }
  }
}

// d_user[n, :] += g0[n] * items[target[n], :] for the counted rows.
template <class T>
__global__ void __launch_bounds__(train::kThreads)
    add_target_kernel(const T* __restrict__ items, const int64_t* __restrict__ target,
                      const T* __restrict__ g0, int64_t N, int64_t D, int64_t ignore_index,
                      T* __restrict__ d_user) {
  const int64_t n_el = N * D;
  for (int64_t i = flat_index(); i < n_el; i += flat_stride()) {
    const int64_t n = i / D, t = target[n];
    if (t != ignore_index) d_user[i] += g0[n] * items[t * D + i % D];
  }
}

// d_rows[u, :] = sum over the plan's sources of row u, in order (one block per row).
template <class T>
__global__ void __launch_bounds__(train::kThreads)
    segment_sum_kernel(const int64_t* __restrict__ offsets, const int64_t* __restrict__ sources,
                       const T* __restrict__ dneg, const T* __restrict__ user,
                       const T* __restrict__ g0, int64_t U, int64_t D, int64_t S,
                       T* __restrict__ d_rows) {
  for (int64_t r = blockIdx.x; r < U; r += gridDim.x) {
    const int64_t a = offsets[r], b = offsets[r + 1];
    for (int64_t k = threadIdx.x; k < D; k += blockDim.x) {
      T acc = T(0);
      for (int64_t i = a; i < b; ++i) {
        const int64_t src = sources[i];
        acc += src < S ? dneg[src * D + k] : g0[src - S] * user[(src - S) * D + k];
      }
      d_rows[r * D + k] = acc;
    }
  }
}

}  // namespace

template <class T>
double sampled_softmax_loss(const SampledSoftmaxDims& d, const SampledSoftmaxInputs& in,
                            const SampledSoftmaxPlan& plan, T* d_user, T* d_rows, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  const int64_t N = d.N, D = d.D, S = d.S, U = static_cast<int64_t>(plan.rows.size());
  const int64_t* target = in.target.ptr<int64_t>();
  const SampledLogQ log_sq(in, plan, S);  // on the host, as the CPU kernel computes it
  int64_t K = 0;
  // One host block of int64 (negatives, target, offsets, sources) and one of T (corrections).
  std::vector<int64_t> ints;
  ints.reserve(static_cast<size_t>(S + N + U + 1) + plan.sources.size());
  ints.insert(ints.end(), plan.negatives.begin(), plan.negatives.end());
  ints.insert(ints.end(), target, target + N);
  ints.insert(ints.end(), plan.offsets.begin(), plan.offsets.end());
  ints.insert(ints.end(), plan.sources.begin(), plan.sources.end());
  std::vector<T> corr(static_cast<size_t>(S + N), T(0));
  for (int64_t j = 0; j < S; ++j) corr[j] = static_cast<T>(log_sq(plan.negatives[j]));
  for (int64_t n = 0; n < N; ++n) {
    if (target[n] == in.ignore_index) continue;
    ++K;
    corr[S + n] = static_cast<T>(log_sq(target[n]));
  }
  const auto dints = train::to_device(ints, s);
  const auto dcorr = train::to_device(corr, s);
  const int64_t* dneg = dints.get();
  const int64_t* dtarget = dneg + S;
  const int64_t* doffsets = dtarget + N;
  const int64_t* dsources = doffsets + U + 1;

  const T* user = in.user.ptr<T>();
  const T* items = in.items.ptr<T>();
  DeviceBuffer<T> eneg(S * D, s), G(N * S, s), g0(N, s);
  DeviceBuffer<double> row_loss(N + 1, s);
  const dim3 block(train::kThreads);
  train::launch(gather_rows_kernel<T>, dim3(train::blocks_for(S * D)), block, s,
                "gather_rows_kernel", items, dneg, S, D, eneg.get());
  gemm<T>(s, false, true, N, S, D, user, D, eneg.get(), D, G.get(), S);
  const T inv_k = K > 0 ? T(1.0 / static_cast<double>(K)) : T(0);
  train::launch(sampled_row_kernel<T>, dim3(train::blocks_for(N, 1)), block, s,
                "sampled_row_kernel", user, items, dtarget, dneg, dcorr.get(),
                dcorr.get() + S, N, D, S, in.ignore_index,
                static_cast<int>(in.remove_accidental_hits), inv_k, G.get(), g0.get(),
                row_loss.get());
  gemm<T>(s, false, false, N, D, S, G.get(), S, eneg.get(), D, d_user, D);
  train::launch(add_target_kernel<T>, dim3(train::blocks_for(N * D)), block, s,
                "add_target_kernel", items, dtarget, g0.get(), N, D, in.ignore_index, d_user);
  T* dnegv = eneg.get();  // the negatives' vectors are no longer read (stream order)
  gemm<T>(s, true, false, S, D, N, G.get(), S, user, D, dnegv, D);
  train::launch(segment_sum_kernel<T>, dim3(train::blocks_for(U, 1)), block, s,
                "segment_sum_kernel", doffsets, dsources, dnegv, user, g0.get(), U, D, S,
                d_rows);
  if (K == 0) return 0.0;
  train::finish_sum(row_loss.get(), N, 1.0, row_loss.get() + N, s);
  return train::read_scalar(row_loss.get() + N, s) / static_cast<double>(K);
}

template double sampled_softmax_loss<float>(const SampledSoftmaxDims&,
                                            const SampledSoftmaxInputs&,
                                            const SampledSoftmaxPlan&, float*, float*, void*);
template double sampled_softmax_loss<double>(const SampledSoftmaxDims&,
                                             const SampledSoftmaxInputs&,
                                             const SampledSoftmaxPlan&, double*, double*, void*);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
