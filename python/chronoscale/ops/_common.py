"""Argument helpers shared by the op wrappers."""

from __future__ import annotations

import numpy as np


def host(a):
    """A host (NumPy) view of ``a``; CUDA arrays are copied to the host."""
    if hasattr(a, "__cuda_array_interface__"):
        from .._cuda import _cupy

        return _cupy().asnumpy(a)
    return np.asarray(a)


def real(value, name: str) -> float:
    """``value`` as a Python float; TypeError naming the argument when it is not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None


def array_module(a):
    """CuPy for CUDA arrays (``__cuda_array_interface__``), else NumPy."""
    if not isinstance(a, np.ndarray) and hasattr(a, "__cuda_array_interface__"):
        from .._cuda import _cupy

        return _cupy()
    return np


def as_lengths(lengths, name: str = "lengths"):
    """``lengths`` as a host int64 C-contiguous array (None stays None).

    Accepts any integer array-like (lists, int32 arrays; CUDA arrays are copied to the host: they
    are B numbers). Raises TypeError for non-integer input.
    """
    if lengths is None:
        return None
    if hasattr(lengths, "__cuda_array_interface__"):  # CuPy (.get), torch & co. (via CuPy)
        if not hasattr(lengths, "get"):
            from .._cuda import _cupy

            lengths = _cupy().asarray(lengths)
        lengths = lengths.get()
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)
