"""Negative sampling for sampled-ranking evaluation (``chronoscale.metrics.sample_negatives``)."""

from __future__ import annotations

import numpy as np

from .ops._common import check_elements, check_int, is_one_of

STRATEGIES = ("uniform", "popularity")


def check_strategy(strategy) -> None:
    """ValueError unless ``strategy`` is one of ``STRATEGIES``."""
    if not is_one_of(strategy, STRATEGIES):
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")


def sample_negatives(
    targets,
    num_items: int,
    num_negatives: int = 100,
    *,
    strategy: str = "uniform",
    popularity=None,
    exclude=None,
    seed=0,
) -> np.ndarray:
    """``[N, num_negatives]`` int64 negatives per query, distinct within a row, never the
    target and never in the row's ``exclude`` set (see ``as_csr``). ``strategy="uniform"``
    over all items or ``"popularity"``: proportional to ``popularity`` ``[V]`` (counts; zero-count
    items are never drawn). Rows are drawn in batches with rejection (successive sampling
    without replacement), seeded by ``seed`` (None, or an integer >= 0).

    Raises:
        TypeError: non-integer ``targets``, ``num_items``, ``num_negatives``, ``seed`` or
            ``exclude`` items; non-numeric ``popularity``.
        ValueError: an unknown ``strategy``; ``num_items`` / ``num_negatives`` < 1; a negative
            ``seed``; ``targets`` outside ``[0, num_items)``; ``popularity`` not ``[V]`` finite
            non-negative counts with a positive sum; a bad ``exclude``; a row with fewer
            allowed items than ``num_negatives``; per-item tables or a ``[N, num_negatives]``
            result of more than ``MAX_ELEMENTS`` (2**36) elements (before any is allocated).
    """
    from .metrics import _check_popularity, _check_targets, as_csr
    from .models._base import check_seed

    check_strategy(strategy)
    V = check_int(num_items, "num_items")
    n = check_int(num_negatives, "num_negatives")
    check_elements((V,), "num_items", "the per-item tables")
    t = _check_targets(targets, None, V)
    N = len(t)
    check_elements((N, n), "num_negatives", "the negatives [N, num_negatives]")
    rng = np.random.default_rng(check_seed(seed, "seed"))
    allowed_item = np.ones(V, bool)
    cdf = None
    if strategy == "popularity":
        p = _check_popularity(popularity, V)
        cdf = np.cumsum(p) / p.sum()
        allowed_item = p > 0

    csr = as_csr(exclude, N, V)
    ex_key = np.zeros(0, np.int64)
    allowed = np.full(N, int(allowed_item.sum())) - allowed_item[t]
    if csr is not None:
        row = np.repeat(np.arange(N), np.diff(csr[0]))
        keep = csr[1] != t[row]
        ex_key = row[keep] * V + csr[1][keep]
        allowed -= np.bincount(row[keep], weights=allowed_item[csr[1][keep]], minlength=N).astype(
            np.int64
        )
    if N and allowed.min() < n:
        bad = int(np.argmin(allowed))
        raise ValueError(
            f"num_negatives={n} but query {bad} has only {int(allowed[bad])} items to "
            "sample from (all items minus target and exclusions)"
        )
    out = np.full((N, n), -1, np.int64)
    filled = np.zeros(N, np.int64)
    pending = np.arange(N)
    for _ in range(16):
        if len(pending) == 0:
            break
        need = int((n - filled[pending]).max())
        draws = need + need // 4 + 8 if _ == 0 else 2 * need + 16
        shape = (len(pending), draws)
        cand = (
            rng.integers(0, V, shape)
            if cdf is None
            else np.minimum(np.searchsorted(cdf, rng.random(shape), side="right"), V - 1)
        )
        bad = (cand == t[pending, None]) | ~allowed_item[cand]
        if len(ex_key):
            bad |= _member(pending[:, None] * V + cand, ex_key)
        mat = np.concatenate([out[pending], np.where(bad, -2, cand)], axis=1)
        bad_all = np.concatenate([np.ones((len(pending), n), bool), bad], axis=1)
        order = np.argsort(mat, axis=1, kind="stable")
        srt = np.take_along_axis(mat, order, 1)
        dup_sorted = np.concatenate(
            [np.zeros((len(pending), 1), bool), srt[:, 1:] == srt[:, :-1]], 1
        )
        dup = np.zeros_like(dup_sorted)
        np.put_along_axis(dup, order, dup_sorted, 1)
        new = ~bad_all & ~dup
        rank = np.cumsum(new, axis=1) + filled[pending, None]
        take = new & (rank <= n)
        r, c = np.nonzero(take)
        out[pending[r], rank[r, c] - 1] = mat[r, c]
        filled[pending] = np.minimum(rank[:, -1], n)
        pending = pending[filled[pending] < n]
    for q in pending:  # rows whose allowed set is barely larger than n: draw from it directly
        cand = np.flatnonzero(allowed_item)
        cand = cand[(cand != t[q]) & ~_member(q * V + cand, ex_key)]
        have = out[q, : filled[q]]
        cand = cand[~np.isin(cand, have)]
        w = None if cdf is None else np.diff(np.concatenate([[0.0], cdf]))[cand]
        extra = rng.choice(cand, n - filled[q], replace=False, p=None if w is None else w / w.sum())
        out[q, filled[q] :] = extra
    return out


def _member(keys, sorted_keys):
    """``keys`` (any shape) found in the sorted 1-D ``sorted_keys``."""
    if len(sorted_keys) == 0:
        return np.zeros(np.shape(keys), bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[pos] == keys
