"""Embedding lookup over a padded batch of ids, forward and (sparse or dense) backward.

``table [V, D]`` is laid out like ``torch.nn.Embedding.weight`` and a Keras ``Embedding``'s
``embeddings``, so it moves between them unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _core
from ._common import as_lengths

_INT64_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True, eq=False)
class EmbeddingCache:
    """What :func:`embedding_forward` saves for :func:`embedding_backward`: references to
    ``ids`` (int64), ``table`` and ``lengths``; do not modify them in place before the backward."""

    ids: Any
    table: Any
    lengths: Any


def _as_ids(ids):
    """ids as int64: they are indices, so any integer dtype is converted (a copy); floats and
    booleans raise TypeError. Layout is kept, so non-contiguous ids are still rejected."""
    if not hasattr(ids, "__cuda_array_interface__"):
        ids = np.asarray(ids)
    dtype = getattr(ids, "dtype", None)
    if dtype is None:
        return ids  # a foreign CUDA array: the core reports what is wrong with it
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        raise TypeError(f"ids must hold integers (they are row indices), got dtype {dtype}")
    if dtype == np.int64:
        return ids
    if dtype == np.uint64 and ids.size and int(ids.max()) > _INT64_MAX:
        raise ValueError("ids holds values above the int64 range")
    return ids.astype(np.int64)


def embedding_forward(ids, table, lengths=None):
    """Look up ``table`` rows: ``y[b, t] = table[ids[b, t]]`` for ``t < lengths[b]``, else 0.

    Args:
        ids: ``[B, T]`` integers (any integer dtype; converted to int64). Entries past the
            lengths are padding and are never used as indices.
        table: ``[V, D]`` float32 or float64, C-contiguous.
        lengths: ``[B]`` integers in ``[0, T]`` or None (all T).

    Returns:
        ``(y [B, T, D], cache)``; ``y`` has ``table``'s dtype.

    Raises:
        TypeError: ``ids`` not integers, ``table`` not float32/float64.
        ValueError: shapes, non-contiguous arrays, lengths outside ``[0, T]``, ``B == 0`` or
            ``T == 0``, and ids outside ``[0, V)`` at a valid position (the message names ``ids``
            and gives the first bad ``(b, t)`` and its value).
        RuntimeError: CUDA arrays with a build without CUDA, or without a device.

    ``table`` may be a CUDA array (CuPy, ...; ``lengths`` stays a host array): ``y`` is then a
    CuPy array computed on CuPy's current stream. ``ids`` may then be a host array (checked on
    the host and copied to the device without waiting for it: the fast way) or a CUDA array
    (the id range check then runs on the device and waits for it once, since it must raise
    before anything is written).
    """
    ids = _as_ids(ids)
    lengths = as_lengths(lengths)
    y = _core.embedding_forward(ids, table, lengths)
    return y, EmbeddingCache(ids, table, lengths)


def embedding_backward(dy, cache: EmbeddingCache, sparse: bool = True):
    """Gradient w.r.t. the table of :func:`embedding_forward`.

    Args:
        dy: ``[B, T, D]`` gradient w.r.t. ``y`` (rows past the lengths are ignored).
        cache: the ``EmbeddingCache`` returned by :func:`embedding_forward`.
        sparse: return only the touched rows (default) or the full ``[V, D]`` gradient.

    Returns:
        ``sparse=True``: ``(rows [U] int64, grad [U, D])`` with ``rows`` the sorted distinct ids
        at valid positions and ``grad[u]`` the sum of ``dy[b, t]`` over those positions with
        ``ids[b, t] == rows[u]`` (``dtable[rows] = grad``, every other row is zero).
        ``sparse=False``: ``dtable [V, D]``. Sums run in position order: the result is
        deterministic and independent of the thread count. On CUDA the arrays (``rows``
        included) are CuPy arrays; the ids are grouped on the device without sorting (one wait
        for the number of distinct ids) and rows are summed with atomic adds, so the float
        summation order is not fixed there. ``sparse=False`` never waits for the device when the
        cache's ids are a host array.
    """
    if not isinstance(cache, EmbeddingCache):
        raise TypeError("cache must be the EmbeddingCache returned by embedding_forward")
    return _core.embedding_backward(dy, cache.ids, cache.table, cache.lengths, bool(sparse))
