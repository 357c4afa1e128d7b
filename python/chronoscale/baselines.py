"""Baselines that share the model interface, so reports can put them beside a model.

Recommenders (item codes of an ``Interactions``)::

    fit(train: Interactions) -> self
    score(items [B, T], lengths [B]) -> [B, V] float          (higher is better)
    score_candidates(items [B, T], lengths [B], candidates [B, C]) -> [B, C] float
    recommend(items [B, T], lengths [B], k, exclude_seen=True) -> [B, k] int64

``items`` / ``lengths`` are left-aligned padded histories (``SequenceBatch.items/.lengths``).

Forecasters (regular series, e.g. ``chronoscale.data.user_series``)::

    fit(series [N, L]) -> self
    predict(history [N, L], horizon) -> [N, horizon] float64
"""

from __future__ import annotations

import numpy as np

from . import ops
from .data import Interactions


def _check_hist(items, lengths):
    items = np.asarray(items)
    lengths = np.asarray(lengths, np.int64)
    if items.ndim != 2 or lengths.shape != (items.shape[0],):
        raise ValueError(
            f"items must be [B, T] and lengths [B], got {items.shape} and {lengths.shape}"
        )
    if len(lengths) and (lengths.min() < 0 or lengths.max() > items.shape[1]):
        raise ValueError(f"lengths must be in [0, {items.shape[1]}]")
    return items, lengths


class _Recommender:
    name = "recommender"
    num_items = 0

    def _fitted(self):
        if not hasattr(self, "_pop"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(train) first")

    def recommend(self, items, lengths, k: int = 10, exclude_seen: bool = True) -> np.ndarray:
        """Top-``k`` item codes per history ``[B, k]``, best first, ties by lower code (history
        items left out when ``exclude_seen``)."""
        items, lengths = _check_hist(items, lengths)
        s = np.array(self.score(items, lengths), dtype=np.float64, order="C")
        if exclude_seen and items.size:
            mask = np.arange(items.shape[1])[None, :] < lengths[:, None]
            r, c = np.nonzero(mask)
            s[r, items[r, c] - self.item_offset] = -np.inf
        k = min(int(k), s.shape[1])
        return ops.top_k(s, k)[0]


class MostPopular(_Recommender):
    """Scores every item by its number of training events, whatever the history."""

    name = "most-popular"

    def __init__(self, item_offset: int = 0):
        self.item_offset = item_offset

    def fit(self, train: Interactions) -> MostPopular:
        self._pop = train.item_popularity().astype(np.float64)
        self.num_items = len(self._pop)
        return self

    def score(self, items, lengths) -> np.ndarray:
        """``[B, V]`` (a read-only broadcast view: no copy per row)."""
        self._fitted()
        items, lengths = _check_hist(items, lengths)
        return np.broadcast_to(self._pop, (len(lengths), self.num_items))

    def score_candidates(self, items, lengths, candidates) -> np.ndarray:
        self._fitted()
        return self._pop[np.asarray(candidates, np.int64)]


class LastItemTransition(_Recommender):
    """Item-to-item transitions: scores candidates by how often they followed the history's last
    item in training (within ``window`` next events, weight ``1/distance``), popularity breaking
    ties (and serving empty histories) at a weight below any transition.

    Transition counts are a sorted-pairs CSR in NumPy (``indptr [V + 1]``, ``indices``,
    ``weights``), built with one ``np.unique`` over ``from * V + to`` keys: memory grows with the
    number of distinct pairs, not ``V^2``. ``to_scipy()`` gives a ``scipy.sparse.csr_matrix``.
    """

    name = "last-item"

    def __init__(self, window: int = 1, item_offset: int = 0):
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window, self.item_offset = int(window), item_offset

    def fit(self, train: Interactions) -> LastItemTransition:
        V = train.num_items
        keys, weights = [], []
        for d in range(1, self.window + 1):
            same = train.user[d:] == train.user[:-d]
            keys.append(train.item[:-d][same] * V + train.item[d:][same])
            weights.append(np.full(int(same.sum()), 1.0 / d))
        keys_all = np.concatenate(keys) if keys else np.zeros(0, np.int64)
        w_all = np.concatenate(weights) if weights else np.zeros(0)
        uniq, inv = np.unique(keys_all, return_inverse=True)
        self.weights = np.bincount(inv.reshape(-1), weights=w_all, minlength=len(uniq))
        src, self.indices = np.divmod(uniq, V)
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=V))])
        self._keys = uniq
        pop = train.item_popularity().astype(np.float64)
        self._pop = 0.5 / self.window * pop / (pop.max(initial=0.0) + 1.0)
        self.num_items = V
        return self

    def to_dense(self) -> np.ndarray:
        """The transition matrix ``[V, V]`` as a dense float64 array (small catalogues only)."""
        V = self.num_items
        dense = np.zeros((V, V))
        rows = np.repeat(np.arange(V), np.diff(self.indptr))
        dense[rows, self.indices] = self.weights
        return dense

    def to_scipy(self):
        """The transition matrix ``[V, V]`` as ``scipy.sparse.csr_matrix`` (needs SciPy)."""
        from scipy.sparse import csr_matrix

        V = self.num_items
        return csr_matrix((self.weights, self.indices, self.indptr), shape=(V, V))

    def _last(self, items, lengths):
        items, lengths = _check_hist(items, lengths)
        B = len(lengths)
        has = lengths > 0
        last = np.full(B, -1, np.int64)
        last[has] = items[np.flatnonzero(has), lengths[has] - 1] - self.item_offset
        return last

    def score(self, items, lengths) -> np.ndarray:
        """``[B, V]`` float64: transition weight from the last item plus the popularity term."""
        self._fitted()
        last = self._last(items, lengths)
        out = np.tile(self._pop, (len(last), 1))
        rows = np.flatnonzero(last >= 0)
        lo, hi = self.indptr[last[rows]], self.indptr[last[rows] + 1]
        n = hi - lo
        r = np.repeat(rows, n)
        pos = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n - lo, n)
        out[r, self.indices[pos]] += self.weights[pos]
        return out

    def score_candidates(self, items, lengths, candidates) -> np.ndarray:
        self._fitted()
        last = self._last(items, lengths)
        cand = np.asarray(candidates, np.int64)
        out = self._pop[cand].copy()
        if len(self._keys):
            key = last[:, None] * self.num_items + cand
            pos = np.minimum(np.searchsorted(self._keys, key), len(self._keys) - 1)
            hit = (self._keys[pos] == key) & (last[:, None] >= 0)
            out[hit] += self.weights[pos[hit]]
        return out


# ------------------------------------------------------------------------------- forecasting


def _check_series(history, horizon):
    h = np.asarray(history, np.float64)
    if h.ndim != 2:
        raise ValueError(f"history must be [N, L], got shape {h.shape}")
    if int(horizon) < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    return h, int(horizon)


class SeasonalNaive:
    """Repeats the last full season: ``y[L + h] = y[L - season + (h mod season)]``;
    ``season=1`` is the naive last-value forecast."""

    def __init__(self, season: int = 1):
        if season < 1:
            raise ValueError(f"season must be >= 1, got {season}")
        self.season = int(season)
        self.name = "naive" if season == 1 else f"seasonal-naive({season})"

    def fit(self, series=None) -> SeasonalNaive:
        return self

    def predict(self, history, horizon: int) -> np.ndarray:
        """``[N, horizon]``; ValueError when the history is shorter than one season."""
        h, H = _check_series(history, horizon)
        L = h.shape[1]
        if L < self.season:
            raise ValueError(f"history has {L} steps, shorter than season={self.season}")
        idx = L - self.season + np.arange(H) % self.season
        return h[:, idx]


class MovingAverage:
    """The mean of the last ``window`` steps (NaN steps ignored), for every horizon."""

    def __init__(self, window: int = 4):
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window = int(window)
        self.name = f"moving-average({window})"

    def fit(self, series=None) -> MovingAverage:
        return self

    def predict(self, history, horizon: int) -> np.ndarray:
        """``[N, horizon]``; ValueError for an empty history."""
        h, H = _check_series(history, horizon)
        if h.shape[1] == 0:
            raise ValueError("history has no steps")
        tail = h[:, -self.window :]
        ok = ~np.isnan(tail)
        cnt = ok.sum(1)
        mean = np.where(cnt > 0, np.where(ok, tail, 0.0).sum(1) / np.maximum(cnt, 1), np.nan)
        return np.repeat(mean[:, None], H, axis=1)
