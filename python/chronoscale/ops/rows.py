"""Row gather and scatter-add through an index array: the glue of a model that scores selected
events (pick rows of a state or embedding block; send their gradients back), one native call
each instead of fancy indexing, a mask and a copy (one kernel launch on a GPU instead of several).

``index[n]`` outside ``[0, M)`` means "no row" (``-1`` is the usual marker): the gather writes a
zero row there and the scatter drops the row. So no index reaches memory outside the arrays and
a device index is never read back to be checked. ``col`` places the ``H`` columns of the row
block inside the wider rows of a C-contiguous ``[N, W]`` array (one scale of a concatenated state,
say), so no column slice has to be copied.

``gather_rows`` is linear and ``scatter_rows`` is its adjoint (the backward of a gather is a
scatter of the output gradient with the same index, and vice versa).

NumPy arrays run on the CPU; CUDA arrays (CuPy, anything with ``__cuda_array_interface__``) run
the CUDA kernels on CuPy's current stream; ``index`` must be on the device of the data. On the
CPU a scatter adds repeated indices in the order ``n = 0, 1, ...`` (deterministic for any thread
count); on CUDA it uses atomic adds (the summation order of repeated indices is not fixed).
"""

from __future__ import annotations

import numpy as np

from .. import _core
from ._common import as_int


def _as_index(index):
    """Host index arrays of any integer dtype as int64 (a copy); floats and booleans raise
    TypeError. Device arrays are passed as they are (the core requires int64)."""
    if hasattr(index, "__cuda_array_interface__"):
        return index
    index = np.asarray(index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"index must hold integers (row numbers), got dtype {index.dtype}")
    if index.dtype != np.int64:
        if index.dtype == np.uint64 and index.size and int(index.max()) >= 2**63:
            raise ValueError("index holds values above the int64 range")
        index = index.astype(np.int64)
    return index


def gather_rows(src, index, out=None, col: int = 0):
    """``out[n, col:col + H] = src[index[n]]``, a zero row where ``index[n]`` is outside
    ``[0, M)``.

    Args:
        src: ``[M, H]`` float32 or float64, C-contiguous (NumPy or CUDA array).
        index: ``[N]`` integers (int64 on the device of ``src``; host indices of another integer
            dtype are converted).
        out: None (a new ``[N, H]`` array) or a C-contiguous ``[N, W]`` array with ``src``'s
            dtype and device; only its columns ``[col, col + H)`` are written.
        col: first column of ``out`` to write (``0 <= col``, ``col + H <= W``).

    Returns:
        ``out``.

    Raises:
        TypeError: dtypes (float ``src`` / ``out`` of the same dtype, integer ``index``).
        ValueError: shapes, non-contiguous arrays, columns outside ``out``, arrays on different
            devices. RuntimeError: a CUDA array without a CUDA build (``chronoscale.CudaError``
            when no CUDA device is available or a CUDA call fails).
    """
    return _core.gather_rows(src, _as_index(index), out, as_int(col, "col"))


def scatter_rows(g, index, size: int | None = None, out=None, col: int = 0,
                 width: int | None = None):
    """``out[index[n]] += g[n, col:col + H]`` for every ``n`` with ``index[n]`` in ``[0, M)``.

    Args:
        g: ``[N, W]`` float32 or float64, C-contiguous.
        index: ``[N]`` integers (as for :func:`gather_rows`).
        size: ``M``, the rows of a new zero output (when ``out`` is None).
        out: None, or an ``[M, H]`` array with ``g``'s dtype and device to add into (its other
            content is kept: a scatter into a gradient that already holds other terms).
        col: first column of ``g`` to read.
        width: ``H`` of a new output (default ``W - col``).

    Returns:
        ``out`` (``[M, H]``).

    Raises:
        As :func:`gather_rows`; ValueError when ``out`` and ``size`` are both None.
    """
    col = as_int(col, "col")
    if out is None:
        if size is None:
            raise ValueError("scatter_rows needs size (the rows of the output) or out")
        size = as_int(size, "size")
        if width is None:
            shape = getattr(g, "shape", ())
            width = shape[1] - col if len(shape) == 2 else 0
        width = as_int(width, "width")
    else:
        size = width = 0
    return _core.scatter_rows(g, _as_index(index), out, size, col, width)
