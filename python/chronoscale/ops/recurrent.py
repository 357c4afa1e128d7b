"""Recurrent cells over padded batches: ``rnn``, ``lstm``, ``gru`` forward and backward.

Weights are in the ``torch.nn.RNN/LSTM/GRU`` layout and gate order (LSTM i,f,g,o; GRU r,z,n with
``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``), so ``module.weight_ih_l0`` etc. can be passed
as they are (``.detach().numpy()``). Keras stores ``kernel [I, 4H]``, ``recurrent_kernel [H, 4H]``
and one bias, gate order i,f,c,o for LSTM: use ``w_ih = kernel.T``, ``w_hh = recurrent_kernel.T``,
``b_ih = bias``, ``b_hh = None``; Keras GRU (``reset_after=True``) has gate order z,r,h, so
reorder the blocks to r,z,n and split its ``bias [2, 3H]`` into ``b_ih, b_hh``.

Devices: NumPy arrays run on the CPU. CUDA arrays (CuPy, or any ``__cuda_array_interface__``
producer such as a detached torch CUDA tensor) run on the GPU, on CuPy's current stream, and the
results are CuPy arrays; every array of one call must be on the same device, and ``lengths``
stays a host array (a CUDA one is copied to the host). Past a sequence's length the CUDA kernels
write zeros into the cache (``gates``, ``aux``); the CPU kernels leave those entries unspecified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import _core
from ._common import as_lengths, is_one_of

_CELLS = {"rnn_tanh": 0, "rnn_sigmoid": 1, "rnn_relu": 2, "lstm": 3, "gru": 4}


@dataclass(frozen=True, eq=False)
class RecurrentCache:
    """What a recurrent forward pass saves for its backward pass.

    Holds references to the inputs (not copies): do not modify them in place before calling the
    backward. ``gates [B, T, G*H]``, ``hprev [B, T, H]``, ``aux [B, T, H]`` (LSTM c_t, GRU
    ``W_hn h + b_hn``, None for RNN).
    """

    cell: str
    x: Any
    w_ih: Any
    w_hh: Any
    b_ih: Any
    b_hh: Any
    h0: Any
    c0: Any
    lengths: Any
    gates: Any
    hprev: Any
    aux: Any


def _forward(cell, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths):
    lengths = as_lengths(lengths)
    y, h_n, c_n, gates, hprev, aux = _core.recurrent_forward(
        _CELLS[cell], x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths
    )
    cache = RecurrentCache(cell, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, gates, hprev, aux)
    return y, h_n, c_n, cache


def _check_cache(cache, forward: str) -> None:
    if not isinstance(cache, RecurrentCache):
        raise TypeError(f"cache must be the RecurrentCache returned by {forward}")
    if not is_one_of(cache.cell, _CELLS):  # (a cache changed after the forward)
        raise ValueError(f"cache.cell must be one of {sorted(_CELLS)}, got {cache.cell!r}")


def _backward(cell, dy, dh_n, dc_n, cache):
    _check_cache(cache, f"{cell}_forward")
    if cache.cell != cell:
        raise ValueError(f"cache comes from {cache.cell}_forward, not {cell}_forward")
    c = cache
    return _core.recurrent_backward(
        _CELLS[cell],
        dy,
        dh_n,
        dc_n,
        c.x,
        c.w_ih,
        c.w_hh,
        c.b_ih,
        c.b_hh,
        c.h0,
        c.c0,
        c.lengths,
        c.gates,
        c.hprev,
        c.aux,
    )


def lstm_forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None, lengths=None):
    """LSTM over a padded batch (gate order i, f, g, o as in ``torch.nn.LSTM``).

    Args:
        x: ``[B, T, I]`` float32 or float64.
        w_ih: ``[4H, I]``; w_hh: ``[4H, H]``; b_ih, b_hh: ``[4H]`` or None.
        h0, c0: ``[B, H]`` initial states or None (zeros).
        lengths: ``[B]`` integers in ``[0, T]`` or None (all T).

    Returns:
        ``(y [B, T, H], h_n [B, H], c_n [B, H], cache)``; ``y[b, t] = 0`` for ``t >= lengths[b]``
        and ``h_n, c_n`` are the states after step ``lengths[b] - 1``.

    Raises:
        TypeError: wrong dtype, or dtypes that differ from ``x``'s.
        ValueError: shapes that disagree, non-contiguous arrays, lengths outside ``[0, T]``,
            ``B == 0`` or ``T == 0``.
    """
    return _forward("lstm", x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths)


def lstm_backward(dy, dh_n, dc_n, cache):
    """Gradients of an LSTM forward pass.

    Args:
        dy: ``[B, T, H]`` gradient w.r.t. ``y`` (entries past lengths are ignored) or None.
        dh_n, dc_n: ``[B, H]`` gradients w.r.t. the final states, or None.
        cache: the ``RecurrentCache`` returned by :func:`lstm_forward`.

    Returns:
        ``(dx [B, T, I], dw_ih [4H, I], dw_hh [4H, H], db_ih [4H], db_hh [4H], dh0 [B, H],
        dc0 [B, H])``.
    """
    return _backward("lstm", dy, dh_n, dc_n, cache)


def gru_forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, lengths=None):
    """GRU over a padded batch (gate order r, z, n as in ``torch.nn.GRU``).

    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n + z * h``.

    Args:
        x: ``[B, T, I]``; w_ih: ``[3H, I]``; w_hh: ``[3H, H]``; b_ih, b_hh: ``[3H]`` or None;
        h0: ``[B, H]`` or None; lengths: ``[B]`` or None.

    Returns:
        ``(y [B, T, H], h_n [B, H], cache)``.

    Raises:
        TypeError, ValueError: as :func:`lstm_forward`.
    """
    y, h_n, _, cache = _forward("gru", x, w_ih, w_hh, b_ih, b_hh, h0, None, lengths)
    return y, h_n, cache


def gru_backward(dy, dh_n, cache):
    """Gradients of a GRU forward pass: ``(dx, dw_ih, dw_hh, db_ih, db_hh, dh0)``."""
    dx, dw_ih, dw_hh, db_ih, db_hh, dh0, _ = _backward("gru", dy, dh_n, None, cache)
    return dx, dw_ih, dw_hh, db_ih, db_hh, dh0


def rnn_forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, lengths=None, activation="tanh"):
    """Vanilla RNN ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``.

    Args:
        x: ``[B, T, I]``; w_ih: ``[H, I]``; w_hh: ``[H, H]``; b_ih, b_hh: ``[H]`` or None;
        h0: ``[B, H]`` or None; lengths: ``[B]`` or None.
        activation: ``"tanh"`` (torch.nn.RNN's default), ``"sigmoid"`` (the seed formula
            ``h = sigma(W_h h + W_x x + b)``) or ``"relu"``.

    Returns:
        ``(y [B, T, H], h_n [B, H], cache)``.
    """
    cell = f"rnn_{activation}" if isinstance(activation, str) else None
    if not is_one_of(cell, _CELLS):
        raise ValueError(f"activation must be 'tanh', 'sigmoid' or 'relu', got {activation!r}")
    y, h_n, _, cache = _forward(cell, x, w_ih, w_hh, b_ih, b_hh, h0, None, lengths)
    return y, h_n, cache


def rnn_backward(dy, dh_n, cache):
    """Gradients of an RNN forward pass: ``(dx, dw_ih, dw_hh, db_ih, db_hh, dh0)``."""
    _check_cache(cache, "rnn_forward")
    if not cache.cell.startswith("rnn_"):
        raise ValueError(f"cache comes from {cache.cell}_forward, not rnn_forward")
    dx, dw_ih, dw_hh, db_ih, db_hh, dh0, _ = _backward(cache.cell, dy, dh_n, None, cache)
    return dx, dw_ih, dw_hh, db_ih, db_hh, dh0
