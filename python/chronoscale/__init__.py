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

from . import baselines, data, datasets, io, metrics, models, nn, ops  # noqa: E402
from ._core import CudaError, __version__  # noqa: E402
from ._runtime import build_info, get_num_threads, set_num_threads  # noqa: E402
from .io import load, save  # noqa: E402

__all__ = [
    "CudaError",
    "__version__",
    "baselines",
    "data",
    "datasets",
    "build_info",
    "get_num_threads",
    "io",
    "load",
    "metrics",
    "models",
    "nn",
    "ops",
    "save",
    "set_num_threads",
]
