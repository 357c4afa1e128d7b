"""Bad inputs to the models' public methods: each is refused with a clear exception naming the
argument (never truncated, wrapped or ignored), and a refused fit leaves a fitted model as it
was."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import chronoscale as cs
from chronoscale.data import from_columns
from chronoscale.models import MultiScaleForecaster, MultiScaleRecommender, SeedForecaster


def _rec(**kw):
    return MultiScaleRecommender(**{"num_items": 20, "dim": 4, "units": 3, "scales": ["1", "2"],
                                    "random_state": 0, **kw})


def _ids(rng, B=8, T=6, V=20):
    return rng.integers(0, V, (B, T))


def _state(model):
    return {k: v.copy() for k, v in model.net.state_dict().items()}


def _same_state(model, before):
    after = _state(model)
    assert after.keys() == before.keys()
    for k, v in before.items():
        np.testing.assert_array_equal(v, after[k])


def _log(users, items, ts=None):
    return from_columns(np.asarray(users), np.asarray(items),
                        None if ts is None else np.asarray(ts, np.int64))


@pytest.mark.parametrize("fit_kw,exc,match", [
    ({"loss": "sampled", "num_negatives": 21}, ValueError, "num_negatives must be <= num_items"),
    ({"patience": -1}, ValueError, "patience must be >= 1"),
    ({"patience": 1.5}, TypeError, "patience must be an integer"),
    ({"min_delta": float("nan")}, ValueError, "min_delta must be a finite number >= 0"),
    ({"min_delta": "x"}, TypeError, "min_delta must be a real number"),
    ({"verbose": 3}, ValueError, "verbose must be 0, 1 or 2"),
    ({"restore_best": "yes"}, TypeError, "restore_best must be True or False"),
    ({"validation_data": ()}, ValueError, r"histories, targets\) pair, got a tuple of 0"),
])
def test_recommender_fit_options(rng, fit_kw, exc, match):
    ids = _ids(rng)
    m = _rec().fit(ids, epochs=1, verbose=0)
    before = _state(m)
    kw = {"epochs": 1, "verbose": 0, **fit_kw}
    if "validation_data" in fit_kw:
        kw["validation_data"] = (ids, ids[:, 0], ids[:, 1])
        match = r"histories, targets\) pair, got a tuple of 3"
    with pytest.raises(exc, match=match):
        m.fit(ids, **kw)
    _same_state(m, before)  # refused before anything changed: the fitted model is intact
    assert m.recommend(ids, k=3)[0].shape == (len(ids), 3)


@pytest.mark.parametrize("params,exc,match", [
    ({"learning_rate": "0.1"}, TypeError, "learning_rate must be a real number"),
    ({"learning_rate": 0.0}, ValueError, "learning_rate must be a finite number > 0"),
    ({"weight_decay": -1.0}, ValueError, "weight_decay must be a finite number >= 0"),
    ({"clipnorm": float("inf")}, ValueError, "clipnorm must be a finite number > 0"),
    ({"count_feature": "no"}, TypeError, "count_feature must be True or False"),
    ({"warm_start": 1}, TypeError, "warm_start must be True or False"),
    ({"scales": None}, TypeError, "scales must be a scale spec"),
    ({"dtype": "bogus"}, ValueError, "dtype must be 'float32' or 'float64'"),
])
def test_hyper_parameters_are_checked(rng, params, exc, match):
    ids = _ids(rng)
    with pytest.raises(exc, match=match):
        _rec(**params).fit(ids, epochs=1, verbose=0)
    X, y = rng.random((6, 5, 2)), rng.random(6)
    for cls, base in ((SeedForecaster, {"filters": 2, "units": 2}),
                      (MultiScaleForecaster, {"scales": ["1"], "units": 2})):
        if set(params) <= set(inspect.signature(cls).parameters):  # the same check there
            with pytest.raises(exc, match=match):
                cls(**{**base, **params}).fit(X, y, epochs=1, verbose=0)


def test_recommender_histories(rng):
    ids, L = _ids(rng), np.full(8, 6)
    m = _rec().fit(ids, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="given twice"):
        m.recommend({"items": ids, "lengths": L}, lengths=L)
    with pytest.raises(ValueError, match="rectangular"):
        m.recommend([[1, 2, 3], [4, 5]])
    with pytest.raises(ValueError, match="2\\*\\*63"):
        m.recommend(np.full((2, 3), 2**63 + 5, np.uint64))
    with pytest.raises(ValueError, match="lengths holds values above the int64 range"):
        m.recommend(ids, lengths=np.full(8, 2**64 - 1, np.uint64))
    with pytest.raises(TypeError, match="exclude_seen must be True or False"):
        m.recommend(ids, exclude_seen="no")
    with pytest.raises(TypeError, match="exclude_seen must be True or False"):
        m.evaluate(ids, ids[:, 0], exclude_seen=1)
    V = m.net.num_items
    for exclude, exc, match in [
            ([[1]] * 7, ValueError, r"one item id list per history \(8\), got 7"),
            ([[1]] * 7 + [[V]], ValueError,
             rf"exclude\[7\]: item ids must lie in \[0, num_items = {V}\), got {V}"),
            ([[1]] * 7 + [[-1]], ValueError, r"exclude\[7\]"),
            ([[1]] * 7 + [[1.5]], TypeError, r"exclude\[7\] must hold integer item ids"),
            ("12345678", TypeError, "exclude must be a sequence of item id lists"),
            (5, TypeError, "exclude must be a sequence"),
            ([[1]] * 7 + [np.array([2**63], np.uint64)], ValueError,
             r"exclude\[7\]: .* got 9223372036854775808"),
            ([[1]] * 7 + [[True]], TypeError, r"exclude\[7\] must hold integer item ids, got bool"),
            ([[1]] * 7 + [np.ones((1, 1), np.int64)], ValueError, r"exclude\[7\] must be a 1-D"),
            (np.arange(8), TypeError, r"exclude\[0\] must be a list of item ids, got int64"),
            ([[1]] * 7 + [[1, [2]]], TypeError, r"exclude\[7\] must hold integer .* got list"),
            ([[1]] * 7 + [np.array([0.5])], TypeError,
             r"exclude\[7\] must hold integer item ids, got dtype float64")]:
        with pytest.raises(exc, match=match):
            m.recommend(ids, exclude=exclude)
    # any integer types, sets, None and empty rows
    mixed = [[np.uint64(3), 5], {1, 2}, None, [], np.array([4], np.uint32), (0,), [np.int8(2)], []]
    top = m.recommend(ids, k=V, exclude_seen=False, exclude=mixed)[1]
    for r, e in enumerate(mixed):
        assert np.isneginf(top[r]).sum() == len(set(e or ()))
    feats = np.full((8, 6, 1), 1e300)
    f = _rec().fit(ids, features=np.ones((8, 6, 1)), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="overflow the model's float32"):
        f.recommend(ids, features=feats)
    with pytest.raises(ValueError, match="overflow the model's float32"):
        _rec().fit(ids, features=feats, epochs=1, verbose=0)


def test_recommender_interactions_logs(rng):
    users = np.repeat(np.arange(4), 5)
    items = rng.integers(0, 6, 20)
    ts = 1_700_000_000 + np.arange(20) * 600
    log = _log(users, items, ts)
    m = MultiScaleRecommender(num_items=None, dim=4, units=3, scales=["1", "1h"],
                              random_state=0).fit(log, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="lengths: an Interactions log brings its own"):
        m.recommend(log, lengths=np.full(4, 2))
    # a log without timestamps (event positions as times) and a wall-clock scale
    with pytest.raises(ValueError, match="synthetic_time=True"):
        MultiScaleRecommender(num_items=None, dim=4, units=3, scales=["1", "1h"],
                              random_state=0).fit(_log(users, items), epochs=1, verbose=0)
    # users without events (a temporal split's training part keeps every user): fit skips
    # them, scoring them is refused
    sub = log.take(np.flatnonzero(log.user != 2))
    m2 = MultiScaleRecommender(num_items=None, dim=4, units=3, scales=["1"],
                               random_state=0).fit(sub, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"1 of the log's 4 users have no events \(user codes 2"):
        m2.recommend(sub)
    # an item code past the model's catalogue only in events before max_len
    short = MultiScaleRecommender(num_items=6, dim=4, units=3, scales=["1"], max_len=2,
                                  random_state=0)
    items2 = items.copy()
    items2[0] = 9  # user 0's oldest event: the largest code, outside every max_len window
    with pytest.raises(ValueError, match=r"ids must be < num_items = 6, got [6-9]"):
        short.fit(from_columns(users, items2, ts), epochs=1, verbose=0)


@pytest.mark.parametrize("loss,exc,match", [
    ("bce_with_logits", ValueError, "loss must be one of 'mse', 'mae', 'huber', got "
                                    "'bce_with_logits' \\(probability targets: task='probability'"),
    ("bce", ValueError, "unknown loss 'bce'"),
    (len, TypeError, "loss must be a name, one of 'mse', 'mae', 'huber'; got builtin_function"),
])
def test_forecaster_losses(rng, loss, exc, match):
    X, y = rng.random((6, 5, 2)), rng.random(6)
    with pytest.raises(exc, match=match):
        MultiScaleForecaster(scales=["1"], units=2, loss=loss).fit(X, y, epochs=1, verbose=0)
    for ok in ("mse", "mae", "huber"):
        MultiScaleForecaster(scales=["1"], units=2, loss=ok, task="probability").fit(
            X, y, epochs=1, verbose=0)


def test_forecaster_saved_with_bce_loads(rng, tmp_path):
    """A forecaster saved when fit still took bce_with_logits loads and predicts; fitting it
    again is refused."""
    X, y = rng.random((6, 5, 2)), rng.random(6)
    m = MultiScaleForecaster(scales=["1"], units=2, random_state=0).fit(X, y, epochs=1,
                                                                         verbose=0)
    m.loss = "bce_with_logits"
    cs.save(m, tmp_path / "old.csm")
    back = cs.load(tmp_path / "old.csm")
    np.testing.assert_array_equal(back.predict(X), m.predict(X))
    with pytest.raises(ValueError, match="loss must be one of"):
        back.fit(X, y, epochs=1, verbose=0)


def test_forecaster_targets_and_validation(rng):
    X, y = rng.random((6, 5, 2)), rng.random(6)
    seed = SeedForecaster(filters=2, units=2, random_state=0).fit(X, y, epochs=1, verbose=0)
    before = _state(seed)
    with pytest.raises(ValueError, match=r"y must lie in \[0, 1\].*sigmoid"):
        seed.fit(X, y * 100, epochs=1, verbose=0)
    with pytest.raises(TypeError, match="y must be numeric"):
        seed.fit(X, y.astype(complex), epochs=1, verbose=0)
    with pytest.raises(TypeError, match="y must be numeric"):
        seed.fit(X, y.astype(str), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"validation_data must be \(X, y\), got a tuple of 1"):
        seed.fit(X, y, validation_data=(X,), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"validation_data must be \(X, y\), got ndarray"):
        seed.fit(X, y, validation_data=X, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="patience must be >= 1"):
        seed.fit(X, y, epochs=1, verbose=0, patience=0)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        seed.predict(X, batch_size="junk")
    _same_state(seed, before)  # every refused fit kept the fitted weights
    assert seed.predict(X).shape == (6,)

    ms = MultiScaleForecaster(scales=["1"], units=2, task="probability", random_state=0)
    with pytest.raises(ValueError, match=r"y must lie in \[0, 1\]"):
        ms.fit(X, y * 10, epochs=1, verbose=0)
    reg = MultiScaleForecaster(scales=["1"], units=2, random_state=0).fit(X, y * 10, epochs=1,
                                                                          verbose=0)
    before = _state(reg)
    with pytest.raises(ValueError, match=r"validation_data must be \(X, y\) or .*tuple of 5"):
        reg.fit(X, y, validation_data=(X, y, None, None, None), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="contains NaN or inf"):
        reg.fit(X, np.full(6, np.nan), epochs=1, verbose=0)
    _same_state(reg, before)


def test_thread_counts_are_bounded():
    """Thousands of threads make the OpenMP runtime abort the process: refused up front."""
    import chronoscale

    before = chronoscale.get_num_threads()
    with pytest.raises(ValueError, match="set_num_threads: n must be <= "):
        chronoscale.set_num_threads(100_000)
    with pytest.raises(TypeError, match="n must be an int"):
        chronoscale.set_num_threads(2.0)
    assert chronoscale.get_num_threads() == before
