"""``ScaleFusion``: learned softmax weights over per-scale predictions (the seed's α, β, γ)."""

from __future__ import annotations

import numpy as np

from .. import ops
from ..ops._common import check_int
from . import device as _device
from .layer import Layer, check_input


class ScaleFusion(Layer):
    """``y[b, k] = sum_s alpha[s, k] * y_s[b, k]`` with ``alpha = softmax(logits, axis=0)``.

    ``forward([y_0, ..., y_{S-1}])`` takes S arrays ``[B, K]`` and returns ``[B, K]``;
    ``backward(dy)`` returns the list of ``dy_s``. Parameter ``logits [S, K]`` starts at zero
    (equal weights). Built with ``in_features = (S, K)``. Per mini-batch ``[B, K]`` arithmetic
    in two native calls (``ops.scale_fusion_forward`` / ``scale_fusion_backward``).

    Raises:
        TypeError: ``ys`` not a list / tuple of arrays; ``in_features`` not integers.
        ValueError: no arrays in ``ys``, a count other than the built S, ``in_features`` not
            ``(S, K)`` with S, K >= 1.
    """

    def __init__(self):
        super().__init__()
        self._ys = None

    def _build(self, in_features, rng):
        if not (isinstance(in_features, (tuple, list)) and len(in_features) == 2):
            raise ValueError(f"in_features must be (S, K) for ScaleFusion, got {in_features!r}")
        s, k = (check_int(v, "in_features") for v in in_features)
        self.logits = self.add_param("logits", (s, k))

    def output_features(self, in_features):
        return int(in_features[1])

    def _ensure_built(self, ys):
        if not isinstance(ys, (list, tuple)):
            raise TypeError(f"ys must be a list of [B, K] arrays (one per scale), got "
                            f"{type(ys).__name__}")
        if not ys:
            raise ValueError("ys: expected one [B, K] array per scale, got an empty list")
        for i, y in enumerate(ys):
            check_input(y, f"ys[{i}]")
        if not self.built:
            self.build((len(ys), ys[0].shape[-1]), None, ys[0].dtype)

    @property
    def alpha(self):
        """``[S, K]`` softmax weights (columns sum to 1)."""
        z = self.logits.data - self.logits.data.max(axis=0, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=0, keepdims=True)

    def contributions(self, ys):
        """``[B, S, K]``: ``alpha[s, k] * y_s[b, k]`` (sums over S to the output)."""
        return np.stack(ys, axis=1) * self.alpha[None]

    def forward(self, ys, training=False, lengths=None):
        self._ensure_built(ys)
        if len(ys) != self.logits.shape[0]:
            raise ValueError(f"ys: expected {self.logits.shape[0]} scales, got {len(ys)}")
        self._ys = _device.xp(ys[0]).stack(ys, axis=0)  # [S, B, K]: one block per scale
        y, self._alpha = ops.scale_fusion_forward(self._ys, self.logits.data)
        self.out_lengths = None
        return y

    def backward(self, dy):
        if self._ys is None:
            raise RuntimeError("ScaleFusion.backward called before forward")
        dys, dlogits = ops.scale_fusion_backward(_device.contiguous(dy), self._ys, self._alpha)
        self.logits.take(dlogits)
        return list(dys)  # [B, K] views of one [S, B, K] array, each C-contiguous
