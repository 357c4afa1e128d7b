"""``MultiScaleNext``: per-event multi-scale states for predicting the *next* event.

:class:`~chronoscale.nn.MultiScale` with ``output="causal"`` gives, at event ``t``, the state
after the windows that closed strictly **before** event ``t`` (what a prediction *of* event ``t``
may use). Next-item recommendation predicts event ``t + 1`` right **after** event ``t``, so a
window that event ``t`` completes is usable too. This layer gathers, for every event ``t`` and
scale ``s``, the state after the last window of scale ``s`` that is closed once events
``0..t`` have been seen:

* count window of ``size`` events every ``stride``: window ``j`` holds events
  ``[j*stride, j*stride + size)`` and is closed after event ``t`` iff ``j*stride + size <= t + 1``
  (so the fine scale ``"1"`` at ``t`` is the cell state after event ``t`` itself);
* wall-clock window ``[start, start + window)``: closed at event ``t`` iff it ended at or before
  ``timestamps[t]`` -- the native ``closed_before[t]``. Its state never depends on the time of a
  later event (using ``timestamps[t + 1]`` would leak when the next event happens).

Nothing gathered at ``t`` depends on events after ``t`` (item, features or time): training on
every position never sees a window with later events. An open window's partial pool is not
used; give the layer's consumers the event's own features (the recommender concatenates them).
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..ops._common import check_int, int64_indices
from . import device as _device
from .layer import check_grad
from .recurrent import _NATIVE, MultiScale, take_cell_grads


def _count_closed(xp, scale, t1, out_len, running):
    """Windows of the count ``scale`` closed once ``t1`` events are seen: ``(t1 - size) //
    stride + 1`` (floor division makes it <= 0 before the first window closes), floored at 0,
    at most ``out_len``, 0 where not ``running`` (past the sequence's length). Host or device
    arrays (``xp``), any broadcastable shapes."""
    return xp.clip((t1 - scale.size) // scale.stride + 1, 0, out_len) * running


def closed_through(scale, closed_before, lengths, out_lengths):
    """``[B, T]`` int64: steps of ``scale`` closed once events ``0..t`` are seen (0 past a
    sequence's length). ``closed_before``/``out_lengths`` come from ``multiscale_forward``."""
    B, T = closed_before.shape
    if scale.kind == "time":
        return closed_before
    t1 = np.arange(1, T + 1, dtype=np.int64)[None, :]  # events seen after event t
    L = np.full(B, T, np.int64) if lengths is None else np.asarray(lengths)
    n = _count_closed(np, scale, t1, np.asarray(out_lengths)[:, None], t1 <= L[:, None])
    return np.ascontiguousarray(np.broadcast_to(n, (B, T)), dtype=np.int64)


class MultiScaleNext(MultiScale):
    """Multi-scale cells whose per-event output feeds a prediction of the next event.

    ``forward(x [B, T, C], lengths, timestamps)`` -> ``[B, T, sum(units)]`` (``merge="concat"``)
    or a list of ``[B, T, H_s]``; row ``t`` is each scale's state after its last window closed
    once events ``0..t`` are seen (see the module docstring), zero where none has closed and
    past the lengths. Arguments and parameters as :class:`~chronoscale.nn.MultiScale` (the
    output mode is fixed). ``backward`` is MultiScale's causal backward with these indices.

    Selected positions only (what a model that scores some events needs, without the
    ``[B, T, sum(units)]`` block): :meth:`run` the cells, :meth:`gather` the states at events
    ``(b[n], t[n])`` into rows, :meth:`backward_rows` from those rows' gradients.
    """

    def __init__(self, scales, units, cell: str = "gru", pool: str = "mean",
                 count_feature: bool = False, merge="concat"):
        super().__init__(scales, units, cell=cell, pool=pool, count_feature=count_feature,
                         output="causal", merge=merge)
        self._shape = None  # (B, T) of the last run()
        self._rows_cache = None

    def run(self, x, lengths=None, timestamps=None) -> None:
        """Run every scale's cell over ``x [B, T, C]`` (one native call) and keep, per scale,
        what the closed-through indices of :meth:`gather` / :meth:`backward_rows` come from."""
        self._ensure_built(x)
        weights = [tuple(p.data if p is not None else None for p in c) for c in self.cells]
        outs, self._cache = ops.multiscale_forward(
            x, self._scales, weights, cell=_NATIVE[self.cell], lengths=lengths,
            timestamps=timestamps, count_feature=self.count_feature,
        )
        # closed_before (time scales: our indices as they are) and out_lengths, on the host;
        # the rows of every scale follow from them and the lengths (_rows).
        host = _device.to_host
        self._outs = [o._replace(closed_before=host(o.closed_before),
                                 out_lengths=host(o.out_lengths)) for o in outs]
        self._shape = x.shape[:2]
        self._lengths = None if lengths is None else np.asarray(lengths, dtype=np.int64)
        self.out_lengths = lengths
        self._rows_cache = None  # the rows of gather(), kept for backward_rows()

    def _rows(self, b, t):
        """Per scale, the rows of its outputs ``y.reshape(B * W, H)`` holding the states at the
        events ``(b[n], t[n])`` (``-1``: none closed yet, the zero state), on the device of the
        outputs: one native call per scale (``ops.window_rows``), the event indices and the
        per-sequence counts copied to a device in one copy. ``b = t = None``: every event,
        row-major. Kept for the backward of the same rows (``b`` and ``t`` the same objects)."""
        if self._shape is None:
            raise RuntimeError("MultiScaleNext: call run first (gather / backward_rows read the "
                               "states of the last run)")
        cached = self._rows_cache
        if cached is not None and cached[0] is b and cached[1] is t:
            return cached[2]
        key = (b, t)
        if b is not None or t is not None:
            b, t = self._check_events(b, t)
        y0 = self._outs[0].y
        B, T = self._shape
        per_b = [self._lengths] + [o.out_lengths for o in self._outs]
        closed = [o.closed_before if sc.kind == "time" else None
                  for sc, o in zip(self._scales, self._outs, strict=True)]
        bd, td = b, t
        if _device.is_device_array(y0):
            xp, dev = _device.xp(y0), _device.device_of(y0)
            host = [a for a in [*per_b, *closed] if a is not None]
            if b is None:  # every position: made on the device
                bd, td = xp.repeat(xp.arange(B), T), xp.tile(xp.arange(T), B)
                up = _device.to_device_many(host, dev)
            else:
                bd, td, *up = _device.to_device_many([b, t, *host], dev)
            it = iter(up)  # the uploaded arrays back in the places of the host ones
            per_b = [None if a is None else next(it) for a in per_b]
            closed = [None if a is None else next(it) for a in closed]
        elif b is None:
            bd, td = np.repeat(np.arange(B), T), np.tile(np.arange(T), B)
        rows = [ops.window_rows(sc, bd, td, (B, T), o.y.shape[1], lengths=per_b[0],
                                out_lengths=per_b[s + 1], closed=closed[s])
                for s, (sc, o) in enumerate(zip(self._scales, self._outs, strict=True))]
        self._rows_cache = (*key, rows)
        return rows

    def _check_events(self, b, t):
        """``b``, ``t`` as ``[N]`` integer arrays with ``b`` in ``[0, B)`` and ``t`` in
        ``[0, T)`` of the last run (TypeError / ValueError naming them): an event outside the
        batch would silently gather a zero state."""
        out = []
        for name, a, n, what in (("b", b, self._shape[0], "sequences"),
                                 ("t", t, self._shape[1], "steps")):
            if a is None:
                raise TypeError(f"{name} must be an array of event indices (b and t both None "
                                "gathers every event), got None")
            if _device.is_device_array(a):
                if a.dtype.kind not in "iu":
                    raise TypeError(f"{name} must hold integers (event indices), got dtype "
                                    f"{a.dtype}")
            else:
                a = int64_indices(a, name, "event indices")
            if a.ndim != 1:
                raise ValueError(f"{name} must be 1-D, got shape {tuple(a.shape)}")
            if a.size and (int(a.min()) < 0 or int(a.max()) >= n):
                raise ValueError(f"{name} must lie in [0, {n}) (the run's {what}), got values "
                                 f"in [{int(a.min())}, {int(a.max())}]")
            out.append(a)
        if out[0].shape != out[1].shape:
            raise ValueError(f"b and t must have the same shape, got {tuple(out[0].shape)} and "
                             f"{tuple(out[1].shape)}")
        return out

    def gather(self, b, t, out=None, col: int = 0):
        """States at the events ``(b[n], t[n])`` after :meth:`run`: ``[N, sum(units)]``, scales
        side by side (``b = t = None``: every event, row-major ``[B * T, ...]``). ``out``: a
        C-contiguous ``[N, W]`` array to write them into instead, at columns ``[col, col +
        sum(units))`` (its other columns are left as they are).

        Raises:
            RuntimeError: before :meth:`run`. TypeError: non-integer ``b`` / ``t`` / ``col``.
            ValueError: ``b`` outside ``[0, B)``, ``t`` outside ``[0, T)`` of the run, shapes.
        """
        col = check_int(col, "col", 0)
        keys = self._rows(b, t)
        y0 = self._outs[0].y
        xp = _device.xp(y0)
        if out is None:
            out = xp.empty((keys[0].size, sum(self.units)), dtype=y0.dtype)
        for k, o, h in zip(keys, self._outs, self.units, strict=True):
            B, W = o.y.shape[:2]  # one native call: rows of y by key, zeros where key < 0
            ops.gather_rows(_device.contiguous(o.y).reshape(B * W, h), k, out, col=col)
            col += h
        return out

    def backward_rows(self, dg, b, t, col: int = 0):
        """Backward of :meth:`gather` then the cells: ``dg [N, W]`` holds the gradient w.r.t. the
        gathered rows in columns ``[col, col + sum(units))``; accumulates the weights' gradients
        and returns ``dx [B, T, C]``. Errors as :meth:`gather`."""
        if self._cache is None or self._shape is None:
            raise RuntimeError("MultiScaleNext.backward called before forward")
        col = check_int(col, "col", 0)
        dg = _device.contiguous(dg)
        keys = self._rows(b, t)  # those of gather() for the same rows
        seq = []
        for k, o, h in zip(keys, self._outs, self.units, strict=True):
            B, W = o.y.shape[:2]  # one native call: the rows' gradients summed per key
            rows = ops.scatter_rows(dg, k, size=B * W, col=col, width=h)
            seq.append(rows.reshape(B, W, h))
            col += h
        dx, grads = ops.multiscale_backward(seq, None, None, self._cache)
        take_cell_grads(self.cells, grads)
        return dx

    def forward(self, x, training=False, lengths=None, timestamps=None):
        self.run(x, lengths, timestamps)
        B, T = self._shape
        y = self.gather(None, None).reshape(B, T, -1)
        if self.merge == "concat":
            self._out_shape = y.shape
            return y
        cols = np.cumsum([0] + self.units)
        self._out_shape = [(B, T, h) for h in self.units]
        return [_device.contiguous(y[..., a:c]) for a, c in zip(cols[:-1], cols[1:])]

    def backward(self, dy):
        if self._cache is None:
            raise RuntimeError("MultiScaleNext.backward called before forward")
        dy = check_grad(dy, self._out_shape)
        B, T = self._shape
        if self.merge != "concat":  # a list per scale, None: no gradient
            y0 = self._outs[0].y
            xp = _device.xp(y0)
            dy = xp.concatenate([xp.zeros((B, T, h), y0.dtype) if d is None else xp.asarray(d)
                                 for d, h in zip(dy, self.units, strict=True)], axis=-1)
        return self.backward_rows(dy.reshape(B * T, -1), None, None)
