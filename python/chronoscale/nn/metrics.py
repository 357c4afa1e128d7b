"""Evaluation metrics on whole prediction arrays (NumPy, once per batch or epoch — not per step).

Each is ``f(pred, target) -> float``; ``target`` has ``pred``'s shape (or is ``[B]`` for a
``[B, 1]`` prediction, and the reverse). TypeError for non-numeric or None arrays, ValueError for
other shapes (a transposed target is never reshaped) and empty arrays.
"""

from __future__ import annotations

import numpy as np

from . import device as _device

GREATER_IS_BETTER = {"r2", "accuracy"}


def _numeric(a, name):
    """``a`` on the host as a numeric array (TypeError naming ``name`` otherwise)."""
    if a is None:
        raise TypeError(f"{name} must be an array, got None")
    arr = np.asarray(_device.to_host(a))
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr


def _pair(pred, target):
    """``(pred, target)`` as flat float64 arrays. ``target`` must have ``pred``'s shape (or be
    ``[B]`` for a ``[B, 1]`` prediction, and the reverse); both must be non-empty."""
    p, t = _numeric(pred, "pred"), _numeric(target, "target")
    if t.shape != p.shape and not _column_pair(p.shape, t.shape):
        raise ValueError(f"target has shape {t.shape}, the prediction {p.shape} (they must "
                         "be the same, or [B] against [B, 1])")
    if p.size == 0:
        raise ValueError("pred and target are empty: a metric needs at least one value")
    return p.reshape(-1).astype(np.float64), t.reshape(-1).astype(np.float64)


def _column_pair(a, b) -> bool:
    """True for shapes ``[B]`` and ``[B, 1]`` (either order)."""
    return (len(a), len(b)) in ((1, 2), (2, 1)) and (a + (1,) == b or b + (1,) == a)


def mse(pred, target) -> float:
    p, t = _pair(pred, target)
    return float(np.mean((p - t) ** 2))


def mae(pred, target) -> float:
    p, t = _pair(pred, target)
    return float(np.mean(np.abs(p - t)))


def rmse(pred, target) -> float:
    return float(np.sqrt(mse(pred, target)))


def r2(pred, target) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (scikit-learn's ``r2_score``;
    1.0 for a perfect fit, 0.0 for the mean predictor; 0.0 when the target is constant and the
    fit imperfect)."""
    p, t = _pair(pred, target)
    ss_res = float(np.sum((t - p) ** 2))
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    if ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else 0.0
    return 1.0 - ss_res / ss_tot


def accuracy(pred, target) -> float:
    """Share of ``round(pred) == target`` (binary probabilities)."""
    p, t = _pair(pred, target)
    return float(np.mean((p >= 0.5) == (t >= 0.5)))


METRICS = {"mse": mse, "mae": mae, "rmse": rmse, "r2": r2, "accuracy": accuracy}


def resolve(metrics) -> dict:
    """``{name: f}`` from a list of names, a dict ``{name: callable}``, or None.

    Raises:
        TypeError: a dict value that is not callable, a name that is not a string.
        ValueError: an unknown metric name.
    """
    if metrics is None:
        return {}
    if isinstance(metrics, dict):
        for k, f in metrics.items():
            if not isinstance(k, str):
                raise TypeError(f"metrics: names must be strings, got {k!r:.50}")
            if not callable(f):
                raise TypeError(f"metrics[{k!r}] must be a callable f(pred, target) -> float, "
                                f"got {type(f).__name__}")
        return dict(metrics)
    if isinstance(metrics, str):
        metrics = [metrics]
    try:
        metrics = list(metrics)
    except TypeError:
        raise TypeError(f"metrics must be a list of names or a dict of callables, got "
                        f"{type(metrics).__name__}") from None
    out = {}
    for m in metrics:
        if not isinstance(m, str):
            raise TypeError(f"metrics: names must be strings, got {m!r:.50}")
        if m not in METRICS:
            raise ValueError(f"unknown metric {m!r}; expected one of {sorted(METRICS)}")
        out[m] = METRICS[m]
    return out
