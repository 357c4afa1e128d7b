"""Argument helpers shared by the op wrappers."""

from __future__ import annotations

import operator

import numpy as np


def as_array(a, name: str | None = None, what: str = ""):
    """``np.asarray(a)``; nested sequences of different lengths (NumPy's "inhomogeneous shape"
    ValueError, which does not say which argument) raise a ValueError naming ``name``
    (``what``: what the values are, e.g. ``" of integers"``). Without ``name`` NumPy's error is
    raised as it is."""
    try:
        return np.asarray(a)
    except ValueError as e:
        if name is None or "inhomogeneous" not in str(e):
            raise
        raise ValueError(
            f"{name} must be a rectangular array{what}, got nested sequences of different "
            "lengths"
        ) from None


def host(a, name: str | None = None, what: str = ""):
    """A host (NumPy) view of ``a``; CUDA arrays are copied to the host. ``name`` / ``what``:
    the argument and its values named by the error for ragged nested lists (see
    ``as_array``)."""
    if hasattr(a, "__cuda_array_interface__"):
        from .._cuda import _cupy

        return _cupy().asnumpy(a)
    return as_array(a, name, what)


I64_MIN, I64_MAX = -(2**63), 2**63 - 1
_BOOL_DTYPES = ("bool", "torch.bool")
#: the most elements an array that a Python wrapper allocates from a size argument may hold
#: (2**36: 512 GiB of float64, more than any one device or most hosts have): a larger size is
#: a mistake, refused with a ValueError naming it before anything is allocated.
MAX_ELEMENTS = 2**36


def check_elements(shape, name: str, what: str = "the output") -> None:
    """ValueError naming ``name`` when an array of ``shape`` (ints >= 0) would hold more than
    ``MAX_ELEMENTS`` elements. Zero dimensions count as 1 here, so that an empty array whose
    other dimensions are huge is refused too (its rows are still numbered in int64)."""
    n = 1
    for d in shape:
        n *= max(d, 1)
    if n > MAX_ELEMENTS:
        dims = " x ".join(str(d) for d in shape)
        raise ValueError(
            f"{name} is too large: {what} would be {dims} elements, more than the "
            f"{MAX_ELEMENTS} (2**36) allowed"
        )


def check_int(value, name: str, minimum: int | None = 1, maximum: int | None = None) -> int:
    """``value`` as a Python int ``>= minimum`` (None: no lower bound) and ``<= maximum`` when
    given: an ``int``, a NumPy integer or anything with ``__index__`` (a 0-d integer array),
    never a bool (nor a 0-d bool array or tensor), a float (``2.5``, and ``3.0`` too, is
    refused rather than truncated) or a string. The integer-argument check of the Python API.

    Raises:
        TypeError: not an integer. ValueError: outside the bounds.
    """
    if isinstance(value, (bool, np.bool_)) or str(getattr(value, "dtype", "")) in _BOOL_DTYPES:
        raise TypeError(f"{name} must be an integer, got {value!r:.50}")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r:.50}") from None
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {v}")
    return v


def as_int(value, name: str) -> int:
    """``value`` as an int64-sized Python int, for the op wrappers (the core checks what range
    each argument needs); see ``check_int``."""
    v = check_int(value, name, None)
    if not I64_MIN <= v <= I64_MAX:
        raise ValueError(f"{name} must fit in 64 bits, got {v}")
    return v


def int64_indices(a, name: str, what: str | None = None):
    """Integer indices as int64: any integer dtype is converted (a copy), the layout is kept (so
    non-contiguous indices are still rejected by the core). Floats and booleans raise TypeError
    naming ``name`` (``what`` says what the integers are), uint64 values past the int64 range
    ValueError; an empty float / object array (``[]`` is float64) becomes an empty int64 one.
    Host values become a NumPy array; a CUDA array stays on its device (one without a dtype is
    passed on: the core reports what is wrong with it)."""
    if not hasattr(a, "__cuda_array_interface__"):
        a = as_array(a, name, " of integers")
    dtype = getattr(a, "dtype", None)
    if dtype is None:
        return a
    dtype = np.dtype(dtype)
    if a.size == 0 and dtype.kind in "fO":
        return a.astype(np.int64)
    if dtype.kind not in "iu":
        detail = f" ({what})" if what else ""
        raise TypeError(f"{name} must hold integers{detail}, got dtype {dtype}")
    if dtype == np.int64:
        return a
    if dtype == np.uint64 and a.size and int(a.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{name} holds values above the int64 range, got {int(a.max())}")
    return a.astype(np.int64)


def real(value, name: str) -> float:
    """``value`` as a Python float; TypeError naming the argument when it is not a number
    (strings are refused, never parsed; so are booleans)."""
    if isinstance(value, (str, bytes, bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r:.50}") from None
    except OverflowError:  # an int past the float range (10**400)
        raise ValueError(f"{name} must be a finite number, got {value!r:.50}") from None


def check_real(value, name: str, low: float, high: float | None = None,
               low_open: bool = False) -> float:
    """``value`` as a finite float ``>= low`` (``> low`` with ``low_open``) and ``< high`` when
    given: TypeError naming ``name`` for a non-number (see ``real``), ValueError otherwise."""
    v = real(value, name)
    if not (np.isfinite(v) and (v > low if low_open else v >= low) and (high is None or v < high)):
        lo = f"> {low:g}" if low_open else f">= {low:g}"
        want = f"in [{low:g}, {high:g})" if high is not None else f"a finite number {lo}"
        raise ValueError(f"{name} must be {want}, got {value!r}")
    return v


def is_one_of(value, choices) -> bool:
    """Whether ``value`` is one of the string ``choices`` (a dict's keys or a sequence), without
    hashing or comparing a non-string: a list, an array (0-d too) or any other object is not
    one, so the caller's "must be one of" error is raised for it (never "unhashable type")."""
    return isinstance(value, str) and value in choices


def as_bool(value, name: str) -> bool:
    """``value`` as a bool: True / False (or NumPy's); anything else (1, "no", None) raises
    TypeError naming the argument, so that a string such as "no" never reads as True."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r:.50}")


def array_module(a):
    """CuPy for CUDA arrays (``__cuda_array_interface__``), else NumPy."""
    if not isinstance(a, np.ndarray) and hasattr(a, "__cuda_array_interface__"):
        from .._cuda import _cupy

        return _cupy()
    return np


def as_lengths(lengths, name: str = "lengths"):
    """``lengths`` as a host int64 C-contiguous array (None stays None).

    Accepts any integer array-like (lists, int32 arrays; CUDA arrays are copied to the host: they
    are B numbers); an empty list (float64 to NumPy) is an empty integer array. Raises TypeError
    for non-integer input, ValueError naming ``name`` for ragged nested lists.
    """
    if lengths is None:
        return None
    if hasattr(lengths, "__cuda_array_interface__"):  # CuPy (.get), torch & co. (via CuPy)
        if not hasattr(lengths, "get"):
            from .._cuda import _cupy

            lengths = _cupy().asarray(lengths)
        lengths = lengths.get()
    return np.ascontiguousarray(int64_indices(lengths, name), dtype=np.int64)
