#pragma once
/// Recurrent cells over padded batches: vanilla RNN (tanh | sigmoid | relu), LSTM, GRU.
///
/// Shapes: B batch, T time steps, I input size, H hidden size, G gates (RNN 1, LSTM 4, GRU 3).
/// Weights use the torch.nn layout and gate order so they move to and from PyTorch unchanged:
///   LSTM i, f, g, o;  GRU r, z, n with n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).
/// Steps t >= lengths[b] leave the state untouched and write zero outputs; h_n / c_n are the
/// states after each sequence's last valid step (h0 / c0 when lengths[b] == 0).
#include "chronoscale/tensor.hpp"

namespace chronoscale {
inline namespace v1 {

enum class Cell : int32_t { rnn_tanh = 0, rnn_sigmoid = 1, rnn_relu = 2, lstm = 3, gru = 4 };

/// Gates per cell: 1 (RNN), 4 (LSTM), 3 (GRU).
int gate_count(Cell cell);
const char* cell_name(Cell cell);

/// Inputs of a forward pass. Biases, h0, c0 (LSTM only) and lengths are optional (ndim == -1).
struct RecurrentInputs {
  Tensor x;        ///< [B, T, I]
  Tensor w_ih;     ///< [G*H, I]
  Tensor w_hh;     ///< [G*H, H]
  Tensor b_ih;     ///< [G*H] or absent
  Tensor b_hh;     ///< [G*H] or absent
  Tensor h0;       ///< [B, H] or absent (zeros)
  Tensor c0;       ///< [B, H] or absent (zeros); LSTM only
  Tensor lengths;  ///< [B] int64 on the host, 0 <= lengths[b] <= T, or absent (all T)
};

/// What the forward pass saves for the backward pass (all of x's dtype and device).
struct RecurrentCache {
  Tensor gates;  ///< [B, T, G*H] gate activations (RNN: h_t)
  Tensor hprev;  ///< [B, T, H] state entering step t
  Tensor aux;    ///< [B, T, H] LSTM: c_t; GRU: W_hn h_{t-1} + b_hn; RNN: absent
};

struct RecurrentOutputs {
  Tensor y;    ///< [B, T, H]
  Tensor h_n;  ///< [B, H]
  Tensor c_n;  ///< [B, H] (LSTM), else absent
  RecurrentCache cache;
};

/// Gradients; any of dh0 / dc0 / db_ih / db_hh may be absent when not wanted.
struct RecurrentGrads {
  Tensor dx;     ///< [B, T, I]
  Tensor dw_ih;  ///< [G*H, I]
  Tensor dw_hh;  ///< [G*H, H]
  Tensor db_ih;  ///< [G*H]
  Tensor db_hh;  ///< [G*H]
  Tensor dh0;    ///< [B, H]
  Tensor dc0;    ///< [B, H] (LSTM)
};

/// Dimensions found by validation.
struct RecurrentDims {
  int64_t B, T, I, H, G;
};

/// Validate the inputs of a forward pass; throws ValueError / TypeError naming the argument.
RecurrentDims recurrent_check(Cell cell, const RecurrentInputs& in);

/// Every check of recurrent_forward (inputs, output and cache shapes, devices); returns the dims.
RecurrentDims recurrent_forward_check(Cell cell, const RecurrentInputs& in,
                                      const RecurrentOutputs& out);

/// Every check of recurrent_backward; returns the dims.
RecurrentDims recurrent_backward_check(Cell cell, const Tensor& dy, const Tensor& dh_n,
                                       const Tensor& dc_n, const RecurrentInputs& in,
                                       const RecurrentOutputs& fwd, const RecurrentGrads& g);

/// Forward pass. Outputs are caller-allocated with the shapes above.
void recurrent_forward(Cell cell, const RecurrentInputs& in, const RecurrentOutputs& out,
                       void* stream = nullptr);

/// Backward pass. dy [B, T, H] (entries past lengths are ignored), dh_n / dc_n [B, H] optional.
void recurrent_backward(Cell cell, const Tensor& dy, const Tensor& dh_n, const Tensor& dc_n,
                        const RecurrentInputs& in, const RecurrentOutputs& fwd,
                        const RecurrentGrads& grads, void* stream = nullptr);

}  // namespace v1
}  // namespace chronoscale
