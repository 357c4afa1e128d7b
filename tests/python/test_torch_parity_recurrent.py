"""Parity with torch.nn.LSTM / GRU / RNN on copied weights (float32; skipped without torch)."""

from __future__ import annotations

import numpy as np
import pytest

from chronoscale import ops

from helpers import random_lengths, rel_error

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def _run_torch(module, x, lengths, h0, c0):
    xt = torch.tensor(x, requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        xt, torch.tensor(lengths), batch_first=True, enforce_sorted=False
    )
    state = (
        (torch.tensor(h0)[None], torch.tensor(c0)[None])
        if c0 is not None
        else torch.tensor(h0)[None]
    )
    state = tuple(s.requires_grad_() for s in state) if c0 is not None else state.requires_grad_()
    out, hn = module(packed, state)
    y, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return xt, state, y, hn


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_parity_with_torch(kind, rng):
    torch.manual_seed(0)
    B, T, I, H = 5, 9, 6, 8
    if kind == "lstm":
        m = torch.nn.LSTM(I, H, batch_first=True)
    elif kind == "gru":
        m = torch.nn.GRU(I, H, batch_first=True)
    else:
        m = torch.nn.RNN(I, H, batch_first=True, nonlinearity=kind[4:])
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    lengths = random_lengths(rng, B, T)
    h0 = rng.standard_normal((B, H)).astype(np.float32)
    c0 = rng.standard_normal((B, H)).astype(np.float32) if kind == "lstm" else None
    xt, state, y_t, hn_t = _run_torch(m, x, lengths, h0, c0)
    w = [
        p.detach().numpy().copy()
        for p in (m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)
    ]

    if kind == "lstm":
        y, h_n, c_n, cache = ops.lstm_forward(x, *w, h0, c0, lengths)
    elif kind == "gru":
        y, h_n, cache = ops.gru_forward(x, *w, h0, lengths)
    else:
        y, h_n, cache = ops.rnn_forward(x, *w, h0, lengths, activation=kind[4:])
    assert rel_error(y, y_t.detach().numpy()) < 1e-5
    hn_ref = hn_t[0] if kind == "lstm" else hn_t
    assert rel_error(h_n, hn_ref[0].detach().numpy()) < 1e-5
    if kind == "lstm":
        assert rel_error(c_n, hn_t[1][0].detach().numpy()) < 1e-5

    dy = rng.standard_normal(y.shape).astype(np.float32)
    dh = rng.standard_normal(h_n.shape).astype(np.float32)
    loss = (y_t * torch.tensor(dy)).sum() + (hn_ref[0] * torch.tensor(dh)).sum()
    loss.backward()
    if kind == "lstm":
        grads = ops.lstm_backward(dy, dh, None, cache)
    elif kind == "gru":
        grads = ops.gru_backward(dy, dh, cache)
    else:
        grads = ops.rnn_backward(dy, dh, cache)
    dx, dw_ih, dw_hh, db_ih, db_hh, dh0 = grads[:6]
    assert rel_error(dx, xt.grad.numpy()) < 1e-4
    for ours, p in zip(
        (dw_ih, dw_hh, db_ih, db_hh), (m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)
    ):
        assert rel_error(ours, p.grad.numpy()) < 1e-4
    h0_t = state[0] if kind == "lstm" else state
    assert rel_error(dh0, h0_t.grad[0].numpy()) < 1e-4
    if kind == "lstm":
        assert rel_error(grads[6], state[1].grad[0].numpy()) < 1e-4
