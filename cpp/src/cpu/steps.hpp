#pragma once
// Plumbing of the CPU recurrent time loop (recurrent.hpp): scratch buffers, the thread plan and
// each thread's share, the order rows are stepped in, and the recurrent weights packed for
// step_gemm.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "chronoscale/recurrent.hpp"
#include "parallel.hpp"
#include "scratch.hpp"
#include "stepgemm.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

/// `bytes` of scratch owned by the calling thread and reused by its next call (cpu/workspace.cpp):
/// the backward's [B, T, G*H] buffers are large, and fresh pages cost a fault plus kernel-side
/// zeroing each (~10% of a large backward). Kept at the largest size asked for, up to 1 GiB
/// (larger ones until the thread's next call); freed when the thread exits or calls
/// release_workspace. Valid until the thread's next call.
void* workspace_bytes(int64_t bytes);
/// Frees the calling thread's scratch (chronoscale::release_scratch).
void release_workspace() noexcept;

/// workspace_bytes for n elements of T.
template <class T>
T* workspace(int64_t n) {
  return static_cast<T*>(workspace_bytes(n * static_cast<int64_t>(sizeof(T))));
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

/// The plan for `steps` valid (row, step) pairs (B * T without lengths).
inline StepPlan plan_steps(const RecurrentDims& d, int64_t steps) {
  const int64_t B = d.B, H = d.H, GH = d.G * d.H;
  int nth = max_threads();
  if (steps * GH * H < kThreadWork) nth = 1;
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

/// The order a pass steps the batch rows in. Rows are sorted by length, longest first (stable),
/// and dealt round-robin into `groups` (a thread's rows in the rows plan, all rows in the units
/// plan): the rows still running at any step are then a prefix of each group, so the step
/// products cover only them, and every group holds about as many steps. The valid steps are
/// numbered b-major (row b's steps t < len[b] at off[b] + t), which is b * T + t when every row
/// runs all T steps (`full`); the big GEMMs then run over the valid rows only.
class RowOrder {
 public:
  RowOrder(const int64_t* len, int64_t B, int64_t T) : len_(len), T_(T), off_(B) {
    for (int64_t b = 0; b < B; ++b) {
      off_[b] = valid_;
      valid_ += length(b);
    }
    full_ = valid_ == B * T;
    if (full_) len_ = nullptr;
  }
  int64_t length(int64_t b) const { return len_ ? len_[b] : T_; }
  int64_t valid() const { return valid_; }  // steps t < len[b] over all rows
  bool full() const { return full_; }
  int64_t off(int64_t b) const { return off_[b]; }
  int64_t packed(int64_t b, int64_t t) const { return off_[b] + t; }

  /// Sort and deal the rows into `groups`; group g is rows(g)[0 .. size(g)).
  void deal(int groups) {
    const int64_t B = static_cast<int64_t>(off_.size());
    std::vector<int64_t> sorted(B);
    for (int64_t b = 0; b < B; ++b) sorted[b] = b;
    if (len_)
      std::stable_sort(sorted.begin(), sorted.end(),
                       [&](int64_t a, int64_t b) { return len_[a] > len_[b]; });
    rows_.resize(B);
    start_.assign(groups + 1, 0);
    for (int g = 0; g < groups; ++g)
      start_[g + 1] = start_[g] + (B - g + groups - 1) / groups;  // positions g, g + groups, ...
    for (int64_t p = 0; p < B; ++p) rows_[start_[p % groups] + p / groups] = sorted[p];
  }
  const int64_t* rows(int g) const { return rows_.data() + start_[g]; }
  int64_t first(int g) const { return start_[g]; }  // position of the group's first row
  int64_t size(int g) const { return start_[g + 1] - start_[g]; }

  /// Rows of a group still running at step t, from the count `n` at the neighbouring step.
  int64_t running_down(const int64_t* rows, int64_t n, int64_t t) const {  // t increasing
    while (n > 0 && length(rows[n - 1]) <= t) --n;
    return n;
  }
  int64_t running_up(const int64_t* rows, int64_t n, int64_t size, int64_t t) const {
    while (n < size && length(rows[n]) > t) ++n;  // t decreasing
    return n;
  }

 private:
  const int64_t* len_;
  int64_t T_, valid_ = 0;
  bool full_ = true;
  std::vector<int64_t> off_, rows_, start_;
};

/// What team member tid of nth works on in a step plan: hidden units [u0, u1) (all of them in
/// the rows plan) and its group's n rows `rows`, which start at position i0 of the order.
struct TeamShare {
  int64_t u0, u1, nu, n, i0;
  const int64_t* rows;
};
inline TeamShare team_share(const StepPlan& plan, const RowOrder& order, int64_t H, int tid,
                            int nth) {
  const int grp = plan.units ? 0 : tid;
  int64_t u0 = 0, u1 = H;
  if (plan.units) share(H, tid, nth, true, &u0, &u1);
  return {u0, u1, u1 - u0, order.size(grp), order.first(grp), order.rows(grp)};
}

/// Copy row b's valid steps of src [B, T, C] to the packed dst [valid, C] (`to_packed`) or back,
/// zeroing the steps past its length in the unpacked array.
template <class T>
void repack_rows(const RowOrder& o, int64_t B, int64_t T_, int64_t C, const T* src, T* dst,
                 bool to_packed) {
  parallel_for(B, T_ * C, [&](int64_t b) {
    const int64_t L = o.length(b);
    if (to_packed) {
      std::memcpy(dst + o.off(b) * C, src + b * T_ * C, sizeof(T) * L * C);
    } else {
      std::memcpy(dst + b * T_ * C, src + o.off(b) * C, sizeof(T) * L * C);
      std::memset(dst + (b * T_ + L) * C, 0, sizeof(T) * (T_ - L) * C);
    }
  });
}

// A weight matrix W [G*H, C] (C = H for W_hh, I for W_ih) as one thread's step products read
// it, packed for step_gemm:
//  * forward (`transposed`): W^T [C, G*H], all G*H columns, or with `units` gate k's units
//    c0..c1 as group k;
//  * backward: W itself [G*H, C], its columns c0..c1.
// Made (allocated) in a team's setup, packed by its member (pack), in parallel.
template <class T>
struct StepWeights {
  std::unique_ptr<T[]> data;
  int64_t cols = 0, group = 0;  // columns per group, elements per packed group

  StepWeights(bool transposed, int64_t G, int64_t H, int64_t C, int64_t c0, int64_t c1, bool units)
      : transposed_(transposed), H_(H), C_(C), c0_(c0) {
    groups_ = transposed && units ? G : 1;
    depth_ = transposed ? C : G * H;
    cols = transposed && !units ? G * H : c1 - c0;
    group = packed_size<T>(depth_, cols);
    data = scratch<T>(groups_ * group);
  }
  void pack(const T* w) {
    for (int64_t k = 0; k < groups_; ++k)
      pack_panels<T>(depth_, cols, transposed_ ? w + (k * H_ + c0_) * C_ : w + c0_, C_, transposed_,
                     data.get() + k * group);
  }

 private:
  bool transposed_;
  int64_t H_, C_, c0_, groups_ = 1, depth_ = 0;
};

/// parallel_team's setup for a recurrent pass: deal the rows for the team OpenMP gives and make
/// each member's StepWeights of W_hh in `w` (the member packs them).
template <class T>
auto step_team_setup(bool transposed, const StepPlan& plan, RowOrder& order, const RecurrentDims& d,
                     std::vector<StepWeights<T>>& w) {
  return [transposed, &plan, &order, &d, &w](int team) {
    order.deal(plan.units ? 1 : team);
    w.clear();
    w.reserve(team);
    for (int tid = 0; tid < team; ++tid) {
      const TeamShare s = team_share(plan, order, d.H, tid, team);
      w.emplace_back(transposed, d.G, d.H, d.H, s.u0, s.u1, plan.units);
    }
  };
}

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
