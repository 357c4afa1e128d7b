"""Embedding lookup over a padded batch of ids, forward and (sparse or dense) backward.

``table [V, D]`` is laid out like ``torch.nn.Embedding.weight`` and a Keras ``Embedding``'s
``embeddings``, so it moves between them unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import _core
from ._common import as_bool, as_lengths, int64_indices


@dataclass(frozen=True, eq=False)
class EmbeddingCache:
    """What :func:`embedding_forward` saves for :func:`embedding_backward`: references to
    ``ids`` (int64), ``table`` and ``lengths``; do not modify them in place before the backward."""

    ids: Any
    table: Any
    lengths: Any


def _as_ids(ids):
    """ids as int64 (see ``_common.int64_indices``; on a device too)."""
    return int64_indices(ids, "ids", "they are row indices")


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
    sparse = as_bool(sparse, "sparse")
    return _core.embedding_backward(dy, cache.ids, cache.table, cache.lengths, sparse)
