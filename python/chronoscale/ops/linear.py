"""Dense (fully connected) layer over the last axis with a fused bias and activation.

The weight uses the ``torch.nn.Linear`` layout ``[O, I]`` (``lin.weight.detach().numpy()``
passes as it is); a Keras ``Dense`` kernel ``[I, O]`` converts with
``np.ascontiguousarray(kernel.T)``.

NumPy arrays run on the CPU; CUDA arrays (CuPy, anything with ``__cuda_array_interface__``) run
the CUDA kernels on CuPy's current stream and return CuPy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import _core

ACTIVATIONS = ("none", "relu", "sigmoid", "tanh")


@dataclass(frozen=True, eq=False)
class LinearCache:
    """What :func:`linear_forward` saves for :func:`linear_backward`: references to ``x``,
    ``w``, ``b`` and the output ``y`` (the activation's derivative is taken from it); do not
    modify them in place before the backward."""

    x: Any
    w: Any
    b: Any
    activation: str
    y: Any


def _activation(activation) -> str:
    if activation is None:
        return "none"
    if not isinstance(activation, str):
        raise TypeError(f"activation must be a string or None, got {type(activation).__name__}")
    return activation


def linear_forward(x, w, b=None, activation="none"):
    """``y[..., o] = act(b[o] + sum_i x[..., i] * w[o, i])`` in one GEMM over all leading dims.

    Args:
        x: ``[..., I]`` float32 or float64, C-contiguous (1 to 6 dims; every leading dim is
            flattened into the GEMM's rows).
        w: ``[O, I]`` with ``x``'s dtype (torch.nn.Linear layout).
        b: ``[O]`` or None.
        activation: ``"none"`` (or None), ``"relu"``, ``"sigmoid"`` or ``"tanh"``, fused with the
            bias into one pass over the output.

    Returns:
        ``(y [..., O], cache)``; ``y`` has ``x``'s dtype and leading dims.

    Raises:
        TypeError: wrong dtypes or dtypes that differ from ``x``'s.
        ValueError: shapes that disagree, an empty ``x`` (a zero dim), non-contiguous arrays, an
            unknown activation (names ``activation``).
        RuntimeError: a CUDA array without a CUDA build (``chronoscale.CudaError`` when no CUDA
            device is available or a CUDA call fails).
    """
    activation = _activation(activation)
    y = _core.linear_forward(x, w, b, activation)
    return y, LinearCache(x, w, b, activation, y)


def linear_backward(dy, cache: LinearCache):
    """Gradients of :func:`linear_forward`.

    ``g = dy * act'(.)`` (from the saved output), ``dx = g @ w``, ``dw = g^T @ x`` and
    ``db = g.sum(leading dims)``.

    Args:
        dy: ``[..., O]`` gradient w.r.t. ``y`` (``y``'s shape and dtype).
        cache: the ``LinearCache`` returned by :func:`linear_forward`.

    Returns:
        ``(dx [..., I], dw [O, I], db [O])`` (``db`` is returned even when the forward had no
        bias: it is the gradient w.r.t. a zero bias).

    Raises:
        TypeError: ``cache`` is not a LinearCache, or ``dy`` has another dtype.
        ValueError: ``dy`` has the wrong shape or is non-contiguous.
    """
    if not isinstance(cache, LinearCache):
        raise TypeError("cache must be the LinearCache returned by linear_forward")
    c = cache
    return _core.linear_backward(dy, c.x, c.w, c.y, c.activation)
