"""Optimiser steps (Adam, AdamW, SGD with momentum; dense and sparse-row) and gradient clipping.

Each step is one fused native pass that updates ``param`` and its state arrays **in place**
(they must be writable, C-contiguous arrays of ``param``'s dtype).

NumPy arrays run on the CPU; CUDA arrays (CuPy, anything with ``__cuda_array_interface__``) run
the CUDA kernels on CuPy's current stream (every array of one call on the same device). Row ids
of the sparse updates are host integers (CUDA row ids are copied to the host, where they are
validated). ``clip_grad_norm`` on CUDA arrays clips on the device and waits for the stream to
return the norm (``return_norm=False``: no wait). The formulas are those
of ``torch.optim.Adam`` / ``AdamW`` / ``SGD`` (no dampening, amsgrad or maximize):

Adam, step ``t`` counted from 1::

    AdamW (decoupled=True):  p <- p * (1 - lr * weight_decay)     else: g <- g + weight_decay * p
    m <- m + (1 - beta1) * (g - m)
    v <- beta2 * v + (1 - beta2) * g**2
    p <- p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

SGD::

    g <- g + weight_decay * p
    if momentum: buf <- momentum * buf + g;  g <- g + momentum * buf if nesterov else buf
    p <- p - lr * g

State arrays start as zeros (``np.zeros_like(param)``); a zero ``buf`` makes the first SGD step
equal to torch's ``buf = g``.

The ``*_rows`` variants are sparse ("lazy") updates for embedding tables: only the listed rows of
``param`` (and of the state) move. They pair with the ``(rows, grad_rows)`` that
``embedding_backward(sparse=True)`` and ``sampled_softmax_loss`` return.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from .. import _core
from ._common import as_bool, host, int64_indices, real

_I64 = 2**63


def _step(step, name: str = "step") -> int:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(step).__name__}")
    if not -_I64 <= step < _I64:
        raise ValueError(f"{name} must be in [1, 2**63), got {step}")
    return int(step)


def _rows(rows):
    """rows as a host int64 array (any integer dtype is converted: they are row indices)."""
    return int64_indices(host(rows, "rows", " of integers"), "rows", "they are row indices")


def _arrays(a, name: str) -> list:
    """The array sequence ``a`` (a list, tuple or other sequence) as a list; TypeError naming
    ``name`` for anything else (None, a number, a dict, a generator, a single array)."""
    if not isinstance(a, Sequence) or isinstance(a, (str, bytes)):
        raise TypeError(f"{name} must be a list or tuple of arrays, got {type(a).__name__}")
    return list(a)


def adam_step(
    param,
    grad,
    m,
    v,
    step: int,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled: bool = False,
) -> None:
    """One Adam (``decoupled=False``) or AdamW (``decoupled=True``) update, in place.

    Args:
        param: any shape, float32 or float64, writable and C-contiguous; updated in place.
        grad: ``param``'s shape and dtype.
        m, v: first / second moment estimates, ``param``'s shape and dtype, updated in place.
        step: the update count, 1 on the first call (used for the bias corrections).
        lr, beta1, beta2, eps, weight_decay: as in ``torch.optim.Adam``.
        decoupled: apply ``weight_decay`` as AdamW (shrink the parameter) instead of adding
            ``weight_decay * param`` to the gradient.

    Raises:
        TypeError: dtypes that differ from ``param``'s (or are not float32/float64), a
            non-integer ``step``, a hyper-parameter that is not a number, ``decoupled`` not
            True or False.
        ValueError: shapes that differ from ``param``'s, non-contiguous or read-only arrays,
            ``param``/``m``/``v`` (or ``grad`` and ``m``/``v``) sharing memory, ``step`` outside
            ``[1, 2**63)``, ``lr``, ``eps`` or ``weight_decay`` negative or not finite, betas
            outside ``[0, 1)``.
    """
    _core.adam_step(
        param,
        grad,
        m,
        v,
        _step(step),
        real(lr, "lr"),
        real(beta1, "beta1"),
        real(beta2, "beta2"),
        real(eps, "eps"),
        real(weight_decay, "weight_decay"),
        as_bool(decoupled, "decoupled"),
    )


def adam_step_many(
    params,
    grads,
    m,
    v,
    steps,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled: bool = False,
) -> None:
    """:func:`adam_step` over several parameters in one native call (a whole model's step).

    Args:
        params, grads, m, v: equally long sequences; entry ``i`` of each is as ``param``,
            ``grad``, ``m``, ``v`` of :func:`adam_step` (all params of one dtype).
        steps: one update count per parameter (an int applies to all), 1 on the first update.
        lr, beta1, beta2, eps, weight_decay, decoupled: as in :func:`adam_step`, shared.

    Every array is checked before any is updated. Results equal calling :func:`adam_step` on
    each parameter. No param, m or v may share memory with any other array of the call (the
    same param listed twice, one state array for two params, a param another entry reads as
    its grad): ValueError naming both.

    Raises:
        The errors of :func:`adam_step`, naming the list and index (``grads[3]``); ValueError
        when the sequences differ in length; TypeError naming the argument when ``params``,
        ``grads``, ``m`` or ``v`` is not a sequence (None, a number, a dict, a generator) or
        ``steps`` neither an integer nor a sequence of them.
    """
    params, grads, m, v = (_arrays(a, n) for a, n in
                           ((params, "params"), (grads, "grads"), (m, "m"), (v, "v")))
    n = len(params)
    if isinstance(steps, numbers.Integral) and not isinstance(steps, bool):
        steps = [_step(steps, "steps")] * n
    elif not (isinstance(steps, np.ndarray) and steps.ndim == 1
              or isinstance(steps, Sequence) and not isinstance(steps, (str, bytes))):
        raise TypeError("steps must be an integer or a list of integers (one per parameter), "
                        f"got {type(steps).__name__}")
    elif not all(type(s) is int and -_I64 <= s < _I64 for s in steps):  # the optimisers' ints
        steps = [_step(s, f"steps[{i}]") for i, s in enumerate(steps)]
    _core.adam_step_many(params, grads, m, v, steps, real(lr, "lr"), real(beta1, "beta1"),
                         real(beta2, "beta2"), real(eps, "eps"),
                         real(weight_decay, "weight_decay"), as_bool(decoupled, "decoupled"))


def adam_step_rows(
    param,
    rows,
    grad_rows,
    m,
    v,
    step: int,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled: bool = False,
) -> None:
    """Sparse ("lazy") Adam / AdamW: only ``param[rows]``, ``m[rows]`` and ``v[rows]`` move.

    Each listed row gets exactly the dense update of :func:`adam_step` with its gradient row;
    the other rows (and their moments) are untouched, weight decay included. ``step`` is the
    caller's global step (as ``torch.optim.SparseAdam``, which counts calls per parameter).

    Args:
        param: ``[V, D]`` float32 or float64, writable; updated in place.
        rows: ``[U]`` integers (converted to int64), distinct, in ``[0, V)``, any order.
        grad_rows: ``[U, D]``; row ``u`` is the gradient of ``param[rows[u]]``.
        m, v: ``[V, D]`` moment estimates, updated in place at ``rows``.
        step, lr, beta1, beta2, eps, weight_decay, decoupled: as in :func:`adam_step`.

    Raises:
        The errors of :func:`adam_step`; ValueError naming ``rows`` for an out-of-range or
        repeated row.
    """
    _core.adam_step_rows(
        param,
        _rows(rows),
        grad_rows,
        m,
        v,
        _step(step),
        real(lr, "lr"),
        real(beta1, "beta1"),
        real(beta2, "beta2"),
        real(eps, "eps"),
        real(weight_decay, "weight_decay"),
        as_bool(decoupled, "decoupled"),
    )


def sgd_step(
    param,
    grad,
    buf,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
) -> None:
    """One SGD update (optionally with momentum / Nesterov momentum), in place.

    Args:
        param: any shape, float32 or float64, writable; updated in place.
        grad: ``param``'s shape and dtype.
        buf: momentum buffer (``param``'s shape and dtype, zeros before the first step), updated
            in place; may be None when ``momentum == 0``.
        lr, momentum, weight_decay, nesterov: as in ``torch.optim.SGD`` (dampening 0).

    Raises:
        TypeError: dtypes that differ from ``param``'s, a hyper-parameter that is not a number,
            ``nesterov`` not True or False.
        ValueError: shapes, non-contiguous or read-only arrays, ``buf`` sharing memory with
            ``param`` or ``grad``, ``lr``, ``momentum`` or ``weight_decay`` negative or not
            finite, ``nesterov`` without momentum, ``buf`` None with momentum.
    """
    _core.sgd_step(
        param,
        grad,
        buf,
        real(lr, "lr"),
        real(momentum, "momentum"),
        real(weight_decay, "weight_decay"),
        as_bool(nesterov, "nesterov"),
    )


def sgd_step_rows(
    param,
    rows,
    grad_rows,
    buf,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
) -> None:
    """Sparse SGD: only ``param[rows]`` (and ``buf[rows]``) move, as :func:`sgd_step` per row.

    Args:
        param: ``[V, D]`` float32 or float64, writable; updated in place.
        rows: ``[U]`` integers, distinct, in ``[0, V)``.
        grad_rows: ``[U, D]`` gradient rows.
        buf: ``[V, D]`` momentum buffer or None (``momentum == 0``).
        lr, momentum, weight_decay, nesterov: as in :func:`sgd_step`.

    Raises:
        The errors of :func:`sgd_step`; ValueError naming ``rows`` for an out-of-range or
        repeated row.
    """
    _core.sgd_step_rows(
        param,
        _rows(rows),
        grad_rows,
        buf,
        real(lr, "lr"),
        real(momentum, "momentum"),
        real(weight_decay, "weight_decay"),
        as_bool(nesterov, "nesterov"),
    )


def clip_grad_norm(grads, max_norm: float, return_norm: bool = True) -> float | None:
    """Clip gradients by their global L2 norm, in place (``torch.nn.utils.clip_grad_norm_``).

    ``norm = sqrt(sum over all arrays of sum(g**2))`` (accumulated in float64, independent of the
    thread count); when ``max_norm / (norm + 1e-6) < 1`` every array is multiplied in place by
    that factor.

    Args:
        grads: a list (or other sequence) of float32 / float64 arrays, writable, C-contiguous;
            dtypes may differ between arrays. An empty list gives 0.0.
        max_norm: the largest allowed norm, ``>= 0``.
        return_norm: False returns None; on CUDA arrays the call then never waits for the
            device (the norm and the scaling stay on the GPU).

    Returns:
        The global norm before clipping, as a Python float. A NaN norm leaves the arrays as they
        are; an infinite norm scales them by 0 (as torch does); neither raises.

    Raises:
        TypeError: a non-float array (the message names ``grads[i]``), ``grads`` not a list
            (None, a number, a string, a dict), ``return_norm`` not True or False.
        ValueError: ``max_norm < 0``, non-contiguous or read-only arrays.
    """
    if isinstance(grads, np.ndarray):
        grads = [grads]
    elif isinstance(grads, (str, bytes, dict)) or not hasattr(grads, "__iter__"):
        raise TypeError(f"grads must be a list of arrays, got {type(grads).__name__}")
    return_norm = as_bool(return_norm, "return_norm")
    norm = _core.clip_grad_norm(list(grads), real(max_norm, "max_norm"), return_norm)
    return float(norm) if return_norm else None
