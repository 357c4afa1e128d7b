"""PNG plots of a run (matplotlib, Agg backend: no display needed).

Every function writes one PNG and returns the path it wrote: ``path`` (a str or
``os.PathLike``) must end in ``.png`` or have no suffix (then ``.png`` is added, e.g.
``"curves"`` -> ``curves.png``); a directory, or a path whose folder cannot be made (a file is
in its way) or written in, is refused (ValueError naming the path); missing parent directories
are created. Inputs are checked before anything is drawn. The per-series plots draw at most
``max_series`` panels (default ``DEFAULT_SERIES``, at most ``MAX_SERIES``): the first ones, the
title saying how many were left out. matplotlib is imported on first use, so importing
chronoscale does not pay for it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .ops._common import check_int
from .report import _bad_output, output_problem

__all__ = ["DEFAULT_SERIES", "MAX_SERIES", "by_history_length", "contributions",
           "forecast_vs_truth", "hit_curves", "scale_weights", "training_curves"]
#: panels (series / rows) drawn by default, and the most a call may ask for (~0.2 s each)
DEFAULT_SERIES = 16
MAX_SERIES = 64
_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png_path(path) -> Path:
    """The file a plot is written to (see the module docstring).

    Raises:
        TypeError: not a str / ``os.PathLike``. ValueError: a directory, a suffix other than
            ``.png``, a file in the way of its folder.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    p = Path(path)
    if not p.suffix and not p.is_dir():
        p = p.with_name(p.name + ".png")
    if p.is_dir():
        raise ValueError(f"path {str(p)!r} is a directory: give a file name, e.g. "
                         f"{str(p / 'plot.png')!r}")
    if p.suffix.lower() != ".png":
        raise ValueError(f"path must name a .png file (or have no suffix), got {str(p)!r}")
    problem = output_problem(p, probe=False, replaced=False)  # (a file in the folder's way:
    # before drawing; savefig writes the file in place)
    if problem:
        raise ValueError(f"path {str(p)!r}: {problem}")
    return p


def _save(fig, path: Path) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png", dpi=110, bbox_inches="tight")
    except OSError as e:
        raise _bad_output(path, e) from None
    finally:
        _plt().close(fig)
    return path


def _numbers(value, name: str, ndims=None) -> np.ndarray:
    """``value`` as a float64 array (None entries become NaN).

    Raises:
        TypeError: strings or other non-numbers. ValueError: a ragged nesting, a number of
            dimensions not in ``ndims``.
    """
    try:
        a = np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array of numbers: {exc}") from None
    if a.dtype.kind == "O":
        if any(isinstance(v, (str, bytes)) for v in a.flat):
            raise TypeError(f"{name} must hold numbers, got a string in {value!r:.60}")
        try:
            a = a.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must hold numbers, got {value!r:.60}") from None
    elif a.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold numbers, got dtype {a.dtype}")
    if ndims is not None and a.ndim not in ndims:
        want = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{name} must be {want}, got shape {a.shape}")
    return a.astype(np.float64, copy=False)


def _names(value, name: str, n: int, what: str) -> list:
    """``value`` as a list of ``n`` names (a str is one name, not a list of characters).

    Raises:
        TypeError: a str or a non-iterable. ValueError: a length other than ``n``.
    """
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__") or \
            isinstance(value, Mapping):
        raise TypeError(f"{name} must be a list of names, got {type(value).__name__} "
                        f"{value!r:.50}")
    out = list(value)
    if len(out) != n:
        raise ValueError(f"{name} has {len(out)} names, {what}")
    return out


def _max_series(max_series) -> int:
    n = check_int(max_series, "max_series")
    if n > MAX_SERIES:
        raise ValueError(f"max_series must be <= MAX_SERIES={MAX_SERIES} (each panel takes "
                         f"~0.2 s to draw), got {n}")
    return n


def _shown(title: str, n: int, total: int, what: str) -> str:
    return title if n == total else f"{title} (the first {n} of {total} {what})"


def training_curves(history: dict, path, title: str = "Training",
                    loss_label: str = "loss") -> Path:
    """Per-epoch curves from a ``History`` (``loss``, ``val_loss`` and any ``val_<metric>``):
    losses on the left axis, other validation metrics in a second panel when present. The x
    axis is ``history["epoch"]`` when present, else 1, 2, ...; None values (NaN in a JSON
    report) leave gaps.

    Raises:
        TypeError: ``history`` not a dict, curves that are not numbers; a bad ``path``.
        ValueError: no loss or validation metric to plot, a curve that is not a 1-D list or
            whose length differs from the epochs'; a bad ``path`` (see the module docstring).
    """
    if not isinstance(history, Mapping):
        raise TypeError(f"history must be a dict of per-epoch lists (a History), got "
                        f"{type(history).__name__}")
    path = _png_path(path)
    curves = {}
    for k in history:
        if k in ("loss", "val_loss") or (isinstance(k, str) and k.startswith("val_")):
            v = _numbers(history[k], f"history[{k!r}]", (1,))
            if len(v):
                curves[k] = v
    losses = [k for k in ("loss", "val_loss") if k in curves]
    others = [k for k in curves if k not in ("loss", "val_loss")]
    if not losses and not others:
        raise ValueError("history has no loss or validation metric to plot")
    n_epochs = len(curves[(losses + others)[0]])
    if history.get("epoch") is not None and len(history["epoch"]):
        epochs = _numbers(history["epoch"], "history['epoch']", (1,))
    else:
        epochs = np.arange(1, n_epochs + 1)
    for k, v in curves.items():
        if len(v) != len(epochs):
            raise ValueError(f"history[{k!r}] has {len(v)} values for {len(epochs)} epochs")
    plt = _plt()
    n = 2 if others else 1
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 3.6), squeeze=False)
    ax = axes[0, 0]
    for k, c in zip(losses, _COLORS):
        ax.plot(epochs, curves[k], marker="o", color=c, label=k.replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_ylabel(loss_label)
    ax.set_title(loss_label)
    ax.grid(alpha=0.3)
    ax.legend()
    if others:
        ax = axes[0, 1]
        for j, k in enumerate(others):
            ax.plot(epochs, curves[k], marker="o", color=(_COLORS[2:] + _COLORS[:2])[j % 8],
                    label=k[4:])
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


def _times(times, P: int) -> np.ndarray:
    """``times [P]`` as int64 seconds (integers, or ``datetime64`` values).

    Raises:
        TypeError: not integers / datetime64. ValueError: not 1-D of length ``P``.
    """
    try:
        t = np.asarray(times)
    except ValueError as exc:
        raise ValueError(f"times must be a 1-D array of int64 seconds: {exc}") from None
    if t.dtype.kind == "M":
        t = t.astype("datetime64[s]").astype(np.int64)
    elif t.dtype.kind not in "iu":
        raise TypeError(f"times must hold integers (int64 seconds), got dtype {t.dtype}")
    if t.shape != (P,):
        raise ValueError(f"times must be [P] with P = {P} (truth's columns), got shape {t.shape}")
    return t.astype(np.int64)


def forecast_vs_truth(times, truth, forecasts: dict, origin: int, path, labels=None,
                      title: str = "Forecast vs truth", ylabel: str = "value",
                      max_series: int = DEFAULT_SERIES) -> Path:
    """Like the classic LSTM example: the observed series (history and the held-out future) and
    each method's forecast over the hold-out, one panel per series.

    ``times [P]`` int64 seconds (period starts), ``truth [N, P]``, ``forecasts`` name ->
    ``[N, H]`` (for periods ``origin .. origin + H - 1``, so ``origin + H <= P``); ``labels``
    name each series. Only the first ``max_series`` series are drawn (default
    ``DEFAULT_SERIES``, at most ``MAX_SERIES``); the title then says how many were left out.

    Raises:
        TypeError: non-numeric ``truth`` / ``forecasts`` values or ``times``, ``forecasts`` not
            a dict, ``labels`` a str, a non-integer ``origin`` / ``max_series``; a bad ``path``.
        ValueError: ``truth`` not ``[N, P]`` or empty, ``times`` not ``[P]``, ``origin``
            outside ``[0, P)``, a forecast not ``[N, H]`` with ``1 <= H <= P - origin``,
            ``labels`` not ``N`` names, ``max_series`` outside ``[1, MAX_SERIES]``; a bad
            ``path`` (see the module docstring).
    """
    path = _png_path(path)
    truth = _numbers(truth, "truth", (2,))
    N, P = truth.shape
    if N == 0 or P == 0:
        raise ValueError(f"truth is empty (shape {truth.shape}): nothing to plot")
    t = _dates(_times(times, P))
    origin = check_int(origin, "origin", 0)
    if origin >= P:
        raise ValueError(f"origin must be in [0, {P}) (truth's columns), got {origin}")
    if not isinstance(forecasts, Mapping):
        raise TypeError(f"forecasts must be a dict of name -> [N, H] forecasts, got "
                        f"{type(forecasts).__name__}")
    fc = {}
    for name, f in forecasts.items():
        f = _numbers(f, f"forecasts[{name!r}]", (2,))
        if f.shape[0] != N or not 1 <= f.shape[1] <= P - origin:
            raise ValueError(f"forecasts[{name!r}] must be [N, H] with N = {N} and "
                             f"1 <= H <= P - origin = {P - origin}, got shape {f.shape}")
        fc[str(name)] = f
    if labels is not None:
        labels = _names(labels, "labels", N, f"truth has {N} series")
    n = min(N, _max_series(max_series))
    plt = _plt()
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, 2.8 * rows), squeeze=False,
                             sharex=True)
    for i in range(n):
        ax = axes[i // cols, i % cols]
        ax.plot(t[:origin + 1], truth[i, :origin + 1], color="0.45", lw=1.2, label="history")
        ax.plot(t[origin:], truth[i, origin:], color="black", lw=1.6, label="truth (held out)")
        for j, (name, f) in enumerate(fc.items()):
            ax.plot(t[origin:origin + f.shape[1]], f[i], color=_COLORS[j % len(_COLORS)],
                    lw=1.6, ls="-" if j == 0 else "--", label=name)
        ax.axvline(t[origin], color="0.6", ls=":", lw=1)
        ax.set_title(str(labels[i]) if labels is not None else f"series {i}", fontsize=10)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    for j in range(n, rows * cols):
        axes[j // cols, j % cols].axis("off")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), 5), frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    fig.autofmt_xdate()
    fig.suptitle(_shown(title, n, N, "series"))
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return _save(fig, path)


def hit_curves(results: dict, path, title: str = "Hit rate by list length",
               primary: str | None = None) -> Path:
    """``HR@K`` against ``K`` (log scale) for each method of ``results`` (name -> a full-ranking
    report of ``chronoscale.metrics``, whose ``hit_curve`` it draws): where each method puts
    the held-out items over the whole ranking, not only at the reported ``K``. ``primary`` is
    drawn thicker. Methods without a ``hit_curve`` (sampled ranking) are left out.

    Raises:
        TypeError: ``results`` not a dict; a bad ``path``.
        ValueError: no method has a ``hit_curve``, a curve whose ``k`` and ``HR`` differ in
            length; a bad ``path`` (see the module docstring).
    """
    if not isinstance(results, Mapping):
        raise TypeError(f"results must be a dict of method -> report, got "
                        f"{type(results).__name__}")
    path = _png_path(path)
    curves = {}
    for name, rep in results.items():
        c = rep.get("hit_curve") if isinstance(rep, Mapping) else None
        if c is None:
            continue
        where = f"results[{name!r}]['hit_curve']"
        if not isinstance(c, Mapping):
            raise TypeError(f"{where} must be a dict with 'k' and 'HR', got {type(c).__name__}")
        k = _numbers(c.get("k"), f"{where}['k']", (1,))
        hr = _numbers(c.get("HR"), f"{where}['HR']", (1,))
        if len(k) != len(hr) or not len(k):
            raise ValueError(f"{where}: {len(k)} k for {len(hr)} HR")
        if np.isfinite(hr).any():  # (no queries: all NaN, nothing to draw)
            curves[str(name)] = (k, hr)
    if not curves:
        raise ValueError("no method in results has a hit_curve with values (full-ranking "
                         "reports over at least one query do)")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for j, (name, (k, hr)) in enumerate(curves.items()):
        ax.plot(k, hr, marker="o", ms=3, color=_COLORS[j % len(_COLORS)], label=name,
                lw=2.6 if name == primary else 1.4)
    ax.set_xscale("log")
    ax.set_xlabel("K (length of the recommendation list, log scale)")
    ax.set_ylabel("HR@K (held-out item in the top K)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def by_history_length(results: dict, path, metric: str = "NDCG@10",
                      title: str | None = None) -> Path:
    """Grouped bars of ``metric`` per history-length bin (events before the target) for each
    method of ``results`` (name -> a report with ``by_history_length``, as
    ``chronoscale.metrics.evaluate_recommender`` gives for full ranking); each bin's label
    shows its query count. Where does a method win: short or long histories?

    Raises:
        TypeError: ``results`` not a dict; a bad ``path``.
        ValueError: no method has ``by_history_length`` with ``metric``, methods whose bins
            differ; a bad ``path`` (see the module docstring).
    """
    if not isinstance(results, Mapping):
        raise TypeError(f"results must be a dict of method -> report, got "
                        f"{type(results).__name__}")
    path = _png_path(path)
    rows, bins, queries = {}, None, None
    for name, rep in results.items():
        b = rep.get("by_history_length") if isinstance(rep, Mapping) else None
        if b is None:
            continue
        where = f"results[{name!r}]['by_history_length']"
        if not (isinstance(b, Mapping) and isinstance(b.get("metrics"), Mapping)
                and isinstance(b.get("bins"), list) and isinstance(b.get("queries"), list)):
            raise TypeError(f"{where} must be a dict with 'bins', 'queries' and 'metrics' (as "
                            "chronoscale.metrics.by_history_length gives)")
        if not b["bins"] or metric not in b["metrics"]:
            continue  # (no queries; another metric)
        if bins is None:
            bins, queries = b["bins"], b["queries"]
        elif b["bins"] != bins:
            raise ValueError(f"results[{name!r}] has other history-length bins than the "
                             "first method's")
        v = _numbers(b["metrics"][metric], f"{where}[{metric!r}]", (1,))
        if not len(v) == len(bins) == len(queries):
            raise ValueError(f"{where}: {len(bins)} bins, {len(queries)} query counts and "
                             f"{len(v)} values of {metric}")
        rows[str(name)] = v
    if not rows:
        raise ValueError(f"no method in results has by_history_length with {metric!r} over "
                         "at least one query")
    plt = _plt()
    n, m = len(bins), len(rows)
    fig, ax = plt.subplots(figsize=(min(16.0, max(5.0, 1.0 + 0.9 * n * max(1, m / 2))), 3.8))
    width = 0.8 / m
    x = np.arange(n)
    for j, (name, v) in enumerate(rows.items()):
        ax.bar(x + (j - (m - 1) / 2) * width, v, width, color=_COLORS[j % len(_COLORS)],
               label=name)
    labels = [(str(lo) if lo == hi else f"{lo}-{hi}") + f"\n({q})" for (lo, hi), q in
              zip(bins, queries)]
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_xlabel("events before the target (queries)")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    ax.set_title(title or f"{metric} by history length")
    fig.tight_layout()
    return _save(fig, path)


def scale_weights(alpha, scales, path, title: str = "Learned scale weights α",
                  horizon_labels=None) -> Path:
    """Bar chart of the fusion weights ``alpha [S]`` or ``[S, K]`` (K horizons: grouped bars
    for the first, middle and last horizon).

    Raises:
        TypeError: non-numeric ``alpha``, ``scales`` / ``horizon_labels`` a str; a bad ``path``.
        ValueError: ``alpha`` not 1-D / 2-D, empty or not finite, ``scales`` not ``S`` names,
            ``horizon_labels`` not ``K``; a bad ``path`` (see the module docstring).
    """
    path = _png_path(path)
    a = _numbers(alpha, "alpha", (1, 2))
    if a.ndim == 1:
        a = a[:, None]
    S, K = a.shape
    if S == 0 or K == 0:
        raise ValueError(f"alpha is empty (shape {np.shape(alpha)}): nothing to plot")
    if not np.isfinite(a).all():
        raise ValueError("alpha must be finite (no NaN / inf)")
    scales = _names(scales, "scales", S, f"alpha has {S} rows")
    hl = ([f"h={k + 1}" for k in range(K)] if horizon_labels is None else
          _names(horizon_labels, "horizon_labels", K, f"alpha has {K} horizons"))
    plt = _plt()
    pick = sorted({0, K // 2, K - 1})
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
                  ylabel: str = "contribution", prefix: str = "scale ",
                  max_series: int = DEFAULT_SERIES) -> Path:
    """Stacked per-scale contributions ``alpha_s * y_s`` (``explain()``) for a few series or
    users: ``contrib [N, S]`` (one bar per row, ``labels`` under the bars, ``truth [N]``) or
    ``[N, S, K]`` (one panel per row, K horizons, ``labels`` as panel titles, ``truth
    [N, K]``); the black line is their sum (the prediction), ``truth`` adds the target.
    Legend entries are ``prefix + scales[s]``. Only the first ``max_series`` rows are drawn
    (default ``DEFAULT_SERIES``, at most ``MAX_SERIES``); the title then says how many were
    left out.

    Raises:
        TypeError: non-numeric ``contrib`` / ``truth``, ``scales`` / ``labels`` a str, a
            non-integer ``max_series``; a bad ``path``.
        ValueError: ``contrib`` not 2-D / 3-D, empty or not finite, ``scales`` not ``S`` names,
            ``labels`` not ``N``, ``truth`` of another shape, ``max_series`` outside
            ``[1, MAX_SERIES]``; a bad ``path`` (see the module docstring).
    """
    path = _png_path(path)
    c = _numbers(contrib, "contrib", (2, 3))
    if c.size == 0:
        raise ValueError(f"contrib is empty (shape {c.shape}): nothing to plot")
    if not np.isfinite(c).all():
        raise ValueError("contrib contains NaN or inf (as scale_weights' alpha may not)")
    total = c.shape[0]
    scales = _names(scales, "scales", c.shape[1], f"contributions have {c.shape[1]}")
    if labels is not None:
        labels = _names(labels, "labels", total, f"contrib has {total} rows")
    if truth is not None:
        truth = _numbers(truth, "truth")
        want = c.shape[:1] if c.ndim == 2 else (c.shape[0], c.shape[2])
        if truth.shape != want:
            raise ValueError(f"truth must have shape {list(want)} (contrib is "
                             f"{list(c.shape)}), got {list(truth.shape)}")
    n = min(total, _max_series(max_series))
    c, labels = c[:n], None if labels is None else labels[:n]
    truth = None if truth is None else truth[:n]
    plt = _plt()
    if c.ndim == 2:
        c = c[:, :, None].transpose(2, 1, 0)  # one panel, rows become the x axis
        labels_x = labels
        labels = [None]
        truth = None if truth is None else truth.reshape(1, -1)
    else:
        labels_x = None
    N, S, K = c.shape
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
            ax.plot(x, truth[i], color="red", ls="--", marker="x",
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
    fig.suptitle(_shown(title, n, total, "rows"))
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _save(fig, path)
