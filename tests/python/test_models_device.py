"""Models with ``device="cuda"`` on a stand-in for CuPy (tests/python/fake_cupy.py): the native
kernels run on the CPU, but every array the models keep or pass between ops is a "device" array
that refuses implicit conversion to NumPy and mixing with host arrays, as CuPy's do. So these
tests find host/device mistakes in the Python glue on machines without a GPU, and the results
must equal the CPU model's. The real GPU runs are the gpu-marked tests."""

from __future__ import annotations

import numpy as np
import pytest

import chronoscale
from chronoscale import nn
from chronoscale.models import SeedForecaster
from chronoscale.nn import device as device_mod

import fake_cupy


@pytest.fixture
def fake(monkeypatch):
    cp = fake_cupy.install(monkeypatch)
    monkeypatch.setattr(device_mod, "require_cuda", lambda: None)
    return cp


def _on_device(net):
    return all(isinstance(p.data, fake_cupy.FakeArray) for p in net.parameters())


def test_fake_array_refuses_host_mixing(fake):
    a = fake.asarray(np.ones(3))
    with pytest.raises(TypeError):
        np.asarray(a)
    with pytest.raises(TypeError):
        a + np.ones(3)
    assert isinstance(a + 1.0, fake_cupy.FakeArray)
    assert isinstance(np.concatenate([a, a]), fake_cupy.FakeArray)


def test_device_argument_is_checked():
    with pytest.raises(ValueError, match="device"):
        nn.Dense(3).build(2).to("gpu")
    if not chronoscale.build_info().get("cuda"):
        with pytest.raises(RuntimeError, match="without CUDA"):
            nn.Dense(3).build(2).to("cuda")


def test_seed_forecaster(fake, rng, tmp_path):
    X = rng.standard_normal((40, 10, 3)).astype(np.float32)
    y = rng.uniform(0, 1, 40)
    Xv, yv = X[:8], y[:8]
    kw = dict(random_state=0, units=6, filters=5)
    cpu = SeedForecaster(**kw).fit(X, y, epochs=2, batch_size=16, verbose=0,
                                   validation_data=(Xv, yv), metrics=["mae"])
    dev = SeedForecaster(device="cuda", **kw).fit(X, y, epochs=2, batch_size=16, verbose=0,
                                                  validation_data=(Xv, yv), metrics=["mae"])
    assert _on_device(dev.net)
    assert dev.history_["loss"] == pytest.approx(cpu.history_["loss"], rel=1e-6)
    assert dev.history_["val_mae"] == pytest.approx(cpu.history_["val_mae"], rel=1e-6)
    want = cpu.predict(X)
    got = dev.predict(X)
    assert isinstance(got, np.ndarray) and np.allclose(got, want, rtol=1e-5, atol=1e-6)
    got_dev = dev.predict(fake.asarray(X))
    assert isinstance(got_dev, fake_cupy.FakeArray)
    assert np.allclose(got_dev.get(), want, rtol=1e-5, atol=1e-6)
    assert dev.score(X, y) == pytest.approx(cpu.score(X, y), rel=1e-5)
    path = tmp_path / "seed.csm"
    dev.save(path)
    again = chronoscale.load(path)
    assert again.device == "cuda" and _on_device(again.net)
    assert np.allclose(again.predict(X), want, rtol=1e-5, atol=1e-6)
    host = chronoscale.load(path, device="cpu")
    assert host.device == "cpu" and not _on_device(host.net)
    assert np.allclose(host.predict(X), want, rtol=1e-5, atol=1e-6)


def test_fit_checkpoint_resume_on_device(fake, rng, tmp_path):
    X = rng.standard_normal((24, 8, 2)).astype(np.float32)
    y = rng.uniform(0, 1, 24)
    kw = dict(random_state=1, units=4, filters=3, device="cuda")
    full = SeedForecaster(**kw).fit(X, y, epochs=3, batch_size=8, verbose=0)
    part = SeedForecaster(**kw).fit(X, y, epochs=2, batch_size=8, verbose=0,
                                    checkpoint_dir=tmp_path)
    resumed = SeedForecaster(**kw).fit(X, y, epochs=3, batch_size=8, verbose=0,
                                       checkpoint_dir=tmp_path, resume=True)
    assert part.history_["epoch"] == [1, 2]
    assert np.array_equal(resumed.predict(X), full.predict(X))
