"""Evaluation metrics with labelled reports: ranking (full and sampled) and forecasting.

Ranking: one target item per query. Its rank is 1 + the number of candidates scored above it;
candidates scored exactly as the target are handled by ``ties``: ``"expected"`` (default; the
expectation under a random order of the tied items, which is what sklearn's ``ndcg_score``
computes), ``"pessimistic"`` (the target after all its ties) or ``"optimistic"`` (before them).
With ``K``: ``HR@K`` = ``Recall@K`` (equal with one target per query) = 1[rank <= K],
``NDCG@K`` = 1[rank <= K] / log2(rank + 1), ``MRR@K`` = 1[rank <= K] / rank, averaged over
queries.

History exclusion: items in ``exclude`` (a query's history) are removed from its candidates,
except the target itself, which is always ranked (so a repeated purchase can still be hit).

Every ``evaluate_*`` returns a report dict: ``protocol``, ``k``, ``negatives``, ``exclusion``,
``ties``, ``dataset`` (name, version), ``num_queries``, ``num_items`` and ``metrics``.
"""

from __future__ import annotations

import numpy as np

from ._negatives import STRATEGIES, sample_negatives

TIES = ("expected", "pessimistic", "optimistic")
#: a scoring function is called on at most this many query x item scores at once
MAX_BATCH_ENTRIES = 1 << 24
__all__ = [
    "STRATEGIES",
    "TIES",
    "as_csr",
    "dataset_label",
    "evaluate_forecast",
    "evaluate_full",
    "evaluate_recommender",
    "evaluate_sampled",
    "evaluate_topk",
    "format_table",
    "mae",
    "mape",
    "per_query",
    "ranking_metrics",
    "rmse",
    "sample_negatives",
    "target_ranks",
]


# ------------------------------------------------------------------------------------ helpers


def dataset_label(dataset) -> dict:
    """``{"name", "version"}`` from an ``Interactions`` (or anything with ``label()``), a dict,
    a string, or None."""
    if dataset is None:
        return {"name": None, "version": None}
    if hasattr(dataset, "label"):
        lab = dataset.label()
        return {"name": lab.get("name"), "version": lab.get("version")}
    if isinstance(dataset, dict):
        return {"name": dataset.get("name"), "version": dataset.get("version"), **dataset}
    return {"name": str(dataset), "version": None}


def _ks(k) -> list[int]:
    ks = [int(k)] if np.isscalar(k) else [int(v) for v in k]
    if not ks or min(ks) < 1:
        raise ValueError(f"k must be positive integers, got {k!r}")
    return sorted(set(ks))


def as_csr(exclude, num_rows: int, num_items: int | None = None):
    """``(indptr [N + 1], indices)`` with distinct sorted items per row, from None (-> None), a
    bool mask ``[N, V]``, a list of N item arrays, an ``(indptr, indices)`` pair or a SciPy
    sparse matrix. Raises ValueError for a wrong row count or out-of-range items."""
    if exclude is None:
        return None
    if hasattr(exclude, "tocsr"):
        m = exclude.tocsr()
        indptr, indices = np.asarray(m.indptr, np.int64), np.asarray(m.indices, np.int64)
    elif isinstance(exclude, tuple) and len(exclude) == 2:
        indptr, indices = (np.asarray(a, np.int64) for a in exclude)
    elif isinstance(exclude, np.ndarray) and exclude.dtype == bool:
        if exclude.ndim != 2:
            raise ValueError(f"exclude mask must be [N, V], got shape {exclude.shape}")
        r, indices = np.nonzero(exclude)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=exclude.shape[0]))])
    else:
        rows = [np.asarray(a, np.int64).reshape(-1) for a in exclude]
        indptr = np.concatenate([[0], np.cumsum([len(a) for a in rows])]).astype(np.int64)
        indices = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    if len(indptr) != num_rows + 1:
        raise ValueError(f"exclude has {len(indptr) - 1} rows, expected {num_rows}")
    if num_items is not None and len(indices) and (indices.min() < 0 or indices.max() >= num_items):
        raise ValueError(f"exclude items must be in [0, {num_items})")
    row = np.repeat(np.arange(num_rows), np.diff(indptr))
    V = int(num_items if num_items is not None else indices.max(initial=0) + 1)
    key = row * V + indices
    if len(key) > 1 and not (np.diff(key) > 0).all():  # not yet sorted and distinct per row
        key = np.unique(key)
    r, c = np.divmod(key, V)
    return np.concatenate([[0], np.cumsum(np.bincount(r, minlength=num_rows))]), c


def _slice_csr(csr, rows: np.ndarray):
    if csr is None:
        return None
    indptr, indices = csr
    n = indptr[rows + 1] - indptr[rows]
    new_ptr = np.concatenate([[0], np.cumsum(n)])
    pos = np.arange(new_ptr[-1]) - np.repeat(new_ptr[:-1] - indptr[rows], n)
    return new_ptr, indices[pos]


def _check_targets(targets, n: int, num_items: int) -> np.ndarray:
    t = np.asarray(targets)
    if t.dtype.kind not in "iu":
        raise TypeError(f"targets must hold integer item codes, got dtype {t.dtype}")
    t = t.astype(np.int64).reshape(-1)
    if len(t) != n:
        raise ValueError(f"targets has {len(t)} entries, scores has {n} rows")
    if len(t) and (t.min() < 0 or t.max() >= num_items):
        raise ValueError(f"targets must be item codes in [0, {num_items})")
    return t


# ------------------------------------------------------------------------------------ ranking


def target_ranks(scores, targets, exclude=None) -> tuple[np.ndarray, np.ndarray]:
    """For each query: ``(greater [N], ties [N])`` int64, the number of candidate items scored
    above the target and, other than the target, equal to it, over all ``V`` items minus the
    query's ``exclude`` set (the target is never excluded). ``scores`` ``[N, V]`` float."""
    s = np.asarray(scores)
    if s.ndim != 2:
        raise ValueError(f"scores must be [N, V], got shape {s.shape}")
    if s.dtype.kind not in "fiu":
        raise TypeError(f"scores must be numeric, got dtype {s.dtype}")
    N, V = s.shape
    t = _check_targets(targets, N, V)
    ts = s[np.arange(N), t]
    if np.isnan(ts).any():
        raise ValueError("scores: the target's score is NaN for some queries")
    greater = (s > ts[:, None]).sum(1).astype(np.int64)
    ties = (s == ts[:, None]).sum(1).astype(np.int64) - 1
    csr = as_csr(exclude, N, V)
    if csr is not None:
        indptr, items = csr
        row = np.repeat(np.arange(N), np.diff(indptr))
        keep = items != t[row]
        row, items = row[keep], items[keep]
        ex = s[row, items]
        greater -= np.bincount(row[ex > ts[row]], minlength=N)
        ties -= np.bincount(row[ex == ts[row]], minlength=N)
    return greater, ties


def _gain_tables(K: int):
    r = np.arange(1, K + 1, dtype=np.float64)
    tables = {"HR": np.ones(K), "NDCG": 1.0 / np.log2(r + 1.0), "MRR": 1.0 / r}
    return {m: np.concatenate([[0.0], np.cumsum(g)]) for m, g in tables.items()}


def per_query(greater, ties, k: int, ties_mode: str = "expected") -> dict[str, np.ndarray]:
    """Per-query ``HR``, ``NDCG``, ``MRR`` at ``k`` ``[N]`` float64 from ``target_ranks``."""
    if ties_mode not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties_mode!r}")
    greater, ties = np.asarray(greater, np.int64), np.asarray(ties, np.int64)
    F = _gain_tables(k)
    if ties_mode == "pessimistic":
        greater, ties = greater + ties, np.zeros_like(ties)
    elif ties_mode == "optimistic":
        ties = np.zeros_like(ties)
    lo = np.minimum(greater, k)  # F index: sum of gains of ranks 1..greater
    hi = np.minimum(greater + ties + 1, k)
    return {m: (f[hi] - f[lo]) / (ties + 1) for m, f in F.items()}


def ranking_metrics(greater, ties, k=(10,), ties_mode: str = "expected") -> dict[str, float]:
    """Mean ``HR@K``, ``Recall@K``, ``NDCG@K``, ``MRR@K`` for every K (NaN without queries)."""
    out = {}
    for K in _ks(k):
        q = per_query(greater, ties, K, ties_mode)
        mean = {m: float(v.mean()) if len(v) else float("nan") for m, v in q.items()}
        out.update(
            {
                f"HR@{K}": mean["HR"],
                f"Recall@{K}": mean["HR"],
                f"NDCG@{K}": mean["NDCG"],
                f"MRR@{K}": mean["MRR"],
            }
        )
    return out


def _report(protocol, k, negatives, exclusion, ties, dataset, n, V, metrics, **more) -> dict:
    return {
        "protocol": protocol,
        "k": _ks(k),
        "negatives": negatives,
        "exclusion": exclusion,
        "ties": ties,
        "dataset": dataset_label(dataset),
        "num_queries": int(n),
        "num_items": None if V is None else int(V),
        **more,
        "metrics": metrics,
    }


def _exclusion_label(exclude) -> str:
    return "none" if exclude is None else "history items removed (the target never)"


def evaluate_full(
    scores,
    targets,
    k=(10,),
    *,
    exclude=None,
    ties: str = "expected",
    dataset=None,
    num_items: int | None = None,
    batch_size: int = 1024,
) -> dict:
    """Full ranking over all items.

    ``scores``: ``[N, V]`` array, or a function ``rows -> [len(rows), V]`` called on batches of
    at most ``batch_size`` query indices (fewer when ``V`` is large: at most
    ``MAX_BATCH_ENTRIES`` scores per call; ``num_items`` is then required) so that ``N x V``
    never sits in memory. ``targets`` ``[N]`` item codes; ``exclude``: per-query items to
    remove (see ``as_csr``), typically ``EvalTargets.seen_items()``. Returns the report.
    """
    targets = np.asarray(targets)
    N = len(targets)
    if callable(scores):
        if num_items is None:
            raise ValueError("num_items is required when scores is a function")
        csr = as_csr(exclude, N, num_items)
        g, t = np.zeros(N, np.int64), np.zeros(N, np.int64)
        batch_size = max(1, min(int(batch_size), MAX_BATCH_ENTRIES // max(int(num_items), 1)))
        for s in range(0, N, batch_size):
            rows = np.arange(s, min(s + batch_size, N))
            block = np.asarray(scores(rows))
            if block.shape != (len(rows), num_items):
                raise ValueError(
                    f"scores(rows) returned shape {block.shape}, expected "
                    f"({len(rows)}, {num_items})"
                )
            g[rows], t[rows] = target_ranks(block, targets[rows], _slice_csr(csr, rows))
        V = num_items
    else:
        scores = np.asarray(scores)
        V = scores.shape[1] if scores.ndim == 2 else None
        g, t = target_ranks(scores, targets, exclude)
    return _report(
        "full-ranking",
        k,
        None,
        _exclusion_label(exclude),
        ties,
        dataset,
        N,
        V,
        ranking_metrics(g, t, k, ties),
    )


def evaluate_topk(
    topk,
    targets,
    k=(10,),
    *,
    dataset=None,
    exclusion: str = "as recommended",
    num_items: int | None = None,
) -> dict:
    """Ranking metrics from top-L recommendation lists ``[N, L]`` (item codes, best first,
    distinct; -1 pads). A target outside its list counts as a miss; ``K`` must be <= L."""
    lists = np.asarray(topk)
    if lists.ndim != 2:
        raise ValueError(f"topk must be [N, L], got shape {lists.shape}")
    N, L = lists.shape
    ks = _ks(k)
    if ks[-1] > L:
        raise ValueError(f"k={ks[-1]} is larger than the lists (L={L})")
    t = np.asarray(targets, np.int64).reshape(-1)
    if len(t) != N:
        raise ValueError(f"targets has {len(t)} entries, topk has {N} rows")
    hit = lists == t[:, None]
    pos = np.where(hit.any(1), hit.argmax(1), L + max(ks))  # 0-based rank, or beyond every K
    metrics = ranking_metrics(pos, np.zeros(N, np.int64), ks, "optimistic")
    return _report(
        "top-k-lists",
        ks,
        None,
        exclusion,
        "n/a (list order)",
        dataset,
        N,
        num_items,
        metrics,
        list_length=L,
    )


def evaluate_sampled(
    scores,
    targets,
    k=(10,),
    *,
    num_negatives: int = 100,
    strategy: str = "uniform",
    popularity=None,
    exclude=None,
    exclude_history: bool = True,
    seed=0,
    ties: str = "expected",
    dataset=None,
    num_items: int | None = None,
    negatives=None,
) -> dict:
    """Sampled ranking: each target against ``num_negatives`` sampled items.

    ``scores``: ``[N, V]`` array, or a function ``(rows [b], candidates [b, C]) -> [b, C]`` that
    scores only the candidates (column 0 is the target); then ``num_items`` is required.
    Negatives come from ``sample_negatives`` (never the target; never ``exclude`` items when
    ``exclude_history``), or are given as ``negatives`` ``[N, n]``. Returns the report; its
    ``negatives`` entry records count, strategy, seed and whether history was excluded.
    """
    targets = np.asarray(targets, np.int64).reshape(-1)
    N = len(targets)
    V = num_items if callable(scores) else np.asarray(scores).shape[-1]
    if V is None:
        raise ValueError("num_items is required when scores is a function")
    if negatives is None:
        negatives = sample_negatives(
            targets,
            V,
            num_negatives,
            strategy=strategy,
            popularity=popularity,
            exclude=exclude if exclude_history else None,
            seed=seed,
        )
        neg_label = {
            "count": int(num_negatives),
            "strategy": strategy,
            "seed": seed,
            "exclude_history": bool(exclude_history and exclude is not None),
        }
    else:
        negatives = np.asarray(negatives, np.int64)
        neg_label = {
            "count": int(negatives.shape[1]),
            "strategy": "given",
            "seed": None,
            "exclude_history": None,
        }
    cand = np.concatenate([targets[:, None], negatives], axis=1)
    if callable(scores):
        cs = np.asarray(scores(np.arange(N), cand), np.float64)
    else:
        cs = np.take_along_axis(np.asarray(scores), cand, axis=1).astype(np.float64)
    if cs.shape != cand.shape:
        raise ValueError(f"candidate scores have shape {cs.shape}, expected {cand.shape}")
    if np.isnan(cs[:, 0]).any():
        raise ValueError("scores: the target's score is NaN for some queries")
    g = (cs[:, 1:] > cs[:, :1]).sum(1)
    t = (cs[:, 1:] == cs[:, :1]).sum(1)
    excl = _exclusion_label(exclude if exclude_history else None)
    return _report(
        "sampled-ranking", k, neg_label, excl, ties, dataset, N, V, ranking_metrics(g, t, k, ties)
    )


# -------------------------------------------------------------------------------- forecasting


def _pair(y_true, y_pred):
    y = np.asarray(y_true, np.float64)
    p = np.asarray(y_pred, np.float64)
    if y.shape != p.shape:
        raise ValueError(f"y_pred has shape {p.shape}, y_true has {y.shape}")
    return y, p


def mae(y_true, y_pred) -> float:
    """Mean absolute error over entries where ``y_true`` is not NaN."""
    y, p = _pair(y_true, y_pred)
    ok = ~np.isnan(y)
    return float(np.abs(y - p)[ok].mean()) if ok.any() else float("nan")


def rmse(y_true, y_pred) -> float:
    """Root mean squared error over entries where ``y_true`` is not NaN."""
    y, p = _pair(y_true, y_pred)
    ok = ~np.isnan(y)
    return float(np.sqrt(((y - p) ** 2)[ok].mean())) if ok.any() else float("nan")


def mape(y_true, y_pred) -> float:
    """Mean absolute percentage error in percent, ``100 * mean(|y - p| / |y|)``, over entries
    where ``y_true`` is neither NaN nor 0: a zero truth has no relative error, so it is left out
    (``evaluate_forecast`` reports how many). NaN when no entry is left."""
    y, p = _pair(y_true, y_pred)
    ok = ~np.isnan(y) & (y != 0)
    return float(100.0 * (np.abs(y - p)[ok] / np.abs(y[ok])).mean()) if ok.any() else float("nan")


def _forecast_metrics(y, p) -> dict:
    return {
        "MAE": mae(y, p),
        "RMSE": rmse(y, p),
        "MAPE": mape(y, p),
        "MAPE_zeros_skipped": int((y == 0).sum()),
        "count": int((~np.isnan(y)).sum()),
    }


def evaluate_forecast(
    y_true, y_pred, *, horizons=None, dataset=None, scale=None, target: str | None = None
) -> dict:
    """Forecast errors overall and per horizon.

    ``y_true`` / ``y_pred``: ``[N]`` or ``[N, H]`` (column h = horizon h; NaN in ``y_true``
    marks a missing truth, ignored). ``horizons``: H labels (default 1..H). ``scale`` /
    ``target`` label the report (e.g. ``"7d"``, ``"weekly spend"``). MAPE is in percent and
    leaves out zero truths (counted in ``MAPE_zeros_skipped``).
    """
    y, p = _pair(y_true, y_pred)
    if y.ndim == 1:
        y, p = y[:, None], p[:, None]
    if y.ndim != 2:
        raise ValueError(f"y_true must be [N] or [N, H], got shape {y.shape}")
    H = y.shape[1]
    labels = list(range(1, H + 1)) if horizons is None else list(horizons)
    if len(labels) != H:
        raise ValueError(f"horizons has {len(labels)} labels, y has {H} columns")
    per = {str(h): _forecast_metrics(y[:, j], p[:, j]) for j, h in enumerate(labels)}
    return {
        "protocol": "forecast",
        "dataset": dataset_label(dataset),
        "scale": scale,
        "target": target,
        "horizons": labels,
        "num_series": int(y.shape[0]),
        "mape_rule": "percent; entries with zero truth left out",
        "metrics": _forecast_metrics(y, p),
        "per_horizon": per,
    }


def format_table(reports: dict[str, dict], metrics=None) -> str:
    """A Markdown table, one row per named report (e.g. a model and its baselines)."""
    names = list(reports)
    if not names:
        return ""
    cols = metrics or [
        m
        for m in reports[names[0]]["metrics"]
        if not m.startswith("Recall") and m not in ("MAPE_zeros_skipped", "count")
    ]
    lines = ["| method | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name in names:
        m = reports[name]["metrics"]
        lines.append(
            f"| {name} | " + " | ".join(f"{m.get(c, float('nan')):.4f}" for c in cols) + " |"
        )
    return "\n".join(lines)


def evaluate_recommender(
    model,
    targets,
    k=(10,),
    *,
    protocol: str = "full",
    max_len: int | None = None,
    item_offset: int = 0,
    exclude_history: bool = True,
    batch_size: int = 1024,
    num_negatives: int = 100,
    strategy: str = "uniform",
    popularity=None,
    seed=0,
    ties: str = "expected",
    dataset=None,
) -> dict:
    """Evaluate anything with the recommender interface (``chronoscale.baselines``) on
    ``EvalTargets`` (a split's ``valid`` or ``test``).

    Histories are each target's earlier events (``targets.histories(max_len, item_offset)``);
    with ``exclude_history`` every item of the whole history is removed from the ranking (not
    the target) and, for ``protocol="sampled"``, never drawn as a negative. ``popularity``
    defaults to the item counts of ``targets.data`` for ``strategy="popularity"``. The report
    adds ``model``, ``split`` and ``max_len``; ``dataset`` defaults to ``targets.data``.
    """
    if protocol not in ("full", "sampled"):
        raise ValueError(f"protocol must be 'full' or 'sampled', got {protocol!r}")
    hist = targets.histories(max_len, item_offset)
    excl = targets.seen_items() if exclude_history else None
    V = targets.data.num_items
    dataset = targets.data if dataset is None else dataset
    if protocol == "full":

        def scorer(rows):
            return model.score(hist.items[rows], hist.lengths[rows])

        rep = evaluate_full(
            scorer,
            targets.items,
            k,
            exclude=excl,
            ties=ties,
            dataset=dataset,
            num_items=V,
            batch_size=batch_size,
        )
    else:
        if strategy == "popularity" and popularity is None:
            popularity = targets.data.item_popularity()

        def scorer(rows, cand):
            out = np.empty(cand.shape)
            for s in range(0, len(rows), batch_size):
                r = rows[s : s + batch_size]
                out[s : s + batch_size] = model.score_candidates(
                    hist.items[r], hist.lengths[r], cand[s : s + batch_size]
                )
            return out

        rep = evaluate_sampled(
            scorer,
            targets.items,
            k,
            num_negatives=num_negatives,
            strategy=strategy,
            popularity=popularity,
            exclude=excl,
            exclude_history=exclude_history,
            seed=seed,
            ties=ties,
            dataset=dataset,
            num_items=V,
        )
    rep["model"] = getattr(model, "name", type(model).__name__)
    rep["split"] = getattr(targets, "name", None)
    rep["max_len"] = max_len
    return rep
