"""nn.fit / nn layers on what a second fuzz round found: validation data the model cannot take
and a checkpoint folder that cannot be created are refused before the first step (the weights
stay as they were); a diverged run warns; torch tensors are taken as x / y; a ``training``
flag other than True / False is refused; Sequential, set_seed, predict_batches and huge
hyper-parameters give errors that name the argument."""

from __future__ import annotations

import numpy as np
import pytest

from chronoscale import nn

F = np.float32


def _net(in_features=3):
    return nn.Sequential([nn.LSTM(4), nn.Dropout(0.5), nn.Dense(1)]).build(
        in_features, np.random.default_rng(0), "float32")


def _data(rng, n=12):
    return rng.standard_normal((n, 5, 3)).astype(F), rng.random((n, 1)).astype(F)


@pytest.mark.parametrize("bad", ["channels", "y_shape", "checkpoint", "channels+checkpoint"])
def test_refused_before_the_first_step(rng, tmp_path, bad):
    X, y = _data(rng)
    net = _net()
    before = {k: v.copy() for k, v in net.state_dict().items()}
    kw = {}
    if bad.startswith("channels"):
        kw["validation_data"] = (rng.standard_normal((4, 5, 2)).astype(F), y[:4])
        if bad.endswith("checkpoint"):  # refused before the folder is made
            kw["checkpoint_dir"] = tmp_path / "ckpt"
    elif bad == "y_shape":
        kw["validation_data"] = (X[:4], rng.random((4, 3)).astype(F))
    else:
        (tmp_path / "file").write_text("x")
        kw["checkpoint_dir"] = tmp_path / "file" / "ckpt"
    with pytest.raises(ValueError) as err:
        nn.fit(net, X, y, optimizer=nn.Adam(net.parameters()), epochs=2, batch_size=4,
               verbose=0, **kw)
    if bad == "checkpoint":
        assert "checkpoint_dir" in str(err.value) and "cannot be created" in str(err.value)
    elif bad.startswith("channels"):
        assert str(err.value).startswith("validation_data: ")
        assert not (tmp_path / "ckpt").exists()
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_valid_validation_data_trains_as_before(rng):
    """The up-front probe of the validation data changes nothing: the same weights as a run
    without validation data (inference mode draws no dropout mask)."""
    X, y = _data(rng)
    a, b = _net(), _net()
    nn.fit(a, X, y, optimizer=nn.Adam(a.parameters()), epochs=2, batch_size=4, verbose=0,
           seed=3)
    hist = nn.fit(b, X, y, optimizer=nn.Adam(b.parameters()), epochs=2, batch_size=4,
                  verbose=0, seed=3, validation_data=(X[:4], y[:4]))
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(v, b.state_dict()[k], err_msg=k)
    assert len(hist["val_loss"]) == 2


def test_diverged_training_warns_once(rng):
    X, y = _data(rng)  # finite data (NaN data is refused): the loss diverges through the weights
    net = _net()
    with pytest.warns(RuntimeWarning, match="training diverged: the loss is (nan|inf)"):
        hist = nn.fit(net, X * 1e30, y, optimizer=nn.Adam(net.parameters(), lr=1e30), epochs=3,
                      batch_size=4, verbose=0)
    assert not np.isfinite(hist["loss"][-1])


def test_torch_tensors_as_x_and_y(rng):
    torch = pytest.importorskip("torch")
    X, y = _data(rng)
    a, b = _net(), _net()
    ha = nn.fit(a, X, y, optimizer=nn.Adam(a.parameters()), epochs=1, batch_size=4,
                verbose=0, seed=1)
    hb = nn.fit(b, torch.from_numpy(X).requires_grad_(), torch.from_numpy(y),
                optimizer=nn.Adam(b.parameters()), epochs=1, batch_size=4, verbose=0, seed=1)
    assert ha["loss"] == hb["loss"]
    np.testing.assert_array_equal(nn.predict_batches(a, X), nn.predict_batches(b,
                                                                               torch.from_numpy(X)))


@pytest.mark.parametrize("value", ["False", 0, None, [0]])
def test_training_flag_must_be_a_bool(rng, value):
    X, _ = _data(rng, 2)
    net = _net()
    for layer in (net, nn.Dropout(0.5)):
        with pytest.raises(TypeError, match="training must be True or False"):
            layer.forward(X, training=value)
    np.testing.assert_array_equal(net.forward(X, training=np.False_),
                                  net.forward(X, training=False))


def test_argument_errors_name_the_argument(rng):
    with pytest.raises(TypeError, match="layers must be a list of layers"):
        nn.Sequential(None)
    with pytest.raises(TypeError, match="layers must be a list of layers"):
        nn.Sequential(nn.Dense(2))
    assert len(nn.Sequential(nn.Dense(u) for u in (4, 2)).layers_list) == 2  # any iterable
    net = _net()
    with pytest.raises(TypeError, match="seed must be an integer"):
        net.set_seed("x")
    with pytest.raises(TypeError, match="seed must be an integer"):
        net.set_seed(1.5)
    with pytest.raises(TypeError, match="model must have forward"):
        nn.predict_batches(None, np.zeros((2, 5, 3), F))
    with pytest.raises(ValueError, match="lr must be a finite number"):
        nn.Adam(net.parameters(), lr=10**400)
    with pytest.raises(ValueError, match="sample_weight must be a rectangular array"):
        X, y = _data(rng, 4)
        nn.fit(net, X, y, optimizer=nn.Adam(net.parameters()), verbose=0,
               sample_weight=[[1], [1, 2], 1, 1])


def test_build_arguments_are_named():
    with pytest.raises(TypeError, match="in_features must be an integer"):
        nn.MultiScale(["1"], 3).build(None)
    for rng, err in (("x", TypeError), (-1, ValueError)):
        with pytest.raises(err, match="rng must be a NumPy Generator"):
            nn.Dense(2).build(3, rng=rng)


@pytest.mark.parametrize("merge", ["concat", None])
def test_multiscale_backward_checks_dy(rng, merge):
    """MultiScale / MultiScaleNext backward name a dy that is not the output's gradient (a
    len() / AxisError / reshape error before)."""
    x = rng.random((2, 5, 2)).astype(F)
    for layer in (nn.MultiScale(["1", "2"], 3, merge=merge),
                  nn.MultiScaleNext(["1", "2"], 3, merge=merge)):
        layer.build(2, np.random.default_rng(0))
        y = layer.forward(x, training=True)
        for bad in (None, "x", np.zeros(1, F)):
            with pytest.raises((TypeError, ValueError), match="dy"):
                layer.backward(bad)
        good = (np.ones_like(y) if merge == "concat" else [np.ones_like(a) for a in y])
        assert layer.backward(good).shape == x.shape


def test_layer_from_config_names_bad_tensors():
    with pytest.raises(TypeError, match="tensors must be a state dict"):
        nn.layer_from_config({"class": "Dense", "config": {"units": 2}, "in_features": 3,
                              "built": True}, tensors=[1])


def test_forecaster_predict_progress_bar(rng, capsys):
    """MultiScaleForecaster.predict (through nn.predict_batches): progress=True shows a bar over
    the rows, None stays silent on a short call, False never shows one; same predictions."""
    from chronoscale.models import MultiScaleForecaster

    X, y = rng.random((12, 6, 2)).astype(F), rng.random(12).astype(F)
    m = MultiScaleForecaster(scales=("1", "2"), units=3, random_state=0).fit(X, y, epochs=1,
                                                                            verbose=0)
    outs = []
    for progress in (True, None, False):
        capsys.readouterr()
        outs.append(m.predict(X, batch_size=5, progress=progress))
        assert ("predict" in capsys.readouterr().err) == (progress is True), progress
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])
    with pytest.raises(TypeError, match="progress must be True or False"):
        m.predict(X, progress="yes")
