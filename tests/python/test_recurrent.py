"""RNN / LSTM / GRU kernels: float64 NumPy reference, finite-difference gradients, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from chronoscale import _core, ops

from helpers import numeric_grad, random_lengths, recurrent_backward, recurrent_forward, rel_error

CELLS = ["lstm", "gru", "rnn_tanh", "rnn_sigmoid", "rnn_relu"]
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_sigmoid": 1, "rnn_relu": 1}


def _sig(v):
    return 1.0 / (1.0 + np.exp(-v))


def reference(cell, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths):
    """Step-by-step float64 reference straight from the torch.nn formulas."""
    B, T, _ = x.shape
    H = w_hh.shape[1]
    h = np.zeros((B, H)) if h0 is None else h0.astype(np.float64).copy()
    c = np.zeros((B, H)) if c0 is None else c0.astype(np.float64).copy()
    y = np.zeros((B, T, H))
    bi = 0.0 if b_ih is None else b_ih
    bh = 0.0 if b_hh is None else b_hh
    for b in range(B):
        for t in range(lengths[b]):
            gi = w_ih @ x[b, t] + bi
            gh = w_hh @ h[b] + bh
            if cell == "lstm":
                i, f, g, o = np.split(gi + gh, 4)
                c[b] = _sig(f) * c[b] + _sig(i) * np.tanh(g)
                h[b] = _sig(o) * np.tanh(c[b])
            elif cell == "gru":
                ir, iz, in_ = np.split(gi, 3)
                hr, hz, hn = np.split(gh, 3)
                r, z = _sig(ir + hr), _sig(iz + hz)
                n = np.tanh(in_ + r * hn)
                h[b] = (1 - z) * n + z * h[b]
            else:
                act = {
                    "rnn_tanh": np.tanh,
                    "rnn_sigmoid": _sig,
                    "rnn_relu": lambda v: np.maximum(v, 0),
                }[cell]
                h[b] = act(gi + gh)
            y[b, t] = h[b]
    return y, h, c


def make(rng, cell, B, T, I, H, dtype=np.float64, bias=True, init=True):
    G = GATES[cell]
    s = 1.0 / np.sqrt(H)
    p = {
        "x": rng.standard_normal((B, T, I)),
        "w_ih": rng.uniform(-s, s, (G * H, I)) * 2,
        "w_hh": rng.uniform(-s, s, (G * H, H)) * 2,
        "b_ih": rng.uniform(-s, s, G * H) if bias else None,
        "b_hh": rng.uniform(-s, s, G * H) if bias else None,
        "h0": rng.standard_normal((B, H)) * 0.5 if init else None,
        "c0": rng.standard_normal((B, H)) * 0.5 if init and cell == "lstm" else None,
    }
    if cell == "rnn_relu":  # keep pre-activations away from the kink for finite differences
        p["b_ih"] = None if not bias else p["b_ih"] + 0.05
    return {k: (None if v is None else v.astype(dtype)) for k, v in p.items()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rnn_relu_passes_nan_through(rng, dtype):
    """NaN inputs stay NaN through the ReLU cell (torch's RNN(nonlinearity="relu") and the
    float64 reference alike), never a silent 0; other sequences are untouched."""
    p = make(rng, "rnn_relu", 3, 6, 4, 8, dtype)
    p["x"][1, 2, 0] = np.nan
    lengths = np.array([6, 5, 4])
    y, h_n, _, _ = recurrent_forward("rnn_relu", p, lengths)
    y_ref, h_ref, _ = reference("rnn_relu", *(None if v is None else v.astype(np.float64)
                                              for v in p.values()), lengths)
    assert np.isnan(y[1, 2:5]).all() and np.isnan(h_n[1]).all() and not np.isnan(y[1, 5]).any()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, y_ref, rtol=tol, atol=tol, equal_nan=True)
    np.testing.assert_allclose(h_n, h_ref, rtol=tol, atol=tol, equal_nan=True)

forward = recurrent_forward


def forward_checked(cell, p, lengths, tol):
    """The op's forward of ``p`` (``forward``'s ``(y, h_n, c_n, cache)``) after checking y,
    h_n and c_n against the float64 reference within ``tol``."""
    y, h_n, c_n, cache = forward(cell, p, lengths)
    y_ref, h_ref, c_ref = reference(
        cell, p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], p["h0"], p["c0"], lengths
    )
    np.testing.assert_allclose(y, y_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(h_n, h_ref, rtol=tol, atol=tol)
    if cell == "lstm":
        np.testing.assert_allclose(c_n, c_ref, rtol=tol, atol=tol)
    return y, h_n, c_n, cache


backward = recurrent_backward


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("trial", range(3))
def test_forward_matches_reference(cell, trial, rng):
    B, T = int(rng.integers(1, 6)), int(rng.integers(1, 9))
    I, H = int(rng.integers(1, 7)), int(rng.integers(1, 6))
    p = make(rng, cell, B, T, I, H, bias=trial != 1, init=trial != 2)
    lengths = random_lengths(rng, B, T)
    y = forward_checked(cell, p, lengths, 1e-12)[0]
    for b in range(B):
        assert not y[b, lengths[b] :].any()


@pytest.mark.parametrize("cell", CELLS)
def test_float32_close_to_float64(cell, rng):
    B, T, I, H = 4, 12, 8, 16
    p = make(rng, cell, B, T, I, H)
    lengths = random_lengths(rng, B, T)
    y64, h64, _, c64 = forward(cell, p, lengths)
    p32 = {k: (None if v is None else v.astype(np.float32)) for k, v in p.items()}
    y32, h32, _, c32 = forward(cell, p32, lengths)
    assert y32.dtype == np.float32 and h32.dtype == np.float32
    assert rel_error(y32, y64) < 2e-5 and rel_error(h32, h64) < 2e-5
    dy = rng.standard_normal(y64.shape)
    g64 = backward(cell, dy, None, None, c64)
    g32 = backward(cell, dy.astype(np.float32), None, None, c32)
    for a, b in zip(g32, g64):
        if a is not None:
            assert a.dtype == np.float32
            assert rel_error(a, b) < 1e-4


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("trial", range(2))
def test_backward_matches_finite_differences(cell, trial, rng):
    B, T, I, H = 3, int(rng.integers(2, 6)), 3, 4
    p = make(rng, cell, B, T, I, H, bias=True, init=trial == 0)
    lengths = random_lengths(rng, B, T)
    y0, h0_, c0_, _ = forward(cell, p, lengths)
    wy = rng.standard_normal(y0.shape)
    wh = rng.standard_normal(h0_.shape)
    wc = rng.standard_normal(h0_.shape) if cell == "lstm" else None

    def loss():
        y, h, c, _ = forward(cell, p, lengths)
        out = (y * wy).sum() + (h * wh).sum()
        return out + ((c * wc).sum() if wc is not None else 0.0)

    _, _, _, cache = forward(cell, p, lengths)
    dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0 = backward(cell, wy, wh, wc, cache)
    pairs = [("x", dx), ("w_ih", dw_ih), ("w_hh", dw_hh), ("b_ih", db_ih), ("b_hh", db_hh)]
    if p["h0"] is not None:
        pairs.append(("h0", dh0))
    if p["c0"] is not None:
        pairs.append(("c0", dc0))
    for name, analytic in pairs:
        num = numeric_grad(loss, p[name])
        assert rel_error(analytic, num) < 1e-6, name
    for b in range(B):  # positions past the length get no gradient
        assert not dx[b, lengths[b] :].any()


def test_zero_length_sequence_keeps_initial_state(rng):
    p = make(rng, "lstm", 3, 4, 2, 3)
    lengths = np.array([4, 0, 2])
    y, h, c, cache = forward("lstm", p, lengths)
    np.testing.assert_array_equal(h[1], p["h0"][1])
    np.testing.assert_array_equal(c[1], p["c0"][1])
    assert not y[1].any()
    dh = rng.standard_normal(h.shape)
    *_, dh0, dc0 = ops.lstm_backward(None, dh, None, cache)
    np.testing.assert_array_equal(dh0[1], dh[1])


def test_lengths_accept_lists_and_int32(rng):
    p = make(rng, "gru", 2, 3, 2, 2)
    a = forward("gru", p, [3, 1])[0]
    b = forward("gru", p, np.array([3, 1], dtype=np.int32))[0]
    np.testing.assert_array_equal(a, b)


def test_bad_input_raises_clear_errors(rng):
    p = make(rng, "lstm", 2, 3, 4, 5, dtype=np.float32)
    x, w_ih, w_hh = p["x"], p["w_ih"], p["w_hh"]
    with pytest.raises(TypeError, match="x must be float32 or float64"):
        ops.lstm_forward(x.astype(np.int64), w_ih, w_hh)
    with pytest.raises(TypeError, match="w_ih must have the dtype of x"):
        ops.lstm_forward(x, w_ih.astype(np.float64), w_hh)
    with pytest.raises(ValueError, match=r"w_ih must have shape \[4H, I\]"):
        ops.lstm_forward(x, w_ih[:, :3].copy(), w_hh)
    with pytest.raises(ValueError, match=r"w_hh must have shape \[4H, H\]"):
        ops.lstm_forward(x, w_ih, w_hh[:-1].copy())
    with pytest.raises(ValueError, match=r"x must have shape \[B, T, I\]"):
        ops.lstm_forward(x[0], w_ih, w_hh)
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        ops.lstm_forward(np.asfortranarray(x), w_ih, w_hh)
    with pytest.raises(ValueError, match="outside"):
        ops.lstm_forward(x, w_ih, w_hh, lengths=[4, 1])
    with pytest.raises(ValueError, match="outside"):
        ops.lstm_forward(x, w_ih, w_hh, lengths=[-1, 1])
    with pytest.raises(ValueError, match=r"lengths must have shape \[B\]"):
        ops.lstm_forward(x, w_ih, w_hh, lengths=[1, 1, 1])
    with pytest.raises(TypeError, match="lengths must hold integers"):
        ops.lstm_forward(x, w_ih, w_hh, lengths=[1.5, 2.0])
    with pytest.raises(ValueError, match="empty batch"):
        ops.lstm_forward(x[:0], w_ih, w_hh)
    with pytest.raises(ValueError, match="no time steps"):
        ops.lstm_forward(x[:, :0], w_ih, w_hh)
    with pytest.raises(ValueError, match=r"h0 must have shape \[B, H\]"):
        ops.lstm_forward(x, w_ih, w_hh, h0=np.zeros((3, 5), np.float32))
    with pytest.raises(TypeError, match="must be a NumPy array"):
        ops.lstm_forward(x.tolist(), w_ih, w_hh)
    with pytest.raises(ValueError, match="activation"):
        ops.rnn_forward(x, w_ih[:5].copy(), w_hh[:5, :].copy(), activation="gelu")
    with pytest.raises(ValueError, match="c0 is only used by the LSTM"):
        _core.recurrent_forward(
            4,
            x,
            w_ih[:15].copy(),
            w_hh[:15].copy(),
            None,
            None,
            None,
            np.zeros((2, 5), np.float32),
            None,
        )
    _, _, _, cache = ops.lstm_forward(x, w_ih, w_hh)
    with pytest.raises(ValueError, match=r"dy must have shape \[B, T, H\]"):
        ops.lstm_backward(np.zeros((2, 3, 4), np.float32), None, None, cache)
    with pytest.raises(ValueError, match="not gru_forward"):
        ops.gru_backward(None, None, cache)
    with pytest.raises(ValueError, match="lstm_forward, not rnn_forward"):
        ops.rnn_backward(None, None, cache)
    with pytest.raises(TypeError, match="cache"):
        ops.lstm_backward(None, None, None, {"gates": 1})
