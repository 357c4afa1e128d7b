"""Allocation and stream helpers for the CUDA path. CuPy is imported only when a CUDA array
actually reaches an op, so CPU users never need it."""

from __future__ import annotations


def _cupy():
    try:
        import cupy
    except ImportError as e:  # pragma: no cover - depends on the machine
        raise RuntimeError(
            "a CUDA array was passed but CuPy is not installed; pip install chronoscale[cuda]"
        ) from e
    return cupy


def empty(shape, dtype):
    return _cupy().empty(shape, dtype=dtype)


def zeros(shape, dtype):
    return _cupy().zeros(shape, dtype=dtype)


def current_stream_ptr() -> int:
    return int(_cupy().cuda.get_current_stream().ptr)


def is_cuda_array(a) -> bool:
    return hasattr(a, "__cuda_array_interface__")
