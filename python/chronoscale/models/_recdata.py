"""Input handling of :class:`~chronoscale.models.MultiScaleRecommender`: histories as padded
arrays, a dict of them, or a :class:`chronoscale.datasets.Interactions` log; ranking metrics."""

from __future__ import annotations

import operator

import numpy as np

from ..ops._common import as_lengths


def _is_interactions(obj) -> bool:
    return hasattr(obj, "to_padded") and hasattr(obj, "num_items") and hasattr(obj, "user")


def _seen_from_padded(ids, lengths):
    """CSR ``(indptr [B + 1], items)`` of the items at valid positions."""
    mask = np.arange(ids.shape[1])[None, :] < lengths[:, None]
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), ids[mask]


def read_histories(X, lengths=None, timestamps=None, features=None, *, max_len=None,
                   use_values=False, drop_empty=False):
    """Normalise any accepted history format to a dict.

    Returns ``{"ids" [B, T] int64, "lengths" [B] int64, "timestamps" [B, T] int64 or None,
    "features" [B, T, F] float64 or None (zero past the lengths), "seen" (indptr, items),
    "num_items" hint or None}``. ``drop_empty`` (training): the users of an Interactions log
    without events are left out (their rows would hold no history), else they are an error;
    "seen" keeps every user's row. "synthetic_time": True for a log whose times are event
    positions (no timestamps in its source; the model refuses it with wall-clock scales).

    Raises:
        TypeError: ids that are not integers, features that are not numeric.
        ValueError: shapes, empty input, lengths outside ``[1, T]``, negative ids, non-finite
            features, ``lengths`` / ``timestamps`` / ``features`` given twice (as keywords
            and in the dict or log), a log's users without events (messages name the
            argument).
    """
    hint, seen, synthetic = None, None, False
    given = [k for k, v in (("lengths", lengths), ("timestamps", timestamps),
                            ("features", features)) if v is not None]
    if _is_interactions(X):
        if given:
            raise ValueError(f"{', '.join(given)}: an Interactions log brings its own lengths "
                             "and timestamps (and its value column as the feature with "
                             "use_values=True); pass arrays to give them explicitly")
        synthetic = bool(getattr(X, "synthetic_time", False))
        ids, ts, values, L = X.to_padded(max_len)
        order = np.argsort(X.user, kind="stable")
        seen = (np.concatenate([[0], np.cumsum(np.bincount(X.user, minlength=X.num_users))])
                .astype(np.int64), np.asarray(X.item, np.int64)[order])
        empty = np.flatnonzero(L == 0)
        if empty.size and drop_empty:
            keep = L > 0
            ids, ts, values, L = ids[keep], ts[keep], values[keep], L[keep]
        elif empty.size:
            raise ValueError(
                f"histories: {empty.size} of the log's {len(L)} users have no events (user "
                f"codes {', '.join(map(str, empty[:5]))}{', ...' if empty.size > 5 else ''}), "
                "so there is no history to score for them (fit skips them); pass a log of "
                "users with events")
        timestamps, lengths = ts, L
        features = values[..., None] if use_values else None
        hint, X = X.num_items, ids
    elif isinstance(X, dict):
        unknown = set(X) - {"items", "lengths", "timestamps", "features"}
        if unknown or "items" not in X:
            raise ValueError(f"a histories dict needs 'items' and may have 'lengths', "
                             f"'timestamps', 'features'; got keys {sorted(X)}")
        twice = [k for k in given if X.get(k) is not None]
        if twice:
            raise ValueError(f"{', '.join(twice)} given twice: in the histories dict and as a "
                             "keyword")
        lengths, timestamps = X.get("lengths", lengths), X.get("timestamps", timestamps)
        features, X = X.get("features", features), X["items"]
    try:
        ids = np.asarray(X)
    except ValueError:  # ragged nesting
        raise ValueError("items must be a rectangular [B, T] array of item ids (pad short "
                         "histories and pass lengths)") from None
    if ids.dtype.kind not in "iu":
        raise TypeError(f"items must hold integer item ids, got dtype {ids.dtype}")
    if ids.dtype == np.uint64 and ids.size and int(ids.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"items: item ids must be < 2**63, got {int(ids.max())}")
    if ids.ndim == 1:
        ids = ids[None, :]
    if ids.ndim != 2 or 0 in ids.shape:
        raise ValueError(f"items must have shape [B, T] with B, T >= 1, got {ids.shape}")
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    B, T = ids.shape
    L = np.full(B, T, np.int64) if lengths is None else as_lengths(lengths)
    if L.shape != (B,):
        raise ValueError(f"lengths must have shape [{B}], got {L.shape}")
    if L.size and (L.min() < 1 or L.max() > T):
        raise ValueError(f"lengths must lie in [1, T={T}] (every history needs an event), got "
                         f"[{L.min()}, {L.max()}]")
    valid = np.arange(T)[None, :] < L[:, None]
    if ids[valid].min() < 0:
        raise ValueError("items: item ids must be >= 0")
    if timestamps is not None:
        timestamps = np.asarray(timestamps)
        if timestamps.shape != (B, T):
            raise ValueError(f"timestamps must have shape [{B}, {T}], got {timestamps.shape}")
        if timestamps.dtype.kind in "iu":
            timestamps = np.ascontiguousarray(timestamps, dtype=np.int64)
    if features is not None:
        features = np.asarray(features)
        if features.dtype.kind not in "fiub":
            raise TypeError(f"features must be numeric, got dtype {features.dtype}")
        if features.ndim == 2:
            features = features[..., None]
        if features.ndim != 3 or features.shape[:2] != (B, T):
            raise ValueError(f"features must have shape [{B}, {T}, F], got {features.shape}")
        features = np.where(valid[..., None], features, 0).astype(np.float64)
        if not np.isfinite(features).all():
            raise ValueError("features contains NaN or inf")
    if seen is None:
        seen = _seen_from_padded(ids, L)
    return {"ids": ids, "lengths": L, "timestamps": timestamps, "features": features,
            "seen": seen, "num_items": hint, "synthetic_time": synthetic}


def take(data, idx, dtype):
    """The histories ``idx`` as contiguous arrays cut to their longest length."""
    L = data["lengths"][idx]
    T = int(L.max())

    def cut(a, dt=None):
        return None if a is None else np.ascontiguousarray(a[idx, :T], dtype=dt or a.dtype)

    return {"ids": cut(data["ids"]), "lengths": np.ascontiguousarray(L),
            "timestamps": cut(data["timestamps"]), "features": cut(data["features"], dtype)}


def seen_pairs(data, idx):
    """``(rows, items)``: row ``r`` (position in ``idx``) has seen ``items`` (for exclusion)."""
    indptr, items = data["seen"]
    starts, ends = indptr[idx], indptr[np.asarray(idx) + 1]
    counts = ends - starts
    rows = np.repeat(np.arange(len(idx)), counts)
    pos = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return rows, items[np.repeat(starts, counts) + pos]


def exclusion_lists(exclude, n: int, num_items: int):
    """``exclude`` (``n`` collections of item ids, one per history: lists, tuples, sets or 1-D
    integer arrays; an empty one or None for none) as ``(indptr, items)`` like ``data["seen"]``.

    Raises:
        TypeError: not a sequence of id collections, or ids that are not integers (bools and
            floats included).
        ValueError: not ``n`` of them, ids outside ``[0, num_items)``, an array row that is not
            1-D (the messages name the history, ``exclude[r]``).
    """
    if isinstance(exclude, (str, bytes, dict)) or not hasattr(exclude, "__len__"):
        raise TypeError("exclude must be a sequence of item id lists, one per history, got "
                        f"{type(exclude).__name__}")
    if len(exclude) != n:
        raise ValueError(f"exclude must hold one item id list per history ({n}), got "
                         f"{len(exclude)}")
    parts = [_id_row(e, f"exclude[{r}]", num_items) for r, e in enumerate(exclude)]
    indptr = np.concatenate([[0], np.cumsum([len(a) for a in parts])]).astype(np.int64)
    return indptr, (np.concatenate(parts) if parts else np.zeros(0, np.int64))


def _id_row(e, where: str, num_items: int) -> np.ndarray:
    """One history's ids to exclude as int64 (see exclusion_lists)."""
    if e is None:
        return np.zeros(0, np.int64)
    if isinstance(e, np.ndarray):
        if e.ndim != 1:
            raise ValueError(f"{where} must be a 1-D list of item ids, got shape {e.shape}")
        if e.size and e.dtype.kind not in "iu":
            raise TypeError(f"{where} must hold integer item ids, got dtype {e.dtype}")
        out = e[(e < 0) | (e >= num_items)]  # (in e's own dtype: uint64 ids never wrap)
        bad = out[0].item() if out.size else None
        values = e
    else:
        if isinstance(e, (str, bytes, dict)) or not hasattr(e, "__iter__"):
            raise TypeError(f"{where} must be a list of item ids, got {type(e).__name__}")
        values = []
        for v in e:
            if isinstance(v, (bool, np.bool_)) or not hasattr(type(v), "__index__"):
                raise TypeError(f"{where} must hold integer item ids, got {type(v).__name__}")
            values.append(operator.index(v))
        bad = next((v for v in values if not 0 <= v < num_items), None)
    if bad is not None:
        raise ValueError(f"{where}: item ids must lie in [0, num_items = {num_items}), got {bad}")
    return np.asarray(values, dtype=np.int64).reshape(-1)


def merge_lists(a, b):
    """Row-wise union (as concatenation; repeats are harmless) of two ``(indptr, items)``."""
    (pa, ia), (pb, ib) = a, b
    n = len(pa) - 1
    counts = np.diff(pa) + np.diff(pb)
    rows = np.concatenate([np.repeat(np.arange(n), np.diff(pa)),
                           np.repeat(np.arange(n), np.diff(pb))])
    items = np.concatenate([ia, ib])[np.argsort(rows, kind="stable")]
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), items


def target_ranks(scores, targets):
    """0-based rank of each target among its row's scores (items scoring strictly higher);
    ``inf`` where the target's score is ``-inf`` (an excluded item)."""
    t = scores[np.arange(len(targets)), targets]
    ranks = (scores > t[:, None]).sum(axis=1).astype(np.float64)
    ranks[np.isneginf(t)] = np.inf
    return ranks


def ndcg_at_k(ranks, k: int = 10) -> float:
    """Mean NDCG@k for one relevant item per user at 0-based ``ranks`` (``1 / log2(rank + 2)``
    when ``rank < k``, else 0)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    gains = np.where(ranks < k, 1.0 / np.log2(np.minimum(ranks, k) + 2.0), 0.0)
    return float(gains.mean()) if ranks.size else 0.0


def hit_rate_at_k(ranks, k: int = 10) -> float:
    """Share of users whose item ranks in the top k."""
    ranks = np.asarray(ranks)
    return float((ranks < k).mean()) if ranks.size else 0.0
