"""Cosine interaction features: ``cosine_lag`` (each event vs the event ``lag`` steps earlier)
and ``cosine_query`` (a query vector, e.g. a candidate item, vs every event), forward and backward.

``cos(a, b) = a . b / (max(|a|, eps) * max(|b|, eps))``: for ``|a|, |b| > eps`` this is the usual
cosine similarity; a vector with norm ``<= eps`` is divided by ``eps`` instead, so zero vectors
(e.g. padding embeddings) give 0 rather than NaN, and the gradient then treats that norm as the
constant ``eps``. ``eps`` defaults to ``1e-8``.

NumPy arrays run on the CPU; CUDA arrays (CuPy, anything with ``__cuda_array_interface__``) run
the CUDA kernels on CuPy's current stream and return CuPy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import _core
from ._common import as_int, as_lengths, real


@dataclass(frozen=True, eq=False)
class CosineCache:
    """What a cosine forward pass saves for its backward pass.

    Holds references to the inputs (not copies): do not modify them in place before calling the
    backward. ``y [B, T]`` the features, ``xnorm [B, T]`` the norms ``|x[b, t]|`` (0 past the
    lengths), ``qnorm [B]`` the norms ``|q[b]|`` (``cosine_query`` only, else None).
    """

    kind: str
    x: Any
    q: Any
    lengths: Any
    lag: int
    eps: float
    y: Any
    xnorm: Any
    qnorm: Any


def cosine_lag_forward(x, lag: int = 1, lengths=None, eps: float = 1e-8):
    """Cosine similarity of each event with the event ``lag`` steps earlier.

    Args:
        x: ``[B, T, D]`` float32 or float64 (NumPy or CUDA array), C-contiguous.
        lag: ``>= 1``; ``lag >= T`` gives all zeros.
        lengths: ``[B]`` integers in ``[0, T]`` or None (all T).
        eps: norm floor ``> 0`` (see the module docstring).

    Returns:
        ``(y [B, T], cache)`` with ``y[b, t] = cos(x[b, t], x[b, t - lag])`` for
        ``lag <= t < lengths[b]`` and 0 elsewhere; ``y`` has ``x``'s dtype and device.

    Raises:
        TypeError: ``x`` not float32/float64, lengths not integers.
        ValueError: shapes, non-contiguous ``x``, ``lag < 1``, ``eps <= 0``, lengths outside
            ``[0, T]``, ``B == 0`` or ``T == 0`` or ``D == 0``.
        RuntimeError: a CUDA array without a CUDA build (``chronoscale.CudaError`` when no CUDA
            device is available or a CUDA call fails).
    """
    lengths = as_lengths(lengths)
    lag, eps = as_int(lag, "lag"), real(eps, "eps")
    y, xnorm = _core.cosine_lag_forward(x, lag, lengths, eps)
    return y, CosineCache("lag", x, None, lengths, lag, eps, y, xnorm, None)


def cosine_lag_backward(dy, cache: CosineCache):
    """Gradient of :func:`cosine_lag_forward`.

    Args:
        dy: ``[B, T]`` gradient w.r.t. ``y`` (entries where ``y`` is forced to 0 are ignored).
        cache: the ``CosineCache`` returned by :func:`cosine_lag_forward`.

    Returns:
        ``dx [B, T, D]`` (zero past the lengths).
    """
    c = _cache(cache, "lag")
    return _core.cosine_lag_backward(dy, c.x, c.lag, c.lengths, c.eps, c.y, c.xnorm)


def cosine_query_forward(q, x, lengths=None, eps: float = 1e-8):
    """Cosine similarity of a query vector per sequence with each of its events.

    Args:
        q: ``[B, D]`` with ``x``'s dtype and device.
        x: ``[B, T, D]`` float32 or float64.
        lengths: ``[B]`` integers in ``[0, T]`` or None (all T).
        eps: norm floor ``> 0``.

    Returns:
        ``(y [B, T], cache)`` with ``y[b, t] = cos(q[b], x[b, t])`` for ``t < lengths[b]``, else 0.

    Raises:
        TypeError, ValueError, RuntimeError: as :func:`cosine_lag_forward`; ``q`` is checked
            against ``[B, D]`` and ``x``'s dtype and device.
    """
    lengths = as_lengths(lengths)
    eps = real(eps, "eps")
    y, xnorm, qnorm = _core.cosine_query_forward(q, x, lengths, eps)
    return y, CosineCache("query", x, q, lengths, 1, eps, y, xnorm, qnorm)


def cosine_query_backward(dy, cache: CosineCache):
    """Gradients of :func:`cosine_query_forward`: ``(dq [B, D], dx [B, T, D])``.

    ``dy [B, T]``; entries past the lengths are ignored.
    """
    c = _cache(cache, "query")
    return _core.cosine_query_backward(dy, c.q, c.x, c.lengths, c.eps, c.y, c.xnorm, c.qnorm)


def _cache(cache, kind: str) -> CosineCache:
    if not isinstance(cache, CosineCache):
        raise TypeError(f"cache must be the CosineCache returned by cosine_{kind}_forward")
    if cache.kind != kind:
        raise ValueError(f"cache comes from cosine_{cache.kind}_forward, not cosine_{kind}_forward")
    return cache
