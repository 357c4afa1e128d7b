// CPU runner of inference plans: weights packed once, the batch cut into chunks of sequences that
// each run through every layer with one thread's scratch buffers (a chunk's activations stay in
// cache; no synchronisation between layers). Small batches are one chunk on the calling thread.
// The layer kernels match the ops' semantics (conv1d, count pooling, RNN / LSTM / GRU, dense) and
// use the same activation formulas (plan_math.hpp); only GEMM summation order differs.
#include "plan.hpp"

#include <algorithm>
#include <cstring>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "parallel.hpp"
#include "plan_gemm.hpp"
#include "plan_math.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

namespace {

constexpr int64_t kMaxChunk = 64;        // sequences per chunk (a chunk's activations fit in L2)
constexpr double kParallelWork = 1.5e6;  // multiply-adds below which a call stays on one thread

template <class T>
struct Workspace {
  AlignedBuf<T> act[2], gates, h, c, hg;
  AlignedBuf<int64_t> len[2];
  int64_t bytes() const {
    return act[0].bytes() + act[1].bytes() + gates.bytes() + h.bytes() + c.bytes() +
           hg.bytes() + len[0].bytes() + len[1].bytes();
  }
};

template <class T>
inline void activate(Activation act, T* y, int64_t n) {
  apply(static_cast<int>(act), y, n);
}

template <class T>
inline void rnn_update(Cell cell, int64_t H, const T* g, T* h) {
  std::memcpy(h, g, sizeof(T) * H);
  apply(cell == Cell::rnn_tanh ? 3 : (cell == Cell::rnn_sigmoid ? 2 : 1), h, H);
}

template <class T>
void conv(const PlanLayer& l, const PackedWeight<T>& w, int64_t nb, int64_t t_in, const T* x,
          const int64_t* lin, T* y, int64_t* lout) {
  const int64_t C = l.cin, O = l.cout, To = t_in - l.k + 1;
  for (int64_t b = 0; b < nb; ++b) {
    int64_t rows = To;
    if (lin) {
      rows = std::max<int64_t>(lin[b] - l.k + 1, 0);
      lout[b] = rows;
    }
    T* yb = y + b * To * O;
    // Row t of the (implicit) im2col matrix is x[b, t : t + K, :], contiguous: rows Cin apart.
    gemm_packed(rows, x + b * t_in * C, C, w, yb, O, false);
    if (l.relu) activate(Activation::relu, yb, rows * O);
    if (rows < To) std::memset(yb + rows * O, 0, sizeof(T) * (To - rows) * O);
  }
}

template <class T>
void pool(const PlanLayer& l, int64_t nb, int64_t t_in, const T* x, const int64_t* lin, T* y,
          int64_t* lout) {
  const int64_t C = l.cin, W = plan_steps(l, t_in), size = l.win.size, stride = l.win.stride;
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t L = lin ? lin[b] : t_in;
    const int64_t ol = l.win.partial ? (L + stride - 1) / stride
                                     : (L >= size ? (L - size) / stride + 1 : 0);
    if (lout) lout[b] = ol;
    for (int64_t j = 0; j < W; ++j) {
      T* yr = y + (b * W + j) * C;
      if (j >= ol) {
        std::memset(yr, 0, sizeof(T) * C);
        continue;
      }
      const int64_t start = j * stride, n = std::min(L - start, size);
      const T* xr = x + (b * t_in + start) * C;
      std::memcpy(yr, xr, sizeof(T) * C);
      for (int64_t i = 1; i < n; ++i) {
        const T* xi = xr + i * C;
        if (l.mode == PoolMode::max) {
#pragma omp simd
          for (int64_t c = 0; c < C; ++c)  // NaN passes through, as in the pooling op
            yr[c] = xi[c] > yr[c] || xi[c] != xi[c] ? xi[c] : yr[c];
        } else {
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) yr[c] += xi[c];
        }
      }
      if (l.mode == PoolMode::mean) {
        const T s = T(1) / T(n);
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) yr[c] *= s;
      }
    }
  }
}

template <class T>
void recurrent(const PlanLayer& l, const PackedWeight<T>& w_ih, const PackedWeight<T>& w_hh,
               Workspace<T>& ws, int64_t nb, int64_t t_in, const T* x, const int64_t* lin,
               T* y) {
  const int64_t H = l.H, GH = l.G * l.H, TT = t_in;
  T* gx = ws.gates.get();
  gemm_packed(nb * TT, x, l.cin, w_ih, gx, GH, false);  // input part of every step + biases
  T* h = ws.h.get();
  T* c = ws.c.get();
  T* hg = ws.hg.get();
  std::memset(h, 0, sizeof(T) * nb * H);
  if (l.cell == Cell::lstm) std::memset(c, 0, sizeof(T) * nb * H);
  int64_t tmax = TT;
  if (lin) {
    tmax = 0;
    for (int64_t b = 0; b < nb; ++b) tmax = std::max(tmax, lin[b]);
  }
  for (int64_t t = 0; t < tmax; ++t) {
    if (l.cell == Cell::gru) gemm_packed(nb, h, H, w_hh, hg, GH, false);
    else gemm_packed(nb, h, H, w_hh, gx + t * GH, TT * GH, true);
    for (int64_t b = 0; b < nb; ++b) {
      T* yr = l.seq_out ? y + (b * TT + t) * H : nullptr;
      if (lin && t >= lin[b]) {
        if (yr) std::memset(yr, 0, sizeof(T) * H);
        continue;
      }
      const T* g = gx + (b * TT + t) * GH;
      T* hb = h + b * H;
      if (l.cell == Cell::lstm) lstm_update(H, g, hb, c + b * H);
      else if (l.cell == Cell::gru) gru_update(H, g, hg + b * GH, hb);
      else rnn_update(l.cell, H, g, hb);
      if (yr) std::memcpy(yr, hb, sizeof(T) * H);
    }
  }
  if (!l.seq_out) std::memcpy(y, h, sizeof(T) * nb * H);
  else if (tmax < TT)
    for (int64_t b = 0; b < nb; ++b)
      std::memset(y + (b * TT + tmax) * H, 0, sizeof(T) * (TT - tmax) * H);
}

template <class T>
class Runner final : public PlanRunner {
 public:
  Runner(const std::vector<PlanLayer>& layers, const std::vector<LayerSpec>& specs)
      : layers_(layers), w_(layers.size()), w_hh_(layers.size()), steps_(layers.size() + 1) {
    for (size_t i = 0; i < layers.size(); ++i) pack(layers[i], specs[i], w_[i], w_hh_[i]);
  }

  void run(int64_t B, int64_t T_, const void* xv, const int64_t* len, void* yv) override {
    const T* x = static_cast<const T*>(xv);
    T* y = static_cast<T*>(yv);
    const size_t L = layers_.size();
    steps_[0] = T_;
    double work = 0;  // multiply-adds per sequence
    for (size_t i = 0; i < L; ++i) {
      steps_[i + 1] = plan_steps(layers_[i], steps_[i]);
      work += cost(layers_[i], steps_[i], steps_[i + 1]);
    }
    int nth = 1;
#ifdef _OPENMP
    if (!omp_in_parallel() && work * static_cast<double>(B) >= kParallelWork) nth = max_threads();
#endif
    int64_t chunk = std::min<int64_t>((B + nth - 1) / nth, kMaxChunk);
    const int64_t nchunks = (B + chunk - 1) / chunk;
    nth = static_cast<int>(std::min<int64_t>(nth, nchunks));
    if (static_cast<int>(ws_.size()) < nth) ws_.resize(nth);
    for (int i = 0; i < nth; ++i) reserve(ws_[i], chunk);
    const Layout io{T_, len, out_row()};
    if (nth <= 1) {
      for (int64_t c = 0; c < nchunks; ++c) run_chunk(ws_[0], c * chunk, chunk, B, x, io, y);
      return;
    }
#ifdef _OPENMP
    RegionError err;
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1)
    for (int64_t c = 0; c < nchunks; ++c)
      err.run([&] { run_chunk(ws_[omp_get_thread_num()], c * chunk, chunk, B, x, io, y); });
    err.rethrow();
#endif
  }

  int64_t weight_bytes() const override {
    int64_t n = 0;
    for (size_t i = 0; i < w_.size(); ++i) n += w_[i].bytes() + w_hh_[i].bytes();
    return n;
  }
  int64_t scratch_bytes() const override {
    int64_t n = 0;
    for (const auto& w : ws_) n += w.bytes();
    return n;
  }

 private:
  struct Layout {
    int64_t steps;
    const int64_t* len;
    int64_t out_row;  // elements of one sequence's output
  };

  static void pack(const PlanLayer& l, const LayerSpec& s, PackedWeight<T>& w,
                   PackedWeight<T>& w_hh) {
    auto vec = [](const Tensor& t) { return t.defined() ? t.ptr<T>() : nullptr; };
    const T* b = vec(s.bias);
    auto bias = [b](int64_t n) { return b ? b[n] : T(0); };
    if (l.kind == LayerKind::conv1d) {  // [Cout, Cin, K] -> rows in (k, c) order
      const T* wt = s.weight.ptr<T>();
      const int64_t C = l.cin, K = l.k;
      w.pack(l.cout, K * C, [&](int64_t n, int64_t kc) {
        return wt[(n * C + kc % C) * K + kc / C];
      }, bias);
    } else if (l.kind == LayerKind::dense) {
      const T* wt = s.weight.ptr<T>();
      w.pack(l.cout, l.cin, [&](int64_t n, int64_t k) { return wt[n * l.cin + k]; }, bias);
    } else if (l.kind == LayerKind::recurrent) {
      const int64_t GH = l.G * l.H;
      const T *wi = s.w_ih.ptr<T>(), *wh = s.w_hh.ptr<T>(), *bi = vec(s.b_ih), *bh = vec(s.b_hh);
      const bool split = l.cell == Cell::gru;  // b_hh stays inside the reset gate
      w.pack(GH, l.cin, [&](int64_t n, int64_t k) { return wi[n * l.cin + k]; },
             [&](int64_t n) { return (bi ? bi[n] : T(0)) + (bh && !split ? bh[n] : T(0)); });
      w_hh.pack(GH, l.H, [&](int64_t n, int64_t k) { return wh[n * l.H + k]; },
                [&](int64_t n) { return bh && split ? bh[n] : T(0); });
    }
  }

  static double cost(const PlanLayer& l, int64_t t_in, int64_t t_out) {
    const double ti = static_cast<double>(t_in), to = static_cast<double>(t_out);
    switch (l.kind) {
      case LayerKind::conv1d: return to * l.cout * l.k * l.cin;
      case LayerKind::pool: return ti * l.cin;
      case LayerKind::recurrent: return ti * l.G * l.H * (l.cin + l.H + 8);
      case LayerKind::dense: return (l.seq_in ? ti : 1.0) * l.cout * (l.cin + 4);
    }
    return 0;
  }

  int64_t out_row() const {
    if (layers_.empty()) return 0;
    const PlanLayer& l = layers_.back();
    return (l.seq_out ? steps_.back() : 1) * l.cout;
  }

  void reserve(Workspace<T>& ws, int64_t nb) const {
    int64_t act = 0, gates = 0, h = 0, hg = 0;
    for (size_t i = 0; i < layers_.size(); ++i) {
      const PlanLayer& l = layers_[i];
      if (i + 1 < layers_.size())
        act = std::max(act, nb * (l.seq_out ? steps_[i + 1] : 1) * l.cout);
      if (l.kind == LayerKind::recurrent) {
        gates = std::max(gates, nb * steps_[i] * l.G * l.H);
        h = std::max(h, nb * l.H);
        if (l.cell == Cell::gru) hg = std::max(hg, nb * l.G * l.H);
      }
    }
    ws.act[0].reserve(act);
    ws.act[1].reserve(act);
    ws.gates.reserve(gates + kPad);  // slack for the cell updates' whole-vector reads
    ws.h.reserve(h + kPad);
    ws.c.reserve(h + kPad);
    ws.hg.reserve(hg + kPad);
    ws.len[0].reserve(nb);
    ws.len[1].reserve(nb);
  }

  void run_chunk(Workspace<T>& ws, int64_t b0, int64_t chunk, int64_t B, const T* x,
                 const Layout& io, T* y) const {
    const int64_t nb = std::min(chunk, B - b0);
    const T* in = x + b0 * io.steps * (layers_.empty() ? 0 : layers_[0].cin);
    const int64_t* lin = io.len ? io.len + b0 : nullptr;
    int which = 0, lw = 0;
    for (size_t i = 0; i < layers_.size(); ++i) {
      const PlanLayer& l = layers_[i];
      const int64_t t_in = steps_[i];
      const bool last = i + 1 == layers_.size();
      T* out = last ? y + b0 * io.out_row : ws.act[which].get();
      int64_t* lout = lin ? ws.len[lw].get() : nullptr;
      switch (l.kind) {
        case LayerKind::conv1d: conv(l, w_[i], nb, t_in, in, lin, out, lout); break;
        case LayerKind::pool: pool(l, nb, t_in, in, lin, out, lout); break;
        case LayerKind::recurrent: recurrent(l, w_[i], w_hh_[i], ws, nb, t_in, in, lin, out); break;
        case LayerKind::dense: {
          const int64_t rows = l.seq_in ? nb * t_in : nb;
          gemm_packed(rows, in, l.cin, w_[i], out, l.cout, false);
          activate(l.act, out, rows * l.cout);
          break;
        }
      }
      if (lin && (l.kind == LayerKind::conv1d || l.kind == LayerKind::pool)) {
        lin = lout;
        lw ^= 1;
      }
      if (l.kind == LayerKind::recurrent && !l.seq_out) lin = nullptr;
      in = out;
      which ^= 1;
    }
  }

  std::vector<PlanLayer> layers_;
  std::vector<PackedWeight<T>> w_, w_hh_;  // conv1d / dense / w_ih (+ bias), w_hh
  std::vector<Workspace<T>> ws_;           // one per thread, grown to the largest call
  std::vector<int64_t> steps_;             // steps_[i]: input steps of layer i in this call
};

}  // namespace

template <class T>
std::unique_ptr<PlanRunner> make_plan_runner(const std::vector<PlanLayer>& layers,
                                             const std::vector<LayerSpec>& specs) {
  return std::make_unique<Runner<T>>(layers, specs);
}

template std::unique_ptr<PlanRunner> make_plan_runner<float>(const std::vector<PlanLayer>&,
                                                             const std::vector<LayerSpec>&);
template std::unique_ptr<PlanRunner> make_plan_runner<double>(const std::vector<PlanLayer>&,
                                                              const std::vector<LayerSpec>&);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
