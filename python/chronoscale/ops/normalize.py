"""Row normalisation to unit length, with the norm floor of the cosine features, forward and
backward: ``y = x / max(|x|, eps)`` per row. A row with norm ``<= eps`` is divided by ``eps``
(a zero row stays zero, never NaN) and its gradient treats that norm as the constant ``eps``.

The recommender scores every item by ``m . E_v / |E_v|`` (the mean cosine of the candidate with
the history): both the table ``E`` and the history's embeddings go through this op, one native
call each instead of a chain of array operations (one kernel on a GPU).

NumPy arrays run on the CPU; CUDA arrays (CuPy, anything with ``__cuda_array_interface__``) run
the CUDA kernels on CuPy's current stream and return CuPy arrays.
"""

from __future__ import annotations

from .. import _core
from ._common import real


def normalize_forward(x, eps: float = 1e-8):
    """``(y, norm)``: ``norm[n] = |x[n]|`` and ``y[n] = x[n] / max(norm[n], eps)``.

    Args:
        x: ``[N, D]`` float32 or float64, C-contiguous (NumPy or CUDA array).
        eps: norm floor ``> 0``.

    Returns:
        ``y [N, D]`` and ``norm [N]`` (keep both for :func:`normalize_backward`), of ``x``'s dtype
        and device.

    Raises:
        TypeError: ``x`` not float32/float64. ValueError: shape, non-contiguous ``x``, ``eps <=
            0``. RuntimeError: a CUDA array without a CUDA build (``chronoscale.CudaError`` when
            no CUDA device is available or a CUDA call fails).
    """
    return _core.normalize_forward(x, real(eps, "eps"))


def normalize_backward(dy, y, norm, eps: float = 1e-8):
    """Gradient of :func:`normalize_forward`: ``dx [N, D]`` from ``dy [N, D]`` and its ``y``,
    ``norm`` (same ``eps``)::

        dx[n] = (dy[n] - [norm[n] > eps] * y[n] * (y[n] . dy[n])) / max(norm[n], eps)
    """
    return _core.normalize_backward(dy, y, norm, real(eps, "eps"))
