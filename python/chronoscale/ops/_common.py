"""Argument helpers shared by the op wrappers."""

from __future__ import annotations

import operator

import numpy as np


def host(a):
    """A host (NumPy) view of ``a``; CUDA arrays are copied to the host."""
    if hasattr(a, "__cuda_array_interface__"):
        from .._cuda import _cupy

        return _cupy().asnumpy(a)
    return np.asarray(a)


def as_int(value, name: str) -> int:
    """``value`` as an int64-sized Python int (TypeError / ValueError naming it otherwise)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got bool")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if not -(2**63) <= v < 2**63:
        raise ValueError(f"{name} must fit in 64 bits, got {v}")
    return v


def int64_indices(a, name: str, what: str | None = None):
    """Integer indices as int64: any integer dtype is converted (a copy), the layout is kept (so
    non-contiguous indices are still rejected by the core). Floats and booleans raise TypeError
    naming ``name`` (``what`` says what the integers are), uint64 values past the int64 range
    ValueError. Host values become a NumPy array; a CUDA array stays on its device (one without
    a dtype is passed on: the core reports what is wrong with it)."""
    if not hasattr(a, "__cuda_array_interface__"):
        a = np.asarray(a)
    dtype = getattr(a, "dtype", None)
    if dtype is None:
        return a
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        detail = f" ({what})" if what else ""
        raise TypeError(f"{name} must hold integers{detail}, got dtype {dtype}")
    if dtype == np.int64:
        return a
    if dtype == np.uint64 and a.size and int(a.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{name} holds values above the int64 range")
    return a.astype(np.int64)


def real(value, name: str) -> float:
    """``value`` as a Python float; TypeError naming the argument when it is not a number
    (strings are refused, never parsed; so are booleans)."""
    if isinstance(value, (str, bytes, bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None


def as_bool(value, name: str) -> bool:
    """``value`` as a bool: True / False (or NumPy's); anything else (1, "no", None) raises
    TypeError naming the argument, so that a string such as "no" never reads as True."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


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
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{name} holds values above the int64 range, got {int(arr.max())}")
    return np.ascontiguousarray(arr, dtype=np.int64)
