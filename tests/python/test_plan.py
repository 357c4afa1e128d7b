"""Inference plans (chronoscale.nn.plan): a compiled stack equals the layer-by-layer forward on
random stacks (every supported layer and option, float32 / float64, variable lengths, B = 1 and
large B, 1 or 2 threads), a sequence's result does not depend on its batch, bad input raises
naming the argument, and models recompile their plan when the weights change."""

from __future__ import annotations

import numpy as np
import pytest

import chronoscale
from chronoscale import _core, nn
from chronoscale.models import SeedForecaster
from chronoscale.nn import plan as P
from chronoscale.nn.parameter import weights_changed

from helpers import random_lengths

TOL = {"float32": 1e-6, "float64": 1e-12}


def _random_layer(rng, seq: bool):
    """A random supported layer; only Dense / Dropout once the time axis is gone."""
    kinds = ["conv", "pool", "lstm", "gru", "rnn", "dense", "dropout"] if seq else ["dense",
                                                                                     "dropout"]
    kind = kinds[rng.integers(len(kinds))]
    if kind == "conv":
        return nn.Conv1d(int(rng.integers(1, 9)), int(rng.integers(1, 4)),
                         activation=[None, "relu"][rng.integers(2)],
                         use_bias=bool(rng.integers(4)))
    if kind == "pool":
        size = int(rng.integers(1, 4))
        stride = [None, int(rng.integers(1, 4))][rng.integers(2)]
        return nn.MaxPool1d(size, stride, mode=["max", "mean", "sum"][rng.integers(3)],
                            partial=bool(rng.integers(2)))
    if kind in ("lstm", "gru", "rnn"):
        cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]
        kw = {"activation": ["tanh", "sigmoid", "relu"][rng.integers(3)]} if kind == "rnn" else {}
        return cls(int(rng.integers(1, 13)), return_sequences=bool(rng.integers(2)), **kw)
    if kind == "dense":
        return nn.Dense(int(rng.integers(1, 8)),
                        activation=[None, "relu", "sigmoid", "tanh"][rng.integers(4)],
                        use_bias=bool(rng.integers(4)))
    return nn.Dropout(0.3)


def _random_stack(rng, F, dtype):
    layers, seq = [], True
    for _ in range(int(rng.integers(1, 6))):
        layer = _random_layer(rng, seq)
        layers.append(layer)
        if isinstance(layer, (nn.LSTM, nn.GRU, nn.RNN)) and not layer.return_sequences:
            seq = False
    net = nn.Sequential(layers).build(F, rng=rng, dtype=dtype)
    for p in net.parameters():  # nonzero biases, weights off their initial values
        p.data += (0.1 * rng.standard_normal(p.shape)).astype(dtype)
    return net


def _close(ours, ref, dtype):
    assert ours.shape == ref.shape and ours.dtype == ref.dtype
    scale = max(1.0, float(np.abs(ref).max(initial=0.0)))
    err = float(np.abs(ours.astype(np.float64) - ref).max(initial=0.0))
    assert err <= TOL[dtype] * scale, (err, scale)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_random_stacks_match_layer_forward(rng, dtype):
    for _ in range(25):
        F = int(rng.integers(1, 7))
        net = _random_stack(rng, F, dtype)
        plan = P.compile(net)
        assert plan.dtype == dtype and plan.in_features == F
        for B in (1, 3, 150):
            T = plan.min_steps + int(rng.integers(0, 7))
            x = rng.standard_normal((B, T, F)).astype(dtype)
            lengths = random_lengths(rng, B, T)
            if B > 2:
                lengths[2] = 0
            for lens in (None, lengths):
                ref = net.forward(x, lengths=lens)
                ours = plan.predict(x, lens)
                assert ours.shape == plan.output_shape(B, T)
                _close(ours, ref, dtype)


def test_nan_passes_through_relu_and_max_pool(rng):
    """NaN inputs stay NaN through the plan's ReLUs and max pooling, as through the layers
    (torch semantics), and other sequences are untouched."""
    for dtype in ("float32", "float64"):
        net = nn.Sequential([nn.Conv1d(6, 2, activation="relu"), nn.MaxPool1d(2),
                             nn.RNN(5, activation="relu", return_sequences=True),
                             nn.Dense(3, activation="relu")]).build(3, rng=0, dtype=dtype)
        x = rng.standard_normal((4, 9, 3)).astype(dtype)
        x[2, 4, 1] = np.nan
        ref, ours = net.forward(x), P.compile(net).predict(x)
        assert np.isnan(ref[2]).any() and not np.isnan(np.delete(ref, 2, axis=0)).any()
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
        _close(np.nan_to_num(ours), np.nan_to_num(ref).astype(dtype), dtype)


def test_seed_architecture_large_batch_and_threads(rng):
    """The SeedForecaster stack at B = 1 and B = 1000 (parallel chunks) on 1 and 2 threads:
    equal to the layer forward, and bit-identical whatever the batch or thread count."""
    for dtype in ("float32", "float64"):
        net = nn.Sequential([nn.Conv1d(64, 3, activation="relu"), nn.MaxPool1d(2),
                             nn.LSTM(50, return_sequences=True), nn.LSTM(50),
                             nn.Dense(1, activation="sigmoid")]).build(5, rng=0, dtype=dtype)
        for p in net.parameters():
            p.data += (0.05 * rng.standard_normal(p.shape)).astype(dtype)
        plan = P.compile(net)
        x = rng.standard_normal((1000, 10, 5)).astype(dtype)
        lengths = random_lengths(rng, 1000, 10)
        threads = chronoscale.get_num_threads()
        try:
            outs = []
            for n in (1, 2):
                chronoscale.set_num_threads(n)
                outs.append(plan.predict(x, lengths))
        finally:
            chronoscale.set_num_threads(threads)
        np.testing.assert_array_equal(outs[0], outs[1])
        _close(outs[0], net.forward(x, lengths=lengths), dtype)
        for i in (0, 1, 517, 999):
            np.testing.assert_array_equal(plan.predict(x[i:i + 1], lengths[i:i + 1]),
                                          outs[0][i:i + 1])


def test_plan_properties_and_sequence_output(rng):
    net = nn.Sequential([nn.Conv1d(4, 3), nn.MaxPool1d(2, 1), nn.GRU(6, return_sequences=True),
                         nn.Dense(2)]).build(3, rng=0)
    plan = P.compile(net)
    assert plan.sequence_output and plan.out_features == 2 and plan.num_layers == 4
    assert plan.min_steps == 4 and plan.output_shape(5, 9) == (5, 6, 2)
    assert plan.weight_bytes > 0 and "Plan(layers=4" in repr(plan)
    x = rng.standard_normal((5, 9, 3)).astype(np.float32)
    np.testing.assert_allclose(plan(x), net.forward(x), atol=1e-6)
    assert plan.scratch_bytes > 0
    single = P.compile(nn.LSTM(3).build(3, rng=1))  # a lone layer compiles too
    assert not single.sequence_output and single.output_shape(2, 4) == (2, 3)


def test_bad_input(rng):
    net = nn.Sequential([nn.Conv1d(4, 3, activation="relu"), nn.LSTM(5)]).build(3, rng=0)
    plan = P.compile(net)
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    with pytest.raises(TypeError, match="x must be float32"):
        plan.predict(x.astype(np.float64))
    with pytest.raises(TypeError, match="x"):
        plan.predict(x.tolist())
    with pytest.raises(ValueError, match=r"x must have shape \[B, T, F\]"):
        plan.predict(x[0])
    with pytest.raises(ValueError, match="x must have shape"):
        plan.predict(x[:, :, :2].copy())
    with pytest.raises(ValueError, match="empty batch"):
        plan.predict(x[:0])
    with pytest.raises(ValueError, match="no time steps"):
        plan.predict(x[:, :0])
    with pytest.raises(ValueError, match="x has T = 2 time steps.*T >= 3"):
        plan.predict(x[:, :2].copy())
    with pytest.raises(ValueError, match="C-contiguous"):
        plan.predict(x[:, ::2])
    with pytest.raises(ValueError, match="lengths"):
        plan.predict(x, [1, 2, 7, 3])
    with pytest.raises(ValueError, match="lengths"):
        plan.predict(x, [-1, 2, 3, 3])
    with pytest.raises(ValueError, match="lengths"):
        plan.predict(x, [1, 2, 3])
    with pytest.raises(TypeError, match="lengths"):
        plan.predict(x, np.ones(4))
    bad = x.copy()
    bad[1, 2, 0] = np.nan
    plan.predict(bad)  # not checked unless asked
    with pytest.raises(ValueError, match="x contains NaN"):
        plan.predict(bad, check_finite=True)

    with pytest.raises(ValueError, match="not supported"):
        P.compile(nn.Sequential([nn.Embedding(10, 4)]).build(1, rng=0))
    with pytest.raises(ValueError, match="build the model"):
        P.compile(nn.Sequential([nn.Dense(2)]))
    with pytest.raises(TypeError, match="dtype"):
        P.compile(net, dtype=np.int32)


def test_native_spec_errors():
    w = np.zeros((4, 3, 2), np.float32)

    def build(layers, dtype="float32", F=3):
        return _core.Plan(dtype, F, layers)

    with pytest.raises(ValueError, match=r"layers\[0\]\.weight must have shape"):
        build([{"kind": "conv1d", "weight": np.zeros((4, 2, 2), np.float32)}])
    with pytest.raises(TypeError, match=r"layers\[0\]\.weight must be float32"):
        build([{"kind": "conv1d", "weight": w.astype(np.float64)}])
    with pytest.raises(ValueError, match=r"layers\[0\]\.bias"):
        build([{"kind": "conv1d", "weight": w, "bias": np.zeros(3, np.float32)}])
    with pytest.raises(ValueError, match=r"layers\[0\]\.kind"):
        build([{"kind": "attention"}])
    with pytest.raises(ValueError, match=r"layers\[0\]\.size"):
        build([{"kind": "pool", "size": 0}])
    with pytest.raises(ValueError, match=r"layers\[0\]\.mode"):
        build([{"kind": "pool", "size": 2, "mode": "median"}])
    with pytest.raises(ValueError, match=r"layers\[0\]\.cell"):
        build([{"kind": "recurrent", "cell": "transformer"}])
    lstm = {"kind": "recurrent", "cell": "lstm", "w_ih": np.zeros((8, 3), np.float32),
            "w_hh": np.zeros((8, 2), np.float32)}
    with pytest.raises(ValueError, match=r"layers\[1\] \(conv1d\) needs a sequence input"):
        build([lstm, {"kind": "conv1d", "weight": np.zeros((4, 2, 2), np.float32)}])
    with pytest.raises(ValueError, match=r"layers\[0\]\.w_ih"):
        build([{**lstm, "w_ih": np.zeros((8, 4), np.float32)}])
    with pytest.raises(ValueError, match=r"layers\[0\]\.activation"):
        build([{"kind": "dense", "weight": np.zeros((2, 3), np.float32), "activation": "gelu"}])
    with pytest.raises(TypeError, match="dtype"):
        build([], dtype="int64")
    with pytest.raises(ValueError, match="in_features"):
        build([], F=0)
    empty = build([])  # no layers: the identity
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    np.testing.assert_array_equal(empty.run(x, None, False), x)


def _windows(rng, B=64, T=10, F=5):
    X = rng.standard_normal((B, T, F)).astype(np.float32)
    y = 1 / (1 + np.exp(-X[:, -4:, 0].sum(1)))
    return X, y.astype(np.float32)


def _layer_predict(model, X):
    return nn.predict_batches(model.net, X)[:, 0]


def test_seed_forecaster_plan_follows_weight_changes(rng, tmp_path):
    X, y = _windows(rng)
    model = SeedForecaster(units=8, filters=6, random_state=0, warm_start=True)
    model.fit(X, y, epochs=1, verbose=0)
    first = model.predict(X)
    np.testing.assert_allclose(first, _layer_predict(model, X), atol=1e-6)
    np.testing.assert_array_equal(model.predict(X[:1]), first[:1])
    plan = model._plan_cache.get(model.net)
    assert model._plan_cache.get(model.net) is plan  # cached while nothing changes

    model.fit(X, y, epochs=1, verbose=0)  # warm start: same net object, new weights
    second = model.predict(X)
    assert not np.array_equal(second, first)
    np.testing.assert_allclose(second, _layer_predict(model, X), atol=1e-6)

    opt = nn.Adam(model.net.parameters(), lr=1e-2)  # a step on the net directly
    pred = model.net.forward(X, training=True)
    opt.zero_grad()
    model.net.backward(nn.losses.mse(pred, y[:, None])[1])
    opt.step()
    third = model.predict(X)
    assert not np.array_equal(third, second)
    np.testing.assert_allclose(third, _layer_predict(model, X), atol=1e-6)

    state = {k: v * 0.5 for k, v in model.net.state_dict().items()}
    model.net.load_state_dict(state)
    np.testing.assert_allclose(model.predict(X), _layer_predict(model, X), atol=1e-6)

    w = model.net.layers_list[4].weight
    w.data += 0.5  # assignment (+=) is seen
    np.testing.assert_allclose(model.predict(X), _layer_predict(model, X), atol=1e-6)
    w.data[...] = 0.1  # in-place writes need weights_changed()
    weights_changed()
    np.testing.assert_allclose(model.predict(X), _layer_predict(model, X), atol=1e-6)

    path = tmp_path / "seed.csm"
    model.save(path)
    loaded = chronoscale.load(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_seed_forecaster_predict_inputs(rng):
    X, y = _windows(rng, B=16)
    model = SeedForecaster(units=4, filters=3, random_state=1).fit(X, y, epochs=1, verbose=0)
    ref = model.predict(X)
    np.testing.assert_allclose(model.predict(X.astype(np.float64)), ref, atol=1e-6)
    np.testing.assert_allclose(model.predict(np.asfortranarray(X)), ref, atol=1e-6)
    np.testing.assert_allclose(model.predict(X.tolist()), ref, atol=1e-6)
    bad = X.copy()
    bad[3, 4, 1] = np.inf
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        model.predict(bad)
    with pytest.raises(ValueError, match="at least 4"):
        model.predict(X[:, :3])
    import copy
    import pickle

    twin = copy.deepcopy(model)
    np.testing.assert_array_equal(twin.predict(X), ref)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X), ref)
