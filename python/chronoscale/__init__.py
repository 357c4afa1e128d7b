"""chronoscale: multi-time-scale recurrent models for user-behaviour sequences.

C++ kernels (CUDA where built) for recurrent cells, windowed pooling and cosine interaction
features, forward and backward, under a NumPy (CPU) / CuPy (GPU) API.

Array conventions (every op): batch-first ``[B, T, C]``, float32 (float64 for checks),
C-contiguous; ``lengths[B]`` int64; timestamps int64 seconds. Outputs past a sequence's length
are zero; final states come from each sequence's last valid step.
"""

from . import io, models, nn, ops
from ._core import CudaError, __version__
from ._runtime import build_info, get_num_threads, set_num_threads
from .io import load, save

__all__ = [
    "CudaError",
    "__version__",
    "build_info",
    "get_num_threads",
    "io",
    "load",
    "models",
    "nn",
    "ops",
    "save",
    "set_num_threads",
]
