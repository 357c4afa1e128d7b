"""Ranking and forecasting metrics: hand-computed cases, a plain-Python reference on random data,
sklearn's ndcg_score when installed, negative sampling properties, report labels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chronoscale import metrics as M

LOG2_3 = math.log2(3)


def test_full_ranking_hand_computed():
    s = np.array([[0.1, 0.9, 0.5, 0.3]])
    rep = M.evaluate_full(s, [2], k=(1, 2), dataset="toy")
    m = rep["metrics"]
    assert m["HR@1"] == 0 and m["HR@2"] == 1 and m["Recall@2"] == 1
    assert m["NDCG@2"] == pytest.approx(1 / LOG2_3) and m["MRR@2"] == 0.5
    # excluding item 1 (history) lifts the target to rank 1; the target itself is never excluded
    m = M.evaluate_full(s, [2], k=1, exclude=[[1, 2]])["metrics"]
    assert m["HR@1"] == 1 and m["NDCG@1"] == 1 and m["MRR@1"] == 1
    assert rep["protocol"] == "full-ranking" and rep["k"] == [1, 2] and rep["negatives"] is None
    assert rep["exclusion"] == "none" and rep["ties"] == "expected"
    assert rep["dataset"] == {"name": "toy", "version": None} and rep["num_items"] == 4


def test_ties_hand_computed():
    s = np.array([[1.0, 1.0, 1.0, 0.0]])  # target 0 tied with two others
    g, t = M.target_ranks(s, [0])
    assert (g.tolist(), t.tolist()) == ([0], [2])
    e = M.ranking_metrics(g, t, (1, 2, 3), "expected")
    assert e["HR@1"] == pytest.approx(1 / 3) and e["HR@2"] == pytest.approx(2 / 3)
    assert e["NDCG@2"] == pytest.approx((1 + 1 / LOG2_3) / 3)
    assert e["MRR@3"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    p = M.ranking_metrics(g, t, 3, "pessimistic")
    assert (
        p["HR@3"] == 1 and p["MRR@3"] == pytest.approx(1 / 3) and p["NDCG@3"] == pytest.approx(0.5)
    )
    o = M.ranking_metrics(g, t, 1, "optimistic")
    assert o["HR@1"] == 1


def _reference(scores, targets, exclude, K, ties):
    """Plain loops: candidates = all items minus the row's exclusions (target kept)."""
    out = {"HR": [], "NDCG": [], "MRR": []}
    for row, tgt, ex in zip(scores.tolist(), targets.tolist(), exclude):
        cands = [j for j in range(len(row)) if j == tgt or j not in set(ex)]
        above = sum(1 for j in cands if row[j] > row[tgt])
        tied = sum(1 for j in cands if j != tgt and row[j] == row[tgt])
        ranks = {
            "expected": range(above + 1, above + tied + 2),
            "pessimistic": [above + tied + 1],
            "optimistic": [above + 1],
        }[ties]
        f = {"HR": lambda r: 1.0, "NDCG": lambda r: 1 / math.log2(r + 1), "MRR": lambda r: 1 / r}
        for name, fn in f.items():
            out[name].append(sum(fn(r) if r <= K else 0.0 for r in ranks) / len(ranks))
    return {k: sum(v) / len(v) for k, v in out.items()}


@pytest.mark.parametrize("ties", M.TIES)
def test_against_python_loops(rng, ties):
    N, V = 60, 25
    scores = rng.integers(0, 6, (N, V)).astype(np.float32)  # many ties
    targets = rng.integers(0, V, N)
    exclude = [rng.choice(V, rng.integers(0, 8), replace=False).tolist() for _ in range(N)]
    exclude[0].append(int(targets[0]))  # the target in its own history
    for K in (1, 5, 10):
        got = M.evaluate_full(scores, targets, K, exclude=exclude, ties=ties)["metrics"]
        want = _reference(scores, targets, exclude, K, ties)
        for name in ("HR", "NDCG", "MRR"):
            assert got[f"{name}@{K}"] == pytest.approx(want[name], abs=1e-12), (name, K)


@pytest.mark.parametrize("ties", M.TIES)
def test_hit_curve_is_hr_at_each_k(rng, ties):
    """The report's hit_curve: K = 1, 2, 5, 10, ... up to V and V itself; each point is the
    HR@K ranking_metrics gives (with ties and exclusions); non-decreasing; 1 at K = V."""
    N, V = 80, 37
    scores = rng.integers(0, 9, (N, V)).astype(np.float64)  # many ties
    targets = rng.integers(0, V, N)
    exclude = [rng.choice(V, rng.integers(0, 6), replace=False).tolist() for _ in range(N)]
    rep = M.evaluate_full(scores, targets, 10, exclude=exclude, ties=ties)
    curve = rep["hit_curve"]
    assert curve["k"] == [1, 2, 5, 10, 20, 37]
    for K, hr in zip(curve["k"], curve["HR"]):
        want = M.evaluate_full(scores, targets, K, exclude=exclude, ties=ties)["metrics"]
        assert hr == pytest.approx(want[f"HR@{K}"], abs=1e-12), K
    assert np.all(np.diff(curve["HR"]) >= 0) and curve["HR"][-1] == pytest.approx(1.0)
    assert M.hit_curve([0], [0], 1) == {"k": [1], "HR": [1.0]}
    assert M.hit_curve([], [], 1000)["k"] == [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
    with pytest.raises(ValueError, match="num_items must be >= 1"):
        M.hit_curve([0], [0], 0)


def test_by_history_length_groups_the_queries(rng):
    """Each bin holds the queries whose history length lies in it, with ranking_metrics over
    exactly them; empty bins are left out; the bins cover every query."""
    N, V = 300, 40
    scores = rng.integers(0, 7, (N, V)).astype(np.float64)
    targets = rng.integers(0, V, N)
    lengths = np.minimum(rng.geometric(0.05, N), 260)
    lengths[:3] = [0, 1, 260]
    rep = M.evaluate_full(scores, targets, (5, 10), history_lengths=lengths)
    b = rep["by_history_length"]
    assert sum(b["queries"]) == N and b["bins"][0] == [0, 0] and b["bins"][1] == [1, 1]
    assert all(hi >= lo for lo, hi in b["bins"])
    g, t = M.target_ranks(scores, targets)
    for (lo, hi), q, i in zip(b["bins"], b["queries"], range(len(b["bins"]))):
        sel = (lengths >= lo) & (lengths <= hi)
        assert q == sel.sum() > 0
        want = M.ranking_metrics(g[sel], t[sel], (5, 10))
        for name, v in want.items():
            assert b["metrics"][name][i] == pytest.approx(v, abs=1e-12)
    edges = [lo for lo, _ in M.by_history_length([0] * 4, [0] * 4, [0, 3, 30, 3000])["bins"]]
    assert edges == [0, 2, 20, 2000]
    assert "by_history_length" not in M.evaluate_full(scores, targets, 5)
    with pytest.raises(ValueError, match=r"lengths must have shape \[300\]"):
        M.evaluate_full(scores, targets, 5, history_lengths=lengths[:-1])
    with pytest.raises(ValueError, match="greater and ties must have the same length"):
        M.by_history_length([0, 0], [0], [0, 0])
    with pytest.raises(ValueError, match="ties must be one of"):
        M.by_history_length([], [], [], ties_mode="odd")
    with pytest.raises(ValueError, match="k must be >= 1"):
        M.by_history_length([], [], [], k=0)
    with pytest.raises(ValueError, match=r"lengths must have shape \[300\]"):  # before scoring
        M.evaluate_full(lambda rows: pytest.fail("scored"), targets, 5, num_items=V,
                        history_lengths=lengths[:-1])


def test_exclusion_forms_agree(rng):
    N, V = 20, 15
    s, t = rng.normal(size=(N, V)), rng.integers(0, V, N)
    mask = rng.random((N, V)) < 0.3
    lists = [np.flatnonzero(r) for r in mask]
    a = M.target_ranks(s, t, mask)
    b = M.target_ranks(s, t, lists)
    c = M.target_ranks(s, t, M.as_csr(lists, N, V))
    assert all(np.array_equal(x[0], a[0]) for x in (b, c))
    sp = pytest.importorskip("scipy.sparse")
    d = M.target_ranks(s, t, sp.csr_matrix(mask))
    assert np.array_equal(d[0], a[0])


def test_callable_batches_match_array(rng):
    N, V = 37, 11
    s, t = rng.normal(size=(N, V)), rng.integers(0, V, N)
    ex = [rng.choice(V, 3, replace=False) for _ in range(N)]
    a = M.evaluate_full(s, t, (1, 5), exclude=ex)
    b = M.evaluate_full(lambda rows: s[rows], t, (1, 5), exclude=ex, num_items=V, batch_size=8)
    assert a["metrics"] == b["metrics"]


def test_against_sklearn_ndcg(rng):
    skm = pytest.importorskip("sklearn.metrics")
    N, V = 30, 20
    s = rng.integers(0, 4, (N, V)).astype(float)
    t = rng.integers(0, V, N)
    rel = np.zeros((N, V))
    rel[np.arange(N), t] = 1
    for K in (3, 10):
        want = skm.ndcg_score(rel, s, k=K)  # averages over ties like ties="expected"
        assert M.evaluate_full(s, t, K)["metrics"][f"NDCG@{K}"] == pytest.approx(want)


def test_topk_lists():
    rep = M.evaluate_topk([[3, 1, 2], [0, 4, 5]], [1, 9], k=(2, 3))
    m = rep["metrics"]
    assert m["HR@2"] == 0.5 and m["MRR@3"] == 0.25 and m["NDCG@3"] == pytest.approx(0.5 / LOG2_3)
    assert rep["protocol"] == "top-k-lists"
    with pytest.raises(ValueError, match="k="):
        M.evaluate_topk([[1, 2]], [1], k=5)


def test_sample_negatives_properties(rng):
    N, V, n = 200, 300, 50
    t = rng.integers(0, V, N)
    hist = [rng.choice(V, 40, replace=False) for _ in range(N)]
    neg = M.sample_negatives(t, V, n, exclude=hist, seed=3)
    assert neg.shape == (N, n) and neg.dtype == np.int64
    for q in range(N):
        assert len(set(neg[q].tolist())) == n and t[q] not in neg[q]
        assert not np.isin(neg[q], hist[q]).any()
    assert np.array_equal(neg, M.sample_negatives(t, V, n, exclude=hist, seed=3))
    assert not np.array_equal(neg, M.sample_negatives(t, V, n, exclude=hist, seed=4))
    # uniform: every item about equally often (expected ~33 per item here)
    c = np.bincount(M.sample_negatives(t, V, n, seed=0).ravel(), minlength=V)
    assert c.min() > 5 and c.max() < 80


def test_popularity_sampling(rng):
    V = 50
    pop = np.zeros(V)
    pop[:10] = np.arange(1, 11) * 100.0  # items 10.. are never drawn
    t = np.full(500, 9)
    neg = M.sample_negatives(t, V, 3, strategy="popularity", popularity=pop, seed=1)
    assert neg.max() < 9  # zero-popularity never, target 9 never
    c = np.bincount(neg.ravel(), minlength=V)[:9]
    assert np.corrcoef(c, pop[:9])[0, 1] > 0.8
    # only 9 allowed items: asking for 9 takes them all (the direct-draw path), 10 is impossible
    all9 = M.sample_negatives(t[:5], V, 9, strategy="popularity", popularity=pop, seed=2)
    assert all(sorted(r) == list(range(9)) for r in all9.tolist())
    with pytest.raises(ValueError, match="num_negatives"):
        M.sample_negatives(t[:5], V, 10, strategy="popularity", popularity=pop)


def test_evaluate_sampled_against_loop(rng):
    N, V = 40, 60
    s, t = rng.normal(size=(N, V)), rng.integers(0, V, N)
    hist = [rng.choice(V, 5, replace=False) for _ in range(N)]
    rep = M.evaluate_sampled(
        s,
        t,
        (1, 10),
        num_negatives=20,
        exclude=hist,
        seed=7,
        dataset={"name": "toy", "version": "1"},
    )
    neg = M.sample_negatives(t, V, 20, exclude=hist, seed=7)
    ranks = [1 + sum(s[q, j] > s[q, t[q]] for j in neg[q]) for q in range(N)]
    assert rep["metrics"]["HR@10"] == pytest.approx(np.mean([r <= 10 for r in ranks]))
    assert rep["metrics"]["MRR@10"] == pytest.approx(
        np.mean([1 / r if r <= 10 else 0 for r in ranks])
    )
    assert rep["negatives"] == {
        "count": 20,
        "strategy": "uniform",
        "seed": 7,
        "exclude_history": True,
    }
    assert rep["protocol"] == "sampled-ranking" and rep["dataset"]["version"] == "1"
    via_fn = M.evaluate_sampled(
        lambda rows, cand: np.take_along_axis(s[rows], cand, 1),
        t,
        (1, 10),
        num_negatives=20,
        exclude=hist,
        seed=7,
        num_items=V,
    )
    assert via_fn["metrics"] == rep["metrics"]


def test_forecast_hand_computed():
    y = [[1.0, 0.0], [2.0, 4.0]]
    p = [[2.0, 1.0], [2.0, 2.0]]
    rep = M.evaluate_forecast(y, p, horizons=["w1", "w2"], scale="7d", dataset="cdnow")
    m = rep["metrics"]
    assert m["MAE"] == 1.0 and m["RMSE"] == pytest.approx(math.sqrt(1.5))
    assert m["MAPE"] == pytest.approx(50.0) and m["MAPE_zeros_skipped"] == 1
    assert rep["per_horizon"]["w1"]["MAE"] == 0.5 and rep["per_horizon"]["w1"]["MAPE"] == 50.0
    assert rep["per_horizon"]["w2"]["MAE"] == 1.5 and rep["per_horizon"]["w2"]["MAPE"] == 50.0
    assert rep["protocol"] == "forecast" and rep["scale"] == "7d" and "zero" in rep["mape_rule"]
    assert math.isnan(M.mape([0.0, 0.0], [1.0, 2.0]))
    assert M.mae([1.0, np.nan], [2.0, 5.0]) == 1.0  # NaN truth ignored


def test_forecast_against_numpy(rng):
    y, p = rng.normal(size=(30, 3)), rng.normal(size=(30, 3))
    m = M.evaluate_forecast(y, p)["metrics"]
    assert m["MAE"] == pytest.approx(np.mean([abs(a - b) for a, b in zip(y.ravel(), p.ravel())]))
    assert m["RMSE"] == pytest.approx(
        math.sqrt(sum((a - b) ** 2 for a, b in zip(y.ravel(), p.ravel())) / 90)
    )
    assert m["MAPE"] == pytest.approx(100 * np.mean(np.abs((y - p) / y)))


def test_bad_input():
    s = np.zeros((2, 3))
    with pytest.raises(ValueError, match="targets"):
        M.evaluate_full(s, [0, 5])
    with pytest.raises(TypeError, match="targets"):
        M.evaluate_full(s, [0.5, 1.0])
    with pytest.raises(ValueError, match="scores"):
        M.evaluate_full(np.zeros(3), [0])
    with pytest.raises(ValueError, match="NaN"):
        M.evaluate_full(np.full((1, 3), np.nan), [0])
    with pytest.raises(ValueError, match="k must"):
        M.evaluate_full(s, [0, 1], k=0)
    with pytest.raises(ValueError, match="ties"):
        M.evaluate_full(s, [0, 1], ties="random")
    with pytest.raises(ValueError, match="exclude"):
        M.evaluate_full(s, [0, 1], exclude=[[1]])
    with pytest.raises(ValueError, match="num_items"):
        M.evaluate_full(lambda r: s[r], [0, 1])
    with pytest.raises(ValueError, match="strategy"):
        M.sample_negatives([0], 3, 1, strategy="hard")
    with pytest.raises(ValueError, match="y_pred"):
        M.evaluate_forecast([1.0, 2.0], [1.0])
    assert "| a |" in M.format_table({"a": M.evaluate_full(s, [0, 1])})


# ------------------------------------------------------------------ bad input (fuzz findings)


def test_sampled_negatives_checked():
    s, t = np.arange(40.0).reshape(4, 10), np.array([1, 2, 3, 4])
    neg = np.full((4, 3), 5)
    cases = [
        (ValueError, "negatives must be item codes in", dict(negatives=np.full((4, 3), -1))),
        (ValueError, "negatives must be item codes in", dict(negatives=np.full((4, 3), 10))),
        (TypeError, "negatives must hold integer", dict(negatives=np.full((4, 3), 2.7))),
        (ValueError, r"negatives must be \[N=4, n\]", dict(negatives=np.full(4, 5))),
        (ValueError, r"negatives must be \[N=4, n\]", dict(negatives=np.full((3, 3), 5))),
        (ValueError, "negatives must not hold the query's target", dict(negatives=neg - 3)),
    ]
    for exc, msg, kw in cases:
        with pytest.raises(exc, match=msg):
            M.evaluate_sampled(s, t, 1, **kw)
    with pytest.raises(ValueError, match="targets must be item codes >= 0"):
        M.evaluate_sampled(s, [-1, 2, 3, 4], 1, negatives=neg)
    with pytest.raises(TypeError, match="targets must hold integer"):
        M.evaluate_sampled(s, t + 0.9, 1, negatives=neg)
    with pytest.raises(TypeError, match="num_negatives must be an integer"):
        M.sample_negatives(t, 10, 2.7)
    with pytest.raises(TypeError, match="targets must hold integer"):
        M.sample_negatives(t + 0.5, 10, 2)
    with pytest.raises(TypeError, match="num_items must be an integer"):
        M.sample_negatives(t, 10.0, 2)


def test_nan_scores_rejected():
    s, t = np.arange(40.0).reshape(4, 10), np.array([1, 2, 3, 4])
    nan = s.copy()
    nan[:, 5:] = np.nan
    with pytest.raises(ValueError, match="scores holds NaN"):  # every negative NaN: was HR=1
        M.evaluate_sampled(nan, t, 1, negatives=np.full((4, 3), 6))
    with pytest.raises(ValueError, match="scores holds NaN"):
        M.target_ranks(nan, t)
    with pytest.raises(ValueError, match="scores holds NaN"):
        M.evaluate_full(nan, t, 1, exclude=[[5, 6, 7, 8]] * 4)  # item 9 still ranked
    # NaN only on excluded items is fine; -inf is the lowest score, not an error
    g, _ = M.target_ranks(nan, t, exclude=[[5, 6, 7, 8, 9]] * 4)
    assert g.tolist() == [3, 2, 1, 0]
    low = s.copy()
    low[:, 0] = -np.inf
    assert M.target_ranks(low, t)[0].tolist() == [8, 7, 6, 5]


def test_k_and_counts_checked():
    with pytest.raises(TypeError, match="k must be an integer"):
        M.ranking_metrics([0], [0], 2.7)
    with pytest.raises(TypeError, match="k must be an integer"):
        M.ranking_metrics([0], [0], "5")
    with pytest.raises(TypeError, match=r"k\[1\] must be an integer"):
        M.evaluate_full(np.zeros((1, 3)), [0], k=[1, True])
    with pytest.raises(ValueError, match="k must be >= 1"):
        M.per_query([0], [0], 0)
    with pytest.raises(ValueError, match="greater must be counts >= 0"):
        M.ranking_metrics([-1], [0], 5)
    with pytest.raises(ValueError, match="ties must be counts >= 0"):
        M.ranking_metrics([0], [-1], 5)
    with pytest.raises(ValueError, match="greater and ties must have the same length"):
        M.ranking_metrics([0, 1], [0], 5)
    with pytest.raises(TypeError, match="greater must hold integers"):
        M.ranking_metrics([0.5], [0], 5)
    # a k past every rank needs no k-sized table (was MemoryError): same as k = the worst rank
    huge = M.ranking_metrics([0, 1], [0, 2], 10**10)
    assert huge["NDCG@10000000000"] == M.ranking_metrics([0, 1], [0, 2], 4)["NDCG@4"]
    with pytest.raises(ValueError, match="gain table"):
        M.ranking_metrics([10**12], [0], 10**13)


def test_topk_targets_checked():
    with pytest.raises(TypeError, match="targets must hold integer"):
        M.evaluate_topk([[1, 2]], [1.0], k=1)
    with pytest.raises(TypeError, match="targets must hold integer"):
        M.evaluate_topk([[1, 2]], ["1"], k=1)
    with pytest.raises(TypeError, match="topk must hold integers"):
        M.evaluate_topk([[1.0, 2.0]], [1], k=1)
    with pytest.raises(ValueError, match=r"targets must be item codes in \[0, 3\)"):
        M.evaluate_topk([[1, 2]], [3], k=1, num_items=3)


def test_exclude_checked():
    s, t = np.zeros((4, 10)), np.array([1, 2, 3, 4])
    cases = [
        (ValueError, r"exclude mask must be \[N, V=10\]", np.zeros((4, 3), bool)),
        (TypeError, "exclude must hold integer item ids, got dtype float64", [[1.5]] * 4),
        (TypeError, "exclude must hold integer item ids, got dtype object", [None] * 4),
        (TypeError, "exclude must hold integer item ids", [[1], ["a"], [], []]),
        (TypeError, "exclude must be None, a bool mask", 5),
        (ValueError, "exclude items must be item ids >= 0", [[-1]] * 4),
        (ValueError, "exclude indptr must start at 0", ([0, 3, 1, 2, 2], [1, 2])),
        (ValueError, "exclude indptr must start at 0", ([0, 1, 1, 2, 5], [1, 2])),
        (ValueError, "exclude indptr has 4 entries", ([0, 1, 1, 2], [1, 2])),
    ]
    for exc, msg, ex in cases:
        with pytest.raises(exc, match=msg):
            M.target_ranks(s, t, exclude=ex)
    g, ties = M.target_ranks(s, t, exclude=([0, 1, 1, 2, 2], np.array([1, 0], np.int32)))
    assert ties.tolist() == [9, 9, 8, 9]  # row 2 excludes item 0; the target is never excluded


def test_sampling_arguments_checked():
    t, pop = np.array([1, 2, 3, 4]), np.ones(10)
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="popularity holds NaN or inf"):
            M.sample_negatives(t, 10, 2, strategy="popularity", popularity=np.r_[bad, pop[1:]])
    with pytest.raises(ValueError, match="popularity is required"):
        M.sample_negatives(t, 10, 2, strategy="popularity")
    with pytest.raises(ValueError, match="seed must be >= 0"):
        M.sample_negatives(t, 10, 2, seed=-1)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        M.evaluate_sampled(np.zeros((4, 10)), t, 1, num_negatives=2, seed=-1)
    with pytest.raises(ValueError, match=r"scores must be \[N, V\]"):
        M.evaluate_sampled(np.zeros(10), [1], 1, num_negatives=2)
    with pytest.raises(ValueError, match="exclude indptr must start at 0"):
        M.sample_negatives(t, 10, 2, exclude=([0, 3, 1, 2, 2], [1, 2]))


def _tiny_split(rng):
    from chronoscale.data import from_columns, leave_one_out

    n = 60
    x = from_columns(rng.integers(0, 6, n), rng.integers(0, 10, n), rng.integers(0, 10**5, n))
    return leave_one_out(x)


def test_evaluate_recommender_multiscale(rng):
    from chronoscale.models import MultiScaleRecommender

    sp = _tiny_split(rng)
    m = MultiScaleRecommender(dim=4, units=3, scales=["1", "1h"], dtype="float64", random_state=0)
    m.fit(sp.train, epochs=1, batch_size=8, verbose=0)
    h, V = sp.test.histories(), sp.test.data.num_items
    hist = dict(lengths=h.lengths, timestamps=h.timestamps)
    rep = M.evaluate_recommender(m, sp.test, k=5, exclude_history=False)
    own = m.evaluate(h.items, sp.test.items, k=5, exclude_seen=False, **hist)
    assert rep["num_items"] == V and rep["model"] == "MultiScaleRecommender"
    hl = rep["by_history_length"]
    assert sum(hl["queries"]) == len(sp.test) and hl["bins"][0][0] >= 1  # (every query has one)
    assert rep["metrics"]["NDCG@5"] == pytest.approx(own["ndcg@5"])
    assert rep["metrics"]["HR@5"] == pytest.approx(own["hr@5"])
    every = m.score(h.items, np.tile(np.arange(V), (len(h), 1)), **hist)
    manual = M.evaluate_full(every, sp.test.items, (1, 5), exclude=sp.test.seen_items())
    got = M.evaluate_recommender(m, sp.test, k=(1, 5), batch_size=4)["metrics"]
    assert got == pytest.approx(manual["metrics"])

    class Required:  # another model whose score needs candidates: ranked through recommend
        num_items_ = m.num_items_

        def score(self, histories, candidates, **kw):
            return m.score(histories, candidates, **kw)

        def recommend(self, *args, **kw):
            return m.recommend(*args, **kw)

    theirs = M.evaluate_recommender(Required(), sp.test, k=(1, 5), batch_size=4)["metrics"]
    assert theirs == pytest.approx(got)
    del Required.recommend
    with pytest.raises(TypeError, match="or with candidates and recommend"):
        M.evaluate_recommender(Required(), sp.test)
    sampled = M.evaluate_recommender(
        m, sp.test, k=5, protocol="sampled", num_negatives=3, exclude_history=False
    )
    want = M.evaluate_sampled(every, sp.test.items, 5, num_negatives=3,
                              history_lengths=sp.test.history_lengths)
    assert sampled["metrics"] == pytest.approx(want["metrics"])
    hs, hw = sampled["by_history_length"], want["by_history_length"]
    assert hs["bins"] == hw["bins"] and hs["queries"] == hw["queries"]
    for name, v in hw["metrics"].items():
        assert hs["metrics"][name] == pytest.approx(v)
    assert sum(want["by_history_length"]["queries"]) == len(sp.test)


def test_evaluate_recommender_bad_args(rng):
    from chronoscale.baselines import MostPopular

    sp = _tiny_split(rng)
    m = MostPopular().fit(sp.train)
    with pytest.raises(TypeError, match="targets must be EvalTargets"):
        M.evaluate_recommender(m, np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="model must have the recommender interface"):
        M.evaluate_recommender(object(), sp.test)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        M.evaluate_recommender(m, sp.test, batch_size=2.5)


def test_lists_targets_and_point_metric_inputs_are_checked():
    """Ids past the catalogue in top-k lists, [N, 1]-shaped rank targets, non-numeric point
    metric inputs and reports without metrics are refused, not scored or shown as misses."""
    with pytest.raises(ValueError, match=r"topk must hold item codes in \[0, 10\) or -1"):
        M.evaluate_topk(np.full((4, 5), 999), np.arange(4), k=5, num_items=10)
    with pytest.raises(ValueError, match="topk must hold item codes"):
        M.evaluate_topk(np.full((4, 5), -3), np.arange(4), k=5)
    with pytest.raises(ValueError, match=r"targets must be \[N\]"):
        M.target_ranks(np.random.default_rng(0).random((2, 10)), [[1, 2]])
    with pytest.raises(TypeError, match="y_true must be numeric"):
        M.mae(None, None)
    with pytest.raises(TypeError, match="y_true must be numeric"):
        M.mape(["a"], [1])
    with pytest.raises(ValueError, match=r"reports\['a'\] must be a report dict"):
        M.format_table({"a": {"x": 1}})


def test_full_ranking_progress_bar(rng, capsys):
    """progress=True shows a bar over the queries (stderr), None stays silent on a short call
    (the bar appears only once a call has run 2 s), False never shows one; the metrics are the
    same either way."""
    N, V = 300, 40
    targets, scores = rng.integers(0, V, N), rng.random((N, V))
    reports = []
    for progress in (True, None, False):
        capsys.readouterr()
        reports.append(M.evaluate_full(lambda rows: scores[rows], targets, 5, num_items=V,
                                       batch_size=32, progress=progress))
        shown = "full ranking" in capsys.readouterr().err
        assert shown == (progress is True), progress
    assert reports[0]["metrics"] == reports[1]["metrics"] == reports[2]["metrics"]
    with pytest.raises(TypeError, match="progress must be True or False"):
        M.evaluate_full(lambda rows: scores[rows], targets, 5, num_items=V, progress="yes")
