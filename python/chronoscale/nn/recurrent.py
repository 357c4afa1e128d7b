"""Recurrent layers (LSTM, GRU, RNN) and the multi-scale block, on the native drivers.

Weights are in torch.nn layout and gate order (LSTM i,f,g,o; GRU r,z,n). Initialisation follows
Keras: glorot-uniform input kernels, orthogonal recurrent kernels (over the whole
``[H, G*H]`` Keras matrix), zero biases, LSTM forget-gate bias 1 (``unit_forget_bias``). The LSTM
and RNN keep one bias (passed as ``b_ih``; torch's ``b_ih + b_hh`` is the same thing), the GRU
keeps two (``b_hn`` sits inside the reset gate, as Keras' ``reset_after=True``).
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..ops._common import as_bool, check_int
from . import device as _device
from .init import glorot_uniform, recurrent_kernel
from .layer import Layer, check_grad

_GATES = {"lstm": 4, "gru": 3, "rnn": 1}
_NATIVE = {"lstm": "lstm", "gru": "gru", "rnn": "rnn_tanh"}


def _init_cell(layer, rng, cell, in_features, units, prefix=""):
    """Create ``weight_ih, weight_hh, bias[, bias_hh]`` for one cell; returns the Parameters."""
    g = _GATES[cell]
    in_features = check_int(in_features, "in_features")
    shape = (g * units, in_features)
    w_ih = layer.add_param(prefix + "weight_ih", shape,
                           lambda: glorot_uniform(rng, shape, in_features, g * units))
    w_hh = layer.add_param(prefix + "weight_hh", (g * units, units),
                           lambda: recurrent_kernel(rng, g, units))
    b = layer.add_param(prefix + "bias", (g * units,))
    if cell == "lstm":
        b.data[units: 2 * units] = 1.0  # Keras unit_forget_bias
    b_hh = layer.add_param(prefix + "bias_hh", (g * units,)) if cell == "gru" else None
    return w_ih, w_hh, b, b_hh


def take_cell_grads(cells, grads) -> None:
    """Hand each scale's weight gradients (``multiscale_backward``'s ``grads``) to its
    parameters (``cells``: per scale ``(w_ih, w_hh, b_ih, b_hh)``, None where absent)."""
    for params, g in zip(cells, grads, strict=True):
        for p, gp in zip(params, g, strict=True):
            if p is not None and gp is not None:
                p.take(gp)


class _Recurrent(Layer):
    cell = "lstm"

    def __init__(self, units: int, return_sequences: bool = False):
        super().__init__()
        self.units = check_int(units, "units")
        self.return_sequences = as_bool(return_sequences, "return_sequences")
        self._cache = None

    def _build(self, in_features, rng):
        self.w_ih, self.w_hh, self.b, self.b_hh = _init_cell(
            self, rng, self.cell, in_features, self.units
        )

    def output_features(self, in_features):
        return self.units

    def _weights(self):
        b_hh = self.b_hh.data if self.b_hh is not None else None
        return self.w_ih.data, self.w_hh.data, self.b.data, b_hh

    def forward(self, x, training=False, lengths=None):
        """``x [B, T, I]`` -> ``[B, T, units]`` (return_sequences) or the last valid step's
        state ``[B, units]``."""
        self._ensure_built(x)
        y, h_n, self._cache = self._run(x, lengths)
        if self.return_sequences:
            self.out_lengths = lengths
            return y
        self.out_lengths = None
        return h_n

    def backward(self, dy):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        dy = _device.contiguous(dy)
        seq, last = (dy, None) if self.return_sequences else (None, dy)
        dx, dw_ih, dw_hh, db_ih, db_hh = self._grads(seq, last)
        self.w_ih.take(dw_ih)
        self.w_hh.take(dw_hh)
        self.b.take(db_ih)
        if self.b_hh is not None:
            self.b_hh.take(db_hh)
        return dx


class LSTM(_Recurrent):
    """LSTM layer (Keras ``LSTM(units, return_sequences=...)``; torch.nn.LSTM weights with
    ``b_ih = bias``, ``b_hh = 0``)."""

    cell = "lstm"

    def _run(self, x, lengths):
        w_ih, w_hh, b, _ = self._weights()
        y, h_n, _, cache = ops.lstm_forward(x, w_ih, w_hh, b, None, lengths=lengths)
        return y, h_n, cache

    def _grads(self, dy, dh_n):
        dx, dw_ih, dw_hh, db_ih, db_hh, _, _ = ops.lstm_backward(dy, dh_n, None, self._cache)
        return dx, dw_ih, dw_hh, db_ih, db_hh


class GRU(_Recurrent):
    """GRU layer (torch.nn.GRU semantics, Keras ``GRU(reset_after=True)``)."""

    cell = "gru"

    def _run(self, x, lengths):
        return ops.gru_forward(x, *self._weights(), lengths=lengths)

    def _grads(self, dy, dh_n):
        return ops.gru_backward(dy, dh_n, self._cache)[:5]


class RNN(_Recurrent):
    """Vanilla RNN ``h_t = act(W_ih x_t + W_hh h_{t-1} + b)`` with ``activation`` "tanh"
    (default), "sigmoid" (the seed formula) or "relu"."""

    cell = "rnn"

    def __init__(self, units: int, return_sequences: bool = False, activation: str = "tanh"):
        super().__init__(units, return_sequences)
        if not isinstance(activation, str) or activation not in ("tanh", "sigmoid", "relu"):
            raise ValueError(f"activation must be 'tanh', 'sigmoid' or 'relu', got {activation!r}")
        self.activation = activation

    def _run(self, x, lengths):
        w_ih, w_hh, b, _ = self._weights()
        return ops.rnn_forward(x, w_ih, w_hh, b, None, lengths=lengths,
                               activation=self.activation)

    def _grads(self, dy, dh_n):
        return ops.rnn_backward(dy, dh_n, self._cache)[:5]


class MultiScale(Layer):
    """One recurrent cell per time scale over windowed pools of the input, in one native call.

    Args:
        scales: specs such as ``["1", "4", "16"]`` (count windows of events) and/or
            ``["1h", "1d", "7d"]`` (wall-clock windows; need ``timestamps`` in forward). One
            spec alone (a string such as ``"124"``, an integer or a Scale) is one scale, never
            split into characters.
        units: hidden size, one int for all scales or one per scale.
        cell: "lstm", "gru" or "rnn" (tanh).
        pool: pooling of a window's events, "mean", "max" or "sum".
        count_feature: append ``log1p(events in the window)`` to each pooled step.
        output: "last" -> per scale the state after the sequence's last window ``[B, H_s]``
            (every event is in the past of the prediction); "causal" -> per scale and event the
            state after the last window that closed strictly before the event ``[B, T, H_s]``
            (training on every position without seeing the future).
        merge: "concat" joins the scales on the channel axis; None returns a list per scale.

    Parameters are named ``s<i>.weight_ih``, ``s<i>.weight_hh``, ``s<i>.bias`` (+ ``s<i>.bias_hh``
    for the GRU). Streaming semantics (later, native): scale ``s``'s cell steps when its window
    closes; the open window's running pool and count are part of the per-user state.

    Raises:
        TypeError: ``units`` not integers (2.7 is refused, never truncated), ``count_feature``
            not a bool, ``scales`` not a list.
        ValueError: a bad scale spec, no scales, ``units`` < 1 or not one per scale, an
            unknown cell / pool / output / merge.
    """

    uses_timestamps = True

    def __init__(self, scales, units, cell: str = "lstm", pool: str = "mean",
                 count_feature: bool = False, output: str = "last", merge="concat"):
        super().__init__()
        if not isinstance(cell, str) or cell not in _GATES:
            raise ValueError(f"cell must be 'lstm', 'gru' or 'rnn', got {cell!r}")
        if not isinstance(output, str) or output not in ("last", "causal"):
            raise ValueError(f"output must be 'last' or 'causal', got {output!r}")
        if merge is not None and merge != "concat":
            raise ValueError(f"merge must be 'concat' or None, got {merge!r}")
        if not isinstance(pool, str) or pool not in ("mean", "max", "sum"):
            raise ValueError(f"pool must be 'mean', 'max' or 'sum', got {pool!r}")
        if isinstance(scales, (str, int, np.integer, ops.Scale)):
            scales = [scales]  # one spec: "124" is a count window of 124, not "1", "2", "4"
        if not hasattr(scales, "__iter__") or isinstance(scales, (bytes, dict)):
            raise TypeError(f"scales must be a list of scale specs, got {type(scales).__name__}")
        self._scales = [ops.Scale.parse(s, mode=pool) for s in scales]
        self.scales = [str(s) for s in self._scales]
        n = len(self._scales)
        if n == 0:
            raise ValueError("scales: at least one scale is required")
        if np.isscalar(units) or isinstance(units, bool):
            self.units = [check_int(units, "units")] * n
        elif hasattr(units, "__iter__"):
            self.units = [check_int(u, f"units[{i}]") for i, u in enumerate(units)]
        else:
            raise TypeError(f"units must be an integer or a list of integers, got "
                            f"{type(units).__name__}")
        if len(self.units) != n:
            raise ValueError(f"units: expected one per scale ({n}), got {len(self.units)}")
        self.cell = cell
        self.pool = pool
        self.count_feature = as_bool(count_feature, "count_feature")
        self.output = output
        self.merge = merge
        self._cache = None

    def _build(self, in_features, rng):
        i = check_int(in_features, "in_features") + (1 if self.count_feature else 0)
        self.cells = [_init_cell(self, rng, self.cell, i, h, f"s{s}.")
                      for s, h in enumerate(self.units)]

    def output_features(self, in_features):
        return sum(self.units) if self.merge == "concat" else list(self.units)

    def forward(self, x, training=False, lengths=None, timestamps=None):
        self._ensure_built(x)
        weights = [tuple(p.data if p is not None else None for p in c) for c in self.cells]
        outs, self._cache = ops.multiscale_forward(
            x, self._scales, weights, cell=_NATIVE[self.cell], lengths=lengths,
            timestamps=timestamps, count_feature=self.count_feature,
        )
        self._outs = outs
        if self.output == "last":
            ys = [o.h_n for o in outs]
            self.out_lengths = None
        else:
            ys = [ops.gather_causal(o.y, _device.to_host(o.closed_before)) for o in outs]
            self.out_lengths = lengths
        out = np.concatenate(ys, axis=-1) if self.merge == "concat" else ys
        self._out_shape = out.shape if self.merge == "concat" else [y.shape for y in ys]
        return out

    def backward(self, dy):
        if self._cache is None:
            raise RuntimeError("MultiScale.backward called before forward")
        dy = check_grad(dy, self._out_shape)
        if self.merge == "concat":
            splits = np.cumsum(self.units)[:-1]
            dys = [_device.contiguous(d) for d in np.split(dy, splits, axis=-1)]
        else:
            dys = [None if d is None else _device.contiguous(d) for d in dy]
        if self.output == "last":
            dx, grads = ops.multiscale_backward(None, dys, None, self._cache)
        else:
            seq = [None if d is None else
                   ops.gather_causal_backward(d, _device.to_host(o.closed_before), o.y.shape[1])
                   for d, o in zip(dys, self._outs, strict=True)]
            dx, grads = ops.multiscale_backward(seq, None, None, self._cache)
        take_cell_grads(self.cells, grads)
        return dx
