"""Inverted dropout with a counter-based random number generator (bit-reproducible on the CPU).

Element ``i`` (flat row-major index) is kept when ``u(seed, i) >= p``, where ``u`` in ``[0, 1)``
is a pure function of the seed and the index (a splitmix64 hash, 53 bits). Kept elements are
scaled by ``1 / (1 - p)``, so ``E[y] = x``. The mask depends only on ``(seed, p, x.size)``: not on
the dtype, the thread count or the order of the work; the backward recomputes it from the seed
instead of storing it. Use a new seed per step (e.g. ``base_seed * 1_000_003 + step``) and per
layer.

NumPy arrays run on the CPU; CUDA arrays (CuPy, anything with ``__cuda_array_interface__``) run
the CUDA kernel on CuPy's current stream and return CuPy arrays, with the same mask as the CPU
for the same ``(seed, p, size)``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .. import _core

_U64 = 1 << 64


def check_seed(seed, name: str = "seed") -> int:
    """``seed`` as an int in ``[0, 2**64)`` (TypeError / ValueError naming it otherwise)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(seed).__name__}")
    seed = int(seed)
    if not 0 <= seed < _U64:
        raise ValueError(f"{name} must be in [0, 2**64), got {seed}")
    return seed


def check_rate(value, name: str, label: str | None = None) -> float:
    """A drop probability: a real number (not a bool) in ``[0, 1)`` as a float; TypeError /
    ValueError naming ``name`` (``label`` in the range message, default ``name``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not 0.0 <= value < 1.0:  # also rejects NaN
        raise ValueError(f"{label or name} must be in [0, 1), got {value}")
    return value


def _check_p(p) -> float:
    return check_rate(p, "p", "p (the drop probability)")


@dataclass(frozen=True, eq=False)
class DropoutCache:
    """What :func:`dropout_forward` saves for :func:`dropout_backward`: the drop probability,
    the seed and the input's shape and dtype (the mask is recomputed, not stored)."""

    p: float
    seed: int
    shape: tuple
    dtype: np.dtype
    cuda: bool = False

    @property
    def mask(self) -> np.ndarray:
        """The factors ``y = x * mask``: ``1 / (1 - p)`` where kept, 0 where dropped (all ones
        when ``p == 0``); computed on demand, with the input's shape and dtype (a CuPy array
        when the input was a CUDA array)."""
        if self.cuda:
            from .._cuda import empty

            m = empty(self.shape, self.dtype)
        else:
            m = np.empty(self.shape, dtype=self.dtype)
        _core.dropout_mask(m, self.p, self.seed)
        return m


def _check_out(out, like, name):
    """``out`` (None or an array with ``like``'s shape and dtype; the core checks the rest)."""
    if out is None:
        return None
    if not hasattr(out, "shape") or not hasattr(out, "dtype"):
        raise TypeError(f"out must be a NumPy or CUDA array, got {type(out).__name__}")
    if tuple(out.shape) != tuple(like.shape):
        raise ValueError(f"out must have the shape of {name} {tuple(like.shape)}, got "
                         f"{tuple(out.shape)}")
    if np.dtype(out.dtype) != np.dtype(like.dtype):
        raise TypeError(f"out must have the dtype of {name} ({like.dtype}), got {out.dtype}")
    return out


def dropout_forward(x, p: float, seed: int, out=None):
    """Inverted dropout: ``y = x * keep / (1 - p)``.

    Args:
        x: any shape, float32 or float64, C-contiguous.
        p: drop probability in ``[0, 1)``; ``p == 0`` returns a copy of ``x``.
        seed: integer in ``[0, 2**64)``; the same seed (and size) gives the same mask.
        out: None (a new array) or a C-contiguous array of ``x``'s shape, dtype and device to
            write ``y`` into; ``out=x`` drops in place (no new memory; ``x`` is overwritten).

    Returns:
        ``(y, cache)``; ``y`` (``out`` when given) has ``x``'s shape and dtype; ``cache.mask``
        gives the factors.

    Raises:
        TypeError: ``x`` not float32/float64, non-integer ``seed``, non-real ``p``.
        ValueError: ``p`` outside ``[0, 1)``, ``seed`` outside ``[0, 2**64)``, non-contiguous
            ``x``, a read-only ``out``.
        RuntimeError: a CUDA array without a CUDA build (``chronoscale.CudaError`` when no CUDA
            device is available or a CUDA call fails).
    """
    p, seed = _check_p(p), check_seed(seed)
    if out is not None and hasattr(x, "shape") and hasattr(x, "dtype"):
        _check_out(out, x, "x")
    y = _core.dropout_forward(x, p, seed, out)
    cuda = hasattr(y, "__cuda_array_interface__")
    return y, DropoutCache(p, seed, tuple(y.shape), np.dtype(y.dtype), cuda)


def dropout_backward(dy, cache: DropoutCache, out=None):
    """Gradient of :func:`dropout_forward`: ``dx = dy * mask`` (the forward's mask).

    Args:
        dy: gradient w.r.t. ``y``: the forward input's shape and dtype.
        cache: the ``DropoutCache`` returned by :func:`dropout_forward`.
        out: None (a new array) or an array like ``dy`` to write ``dx`` into (``out=dy``: in
            place).

    Raises:
        TypeError: ``cache`` is not a DropoutCache, ``dy`` is not an array or has another dtype.
        ValueError: ``dy`` has another shape or is non-contiguous; a read-only ``out``.
    """
    if not isinstance(cache, DropoutCache):
        raise TypeError("cache must be the DropoutCache returned by dropout_forward")
    if not hasattr(dy, "shape") or not hasattr(dy, "dtype"):
        raise TypeError(f"dy must be a NumPy or CUDA array, got {type(dy).__name__}")
    shape = tuple(dy.shape)
    if shape != cache.shape:
        raise ValueError(f"dy must have the shape of the forward input {cache.shape}, got {shape}")
    dtype = dy.dtype
    if np.dtype(dtype) != cache.dtype:
        raise TypeError(f"dy must have the dtype of the forward input ({cache.dtype}), got {dtype}")
    return _core.dropout_backward(dy, cache.p, cache.seed, _check_out(out, dy, "dy"))
