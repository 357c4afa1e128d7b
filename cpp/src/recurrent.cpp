// Device-neutral entry points of the recurrent cells: validate once, then dispatch on device,
// cell and dtype.
#include "chronoscale/recurrent.hpp"

#include "cpu/cells.hpp"
#include "cuda_dispatch.hpp"
#include "validate.hpp"
#ifdef CHRONOSCALE_WITH_CUDA
#include "recurrent.cuh"
#endif

namespace chronoscale {
inline namespace v1 {

int gate_count(Cell cell) {
  switch (cell) {
    case Cell::lstm: return 4;
    case Cell::gru: return 3;
    default: return 1;
  }
}

const char* cell_name(Cell cell) {
  switch (cell) {
    case Cell::rnn_tanh: return "rnn(tanh)";
    case Cell::rnn_sigmoid: return "rnn(sigmoid)";
    case Cell::rnn_relu: return "rnn(relu)";
    case Cell::lstm: return "lstm";
    case Cell::gru: return "gru";
  }
  return "?";
}

// Shapes named with where their dims come from: a wrong x shows up as a mismatch of another
// argument ("h0 must have shape [B, H] (B from x, ...) = [4, 5], got [3, 5]").
constexpr const char* kBH = "[B, H] (B from x, H from w_hh)";
constexpr const char* kBTH = "[B, T, H] (B, T from x, H from w_hh)";

RecurrentDims recurrent_check(Cell cell, const RecurrentInputs& in) {
  const auto [B, T, I] = check::sequence(in.x, "x", "[B, T, I]");
  const int64_t G = gate_count(cell);
  check::like(in.w_hh, in.x, "w_hh", "x");
  check::shape(in.w_hh, "w_hh", {-1, -1}, "[G*H, H]");
  const int64_t H = in.w_hh.shape[1];
  CS_CHECK(H > 0, ValueError, "w_hh: hidden size H must be > 0");
  CS_CHECK(H <= (int64_t(1) << 31) / G, ValueError, "w_hh: hidden size H = ", H,
           " is too large (G * H must be at most 2^31, the BLAS index range)");
  check::shape(in.w_hh, "w_hh", {G * H, H}, G == 4 ? "[4H, H]" : (G == 3 ? "[3H, H]" : "[H, H]"));
  check::like(in.w_ih, in.x, "w_ih", "x");
  check::shape(
      in.w_ih, "w_ih", {G * H, I},
      G == 4 ? "[4H, I] (H from w_hh, I from x)"
             : (G == 3 ? "[3H, I] (H from w_hh, I from x)" : "[H, I] (H from w_hh, I from x)"));
  for (auto [t, name] : {std::pair{&in.b_ih, "b_ih"}, std::pair{&in.b_hh, "b_hh"}}) {
    if (!t->defined()) continue;
    check::like(*t, in.x, name, "x");
    check::shape(*t, name, {G * H}, G == 4 ? "[4H]" : (G == 3 ? "[3H]" : "[H]"));
  }
  if (in.h0.defined()) {
    check::like(in.h0, in.x, "h0", "x");
    check::shape(in.h0, "h0", {B, H}, kBH);
  }
  if (in.c0.defined()) {
    CS_CHECK(cell == Cell::lstm, ValueError, "c0 is only used by the LSTM, not by ",
             cell_name(cell));
    check::like(in.c0, in.x, "c0", "x");
    check::shape(in.c0, "c0", {B, H}, kBH);
  }
  check::lengths(in.lengths, B, T);
  return {B, T, I, H, G};
}

namespace {

void check_out(const Tensor& t, const Tensor& x, const char* name,
               std::initializer_list<int64_t> dims, const char* expect) {
  check::like_shape(t, x, name, "x", dims, expect);
}

void check_cache(Cell cell, const RecurrentDims& d, const RecurrentCache& c, const Tensor& x) {
  check_out(c.gates, x, "cache.gates", {d.B, d.T, d.G * d.H},
            "[B, T, G*H] (B, T from x, H from w_hh)");
  check_out(c.hprev, x, "cache.hprev", {d.B, d.T, d.H}, kBTH);
  if (cell == Cell::lstm || cell == Cell::gru)
    check_out(c.aux, x, "cache.aux", {d.B, d.T, d.H}, kBTH);
}

using check::Named;

const Tensor kNone{};

// (outputs a cell does not write, c_n / dc0 outside the LSTM, count as absent; c0 and dc_n are
// refused outside the LSTM by the checks above)
const Tensor& if_lstm(Cell cell, const Tensor& t) {
  return cell == Cell::lstm ? t : kNone;
}

Named inputs_of(const RecurrentInputs& in) {
  return {{&in.x, "x"},       {&in.w_ih, "w_ih"}, {&in.w_hh, "w_hh"}, {&in.b_ih, "b_ih"},
          {&in.b_hh, "b_hh"}, {&in.h0, "h0"},     {&in.c0, "c0"},     {&in.lengths, "lengths"}};
}
Named cache_of(Cell cell, const RecurrentCache& c) {
  const bool aux = cell == Cell::lstm || cell == Cell::gru;
  return {
      {&c.gates, "cache.gates"}, {&c.hprev, "cache.hprev"}, {aux ? &c.aux : &kNone, "cache.aux"}};
}

// The arrays of a call, together: what it writes aliases nothing (check::no_aliasing); CUDA
// views need a CUDA build, a device and device pointers on the current device (all checked
// before any kernel touches them). Absent optional views are skipped.
void check_views(Cell cell, const Named& writes, const Named& reads) {
  check::no_aliasing(writes, reads);
  for (const auto& [t, name] : check::joined(writes, reads))
    check::cuda_usable(*t, cell_name(cell), name);
}

[[maybe_unused]] bool on_cuda(const Tensor& x) { return x.device == Device::cuda; }

}  // namespace

RecurrentDims recurrent_forward_check(Cell cell, const RecurrentInputs& in,
                                      const RecurrentOutputs& out) {
  const RecurrentDims d = recurrent_check(cell, in);
  check_out(out.y, in.x, "y", {d.B, d.T, d.H}, kBTH);
  check_out(out.h_n, in.x, "h_n", {d.B, d.H}, kBH);
  if (cell == Cell::lstm) check_out(out.c_n, in.x, "c_n", {d.B, d.H}, kBH);
  check_cache(cell, d, out.cache, in.x);
  check_views(cell,
              check::joined({{&out.y, "y"}, {&out.h_n, "h_n"}, {&if_lstm(cell, out.c_n), "c_n"}},
                            cache_of(cell, out.cache)),
              inputs_of(in));
  return d;
}

void recurrent_forward(Cell cell, const RecurrentInputs& in, const RecurrentOutputs& out,
                       void* stream) {
  (void)stream;  // used by the CUDA branch only
  const RecurrentDims d = recurrent_forward_check(cell, in, out);
  CS_DISPATCH_FLOAT(in.x.dtype, cell_name(cell), [&] {
#ifdef CHRONOSCALE_WITH_CUDA
    if (on_cuda(in.x)) return cuda::recurrent_forward<scalar_t>(cell, d, in, out, stream);
#endif
    switch (cell) {
      case Cell::lstm: return cpu::lstm_forward<scalar_t>(d, in, out);
      case Cell::gru: return cpu::gru_forward<scalar_t>(d, in, out);
      default: return cpu::rnn_forward<scalar_t>(cell, d, in, out);
    }
  });
}

RecurrentDims recurrent_backward_check(Cell cell, const Tensor& dy, const Tensor& dh_n,
                                       const Tensor& dc_n, const RecurrentInputs& in,
                                       const RecurrentOutputs& fwd, const RecurrentGrads& g) {
  const RecurrentDims d = recurrent_check(cell, in);
  check_cache(cell, d, fwd.cache, in.x);
  if (dy.defined()) check_out(dy, in.x, "dy", {d.B, d.T, d.H}, kBTH);
  if (dh_n.defined()) check_out(dh_n, in.x, "dh_n", {d.B, d.H}, kBH);
  if (dc_n.defined()) {
    CS_CHECK(cell == Cell::lstm, ValueError, "dc_n is only used by the LSTM");
    check_out(dc_n, in.x, "dc_n", {d.B, d.H}, kBH);
  }
  check_out(g.dx, in.x, "dx", {d.B, d.T, d.I}, "[B, T, I]");
  check_out(g.dw_ih, in.x, "dw_ih", {d.G * d.H, d.I}, "[G*H, I]");
  check_out(g.dw_hh, in.x, "dw_hh", {d.G * d.H, d.H}, "[G*H, H]");
  if (g.db_ih.defined()) check_out(g.db_ih, in.x, "db_ih", {d.G * d.H}, "[G*H]");
  if (g.db_hh.defined()) check_out(g.db_hh, in.x, "db_hh", {d.G * d.H}, "[G*H]");
  if (g.dh0.defined()) check_out(g.dh0, in.x, "dh0", {d.B, d.H}, kBH);
  if (g.dc0.defined()) check_out(g.dc0, in.x, "dc0", {d.B, d.H}, kBH);
  check_views(
      cell,
      {{&g.dx, "dx"},
       {&g.dw_ih, "dw_ih"},
       {&g.dw_hh, "dw_hh"},
       {&g.db_ih, "db_ih"},
       {&g.db_hh, "db_hh"},
       {&g.dh0, "dh0"},
       {&if_lstm(cell, g.dc0), "dc0"}},
      check::joined(check::joined({{&dy, "dy"}, {&dh_n, "dh_n"}, {&dc_n, "dc_n"}}, inputs_of(in)),
                    cache_of(cell, fwd.cache)));
  return d;
}

void recurrent_backward(Cell cell, const Tensor& dy, const Tensor& dh_n, const Tensor& dc_n,
                        const RecurrentInputs& in, const RecurrentOutputs& fwd,
                        const RecurrentGrads& g, void* stream) {
  (void)stream;  // used by the CUDA branch only
  const RecurrentDims d = recurrent_backward_check(cell, dy, dh_n, dc_n, in, fwd, g);
  CS_DISPATCH_FLOAT(in.x.dtype, cell_name(cell), [&] {
#ifdef CHRONOSCALE_WITH_CUDA
    if (on_cuda(in.x))
      return cuda::recurrent_backward<scalar_t>(cell, d, dy, dh_n, dc_n, in, fwd, g, stream);
#endif
    switch (cell) {
      case Cell::lstm: return cpu::lstm_backward<scalar_t>(d, dy, dh_n, dc_n, in, fwd, g);
      case Cell::gru: return cpu::gru_backward<scalar_t>(d, dy, dh_n, dc_n, in, fwd, g);
      default: return cpu::rnn_backward<scalar_t>(cell, d, dy, dh_n, dc_n, in, fwd, g);
    }
  });
}

}  // namespace v1
}  // namespace chronoscale
