"""Baselines: most-popular, last-item transitions (against Python counting), seasonal-naive and
moving average (hand-computed), and their use through evaluate_recommender."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from chronoscale.baselines import LastItemTransition, MostPopular, MovingAverage, SeasonalNaive
from chronoscale.data import from_columns, leave_one_out, padded_histories
from chronoscale.metrics import evaluate_full, evaluate_recommender


def log(rng, n=600, users=30, items=40):
    return from_columns(
        rng.integers(0, users, n), rng.integers(0, items, n), rng.integers(0, 10**5, n)
    )


def test_most_popular(rng):
    x = log(rng)
    m = MostPopular().fit(x)
    h = padded_histories(x, max_len=5)
    s = m.score(h.items, h.lengths)
    assert s.shape == (x.num_users, x.num_items)
    assert (s == np.bincount(x.item, minlength=x.num_items)[None, :]).all()
    top = m.recommend(h.items, h.lengths, k=5, exclude_seen=False)
    counts = Counter(x.item.tolist())
    assert [counts[i] for i in top[0]] == sorted(counts.values(), reverse=True)[:5]
    cand = rng.integers(0, x.num_items, (x.num_users, 7))
    assert np.array_equal(m.score_candidates(h.items, h.lengths, cand), s[0][cand])
    with pytest.raises(RuntimeError, match="fit"):
        MostPopular().score(h.items, h.lengths)


def test_transitions_to_scipy_matches_dense(rng):
    pytest.importorskip("scipy.sparse")
    m = LastItemTransition(window=2).fit(log(rng))
    np.testing.assert_array_equal(m.to_scipy().toarray(), m.to_dense())


@pytest.mark.parametrize("window", [1, 3])
def test_transitions_against_python(rng, window):
    x = log(rng)
    m = LastItemTransition(window=window).fit(x)
    want = Counter()
    for u in range(x.num_users):
        seq = x.item[x.offsets[u] : x.offsets[u + 1]].tolist()
        for d in range(1, window + 1):
            for a, b in zip(seq, seq[d:]):
                want[(a, b)] += 1.0 / d
    dense = m.to_dense()
    for (a, b), w in want.items():
        assert dense[a, b] == pytest.approx(w)
    assert np.count_nonzero(dense) == len(want)
    h = padded_histories(x, max_len=4)
    s = m.score(h.items, h.lengths)
    pop = np.bincount(x.item, minlength=x.num_items)
    for b in range(len(h)):
        last = h.items[b, h.lengths[b] - 1]
        assert np.allclose(s[b] - dense[last], m._pop)
        # the popularity term only breaks ties: never reorders distinct transition weights
        assert (m._pop < 0.5 / window).all() and np.argmax(m._pop) == np.argmax(pop)
    cand = rng.integers(0, x.num_items, (len(h), 9))
    assert np.allclose(m.score_candidates(h.items, h.lengths, cand), np.take_along_axis(s, cand, 1))
    empty = m.score(np.zeros((1, 4), np.int64), np.zeros(1, np.int64))
    assert np.allclose(empty[0], m._pop)  # no history: popularity only


def test_transition_baseline_beats_popularity_on_a_chain(rng):
    """Users cycle through items k -> k+1 (mod 10): the last-item baseline finds the next item
    (history items are kept as candidates here: every item recurs)."""
    users = np.repeat(np.arange(50), 20)
    start = rng.integers(0, 10, 50)
    items = ((start[:, None] + np.arange(20)[None, :]) % 10).ravel()
    x = from_columns(users, items, np.tile(np.arange(20), 50))
    sp = leave_one_out(x)
    reps = {
        m.name: evaluate_recommender(m.fit(sp.train), sp.test, k=1, exclude_history=False)
        for m in (MostPopular(), LastItemTransition())
    }
    assert reps["last-item"]["metrics"]["HR@1"] == 1.0
    assert reps["most-popular"]["metrics"]["HR@1"] < 0.5
    rep = evaluate_recommender(
        LastItemTransition().fit(sp.train),
        sp.valid,
        k=1,
        protocol="sampled",
        num_negatives=5,
        exclude_history=False,
        seed=0,
    )
    assert rep["metrics"]["HR@1"] == 1.0 and rep["negatives"]["count"] == 5
    assert rep["model"] == "last-item" and rep["split"] == "valid" and rep["exclusion"] == "none"
    excl = evaluate_recommender(MostPopular().fit(sp.train), sp.test, k=1)
    assert excl["exclusion"].startswith("history") and excl["metrics"]["HR@1"] == 1.0  # 1 left


def test_evaluate_recommender_matches_manual(rng):
    x = log(rng, n=900)
    sp = leave_one_out(x)
    m = LastItemTransition().fit(sp.train)
    rep = evaluate_recommender(m, sp.test, k=(5, 10), max_len=20, batch_size=7)
    h = sp.test.histories(20)
    manual = evaluate_full(
        m.score(h.items, h.lengths), sp.test.items, (5, 10), exclude=sp.test.seen_items()
    )
    assert rep["metrics"] == manual["metrics"] and rep["dataset"]["name"] == ""
    pop = evaluate_recommender(
        MostPopular().fit(sp.train),
        sp.test,
        k=10,
        protocol="sampled",
        strategy="popularity",
        num_negatives=5,
    )
    assert pop["negatives"]["strategy"] == "popularity"


def test_recommend_excludes_history(rng):
    x = log(rng)
    m = LastItemTransition().fit(x)
    h = padded_histories(x, max_len=10)
    top = m.recommend(h.items, h.lengths, k=5)
    for b in range(len(h)):
        assert not np.isin(top[b], h.items[b, : h.lengths[b]]).any()
        s = m.score(h.items[b : b + 1], h.lengths[b : b + 1])[0]
        assert (np.diff(s[top[b]]) <= 0).all()


def test_seasonal_naive_and_moving_average():
    hist = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [0.0, 0.0, 1.0, np.nan, 3.0, 5.0]])
    assert SeasonalNaive(1).predict(hist, 3).tolist() == [[6.0] * 3, [5.0] * 3]
    assert SeasonalNaive(4).predict(hist, 6)[0].tolist() == [3.0, 4.0, 5.0, 6.0, 3.0, 4.0]
    ma = MovingAverage(3).predict(hist, 2)
    assert ma[0].tolist() == [5.0, 5.0] and ma[1].tolist() == [4.0, 4.0]  # NaN ignored
    assert SeasonalNaive(4).fit(hist) is not None and MovingAverage(2).name == "moving-average(2)"
    with pytest.raises(ValueError, match="season"):
        SeasonalNaive(7).predict(hist, 1)
    with pytest.raises(ValueError, match="horizon"):
        MovingAverage(2).predict(hist, 0)
    with pytest.raises(ValueError, match="window"):
        MovingAverage(0)


# ------------------------------------------------------------------------- input checking


def _fitted(rng):
    x = log(rng, n=80, users=6, items=5)
    return x, MostPopular().fit(x), LastItemTransition().fit(x)


@pytest.mark.parametrize(
    "items,lengths,err,match",
    [
        ([[0, -1, 2]], [3], ValueError, r"items must be in \[0, 5\).*got -1"),  # never wraps
        ([[0, 7]], [2], ValueError, r"items must be in \[0, 5\).*got 7"),
        ([["a", "b"]], [1], TypeError, "items must hold integers"),
        ([[0.0, 1.0]], [2], TypeError, "items must hold integers"),
        ([[0, 1]], [2.0], TypeError, "lengths must hold integers"),
        ([[0, 1]], [3], ValueError, r"lengths must be in \[0, 2\]"),
        ([[0, 1]], [-1], ValueError, r"lengths must be in \[0, 2\]"),
        ([[0, 1]], None, TypeError, "lengths must be an integer array"),
        ([0, 1], [2], ValueError, r"items must be \[B, T\]"),
        ([[1, 2], [3]], [1, 1], ValueError, "items must be a rectangular"),
    ],
)
def test_bad_histories_are_refused(rng, items, lengths, err, match):
    _, mp, lt = _fitted(rng)
    for call in (
        lambda m: m.score(items, lengths),
        lambda m: m.recommend(items, lengths, k=2),
        lambda m: m.score_candidates(items, lengths, [[0]]),
    ):
        for m in (mp, lt):
            with pytest.raises(err, match=match):
                call(m)


def test_padding_past_the_length_is_ignored_and_offset_is_applied(rng):
    x, mp, lt = _fitted(rng)
    a = lt.recommend([[2, -7, 99]], [1], k=5)  # entries past the length are padding
    b = LastItemTransition(item_offset=1).fit(x).recommend([[3, 0, 0]], [1], k=5)
    assert np.array_equal(a, b) and 2 not in a[0, :4]
    with pytest.raises(ValueError, match=r"items must be in \[1, 6\).*got 0"):
        LastItemTransition(item_offset=1).fit(x).score([[0]], [1])


@pytest.mark.parametrize(
    "cand,err,match",
    [
        ([1, 2], ValueError, r"candidates must be \[B, C\] with B = 1"),  # 1-D: not [B]
        ([[1], [2]], ValueError, r"candidates must be \[B, C\] with B = 1"),
        ([[1.5]], TypeError, "candidates must hold integers"),
        ([[-1]], ValueError, r"candidates must be item codes in \[0, 5\), got -1"),
        ([[5]], ValueError, r"candidates must be item codes in \[0, 5\), got 5"),
    ],
)
def test_bad_candidates_are_refused(rng, cand, err, match):
    _, mp, lt = _fitted(rng)
    for m in (mp, lt):
        with pytest.raises(err, match=match):
            m.score_candidates([[0, 1]], [2], cand)


def test_most_popular_candidates_check_the_history(rng):
    _, mp, _ = _fitted(rng)
    with pytest.raises(ValueError, match="lengths must be in"):
        mp.score_candidates([[0, 1]], [9], [[0, 1]])
    assert mp.score_candidates([[0, 1]], [2], [[0, 1]]).shape == (1, 2)


def test_recommend_all_seen_puts_history_last(rng):
    _, mp, _ = _fitted(rng)
    top = mp.recommend([[0, 1, 2, 3]], [4], k=5)  # 1 unseen item left: then the seen ones
    assert top.shape == (1, 5) and top[0, 0] == 4 and sorted(top[0, 1:]) == [0, 1, 2, 3]
    assert mp.recommend(np.zeros((0, 3), np.int64), np.zeros(0, np.int64), k=2).shape == (0, 2)


@pytest.mark.parametrize(
    "call,err,match",
    [
        (lambda mp: mp.recommend([[0]], [1], k=2.9), TypeError, "k must be an integer"),
        (lambda mp: mp.recommend([[0]], [1], k="2"), TypeError, "k must be an integer"),
        (lambda mp: mp.recommend([[0]], [1], k=0), ValueError, "k must be >= 1"),
        (lambda mp: mp.recommend([[0]], [1], exclude_seen=1), TypeError, "exclude_seen"),
        (lambda mp: MostPopular(item_offset=-5), ValueError, "item_offset must be >= 0"),
        (lambda mp: MostPopular(item_offset=1.0), TypeError, "item_offset must be an integer"),
        (lambda mp: MostPopular().fit(None), TypeError, "train must be an Interactions"),
        (lambda mp: LastItemTransition().fit([1, 2]), TypeError, "train must be an Interactions"),
        (lambda mp: MostPopular().fit(from_columns([], [], [])), ValueError, "train has no"),
        (lambda mp: LastItemTransition().fit(from_columns([], [], [])), ValueError, "no events"),
        (lambda mp: LastItemTransition().to_dense(), RuntimeError, "not fitted"),
        (lambda mp: LastItemTransition().to_scipy(), RuntimeError, "not fitted"),
        (lambda mp: LastItemTransition(window="2"), TypeError, "window must be an integer"),
        (lambda mp: LastItemTransition(window=None), TypeError, "window must be an integer"),
        (lambda mp: LastItemTransition(window=0), ValueError, "window must be >= 1"),
        (lambda mp: MovingAverage(window=2.0), TypeError, "window must be an integer"),
        (lambda mp: SeasonalNaive("2"), TypeError, "season must be an integer"),
        (lambda mp: SeasonalNaive(2.5), TypeError, "season must be an integer"),
        (lambda mp: SeasonalNaive(0), ValueError, "season must be >= 1"),
    ],
)
def test_bad_arguments_raise_clear_errors(rng, call, err, match):
    _, mp, _ = _fitted(rng)
    with pytest.raises(err, match=match):
        call(mp)


@pytest.mark.parametrize("model", [SeasonalNaive(2), MovingAverage(2)])
def test_forecaster_arguments(model):
    hist = np.ones((2, 4))
    with pytest.raises(TypeError, match="horizon must be an integer"):
        model.predict(hist, 2.7)
    with pytest.raises(ValueError, match="MAX_FORECAST_VALUES"):
        model.predict(hist, 10**12)  # refused before allocating
    with pytest.raises(TypeError, match="history must hold numbers"):
        model.predict([["1", "2"]], 1)
    with pytest.raises(ValueError, match=r"history must be \[N, L\]"):
        model.predict([1.0, 2.0], 1)
    assert model.predict(hist.astype(np.int32), 3).shape == (2, 3)
