"""chronoscale.nn.fit: learning, bit-reproducibility, early stopping, checkpoints and resume,
progress output, inputs with lengths, errors."""

from __future__ import annotations

import json
import os
import struct
import zlib

import numpy as np
import pytest

from chronoscale import nn


def _data(rng, n=96, T=8, F=3):
    X = rng.standard_normal((n, T, F)).astype(np.float32)
    y = (np.tanh(X[:, -3:, 0].sum(1)) * 0.5 + 0.5).astype(np.float32)
    return X, y


def _model(seed=0, F=3):
    return nn.Sequential([nn.GRU(6, return_sequences=True), nn.Dropout(0.2), nn.LSTM(5),
                          nn.Dense(1, activation="sigmoid")]).build(F, rng=seed)


def _weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def _train(X, y, seed, epochs=3, **kw):
    model = _model()
    hist = nn.fit(model, X, y, optimizer=nn.Adam(model.parameters(), lr=1e-2), epochs=epochs,
                  batch_size=16, seed=seed, verbose=0, **kw)
    return model, hist


def test_fit_learns_and_reports_history(rng):
    X, y = _data(rng, n=160)
    model, hist = _train(X[:128], y[:128], seed=1, epochs=8,
                         validation_data=(X[128:], y[128:]), metrics=["mae", "r2"])
    assert hist["epoch"] == list(range(1, 9))
    for key in ("loss", "mae", "r2", "val_loss", "val_mae", "val_r2", "seqs_per_s"):
        assert len(hist[key]) == 8 and all(np.isfinite(hist[key])), key
    assert hist["loss"][-1] < 0.6 * hist["loss"][0]
    assert hist["val_loss"][-1] < hist["val_loss"][0]
    assert hist.best_epoch is not None and hist.stopped_epoch is None


def test_fit_skips_the_data_gradient_and_restores_the_flag(rng, monkeypatch):
    from chronoscale import ops

    seen = []
    real = ops.conv1d_backward

    def spy(dy, cache, input_grad=True):
        seen.append(input_grad)
        return real(dy, cache, input_grad)

    monkeypatch.setattr(ops, "conv1d_backward", spy)
    X, y = _data(rng, n=32)
    model = nn.Sequential([nn.Conv1d(4, 3, activation="relu"), nn.LSTM(3),
                           nn.Dense(1)]).build(3, rng=0)
    nn.fit(model, X, y, optimizer=nn.Adam(model.parameters()), epochs=1, batch_size=16,
           verbose=0)
    assert seen == [False, False]  # two batches, no dx for the data
    assert model.input_grad is True and "input_grad" not in model.__dict__
    model.forward(X[:4], training=True)
    assert model.backward(np.ones((4, 1), np.float32)).shape == X[:4].shape
    assert seen[-1] is True


def test_same_seed_gives_bit_identical_weights(rng):
    X, y = _data(rng)
    a, ha = _train(X, y, seed=123)
    b, hb = _train(X, y, seed=123)
    c, _ = _train(X, y, seed=124)
    for k, v in _weights(a).items():
        np.testing.assert_array_equal(v, b.state_dict()[k])
    assert ha["loss"] == hb["loss"]
    assert any(not np.array_equal(v, c.state_dict()[k]) for k, v in _weights(a).items())


def test_early_stopping_restores_best(rng):
    X, y = _data(rng)
    nval = 17
    scores = iter([3.0, 2.0, 2.5, 2.6, 2.7, 1.0])

    def fake(pred, target):  # validation calls see nval rows; train batches 16
        return next(scores) if len(pred) == nval else 0.0

    val = (X[:nval], y[:nval])
    model, hist = _train(X, y, seed=5, epochs=6, validation_data=val,
                         metrics={"fake": fake}, monitor="val_fake", patience=2)
    assert hist.stopped_epoch == 4 and hist.best_epoch == 2 and hist.best == 2.0
    assert len(hist["loss"]) == 4
    ref, _ = _train(X, y, seed=5, epochs=2)  # the same run stopped after epoch 2
    for k, v in ref.state_dict().items():
        np.testing.assert_array_equal(v, model.state_dict()[k])


def test_checkpoint_and_resume_match_uninterrupted_run(rng, tmp_path):
    X, y = _data(rng)
    val = (X[:20], y[:20])
    full, hfull = _train(X, y, seed=9, epochs=4, validation_data=val)
    ck = tmp_path / "ck"
    _, h2 = _train(X, y, seed=9, epochs=2, validation_data=val, checkpoint_dir=ck,
                   checkpoint_every=1)
    assert sorted(os.listdir(ck)) == ["ckpt-00001.csm", "ckpt-00002.csm"]
    resumed, hres = _train(X, y, seed=None, epochs=4, validation_data=val, checkpoint_dir=ck,
                           resume=True)  # seed comes from the checkpoint
    for k, v in full.state_dict().items():
        np.testing.assert_array_equal(v, resumed.state_dict()[k])
    assert hres["loss"] == hfull["loss"] and hres["epoch"] == [1, 2, 3, 4]
    assert (ck / "ckpt-00004.csm").exists()
    # resuming from an explicit file; a finished run trains no further
    again, h_again = _train(X, y, seed=None, epochs=4, resume=ck / "ckpt-00004.csm")
    for k, v in full.state_dict().items():
        np.testing.assert_array_equal(v, again.state_dict()[k])
    assert h_again["epoch"] == [1, 2, 3, 4]
    # checkpoint every 3 epochs
    _train(X, y, seed=1, epochs=4, checkpoint_dir=tmp_path / "ck3", checkpoint_every=3)
    assert sorted(os.listdir(tmp_path / "ck3")) == ["ckpt-00003.csm", "ckpt-00004.csm"]


def test_progress_output(rng, capsys):
    X, y = _data(rng, n=40)
    model = _model()
    nn.fit(model, X, y, optimizer=nn.Adam(model.parameters()), epochs=2, verbose=0, seed=0)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    nn.fit(model, X, y, optimizer=nn.Adam(model.parameters()), epochs=2, verbose=1, seed=0,
           metrics=["mae"])
    err = capsys.readouterr().err
    assert "Epoch 2/2" in err and "loss=" in err and "seq/s" in err and "mae=" in err
    nn.fit(model, X, y, optimizer=nn.Adam(model.parameters()), epochs=1, verbose=2, seed=0)
    assert "Epoch 1/1 loss=" in capsys.readouterr().out


def test_dict_inputs_lengths_and_sample_weight(rng):
    X, y = _data(rng, n=48)
    lengths = rng.integers(1, X.shape[1] + 1, size=len(X))
    model = _model()
    hist = nn.fit(model, {"x": X, "lengths": lengths}, y,
                  optimizer=nn.Adam(model.parameters(), lr=1e-2), epochs=2, seed=0, verbose=0,
                  validation_data=({"x": X[:8], "lengths": lengths[:8]}, y[:8]))
    assert len(hist["val_loss"]) == 2
    pred = nn.predict_batches(model, {"x": X, "lengths": lengths}, batch_size=7)
    assert pred.shape == (48, 1)
    # the weights scale the loss mean(w * loss): w = 2 at lr 0.05 is w = 1 at lr 0.1 (plain SGD)
    runs = []
    for lr, w in ((0.1, None), (0.05, np.full(len(X), 2.0, np.float32))):
        m = _model()
        nn.fit(m, X, y, optimizer=nn.SGD(m.parameters(), lr=lr), epochs=1, seed=0,
               verbose=0, sample_weight=w)
        runs.append(_weights(m))
    fresh = _weights(_model())
    assert any(not np.array_equal(v, fresh[k]) for k, v in runs[0].items())
    for k, v in runs[0].items():
        np.testing.assert_allclose(runs[1][k], v, rtol=1e-5, atol=1e-7)


def test_fit_errors(rng, tmp_path):
    X, y = _data(rng, n=20)
    model = _model()
    opt = nn.Adam(model.parameters())
    with pytest.raises(ValueError, match="y has"):
        nn.fit(model, X, y[:5], optimizer=opt, verbose=0)
    with pytest.raises(ValueError, match="monitor"):
        nn.fit(model, X, y, optimizer=opt, monitor="val_loss", verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        nn.fit(model, X, y, optimizer=opt, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="metric"):
        nn.fit(model, X, y, optimizer=opt, metrics=["auc"], verbose=0)
    bad = tmp_path / "bad.csm"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a valid chronoscale file"):
        nn.fit(model, X, y, optimizer=opt, resume=bad, verbose=0)
    other = nn.Sequential([nn.LSTM(3), nn.Dense(1)]).build(3, rng=0)
    _train(X, y, seed=0, epochs=1, checkpoint_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="tensor 'model/0.weight_ih' has shape"):
        nn.fit(other, X, y, optimizer=nn.Adam(other.parameters()), epochs=2,
               checkpoint_dir=tmp_path / "c", resume=True, verbose=0)


@pytest.mark.parametrize("kw,exc,match", [
    ({"epochs": 0}, ValueError, "epochs must be >= 1, got 0"),
    ({"epochs": 2.5}, TypeError, "epochs must be an integer, got 2.5"),
    ({"epochs": 3.0}, TypeError, "epochs must be an integer"),
    ({"epochs": True}, TypeError, "epochs must be an integer"),
    ({"batch_size": 2.5}, TypeError, "batch_size must be an integer"),
    ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
    ({"seed": 1.5}, TypeError, "seed must be an integer"),
    ({"seed": -1}, ValueError, "seed must be >= 0"),
    ({"checkpoint_every": 0}, ValueError, "checkpoint_every must be >= 1, got 0"),
    ({"checkpoint_every": 1.5}, TypeError, "checkpoint_every must be an integer"),
])
def test_fit_rejects_bad_integer_arguments(rng, tmp_path, kw, exc, match):
    X, y = _data(rng, n=16)
    model = _model()
    before = _weights(model)
    with pytest.raises(exc, match=match):
        nn.fit(model, X, y, optimizer=nn.Adam(model.parameters()), verbose=0,
               checkpoint_dir=tmp_path / "ck", **kw)
    assert not (tmp_path / "ck").exists()  # nothing trained, nothing written
    for k, v in before.items():
        np.testing.assert_array_equal(v, model.state_dict()[k])
    # NumPy integers are integers
    nn.fit(model, X, y, optimizer=nn.Adam(model.parameters()), epochs=np.int64(1),
           batch_size=np.int32(8), seed=np.uint32(3), checkpoint_every=np.int64(1), verbose=0)


@pytest.mark.parametrize("weight,exc,match", [
    (np.full(16, np.nan), ValueError, "sample_weight contains NaN or inf"),
    (np.r_[np.ones(15), np.inf], ValueError, "sample_weight contains NaN or inf"),
    (np.r_[np.ones(15), -0.5], ValueError, "sample_weight must be >= 0"),
    (np.zeros(16), ValueError, "sample_weight is all zeros"),
    (np.ones(15), ValueError, "sample_weight has 15 rows, x has 16"),
    (np.array(1.0), ValueError, "sample_weight has no rows"),
    (np.full(16, "a"), TypeError, "sample_weight must be numeric"),
])
def test_fit_rejects_bad_sample_weight(rng, weight, exc, match):
    X, y = _data(rng, n=16)
    model = _model()
    with pytest.raises(exc, match=match):
        nn.fit(model, X, y, optimizer=nn.Adam(model.parameters()), sample_weight=weight,
               verbose=0)
    # zeros on some rows, a list: fine
    hist = nn.fit(model, X, y, optimizer=nn.Adam(model.parameters()), epochs=1, verbose=0,
                  sample_weight=[0.0] * 8 + [1.5] * 8)
    assert np.isfinite(hist["loss"]).all()


def test_resume_rejects_a_relabelled_checkpoint_tensor(rng, tmp_path):
    X, y = _data(rng, n=16)
    _train(X, y, seed=0, epochs=1, checkpoint_dir=tmp_path)
    path = tmp_path / "ckpt-00001.csm"
    raw = path.read_bytes()
    hsize = struct.unpack_from("<Q", raw, 16)[0]
    start = (32 + hsize + 63) // 64 * 64
    for name in ("model/0.weight_ih", "optim/0.m"):
        header = json.loads(raw[32:32 + hsize])
        entry = next(e for e in header["tensors"] if e["name"] == name)
        assert entry["dtype"] == "float32"
        entry["dtype"] = "int32"  # same bytes, valid CRCs: only the label lies
        hb = json.dumps(header).encode()
        pad = (32 + len(hb) + 63) // 64 * 64 - 32 - len(hb)
        bad = tmp_path / "bad" / "ckpt-00001.csm"
        bad.parent.mkdir(exist_ok=True)
        bad.write_bytes(struct.pack("<8sIIQII", raw[:8], 1, 0, len(hb), zlib.crc32(hb), 0)
                        + hb + b"\0" * pad + raw[start:])
        model = _model()
        before = _weights(model)
        with pytest.raises(ValueError, match=f"tensor '{name}' has dtype int32, the model's "
                                             "parameter is float32"):
            nn.fit(model, X, y, optimizer=nn.Adam(model.parameters()), epochs=2, verbose=0,
                   resume=bad)
        for k, v in before.items():  # refused before anything was loaded
            np.testing.assert_array_equal(v, model.state_dict()[k])
