"""MultiScaleRecommender: end-to-end gradients, causality, save/load, 1-event users, sampled
softmax on a 100k catalogue, and learning on MovieLens-100K against a popularity baseline."""

from __future__ import annotations

import gzip
import tracemalloc
import warnings

import numpy as np
import pytest

import chronoscale as cs
from chronoscale import ops
from chronoscale.data import from_columns
from chronoscale.datasets import Interactions, load_otto_sample
from chronoscale.models import MultiScaleRecommender
from chronoscale.models import _recdata as rd
from chronoscale.nn.multiscale_next import closed_through

from helpers import numeric_grad, random_lengths


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One native thread here (tests share 2 loaded cores); restored afterwards."""
    before = cs.get_num_threads()
    cs.set_num_threads(1)
    yield
    cs.set_num_threads(before)


def _events(rng, B, T, V, n_features=0, lengths=None):
    ids = rng.integers(0, V, (B, T))
    L = random_lengths(rng, B, T) if lengths is None else np.asarray(lengths)
    ts = 1_700_000_000 + np.cumsum(rng.integers(0, 5000, (B, T)), axis=1)
    feats = rng.normal(size=(B, T, n_features)) if n_features else None
    return ids, L, ts.astype(np.int64), feats


def _perturb(model, rng):
    """Random weights (beta and the bias too, so that every path carries gradient)."""
    for p in model.net.parameters():
        p.data[...] = p.data + rng.normal(scale=0.3, size=p.data.shape)
    model.net.beta.data[:] = 0.7


def _fitted(rng, V=9, scales=("1", "2", "1h"), cell="gru", n_features=1, dtype="float64",
            B=5, T=7, **kw):
    ids, L, ts, feats = _events(rng, B, T, V, n_features)
    m = MultiScaleRecommender(num_items=V, dim=3, units=2, scales=list(scales), cell=cell,
                              dtype=dtype, random_state=0, **kw)
    m.fit(ids, epochs=1, batch_size=B, lengths=L, timestamps=ts, features=feats, verbose=0)
    _perturb(m, rng)
    return m, (ids, L, ts, feats)


def _dense_grad(p):
    g = np.zeros_like(p.data)
    if p.grad is not None:
        g += p.grad
    if p.rows is not None:
        np.add.at(g, p.rows, p.grad_rows)
    return g


@pytest.mark.parametrize("cell,loss,dropout", [("gru", "full", 0.0), ("lstm", "sampled", 0.0),
                                               ("rnn", "full", 0.0), ("gru", "full", 0.4),
                                               ("lstm", "sampled", 0.3)])
def test_gradients_end_to_end(rng, cell, loss, dropout):
    """Every parameter's gradient against finite differences of the training loss (with
    dropout: the masks come from the call's seed, so every evaluation uses the same ones)."""
    m, (ids, L, ts, feats) = _fitted(rng, cell=cell, dropout=dropout)
    net, V = m.net, m.net.num_items
    b = rd.take(rd.read_histories(ids, L, ts, feats), np.arange(len(L)), np.float64)
    log_q = np.log(np.arange(1.0, V + 1))
    args = (b["ids"], b["lengths"], b["timestamps"], b["features"], loss, 4, 123, log_q)

    net.zero_grad()
    net.train_loss(*args)
    analytic = {n: _dense_grad(p) for n, p in net.named_parameters()}
    for name, p in net.named_parameters():
        num = numeric_grad(lambda: net.train_loss(*args)[0], p.data, eps=1e-5)
        assert np.abs(num).max() > 0, name
        # relative to the gradient, floored at 1e-3: central differences of a loss of order 1
        # with eps = 1e-5 carry ~1e-11 of rounding, so tiny gradients get an absolute 1e-9
        err = np.abs(analytic[name] - num).max()
        assert err < 1e-6 * max(np.abs(num).max(), 1e-3), (name, err)


def test_dropout_only_while_training(rng):
    """Dropout changes the training loss (and with the seed, the same way each time) but not
    the scores: recommend, score and embed_users equal those of the same weights without it."""
    m, (ids, L, ts, feats) = _fitted(rng, dropout=0.5)
    net = m.net
    b = rd.take(rd.read_histories(ids, L, ts, feats), np.arange(len(L)), np.float64)
    args = (b["ids"], b["lengths"], b["timestamps"], b["features"], "full", 4, 7)
    with_drop = [net.train_loss(*args)[0] for _ in range(2)]
    other_seed = net.train_loss(*args[:-1], 8)[0]
    q = dict(lengths=L, timestamps=ts, features=feats)
    top, scores = m.recommend(ids, k=4, **q)
    users = m.embed_users(ids, **q)
    net.drop_x.rate = net.drop_f.rate = 0.0
    without = net.train_loss(*args)[0]
    assert with_drop[0] == with_drop[1] and other_seed != with_drop[0] != without
    top0, scores0 = m.recommend(ids, k=4, **q)
    np.testing.assert_array_equal(top, top0)
    np.testing.assert_array_equal(scores, scores0)
    np.testing.assert_array_equal(users, m.embed_users(ids, **q))
    m.set_params(dropout=0.2, warm_start=True)  # a warm start trains with the new rate
    m.fit(ids, epochs=1, batch_size=5, lengths=L, timestamps=ts, features=feats, verbose=0)
    assert m.net.drop_x.rate == m.net.drop_f.rate == 0.2


def test_closed_through_matches_definition(rng):
    B, T = 4, 11
    _, L, ts, _ = _events(rng, B, T, 5)
    x = rng.normal(size=(B, T, 2))
    scales = [ops.Scale.parse(s) for s in ("1", "3", "1h")]
    w = [(rng.normal(size=(3, 3)), rng.normal(size=(3, 1))) for _ in scales]
    outs, cache = ops.multiscale_forward(x, scales, w, cell="gru", lengths=L, timestamps=ts,
                                         count_feature=True)
    starts = [cache.window_start(2)]
    for s, (sc, o) in enumerate(zip(scales, outs, strict=True)):
        got = closed_through(sc, o.closed_before, L, o.out_lengths)
        for b in range(B):
            for t in range(T):
                if t >= L[b]:
                    want = 0
                elif sc.kind == "count":  # windows [j*k, j*k + k) complete within events 0..t
                    want = sum(1 for j in range(T) if j * sc.size + sc.size <= t + 1)
                else:  # windows that ended by ts[b, t]
                    want = int(np.sum(starts[0][b, :o.out_lengths[b]] + sc.window <= ts[b, t]))
                assert got[b, t] == want, (s, b, t)


def test_causality_future_events_do_not_change_earlier_scores(rng):
    m, (ids, L, ts, feats) = _fitted(rng, V=15, scales=("1", "3", "2h"), B=4, T=12)
    base = m.position_scores(ids, lengths=L, timestamps=ts, features=feats)
    for b in range(len(L)):
        if L[b] < 2:
            continue
        t0 = int(rng.integers(0, L[b] - 1))
        ids2, ts2, f2 = ids.copy(), ts.copy(), feats.copy()
        n_after = ids.shape[1] - t0 - 1
        ids2[b, t0 + 1:] = (ids2[b, t0 + 1:] + rng.integers(1, 15, n_after)) % 15
        ts2[b, t0 + 1:] += rng.integers(1, 20000)  # later, still sorted
        f2[b, t0 + 1:] += 1.0
        new = m.position_scores(ids2, lengths=L, timestamps=ts2, features=f2)
        np.testing.assert_allclose(new[b, :t0 + 1], base[b, :t0 + 1], rtol=0, atol=1e-12)
        others = np.arange(len(L)) != b
        np.testing.assert_allclose(new[others], base[others], rtol=0, atol=1e-12)
        assert np.abs(new[b, t0 + 1:L[b]] - base[b, t0 + 1:L[b]]).max() > 1e-6


def test_every_position_equals_its_prefix_history(rng):
    """Row t of the training scores is exactly the model run on events 0..t (what streaming
    one event at a time gives)."""
    m, (ids, L, ts, feats) = _fitted(rng, V=11, scales=("1", "2", "30m"), B=3, T=6)
    full = m.position_scores(ids, lengths=L, timestamps=ts, features=feats)
    F = m.net.table()[0]
    for b in range(len(L)):
        for t in range(L[b]):
            z = m.net.last(ids[b:b + 1, :t + 1], np.array([t + 1]), ts[b:b + 1, :t + 1],
                           np.ascontiguousarray(feats[b:b + 1, :t + 1]))[1]
            np.testing.assert_allclose(full[b, t], (z @ F.T)[0], rtol=1e-10, atol=1e-12)


def test_score_and_history_cosine_match_recommend(rng):
    m, (ids, L, ts, feats) = _fitted(rng, V=13)
    kw = dict(lengths=L, timestamps=ts, features=feats)
    top, top_scores = m.recommend(ids, k=5, **kw)
    np.testing.assert_allclose(m.score(ids, top, **kw), top_scores, rtol=1e-12)
    # the beta term is the mean candidate-vs-history cosine of the native cosine_query kernel
    net, c = m.net, top[:, 0]
    E = net.emb.weight.data
    hist = np.ascontiguousarray(E[ids] * (np.arange(ids.shape[1]) < L[:, None])[..., None])
    cos = ops.cosine_query_forward(np.ascontiguousarray(E[c]), hist, L)[0]
    b = rd.take(rd.read_histories(ids, L, ts, feats), np.arange(len(L)), np.float64)
    z = net.last(b["ids"], b["lengths"], b["timestamps"], b["features"])[1]
    term = np.einsum("nd,nd->n", z[:, 3:6], E[c] / np.linalg.norm(E[c], axis=1)[:, None])
    np.testing.assert_allclose(term, 0.7 * cos.sum(axis=1) / L, rtol=1e-10)
    assert np.all(np.diff(top_scores, axis=1) <= 0)
    for n in range(len(L)):
        assert not set(top[n]) & set(ids[n, :L[n]])


def test_recommend_exclude(rng):
    """``exclude`` leaves further items out (with or without the seen ones); the rest keep
    their scores and order; empty lists change nothing."""
    V = 23
    m, (ids, L, ts, feats) = _fitted(rng, V=V)
    kw = dict(lengths=L, timestamps=ts, features=feats)
    full = m.score(ids, **kw)
    extra = [rng.choice(V, size=int(rng.integers(0, 6)), replace=False) for _ in L]
    for exclude_seen in (True, False):
        top, vals = m.recommend(ids, k=8, exclude_seen=exclude_seen, exclude=extra, **kw)
        for n in range(len(L)):
            out = set(extra[n]) | (set(ids[n, :L[n]]) if exclude_seen else set())
            want = sorted((i for i in range(V) if i not in out), key=lambda i: (-full[n, i], i))
            np.testing.assert_array_equal(top[n], want[:8])
            np.testing.assert_array_equal(vals[n], full[n, want[:8]])
    plain = m.recommend(ids, k=8, **kw)
    same = m.recommend(ids, k=8, exclude=[[]] * len(L), **kw)
    for a, b in zip(plain, same):
        np.testing.assert_array_equal(a, b)


def test_recommend_log_excludes_events_before_max_len(rng):
    """With an Interactions log, the events before the max_len scored ones are seen too."""
    n_users, per = 4, 30
    users = np.repeat(np.arange(n_users), per)
    items = np.concatenate([rng.permutation(40)[:per] for _ in range(n_users)])
    ts = 1_700_000_000 + np.arange(n_users * per) * 60
    log = from_columns(users, items, ts)
    m = MultiScaleRecommender(dim=4, units=3, scales=["1", "4"], max_len=5,
                              random_state=0).fit(log, epochs=1, verbose=0)
    top, vals = m.recommend(log, k=10)
    for u in range(n_users):
        assert not set(top[u]) & set(log.item[log.user == u])
        assert np.isfinite(vals[u]).all()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_score_without_candidates_is_the_catalogue(rng, dtype):
    """``score(histories)`` gives every item's score ``[N, V]``: the values recommend ranks
    (bit for bit at recommend's own ids), the candidates path's values, any batch size, and
    the last position of position_scores."""
    m, (ids, L, ts, feats) = _fitted(rng, V=17, dtype=dtype)
    kw = dict(lengths=L, timestamps=ts, features=feats)
    full = m.score(ids, **kw)
    N, V = len(L), 17
    assert full.shape == (N, V) and full.dtype == np.dtype(dtype)
    top, top_scores = m.recommend(ids, k=V, exclude_seen=False, **kw)
    np.testing.assert_array_equal(np.take_along_axis(full, top, 1), top_scores)
    tol = 1e-12 if dtype == "float64" else 1e-5
    every = np.tile(np.arange(V), (N, 1))
    np.testing.assert_allclose(full, m.score(ids, every, **kw), rtol=tol, atol=tol)
    np.testing.assert_allclose(m.score(ids, batch_size=2, **kw), full, rtol=tol, atol=tol)
    last = m.position_scores(ids, **kw)[np.arange(N), L - 1]
    np.testing.assert_allclose(full, last, rtol=tol, atol=tol)


def test_outlier_timestamp_warns_about_the_span(rng):
    """One 0 timestamp stretches a history over ~444k hourly windows: fit and recommend warn,
    naming the history, the windows and the dates, at the caller's line; ordinary data is
    silent."""
    ids, L, ts, _ = _events(rng, 6, 8, 20, lengths=np.full(6, 8))
    m = MultiScaleRecommender(num_items=20, dim=3, units=2, scales=["1", "1h"], random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.fit(ids, epochs=1, lengths=L, timestamps=ts, verbose=0)
    ts[4, 0] = 0
    with pytest.warns(UserWarning, match=r"history 4 spans [\d,]+ windows of scale '1h' for 8 "
                      r"events \(1970-01-01T00:00:00 to") as rec:
        m.recommend(ids, lengths=L, timestamps=ts)
    assert rec[0].filename == __file__


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_explain_parts_add_up_to_the_score(rng, dtype):
    """explain() splits each history's score of one item into per-scale parts, the newest
    event's input and the rest: rows sum to score(), any batch size; bad items refused."""
    m, (ids, L, ts, feats) = _fitted(rng, V=11, scales=("1", "2", "1h"), dtype=dtype)
    kw = dict(lengths=L, timestamps=ts, features=feats)
    items = rng.integers(0, 11, len(L))
    parts, names = m.explain(ids, items, **kw)
    assert names == ["scale 1", "scale 2", "scale 1h", "newest event", "bias + history cosine"]
    assert parts.shape == (len(L), 5) and parts.dtype == np.float64
    tol = 1e-10 if dtype == "float64" else 2e-5
    np.testing.assert_allclose(parts.sum(1), m.score(ids, items[:, None], **kw)[:, 0],
                               rtol=tol, atol=tol)
    np.testing.assert_allclose(m.explain(ids, items, batch_size=2, **kw)[0], parts, rtol=1e-12,
                               atol=1e-12)
    with pytest.raises(ValueError, match=r"items must lie in \[0, num_items=11\)"):
        m.explain(ids, np.full(len(L), 11), **kw)
    with pytest.raises(ValueError, match="items must have shape"):
        m.explain(ids, items[:2], **kw)


def test_float32_matches_float64(rng):
    m64, (ids, L, ts, feats) = _fitted(rng, V=12)
    m32 = MultiScaleRecommender(**{**m64.get_params(), "dtype": "float32"})
    m32._build(m64._meta(), 0)
    m32.net.load_state_dict(m64.net.state_dict())
    kw = dict(lengths=L, timestamps=ts, features=feats)
    s64 = m64.position_scores(ids, **kw)
    s32 = m32.position_scores(ids, **kw)
    assert s32.dtype == np.float32
    np.testing.assert_allclose(s32, s64, rtol=1e-4, atol=1e-5)


def test_save_load_recommend_identical(rng, tmp_path):
    m, (ids, L, ts, feats) = _fitted(rng, V=20, dtype="float32", cell="lstm")
    kw = dict(lengths=L, timestamps=ts, features=feats)
    path = tmp_path / "rec.csm"
    m.save(path)
    m2 = cs.load(path)
    assert isinstance(m2, MultiScaleRecommender) and m2.get_params() == m.get_params()
    for a, b in zip(m.recommend(ids, 7, **kw), m2.recommend(ids, 7, **kw), strict=True):
        np.testing.assert_array_equal(a, b)
    cand = rng.integers(0, 20, (len(L), 4))
    np.testing.assert_array_equal(m.score(ids, cand, **kw), m2.score(ids, cand, **kw))
    np.testing.assert_array_equal(m.embed_users(ids, **kw), m2.embed_users(ids, **kw))
    assert dict(m2.history_) == dict(m.history_)
    assert (m2.history_.best, m2.history_.best_epoch, m2.history_.stopped_epoch) == (
        m.history_.best, m.history_.best_epoch, m.history_.stopped_epoch) != (None, None, None)


def test_save_scale_objects_as_specs(rng, tmp_path):
    """Scales given as Scale objects or NumPy integers are saved as their specs ("16/4" for a
    strided count window) and load to the same model; a Scale whose settings no spec holds is
    refused at save, before anything is written."""
    from chronoscale.ops import Scale

    ids = rng.integers(0, 20, (8, 12))
    m = MultiScaleRecommender(num_items=20, dim=4, units=3, random_state=0,
                              scales=["1", Scale.count(4, stride=2), np.int64(3), "60m"])
    ts = np.cumsum(rng.integers(60, 3000, (8, 12)), axis=1)
    m.fit(ids, epochs=1, verbose=0, timestamps=ts)
    m.save(tmp_path / "a.csm")
    back = cs.load(tmp_path / "a.csm")
    assert back.scales == ["1", "4/2", "3", "60m"]  # strings as given
    for a, b in zip(m.recommend(ids, 5, timestamps=ts), back.recommend(ids, 5, timestamps=ts),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    for odd in (Scale.count(4, mode="max"), Scale.count(4, partial=False),
                Scale.time(3600, origin=60)):
        bad = MultiScaleRecommender(num_items=20, dim=4, units=3, scales=["1", odd],
                                    random_state=0)
        bad.fit(ids, epochs=1, verbose=0, timestamps=np.cumsum(np.ones((8, 12), np.int64) * 600,
                                                                axis=1))
        with pytest.raises(TypeError, match="cannot be saved"):
            bad.save(tmp_path / "b.csm")
        assert not (tmp_path / "b.csm").exists()


def test_users_with_one_event(rng):
    V, B, T = 17, 6, 5
    ids, L, ts, _ = _events(rng, B, T, V, lengths=[5, 1, 1, 3, 1, 2])
    m = MultiScaleRecommender(num_items=V, dim=4, units=3, scales=["1", "4"], random_state=1)
    m.fit(ids, epochs=2, batch_size=2, lengths=L, verbose=0)  # some batches have no target
    assert np.isfinite(m.history_["loss"]).all()
    one = ids[L == 1, :1]
    top, scores = m.recommend(one, k=V)
    assert top.shape == (len(one), V) and np.isfinite(scores[:, :V - 1]).all()
    for n in range(len(one)):  # every item once, the seen one last with -inf
        assert sorted(top[n]) == list(range(V)) and top[n, -1] == one[n, 0]
        assert scores[n, -1] == -np.inf
    assert m.embed_users(one).shape == (len(one), 4)
    assert m.score(one, np.arange(V)[None].repeat(len(one), 0)).shape == (len(one), V)
    with pytest.raises(ValueError, match="no history has two events"):
        m.fit(one, epochs=1, verbose=0)


def test_sampled_softmax_100k_catalogue_never_allocates_full_logits(rng):
    V, B, T, S = 100_000, 32, 32, 256
    ids = np.minimum(rng.zipf(1.3, (B, T)) - 1, V - 1)
    L = random_lengths(rng, B, T)
    m = MultiScaleRecommender(dim=16, units=16, scales=["1", "4"], num_items=V,
                              random_state=0)
    tracemalloc.start()
    try:
        m.fit(ids, epochs=1, batch_size=16, lengths=L, loss="sampled", num_negatives=S,
              verbose=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    logits_bytes = 16 * T * V * 4  # one batch's [B*T, V] float32 block
    assert peak < logits_bytes / 2, (peak, logits_bytes)
    assert np.isfinite(m.history_["loss"][0])
    # sparse updates: only rows seen in the data or drawn as negatives (2 batches) moved
    fresh = MultiScaleRecommender(**m.get_params())
    fresh._build(m._meta(), np.random.default_rng(0))
    moved = np.any(m.net.emb.weight.data != fresh.net.emb.weight.data, axis=1)
    assert 0 < moved.sum() <= np.unique(ids).size + 2 * S
    top, _ = m.recommend(ids[:2], k=10, lengths=L[:2])
    for n in range(2):
        assert not set(top[n]) & set(ids[n, :L[n]])


def test_interactions_input_and_exclusion_of_the_whole_log():
    inter = load_otto_sample()
    m = MultiScaleRecommender(dim=8, units=8, scales=["1", "1h"], use_values=True, max_len=20,
                              random_state=0)
    m.fit(inter, epochs=1, batch_size=8, verbose=0)
    assert m.num_items_ == inter.num_items and m.n_features_in_ == 1
    top, _ = m.recommend(inter, k=10)
    assert top.shape == (inter.num_users, 10)
    for u in range(inter.num_users):  # nothing of the user's log, even beyond max_len
        assert not set(top[u]) & set(inter.item[inter.user == u])


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_seeded_fit_is_reproducible_and_early_stopping(rng, dropout):
    V = 30
    ids, L, _, _ = _events(rng, 24, 9, V)
    targets = rng.integers(0, V, 24)

    def run():
        m = MultiScaleRecommender(num_items=V, dim=4, units=4, scales=["1", "3"],
                                  random_state=5, dropout=dropout)
        return m.fit(ids, epochs=3, batch_size=8, lengths=L, verbose=0, patience=1,
                     validation_data=({"items": ids, "lengths": L}, targets))

    a, b = run(), run()
    for (n, x), (_, y) in zip(a.net.state_dict().items(), b.net.state_dict().items(),
                              strict=True):
        np.testing.assert_array_equal(x, y, err_msg=n)
    h = a.history_
    assert set(h) >= {"loss", "val_loss", "val_ndcg@10", "val_hr@10"}
    assert h.best == max(h["val_ndcg@10"]) and 1 <= len(h["epoch"]) <= 3


def test_ndcg_helpers():
    scores = np.array([[0.1, 0.9, 0.5, -np.inf], [0.3, 0.2, 0.1, 0.0]])
    ranks = rd.target_ranks(scores, np.array([2, 3]))
    assert list(ranks) == [1, 3]
    assert rd.ndcg_at_k(ranks, 10) == pytest.approx((1 / np.log2(3) + 1 / np.log2(5)) / 2)
    assert rd.ndcg_at_k(ranks, 2) == pytest.approx(1 / np.log2(3) / 2)
    assert rd.target_ranks(scores, np.array([3, 0]))[0] == np.inf


def test_bad_inputs(rng):
    m, (ids, L, ts, feats) = _fitted(rng, V=9)
    kw = dict(lengths=L, timestamps=ts, features=feats)
    with pytest.raises(ValueError, match="items"):
        m.recommend(np.where(ids > 3, 9, ids), **kw)
    with pytest.raises(ValueError, match="lengths"):
        m.recommend(ids, lengths=np.zeros_like(L), timestamps=ts, features=feats)
    with pytest.raises(ValueError, match="timestamps"):
        m.recommend(ids, lengths=L, features=feats)
    with pytest.raises(ValueError, match="features"):
        m.recommend(ids, lengths=L, timestamps=ts)
    with pytest.raises(TypeError, match="items"):
        m.recommend(ids.astype(float), **kw)
    with pytest.raises(ValueError, match="candidates"):
        m.score(ids, np.full((len(L), 2), 9), **kw)
    with pytest.raises(ValueError, match="k must"):
        m.recommend(ids, k=0, **kw)
    with pytest.raises(ValueError, match="loss"):
        m.fit(ids, loss="bpr", **kw)
    with pytest.raises(ValueError, match="monitor"):
        m.fit(ids, monitor="val_ndcg@10", **kw)
    with pytest.raises(ValueError, match="softmax_precision must be"):
        m.fit(ids, softmax_precision="float16", **kw)
    for precision in ("bfloat16", "tfloat32", "tf32x3"):
        with pytest.raises(ValueError, match=f"{precision}.*device='cuda'"):
            m.fit(ids, softmax_precision=precision, **kw)
    with pytest.raises(RuntimeError, match="not fitted"):
        MultiScaleRecommender().recommend(ids)



def test_evaluate_and_validation_targets_are_checked(rng):
    m, (ids, L, ts, feats) = _fitted(rng, V=9)
    kw = dict(lengths=L, timestamps=ts, features=feats)
    n = len(L)
    good = rng.integers(0, 9, n)
    ref = m.evaluate(ids, good, **kw)
    # integral floats and [N, 1] give the same metrics; nothing is truncated or wrapped
    assert m.evaluate(ids, good.astype(np.float64), **kw) == ref
    assert m.evaluate(ids, good[:, None].astype(np.int32), **kw) == ref
    for bad, exc, match in [
        (np.full(n, -1), ValueError, r"targets must lie in \[0, num_items=9\), got \[-1"),
        (np.full(n, 100), ValueError, r"targets must lie in \[0, num_items=9\)"),
        (np.full(n, 9), ValueError, r"targets must lie in \[0, num_items=9\)"),
        (np.full(n, 2**64 - 1, np.uint64), ValueError, "targets must lie in"),
        (np.full(n, 2.7), ValueError, "targets must hold whole item ids, got 2.7"),
        (np.full(n, np.nan), ValueError, "targets must hold whole item ids"),
        (np.full(n, "3"), TypeError, "targets must hold integer item ids"),
        (np.ones(n, bool), TypeError, "targets must hold integer item ids"),
        (good[:-1], ValueError, rf"targets must have shape \[{n}\]"),
        (np.tile(good, (2, 1)), ValueError, rf"targets must have shape \[{n}\]"),
    ]:
        with pytest.raises(exc, match=match):
            m.evaluate(ids, bad, **kw)
    for k, exc, match in [(0, ValueError, "k must be >= 1, got 0"),
                          (2.7, TypeError, "k must be an integer, got 2.7"),
                          (True, TypeError, "k must be an integer")]:
        with pytest.raises(exc, match=match):
            m.evaluate(ids, good, k=k, **kw)
        with pytest.raises(exc, match=match):
            m.recommend(ids, k=k, **kw)
    assert set(m.evaluate(ids, good, k=np.int64(3), **kw)) == {"loss", "ndcg@3", "hr@3"}
    # the same checks on fit's validation targets (before any training)
    x = MultiScaleRecommender(dim=3, units=2, scales=["1"], random_state=0)
    with pytest.raises(ValueError, match=r"validation_data targets must lie in \[0, "):
        x.fit(ids, lengths=L, epochs=1, verbose=0, validation_data=(ids, np.full(n, -1)))
    with pytest.raises(ValueError, match="validation_data targets must hold whole"):
        x.fit(ids, lengths=L, epochs=1, verbose=0, validation_data=(ids, np.full(n, 2.7)))


@pytest.mark.parametrize("params,exc,match", [
    ({"num_items": 0}, ValueError, "num_items must be >= 1, got 0"),
    ({"num_items": 9.5}, TypeError, "num_items must be an integer, got 9.5"),
    ({"num_items": True}, TypeError, "num_items must be an integer"),
    ({"dim": 2.5}, TypeError, "dim must be an integer"),
    ({"dim": 0}, ValueError, "dim must be >= 1"),
    ({"units": -2}, ValueError, "units must be >= 1, got -2"),
    ({"units": [2, 2.5]}, TypeError, r"units\[1\] must be an integer"),
    ({"max_len": 0}, ValueError, "max_len must be >= 1"),
    ({"random_state": 1.5}, TypeError, "random_state must be an integer"),
    ({"random_state": -1}, ValueError, "random_state must be >= 0"),
    ({"dropout": 1.0}, ValueError, r"dropout must be in \[0, 1\), got 1.0"),
    ({"dropout": float("nan")}, ValueError, "dropout must be in"),
    ({"dropout": "0.2"}, TypeError, "dropout must be a real number, got str"),
    ({"dropout": True}, TypeError, "dropout must be a real number, got bool"),
])
def test_integer_hyper_parameters_are_not_truncated(rng, params, exc, match):
    ids, L, _, _ = _events(rng, 6, 7, 9)
    kw = {"dim": 3, "units": [2, 2], "scales": ["1", "2"], **params}
    with pytest.raises(exc, match=match):
        MultiScaleRecommender(**kw).fit(ids, lengths=L, epochs=1, verbose=0)


@pytest.mark.parametrize("fit_kw,exc,match", [
    ({"epochs": 0}, ValueError, "epochs must be >= 1, got 0"),
    ({"epochs": 2.7}, TypeError, "epochs must be an integer, got 2.7"),
    ({"batch_size": 2.5}, TypeError, "batch_size must be an integer, got 2.5"),
    ({"num_negatives": 0, "loss": "sampled"}, ValueError, "num_negatives must be >= 1"),
    ({"seed": 1.5}, TypeError, "seed must be an integer, got 1.5"),
    ({"seed": -3}, ValueError, "seed must be >= 0"),
])
def test_fit_arguments_are_not_truncated(rng, fit_kw, exc, match):
    m, (ids, L, ts, feats) = _fitted(rng, V=9, warm_start=True)
    before = {k: v.copy() for k, v in m.net.state_dict().items()}
    with pytest.raises(exc, match=match):
        m.fit(ids, lengths=L, timestamps=ts, features=feats, verbose=0, **fit_kw)
    for k, v in before.items():  # refused before training
        np.testing.assert_array_equal(v, m.net.state_dict()[k])
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        m.recommend(ids, batch_size=2.5, lengths=L, timestamps=ts, features=feats)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        m.embed_users(ids, batch_size=0, lengths=L, timestamps=ts, features=feats)


def test_inferred_catalogue_must_be_dense(rng):
    ids, L, _, _ = _events(rng, 6, 7, 9)
    m = MultiScaleRecommender(dim=3, units=2, scales=["1"], random_state=0)
    for top in (2**63 - 1, 50_000_000):
        sparse = np.where(ids == 0, top, ids)
        with pytest.raises(ValueError, match=r"items: the largest id is .*dense 0\.\.V-1.*"
                                             r"from_columns.*num_items"):
            m.fit(sparse, epochs=1, verbose=0)
    # the bound grows with the data: a large id in a modest log is fine up to 2**20 items
    m.fit(np.where(ids == 0, 5_000, ids), epochs=1, verbose=0)
    assert m.num_items_ == 5_001
    # an explicit num_items is taken as it is (the ids are checked against it)
    with pytest.raises(ValueError, match="items: ids must be < num_items = 9"):
        MultiScaleRecommender(num_items=9, dim=3, units=2, scales=["1"]).fit(
            np.where(ids == 0, 9, ids), epochs=1, verbose=0)

def _movielens(shared_data):
    """ML-100K as a training log (every user's events but the last) and the held-out items."""
    with gzip.open(shared_data / "movielens-100k" / "ml-100k.inter.gz", "rt") as f:
        header = f.readline().split("\t")
        raw = np.loadtxt(f, dtype=np.int64)
    assert header[0].startswith("user_id") and header[3].startswith("timestamp")
    user_ids, u = np.unique(raw[:, 0], return_inverse=True)
    item_ids, i = np.unique(raw[:, 1], return_inverse=True)
    order = np.lexsort((raw[:, 3], u))
    u, i, ts, r = u[order], i[order], raw[order, 3], raw[order, 2].astype(np.float32)
    last = np.r_[np.nonzero(np.diff(u))[0], len(u) - 1]  # each user's last event
    keep = np.ones(len(u), bool)
    keep[last] = False
    train = Interactions(u[keep], i[keep], ts[keep], r[keep], user_ids, item_ids, "ml-100k")
    return train, i[last]


def _ndcg10(scores, targets):
    gains = []
    for row, t in zip(scores, targets, strict=True):
        rank = np.sum(row > row[t]) if np.isfinite(row[t]) else np.inf
        gains.append(1.0 / np.log2(rank + 2) if rank < 10 else 0.0)
    return float(np.mean(gains))


def test_learns_movielens_100k_above_popularity(shared_data):
    train, targets = _movielens(shared_data)
    U, V = train.num_users, train.num_items
    pop = np.tile(np.bincount(train.item, minlength=V).astype(float), (U, 1))
    pop[train.user, train.item] = -np.inf  # exclude each user's history, like the model
    pop_ndcg = _ndcg10(pop, targets)

    m = MultiScaleRecommender(dim=32, units=32, scales=["1", "4", "16"], max_len=50,
                              learning_rate=1e-2, random_state=0)
    m.fit(train, epochs=6, batch_size=64, verbose=0)
    res = m.evaluate(train, targets)
    ids, _ = m.recommend(train, k=10)
    model_ndcg = float(np.mean([1 / np.log2(np.nonzero(ids[n] == targets[n])[0][0] + 2)
                                if targets[n] in ids[n] else 0.0 for n in range(U)]))
    print(f"ML-100K leave-one-out NDCG@10: model {model_ndcg:.4f} "
          f"(hr@10 {res['hr@10']:.4f}), most-popular {pop_ndcg:.4f}")
    assert model_ndcg == pytest.approx(res["ndcg@10"], abs=2e-3)
    assert model_ndcg > 1.3 * pop_ndcg


def test_batch_scoring_progress_bars(rng, capsys):
    """recommend / score / explain / embed_users: progress=True shows a bar over the histories
    (stderr, named after the call), None stays silent on a short call, False never shows one;
    the results are the same either way; evaluate_recommender turns the model's own bar off
    (it shows its own)."""
    m, (ids, L, ts, feats) = _fitted(rng, B=12)
    kw = dict(lengths=L, timestamps=ts, features=feats, batch_size=5)
    items = rng.integers(0, m.net.num_items, len(L))
    calls = {"recommend": lambda p: m.recommend(ids, k=3, progress=p, **kw),
             "score": lambda p: m.score(ids, progress=p, **kw),
             "explain": lambda p: m.explain(ids, items, progress=p, **kw)[0],
             "embed_users": lambda p: m.embed_users(ids, progress=p, **kw)}
    for name, call in calls.items():
        outs = []
        for progress in (True, None, False):
            capsys.readouterr()
            outs.append(call(progress))
            err = capsys.readouterr().err
            assert (name in err and "history" in err) == (progress is True), (name, progress)
        for a in outs[1:]:
            for x, y in zip(np.atleast_1d(outs[0]), np.atleast_1d(a)):
                np.testing.assert_array_equal(x, y)
        with pytest.raises(TypeError, match="progress must be True or False"):
            call("yes")


def test_evaluation_turns_the_models_bar_off(rng, monkeypatch):
    """The scorers evaluate_recommender builds call score(..., progress=False): one bar (the
    evaluation's) at a time."""
    import functools
    import types

    from chronoscale import metrics

    m, (ids, L, ts, feats) = _fitted(rng, B=6, n_features=0)
    seen = []
    score = m.score

    @functools.wraps(score)  # (the signature, which the scorers read, stays score's)
    def spy(*a, **k):
        seen.append(k.get("progress"))
        return score(*a, **k)

    monkeypatch.setattr(m, "score", spy)
    hist = types.SimpleNamespace(items=ids, lengths=L, timestamps=ts, values=feats)
    full, sampled = metrics._history_scorers(m, hist, m.net.num_items)
    full(np.arange(3))
    sampled(np.arange(2), rng.integers(0, m.net.num_items, (2, 4)))
    assert seen == [False, False]
