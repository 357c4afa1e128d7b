#pragma once
// The CPU recurrent driver shared by RNN / LSTM / GRU. A cell type supplies the per-row gate math
// (`forward_row`, `backward_row`); the driver does the batched input projection (one GEMM over all
// B*T rows), the per-step recurrent GEMM, length masking, and the weight gradients as three GEMMs
// over all steps at the end. Threads split the batch: each runs the whole time loop on its rows
// with a single-threaded BLAS, so there is no synchronisation per step. No allocation or Python
// inside the time loop.
#include <cstring>
#include <memory>

#include "../blas.hpp"
#include "chronoscale/recurrent.hpp"
#include "parallel.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class T>
std::unique_ptr<T[]> scratch(int64_t n) {
  return std::unique_ptr<T[]>(new T[n > 0 ? n : 1]);
}

// Cell concept:
//   static constexpr int G; bool kSplit (W_hh h + b_hh kept apart from the input part: GRU);
//   bool kHasC (LSTM cell state); bool kHasAux (cache.aux used);
//   forward_row(H, g, hg, h, c, aux): g holds pre-activations on entry (input part, plus the
//     recurrent part unless kSplit) and the saved activations on exit; h, c updated in place.
//   backward_row(H, dy, g, aux, hprev, cprev, dh, dc, dgi, dhg): dh holds dL/dh_t on entry
//     (without dy) and the direct part of dL/dh_{t-1} on exit; dc likewise.
template <class Cell, class T>
void recurrent_forward_cpu(const Cell& cell, const RecurrentDims& d, const RecurrentInputs& in,
                           const RecurrentOutputs& out) {
  const int64_t B = d.B, T_ = d.T, I = d.I, H = d.H, GH = d.G * d.H;
  const T* x = in.x.ptr<T>();
  const T* w_ih = in.w_ih.ptr<T>();
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
  T* h_n = out.h_n.ptr<T>();
  T* c_n = Cell::kHasC ? out.c_n.ptr<T>() : nullptr;

  // Input projection for every step at once, with the biases folded in.
  blas::gemm_parallel<T>(false, true, B * T_, GH, I, T(1), x, I, w_ih, I, T(0), gates, GH);
  if (b_ih || (b_hh && !Cell::kSplit)) {
    parallel_for(B * T_, GH, [&](int64_t r) {
      T* g = gates + r * GH;
      for (int64_t j = 0; j < GH; ++j)
        g[j] += (b_ih ? b_ih[j] : T(0)) + (b_hh && !Cell::kSplit ? b_hh[j] : T(0));
    });
  }

  // The recurrence: each thread owns a block of batch rows for all T steps (rows are independent,
  // so no barrier per step); the state of a block lives in h_n / c_n.
  parallel_blocks(B, B * T_ * GH * H, [&](int64_t b0, int64_t b1) {
    const int64_t nb = b1 - b0;
    T* h = h_n + b0 * H;
    T* c = Cell::kHasC ? c_n + b0 * H : nullptr;
    auto hg = scratch<T>(Cell::kSplit ? nb * GH : 0);
    if (h0) std::memcpy(h, h0 + b0 * H, sizeof(T) * nb * H);
    else std::memset(h, 0, sizeof(T) * nb * H);
    if (Cell::kHasC) {
      if (c0) std::memcpy(c, c0 + b0 * H, sizeof(T) * nb * H);
      else std::memset(c, 0, sizeof(T) * nb * H);
    }
    for (int64_t t = 0; t < T_; ++t) {
      for (int64_t b = b0; b < b1; ++b)
        std::memcpy(hprev + (b * T_ + t) * H, h + (b - b0) * H, sizeof(T) * H);
      bool any = !len;
      for (int64_t b = b0; b < b1 && !any; ++b) any = len[b] > t;
      if (any) {
        if (Cell::kSplit) {
          blas::gemm<T>(false, true, nb, GH, H, T(1), h, H, w_hh, H, T(0), hg.get(), GH);
          if (b_hh)
            for (int64_t r = 0; r < nb; ++r)
              for (int64_t j = 0; j < GH; ++j) hg[r * GH + j] += b_hh[j];
        } else {
          blas::gemm<T>(false, true, nb, GH, H, T(1), h, H, w_hh, H, T(1),
                        gates + (b0 * T_ + t) * GH, T_ * GH);
        }
      }
      for (int64_t b = b0; b < b1; ++b) {
        T* yr = y + (b * T_ + t) * H;
        if (len && t >= len[b]) {
          std::memset(yr, 0, sizeof(T) * H);
          continue;
        }
        T* hr = h + (b - b0) * H;
        cell.forward_row(H, gates + (b * T_ + t) * GH,
                         Cell::kSplit ? hg.get() + (b - b0) * GH : nullptr, hr,
                         Cell::kHasC ? c + (b - b0) * H : nullptr,
                         aux ? aux + (b * T_ + t) * H : nullptr);
        std::memcpy(yr, hr, sizeof(T) * H);
      }
    }
  });
}

template <class Cell, class T>
void recurrent_backward_cpu(const Cell& cell, const RecurrentDims& d, const Tensor& dy_t,
                            const Tensor& dh_n, const Tensor& dc_n, const RecurrentInputs& in,
                            const RecurrentOutputs& fwd, const RecurrentGrads& g) {
  const int64_t B = d.B, T_ = d.T, I = d.I, H = d.H, GH = d.G * d.H;
  const T* x = in.x.ptr<T>();
  const T* w_ih = in.w_ih.ptr<T>();
  const T* w_hh = in.w_hh.ptr<T>();
  const int64_t* len = in.lengths.defined() ? in.lengths.ptr<int64_t>() : nullptr;
  const T* dy = dy_t.defined() ? dy_t.ptr<T>() : nullptr;
  const T* gates = fwd.cache.gates.ptr<T>();
  const T* hprev = fwd.cache.hprev.ptr<T>();
  const T* aux = Cell::kHasAux ? fwd.cache.aux.ptr<T>() : nullptr;
  const T* c0 = Cell::kHasC && in.c0.defined() ? in.c0.ptr<T>() : nullptr;

  auto dgi = scratch<T>(B * T_ * GH);
  auto dhg_store = scratch<T>(Cell::kSplit ? B * T_ * GH : 0);
  T* dhg = Cell::kSplit ? dhg_store.get() : dgi.get();
  auto dh_all = scratch<T>(B * H);
  auto dc_all = scratch<T>(Cell::kHasC ? B * H : 0);

  parallel_blocks(B, B * T_ * GH * H, [&](int64_t b0, int64_t b1) {
    const int64_t nb = b1 - b0;
    T* dh = dh_all.get() + b0 * H;
    T* dc = Cell::kHasC ? dc_all.get() + b0 * H : nullptr;
    auto zeros = scratch<T>(H);
    std::memset(zeros.get(), 0, sizeof(T) * H);
    if (dh_n.defined()) std::memcpy(dh, dh_n.ptr<T>() + b0 * H, sizeof(T) * nb * H);
    else std::memset(dh, 0, sizeof(T) * nb * H);
    if (Cell::kHasC) {
      if (dc_n.defined()) std::memcpy(dc, dc_n.ptr<T>() + b0 * H, sizeof(T) * nb * H);
      else std::memset(dc, 0, sizeof(T) * nb * H);
    }
    for (int64_t t = T_ - 1; t >= 0; --t) {
      bool any = false;
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t r = b * T_ + t;
        if (len && t >= len[b]) {
          std::memset(dgi.get() + r * GH, 0, sizeof(T) * GH);
          if (Cell::kSplit) std::memset(dhg + r * GH, 0, sizeof(T) * GH);
          continue;
        }
        any = true;
        const T* cprev = nullptr;
        if (Cell::kHasC) cprev = t > 0 ? aux + (r - 1) * H : (c0 ? c0 + b * H : zeros.get());
        cell.backward_row(H, dy ? dy + r * H : zeros.get(), gates + r * GH,
                          aux ? aux + r * H : nullptr, hprev + r * H, cprev, dh + (b - b0) * H,
                          Cell::kHasC ? dc + (b - b0) * H : nullptr, dgi.get() + r * GH,
                          Cell::kSplit ? dhg + r * GH : nullptr);
      }
      if (any)
        blas::gemm<T>(false, false, nb, H, GH, T(1), dhg + (b0 * T_ + t) * GH, T_ * GH, w_hh, H,
                      T(1), dh, H);
    }
  });
  if (g.dh0.defined()) std::memcpy(g.dh0.ptr<T>(), dh_all.get(), sizeof(T) * B * H);
  if (Cell::kHasC && g.dc0.defined())
    std::memcpy(g.dc0.ptr<T>(), dc_all.get(), sizeof(T) * B * H);

  const int64_t R = B * T_;
  blas::gemm_parallel<T>(false, false, R, I, GH, T(1), dgi.get(), GH, w_ih, I, T(0),
                         g.dx.ptr<T>(), I);
  blas::gemm_parallel<T>(true, false, GH, I, R, T(1), dgi.get(), GH, x, I, T(0),
                         g.dw_ih.ptr<T>(), I);
  blas::gemm_parallel<T>(true, false, GH, H, R, T(1), dhg, GH, hprev, H, T(0), g.dw_hh.ptr<T>(),
                         H);
  if (g.db_ih.defined()) column_sum(dgi.get(), R, GH, g.db_ih.ptr<T>());
  if (g.db_hh.defined()) column_sum(dhg, R, GH, g.db_hh.ptr<T>());
}

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
