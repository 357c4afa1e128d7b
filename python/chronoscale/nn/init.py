"""Weight initialisers, following Keras' defaults so that models start where Keras models start.

All take a NumPy ``Generator`` and return a new float64 array (layers cast to their dtype).
Shapes are in chronoscale / torch layout (``[out, in]`` for dense and recurrent matrices,
``[Cout, Cin, K]`` for convolutions); fans are computed as Keras computes them for its own
layout, so the distributions are the same.
"""

from __future__ import annotations

import numpy as np


def glorot_uniform(rng, shape, fan_in: int, fan_out: int):
    """Keras ``GlorotUniform``: ``U(-l, l)`` with ``l = sqrt(6 / (fan_in + fan_out))``."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def orthogonal(rng, rows: int, cols: int, gain: float = 1.0):
    """Keras ``Orthogonal`` for a ``[rows, cols]`` matrix (orthonormal rows or columns).

    QR of a standard normal matrix, with the signs fixed by ``diag(R)`` so the result is
    uniformly distributed (Haar).
    """
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return gain * q[:rows, :cols]


def recurrent_kernel(rng, gates: int, hidden: int):
    """A recurrent ``w_hh [gates*H, H]`` in torch layout, initialised like Keras'
    ``recurrent_kernel [H, gates*H]`` (orthogonal over the whole matrix), then transposed."""
    return np.ascontiguousarray(orthogonal(rng, hidden, gates * hidden).T)
