"""PNG plots of a run (matplotlib, Agg backend: no display needed).

Every function writes one PNG to ``path`` and returns the path. matplotlib is imported on first
use, so importing chronoscale does not pay for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["contributions", "forecast_vs_truth", "scale_weights", "training_curves"]
_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def training_curves(history: dict, path, title: str = "Training",
                    loss_label: str = "loss") -> Path:
    """Per-epoch curves from a ``History`` (``loss``, ``val_loss`` and any ``val_<metric>``):
    losses on the left axis, other validation metrics in a second panel when present."""
    plt = _plt()
    epochs = history.get("epoch") or list(range(1, len(history.get("loss", [])) + 1))
    losses = [k for k in ("loss", "val_loss") if history.get(k)]
    others = [k for k in history if k.startswith("val_") and k != "val_loss" and history[k]]
    if not losses and not others:
        raise ValueError("history has no loss or validation metric to plot")
    n = 2 if others else 1
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 3.6), squeeze=False)
    ax = axes[0, 0]
    for k, c in zip(losses, _COLORS):
        ax.plot(epochs, history[k], marker="o", color=c, label=k.replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_ylabel(loss_label)
    ax.set_title(loss_label)
    ax.grid(alpha=0.3)
    ax.legend()
    if others:
        ax = axes[0, 1]
        for k, c in zip(others, _COLORS[2:] + _COLORS):
            ax.plot(epochs, history[k], marker="o", color=c, label=k[4:])
        ax.set_xlabel("epoch")
        ax.set_title("validation")
        ax.grid(alpha=0.3)
        ax.legend()
    for a in axes[0]:
        a.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def _dates(ts):
    return np.asarray(ts, np.int64).astype("datetime64[s]").astype("datetime64[ms]").astype(object)


def forecast_vs_truth(times, truth, forecasts: dict, origin: int, path, labels=None,
                      title: str = "Forecast vs truth", ylabel: str = "value") -> Path:
    """Like the classic LSTM example: the observed series (history and the held-out future) and
    each method's forecast over the hold-out, one panel per series.

    ``times [P]`` int64 seconds (period starts), ``truth [N, P]``, ``forecasts`` name ->
    ``[N, H]`` (for periods ``origin .. origin + H - 1``); ``labels`` name each series.
    """
    plt = _plt()
    truth = np.asarray(truth, np.float64)
    N = truth.shape[0]
    cols = min(N, 2)
    rows = (N + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, 2.8 * rows), squeeze=False,
                             sharex=True)
    t = _dates(times)
    for i in range(N):
        ax = axes[i // cols, i % cols]
        ax.plot(t[:origin + 1], truth[i, :origin + 1], color="0.45", lw=1.2, label="history")
        ax.plot(t[origin:], truth[i, origin:], color="black", lw=1.6, label="truth (held out)")
        for (name, f), c in zip(forecasts.items(), _COLORS):
            f = np.asarray(f, np.float64)[i]
            ax.plot(t[origin:origin + len(f)], f, color=c, lw=1.6,
                    ls="-" if c == _COLORS[0] else "--", label=name)
        ax.axvline(t[origin], color="0.6", ls=":", lw=1)
        ax.set_title(str(labels[i]) if labels is not None else f"series {i}", fontsize=10)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    for j in range(N, rows * cols):
        axes[j // cols, j % cols].axis("off")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), 5), frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    fig.autofmt_xdate()
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return _save(fig, path)


def scale_weights(alpha, scales, path, title: str = "Learned scale weights α",
                  horizon_labels=None) -> Path:
    """Bar chart of the fusion weights ``alpha [S]`` or ``[S, K]`` (K horizons: grouped bars
    for the first, middle and last horizon)."""
    plt = _plt()
    a = np.asarray(alpha, np.float64)
    if a.ndim == 1:
        a = a[:, None]
    S, K = a.shape
    if len(scales) != S:
        raise ValueError(f"scales has {len(scales)} names, alpha has {S} rows")
    pick = sorted({0, K // 2, K - 1})
    hl = horizon_labels if horizon_labels is not None else [f"h={k + 1}" for k in range(K)]
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * S, 3.6))
    width = 0.8 / len(pick)
    x = np.arange(S)
    for j, k in enumerate(pick):
        bars = ax.bar(x + (j - (len(pick) - 1) / 2) * width, a[:, k], width,
                      color=_COLORS[j], label=hl[k] if K > 1 else None)
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.axhline(1.0 / S, color="0.5", ls=":", lw=1, label="uniform 1/S")
    ax.set_xticks(x, [str(s) for s in scales])
    ax.set_xlabel("scale")
    ax.set_ylabel("α (softmax weight)")
    ax.set_ylim(0, max(1.0 / S, float(a.max())) * 1.25)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def contributions(contrib, scales, path, labels=None, truth=None,
                  title: str = "Per-scale contributions", xlabel: str = "horizon",
                  ylabel: str = "contribution", prefix: str = "scale ") -> Path:
    """Stacked per-scale contributions ``alpha_s * y_s`` (``explain()``) for a few series or
    users: ``contrib [N, S]`` (one bar per row) or ``[N, S, K]`` (one panel per row, K
    horizons); the black line is their sum (the prediction), ``truth`` adds the target.
    Legend entries are ``prefix + scales[s]``."""
    plt = _plt()
    c = np.asarray(contrib, np.float64)
    if c.ndim == 2:
        c = c[:, :, None].transpose(2, 1, 0)  # one panel, rows become the x axis
        labels_x = labels
        labels = [None]
        truth = None if truth is None else np.asarray(truth, np.float64).reshape(1, -1)
    else:
        labels_x = None
    N, S, K = c.shape
    if len(scales) != S:
        raise ValueError(f"scales has {len(scales)} names, contributions have {S}")
    cols = min(N, 2)
    rows = (N + cols - 1) // cols
    width = 6.2 * cols if labels_x is None else max(6.2, 1.1 * K + 1.5)
    fig, axes = plt.subplots(rows, cols, figsize=(width, 3.0 * rows + (0.8 if labels_x else 0)),
                             squeeze=False)
    x = np.arange(K)
    for i in range(N):
        ax = axes[i // cols, i % cols]
        pos, neg = np.zeros(K), np.zeros(K)
        for s in range(S):
            v = c[i, s]
            base = np.where(v >= 0, pos, neg)
            ax.bar(x, v, bottom=base, color=_COLORS[s % len(_COLORS)], width=0.8,
                   label=f"{prefix}{scales[s]}")
            pos, neg = pos + np.maximum(v, 0), neg + np.minimum(v, 0)
        ax.plot(x, c[i].sum(0), color="black", marker=".", lw=1.4, label="prediction (sum)")
        if truth is not None:
            ax.plot(x, np.asarray(truth, np.float64)[i], color="red", ls="--", marker="x",
                    lw=1.2, label="truth")
        ax.axhline(0, color="0.4", lw=0.8)
        if labels_x is not None:
            ax.set_xticks(x, [str(v) for v in labels_x], rotation=30, ha="right")
        else:
            step = max(1, K // 12)
            ax.set_xticks(x[::step], [str(v + 1) for v in x[::step]])
            ax.set_xlabel(xlabel)
        if labels is not None and labels[i] is not None:
            ax.set_title(str(labels[i]), fontsize=10)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, axis="y")
    for j in range(N, rows * cols):
        axes[j // cols, j % cols].axis("off")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), 5), frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _save(fig, path)
