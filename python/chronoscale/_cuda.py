"""Allocation and stream helpers for the CUDA path. CuPy is imported only when a CUDA array
actually reaches an op, so CPU users never need it.

The CUDA kernels run their GEMMs through cuBLAS loaded at run time (the native library does not
link it). Before the first CUDA op this module points the native loader at the cuBLAS inside the
NVIDIA wheels that CuPy / PyTorch install (``site-packages/nvidia/cu13/lib`` or
``nvidia/cublas/lib``), unless ``CHRONOSCALE_CUBLAS_LIB`` names one already. Without any cuBLAS
the kernels use chronoscale's own tiled GEMM; ``chronoscale._core.cuda_gemm_backend()`` says
which one is in use.
"""

from __future__ import annotations

import glob
import os
import re

_cublas_configured = False


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


def wheel_cublas_path() -> str | None:
    """Path of ``libcublas.so.N`` inside the ``nvidia`` wheels, or None."""
    try:
        import nvidia  # namespace package of the NVIDIA wheels
    except ImportError:
        return None
    for base in list(getattr(nvidia, "__path__", [])):
        for sub in ("cu13/lib", "cublas/lib", "cu12/lib"):
            hits = sorted(glob.glob(os.path.join(base, sub, "libcublas.so.*")))
            exact = [h for h in hits if re.fullmatch(r"libcublas\.so\.\d+", os.path.basename(h))]
            if exact or hits:
                return (exact or hits)[0]
    return None


def _configure_cublas() -> None:
    global _cublas_configured
    if _cublas_configured:
        return
    _cublas_configured = True
    if os.environ.get("CHRONOSCALE_CUBLAS_LIB"):
        return  # the native loader reads it
    path = wheel_cublas_path()
    if path is None:
        return  # the native loader tries libcublas.so.13 / .12 on the library path
    from . import _core

    try:
        _core.cuda_load_cublas(path)
    except (ValueError, RuntimeError):
        pass  # fall back to the native search (and to the built-in GEMM)


def current_stream_ptr() -> int:
    """CuPy's current stream (called by the native module for every CUDA op)."""
    _configure_cublas()
    return int(_cupy().cuda.get_current_stream().ptr)


def is_cuda_array(a) -> bool:
    return hasattr(a, "__cuda_array_interface__")
