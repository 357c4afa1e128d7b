#pragma once
// Plumbing of the CPU recurrent time loop (recurrent.hpp): scratch buffers, the thread plan and
// each thread's share, active rows, and the recurrent weights packed for step_gemm.
#include <cstdint>
#include <memory>

#include "chronoscale/recurrent.hpp"
#include "parallel.hpp"
#include "stepgemm.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class T>
std::unique_ptr<T[]> scratch(int64_t n) {
  return std::unique_ptr<T[]>(new T[n > 0 ? n : 1]);
}

/// Scratch of n elements owned by the calling thread and reused by its next call: the backward's
/// [B, T, G*H] buffers are large, and fresh pages cost a fault plus kernel-side zeroing each
/// (~10% of a large backward). Kept at the largest size asked for, up to 1 GiB; freed when the
/// thread exits. Valid until the thread's next call.
template <class T>
T* workspace(int64_t n) {
  struct Buf {
    std::unique_ptr<T[]> p;
    int64_t cap = 0;
  };
  thread_local Buf w;
  thread_local std::unique_ptr<T[]> big;  // above the cap: per call
  constexpr int64_t kCap = (int64_t(1) << 30) / sizeof(T);
  if (n > kCap) {
    big.reset(new T[n]);
    return big.get();
  }
  big.reset();
  if (n > w.cap) {
    w.p.reset();
    w.p.reset(new T[n]);
    w.cap = n;
  }
  return w.p.get();
}

// Thread the time loop only above this many multiply-adds in the step products (a fork / join
// costs microseconds, and far more when the cores are shared), and split hidden units (one
// barrier per step) only when a step holds at least kUnitSplitWork of them.
constexpr int64_t kThreadWork = int64_t(1) << 21;
constexpr int64_t kUnitSplitWork = int64_t(1) << 17;

struct StepPlan {
  int threads;  // team size
  bool units;   // split hidden units (else batch rows)
};

inline StepPlan plan_steps(const RecurrentDims& d) {
  const int64_t B = d.B, H = d.H, GH = d.G * d.H;
  int nth = max_threads();
  if (B * d.T * GH * H < kThreadWork) nth = 1;
  if (nth > 1 && B < nth && B * GH * H >= kUnitSplitWork && H >= 16 * nth)
    return {nth, true};
  if (nth > B) nth = static_cast<int>(B);
  return {nth, false};
}

// Team member tid's share of [0, n): rows contiguously, units in multiples of 8 (whole packs).
inline void share(int64_t n, int tid, int nth, bool packs, int64_t* lo, int64_t* hi) {
  auto cut = [&](int k) {
    const int64_t c = n * k / nth;
    return packs && k < nth ? (c + 7) / 8 * 8 : c;
  };
  *lo = cut(tid);
  *hi = cut(tid + 1) < n ? cut(tid + 1) : n;
  if (*lo > n) *lo = n;
}

// Rows [lo, hi) of [r0, r1) that span the sequences still running at step t (hi == lo: none).
inline void active_span(const int64_t* len, int64_t t, int64_t r0, int64_t r1, int64_t* lo,
                        int64_t* hi) {
  *lo = r0;
  *hi = r1;
  if (!len) return;
  while (*lo < r1 && len[*lo] <= t) ++*lo;
  while (*hi > *lo && len[*hi - 1] <= t) --*hi;
}

// The recurrent weights as one thread's step products read them: the columns it computes
// (all G*H of W_hh^T for the forward, or gate k's units u0..u1 as group k; W_hh's units u0..u1
// for the backward), packed for step_gemm.
template <class T>
struct StepWeights {
  std::unique_ptr<T[]> data;
  int64_t cols = 0, group = 0;  // columns per group, elements per packed group

  StepWeights(bool fwd, const T* w_hh, int64_t G, int64_t H, int64_t u0, int64_t u1,
              bool units) {
    const int64_t groups = fwd && units ? G : 1, K = fwd ? H : G * H;
    cols = fwd && !units ? G * H : u1 - u0;
    group = packed_size<T>(K, cols);
    data = scratch<T>(groups * group);
    for (int64_t k = 0; k < groups; ++k)
      pack_panels<T>(K, cols, fwd ? w_hh + (k * H + u0) * H : w_hh + u0, H, fwd,
                     data.get() + k * group);
  }
};

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
