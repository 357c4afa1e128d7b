"""MultiScaleForecaster: float64 gradient check end to end (count and wall-clock scales, lengths,
several outputs), explain / fusion weights, padding and causality, save -> load -> predict,
scikit-learn API, errors, and learning on real CDNOW data (event sequences with timestamps)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

import chronoscale
from chronoscale import nn
from chronoscale.models import MultiScaleForecaster

from helpers import numeric_grad, random_lengths, rel_error


def _events(rng, B=6, T=9, F=3):
    X = rng.standard_normal((B, T, F))
    ts = np.cumsum(rng.integers(0, 5000, size=(B, T)), axis=1).astype(np.int64)
    return X, ts


def _model(scales=("1", "3", "2h"), n_outputs=1, **kw):
    kw.setdefault("units", [3, 2, 2][: len(scales)])
    model = MultiScaleForecaster(scales=scales, **kw)
    model._build({"n_features": 3, "n_outputs": n_outputs}, np.random.default_rng(0))
    return model


@pytest.mark.parametrize("cell,task,K", [("lstm", "regression", 1), ("gru", "probability", 2),
                                         ("rnn", "regression", 3)])
def test_gradient_check_end_to_end_float64(rng, cell, task, K):
    X, ts = _events(rng)
    lengths = random_lengths(rng, len(X), X.shape[1])
    model = _model(n_outputs=K, cell=cell, task=task, dtype="float64")
    net = model.net
    for p in net.parameters():
        p.data += 0.2 * rng.standard_normal(p.shape)
    y = rng.random((len(X), K))

    def loss():
        return nn.losses.mse(net.forward(X, lengths=lengths, timestamps=ts), y)[0]

    _, d = nn.losses.mse(net.forward(X, training=True, lengths=lengths, timestamps=ts), y)
    net.zero_grad()
    dx = net.backward(d)
    assert rel_error(dx, numeric_grad(loss, X)) < 1e-6
    names = [n for n, _ in net.named_parameters()]
    assert "fusion.logits" in names and "ms.s2.weight_hh" in names and "head1.weight" in names
    for name, p in net.named_parameters():
        assert rel_error(p.grad, numeric_grad(loss, p.data)) < 1e-6, name


def test_explain_fusion_padding_and_causality(rng):
    X, ts = _events(rng, B=5)
    X = X.astype(np.float32)
    lengths = np.array([9, 1, 5, 9, 3])
    model = _model(n_outputs=1)
    model.net.fusion.logits.data[:, 0] = [0.5, -1.0, 0.2]
    pred = model.predict(X, lengths, ts)
    parts = model.explain(X, lengths, ts)
    assert pred.shape == (5,) and parts.shape == (5, 3)
    np.testing.assert_allclose(parts.sum(1), pred, rtol=1e-5, atol=1e-6)
    a = model.scale_weights_
    np.testing.assert_allclose(a, np.exp([0.5, -1.0, 0.2]) / np.exp([0.5, -1.0, 0.2]).sum(),
                               rtol=1e-6)
    # padding past the lengths is never read
    X2, ts2 = X.copy(), ts.copy()
    X2[1, 1:] = 7.0
    X2[4, 3:] = -7.0
    np.testing.assert_array_equal(model.predict(X2, lengths, ts2), pred)
    # every event up to the length is used (the prediction follows the whole history)
    X3 = X.copy()
    X3[:, 0] += 1.0
    assert (np.abs(model.predict(X3, lengths, ts) - pred) > 0).all()
    # batching does not change results
    np.testing.assert_allclose(model.predict(X, lengths, ts, batch_size=2), pred, rtol=1e-6)


def test_sklearn_api_save_load_reproducible(rng, tmp_path):
    X, ts = _events(rng, B=64, T=10)
    X = X.astype(np.float32)
    y = np.stack([np.tanh(X[:, -3:, 0].sum(1)), np.tanh(X[:, :, 1].mean(1))], axis=1)
    kw = dict(scales=["1", "4", "3h"], units=6, cell="gru", random_state=1)
    model = MultiScaleForecaster(**kw).fit(X, y, timestamps=ts, epochs=3, verbose=0,
                                           validation_data=(X[:16], y[:16], None, ts[:16]))
    assert model.get_params()["cell"] == "gru" and len(model.history_["val_loss"]) == 3
    pred = model.predict(X, timestamps=ts)
    assert pred.shape == (64, 2) and model.explain(X, timestamps=ts).shape == (64, 3, 2)
    assert model.scale_weights_.shape == (3, 2)
    again = MultiScaleForecaster(**kw).fit(X, y, timestamps=ts, epochs=3, verbose=0,
                                           validation_data=(X[:16], y[:16], None, ts[:16]))
    np.testing.assert_array_equal(again.predict(X, timestamps=ts), pred)
    path = tmp_path / "ms.csm"
    model.save(path)
    loaded = chronoscale.load(path)
    assert isinstance(loaded, MultiScaleForecaster)
    np.testing.assert_array_equal(loaded.predict(X, timestamps=ts), pred)
    np.testing.assert_array_equal(loaded.explain(X, timestamps=ts),
                                  model.explain(X, timestamps=ts))
    r2 = model.score(X, y, timestamps=ts)
    assert -1 < r2 < 1
    prob = MultiScaleForecaster(scales=["1", "2"], units=4, task="probability", random_state=0)
    prob.fit(X, (y[:, 0] > 0).astype(np.float32), epochs=1, verbose=0)
    p = prob.predict(X)
    assert p.shape == (64,) and ((p > 0) & (p < 1)).all()


def test_input_errors(rng):
    X, ts = _events(rng, B=8)
    y = rng.random(8)
    with pytest.raises(ValueError, match="timestamps are required"):
        MultiScaleForecaster(scales=["1", "1d"]).fit(X, y, verbose=0)
    with pytest.raises(ValueError, match="task"):
        MultiScaleForecaster(task="ranking").fit(X, y, verbose=0)
    with pytest.raises(ValueError, match="scale spec"):
        MultiScaleForecaster(scales=["1", "1y"]).fit(X, y, verbose=0)
    with pytest.raises(ValueError, match="lengths must have shape"):
        MultiScaleForecaster().fit(X, y, lengths=[1, 2], verbose=0)
    with pytest.raises(ValueError, match="timestamps must have shape"):
        MultiScaleForecaster(scales=["1h"]).fit(X, y, timestamps=ts[:, :3], verbose=0)
    model = MultiScaleForecaster(scales=["1", "2"], units=3, random_state=0)
    model.fit(X, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="outputs"):
        model.set_params(warm_start=True).fit(X, np.zeros((8, 2)), verbose=0)
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T = \d+\].*\[99, 99\]"):
        model.predict(X, lengths=np.full(8, 99))
    before = model.predict(X)
    with pytest.raises(ValueError, match="without events has nothing to forecast"):
        model.fit(X, np.ones(len(X)), lengths=np.r_[0, np.full(len(X) - 1, 2)], verbose=0)
    np.testing.assert_array_equal(model.predict(X), before)  # the refused fit changed nothing
    with pytest.raises(ValueError, match="decreas|sorted|timestamps"):
        MultiScaleForecaster(scales=["1h"]).fit(X, y, timestamps=ts[:, ::-1].copy(), verbose=0)



@pytest.mark.parametrize("params,exc,match", [
    ({"units": 2.5}, TypeError, "units must be an integer, got 2.5"),
    ({"units": -2}, ValueError, "units must be >= 1, got -2"),
    ({"units": 0}, ValueError, "units must be >= 1"),
    ({"units": True}, TypeError, "units must be an integer"),
    ({"units": "4"}, TypeError, "units must be an integer"),
    ({"units": [2, 0]}, ValueError, r"units\[1\] must be >= 1"),
    ({"random_state": 1.5}, TypeError, "random_state must be an integer"),
    ({"random_state": -1}, ValueError, "random_state must be >= 0"),
])
def test_integer_hyper_parameters_are_not_truncated(rng, params, exc, match):
    X, _ = _events(rng, B=6)
    with pytest.raises(exc, match=match):
        MultiScaleForecaster(scales=["1", "2"], **params).fit(X, rng.random(6), verbose=0)


@pytest.mark.parametrize("fit_kw,exc,match", [
    ({"epochs": 0}, ValueError, "epochs must be >= 1, got 0"),
    ({"epochs": 1.5}, TypeError, "epochs must be an integer, got 1.5"),
    ({"batch_size": 2.5}, TypeError, "batch_size must be an integer, got 2.5"),
    ({"seed": 1.5}, TypeError, "seed must be an integer, got 1.5"),
    ({"sample_weight": np.full(6, np.nan)}, ValueError, "sample_weight contains NaN or inf"),
    ({"sample_weight": -np.ones(6)}, ValueError, "sample_weight must be >= 0"),
    ({"sample_weight": np.zeros(6)}, ValueError, "sample_weight is all zeros"),
])
def test_fit_arguments_are_checked(rng, fit_kw, exc, match):
    X, _ = _events(rng, B=6)
    y = rng.random(6)
    model = MultiScaleForecaster(scales=["1", "2"], units=2, random_state=0, warm_start=True)
    model.fit(X, y, epochs=1, verbose=0)
    before = model.predict(X)
    with pytest.raises(exc, match=match):
        model.fit(X, y, verbose=0, **fit_kw)
    np.testing.assert_array_equal(model.predict(X), before)  # nothing was trained
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        model.predict(X, batch_size=2.5)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        model.explain(X, batch_size=0)


def test_epochs_zero_is_refused_the_same_way_by_every_model(rng):
    from chronoscale.models import MultiScaleRecommender, SeedForecaster

    X, _ = _events(rng, B=6)
    y = rng.random(6)
    messages = []
    for fit in (lambda: MultiScaleForecaster(scales=["1"], units=2).fit(X, y, epochs=0),
                lambda: SeedForecaster(filters=2, units=2).fit(X, y, epochs=0),
                lambda: MultiScaleRecommender(dim=2, units=2, scales=["1"]).fit(
                    rng.integers(0, 5, (6, 7)), epochs=0)):
        with pytest.raises(ValueError) as info:
            fit()
        messages.append(str(info.value))
    assert messages == ["epochs must be >= 1, got 0"] * 3

def _cdnow_events(path, cutoff_day=273, horizon_days=84, T=32):
    """Per customer: daily purchases before the cutoff (last T), features [log $, log CDs,
    gap to the previous purchase, recency at the cutoff], timestamps in seconds, lengths; target
    log1p(spend in the next ``horizon_days``) / log1p(500)."""
    with gzip.open(path, "rt") as f:
        raw = np.loadtxt(f, skiprows=1)
    cust = raw[:, 0].astype(np.int64) - 1
    d = raw[:, 1].astype(np.int64)
    iso = np.array([f"{v // 10000:04d}-{v // 100 % 100:02d}-{v % 100:02d}" for v in d],
                   dtype="datetime64[D]")
    day = (iso - np.datetime64("1997-01-01")).astype(np.int64)
    C = int(cust.max()) + 1
    keys, inv = np.unique(cust * 1000 + day, return_inverse=True)
    dollars, cds = np.bincount(inv, raw[:, 3]), np.bincount(inv, raw[:, 2])
    uc, ud = keys // 1000, keys % 1000
    future = (ud >= cutoff_day) & (ud < cutoff_day + horizon_days)
    spend = np.bincount(uc[future], dollars[future], minlength=C)
    past = ud < cutoff_day
    uc, ud, dollars, cds = uc[past], ud[past], dollars[past], cds[past]  # sorted by (c, day)
    counts = np.bincount(uc, minlength=C)
    pos = np.arange(uc.size) - np.r_[0, np.cumsum(counts)[:-1]][uc]
    gap = np.r_[0, np.diff(ud)]
    gap[pos == 0] = 0
    keep = pos >= counts[uc] - T
    c, r = uc[keep], (pos - np.maximum(counts[uc] - T, 0))[keep]
    X = np.zeros((C, T, 4), np.float32)
    X[c, r, 0] = np.log1p(dollars[keep]) / np.log1p(500)
    X[c, r, 1] = np.log1p(cds[keep]) / np.log1p(20)
    X[c, r, 2] = np.minimum(gap[keep], 365) / 365
    X[c, r, 3] = (cutoff_day - ud[keep]) / cutoff_day
    ts = np.zeros((C, T), np.int64)
    ts[c, r] = ud[keep] * 86400
    y = (np.log1p(spend) / np.log1p(500)).astype(np.float32)
    return X, ts, np.minimum(counts, T), y


@pytest.mark.data
def test_learns_cdnow_future_spend(shared_data):
    X, ts, lengths, y = _cdnow_events(shared_data / "cdnow" / "CDNOW_master.txt.gz")
    rng = np.random.default_rng(0)
    p = rng.permutation(len(X))
    tr, va = p[:10000], p[-5000:]
    threads = chronoscale.get_num_threads()
    chronoscale.set_num_threads(1)
    try:
        model = MultiScaleForecaster(scales=["1", "4", "30d"], units=16, learning_rate=3e-3,
                                     random_state=0)
        model.fit(X[tr], y[tr], lengths=lengths[tr], timestamps=ts[tr], epochs=4, verbose=0)
    finally:
        chronoscale.set_num_threads(threads)
    baseline = float(np.mean((y[va] - y[tr].mean()) ** 2))
    mse = float(np.mean((model.predict(X[va], lengths[va], ts[va]) - y[va]) ** 2))
    print(f"CDNOW 12-week spend: val MSE {mse:.5f}, mean predictor {baseline:.5f}, "
          f"ratio {mse / baseline:.3f}, alpha {model.scale_weights_}")
    assert mse < 0.85 * baseline


def test_outlier_timestamp_warns_about_the_span(rng):
    X, ts = _events(rng, B=8)
    ts = ts + 1_600_000_000
    ts[2, 0] = 0
    with pytest.warns(UserWarning, match=r"timestamps: history 2 spans [\d,]+ windows of scale"):
        MultiScaleForecaster(scales=["1", "1h"], units=3, random_state=0).fit(
            X, rng.random(8), timestamps=ts, epochs=1, verbose=0)


def test_span_warning_finds_the_outlier_and_honours_max_windows():
    """The warning names the history stretched by few events, not merely the longest span (a
    long, busy history is fine), and a scale with max_windows steps at most that many."""
    import warnings

    from chronoscale import ops
    from chronoscale.models._base import warn_long_spans

    T = 2000
    ts = np.zeros((2, T), np.int64)
    ts[0] = np.linspace(0, 600_000 * 3600, T).astype(np.int64)  # 600k hours, 2000 events
    ts[1, 1:] = 1_600_000_000  # 2 events: 0 and 2020-09-13
    lengths = np.array([T, 2])
    hourly = ops.Scale.parse("1h")
    with pytest.warns(UserWarning, match=r"history 1 spans 444,445 windows of scale '1h' for 2"):
        warn_long_spans(ts, lengths, [hourly])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_long_spans(ts, lengths, [ops.Scale.time(3600, max_windows=16)])
        warn_long_spans(ts[:1], lengths[:1], [hourly])

