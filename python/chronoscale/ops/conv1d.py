"""1-D convolution over time (valid padding, stride 1, optional fused ReLU), forward and backward.

The weight uses the ``torch.nn.Conv1d`` layout ``[Cout, Cin, K]`` (``conv.weight`` can be passed
as it is, ``.detach().numpy()``); note that torch convolves ``[B, C, T]`` while chronoscale keeps
the batch-first ``[B, T, C]`` layout, so ``torch_out = y.transpose(0, 2, 1)``. A Keras ``Conv1D``
stores ``kernel [K, Cin, Cout]``: use ``w = kernel.transpose(2, 1, 0)`` and ``b = bias``.

NumPy arrays run on the CPU; CUDA arrays (CuPy, anything with ``__cuda_array_interface__``) run
the CUDA kernels on CuPy's current stream and return CuPy arrays.
``lengths`` are always host integers (CUDA lengths are copied to the host); ``out_lengths`` is a
host (NumPy) array.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import _core
from ._common import as_bool, as_lengths


@dataclass(frozen=True, eq=False)
class Conv1dCache:
    """What :func:`conv1d_forward` saves for :func:`conv1d_backward`: references to the inputs
    and the output ``y`` (the ReLU mask); do not modify them in place before the backward."""

    x: Any
    w: Any
    b: Any
    lengths: Any
    relu: bool
    y: Any


def conv1d_forward(x, w, b=None, lengths=None, relu: bool = False):
    """``y[b, t, o] = act(bias[o] + sum_{c,k} w[o, c, k] * x[b, t + k, c])`` over valid windows.

    Args:
        x: ``[B, T, Cin]`` float32 or float64, C-contiguous.
        w: ``[Cout, Cin, K]`` with ``x``'s dtype (torch.nn.Conv1d layout), ``K <= T``.
        b: ``[Cout]`` or None.
        lengths: ``[B]`` integers in ``[0, T]`` or None (all T).
        relu: apply ReLU to the output (fused).

    Returns:
        ``(y [B, T - K + 1, Cout], out_lengths [B] int64, cache)`` with
        ``out_lengths = max(lengths - K + 1, 0)`` (``T - K + 1`` without lengths) and
        ``y[b, t] = 0`` for ``t >= out_lengths[b]``, so no output uses a padded step.

    Raises:
        TypeError: wrong dtypes or dtypes that differ from ``x``'s; ``relu`` not True or False.
        ValueError: shapes that disagree, ``T < K`` (names ``w`` and ``K``), non-contiguous
            arrays, lengths outside ``[0, T]``, ``B == 0`` or ``T == 0``.
        RuntimeError: a CUDA array without a CUDA build (``chronoscale.CudaError`` when no CUDA
            device is available or a CUDA call fails).
    """
    relu = as_bool(relu, "relu")
    lengths = as_lengths(lengths)
    y, out_lengths = _core.conv1d_forward(x, w, b, lengths, relu)
    return y, out_lengths, Conv1dCache(x, w, b, lengths, relu, y)


def conv1d_backward(dy, cache: Conv1dCache, input_grad: bool = True):
    """Gradients of :func:`conv1d_forward`.

    Args:
        dy: ``[B, T - K + 1, Cout]`` gradient w.r.t. ``y`` (ignored past ``out_lengths``).
        cache: the ``Conv1dCache`` returned by :func:`conv1d_forward`.
        input_grad: False skips ``dx`` (one GEMM and the column gather fewer), e.g. for a
            first layer fed with data.

    Returns:
        ``(dx [B, T, Cin] or None, dw [Cout, Cin, K], db [Cout])`` (``db`` is returned even when
        the forward had no bias: it is the gradient w.r.t. a zero bias).
    """
    if not isinstance(cache, Conv1dCache):
        raise TypeError("cache must be the Conv1dCache returned by conv1d_forward")
    c = cache
    return _core.conv1d_backward(dy, c.x, c.w, c.b, c.lengths, c.relu, c.y,
                                 as_bool(input_grad, "input_grad"))
