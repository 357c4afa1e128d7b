#pragma once
// The CPU recurrent driver shared by RNN / LSTM / GRU. A cell type supplies the gate math for a
// row over a range of hidden units (`forward_row`, `backward_row`); the driver does the batched
// input projection (one GEMM over all B*T rows), the per-step recurrent product, length masking,
// and the weight gradients as three GEMMs over all steps at the end.
//
// Threads split the work of the time loop in one of two ways (StepPlan):
//  * rows: each thread owns a block of batch rows and runs all T steps on it, no synchronisation;
//  * units (B smaller than the team): every thread works on all rows but owns a range of hidden
//    units, i.e. its slice of every gate's columns; one barrier per step publishes h_t / dh_t.
// The per-step products go through step_gemm on weights packed once per pass (a BLAS would
// pack them again on each of the T calls); the BLAS serves the big GEMMs over all B*T rows.
// No allocation or Python inside the time loop.
#include <cstring>

#include "../blas.hpp"
#include "chronoscale/recurrent.hpp"
#include "steps.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

// Cell concept:
//   static constexpr int G; bool kSplit (W_hh h + b_hh kept apart from the input part: GRU);
//   bool kHasC (LSTM cell state); bool kHasAux (cache.aux used).
//   forward_row(n, H, g, hg, bi, bh, h, c, aux): units j < n; gate k of unit j at [k*H + j].
//     g holds the input projection (plus the recurrent part unless kSplit) on entry and the
//     saved activations on exit; bi / bh the biases; h, c updated in place.
//   backward_row(n, H, dy, g, aux, hprev, cprev, dh, dc, dgi, dhg): dh holds dL/dh_t on entry
//     (without dy) and the direct part of dL/dh_{t-1} on exit; dc likewise.
template <class Cell, class T>
void recurrent_forward_cpu(const Cell& cell, const RecurrentDims& d, const RecurrentInputs& in,
                           const RecurrentOutputs& out) {
  const int64_t B = d.B, T_ = d.T, I = d.I, H = d.H, G = d.G, GH = d.G * d.H;
  const T* x = in.x.ptr<T>();
  const T* w_hh = in.w_hh.ptr<T>();
  const T* b_ih = in.b_ih.defined() ? in.b_ih.ptr<T>() : nullptr;
  const T* b_hh = in.b_hh.defined() ? in.b_hh.ptr<T>() : nullptr;
  const T* h0 = in.h0.defined() ? in.h0.ptr<T>() : nullptr;
  const T* c0 = in.c0.defined() ? in.c0.ptr<T>() : nullptr;
  const int64_t* len = in.lengths.defined() ? in.lengths.ptr<int64_t>() : nullptr;
  T* y = out.y.ptr<T>();
  T* gates = out.cache.gates.ptr<T>();
  T* hprev = out.cache.hprev.ptr<T>();
  T* aux = Cell::kHasAux ? out.cache.aux.ptr<T>() : nullptr;
  T* h = out.h_n.ptr<T>();
  T* c = Cell::kHasC ? out.c_n.ptr<T>() : nullptr;

  blas::gemm_parallel<T>(false, true, B * T_, GH, I, T(1), x, I, in.w_ih.ptr<T>(), I, T(0), gates,
                         GH);
  // Biases are added inside the gate math: bi to the input part, bh to the recurrent part.
  auto bias = scratch<T>(2 * GH);
  T *bi = bias.get(), *bh = bias.get() + GH;
  for (int64_t j = 0; j < GH; ++j) {
    bi[j] = (b_ih ? b_ih[j] : T(0)) + (b_hh && !Cell::kSplit ? b_hh[j] : T(0));
    bh[j] = b_hh && Cell::kSplit ? b_hh[j] : T(0);
  }
  const StepPlan plan = plan_steps(d);
  auto hg_store = scratch<T>(Cell::kSplit ? B * GH : 0);
  T* hg = hg_store.get();

  parallel_team(plan.threads, [&](int tid, int nth) {
    int64_t r0 = 0, r1 = B, u0 = 0, u1 = H;
    share(plan.units ? H : B, tid, nth, plan.units, plan.units ? &u0 : &r0,
          plan.units ? &u1 : &r1);
    const int64_t nu = u1 - u0;
    const StepWeights<T> wp(true, w_hh, G, H, u0, u1, plan.units);
    for (int64_t b = r0; b < r1; ++b) {
      T* hb = h + b * H + u0;
      if (h0) std::memcpy(hb, h0 + b * H + u0, sizeof(T) * nu);
      else std::memset(hb, 0, sizeof(T) * nu);
      std::memcpy(hprev + b * T_ * H + u0, hb, sizeof(T) * nu);
      if (Cell::kHasC) {
        if (c0) std::memcpy(c + b * H + u0, c0 + b * H + u0, sizeof(T) * nu);
        else std::memset(c + b * H + u0, 0, sizeof(T) * nu);
      }
    }
    if (plan.units) barrier();
    for (int64_t t = 0; t < T_; ++t) {
      int64_t lo, hi;
      active_span(len, t, r0, r1, &lo, &hi);
      if (hi > lo && nu > 0) {  // C (+)= h_{t-1} @ W_hh^T for this thread's rows and columns
        const T* A = hprev + (lo * T_ + t) * H;
        T* C = Cell::kSplit ? hg + lo * GH : gates + (lo * T_ + t) * GH;
        const int64_t ldc = Cell::kSplit ? GH : T_ * GH;
        if (!plan.units)
          step_gemm<T>(hi - lo, GH, H, A, T_ * H, wp.data.get(), C, ldc, !Cell::kSplit);
        else
          for (int64_t k = 0; k < G; ++k)
            step_gemm<T>(hi - lo, nu, H, A, T_ * H, wp.data.get() + k * wp.group,
                         C + k * H + u0, ldc, !Cell::kSplit);
      }
      for (int64_t b = r0; b < r1 && nu > 0; ++b) {
        const int64_t r = b * T_ + t;
        T* hb = h + b * H + u0;
        if (!len || t < len[b]) {
          cell.forward_row(nu, H, gates + r * GH + u0,
                           Cell::kSplit ? hg + b * GH + u0 : nullptr, bi + u0, bh + u0, hb,
                           Cell::kHasC ? c + b * H + u0 : nullptr,
                           aux ? aux + r * H + u0 : nullptr);
          std::memcpy(y + r * H + u0, hb, sizeof(T) * nu);
        } else {
          std::memset(y + r * H + u0, 0, sizeof(T) * nu);
        }
        if (t + 1 < T_) std::memcpy(hprev + (r + 1) * H + u0, hb, sizeof(T) * nu);
      }
      if (plan.units) barrier();
    }
  });
}

template <class Cell, class T>
void recurrent_backward_cpu(const Cell& cell, const RecurrentDims& d, const Tensor& dy_t,
                            const Tensor& dh_n, const Tensor& dc_n, const RecurrentInputs& in,
                            const RecurrentOutputs& fwd, const RecurrentGrads& g) {
  const int64_t B = d.B, T_ = d.T, I = d.I, H = d.H, G = d.G, GH = d.G * d.H;
  const T* w_hh = in.w_hh.ptr<T>();
  const int64_t* len = in.lengths.defined() ? in.lengths.ptr<int64_t>() : nullptr;
  const T* dy = dy_t.defined() ? dy_t.ptr<T>() : nullptr;
  const T* gates = fwd.cache.gates.ptr<T>();
  const T* hprev = fwd.cache.hprev.ptr<T>();
  const T* aux = Cell::kHasAux ? fwd.cache.aux.ptr<T>() : nullptr;
  const T* c0 = Cell::kHasC && in.c0.defined() ? in.c0.ptr<T>() : nullptr;

  T* dgi = workspace<T>((Cell::kSplit ? 2 : 1) * B * T_ * GH);
  T* dhg = Cell::kSplit ? dgi + B * T_ * GH : dgi;
  auto dh = scratch<T>(B * H);
  auto dc = scratch<T>(Cell::kHasC ? B * H : 0);
  auto zeros = scratch<T>(H);
  std::memset(zeros.get(), 0, sizeof(T) * H);
  const StepPlan plan = plan_steps(d);
  // Bias gradients are column sums of dgi / dhg, summed per thread while the rows are hot.
  const int64_t nb = Cell::kSplit ? 2 * GH : GH;
  auto db = scratch<T>(plan.threads * nb);
  std::memset(db.get(), 0, sizeof(T) * plan.threads * nb);

  parallel_team(plan.threads, [&](int tid, int nth) {
    int64_t r0 = 0, r1 = B, u0 = 0, u1 = H;
    share(plan.units ? H : B, tid, nth, plan.units, plan.units ? &u0 : &r0,
          plan.units ? &u1 : &r1);
    const int64_t nu = u1 - u0;
    const StepWeights<T> wp(false, w_hh, G, H, u0, u1, plan.units);
    T* dbt = db.get() + tid * nb;
    for (int64_t b = r0; b < r1; ++b) {
      T* dhb = dh.get() + b * H + u0;
      if (dh_n.defined()) std::memcpy(dhb, dh_n.ptr<T>() + b * H + u0, sizeof(T) * nu);
      else std::memset(dhb, 0, sizeof(T) * nu);
      if (Cell::kHasC) {
        T* dcb = dc.get() + b * H + u0;
        if (dc_n.defined()) std::memcpy(dcb, dc_n.ptr<T>() + b * H + u0, sizeof(T) * nu);
        else std::memset(dcb, 0, sizeof(T) * nu);
      }
    }
    for (int64_t t = T_ - 1; t >= 0; --t) {
      for (int64_t b = r0; b < r1 && nu > 0; ++b) {
        const int64_t r = b * T_ + t;
        if (len && t >= len[b]) {
          for (int64_t k = 0; k < G; ++k) {
            std::memset(dgi + r * GH + k * H + u0, 0, sizeof(T) * nu);
            if (Cell::kSplit) std::memset(dhg + r * GH + k * H + u0, 0, sizeof(T) * nu);
          }
          continue;
        }
        const T* cprev = nullptr;
        if (Cell::kHasC) cprev = t > 0 ? aux + (r - 1) * H : (c0 ? c0 + b * H : zeros.get());
        cell.backward_row(nu, H, (dy ? dy + r * H : zeros.get()) + u0, gates + r * GH + u0,
                          aux ? aux + r * H + u0 : nullptr, hprev + r * H + u0,
                          cprev ? cprev + u0 : nullptr, dh.get() + b * H + u0,
                          Cell::kHasC ? dc.get() + b * H + u0 : nullptr, dgi + r * GH + u0,
                          Cell::kSplit ? dhg + r * GH + u0 : nullptr);
        for (int64_t k = 0; k < G; ++k) {
          add_to(dbt + k * H + u0, dgi + r * GH + k * H + u0, nu);
          if (Cell::kSplit) add_to(dbt + GH + k * H + u0, dhg + r * GH + k * H + u0, nu);
        }
      }
      if (plan.units) barrier();
      int64_t lo, hi;
      active_span(len, t, r0, r1, &lo, &hi);
      if (hi > lo && nu > 0) {  // dh (+)= dg_t @ W_hh for this thread's rows and units
        const T* A = dhg + (lo * T_ + t) * GH;
        step_gemm<T>(hi - lo, nu, GH, A, T_ * GH, wp.data.get(), dh.get() + lo * H + u0, H,
                     true);
      }
    }
  });
  if (g.dh0.defined()) std::memcpy(g.dh0.ptr<T>(), dh.get(), sizeof(T) * B * H);
  if (Cell::kHasC && g.dc0.defined()) std::memcpy(g.dc0.ptr<T>(), dc.get(), sizeof(T) * B * H);

  const int64_t R = B * T_;
  blas::gemm_parallel<T>(false, false, R, I, GH, T(1), dgi, GH, in.w_ih.ptr<T>(), I, T(0),
                         g.dx.ptr<T>(), I);
  blas::gemm_parallel<T>(true, false, GH, I, R, T(1), dgi, GH, in.x.ptr<T>(), I, T(0),
                         g.dw_ih.ptr<T>(), I);
  blas::gemm_parallel<T>(true, false, GH, H, R, T(1), dhg, GH, hprev, H, T(0), g.dw_hh.ptr<T>(),
                         H);
  for (int k = 1; k < plan.threads; ++k) add_to(db.get(), db.get() + k * nb, nb);
  if (g.db_ih.defined()) std::memcpy(g.db_ih.ptr<T>(), db.get(), sizeof(T) * GH);
  if (g.db_hh.defined())
    std::memcpy(g.db_hh.ptr<T>(), db.get() + (Cell::kSplit ? GH : 0), sizeof(T) * GH);
}

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
