"""Baselines that share the model interface, so reports can put them beside a model.

Recommenders (item codes of an ``Interactions``)::

    fit(train: Interactions) -> self
    score(items [B, T], lengths [B]) -> [B, V] float          (higher is better)
    score_candidates(items [B, T], lengths [B], candidates [B, C]) -> [B, C] float
    recommend(items [B, T], lengths [B], k, exclude_seen=True) -> [B, k] int64

``items`` / ``lengths`` are left-aligned padded histories (``SequenceBatch.items/.lengths``):
integer arrays, ``lengths`` in ``[0, T]``, the entries ``items[b, t]`` for ``t < lengths[b]`` in
``[item_offset, item_offset + V)`` (item codes plus the model's ``item_offset``; the padding past
each length is ignored). ``candidates`` and the returned ids are plain item codes in ``[0, V)``.

Forecasters (regular series, e.g. ``chronoscale.data.user_series``)::

    fit(series [N, L]) -> self
    predict(history [N, L], horizon) -> [N, horizon] float64
"""

from __future__ import annotations

import numpy as np

from . import ops
from .data import Interactions
from .data.interactions import check_log
from .ops._common import as_bool, as_lengths, check_int, int64_indices

#: most values ``predict`` returns (``N * horizon``: 2 GiB of float64)
MAX_FORECAST_VALUES = 2**28


def _integers(a, name: str, what: str) -> np.ndarray:
    """``a`` as an int64 NumPy array (an empty array of any numeric dtype too); TypeError naming
    ``name`` for floats, strings, bools, ValueError for a ragged nesting."""
    try:
        arr = np.asarray(a)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array of {what}: {exc}") from None
    return int64_indices(arr, name, what)


def _check_hist(items, lengths, num_items: int | None = None, item_offset: int = 0):
    """``(items [B, T], lengths [B])`` as int64 arrays, checked: ``lengths`` in ``[0, T]`` and,
    with ``num_items``, the history entries (``t < lengths[b]``) in
    ``[item_offset, item_offset + num_items)``.

    Raises:
        TypeError: non-integer items or lengths (``lengths=None`` too).
        ValueError: shapes other than ``[B, T]`` / ``[B]``, lengths or items out of range.
    """
    if lengths is None:
        raise TypeError("lengths must be an integer array [B] (SequenceBatch.lengths), got None")
    items = _integers(items, "items", "item codes")
    try:
        lengths = as_lengths(lengths, "lengths")
    except ValueError as exc:
        raise ValueError(f"lengths must be an integer array [B]: {exc}") from None
    if items.ndim != 2 or lengths.shape != (items.shape[0],):
        raise ValueError(
            f"items must be [B, T] and lengths [B], got {items.shape} and {lengths.shape}"
        )
    T = items.shape[1]
    if len(lengths) and (lengths.min() < 0 or lengths.max() > T):
        bad = lengths[(lengths < 0) | (lengths > T)][0]
        raise ValueError(f"lengths must be in [0, {T}] (T = items.shape[1]), got {bad}")
    if num_items is not None and items.size:
        hist = items[np.arange(T)[None, :] < lengths[:, None]]
        if hist.size:
            lo, hi = int(hist.min()), int(hist.max())
            if lo < item_offset or hi - item_offset >= num_items:
                bad = lo if lo < item_offset else hi
                raise ValueError(
                    f"items must be in [{item_offset}, {item_offset + num_items}) (item codes "
                    f"plus item_offset={item_offset}) within each history, got {bad}"
                )
    return items, lengths


def _check_candidates(candidates, B: int, num_items: int) -> np.ndarray:
    """``candidates`` as int64 ``[B, C]`` item codes in ``[0, num_items)``.

    Raises:
        TypeError: non-integer candidates. ValueError: not ``[B, C]``, codes out of range.
    """
    cand = _integers(candidates, "candidates", "item codes")
    if cand.ndim != 2 or cand.shape[0] != B:
        raise ValueError(f"candidates must be [B, C] with B = {B} histories, got {cand.shape}")
    if cand.size and (cand.min() < 0 or cand.max() >= num_items):
        bad = cand[(cand < 0) | (cand >= num_items)][0]
        raise ValueError(f"candidates must be item codes in [0, {num_items}), got {bad}")
    return cand


def _check_train(train) -> Interactions:
    check_log(train, "train")
    if len(train) == 0 or train.num_items == 0:
        raise ValueError("train has no events: nothing to fit")
    return train


class _Recommender:
    name = "recommender"
    num_items = 0
    item_offset = 0

    def _fitted(self):
        if not hasattr(self, "_pop"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(train) first")

    def _hist(self, items, lengths):
        self._fitted()
        return _check_hist(items, lengths, self.num_items, self.item_offset)

    def score(self, items, lengths) -> np.ndarray:
        """``[B, V]`` float64 scores of every item (higher is better).

        Raises:
            RuntimeError: not fitted. TypeError / ValueError: bad histories (see the module
                docstring).
        """
        return self._scores(*self._hist(items, lengths))

    def score_candidates(self, items, lengths, candidates) -> np.ndarray:
        """``[B, C]`` float64: the scores of ``score`` at item codes ``candidates [B, C]``.

        Raises:
            RuntimeError: not fitted. TypeError: non-integer candidates. ValueError:
                candidates not ``[B, C]`` or outside ``[0, V)``, bad histories.
        """
        items, lengths = self._hist(items, lengths)
        cand = _check_candidates(candidates, len(lengths), self.num_items)
        return self._candidate_scores(items, lengths, cand)

    def recommend(self, items, lengths, k: int = 10, exclude_seen: bool = True) -> np.ndarray:
        """Top-``k`` item codes per history ``[B, k]``, best first, ties by lower code.

        With ``exclude_seen`` the items of the history score ``-inf`` (they come last, only
        when fewer than ``k`` items remain). ``k`` is capped at ``num_items``.

        Raises:
            RuntimeError: not fitted. TypeError: a non-integer ``k``, an ``exclude_seen`` other
                than True / False. ValueError: ``k < 1``, bad histories.
        """
        items, lengths = self._hist(items, lengths)
        k = check_int(k, "k")
        exclude_seen = as_bool(exclude_seen, "exclude_seen")
        s = np.array(self._scores(items, lengths), dtype=np.float64, order="C")
        if exclude_seen and items.size:
            mask = np.arange(items.shape[1])[None, :] < lengths[:, None]
            r, c = np.nonzero(mask)
            s[r, items[r, c] - self.item_offset] = -np.inf
        k = min(k, s.shape[1])
        if len(s) == 0:
            return np.zeros((0, k), np.int64)
        return ops.top_k(s, k)[0]


class MostPopular(_Recommender):
    """Scores every item by its number of training events, whatever the history.

    Raises:
        TypeError: a non-integer ``item_offset``. ValueError: ``item_offset < 0``.
    """

    name = "most-popular"

    def __init__(self, item_offset: int = 0):
        self.item_offset = check_int(item_offset, "item_offset", 0)

    def fit(self, train: Interactions) -> MostPopular:
        """Count each item's events in ``train``.

        Raises:
            TypeError: ``train`` not an ``Interactions``. ValueError: ``train`` has no events.
        """
        _check_train(train)
        self._pop = train.item_popularity().astype(np.float64)
        self.num_items = len(self._pop)
        return self

    def score(self, items, lengths) -> np.ndarray:
        """``[B, V]`` (a read-only broadcast view: no copy per row); the histories are checked
        though not used.

        Raises:
            RuntimeError: not fitted. TypeError / ValueError: bad histories.
        """
        return super().score(items, lengths)

    def _scores(self, items, lengths):
        return np.broadcast_to(self._pop, (len(lengths), self.num_items))

    def _candidate_scores(self, items, lengths, cand):
        return self._pop[cand]


class LastItemTransition(_Recommender):
    """Item-to-item transitions: scores candidates by how often they followed the history's last
    item in training (within ``window`` next events, weight ``1/distance``), popularity breaking
    ties (and serving empty histories) at a weight below any transition.

    Transition counts are a sorted-pairs CSR in NumPy (``indptr [V + 1]``, ``indices``,
    ``weights``), built with one ``np.unique`` over ``from * V + to`` keys: memory grows with the
    number of distinct pairs, not ``V^2``. ``to_scipy()`` gives a ``scipy.sparse.csr_matrix``.

    Raises:
        TypeError: a non-integer ``window`` or ``item_offset``. ValueError: ``window < 1``,
            ``item_offset < 0``.
    """

    name = "last-item"

    def __init__(self, window: int = 1, item_offset: int = 0):
        self.window = check_int(window, "window")
        self.item_offset = check_int(item_offset, "item_offset", 0)

    def fit(self, train: Interactions) -> LastItemTransition:
        """Count the transitions of ``train`` (within each user's events, in log order).

        Raises:
            TypeError: ``train`` not an ``Interactions``. ValueError: ``train`` has no events.
        """
        _check_train(train)
        V = train.num_items
        keys, weights = [], []
        for d in range(1, min(self.window, len(train)) + 1):
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
        """The transition matrix ``[V, V]`` as a dense float64 array (small catalogues only).

        Raises:
            RuntimeError: not fitted.
        """
        self._fitted()
        V = self.num_items
        dense = np.zeros((V, V))
        rows = np.repeat(np.arange(V), np.diff(self.indptr))
        dense[rows, self.indices] = self.weights
        return dense

    def to_scipy(self):
        """The transition matrix ``[V, V]`` as ``scipy.sparse.csr_matrix`` (needs SciPy).

        Raises:
            RuntimeError: not fitted.
        """
        self._fitted()
        from scipy.sparse import csr_matrix

        V = self.num_items
        return csr_matrix((self.weights, self.indices, self.indptr), shape=(V, V))

    def _last(self, items, lengths):
        """The last item code of each (checked) history ``[B]``, -1 for an empty one."""
        B = len(lengths)
        has = lengths > 0
        last = np.full(B, -1, np.int64)
        last[has] = items[np.flatnonzero(has), lengths[has] - 1] - self.item_offset
        return last

    def score(self, items, lengths) -> np.ndarray:
        """``[B, V]`` float64: transition weight from the last item plus the popularity term.

        Raises:
            RuntimeError: not fitted. TypeError / ValueError: bad histories.
        """
        return super().score(items, lengths)

    def _scores(self, items, lengths):
        last = self._last(items, lengths)
        out = np.tile(self._pop, (len(last), 1))
        rows = np.flatnonzero(last >= 0)
        lo, hi = self.indptr[last[rows]], self.indptr[last[rows] + 1]
        n = hi - lo
        r = np.repeat(rows, n)
        pos = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n - lo, n)
        out[r, self.indices[pos]] += self.weights[pos]
        return out

    def _candidate_scores(self, items, lengths, cand):
        last = self._last(items, lengths)
        out = self._pop[cand].copy()
        if len(self._keys):
            key = last[:, None] * self.num_items + cand
            pos = np.minimum(np.searchsorted(self._keys, key), len(self._keys) - 1)
            hit = (self._keys[pos] == key) & (last[:, None] >= 0)
            out[hit] += self.weights[pos[hit]]
        return out


# ------------------------------------------------------------------------------- forecasting


def _check_series(history, horizon):
    """``(history [N, L] float64, horizon)`` checked.

    Raises:
        TypeError: non-numeric history, a non-integer horizon. ValueError: history not 2-D,
            ``horizon < 1``, ``N * horizon`` above ``MAX_FORECAST_VALUES``.
    """
    H = check_int(horizon, "horizon")
    try:
        h = np.asarray(history)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"history must be a rectangular [N, L] array: {exc}") from None
    if h.dtype.kind not in "iuf":
        raise TypeError(f"history must hold numbers, got dtype {h.dtype}")
    if h.ndim != 2:
        raise ValueError(f"history must be [N, L], got shape {h.shape}")
    N = h.shape[0]
    if H * max(N, 1) > MAX_FORECAST_VALUES:
        raise ValueError(
            f"horizon={H} for {N} series gives {H * max(N, 1)} forecast values, more than "
            f"MAX_FORECAST_VALUES={MAX_FORECAST_VALUES}"
        )
    return h.astype(np.float64, copy=False), H


class SeasonalNaive:
    """Repeats the last full season: ``y[L + h] = y[L - season + (h mod season)]``;
    ``season=1`` is the naive last-value forecast.

    Raises:
        TypeError: a non-integer ``season``. ValueError: ``season < 1``.
    """

    def __init__(self, season: int = 1):
        self.season = check_int(season, "season")
        self.name = "naive" if self.season == 1 else f"seasonal-naive({self.season})"

    def fit(self, series=None) -> SeasonalNaive:
        return self

    def predict(self, history, horizon: int) -> np.ndarray:
        """``[N, horizon]``.

        Raises:
            TypeError: non-numeric ``history``, a non-integer ``horizon``. ValueError: the
                history is not ``[N, L]`` or shorter than one season, ``horizon < 1`` or
                ``N * horizon > MAX_FORECAST_VALUES``.
        """
        h, H = _check_series(history, horizon)
        L = h.shape[1]
        if L < self.season:
            raise ValueError(f"history has {L} steps, shorter than season={self.season}")
        idx = L - self.season + np.arange(H) % self.season
        return h[:, idx]


class MovingAverage:
    """The mean of the last ``window`` steps (NaN steps ignored), for every horizon.

    Raises:
        TypeError: a non-integer ``window``. ValueError: ``window < 1``.
    """

    def __init__(self, window: int = 4):
        self.window = check_int(window, "window")
        self.name = f"moving-average({self.window})"

    def fit(self, series=None) -> MovingAverage:
        return self

    def predict(self, history, horizon: int) -> np.ndarray:
        """``[N, horizon]``.

        Raises:
            TypeError: non-numeric ``history``, a non-integer ``horizon``. ValueError: the
                history is not ``[N, L]`` or has no steps, ``horizon < 1`` or
                ``N * horizon > MAX_FORECAST_VALUES``.
        """
        h, H = _check_series(history, horizon)
        if h.shape[1] == 0:
            raise ValueError("history has no steps")
        tail = h[:, -self.window :]
        ok = ~np.isnan(tail)
        cnt = ok.sum(1)
        mean = np.where(cnt > 0, np.where(ok, tail, 0.0).sum(1) / np.maximum(cnt, 1), np.nan)
        return np.repeat(mean[:, None], H, axis=1)
