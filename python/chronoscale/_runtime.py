"""Runtime set-up: which BLAS serves the native GEMMs, thread count, build facts.

The native core loads a CBLAS at run time. By default that is OpenBLAS from the
``scipy-openblas32`` wheel (a dependency); ``CHRONOSCALE_BLAS=mkl`` picks MKL from the ``mkl``
wheel (``pip install chronoscale[mkl]``), ``CHRONOSCALE_BLAS=/path/libcblas.so`` any CBLAS, and
``CHRONOSCALE_BLAS=builtin`` the slow portable fallback.
"""

from __future__ import annotations

import glob
import json
import os
import sys

from . import _core

__all__ = ["build_info", "set_num_threads", "get_num_threads", "blas_library_path",
           "release_scratch"]


def _openblas_path() -> str | None:
    try:
        import scipy_openblas32 as ob
    except ImportError:
        return None
    path = os.path.join(ob.get_lib_dir(), ob.get_library(fullname=True))
    return path if os.path.exists(path) else None


def _mkl_path() -> str | None:
    for prefix in dict.fromkeys([sys.prefix, sys.base_prefix]):
        hits = sorted(glob.glob(os.path.join(prefix, "lib", "libmkl_rt.so*")))
        if hits:
            return hits[0]
    return None


def blas_library_path(choice: str | None = None) -> str | None:
    """Path of the CBLAS library for ``choice`` ("openblas", "mkl", a path, or None = default)."""
    choice = choice or os.environ.get("CHRONOSCALE_BLAS", "")
    if choice == "mkl":
        path = _mkl_path()
        if path is None:
            raise RuntimeError("CHRONOSCALE_BLAS=mkl but libmkl_rt was not found; pip install mkl")
        return path
    if choice in ("", "openblas"):
        return _openblas_path() or (None if choice == "" else _missing("openblas"))
    if choice == "builtin":
        return None
    return choice


def _missing(name: str):
    raise RuntimeError(f"CHRONOSCALE_BLAS={name} but it is not installed")


def _load() -> None:
    path = blas_library_path()
    if path is not None:
        _core.load_blas(path)


_load()


def set_num_threads(n: int) -> None:
    """Set the number of CPU threads used by chronoscale's kernels (default: all cores).

    The BLAS itself always runs single-threaded inside chronoscale's threads. ``n`` is at
    least 1 and at most ``max(64, 4 x the hardware threads)`` (ValueError beyond: more never
    helps, and thousands of threads make the OpenMP runtime abort the process).
    """
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """Number of CPU threads used by chronoscale's kernels."""
    return _core.get_num_threads()


def build_info() -> dict:
    """Facts about this build and runtime.

    Returns a dict with ``version``, ``cuda`` (bool: CUDA kernels compiled in), ``cuda_available``
    (bool: a CUDA device can be used now), ``blas`` (``"openblas"``, ``"mkl"``, ``"cblas"`` or
    ``"builtin"``), ``blas_path``, ``num_threads``, and compiler facts: ``compiler``,
    ``cxx_flags``, ``march_native``, ``avx2``, ``fma``, ``avx512``, ``openmp``,
    ``cuda_architectures``.
    """
    info = json.loads(_core.build_info_json())
    info["blas"] = _core.blas_name()
    info["blas_path"] = _core.blas_path()
    info["num_threads"] = _core.get_num_threads()
    info["cuda_available"] = bool(info["cuda"]) and _cuda_device_count() > 0
    return info


def release_scratch() -> None:
    """Free the calling thread's reusable CPU scratch.

    Each thread that calls the recurrent cells keeps the scratch of its largest call (up to
    1 GiB: the packed steps of a padded batch, the backward's gate gradients) for its next
    calls, which then skip fresh page faults; it is freed when the thread exits or calls this
    (e.g. a long-lived worker thread after one large batch).
    """
    _core.release_scratch()


def cuda_release_memory() -> None:
    """Give the unused GPU memory of chronoscale's scratch pools back to the driver.

    The CUDA ops take their temporary buffers from a stream-ordered pool per device that keeps
    freed memory for the next call (the device's default pool would hand it back at every
    synchronisation and map it again on the next step). Call this to release it, e.g. before
    handing the GPU to another library; it waits for the queued work first. A no-op in a build
    without CUDA or without a device. CuPy's own pool (the arrays chronoscale returns) is
    separate: ``cupy.get_default_memory_pool().free_all_blocks()``.
    """
    _core.cuda_release_memory()


def _cuda_device_count() -> int:
    fn = getattr(_core, "cuda_device_count", None)
    return fn() if fn is not None else 0
