#pragma once
// The CPU recurrent driver shared by RNN / LSTM / GRU. A cell type supplies the gate math for a
// row over a range of hidden units (`forward_row`, `backward_row`); the driver does the batched
// input projection (one GEMM over the valid steps), the per-step recurrent product, length
// masking, and the weight gradients as three GEMMs over the valid steps at the end.
//
// Cost follows the valid steps, not the padded B*T slots: rows are stepped longest first
// (RowOrder), so the per-step products cover just the rows still running; the states live in
// compact buffers in that order; and with padding the big GEMMs run over the valid steps packed
// b-major (gathered before, scattered after), which is the [B, T] layout itself without padding.
//
// Threads split the work of the time loop in one of two ways (StepPlan):
//  * rows: each thread owns a group of batch rows and runs all T steps on it, no synchronisation;
//  * units (B smaller than the team): every thread works on all rows but owns a range of hidden
//    units, i.e. its slice of every gate's columns; one barrier per step publishes h_t / dh_t.
// The per-step products go through step_gemm on weights packed once per pass (a BLAS would
// pack them again on each of the T calls); the BLAS serves the big GEMMs.
// No allocation or Python inside the time loop.
#include <cstring>

#include "../blas.hpp"
#include "chronoscale/recurrent.hpp"
#include "steps.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

// Cell concept:
//   static constexpr int G; bool kSplit (the GRU keeps W_hh h + b_hh apart from the input part);
//   bool kHasC (LSTM cell state); bool kHasAux (cache.aux used).
//   forward_row(n, H, gi, g, hg, bi, bh, h, c, aux): units j < n; gate k of unit j at [k*H + j].
//     gi holds the input projection, hg the recurrent product W_hh h; the saved activations go
//     to g (may be gi); bi / bh the biases; h, c updated in place.
//   backward_row(n, H, dy, g, aux, hprev, cprev, dh, dc, dgi, dhg): dh holds dL/dh_t on entry
//     (without dy) and the direct part of dL/dh_{t-1} on exit; dc likewise.
template <class Cell, class T>
void recurrent_forward_cpu(const Cell& cell, const RecurrentDims& d, const RecurrentInputs& in,
                           const RecurrentOutputs& out) {
  const int64_t B = d.B, T_ = d.T, I = d.I, H = d.H, G = d.G, GH = d.G * d.H;
  const T* w_hh = in.w_hh.ptr<T>();
  const T* b_ih = in.b_ih.defined() ? in.b_ih.ptr<T>() : nullptr;
  const T* b_hh = in.b_hh.defined() ? in.b_hh.ptr<T>() : nullptr;
  const T* h0 = in.h0.defined() ? in.h0.ptr<T>() : nullptr;
  const T* c0 = in.c0.defined() ? in.c0.ptr<T>() : nullptr;
  T* y = out.y.ptr<T>();
  T* gates = out.cache.gates.ptr<T>();
  T* hprev = out.cache.hprev.ptr<T>();
  T* aux = Cell::kHasAux ? out.cache.aux.ptr<T>() : nullptr;

  RowOrder order(in.lengths.defined() ? in.lengths.ptr<int64_t>() : nullptr, B, T_);
  const StepPlan plan = plan_steps(d, order.valid());
  // x @ W_ih^T straight into cache.gates, or for the valid steps only, packed.
  const T* proj = gates;
  if (!order.full() && order.valid() > 0) {
    T* xg = workspace<T>(order.valid() * (I + GH));
    T* pg = xg + order.valid() * I;
    repack_rows<T>(order, B, T_, I, in.x.ptr<T>(), xg, true);
    blas::gemm_parallel<T>(false, true, order.valid(), GH, I, T(1), xg, I, in.w_ih.ptr<T>(), I,
                           T(0), pg, GH);
    proj = pg;
  } else if (order.full()) {
    blas::gemm_parallel<T>(false, true, B * T_, GH, I, T(1), in.x.ptr<T>(), I, in.w_ih.ptr<T>(),
                           I, T(0), gates, GH);
  }
  // Biases are added inside the gate math: bi to the input part, bh to the recurrent part.
  auto bias = scratch<T>(2 * GH);
  T *bi = bias.get(), *bh = bias.get() + GH;
  for (int64_t j = 0; j < GH; ++j) {
    bi[j] = (b_ih ? b_ih[j] : T(0)) + (b_hh && !Cell::kSplit ? b_hh[j] : T(0));
    bh[j] = b_hh && Cell::kSplit ? b_hh[j] : T(0);
  }
  // States h, c and the recurrent products of row position i at i * H, i * GH.
  auto store = scratch<T>(B * ((Cell::kHasC ? 2 : 1) * H + GH));
  T* hs_all = store.get();
  T* cs_all = hs_all + B * H;
  T* hg_all = hs_all + B * (Cell::kHasC ? 2 : 1) * H;
  auto arows = std::unique_ptr<const T*[]>(new const T*[plan.units ? plan.threads * B : 1]);
  std::vector<StepWeights<T>> wps;

  auto setup = step_team_setup<T>(true, plan, order, d, wps);
  parallel_team(plan.threads, setup, [&](int tid, int nth) {
    // (plain variables, not a structured binding: the lambdas below capture them, which
    // clang accepts from version 16 only)
    const TeamShare share = team_share(plan, order, H, tid, nth);
    const int64_t u0 = share.u0, nu = share.nu, n = share.n, i0 = share.i0;
    const int64_t* rows = share.rows;
    T* hs = hs_all + i0 * H;
    T* cs = cs_all + i0 * H;
    T* hg = hg_all + i0 * GH;
    StepWeights<T>& wp = wps[tid];
    wp.pack(w_hh);
    auto unit_copy = [&](T* dst, const T* src) {
      if (src) std::memcpy(dst, src + u0, sizeof(T) * nu);
      else std::memset(dst, 0, sizeof(T) * nu);
    };
    for (int64_t i = 0; i < n; ++i) {
      const int64_t b = rows[i];
      unit_copy(hs + i * H + u0, h0 ? h0 + b * H : nullptr);
      if (Cell::kHasC) unit_copy(cs + i * H + u0, c0 ? c0 + b * H : nullptr);
      std::memcpy(hprev + b * T_ * H + u0, hs + i * H + u0, sizeof(T) * nu);
    }
    if (plan.units) barrier(nth);
    int64_t na = n;  // rows[0, na) still running
    for (int64_t t = 0; t < T_; ++t) {
      na = order.running_down(rows, na, t);
      if (na == 0) break;
      // hg = h_{t-1} @ W_hh^T for the running rows and this thread's columns (zero at t = 0
      // without h0). Split by units, h_{t-1} is read from the cache, which no thread writes
      // during step t.
      if (t == 0 && !h0) {
        for (int64_t i = 0; i < na; ++i)
          for (int64_t k = 0; k < G; ++k) std::memset(hg + i * GH + k * H + u0, 0, sizeof(T) * nu);
      } else if (!plan.units) {
        step_gemm<T>(na, GH, H, hs, H, wp.data.get(), hg, GH, false);
      } else if (nu > 0) {
        const T** A = arows.get() + tid * B;
        for (int64_t i = 0; i < na; ++i) A[i] = hprev + (rows[i] * T_ + t) * H;
        for (int64_t k = 0; k < G; ++k)
          step_gemm_rows<T>(na, nu, H, A, wp.data.get() + k * wp.group, hg + k * H + u0, GH,
                            false);
      }
      for (int64_t i = 0; i < na && nu > 0; ++i) {
        const int64_t b = rows[i], r = b * T_ + t;
        T* h = hs + i * H + u0;
        cell.forward_row(nu, H, proj + order.packed(b, t) * GH + u0, gates + r * GH + u0,
                         hg + i * GH + u0, bi + u0, bh + u0, h,
                         Cell::kHasC ? cs + i * H + u0 : nullptr,
                         aux ? aux + r * H + u0 : nullptr);
        std::memcpy(y + r * H + u0, h, sizeof(T) * nu);
        if (t + 1 < T_) std::memcpy(hprev + (r + 1) * H + u0, h, sizeof(T) * nu);
      }
      if (plan.units) barrier(nth);
    }
    // Past each length: zero outputs and the state carried unchanged; then h_n, c_n.
    for (int64_t i = 0; i < n && nu > 0; ++i) {
      const int64_t b = rows[i], L = order.length(b);
      const T* h = hs + i * H + u0;
      for (int64_t t = L; t < T_; ++t) {
        std::memset(y + (b * T_ + t) * H + u0, 0, sizeof(T) * nu);
        if (t > L) std::memcpy(hprev + (b * T_ + t) * H + u0, h, sizeof(T) * nu);
      }
      std::memcpy(out.h_n.ptr<T>() + b * H + u0, h, sizeof(T) * nu);
      if (Cell::kHasC) std::memcpy(out.c_n.ptr<T>() + b * H + u0, cs + i * H + u0, sizeof(T) * nu);
    }
  });
}

template <class Cell, class T>
void recurrent_backward_cpu(const Cell& cell, const RecurrentDims& d, const Tensor& dy_t,
                            const Tensor& dh_n, const Tensor& dc_n, const RecurrentInputs& in,
                            const RecurrentOutputs& fwd, const RecurrentGrads& g) {
  const int64_t B = d.B, T_ = d.T, I = d.I, H = d.H, G = d.G, GH = d.G * d.H;
  const T* dy = dy_t.defined() ? dy_t.ptr<T>() : nullptr;
  const T* gates = fwd.cache.gates.ptr<T>();
  const T* hprev = fwd.cache.hprev.ptr<T>();
  const T* aux = Cell::kHasAux ? fwd.cache.aux.ptr<T>() : nullptr;
  const T* c0 = Cell::kHasC && in.c0.defined() ? in.c0.ptr<T>() : nullptr;

  RowOrder order(in.lengths.defined() ? in.lengths.ptr<int64_t>() : nullptr, B, T_);
  const StepPlan plan = plan_steps(d, order.valid());
  const int64_t N = order.valid(), packed = order.full() ? 0 : N;
  // Gate gradients of the valid steps (packed), then x / hprev gathered and dx for them.
  T* dgi = workspace<T>((Cell::kSplit ? 2 : 1) * N * GH + packed * (2 * I + H));
  T* dhg = Cell::kSplit ? dgi + N * GH : dgi;
  T* xg = dgi + (Cell::kSplit ? 2 : 1) * N * GH;
  T* hpg = xg + packed * I;
  T* dxg = hpg + packed * H;
  auto store = scratch<T>((Cell::kHasC ? 2 : 1) * B * H + H);
  T* dhs_all = store.get();
  T* dcs_all = dhs_all + B * H;
  T* zeros = dhs_all + (Cell::kHasC ? 2 : 1) * B * H;
  std::memset(zeros, 0, sizeof(T) * H);
  // Bias gradients are column sums of dgi / dhg, summed per thread while the rows are hot.
  const int64_t nb = Cell::kSplit ? 2 * GH : GH;
  auto db = scratch<T>(plan.threads * nb);
  std::memset(db.get(), 0, sizeof(T) * plan.threads * nb);
  auto arows = std::unique_ptr<const T*[]>(new const T*[plan.threads * B]);  // per thread
  std::vector<StepWeights<T>> wps;

  auto setup = step_team_setup<T>(false, plan, order, d, wps);
  parallel_team(plan.threads, setup, [&](int tid, int nth) {
    // (plain variables, not a structured binding: the lambdas below capture them, which
    // clang accepts from version 16 only)
    const TeamShare share = team_share(plan, order, H, tid, nth);
    const int64_t u0 = share.u0, nu = share.nu, n = share.n, i0 = share.i0;
    const int64_t* rows = share.rows;
    T* dhs = dhs_all + i0 * H;
    T* dcs = dcs_all + i0 * H;
    const T** A = arows.get() + tid * B;
    StepWeights<T>& wp = wps[tid];
    wp.pack(in.w_hh.ptr<T>());
    T* dbt = db.get() + tid * nb;
    for (int64_t i = 0; i < n && nu > 0; ++i) {
      const int64_t b = rows[i];
      const Tensor* src[2] = {&dh_n, &dc_n};
      T* dst[2] = {dhs + i * H + u0, dcs + i * H + u0};
      for (int k = 0; k < (Cell::kHasC ? 2 : 1); ++k) {
        if (src[k]->defined())
          std::memcpy(dst[k], src[k]->ptr<T>() + b * H + u0, sizeof(T) * nu);
        else
          std::memset(dst[k], 0, sizeof(T) * nu);
      }
    }
    int64_t na = 0;  // rows[0, na) running at step t
    for (int64_t t = T_ - 1; t >= 0; --t) {
      na = order.running_up(rows, na, n, t);
      if (na == 0) continue;
      for (int64_t i = 0; i < na && nu > 0; ++i) {
        const int64_t b = rows[i], r = b * T_ + t, p = order.packed(b, t);
        const T* cprev = nullptr;
        if (Cell::kHasC) cprev = t > 0 ? aux + (r - 1) * H : (c0 ? c0 + b * H : zeros);
        cell.backward_row(nu, H, (dy ? dy + r * H : zeros) + u0, gates + r * GH + u0,
                          aux ? aux + r * H + u0 : nullptr, hprev + r * H + u0,
                          cprev ? cprev + u0 : nullptr, dhs + i * H + u0,
                          Cell::kHasC ? dcs + i * H + u0 : nullptr, dgi + p * GH + u0,
                          Cell::kSplit ? dhg + p * GH + u0 : nullptr);
        for (int64_t k = 0; k < G; ++k) {
          add_to(dbt + k * H + u0, dgi + p * GH + k * H + u0, nu);
          if (Cell::kSplit) add_to(dbt + GH + k * H + u0, dhg + p * GH + k * H + u0, nu);
        }
      }
      for (int64_t i = 0; i < na; ++i) A[i] = dhg + order.packed(rows[i], t) * GH;
      if (plan.units) barrier(nth);
      // dh (+)= dg_t @ W_hh for the running rows and this thread's units; at t = 0 it only
      // makes dh0.
      if (nu > 0 && (t > 0 || g.dh0.defined()))
        step_gemm_rows<T>(na, nu, GH, A, wp.data.get(), dhs + u0, H, true);
    }
    for (int64_t i = 0; i < n && nu > 0; ++i) {
      const int64_t b = rows[i];
      if (g.dh0.defined())
        std::memcpy(g.dh0.ptr<T>() + b * H + u0, dhs + i * H + u0, sizeof(T) * nu);
      if (Cell::kHasC && g.dc0.defined())
        std::memcpy(g.dc0.ptr<T>() + b * H + u0, dcs + i * H + u0, sizeof(T) * nu);
    }
  });

  T* dx = g.dx.ptr<T>();
  if (N == 0) {
    std::memset(dx, 0, sizeof(T) * B * T_ * I);
    std::memset(g.dw_ih.ptr<T>(), 0, sizeof(T) * GH * I);
    std::memset(g.dw_hh.ptr<T>(), 0, sizeof(T) * GH * H);
  } else {
    const T* x = in.x.ptr<T>();
    if (packed) {
      repack_rows<T>(order, B, T_, I, x, xg, true);
      repack_rows<T>(order, B, T_, H, hprev, hpg, true);
      x = xg;
      hprev = hpg;
    }
    blas::gemm_parallel<T>(false, false, N, I, GH, T(1), dgi, GH, in.w_ih.ptr<T>(), I, T(0),
                           packed ? dxg : dx, I);
    if (packed) repack_rows<T>(order, B, T_, I, dxg, dx, false);
    blas::gemm_parallel<T>(true, false, GH, I, N, T(1), dgi, GH, x, I, T(0), g.dw_ih.ptr<T>(), I);
    blas::gemm_parallel<T>(true, false, GH, H, N, T(1), dhg, GH, hprev, H, T(0),
                           g.dw_hh.ptr<T>(), H);
  }
  for (int k = 1; k < plan.threads; ++k) add_to(db.get(), db.get() + k * nb, nb);
  if (g.db_ih.defined()) std::memcpy(g.db_ih.ptr<T>(), db.get(), sizeof(T) * GH);
  if (g.db_hh.defined())
    std::memcpy(g.db_hh.ptr<T>(), db.get() + (Cell::kSplit ? GH : 0), sizeof(T) * GH);
}

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
