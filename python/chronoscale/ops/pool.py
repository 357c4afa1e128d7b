"""Windowed pooling of event sequences: count windows and wall-clock (time) windows.

``count_pool_*`` pools every ``stride`` events over ``size`` events (Keras ``MaxPooling1D`` when
``partial=False``); ``time_pool_*`` pools the events of fixed wall-clock windows (``window``
seconds aligned on ``origin``), keeping empty windows as zero steps with count 0 so that a
recurrent cell run over the result sees elapsed time. Modes: ``"max"`` (gradient to the first
argmax), ``"mean"`` (divided by the window's event count), ``"sum"``.

Devices: ``x`` may be a NumPy array or a CUDA array (CuPy, any ``__cuda_array_interface__``
producer); ``y``, ``dx`` and the max-mode ``argmax`` of the cache are then CuPy arrays on the
same device, computed on CuPy's current stream. The integer plans (``counts``, ``out_lengths``,
``window_start`` and the cache's ``first_window`` / ``event_step``) are always NumPy arrays:
they come from the host ``lengths`` / ``timestamps`` and ``out_lengths`` is what the next op
takes as its (host) ``lengths``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _core
from ._common import as_array, as_bool, as_int, as_lengths, is_one_of

_MODES = {"max": 0, "mean": 1, "sum": 2}


def _mode_id(mode, name: str = "mode") -> int:
    if not is_one_of(mode, _MODES):
        raise ValueError(f"{name} must be 'max', 'mean' or 'sum', got {mode!r}")
    return _MODES[mode]


def as_timestamps(timestamps, name: str = "timestamps"):
    """``timestamps`` as int64 seconds.

    int64 arrays pass through unchanged (the kernel rejects non-contiguous ones); float arrays
    must be all finite and are floored to int64. Raises TypeError for any other dtype and
    ValueError for NaN / inf or values outside the int64 range.
    """
    if hasattr(timestamps, "__cuda_array_interface__"):
        return timestamps
    arr = (timestamps if isinstance(timestamps, np.ndarray)
           else as_array(timestamps, name, " of seconds"))
    if arr.dtype == np.int64:
        return arr
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or inf")
        floored = np.floor(arr)
        if floored.size and (floored.min() < -(2.0**63) or floored.max() >= 2.0**63):
            raise ValueError(f"{name} holds values outside the int64 range")
        return np.ascontiguousarray(floored.astype(np.int64))
    raise TypeError(f"{name} must be int64 seconds (or a float array of seconds), got {arr.dtype}")


def _check_dy(dy, cache) -> None:
    dtype = getattr(dy, "dtype", None)
    if dtype is not None and dtype != cache.dtype:
        raise TypeError(f"dy must have the dtype of the forward's x ({cache.dtype}), got {dtype}")


@dataclass(frozen=True, eq=False)
class CountPoolCache:
    """What :func:`count_pool_forward` saves for :func:`count_pool_backward`.

    ``counts [B, W]``, ``out_lengths [B]``, ``argmax [B, W, C]`` int64 (max mode, -1 for
    empty windows; None otherwise) and the forward's arguments.
    """

    mode: str
    size: int
    stride: int
    partial: bool
    x_shape: tuple
    dtype: Any
    counts: Any
    out_lengths: Any
    argmax: Any


@dataclass(frozen=True, eq=False)
class TimePoolCache:
    """What :func:`time_pool_forward` saves for :func:`time_pool_backward`.

    ``counts [B, W]``, ``out_lengths [B]``, ``first_window [B]`` (window index
    ``floor((ts - origin) / window)`` of each sequence's first output step), ``event_step
    [B, T]`` (output step of each event, -1 when not pooled), ``argmax [B, W, C]`` (max only).
    """

    mode: str
    window: int
    origin: int
    max_windows: int | None
    x_shape: tuple
    dtype: Any
    counts: Any
    out_lengths: Any
    first_window: Any
    event_step: Any
    argmax: Any


def count_pool_forward(x, size, stride=None, mode="max", lengths=None, partial=False):
    """Pool every ``stride`` events over windows of ``size`` events.

    Output step ``j`` pools events ``[j*stride, j*stride + size)`` of each sequence.

    Args:
        x: ``[B, T, C]`` float32 or float64, C-contiguous (NumPy or CUDA array).
        size: window size in events (>= 1). stride: step between windows (>= 1, default size).
        mode: ``"max"``, ``"mean"`` or ``"sum"``.
        lengths: ``[B]`` integers in ``[0, T]`` or None (all T).
        partial: False keeps only full windows (Keras ``MaxPooling1D(pool_size=size,
            strides=stride)``, "valid"): ``W = (T - size) // stride + 1`` and
            ``out_lengths[b] = (L_b - size) // stride + 1`` (0 when ``L_b < size``).
            True keeps every window that starts before ``L_b`` (trailing ones may hold fewer
            events): ``W = ceil(T / stride)``, ``out_lengths[b] = ceil(L_b / stride)``.

    Returns:
        ``(y [B, W, C], counts [B, W] int64, out_lengths [B] int64, cache)``; ``y`` and
        ``counts`` are zero past ``out_lengths``; ``counts`` is the number of events pooled.
        ``y`` lives on the device of ``x``; ``counts`` and ``out_lengths`` are NumPy arrays.

    Raises:
        TypeError: x not float32/float64, non-integer size/stride/lengths, ``partial`` not
            True or False.
        ValueError: bad mode; size or stride < 1; ``T < size`` with ``partial=False`` (names
            ``size``); wrong shape, non-contiguous x, lengths outside ``[0, T]``, B or T == 0.
    """
    size = as_int(size, "size")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    stride = size if stride is None else as_int(stride, "stride")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    mode_id = _mode_id(mode)
    partial = as_bool(partial, "partial")
    lengths = as_lengths(lengths)
    y, counts, out_lengths, argmax = _core.count_pool_forward(
        mode_id, size, stride, partial, x, lengths
    )
    cache = CountPoolCache(
        mode, size, stride, partial, tuple(x.shape), x.dtype, counts, out_lengths, argmax
    )
    return y, counts, out_lengths, cache


def count_pool_backward(dy, cache):
    """Gradient of :func:`count_pool_forward`.

    Args:
        dy: ``[B, W, C]`` gradient w.r.t. ``y``, dtype of the forward's x (entries past
            ``out_lengths`` are ignored).
        cache: the :class:`CountPoolCache` of the forward pass.

    Returns:
        ``dx [B, T, C]``: max routes each window's gradient to its argmax (first index on
        ties, the last NaN in a window holding NaN), mean spreads it divided by the window's
        count, sum copies it to every pooled event.
    """
    if not isinstance(cache, CountPoolCache):
        raise TypeError("cache must be the CountPoolCache returned by count_pool_forward")
    _check_dy(dy, cache)
    c = cache
    _, T, C = c.x_shape
    return _core.count_pool_backward(
        _mode_id(c.mode, "cache.mode"), c.size, c.stride, as_bool(c.partial, "cache.partial"),
        dy, T, C, c.counts,
        c.out_lengths, c.argmax
    )


def time_pool_forward(x, timestamps, window, origin=0, mode="mean", lengths=None, max_windows=None):
    """Pool events by wall-clock windows of ``window`` seconds.

    Event ``t`` goes to window ``k = floor((timestamps[b, t] - origin) / window)`` (floor also
    for negative values). Each sequence gets one output step per window from its first event's
    window to its last event's window; empty windows stay as zero steps with count 0.

    Args:
        x: ``[B, T, C]`` float32 or float64, C-contiguous (NumPy or CUDA array).
        timestamps: ``[B, T]`` int64 seconds (a host array), non-decreasing within each
            sequence's valid prefix (entries past ``lengths`` are ignored). A float array is
            accepted when all finite and is floored to int64.
        window: window width in seconds (int > 0). origin: window alignment in seconds (int).
        mode: ``"max"``, ``"mean"`` or ``"sum"``.
        lengths: ``[B]`` integers in ``[0, T]`` or None (all T).
        max_windows: keep only each sequence's most recent ``max_windows`` windows (events in
            earlier windows are dropped), or None to keep all.

    Returns:
        ``(y [B, W, C], counts [B, W] int64, out_lengths [B] int64, window_start [B, W] int64,
        cache)`` with ``W = max(out_lengths)`` (at least 1), ``window_start = origin + k *
        window`` of each step; all zero past ``out_lengths`` (0 for sequences of length 0).

    Raises:
        TypeError: x not float32/float64; timestamps neither int64 nor float; non-integer
            window / origin / max_windows / lengths.
        ValueError: timestamps with NaN / inf, or decreasing (the message names ``b`` and
            ``t``); window <= 0; max_windows < 1; a sequence spanning more than 10**7 windows
            (use max_windows or a larger window); wrong shapes, non-contiguous arrays, lengths
            outside ``[0, T]``, B or T == 0.
    """
    window = as_int(window, "window")
    origin = as_int(origin, "origin")
    if max_windows is not None:
        max_windows = as_int(max_windows, "max_windows")
        if max_windows < 1:
            raise ValueError(f"max_windows must be >= 1 or None, got {max_windows}")
    mode_id = _mode_id(mode)
    timestamps = as_timestamps(timestamps)
    lengths = as_lengths(lengths)
    y, counts, out_lengths, start, first, step, argmax = _core.time_pool_forward(
        mode_id, window, origin, max_windows or 0, x, timestamps, lengths
    )
    cache = TimePoolCache(
        mode,
        window,
        origin,
        max_windows,
        tuple(x.shape),
        x.dtype,
        counts,
        out_lengths,
        first,
        step,
        argmax,
    )
    return y, counts, out_lengths, start, cache


def time_pool_backward(dy, cache):
    """Gradient of :func:`time_pool_forward`: ``dy [B, W, C]`` -> ``dx [B, T, C]``.

    Events that were not pooled (past ``lengths``, or dropped by ``max_windows``) get zero.
    """
    if not isinstance(cache, TimePoolCache):
        raise TypeError("cache must be the TimePoolCache returned by time_pool_forward")
    _check_dy(dy, cache)
    c = cache
    _, T, C = c.x_shape
    return _core.time_pool_backward(
        _mode_id(c.mode, "cache.mode"), dy, T, C, c.counts, c.out_lengths, c.event_step, c.argmax
    )
