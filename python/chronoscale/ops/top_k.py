"""Top-k per row: the ``k`` highest scores of each row and their columns, best first.

One native call instead of a sort: on the CPU a threaded heap scan (``k`` small against the
row) or a selection, on a GPU one block per row (a radix select of the k-th score, the winners
gathered in column order, a sort of the ``k``). The order is total and the same on both devices:
higher score first, equal scores by lower column (``-0`` equals ``+0``), NaN below every number,
``-inf`` included. The recommender's top-k recommendation over its whole catalogue is this op.

NumPy arrays run on the CPU; CUDA arrays (CuPy, anything with ``__cuda_array_interface__``) run
the CUDA kernel on CuPy's current stream and return CuPy arrays.
"""

from __future__ import annotations

from .. import _core
from ._common import as_int


def top_k(scores, k: int):
    """``(ids, values)``: the ``k`` best columns of each row of ``scores``, best first.

    Args:
        scores: ``[N, V]`` float32 or float64, C-contiguous (NumPy or CUDA array); ``-inf``
            marks a column that must come last (a seen item), NaN ranks below it.
        k: ``1 <= k <= V``.

    Returns:
        ``ids [N, k]`` int64 (columns) and ``values [N, k]`` (``scores[n, ids[n, j]]``, the
        scores' dtype), on the scores' device. Equal scores come in column order, so the result
        does not depend on the device or the thread count.

    Raises:
        TypeError: ``scores`` not float32/float64, ``k`` not an integer. ValueError: shape
            (``V = 0``), non-contiguous ``scores``, ``k`` outside ``[1, V]``. RuntimeError: a CUDA
            array without a CUDA build (``chronoscale.CudaError`` when no CUDA device is
            available or a CUDA call fails).
    """
    return _core.top_k(scores, as_int(k, "k"))
