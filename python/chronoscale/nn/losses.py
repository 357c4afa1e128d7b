"""Loss functions: thin names over the fused native losses in :mod:`chronoscale.ops`.

Each returns ``(mean_loss: float, grad)`` with ``grad`` the gradient of the mean loss w.r.t. the
prediction (same shape and dtype). ``target`` must have the prediction's shape (a ``[B]`` target
for a ``[B, 1]`` prediction, and the reverse, is accepted; a transposed or otherwise reshaped
target is refused) and is cast to its dtype — per mini-batch glue only. ``weights`` has the
prediction's shape or is ``[B]`` (one weight per row, spread over the other axes); finite and
``>= 0``.
"""

from __future__ import annotations

import functools

import numpy as np

from .. import ops
from ..ops._common import host, int64_indices
from . import device as _device
from .metrics import _column_pair


def _pred(pred, name="pred"):
    """``pred`` as a float array (lists become NumPy arrays); TypeError otherwise."""
    if pred is None:
        raise TypeError(f"{name} must be an array, got None")
    if not hasattr(pred, "dtype"):
        pred = np.asarray(pred)
    if np.dtype(pred.dtype) not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got dtype {pred.dtype}")
    return pred


def _like(target, pred, name="target"):
    """``target`` with ``pred``'s shape, dtype and device (moved to the GPU for a CuPy pred)."""
    if target is None:
        raise TypeError(f"{name} must be an array, got None")
    dtype = getattr(target, "dtype", None)
    if dtype is None:
        target = np.asarray(target)
        dtype = target.dtype
    if np.dtype(dtype).kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got dtype {dtype}")
    t = _device.to_device(target, _device.device_of(pred), pred.dtype)
    if t.shape != pred.shape and not _column_pair(t.shape, pred.shape):
        raise ValueError(f"{name} has shape {t.shape}, the prediction {pred.shape} (they must "
                         "be the same, or [B] against [B, 1])")
    return t.reshape(pred.shape)


def _weights(weights, pred, trusted=False):
    """``weights`` of ``pred``'s shape (``[B]``: one per row, broadcast over the other axes),
    finite and ``>= 0`` (not checked when ``trusted``: ``fit`` checked them once up front)."""
    if weights is None:
        return None
    w = weights
    if pred.ndim > 1 and getattr(w, "ndim", np.ndim(w)) == 1 and len(w) == pred.shape[0]:
        xp = _device.xp(pred)
        w = _device.to_device(w, _device.device_of(pred), pred.dtype)
        w = xp.ascontiguousarray(xp.broadcast_to(w.reshape((-1,) + (1,) * (pred.ndim - 1)),
                                                 pred.shape))
    w = _like(w, pred, "weights")
    if trusted:
        return w
    xp = _device.xp(w)
    if not bool(xp.isfinite(w).all()):
        raise ValueError("weights contains NaN or inf")
    if bool((w < 0).any()):
        raise ValueError("weights must be >= 0, got a negative weight")
    return w


def check_probabilities(target):
    """ValueError unless every value of ``target`` lies in ``[0, 1]`` (no NaN): the targets of
    ``bce_with_logits``. One read from the device for a CuPy array."""
    t = target if hasattr(target, "dtype") else np.asarray(target)
    if not bool(((t >= 0) & (t <= 1)).all()):
        raise ValueError("target of bce_with_logits must lie in [0, 1] (probabilities)")


def _point(op, pred, target, weights=None, name="pred", trusted=False, **kwargs):
    """``op(pred, target, weights, **kwargs)`` of :mod:`chronoscale.ops` after the glue: the
    prediction checked, target and weights in its shape, dtype and device; with ``trusted``, the
    values of the weights and of bce targets are not checked again (see :func:`for_fit`)."""
    pred = _pred(pred, name)
    t = _like(target, pred)
    if op is ops.bce_with_logits_loss and not trusted:
        check_probabilities(t)
    return op(pred, t, weights=_weights(weights, pred, trusted), **kwargs)


def mse(pred, target, weights=None):
    """Mean squared error ``mean(w * (pred - target)^2)``."""
    return _point(ops.mse_loss, pred, target, weights)


def mae(pred, target, weights=None):
    """Mean absolute error."""
    return _point(ops.mae_loss, pred, target, weights)


def huber(pred, target, delta: float = 1.0, weights=None):
    """Huber loss (quadratic below ``delta``, linear above)."""
    return _point(ops.huber_loss, pred, target, weights, delta=delta)


def bce_with_logits(logits, target, weights=None):
    """Binary cross-entropy on logits (numerically stable); targets in [0, 1].

    Raises:
        ValueError: a target outside ``[0, 1]`` (or NaN), besides the errors of :func:`mse`.
    """
    return _point(ops.bce_with_logits_loss, logits, target, weights, "logits")


def _class_ids(target):
    """Class ids as a flat host int64 array; TypeError for floats (never truncated)."""
    if target is None:
        raise TypeError("target must be an array of class ids, got None")
    ids = int64_indices(host(target), "target", "class indices")
    return np.ascontiguousarray(ids.reshape(-1), dtype=np.int64)


def softmax_cross_entropy(logits, target, ignore_index: int = -1):
    """Cross-entropy of ``logits [N, V]`` against class ids ``target [N]`` (``ignore_index``
    entries are skipped), full softmax over V. TypeError for non-integer targets."""
    target = _class_ids(target)
    return ops.softmax_cross_entropy(logits, target, ignore_index=ignore_index)


def sampled_softmax(user, items, target, num_samples: int, seed: int, log_q=None,
                    remove_accidental_hits: bool = True):
    """Sampled softmax with log-Q correction; returns ``(loss, d_user, rows, d_rows)``
    (``d_rows`` is the gradient of the item table's ``rows``). TypeError for non-integer
    targets."""
    target = _class_ids(target)
    return ops.sampled_softmax_loss(user, items, target, num_samples, seed, log_q=log_q,
                                    remove_accidental_hits=remove_accidental_hits)


LOSSES = {"mse": mse, "mae": mae, "huber": huber, "bce_with_logits": bce_with_logits}


_OPS = {"mse": ops.mse_loss, "mae": ops.mae_loss, "huber": ops.huber_loss,
        "bce_with_logits": ops.bce_with_logits_loss}


def for_fit(loss):
    """The loss ``fit`` runs per batch: a callable as it is; a name (as :func:`get`) as
    ``f(pred, target, weights=None) -> (loss, dpred)`` that leaves the loss on the device for
    CUDA arrays (a 0-d CuPy array: no wait per batch) and does not check the values of the
    weights or of bce targets again (``fit`` checks them once for the whole data set)."""
    fn = get(loss)
    if not isinstance(loss, str):
        return fn
    name = "logits" if loss == "bce_with_logits" else "pred"
    return functools.partial(_point, _OPS[loss], name=name, trusted=True, loss_on_device=True)


def get(loss):
    """A loss function by name ("mse", "mae", "huber", "bce_with_logits") or a callable."""
    if callable(loss):
        return loss
    if not isinstance(loss, str):
        raise TypeError(f"loss must be a name {sorted(LOSSES)} or a callable, got "
                        f"{type(loss).__name__}")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {sorted(LOSSES)} or a callable")
    return LOSSES[loss]
