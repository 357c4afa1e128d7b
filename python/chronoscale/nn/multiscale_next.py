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
from .recurrent import _NATIVE, MultiScale


def closed_through(scale, closed_before, lengths, out_lengths):
    """``[B, T]`` int64: steps of ``scale`` closed once events ``0..t`` are seen (0 past a
    sequence's length). ``closed_before``/``out_lengths`` come from ``multiscale_forward``."""
    B, T = closed_before.shape
    if scale.kind == "time":
        return closed_before
    t1 = np.arange(1, T + 1, dtype=np.int64)[None, :]  # events seen after event t
    n = np.where(t1 >= scale.size, (t1 - scale.size) // scale.stride + 1, 0)
    n = np.minimum(np.broadcast_to(n, (B, T)), np.asarray(out_lengths)[:, None])
    L = np.full(B, T, np.int64) if lengths is None else np.asarray(lengths)
    return np.ascontiguousarray(np.where(t1 <= L[:, None], n, 0), dtype=np.int64)


class MultiScaleNext(MultiScale):
    """Multi-scale cells whose per-event output feeds a prediction of the next event.

    ``forward(x [B, T, C], lengths, timestamps)`` -> ``[B, T, sum(units)]`` (``merge="concat"``)
    or a list of ``[B, T, H_s]``; row ``t`` is each scale's state after its last window closed
    once events ``0..t`` are seen (see the module docstring), zero where none has closed and
    past the lengths. Arguments and parameters as :class:`~chronoscale.nn.MultiScale` (the
    output mode is fixed). ``backward`` is MultiScale's causal backward with these indices.
    """

    def __init__(self, scales, units, cell: str = "gru", pool: str = "mean",
                 count_feature: bool = False, merge="concat"):
        super().__init__(scales, units, cell=cell, pool=pool, count_feature=count_feature,
                         output="causal", merge=merge)

    def forward(self, x, training=False, lengths=None, timestamps=None):
        self._ensure_built(x)
        weights = [tuple(p.data if p is not None else None for p in c) for c in self.cells]
        outs, self._cache = ops.multiscale_forward(
            x, self._scales, weights, cell=_NATIVE[self.cell], lengths=lengths,
            timestamps=timestamps, count_feature=self.count_feature,
        )
        # MultiScale.backward scatters through outs[s].closed_before: store our indices there.
        self._outs = [o._replace(closed_before=closed_through(sc, o.closed_before, lengths,
                                                              o.out_lengths))
                      for sc, o in zip(self._scales, outs, strict=True)]
        ys = [ops.gather_causal(o.y, o.closed_before) for o in self._outs]
        self.out_lengths = lengths
        return np.concatenate(ys, axis=-1) if self.merge == "concat" else ys
