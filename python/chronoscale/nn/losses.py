"""Loss functions: thin names over the fused native losses in :mod:`chronoscale.ops`.

Each returns ``(mean_loss: float, grad)`` with ``grad`` the gradient of the mean loss w.r.t. the
prediction (same shape and dtype). ``target`` is cast to the prediction's dtype and shape
(a ``[B]`` target for a ``[B, 1]`` prediction is accepted) — per mini-batch glue only.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from . import device as _device


def _like(target, pred, name="target"):
    """``target`` with ``pred``'s shape, dtype and device (moved to the GPU for a CuPy pred)."""
    t = _device.to_device(target, _device.device_of(pred), pred.dtype)
    if t.size != pred.size:
        raise ValueError(f"{name} has {t.size} elements, the prediction {pred.size} "
                         f"(shape {pred.shape})")
    return t.reshape(pred.shape)


def _weights(weights, pred):
    return None if weights is None else _like(weights, pred, "weights")


def mse(pred, target, weights=None):
    """Mean squared error ``mean(w * (pred - target)^2)``."""
    return ops.mse_loss(pred, _like(target, pred), _weights(weights, pred))


def mae(pred, target, weights=None):
    """Mean absolute error."""
    return ops.mae_loss(pred, _like(target, pred), _weights(weights, pred))


def huber(pred, target, delta: float = 1.0, weights=None):
    """Huber loss (quadratic below ``delta``, linear above)."""
    return ops.huber_loss(pred, _like(target, pred), delta=delta, weights=_weights(weights, pred))


def bce_with_logits(logits, target, weights=None):
    """Binary cross-entropy on logits (numerically stable); targets in [0, 1]."""
    return ops.bce_with_logits_loss(logits, _like(target, logits), _weights(weights, logits))


def softmax_cross_entropy(logits, target, ignore_index: int = -1):
    """Cross-entropy of ``logits [N, V]`` against class ids ``target [N]`` (``ignore_index``
    entries are skipped), full softmax over V."""
    target = np.ascontiguousarray(_device.to_host(target).reshape(-1), dtype=np.int64)
    return ops.softmax_cross_entropy(logits, target, ignore_index=ignore_index)


def sampled_softmax(user, items, target, num_samples: int, seed: int, log_q=None,
                    remove_accidental_hits: bool = True):
    """Sampled softmax with log-Q correction; returns ``(loss, d_user, rows, d_rows)``
    (``d_rows`` is the gradient of the item table's ``rows``)."""
    target = np.ascontiguousarray(_device.to_host(target).reshape(-1), dtype=np.int64)
    return ops.sampled_softmax_loss(user, items, target, num_samples, seed, log_q=log_q,
                                    remove_accidental_hits=remove_accidental_hits)


LOSSES = {"mse": mse, "mae": mae, "huber": huber, "bce_with_logits": bce_with_logits}


def get(loss):
    """A loss function by name ("mse", "mae", "huber", "bce_with_logits") or a callable."""
    if callable(loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {sorted(LOSSES)} or a callable")
    return LOSSES[loss]
