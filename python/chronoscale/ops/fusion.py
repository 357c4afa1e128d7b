"""The learned fusion of per-scale predictions, forward and backward (the seed model's
``y = alpha y1 + beta y2 + gamma y3``, one weight per scale and output)::

    alpha[s, k] = softmax over s of logits[s, k]
    y[b, k]     = sum_s alpha[s, k] * ys[s, b, k]

``ys`` is scale-major ``[S, B, K]``: each scale's predictions (and their gradients) are one
contiguous ``[B, K]`` block. The gradient of ``logits`` sums over the rows in a fixed order, in
double: the result does not depend on the thread count.

NumPy arrays run on the CPU; CUDA arrays (CuPy, anything with ``__cuda_array_interface__``) run
the CUDA kernels on CuPy's current stream and return CuPy arrays.
"""

from __future__ import annotations

from .. import _core


def scale_fusion_forward(ys, logits):
    """``(y [B, K], alpha [S, K])``: the softmax weights and the fused predictions.

    Args:
        ys: ``[S, B, K]`` float32 or float64, C-contiguous (``S >= 1``).
        logits: ``[S, K]`` of ``ys``'s dtype and device.

    Raises:
        TypeError: dtypes. ValueError: shapes, non-contiguous arrays, ``S == 0``.
        RuntimeError: a CUDA array without a CUDA build (``chronoscale.CudaError`` when no CUDA
            device is available or a CUDA call fails).
    """
    return _core.scale_fusion_forward(ys, logits)


def scale_fusion_backward(dy, ys, alpha):
    """``(dys [S, B, K], dlogits [S, K])`` from ``dy [B, K]``, the forward's ``ys`` and
    ``alpha``::

        dys[s, b, k]  = alpha[s, k] * dy[b, k]
        dlogits[s, k] = alpha[s, k] * (g[s, k] - sum_s' alpha[s', k] * g[s', k]),
        g[s, k]       = sum_b dy[b, k] * ys[s, b, k]
    """
    return _core.scale_fusion_backward(dy, ys, alpha)
