"""chronoscale: multi-time-scale recurrent models for user-behaviour sequences.

C++ kernels (CUDA where built) for recurrent cells, windowed pooling and cosine interaction
features, forward and backward, under a NumPy (CPU) / CuPy (GPU) API.

Array conventions (every op): batch-first ``[B, T, C]``, float32 (float64 for checks),
C-contiguous; ``lengths[B]`` int64; timestamps int64 seconds. Outputs past a sequence's length
are zero; final states come from each sequence's last valid step.
"""

import os as _os

# OpenMP threads that spin while waiting hold cores that other threads (ours, the BLAS's, other
# processes') need; on a busy 2-core machine that made kernels 2-10x slower. Sleep instead,
# unless the user chose otherwise. Must be set before the native library loads libgomp.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _tune_malloc() -> None:
    """Keep large freed arrays in glibc's heap instead of unmapping them.

    Every op returns fresh NumPy arrays; glibc maps blocks above its mmap threshold (dynamic, at
    most 32 MiB) with mmap and unmaps them on free, so each call page-faults (and the kernel
    zeroes) its outputs again: at the recommender's size (B=256, T=192, H=128) a GRU forward
    took 109 ms with that and 73 ms without (bench/python/bench_lengths.py). Blocks up to
    64 MiB (or 32 MiB where glibc refuses more) now come from the heap, and up to 512 MiB of
    freed heap is kept. ``CHRONOSCALE_MALLOC=system`` leaves glibc's defaults alone."""
    if _os.environ.get("CHRONOSCALE_MALLOC", "").lower() in ("system", "0", "off", "no"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    if not mallopt(m_mmap_threshold, 64 << 20):
        mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 512 << 20)


_tune_malloc()

from . import baselines, data, datasets, io, metrics, models, nn, ops  # noqa: E402
from ._core import CudaError, __version__  # noqa: E402
from ._runtime import (  # noqa: E402
    build_info,
    cuda_release_memory,
    get_num_threads,
    release_scratch,
    set_num_threads,
)
from .io import load, save  # noqa: E402

__all__ = [
    "CudaError",
    "__version__",
    "baselines",
    "data",
    "datasets",
    "build_info",
    "cuda_release_memory",
    "get_num_threads",
    "io",
    "load",
    "metrics",
    "models",
    "nn",
    "ops",
    "release_scratch",
    "save",
    "set_num_threads",
]
