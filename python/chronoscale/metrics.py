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

import inspect
import itertools

import numpy as np

from . import _progress
from ._negatives import STRATEGIES, check_strategy, sample_negatives
from .models._base import check_seed
from .ops._common import as_array, as_bool, check_int, int64_indices, is_one_of

TIES = ("expected", "pessimistic", "optimistic")
#: a scoring function is called on at most this many query x item scores at once
MAX_BATCH_ENTRIES = 1 << 24
__all__ = [
    "STRATEGIES",
    "TIES",
    "as_csr",
    "by_history_length",
    "dataset_label",
    "evaluate_forecast",
    "evaluate_full",
    "evaluate_recommender",
    "evaluate_sampled",
    "evaluate_topk",
    "format_table",
    "hit_curve",
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
    """``k`` (one integer or a list of them, each >= 1) as sorted distinct ints."""
    if isinstance(k, np.ndarray) and k.ndim == 0:
        k = k.item()
    if isinstance(k, (str, bytes)) or not hasattr(k, "__iter__"):
        return [check_int(k, "k")]
    ks = [check_int(v, f"k[{i}]") for i, v in enumerate(k)]
    if not ks:
        raise ValueError("k must be an integer >= 1 or a non-empty list of them, got []")
    return sorted(set(ks))


def _ints(a, name: str, what: str = "item ids") -> np.ndarray:
    """``a`` as an int64 array: any integer dtype (an empty list too), never floats, bools,
    strings or objects (TypeError naming ``name``)."""
    return np.asarray(int64_indices(as_array(a, name, " of integers"), name, what))


def _counts(a, name: str) -> np.ndarray:
    """``greater`` / ``ties`` counts: 1-D int64 >= 0."""
    a = _ints(a, name, "counts")
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D [N], got shape {a.shape}")
    if len(a) and a.min() < 0:
        raise ValueError(f"{name} must be counts >= 0, got {a.min()}")
    return a


def _csr_pair(exclude, num_rows: int):
    indptr = _ints(exclude[0], "exclude indptr", "offsets")
    indices = _ints(exclude[1], "exclude indices")
    if indptr.ndim != 1 or indices.ndim != 1:
        raise ValueError(
            f"exclude (indptr, indices) must be 1-D, got shapes {indptr.shape}, {indices.shape}"
        )
    if len(indptr) != num_rows + 1:
        raise ValueError(
            f"exclude indptr has {len(indptr)} entries, expected N + 1 = {num_rows + 1} (a "
            "2-tuple is read as (indptr, indices); pass per-query rows as a list)"
        )
    if indptr[0] != 0 or indptr[-1] != len(indices) or (np.diff(indptr) < 0).any():
        raise ValueError(
            "exclude indptr must start at 0, never decrease and end at len(indices) = "
            f"{len(indices)}, got {indptr[0]} .. {indptr[-1]}"
        )
    return indptr, indices


def _csr_rows(exclude):
    try:
        rows = list(exclude)
    except TypeError:
        raise TypeError(
            "exclude must be None, a bool mask [N, V], a list of N item arrays, an "
            f"(indptr, indices) pair or a SciPy sparse matrix, got {type(exclude).__name__}"
        ) from None
    out = []
    for i, a in enumerate(rows):
        a = as_array(a, f"exclude row {i}", " of integers")
        if a.size and a.dtype.kind not in "iu":
            raise TypeError(f"exclude must hold integer item ids, got dtype {a.dtype} in row {i}")
        out.append(_ints(a, f"exclude row {i}").reshape(-1))
    indptr = np.concatenate([[0], np.cumsum([len(a) for a in out])]).astype(np.int64)
    return indptr, (np.concatenate(out) if out else np.zeros(0, np.int64))


def as_csr(exclude, num_rows: int, num_items: int | None = None):
    """``(indptr [N + 1], indices)`` with distinct sorted items per row, from None (-> None), a
    bool mask ``[N, V]``, a list of N item arrays, an ``(indptr, indices)`` pair or a SciPy
    sparse matrix.

    Raises:
        TypeError: an unknown form, item ids that are not integers (floats, None, strings).
        ValueError: a wrong row count, a mask not ``[N, num_items]``, a malformed ``indptr``,
            items outside ``[0, num_items)`` (or negative).
    """
    if exclude is None:
        return None
    if hasattr(exclude, "tocsr"):
        m = exclude.tocsr()
        indptr, indices = np.asarray(m.indptr, np.int64), np.asarray(m.indices, np.int64)
    elif isinstance(exclude, tuple) and len(exclude) == 2:
        indptr, indices = _csr_pair(exclude, num_rows)
    elif isinstance(exclude, np.ndarray) and exclude.dtype == bool:
        if exclude.ndim != 2 or (num_items is not None and exclude.shape[1] != num_items):
            V = "V" if num_items is None else f"V={num_items}"
            raise ValueError(f"exclude mask must be [N, {V}], got shape {exclude.shape}")
        r, indices = np.nonzero(exclude)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=exclude.shape[0]))])
    else:
        indptr, indices = _csr_rows(exclude)
    if len(indptr) != num_rows + 1:
        raise ValueError(f"exclude has {len(indptr) - 1} rows, expected {num_rows}")
    if len(indices) and indices.min() < 0:
        raise ValueError(f"exclude items must be item ids >= 0, got {indices.min()}")
    if num_items is not None and len(indices) and indices.max() >= num_items:
        raise ValueError(f"exclude items must be in [0, {num_items}), got {indices.max()}")
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


def _check_targets(
    targets, n: int | None, num_items: int | None, name: str = "targets", what: str = "scores"
):
    """``targets`` as 1-D int64 item codes in ``[0, num_items)`` (``>= 0`` without
    ``num_items``), ``n`` of them (any number for None). TypeError for non-integer dtypes."""
    t = as_array(targets, name, " of integers")
    if t.dtype.kind not in "iu" and not (t.size == 0 and t.dtype.kind == "f"):
        raise TypeError(f"{name} must hold integer item codes, got dtype {t.dtype}")
    t = _ints(t, name).reshape(-1)
    if n is not None and len(t) != n:
        raise ValueError(f"{name} has {len(t)} entries, {what} has {n} rows")
    if len(t) and t.min() < 0:
        raise ValueError(f"{name} must be item codes >= 0, got {t.min()}")
    if num_items is not None and len(t) and t.max() >= num_items:
        raise ValueError(f"{name} must be item codes in [0, {num_items}), got {t.max()}")
    return t


def _check_ranking_args(k, ties, scores, num_items):
    """``k`` and ``ties`` of an ``evaluate_*`` call; with a scoring function (``scores``
    callable) the checked ``num_items`` it needs, else None."""
    _ks(k)
    if not is_one_of(ties, TIES):
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    if num_items is not None:  # checked with an array too (where it is not needed)
        num_items = check_int(num_items, "num_items")
    if not callable(scores):
        return None
    if num_items is None:
        raise ValueError("num_items is required when scores is a function")
    return num_items


def _check_nan(nan_rows, name: str = "scores") -> None:
    """ValueError when a query (``nan_rows [N]`` counts) ranks a NaN score."""
    if nan_rows.any():
        q = int(np.flatnonzero(nan_rows)[0])
        raise ValueError(
            f"{name} holds NaN for items that are ranked ({int((nan_rows > 0).sum())} queries, "
            f"the first is query {q}); NaN has no rank: score such items -inf, or exclude them"
        )


# ------------------------------------------------------------------------------------ ranking


def target_ranks(scores, targets, exclude=None) -> tuple[np.ndarray, np.ndarray]:
    """For each query: ``(greater [N], ties [N])`` int64, the number of candidate items scored
    above the target and, other than the target, equal to it, over all ``V`` items minus the
    query's ``exclude`` set (the target is never excluded). ``scores`` ``[N, V]`` float
    (``-inf`` is a score like any other: below every number; excluded items may hold anything).

    Raises:
        TypeError: non-numeric ``scores``, non-integer ``targets`` or ``exclude`` items.
        ValueError: ``scores`` not ``[N, V]`` or NaN for a ranked item (the target or a
            candidate), ``targets`` not N codes in ``[0, V)``, a bad ``exclude`` (see
            ``as_csr``).
    """
    s = as_array(scores, "scores", " of numbers")
    if s.ndim != 2:
        raise ValueError(f"scores must be [N, V], got shape {s.shape}")
    if s.dtype.kind not in "fiu":
        raise TypeError(f"scores must be numeric, got dtype {s.dtype}")
    N, V = s.shape
    targets = as_array(targets, "targets", " of integers")
    if targets.ndim != 1:
        raise ValueError(f"targets must be [N] (one item code per query), got shape "
                         f"{np.shape(targets)}")
    t = _check_targets(targets, N, V)
    ts = s[np.arange(N), t]
    if np.isnan(ts).any():
        raise ValueError("scores: the target's score is NaN for some queries")
    greater = (s > ts[:, None]).sum(1).astype(np.int64)
    ties = (s == ts[:, None]).sum(1).astype(np.int64) - 1
    # per-item NaN counts only where a row holds one (its maximum is NaN then)
    has_nan = s.dtype.kind == "f" and N and V and bool(np.isnan(s.max(axis=1)).any())
    nan = np.isnan(s) if has_nan else None
    nan_rows = np.zeros(N, np.int64) if nan is None else nan.sum(1)
    csr = as_csr(exclude, N, V)
    if csr is not None:
        indptr, items = csr
        row = np.repeat(np.arange(N), np.diff(indptr))
        keep = items != t[row]
        row, items = row[keep], items[keep]
        ex = s[row, items]
        greater -= np.bincount(row[ex > ts[row]], minlength=N)
        ties -= np.bincount(row[ex == ts[row]], minlength=N)
        if nan is not None:
            nan_rows -= np.bincount(row[np.isnan(ex)], minlength=N)
    _check_nan(nan_rows)
    return greater, ties


#: a gain table (one entry per rank up to min(k, the worst rank)) holds at most this many ranks
_MAX_GAIN_RANK = 1 << 27
#: k past any possible rank: larger k gives the same metrics (and keeps sums in int64)
_K_CAP = 1 << 61


def _gain_tables(K: int):
    r = np.arange(1, K + 1, dtype=np.float64)
    tables = {"HR": np.ones(K), "NDCG": 1.0 / np.log2(r + 1.0), "MRR": 1.0 / r}
    return {m: np.concatenate([[0.0], np.cumsum(g)]) for m, g in tables.items()}


def _rank_counts(greater, ties, ties_mode: str):
    """``target_ranks``' counts checked (1-D, >= 0, the same length) with a known ``ties_mode``."""
    if not is_one_of(ties_mode, TIES):
        raise ValueError(f"ties must be one of {TIES}, got {ties_mode!r}")
    greater, ties = _counts(greater, "greater"), _counts(ties, "ties")
    if greater.shape != ties.shape:
        raise ValueError(
            f"greater and ties must have the same length, got {len(greater)} and {len(ties)}"
        )
    return greater, ties


def _tie_window(greater, ties, K: int, ties_mode: str):
    """``(lo, hi, n_tied)``: a query's metric at ``K`` is ``(F[hi] - F[lo]) / n_tied`` for the
    cumulative gains ``F`` of ranks ``1..r`` (for HR, ``F[r] = r``): the target's possible ranks
    past its ``greater`` items, among its ``ties`` as ``ties_mode`` counts them, cut at ``K``."""
    n_tied = ties.astype(np.float64) + 1.0
    greater, ties = np.minimum(greater, K), np.minimum(ties, K)
    if ties_mode == "pessimistic":
        greater, ties, n_tied = np.minimum(greater + ties, K), np.zeros_like(ties), 1.0
    elif ties_mode == "optimistic":
        ties, n_tied = np.zeros_like(ties), 1.0
    return greater, np.minimum(greater + ties + 1, K), n_tied


def _one_two_five():
    """1, 2, 5, 10, 20, 50, 100, ... (the K of hit_curve, the bin edges of by_history_length)."""
    step = 1
    while True:
        yield from (step, 2 * step, 5 * step)
        step *= 10


def per_query(greater, ties, k: int, ties_mode: str = "expected") -> dict[str, np.ndarray]:
    """Per-query ``HR``, ``NDCG``, ``MRR`` at ``k`` ``[N]`` float64 from ``target_ranks``.

    Raises:
        TypeError: ``k`` not an integer; ``greater`` / ``ties`` not integer arrays.
        ValueError: ``k`` < 1, an unknown ``ties_mode``, ``greater`` / ``ties`` not 1-D
            counts >= 0 of the same length.
    """
    k = check_int(k, "k")
    greater, ties = _rank_counts(greater, ties, ties_mode)
    lo, hi, n_tied = _tie_window(greater, ties, min(k, _K_CAP), ties_mode)
    top = int(hi.max(initial=0))
    if top > _MAX_GAIN_RANK:
        raise ValueError(
            f"k={k}: targets ranked down to {top} would need a gain table past "
            f"{_MAX_GAIN_RANK} ranks; pass k <= {_MAX_GAIN_RANK}"
        )
    F = _gain_tables(top)
    return {m: (f[hi] - f[lo]) / n_tied for m, f in F.items()}


def ranking_metrics(greater, ties, k=(10,), ties_mode: str = "expected") -> dict[str, float]:
    """Mean ``HR@K``, ``Recall@K``, ``NDCG@K``, ``MRR@K`` for every K (NaN without queries)
    from ``target_ranks``' ``greater`` and ``ties`` ``[N]``.

    Raises:
        TypeError / ValueError: as ``per_query``; ``k`` may also be a non-empty list.
    """
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


def hit_curve(greater, ties, num_items: int, ties_mode: str = "expected") -> dict:
    """``HR@K`` for ``K`` = 1, 2, 5, 10, 20, 50, ... up to ``num_items`` (and ``num_items``
    itself): ``{"k": [...], "HR": [...]}`` from ``target_ranks``' ``greater`` and ``ties``
    ``[N]``, tied items counted as ``ties`` says (``"expected"``: the chance that the target
    is among the first ``K`` of a random order of its ties). The whole rank distribution in a
    few numbers: the curve ``chronoscale.plot.hit_curves`` draws. NaN without queries.

    Raises:
        TypeError / ValueError: as ``per_query``; ``num_items`` < 1.
    """
    num_items = check_int(num_items, "num_items", 1)
    greater, ties = _rank_counts(greater, ties, ties_mode)
    ks = [*itertools.takewhile(lambda K: K < num_items, _one_two_five()), num_items]
    hr = []
    for K in ks:
        lo, hi, n_tied = _tie_window(greater, ties, K, ties_mode)
        hit = (hi - lo) / n_tied  # (F[r] = r for HR)
        hr.append(float(hit.mean()) if len(hit) else float("nan"))
    return {"k": ks, "HR": hr}


def by_history_length(greater, ties, lengths, k=(10,), ties_mode: str = "expected") -> dict:
    """The ranking metrics per history-length bin: queries grouped by how many events came
    before the target (``lengths [N]``, before any ``max_len`` cut) into the bins 0, 1, 2-4,
    5-9, 10-19, 20-49, 50-99, 100-199, 200-499, ... (empty bins left out). Returns
    ``{"bins": [[lo, hi], ...], "queries": [...], "metrics": {"HR@10": [...], ...}}``, each
    list one value per bin (the metrics of ``ranking_metrics`` over the bin's queries).

    Raises:
        TypeError / ValueError: as ``ranking_metrics``; ``lengths`` not ``[N]`` counts >= 0.
    """
    greater, ties = _rank_counts(greater, ties, ties_mode)
    _ks(k)
    lengths = _history_lengths(lengths, len(greater))
    top = int(lengths.max(initial=0))
    edges = [0]
    for e in _one_two_five():  # up to the first edge past the longest history
        edges.append(e)
        if e > top:
            break
    bins, queries, cols = [], [], {}
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (lengths >= lo) & (lengths < hi)
        if not sel.any():
            continue
        bins.append([lo, hi - 1])
        queries.append(int(sel.sum()))
        for name, v in ranking_metrics(greater[sel], ties[sel], k, ties_mode).items():
            cols.setdefault(name, []).append(v)
    return {"bins": bins, "queries": queries, "metrics": cols}


def _history_lengths(lengths, n: int) -> np.ndarray:
    """``lengths`` as ``[n]`` counts >= 0 (TypeError / ValueError naming it)."""
    lengths = _counts(lengths, "lengths")
    if lengths.shape != (n,):
        raise ValueError(f"lengths must have shape [{n}], got {list(lengths.shape)}")
    return lengths


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


def _query_bar(total: int, progress, desc: str):
    """A bar over ``total`` queries (see ``_progress.bar``)."""
    return _progress.bar(total, progress, desc, "query")


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
    progress: bool | None = None,
    history_lengths=None,
) -> dict:
    """Full ranking over all items.

    ``scores``: ``[N, V]`` array, or a function ``rows -> [len(rows), V]`` called on batches of
    at most ``batch_size`` query indices (fewer when ``V`` is large: at most
    ``MAX_BATCH_ENTRIES`` scores per call; ``num_items`` is then required) so that ``N x V``
    never sits in memory. ``targets`` ``[N]`` item codes; ``exclude``: per-query items to
    remove (see ``as_csr``), typically ``EvalTargets.seen_items()``. ``progress`` (function
    form): a progress bar over the queries; None shows it once a call has run 2 s. Returns
    the report, with ``hit_curve`` (see ``hit_curve``) and, given ``history_lengths [N]``
    (events before each target), ``by_history_length`` (see ``by_history_length``).

    Raises:
        TypeError: non-integer ``k``, ``targets``, ``num_items`` or ``batch_size``;
            non-numeric scores. ValueError: see ``target_ranks`` and ``ranking_metrics``;
            ``num_items`` missing with a function, a block of the wrong shape.
    """
    V = _check_ranking_args(k, ties, scores, num_items)
    progress = _progress.check(progress)
    batch_size = check_int(batch_size, "batch_size")  # with an array too (where it is unused)
    if V is not None:
        num_items = V
        targets = _check_targets(targets, None, num_items)
        N = len(targets)
        if history_lengths is not None:  # (checked before the scoring)
            history_lengths = _history_lengths(history_lengths, N)
        csr = as_csr(exclude, N, num_items)
        g, t = np.zeros(N, np.int64), np.zeros(N, np.int64)
        batch_size = max(1, min(batch_size, MAX_BATCH_ENTRIES // num_items))
        with _query_bar(N, progress, "full ranking") as bar:
            for s in range(0, N, batch_size):
                rows = np.arange(s, min(s + batch_size, N))
                block = np.asarray(scores(rows))
                if block.shape != (len(rows), num_items):
                    raise ValueError(
                        f"scores(rows) returned shape {block.shape}, expected "
                        f"({len(rows)}, {num_items})"
                    )
                g[rows], t[rows] = target_ranks(block, targets[rows], _slice_csr(csr, rows))
                bar.update(len(rows))
    else:
        scores = as_array(scores, "scores", " of numbers")
        V = scores.shape[1] if scores.ndim == 2 else None
        targets = _check_targets(targets, None, V)
        N = len(targets)
        if history_lengths is not None:
            history_lengths = _history_lengths(history_lengths, N)
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
        hit_curve=hit_curve(g, t, V, ties) if V else None,
        **({} if history_lengths is None else
           {"by_history_length": by_history_length(g, t, history_lengths, k, ties)}),
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
    distinct; -1 pads). A target outside its list counts as a miss; ``K`` must be <= L.

    Raises:
        TypeError: ``topk`` or ``targets`` not integer arrays, ``k`` / ``num_items`` not
            integers. ValueError: ``topk`` not ``[N, L]`` codes ``>= -1`` (``< num_items`` when
            given), ``k`` > L, ``targets`` not N item codes ``>= 0`` (``< num_items`` when
            given).
    """
    lists = as_array(topk, "topk", " of integers")
    if lists.ndim != 2:
        raise ValueError(f"topk must be [N, L], got shape {lists.shape}")
    lists = _ints(lists, "topk")
    N, L = lists.shape
    ks = _ks(k)
    if ks[-1] > L:
        raise ValueError(f"k={ks[-1]} is larger than the lists (L={L})")
    if num_items is not None:
        num_items = check_int(num_items, "num_items")
    t = _check_targets(targets, N, num_items, what="topk")
    if lists.size and (lists.min() < -1 or (num_items is not None
                                            and lists.max() >= num_items)):
        bad = lists.min() if lists.min() < -1 else lists.max()
        raise ValueError(f"topk must hold item codes in [0, {num_items or 'V'}) or -1 (padding), "
                         f"got {bad}")
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


def _check_popularity(popularity, V: int) -> np.ndarray:
    if popularity is None:
        raise ValueError("popularity is required for strategy='popularity' (item counts [V])")
    p = as_array(popularity, "popularity", " of numbers")
    if p.dtype.kind not in "fiu":
        raise TypeError(f"popularity must hold numeric counts, got dtype {p.dtype}")
    p = p.astype(np.float64)
    if p.shape != (V,):
        raise ValueError(f"popularity must be [{V}] (one count per item), got shape {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError("popularity holds NaN or inf")
    if (p < 0).any() or p.sum() <= 0:
        raise ValueError(f"popularity must be [{V}] non-negative counts with a positive sum")
    return p


def _check_negatives(negatives, targets: np.ndarray, V: int) -> np.ndarray:
    neg = as_array(negatives, "negatives", " of integers")
    if neg.dtype.kind not in "iu":
        raise TypeError(f"negatives must hold integer item codes, got dtype {neg.dtype}")
    neg = _ints(neg, "negatives")
    N = len(targets)
    if neg.ndim != 2 or neg.shape[0] != N or neg.shape[1] < 1:
        raise ValueError(f"negatives must be [N={N}, n] with n >= 1, got shape {neg.shape}")
    if neg.size and (neg.min() < 0 or neg.max() >= V):
        bad = neg.min() if neg.min() < 0 else neg.max()
        raise ValueError(f"negatives must be item codes in [0, {V}), got {bad}")
    same = neg == targets[:, None]
    if same.any():
        q = int(np.flatnonzero(same.any(1))[0])
        raise ValueError(
            f"negatives must not hold the query's target (query {q}: item {targets[q]})"
        )
    return neg


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
    history_lengths=None,
) -> dict:
    """Sampled ranking: each target against ``num_negatives`` sampled items.

    ``scores``: ``[N, V]`` array, or a function ``(rows [b], candidates [b, C]) -> [b, C]`` that
    scores only the candidates (column 0 is the target); then ``num_items`` is required.
    Negatives come from ``sample_negatives`` (never the target; never ``exclude`` items when
    ``exclude_history``), or are given as ``negatives`` ``[N, n]`` item codes, none equal to
    its row's target. Every candidate's score is ranked, so none may be NaN (``-inf`` is the
    lowest score). Returns the report; its ``negatives`` entry records count, strategy, seed
    and whether history was excluded; given ``history_lengths [N]``, it has
    ``by_history_length`` (see ``by_history_length``).

    Raises:
        TypeError: non-integer ``targets``, ``negatives``, ``k``, ``num_items``,
            ``num_negatives`` or ``seed``; non-numeric scores.
        ValueError: ``scores`` not ``[N, V]``; ``num_items`` missing with a function;
            ``targets`` not N codes in ``[0, V)``; ``negatives`` not ``[N, n]`` codes in
            ``[0, V)`` or holding a row's target; a NaN candidate score; candidate scores of
            the wrong shape; see also ``sample_negatives`` and ``ranking_metrics``.
    """
    V = _check_ranking_args(k, ties, scores, num_items)
    exclude_history = as_bool(exclude_history, "exclude_history")
    # checked with given negatives too (where they are not used)
    num_negatives = check_int(num_negatives, "num_negatives")
    seed = check_seed(seed, "seed")
    check_strategy(strategy)
    if V is None:
        scores = as_array(scores, "scores", " of numbers")
        if scores.ndim != 2:
            raise ValueError(f"scores must be [N, V], got shape {scores.shape}")
        if scores.dtype.kind not in "fiu":
            raise TypeError(f"scores must be numeric, got dtype {scores.dtype}")
        V = scores.shape[1]
    targets = _check_targets(targets, None if callable(scores) else len(scores), V)
    N = len(targets)
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
            "exclude_history": exclude_history and exclude is not None,
        }
    else:
        negatives = _check_negatives(negatives, targets, V)
        neg_label = {
            "count": int(negatives.shape[1]),
            "strategy": "given",
            "seed": None,
            "exclude_history": None,
        }
    if history_lengths is not None:  # (checked before the scoring)
        history_lengths = _history_lengths(history_lengths, N)
    cand = np.concatenate([targets[:, None], negatives], axis=1)
    if callable(scores):
        cs = np.asarray(scores(np.arange(N), cand))
        if cs.dtype.kind not in "fiu":
            raise TypeError(f"scores(rows, candidates) returned dtype {cs.dtype}, not numbers")
    else:
        cs = np.take_along_axis(scores, cand, axis=1)
    if cs.shape != cand.shape:
        raise ValueError(f"candidate scores have shape {cs.shape}, expected {cand.shape}")
    cs = cs.astype(np.float64)
    if np.isnan(cs[:, 0]).any():
        raise ValueError("scores: the target's score is NaN for some queries")
    _check_nan(np.isnan(cs).sum(1))
    g = (cs[:, 1:] > cs[:, :1]).sum(1)
    t = (cs[:, 1:] == cs[:, :1]).sum(1)
    excl = _exclusion_label(exclude if exclude_history else None)
    more = ({} if history_lengths is None else
            {"by_history_length": by_history_length(g, t, history_lengths, k, ties)})
    return _report(
        "sampled-ranking", k, neg_label, excl, ties, dataset, N, V, ranking_metrics(g, t, k, ties),
        **more,
    )


# -------------------------------------------------------------------------------- forecasting


def _pair(y_true, y_pred):
    y, p = np.asarray(y_true), np.asarray(y_pred)
    for name, a in (("y_true", y), ("y_pred", p)):
        if a.dtype.kind not in "fiub":
            raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
    y, p = y.astype(np.float64), p.astype(np.float64)
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
    marks a missing truth, ignored). ``horizons``: a list of H labels (default 1..H).
    ``scale`` / ``target`` label the report (e.g. ``"7d"``, ``"weekly spend"``). MAPE is in
    percent and leaves out zero truths (counted in ``MAPE_zeros_skipped``).

    Raises:
        TypeError: non-numeric ``y_true`` / ``y_pred``; ``horizons`` not a list (a number, a
            string). ValueError: shapes that differ or are not ``[N]`` / ``[N, H]``;
            ``horizons`` not ``H`` labels.
    """
    y, p = _pair(y_true, y_pred)
    if y.ndim == 1:
        y, p = y[:, None], p[:, None]
    if y.ndim != 2:
        raise ValueError(f"y_true must be [N] or [N, H], got shape {y.shape}")
    H = y.shape[1]
    if horizons is not None and (isinstance(horizons, (str, bytes, dict))
                                 or not hasattr(horizons, "__iter__")):
        raise TypeError(f"horizons must be None or a list of {H} labels, got "
                        f"{type(horizons).__name__}")
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
    if not isinstance(reports, dict):
        raise TypeError(f"reports must be a dict of name -> report, got {type(reports).__name__}")
    names = list(reports)
    if not names:
        return ""
    for name in names:
        if not isinstance(reports[name], dict) or not isinstance(
                reports[name].get("metrics"), dict):
            raise ValueError(f"reports[{name!r}] must be a report dict with a 'metrics' dict")
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


def _takes(fn, name: str) -> bool:
    """Whether the callable ``fn`` has a parameter ``name``."""
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _history_scorers(model, hist, V: int):
    """``(full(rows) -> [b, V], sampled(rows, cand [b, C]) -> [b, C])`` for ``model``: the
    baselines' interface (``score(items, lengths)``, ``score_candidates(items, lengths,
    candidates)``) or ``MultiScaleRecommender``'s (``score(histories, candidates=None,
    lengths=, timestamps=, features=)``: every item without candidates; a model whose
    ``candidates`` are required scores the catalogue through ``recommend(..., k=V)``)."""
    if callable(getattr(model, "score_candidates", None)) and callable(
        getattr(model, "score", None)
    ):

        def full(rows):
            return model.score(hist.items[rows], hist.lengths[rows])

        def sampled(rows, cand):
            return model.score_candidates(hist.items[rows], hist.lengths[rows], cand)

        return full, sampled
    score = getattr(model, "score", None)
    try:
        cand = inspect.signature(score).parameters.get("candidates") if callable(score) else None
    except (TypeError, ValueError):
        cand = None
    scores_all = cand is not None and cand.default is None  # score(histories): every item
    if cand is None or not (scores_all or callable(getattr(model, "recommend", None))):
        raise TypeError(
            "model must have the recommender interface of chronoscale.baselines (score, "
            "score_candidates) or of chronoscale.models.MultiScaleRecommender (score with "
            f"optional candidates, or with candidates and recommend), got {type(model).__name__}"
        )
    model_items = getattr(model, "num_items_", V)
    if model_items != V:
        raise ValueError(
            f"model has {model_items} items, targets.data has {V}: fit it on the split's train"
        )
    empty = int((hist.lengths < 1).sum())
    if empty:
        raise ValueError(
            f"targets: {empty} queries have no earlier event, and {type(model).__name__} "
            "scores a history of at least one event"
        )
    use_values = bool(getattr(model, "use_values", False))
    # the evaluation shows its own bar: a model's bar per block is turned off where it has one;
    # and a block of rows is one batch of the model's (its own default may be smaller)
    quiet = {"progress": False} if _takes(score, "progress") else {}
    sized = _takes(score, "batch_size")

    def one_batch(rows) -> dict:
        return {"batch_size": max(len(rows), 1)} if sized else {}

    def history(rows):
        return {
            "lengths": hist.lengths[rows],
            "timestamps": hist.timestamps[rows],
            "features": hist.values[rows] if use_values else None,
        }

    if scores_all:

        def full(rows):
            return np.asarray(model.score(hist.items[rows], **history(rows), **quiet,
                                          **one_batch(rows)), np.float64)

    else:  # candidates required: the whole catalogue through recommend(k=V)
        quiet_rec = {"progress": False} if _takes(model.recommend, "progress") else {}

        def full(rows):
            ids, vals = model.recommend(hist.items[rows], k=V, exclude_seen=False,
                                        **history(rows), **quiet_rec)
            out = np.empty((len(rows), V), np.float64)
            np.put_along_axis(out, np.asarray(ids), np.asarray(vals, np.float64), axis=1)
            return out

    def sampled(rows, cand):
        return model.score(hist.items[rows], candidates=cand, **history(rows), **quiet,
                           **one_batch(rows))

    return full, sampled


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
    progress: bool | None = None,
) -> dict:
    """Evaluate a recommender on ``EvalTargets`` (a split's ``valid`` or ``test``): the
    baselines of ``chronoscale.baselines`` (``score`` / ``score_candidates``) or a fitted
    ``chronoscale.models.MultiScaleRecommender`` (full ranking scores its whole catalogue with
    ``score(...)``; sampled ranking calls ``score(..., candidates=)``;
    every query needs an earlier event).

    Histories are each target's earlier events (``targets.histories(max_len, item_offset)``);
    with ``exclude_history`` every item of the whole history is removed from the ranking (not
    the target) and, for ``protocol="sampled"``, never drawn as a negative. ``popularity``
    defaults to the item counts of ``targets.data`` for ``strategy="popularity"``. The report
    adds ``model``, ``split`` and ``max_len``; ``dataset`` defaults to ``targets.data``.
    ``progress``: a bar over the queries (None: once the scoring has run 2 s; True / False).

    Raises:
        TypeError: ``targets`` not ``EvalTargets``, a model without either interface,
            non-integer ``k``, ``batch_size``, ``item_offset``, ``num_negatives`` or ``seed``.
        ValueError: an unknown ``protocol`` / ``strategy`` / ``ties``; a model fitted on
            another catalogue or a query without history (``MultiScaleRecommender``); see
            ``evaluate_full`` / ``evaluate_sampled``.
    """
    if not is_one_of(protocol, ("full", "sampled")):
        raise ValueError(f"protocol must be 'full' or 'sampled', got {protocol!r}")
    if not all(hasattr(targets, a) for a in ("histories", "seen_items", "items", "data")):
        raise TypeError(
            "targets must be EvalTargets (a split's valid or test, e.g. leave_one_out(x).test), "
            f"got {type(targets).__name__}"
        )
    _ks(k)
    batch_size = check_int(batch_size, "batch_size")
    item_offset = check_int(item_offset, "item_offset", 0)
    progress = _progress.check(progress)
    exclude_history = as_bool(exclude_history, "exclude_history")
    # the sampled protocol's arguments, checked for protocol="full" too (where they are unused)
    num_negatives = check_int(num_negatives, "num_negatives")
    seed = check_seed(seed, "seed")
    check_strategy(strategy)
    hist = targets.histories(max_len, item_offset)
    excl = targets.seen_items() if exclude_history else None
    V = targets.data.num_items
    dataset = targets.data if dataset is None else dataset
    full_scores, candidate_scores = _history_scorers(model, hist, V)
    if protocol == "full":
        rep = evaluate_full(
            full_scores,
            targets.items,
            k,
            exclude=excl,
            ties=ties,
            dataset=dataset,
            num_items=V,
            batch_size=batch_size,
            progress=progress,
            history_lengths=targets.history_lengths,
        )
    else:
        if strategy == "popularity" and popularity is None:
            popularity = targets.data.item_popularity()

        def scorer(rows, cand):
            out = np.empty(cand.shape)
            with _query_bar(len(rows), progress, "sampled ranking") as bar:
                for s in range(0, len(rows), batch_size):
                    r = rows[s : s + batch_size]
                    out[s : s + batch_size] = candidate_scores(r, cand[s : s + batch_size])
                    bar.update(len(r))
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
            history_lengths=targets.history_lengths,
        )
    rep["model"] = getattr(model, "name", type(model).__name__)
    rep["split"] = getattr(targets, "name", None)
    rep["max_len"] = max_len
    return rep
