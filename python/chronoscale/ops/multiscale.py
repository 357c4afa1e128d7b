"""Multi-scale recurrent driver: per scale, windowed pooling then one recurrent cell.

One native call runs every scale (no Python loop over scales or steps)::

    scales = [Scale.parse("1"), Scale.parse("4"), Scale.parse("1d")]  # event, 4 events, day
    outs, cache = multiscale_forward(x, scales, weights, cell="lstm", lengths=lengths,
                                     timestamps=ts)
    y_fine, h_fine, c_fine, len_fine, counts_fine, closed_fine = outs[0]
    state_at_t = gather_causal(outs[2].y, outs[2].closed_before)   # [B, T, H] causal day state
    dx, weight_grads = multiscale_backward(dys, dh_ns, None, cache)

Causality: ``outs[s].y[b, j]`` is the cell state after pooled step ``j``; a step whose window still
contains events ``>= t`` must not feed a prediction at event ``t``. ``closed_before[b, t]``
counts the steps that closed strictly before event ``t`` and :func:`gather_causal` picks the
matching state for every position (the zero initial state when none has closed).
"""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .. import _core
from ._common import (
    array_module,
    as_bool,
    as_int,
    as_lengths,
    check_elements,
    is_one_of,
)
from .pool import _MODES, as_timestamps
from .recurrent import _CELLS

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SPEC = re.compile(r"^\s*(\d+)\s*(?:/\s*(\d+)\s*)?([smhdw]?)\s*$")
_KINDS = {"count": 0, "time": 1}


@dataclass(frozen=True)
class Scale:
    """One time scale of the driver: count windows or wall-clock windows, and a pooling mode.

    Build with :meth:`count`, :meth:`time` or :meth:`parse` rather than directly.

    Attributes:
        kind: ``"count"`` or ``"time"``.
        mode: ``"mean"``, ``"max"`` or ``"sum"`` (pooling of the events in a window).
        size, stride, partial: count windows (see :func:`~chronoscale.ops.count_pool_forward`).
        window, origin, max_windows: time windows in seconds (see
            :func:`~chronoscale.ops.time_pool_forward`).
    """

    kind: str
    mode: str = "mean"
    size: int = 1
    stride: int = 1
    partial: bool = True
    window: int = 0
    origin: int = 0
    max_windows: int | None = None

    def __post_init__(self):
        if not is_one_of(self.kind, _KINDS):
            raise ValueError(f"kind must be 'count' or 'time', got {self.kind!r}")
        if not is_one_of(self.mode, _MODES):
            raise ValueError(f"mode must be 'max', 'mean' or 'sum', got {self.mode!r}")
        as_bool(self.partial, "partial")
        for name in ("size", "stride", "window", "origin"):
            as_int(getattr(self, name), name)
        if self.kind == "count" and self.size < 1:
            raise ValueError(f"size must be >= 1, got {self.size}")
        if self.kind == "count" and self.stride < 1:
            raise ValueError(f"stride must be >= 1, got {self.stride}")
        if self.kind == "time" and self.window < 1:
            raise ValueError(f"window must be >= 1 second, got {self.window}")
        if self.max_windows is not None and as_int(self.max_windows, "max_windows") < 1:
            raise ValueError(f"max_windows must be >= 1 or None, got {self.max_windows}")

    @classmethod
    def count(cls, size, stride=None, mode="mean", partial=True) -> Scale:
        """Windows of ``size`` events every ``stride`` events (default ``size``).

        ``partial=True`` (default) also keeps the trailing, incomplete window of each sequence;
        it is never used causally before it is complete. ``Scale.count(1)`` is the fine scale.
        """
        size = as_int(size, "size")
        stride = size if stride is None else as_int(stride, "stride")
        return cls("count", mode, size=size, stride=stride, partial=as_bool(partial, "partial"))

    @classmethod
    def time(cls, window_seconds, origin=0, mode="mean", max_windows=None) -> Scale:
        """Wall-clock windows of ``window_seconds`` aligned on ``origin`` (seconds).

        Empty windows are kept as zero steps with count 0. ``max_windows`` keeps only each
        sequence's most recent windows; which ones depends on the last event, so use it for the
        latest state (serving), not for per-position training (it is not causal).
        """
        window = as_int(window_seconds, "window_seconds")
        return cls(
            "time", mode, window=window, origin=as_int(origin, "origin"), max_windows=max_windows
        )

    @classmethod
    def parse(cls, spec, mode="mean") -> Scale:
        """A scale from a short spec.

        A bare integer is a count window (``"1"`` the fine scale, every event; ``"4"`` every 4
        events); ``"size/stride"`` a count window of ``size`` events every ``stride`` events
        (``"16/4"``: the last 16 events, every 4; what ``str()`` of such a scale gives); an
        integer with a unit ``s``, ``m``, ``h``, ``d`` or ``w`` is a wall-clock window
        (``"90s"``, ``"30m"``, ``"1h"``, ``"1d"``, ``"7d"``, ``"2w"``). Raises ValueError for
        anything else, or a zero size or stride.
        """
        if isinstance(spec, Scale):
            return spec
        if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
            return cls.count(int(spec), mode=mode)
        m = _SPEC.match(spec) if isinstance(spec, str) else None
        if m is None or (m.group(2) is not None and m.group(3)):
            raise ValueError(
                f"scale spec must look like '4' or '16/4' (events, every stride events) or "
                f"'90s', '30m', '1h', '1d', '2w', got {spec!r}"
            )
        n, stride, unit = int(m.group(1)), m.group(2), m.group(3)
        if n == 0:
            raise ValueError(f"scale spec {spec!r}: size must be >= 1")
        if stride is not None and int(stride) == 0:
            raise ValueError(f"scale spec {spec!r}: stride must be >= 1")
        if unit:
            return cls.time(n * _UNITS[unit], mode=mode)
        return cls.count(n, stride=None if stride is None else int(stride), mode=mode)

    def __str__(self) -> str:
        if self.kind == "count":
            return str(self.size) if self.stride == self.size else f"{self.size}/{self.stride}"
        for unit in ("w", "d", "h", "m"):
            if self.window % _UNITS[unit] == 0:
                return f"{self.window // _UNITS[unit]}{unit}"
        return f"{self.window}s"

    def _native(self):
        return (
            _KINDS[self.kind],
            _MODES[self.mode],
            self.size,
            self.stride,
            self.partial,
            self.window,
            self.origin,
            self.max_windows or 0,
        )


class ScaleOutput(NamedTuple):
    """Results of one scale of :func:`multiscale_forward`.

    ``y [B, W, H]`` cell outputs per pooled step (zero past ``out_lengths``), ``h_n [B, H]``,
    ``c_n [B, H]`` (LSTM) or None, ``out_lengths [B]`` int64, ``counts [B, W]`` int64 events per
    step, ``closed_before [B, T]`` int64 steps closed strictly before each event. ``y``, ``h_n``
    and ``c_n`` live on the device of ``x`` (CuPy arrays for CUDA input); the int64 arrays are
    always NumPy arrays (planned on the host from ``lengths`` / ``timestamps``).
    """

    y: Any
    h_n: Any
    c_n: Any
    out_lengths: Any
    counts: Any
    closed_before: Any


@dataclass(frozen=True, eq=False)
class MultiscaleCache:
    """What :func:`multiscale_forward` saves for :func:`multiscale_backward`.

    Holds references to the inputs (do not modify them in place before the backward) and one
    native state tuple per scale. :meth:`pooled` and :meth:`window_start` expose the cell inputs
    and the windows' start times.
    """

    cell: str
    scales: tuple
    count_feature: bool
    x: Any
    timestamps: Any
    lengths: Any
    weights: list
    states: list

    def pooled(self, s: int):
        """Cell input of scale ``s``: ``[B, W, I]`` pooled channels (+ ``log1p(count)``)."""
        return self.states[s][2]

    def window_start(self, s: int):
        """``[B, W]`` int64 start time of each step of time scale ``s`` (None for count scales)."""
        return self.states[s][4]


def _as_scales(scales) -> tuple:
    if isinstance(scales, (str, Scale)) or not hasattr(scales, "__iter__"):
        raise TypeError("scales must be a list of Scale objects or specs such as '4', '1h'")
    out = tuple(Scale.parse(s) for s in scales)
    if not out:
        raise ValueError("scales: at least one scale is required")
    return out


def _as_weights(weights, n: int) -> list:
    if not isinstance(weights, (list, tuple)):
        raise TypeError("weights must be a list of (w_ih, w_hh, b_ih, b_hh) tuples, one per scale")
    out = []
    for s, w in enumerate(weights):
        if not isinstance(w, (list, tuple)) or len(w) not in (2, 4):
            raise ValueError(f"weights[{s}] must be (w_ih, w_hh) or (w_ih, w_hh, b_ih, b_hh)")
        out.append(tuple(w) if len(w) == 4 else (w[0], w[1], None, None))
    if len(out) != n:
        raise ValueError(f"weights: expected one set per scale ({n} scales), got {len(out)}")
    return out


def multiscale_forward(
    x, scales, weights, cell="lstm", lengths=None, timestamps=None, count_feature=False
):
    """Pool and run one recurrent cell per scale, in one native call.

    Args:
        x: ``[B, T, C]`` float32 or float64 event features, C-contiguous; a CUDA array (CuPy,
            ...) runs every scale on the device, on CuPy's current stream, with the weights on
            the same device.
        scales: list of :class:`Scale` (or specs for :meth:`Scale.parse`: ``"1"``, ``"4"``,
            ``"1h"``, ``"7d"`` ...).
        weights: one ``(w_ih [G*H_s, I_s], w_hh [G*H_s, H_s], b_ih [G*H_s], b_hh [G*H_s])`` per
            scale in torch.nn layout (biases may be None or omitted), dtype of x, with
            ``I_s = C`` (``C + 1`` with ``count_feature``); hidden sizes may differ per scale.
        cell: ``"lstm"``, ``"gru"``, ``"rnn_tanh"``, ``"rnn_sigmoid"`` or ``"rnn_relu"``.
        lengths: ``[B]`` integers in ``[0, T]`` or None (all T).
        timestamps: ``[B, T]`` int64 seconds (float accepted when finite, floored), sorted within
            each sequence; required when a scale is a time window.
        count_feature: append ``log1p(count)`` of each pooled step as an extra input channel.

    Returns:
        ``(outputs, cache)``: ``outputs[s]`` is a :class:`ScaleOutput` ``(y, h_n, c_n,
        out_lengths, counts, closed_before)``; each cell starts from zero state and runs over its
        scale's ``out_lengths``. Use :func:`gather_causal` for per-event causal states.

    Raises:
        TypeError: wrong dtypes (x, weights not of x's dtype, timestamps, lengths);
            ``count_feature`` not True or False.
        ValueError: unknown cell or scale spec, number of weight sets != number of scales,
            weight shapes (the message names ``weights[s]``), a time scale without timestamps,
            unsorted timestamps (names b and t), a count scale larger than T with
            ``partial=False``, bad shapes, B or T == 0, lengths outside ``[0, T]``.
    """
    if not is_one_of(cell, _CELLS):
        raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {cell!r}")
    count_feature = as_bool(count_feature, "count_feature")
    scales = _as_scales(scales)
    weights = _as_weights(weights, len(scales))
    if timestamps is not None:
        timestamps = as_timestamps(timestamps)
    lengths = as_lengths(lengths)
    states = _core.multiscale_forward(
        _CELLS[cell],
        [s._native() for s in scales],
        weights,
        x,
        timestamps,
        lengths,
        count_feature,
    )
    outputs = [ScaleOutput(st[8], st[9], st[10], st[0], st[3], st[7]) for st in states]
    cache = MultiscaleCache(
        cell, scales, count_feature, x, timestamps, lengths, weights, list(states)
    )
    return outputs, cache


def _per_scale(items, n: int, name: str) -> list:
    if items is None:
        return [None] * n
    if isinstance(items, (str, bytes, dict)) or not hasattr(items, "__iter__"):
        raise TypeError(
            f"{name} must be None or a list with one entry (an array or None) per scale, got "
            f"{type(items).__name__}"
        )
    items = list(items)
    if len(items) != n:
        raise ValueError(f"{name}: expected one entry per scale ({n}), got {len(items)}")
    return items


def multiscale_backward(dys, dh_ns, dc_ns, cache):
    """Gradients of :func:`multiscale_forward`.

    Args:
        dys: per scale ``[B, W_s, H_s]`` gradient w.r.t. ``y_s`` (entries past ``out_lengths``
            ignored) or None; the whole list may be None.
        dh_ns: per scale ``[B, H_s]`` gradient w.r.t. ``h_n_s`` or None; the list may be None.
        dc_ns: per scale ``[B, H_s]`` gradient w.r.t. ``c_n_s`` (LSTM) or None; may be None.
        cache: the :class:`MultiscaleCache` of the forward pass.

    Returns:
        ``(dx [B, T, C], weight_grads)`` with ``weight_grads[s] = (dw_ih, dw_hh, db_ih, db_hh)``
        (``db_*`` None where the forward had no bias). ``dx`` sums every scale's contribution.

    Raises:
        TypeError: cache is not a MultiscaleCache; gradients of the wrong dtype; ``dys``,
            ``dh_ns`` or ``dc_ns`` neither None nor a list.
        ValueError: lists of the wrong length or gradients of the wrong shape (names ``dys[s]``
            etc.), dc_ns given for a cell other than the LSTM, a cache whose ``cell`` was
            changed to an unknown one.
    """
    if not isinstance(cache, MultiscaleCache):
        raise TypeError("cache must be the MultiscaleCache returned by multiscale_forward")
    c, n = cache, len(cache.scales)
    if not is_one_of(c.cell, _CELLS):
        raise ValueError(f"cache.cell must be one of {sorted(_CELLS)}, got {c.cell!r}")
    dx, grads = _core.multiscale_backward(
        _CELLS[c.cell],
        [s._native() for s in c.scales],
        c.weights,
        c.x,
        c.timestamps,
        c.lengths,
        c.count_feature,
        c.states,
        _per_scale(dys, n, "dys"),
        _per_scale(dh_ns, n, "dh_ns"),
        _per_scale(dc_ns, n, "dc_ns"),
    )
    return dx, [tuple(g) for g in grads]


def _check_closed(y, closed_before, name="y"):
    """closed_before checked against ``y [B, W, ...]`` and returned as int64."""
    if not isinstance(closed_before, np.ndarray) or closed_before.dtype.kind not in "iu":
        raise TypeError("closed_before must be an integer NumPy array [B, T]")
    if closed_before.ndim != 2 or closed_before.shape[0] != y.shape[0]:
        raise ValueError(
            f"closed_before must have shape [B, T] with B = {y.shape[0]}, got {closed_before.shape}"
        )
    if closed_before.size and (closed_before.min() < 0 or closed_before.max() > y.shape[1]):
        raise ValueError(f"closed_before must lie in [0, W] with W = {y.shape[1]}")
    return closed_before.astype(np.int64, copy=False)  # unsigned: cb - 1 must not wrap


def _check_float(a, name):
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")


def gather_causal(y_s, closed_before_s):
    """Per-event causal state of one scale: ``out[b, t] = y_s[b, closed_before_s[b, t] - 1]``.

    Args:
        y_s: ``[B, W, H]`` scale outputs (``outputs[s].y``).
        closed_before_s: ``[B, T]`` int64 (``outputs[s].closed_before``).

    Returns:
        ``[B, T, H]`` of y_s's dtype: the state after the last step whose window closed strictly
        before event t, zeros (the cells' initial state) when none has.

    Raises:
        TypeError / ValueError: y_s not ``[B, W, H]``, closed_before of another batch size or
        outside ``[0, W]``.

    A CuPy ``y_s`` gives a CuPy result (``closed_before`` stays a host array).
    """
    xp = array_module(y_s)
    y_s = xp.asarray(y_s)
    if y_s.ndim != 3:
        raise ValueError(f"y_s must have shape [B, W, H], got {y_s.shape}")
    _check_float(y_s, "y_s")
    closed_before_s = _check_closed(y_s, closed_before_s)
    B, W, H = y_s.shape
    T = closed_before_s.shape[1]
    rows = _causal_rows(closed_before_s, W, xp)
    # one native call: y_s rows by index, zeros where none has closed (index -1)
    out = _core.gather_rows(xp.ascontiguousarray(y_s).reshape(B * W, H), rows, None, 0)
    return out.reshape(B, T, H)


def _causal_rows(closed_before_s, W, xp):
    """Row of ``y_s.reshape(B * W, H)`` per event (``-1``: none closed), on ``xp``'s device."""
    B, T = closed_before_s.shape
    rows = np.where(closed_before_s > 0, np.arange(B)[:, None] * W + closed_before_s - 1, -1)
    rows = np.ascontiguousarray(rows.reshape(-1), dtype=np.int64)
    return rows if xp is np else xp.asarray(rows)


def gather_causal_backward(dg, closed_before_s, W):
    """Gradient of :func:`gather_causal`: ``dg [B, T, H]`` -> ``dy_s [B, W, H]`` (scatter-add;
    CuPy in, CuPy out). ValueError naming ``W`` when ``dy_s`` (or ``B * W``) would exceed
    ``MAX_ELEMENTS`` (2**36) elements."""
    xp = array_module(dg)
    dg = xp.asarray(dg)
    if dg.ndim != 3:
        raise ValueError(f"dg must have shape [B, T, H], got {dg.shape}")
    _check_float(dg, "dg")
    if isinstance(W, bool) or not isinstance(W, numbers.Integral) or W < 0:
        raise ValueError(f"W (the scale's steps) must be an integer >= 0, got {W!r}")
    W = int(W)  # (a NumPy unsigned W would turn the row indices into floats)
    B, T, H = dg.shape
    check_elements((B, W, H), "W", "dy_s [B, W, H]")  # (and B * W rows numbered in int64)
    closed_before_s = _check_closed(np.empty((B, W, 0)), closed_before_s)
    if closed_before_s.shape[1] != T:
        raise ValueError(f"closed_before must have shape [B, T] = {(B, T)}")
    # one native call: the events' gradients summed into the rows they read (in event order on
    # the CPU)
    dy = _core.scatter_rows(xp.ascontiguousarray(dg).reshape(B * T, H),
                            _causal_rows(closed_before_s, W, xp), None, B * W, 0, H)
    return dy.reshape(B, W, H)
