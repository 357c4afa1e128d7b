"""Evaluation metrics on whole prediction arrays (NumPy, once per batch or epoch — not per step).

Each is ``f(pred, target) -> float``; ``target`` is reshaped to ``pred``'s shape.
"""

from __future__ import annotations

import numpy as np

from . import device as _device

GREATER_IS_BETTER = {"r2", "accuracy"}


def _pair(pred, target):
    p = np.asarray(_device.to_host(pred), dtype=np.float64)
    t = np.asarray(_device.to_host(target), dtype=np.float64)
    if t.size != p.size:
        raise ValueError(f"target has {t.size} elements, the prediction {p.size}")
    return p.reshape(-1), t.reshape(-1)


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
    """``{name: f}`` from a list of names, a dict of callables, or None."""
    if not metrics:
        return {}
    if isinstance(metrics, dict):
        return dict(metrics)
    if isinstance(metrics, str):
        metrics = [metrics]
    out = {}
    for m in metrics:
        if m not in METRICS:
            raise ValueError(f"unknown metric {m!r}; expected one of {sorted(METRICS)}")
        out[m] = METRICS[m]
    return out
