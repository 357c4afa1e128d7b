"""chronoscale.nn refuses bad input with a clear TypeError / ValueError naming the argument:
non-finite training data, reshaped targets, float class ids, events outside a batch, bad
optimiser and fit wiring, coerced constructor arguments, malformed forward / backward inputs and
state dicts that would lose values."""

from __future__ import annotations

import numpy as np
import pytest

from chronoscale import nn
from chronoscale.nn.parameter import Parameter


def _data(n=12, T=5, F=3):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n, T, F)).astype(np.float32),
            rng.random(n).astype(np.float32))


def _model():
    return nn.Sequential([nn.LSTM(4), nn.Dense(1)]).build(3, rng=0)


def _fit(model=None, x=None, y=None, **kw):
    X, Y = _data()
    model = model or _model()
    kw.setdefault("optimizer", nn.Adam(model.parameters()))
    return nn.fit(model, X if x is None else x, Y if y is None else y, verbose=0, **kw)


def _with(a, index, value):
    a = a.copy()
    a[index] = value
    return a


# -- 1. non-finite data ------------------------------------------------------------------------
X, Y = _data()


@pytest.mark.parametrize("x,y,kw,match", [
    (X, _with(Y, 0, np.inf), {}, "y contains NaN or inf"),
    (X, _with(Y, 3, np.nan), {}, "y contains NaN or inf"),
    (_with(X, (0, 0, 0), np.nan), Y, {}, "x contains NaN or inf"),
    ({"x": _with(X, (1, 2, 0), -np.inf)}, Y, {}, r"x\['x'\] contains NaN or inf"),
    (X, Y, {"validation_data": (_with(X, (0, 0, 0), np.nan), Y)},
     "validation_data x contains NaN or inf"),
    (X, Y, {"validation_data": (X, _with(Y, 0, np.nan))}, "validation_data y contains NaN"),
])
def test_fit_refuses_non_finite_data_before_training(x, y, kw, match):
    model = _model()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=match):
        _fit(model, x, y, **kw)
    for k, v in before.items():  # nothing trained
        np.testing.assert_array_equal(v, model.state_dict()[k])


def test_a_nan_monitored_value_is_never_the_best():
    hist = _fit(epochs=2, validation_data=(X, Y), metrics={"bad": lambda p, t: float("nan")},
                monitor="val_bad", patience=1)
    assert hist.best is None and hist.stopped_epoch == 1


# -- 2. losses and metrics ---------------------------------------------------------------------
P = np.arange(6, dtype=np.float32).reshape(2, 3)


@pytest.mark.parametrize("f", [nn.losses.mse, nn.losses.mae, nn.metrics.mse, nn.metrics.r2])
def test_transposed_targets_are_refused(f):
    with pytest.raises(ValueError, match=r"target has shape \(3, 2\), the prediction \(2, 3\)"):
        f(P, P.T)


def test_column_targets_weights_and_bce_range():
    col = np.ones((4, 1), np.float32)
    assert nn.losses.mse(col, np.ones(4))[0] == 0.0  # [B] against [B, 1]
    assert nn.metrics.mae(np.ones(4), col) == 0.0
    with pytest.raises(ValueError, match="weights must be >= 0"):
        nn.losses.mse(P, P, weights=-np.ones_like(P))
    with pytest.raises(ValueError, match="weights contains NaN or inf"):
        nn.losses.huber(P, P, weights=np.full_like(P, np.nan))
    loss, _ = nn.losses.mse(P, P * 0, weights=np.array([1.0, 0.0]))  # one weight per row
    assert loss == pytest.approx((0 + 1 + 4) / 6)
    for bad in (5.0, -3.0, np.nan):
        with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
            nn.losses.bce_with_logits(P, np.full_like(P, bad))


@pytest.mark.parametrize("f", [nn.metrics.r2, nn.metrics.rmse, nn.metrics.mae])
def test_metrics_refuse_empty_arrays(f):
    with pytest.raises(ValueError, match="empty"):
        f(np.zeros(0), np.zeros(0))


def test_none_and_list_predictions():
    with pytest.raises(TypeError, match="target must be an array, got None"):
        nn.losses.mse(P, None)
    with pytest.raises(TypeError, match="pred must be an array, got None"):
        nn.metrics.mse(None, P)
    assert nn.losses.mse([1.0, 2.0], np.array([1.0, 2.0]))[0] == 0.0  # a list is converted
    with pytest.raises(TypeError, match="loss must be a name"):
        nn.losses.get(["mse"])


# -- 3. float class ids and rows ---------------------------------------------------------------
def test_float_class_targets_and_rows_are_refused():
    logits = np.zeros((2, 3), np.float32)
    with pytest.raises(TypeError, match="target must hold integers"):
        nn.losses.softmax_cross_entropy(logits, [0.5, 1.7])
    with pytest.raises(TypeError, match="target must hold integers"):
        nn.losses.sampled_softmax(logits, np.zeros((5, 3), np.float32), [0.5, 1.7], 2, 0)
    p = Parameter(np.zeros((4, 2), np.float32))
    with pytest.raises(TypeError, match="rows must hold integers"):
        p.accumulate_rows([0.7], np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"rows must lie in \[0, 4\)"):
        p.accumulate_rows([4], np.ones((1, 2)))
    with pytest.raises(ValueError, match="grad_rows must have shape"):
        p.accumulate_rows([1], np.ones((1, 3)))
    p.accumulate_rows(np.array([1], np.int32), np.ones((1, 2)))
    assert p.rows.tolist() == [1]


# -- 4. MultiScaleNext events ------------------------------------------------------------------
def test_multiscale_next_gather_checks_the_events():
    ms = nn.MultiScaleNext(["1", "2"], 3)
    with pytest.raises(RuntimeError, match="call run first"):
        ms.gather(np.array([0]), np.array([0]))
    x = np.random.default_rng(1).standard_normal((2, 6, 3)).astype(np.float32)
    ms.run(x, lengths=np.array([6, 3]))
    with pytest.raises(ValueError, match=r"b must lie in \[0, 2\)"):
        ms.gather(np.array([9]), np.array([0]))
    with pytest.raises(ValueError, match=r"t must lie in \[0, 6\)"):
        ms.gather(np.array([0]), np.array([60]))
    with pytest.raises(ValueError, match=r"t must lie in \[0, 6\)"):
        ms.backward_rows(np.ones((1, 6), np.float32), np.array([0]), np.array([-1]))
    with pytest.raises(TypeError, match="b must hold integers"):
        ms.gather(np.array([0.5]), np.array([0]))
    with pytest.raises(ValueError, match="same shape"):
        ms.gather(np.array([0, 1]), np.array([0]))
    full = ms.forward(x, lengths=np.array([6, 3]))
    np.testing.assert_array_equal(ms.gather([0, 1], [5, 2]), full[[0, 1], [5, 2]])


# -- 5. optimisers and fit wiring --------------------------------------------------------------
@pytest.mark.parametrize("make,exc,match", [
    (lambda p: nn.SGD(p + p), ValueError, r"params\[\d+\] is the same Parameter"),
    (lambda p: nn.Adam([1, 2]), TypeError, r"params\[0\] must be a Parameter"),
    (lambda p: nn.Adam({"w": p[0]}), TypeError, "params must be a list of Parameters"),
    (lambda p: nn.Adam(None), TypeError, "params must be a list of Parameters"),
    (lambda p: nn.Adam(p, beta1="0.9"), TypeError, "beta1 must be a real number"),
    (lambda p: nn.Adam(p, beta1=None), TypeError, "beta1 must be a real number"),
    (lambda p: nn.Adam(p, eps="1e-7"), TypeError, "eps must be a real number"),
    (lambda p: nn.Adam(p, weight_decay="0"), TypeError, "weight_decay must be a real number"),
    (lambda p: nn.SGD(p, momentum="0.9"), TypeError, "momentum must be a real number"),
    (lambda p: nn.SGD(p, momentum=0.9, nesterov="no"), TypeError, "nesterov must be True"),
    (lambda p: nn.SGD(p, momentum=2.0), ValueError, r"momentum must be in \[0, 1\)"),
    (lambda p: nn.Adam(p, beta2=1.0), ValueError, r"beta2 must be in \[0, 1\)"),
    (lambda p: nn.Adam(p, eps=0.0), ValueError, "eps must be a finite number > 0"),
    (lambda p: nn.AdamW(p, weight_decay=-1), ValueError, "weight_decay must be a finite"),
    (lambda p: nn.Adam(p, clipnorm=float("nan")), ValueError, "clipnorm must be a finite"),
    (lambda p: nn.Adam(p, lr=-1.0), ValueError, "lr must be a finite number >= 0"),
    (lambda p: nn.clip_grad_norm(p, "a"), TypeError, "max_norm must be a real number"),
    (lambda p: nn.clip_grad_norm(p, 0.0), ValueError, "max_norm must be a finite number > 0"),
])
def test_optimizer_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make(_model().parameters())


def test_optimizer_load_state_dict():
    model = _model()
    opt = nn.Adam(model.parameters())
    with pytest.raises(ValueError, match=r"missing \['iterations', 'steps'\]"):
        opt.load_state_dict({})
    with pytest.raises(TypeError, match="optimizer state must be a dict"):
        opt.load_state_dict(None)
    for p in model.parameters():
        p.accumulate(np.ones_like(p.data))
    opt.step()
    state = dict(opt.state_dict())
    with pytest.raises(ValueError, match="second moments"):
        nn.Adam(model.parameters()).load_state_dict({**state, "0.v": -state["0.v"] - 1})
    with pytest.raises(ValueError, match="unexpected keys"):
        nn.SGD(model.parameters()).load_state_dict(state)
    with pytest.raises(TypeError, match="must hold real numbers"):
        nn.Adam(model.parameters()).load_state_dict({**state, "0.m": state["0.m"] + 1j})
    fresh = nn.Adam(model.parameters())
    fresh.load_state_dict(state)
    assert fresh.iterations == 1


@pytest.mark.parametrize("kw,exc,match", [
    ({"shuffle": "no"}, TypeError, "shuffle must be True or False"),
    ({"resume": True}, ValueError, "resume=True needs checkpoint_dir"),
    ({"optimizer": None}, TypeError, "optimizer must be a chronoscale.nn.Optimizer"),
    ({"optimizer": "other"}, ValueError, "optimizer holds none of the model's parameters"),
    ({"x": "none"}, TypeError, "x must be an array, got None"),
    ({"y": "none"}, TypeError, "y must be an array, got None"),
    ({"x": {"x": X, "lengths": np.array([4])}}, ValueError, "same number of rows"),
    ({"x": {}}, ValueError, "x: an empty dict"),
    ({"validation_data": X}, ValueError, r"validation_data must be \(x, y\)"),
    ({"validation_data": (X,)}, ValueError, r"validation_data must be \(x, y\)"),
    ({"validation_data": (X[:0], Y[:0])}, ValueError, "validation_data x: no validation"),
    ({"loss": lambda p, t, weights=None: 1.0}, TypeError, r"loss must return \(loss, dpred\)"),
    ({"metrics": {"x": 5}}, TypeError, r"metrics\['x'\] must be a callable"),
    ({"checkpoint_dir": 5}, TypeError, "checkpoint_dir must be a path"),
])
def test_fit_wiring(kw, exc, match):
    model = _model()
    if kw.get("optimizer") == "other":
        kw["optimizer"] = nn.Adam(_model().parameters())
    for k in ("x", "y"):
        if kw.get(k) == "none":
            kw[k] = None
    x, y = kw.pop("x", X), kw.pop("y", Y)
    with pytest.raises(exc, match=match):
        nn.fit(model, x, y, **{"optimizer": nn.Adam(model.parameters()), "verbose": 0, **kw})


def test_fit_converts_lists_and_refuses_another_optimizer_on_resume(tmp_path):
    hist = _fit(x=X.tolist(), y=Y.tolist(), epochs=1)
    assert np.isfinite(hist["loss"]).all()
    model = _model()
    _fit(model, epochs=1, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="written with a Adam optimizer, this run uses SGD"):
        _fit(model, epochs=2, optimizer=nn.SGD(model.parameters()), checkpoint_dir=tmp_path,
             resume=True)


# -- 6. constructors ---------------------------------------------------------------------------
@pytest.mark.parametrize("make,exc,match", [
    (lambda: nn.Dense(2.7), TypeError, "units must be an integer, got 2.7"),
    (lambda: nn.Dense("4"), TypeError, "units must be an integer"),
    (lambda: nn.Dense(-3), ValueError, "units must be >= 1, got -3"),
    (lambda: nn.MaxPool1d(stride=1.5), TypeError, "stride must be an integer"),
    (lambda: nn.MaxPool1d(mode="median"), ValueError, "mode must be one of"),
    (lambda: nn.Conv1d(2, 2.9), TypeError, "kernel_size must be an integer"),
    (lambda: nn.Conv1d(2, 0), ValueError, "kernel_size must be >= 1"),
    (lambda: nn.Conv1d(-2, 2), ValueError, "filters must be >= 1"),
    (lambda: nn.LSTM(-1), ValueError, "units must be >= 1"),
    (lambda: nn.Embedding(-1, 2), ValueError, "num_embeddings must be >= 1"),
    (lambda: nn.MultiScale(["1", "2"], units=[2.7, 3.2]), TypeError, r"units\[0\] must be"),
    (lambda: nn.Dense(2, use_bias="no"), TypeError, "use_bias must be True or False"),
    (lambda: nn.Embedding(3, 2, sparse="no"), TypeError, "sparse must be True or False"),
    (lambda: nn.GRU(2, return_sequences="no"), TypeError, "return_sequences must be True"),
    (lambda: nn.MultiScale(["1"], 2, count_feature="no"), TypeError, "count_feature must be"),
    (lambda: nn.MaxPool1d(partial="no"), TypeError, "partial must be True or False"),
    (lambda: nn.Dense(2).build(-3), ValueError, "in_features must be >= 1"),
    (lambda: nn.Dense(2).build("3"), TypeError, "in_features must be an integer"),
    (lambda: nn.CosineFeatures(lags=[1.5]), TypeError, "lags must be an integer"),
    (lambda: nn.layer_from_config({"class": "Dense", "config": {"units": -5}}), ValueError,
     "units must be >= 1"),
    (lambda: nn.layer_from_config({"class": "Dense", "config": {"units": 4}, "built": True,
                                   "in_features": 10**12}), ValueError, r"too large.*2\*\*35"),
])
def test_constructors_check_instead_of_coercing(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_one_scale_spec_and_one_lag():
    assert nn.MultiScale("124", 3).scales == ["124"]  # one spec, not "1", "2", "4"
    assert nn.CosineFeatures(lags=2).lags == (2,)


# -- 7. forward / backward inputs --------------------------------------------------------------
def test_forward_and_backward_inputs():
    zero_d = np.array(1.0, np.float32)
    for layer in (nn.Dense(2), nn.Dense(2).build(3), nn.Dropout(0.5)):
        with pytest.raises(ValueError, match="x must have at least one axis"):
            layer.forward(zero_d)
    with pytest.raises(TypeError, match="x must be a NumPy or CuPy array, got list"):
        nn.Dropout(0.5).forward([1.0, 2.0])
    cf = nn.CosineFeatures((1,))
    cf.forward(X)
    with pytest.raises(ValueError, match=r"dy must have the output's shape \(12, 5, 4\)"):
        cf.backward(np.ones_like(X))
    with pytest.raises(TypeError, match=r"inputs must be a pair \(q"):
        nn.CosineQuery().forward(X)
    with pytest.raises(ValueError, match="ys: expected one"):
        nn.ScaleFusion().forward([])
    model = _model()
    with pytest.raises(TypeError, match="state must be a dict"):
        model.load_state_dict(None)
    for bs, exc in ((0, ValueError), (-1, ValueError), (2.5, TypeError)):
        with pytest.raises(exc, match="batch_size must be"):
            nn.predict_batches(model, X, bs)
    with pytest.raises(ValueError, match="x: no input sequences"):
        nn.predict_batches(model, X[:0])


# -- 8. state dicts that would lose values -----------------------------------------------------
@pytest.mark.parametrize("change,exc,match", [
    (lambda v: v.astype(np.complex64), TypeError, "must hold real numbers, got dtype complex64"),
    (lambda v: np.full(v.shape, 1e300), ValueError, "beyond the range of float32"),
    (lambda v: np.full(v.shape, np.nan), ValueError, "contains NaN or inf"),
])
def test_load_state_dict_refuses_lossy_values(change, exc, match):
    model = _model()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    state = {k: change(v) if k == "1.weight" else v for k, v in before.items()}
    with pytest.raises(exc, match=match):
        model.load_state_dict(state)
    for k, v in before.items():  # nothing copied
        np.testing.assert_array_equal(v, model.state_dict()[k])
    model.load_state_dict({k: v.astype(np.float64) for k, v in before.items()})  # in range


def test_device_arrays_are_checked_on_their_device(monkeypatch):
    import fake_cupy

    from chronoscale.nn import device as device_mod

    cp = fake_cupy.install(monkeypatch)
    monkeypatch.setattr(device_mod, "require_cuda", lambda: None)
    model = _model().to("cuda")
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        nn.fit(model, cp.asarray(_with(X, (0, 0, 0), np.nan)), cp.asarray(Y), verbose=0,
               optimizer=nn.Adam(model.parameters()))
    hist = nn.fit(model, cp.asarray(X), cp.asarray(Y), optimizer=nn.Adam(model.parameters()),
                  epochs=1, verbose=0, validation_data=(cp.asarray(X), cp.asarray(Y)))
    assert np.isfinite(hist["val_loss"]).all()
    pred = cp.asarray(P)
    with pytest.raises(ValueError, match="weights must be >= 0"):
        nn.losses.mse(pred, pred, weights=cp.asarray(-np.ones_like(P)))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        nn.losses.bce_with_logits(pred, pred * 5)
    state = {k: cp.asarray(np.full(v.shape, 1e300)) for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="beyond the range of float32"):
        model.load_state_dict(state)


def test_truncated_checkpoints_and_odd_wiring(tmp_path):
    """A checkpoint whose optimiser slots or meta entries were removed is refused before
    anything is loaded (not resumed with zero moments, not a bare KeyError); a file as
    checkpoint_dir, a model that is no layer, a bool learning rate and seed are refused."""
    from chronoscale import io

    model = _model()
    _fit(model, epochs=1, checkpoint_dir=tmp_path)
    (ckpt,) = tmp_path.glob("*.csm")
    header, tensors = io.read_file(ckpt)
    kw = dict(kind=header["kind"], cls=header.get("class"), config=header.get("config"))
    (tmp_path / "cut").mkdir()
    (tmp_path / "meta").mkdir()
    io.write_file(tmp_path / "cut" / ckpt.name,
                  {k: v for k, v in tensors.items() if not k.startswith("optim/")},
                  meta=header["meta"], **kw)
    fresh = _model()
    before = {k: v.copy() for k, v in fresh.state_dict().items()}
    with pytest.raises(ValueError, match=r"optimizer state is missing \['0.m'"):
        _fit(fresh, epochs=2, checkpoint_dir=tmp_path / "cut", resume=True)
    meta = {k: v for k, v in header["meta"].items() if k != "history"}
    io.write_file(tmp_path / "meta" / ckpt.name, tensors, meta=meta, **kw)
    with pytest.raises(ValueError, match=r"not a complete training checkpoint.*\['history'\]"):
        _fit(fresh, epochs=2, checkpoint_dir=tmp_path / "meta", resume=True)
    for k, v in before.items():  # nothing was loaded
        np.testing.assert_array_equal(v, fresh.state_dict()[k])
    with pytest.raises(ValueError, match="checkpoint_dir .* is a file, not a folder"):
        _fit(epochs=1, checkpoint_dir=ckpt)
    X, Y = _data()
    with pytest.raises(TypeError, match="model must be a chronoscale.nn layer"):
        nn.fit(object(), X, Y, optimizer=nn.Adam(_model().parameters()), verbose=0)
    with pytest.raises(TypeError, match="lr must be a real number, got True"):
        nn.Adam(_model().parameters(), lr=True)
    with pytest.raises(TypeError, match="seed must be an integer, got '1'"):
        nn.Dropout(0.5).set_seed("1")
    with pytest.raises(ValueError, match="layers must be a list of layer specs"):
        nn.layer_from_config({"class": "Sequential", "config": {"layers": 5}})


def test_check_int_takes_index_objects_and_refuses_bools_and_floats():
    """The one integer check: ints, NumPy integers and 0-d integer arrays / tensors pass;
    bools (0-d bool arrays and tensors too), floats (3.0 included) and strings do not."""
    from chronoscale.ops._common import check_int

    assert check_int(np.array(3), "n") == 3 and check_int(np.int32(2), "n") == 2
    assert check_int(-5, "n", None) == -5 and check_int(7, "n", 0, 7) == 7
    for bad in (True, np.bool_(False), np.array(True), 3.0, "3", None):
        with pytest.raises(TypeError, match="n must be an integer"):
            check_int(bad, "n")
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        check_int(0, "n")
    with pytest.raises(ValueError, match="n must be <= 7, got 8"):
        check_int(8, "n", 0, 7)
    torch = pytest.importorskip("torch")
    assert check_int(torch.tensor(4), "n") == 4
    with pytest.raises(TypeError, match="n must be an integer"):
        check_int(torch.tensor(True), "n")
