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
