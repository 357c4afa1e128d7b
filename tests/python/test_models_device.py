"""Models with ``device="cuda"``, compared with the same model on the CPU.

Each test runs twice: on a stand-in for CuPy (tests/python/fake_cupy.py: the native kernels run
on the CPU, but every array the models keep or pass between ops is a "device" array that refuses
implicit conversion to NumPy and mixing with host arrays, as CuPy's do), where results must
equal the CPU model's; and, gpu-marked, on a real GPU with CuPy, where float32 results must
agree within the differences of GPU summation orders compounded over a few training steps."""

from __future__ import annotations

import types

import fake_cupy
import numpy as np
import pytest

import chronoscale
from chronoscale import nn
from chronoscale.models import SeedForecaster
from chronoscale.nn import device as device_mod


@pytest.fixture(params=["fake", pytest.param("cuda", marks=pytest.mark.gpu)])
def dxp(request, monkeypatch):
    """``asarray`` onto the device (the CuPy stand-in, or CuPy on a real GPU) and the relative
    tolerance of device vs CPU results: exact on the stand-in; on a GPU float32 sums run in
    other orders, compounded over a few Adam steps."""
    if request.param == "cuda":
        import cupy

        return types.SimpleNamespace(asarray=cupy.asarray, tol=2e-3)
    cp = fake_cupy.install(monkeypatch)
    monkeypatch.setattr(device_mod, "require_cuda", lambda: None)
    return types.SimpleNamespace(asarray=cp.asarray, tol=1e-6)


def _on_device(net):
    return all(device_mod.is_device_array(p.data) for p in net.parameters())


def test_fake_array_refuses_host_mixing(monkeypatch):
    fake = fake_cupy.install(monkeypatch)
    a = fake.asarray(np.ones(3))
    with pytest.raises(TypeError):
        np.asarray(a)
    with pytest.raises(TypeError):
        a + np.ones(3)
    assert isinstance(a + 1.0, fake_cupy.FakeArray)
    assert isinstance(np.concatenate([a, a]), fake_cupy.FakeArray)


def test_device_argument_is_checked(rng):
    with pytest.raises(ValueError, match="device"):
        nn.Dense(3).build(2).to("gpu")
    X, y = rng.standard_normal((8, 6, 2)), rng.uniform(0, 1, 8)
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'"):
        SeedForecaster(device="tpu").fit(X, y, epochs=1, verbose=0)
    info = chronoscale.build_info()
    if not info.get("cuda"):
        with pytest.raises(RuntimeError, match="without CUDA"):
            nn.Dense(3).build(2).to("cuda")
    if not info.get("cuda_available"):
        with pytest.raises(RuntimeError, match="device='cuda'"):
            SeedForecaster(device="cuda").fit(X, y, epochs=1, verbose=0)


def test_seed_forecaster(dxp, rng, tmp_path):
    X = rng.standard_normal((40, 10, 3)).astype(np.float32)
    y = rng.uniform(0, 1, 40)
    Xv, yv = X[:8], y[:8]
    kw = dict(random_state=0, units=6, filters=5)
    cpu = SeedForecaster(**kw).fit(X, y, epochs=2, batch_size=16, verbose=0,
                                   validation_data=(Xv, yv), metrics=["mae"])
    dev = SeedForecaster(device="cuda", **kw).fit(X, y, epochs=2, batch_size=16, verbose=0,
                                                  validation_data=(Xv, yv), metrics=["mae"])
    assert _on_device(dev.net)
    tol = dxp.tol
    assert dev.history_["loss"] == pytest.approx(cpu.history_["loss"], rel=tol)
    assert dev.history_["val_mae"] == pytest.approx(cpu.history_["val_mae"], rel=tol)
    want = cpu.predict(X)
    got = dev.predict(X)
    assert isinstance(got, np.ndarray) and np.allclose(got, want, rtol=10 * tol, atol=tol)
    got_dev = dev.predict(dxp.asarray(X))
    assert device_mod.is_device_array(got_dev)
    assert np.allclose(got_dev.get(), want, rtol=10 * tol, atol=tol)
    assert dev.score(X, y) == pytest.approx(cpu.score(X, y), rel=10 * tol, abs=tol)
    path = tmp_path / "seed.csm"
    dev.save(path)
    again = chronoscale.load(path)
    assert again.device == "cuda" and _on_device(again.net)
    assert np.allclose(again.predict(X), got, rtol=1e-5, atol=1e-6)
    host = chronoscale.load(path, device="cpu")
    assert host.device == "cpu" and not _on_device(host.net)
    assert np.allclose(host.predict(X), got, rtol=10 * tol, atol=tol)


def test_fit_checkpoint_resume_on_device(dxp, rng, tmp_path):
    X = rng.standard_normal((24, 8, 2)).astype(np.float32)
    y = rng.uniform(0, 1, 24)
    kw = dict(random_state=1, units=4, filters=3, device="cuda")
    full = SeedForecaster(**kw).fit(X, y, epochs=3, batch_size=8, verbose=0)
    part = SeedForecaster(**kw).fit(X, y, epochs=2, batch_size=8, verbose=0,
                                    checkpoint_dir=tmp_path)
    resumed = SeedForecaster(**kw).fit(X, y, epochs=3, batch_size=8, verbose=0,
                                       checkpoint_dir=tmp_path, resume=True)
    assert part.history_["epoch"] == [1, 2]
    assert np.allclose(resumed.predict(X), full.predict(X), rtol=dxp.tol, atol=dxp.tol)


@pytest.mark.parametrize("scales,cell", [(["1", "4"], "lstm"), (["1", "1h"], "gru")])
def test_multiscale_forecaster(dxp, rng, tmp_path, scales, cell):
    from chronoscale.models import MultiScaleForecaster

    B, T, F = 30, 12, 3
    X = rng.standard_normal((B, T, F)).astype(np.float32)
    y = rng.standard_normal((B, 2))
    L = rng.integers(1, T + 1, B)
    ts = np.cumsum(rng.integers(60, 3000, (B, T)), axis=1)
    kw = dict(scales=scales, cell=cell, units=5, random_state=0)
    fit_kw = dict(lengths=L, timestamps=ts, epochs=2, batch_size=8, verbose=0,
                  validation_data=(X[:6], y[:6], L[:6], ts[:6]))
    cpu = MultiScaleForecaster(**kw).fit(X, y, **fit_kw)
    dev = MultiScaleForecaster(device="cuda", **kw).fit(X, y, **fit_kw)
    assert _on_device(dev.net)
    tol = dxp.tol
    assert dev.history_["val_loss"] == pytest.approx(cpu.history_["val_loss"], rel=10 * tol)
    want = cpu.predict(X, L, ts)
    got = dev.predict(X, L, ts)
    assert isinstance(got, np.ndarray) and np.allclose(got, want, rtol=10 * tol, atol=10 * tol)
    assert np.allclose(dev.predict(dxp.asarray(X), L, ts).get(), got, rtol=1e-5, atol=1e-6)
    ex = dev.explain(X, L, ts)
    assert isinstance(ex, np.ndarray) and np.allclose(ex, cpu.explain(X, L, ts), atol=10 * tol)
    assert np.allclose(dev.scale_weights_, cpu.scale_weights_, atol=10 * tol)
    assert dev.score(X, y, L, ts) == pytest.approx(cpu.score(X, y, L, ts), rel=100 * tol)
    dev.save(tmp_path / "ms.csm")
    back = chronoscale.load(tmp_path / "ms.csm", device="cpu")
    assert np.allclose(back.predict(X, L, ts), got, rtol=10 * tol, atol=10 * tol)


@pytest.mark.parametrize("loss,scales,dropout", [("full", ["1", "4"], 0.0),
                                                ("sampled", ["1", "1h"], 0.3)])
def test_multiscale_recommender(dxp, rng, tmp_path, loss, scales, dropout):
    from chronoscale.models import MultiScaleRecommender

    V, B, T = 30, 12, 15
    ids = rng.integers(0, V, (B, T))
    L = rng.integers(1, T + 1, B)
    ts = np.cumsum(rng.integers(60, 4000, (B, T)), axis=1)
    kw = dict(num_items=V, dim=4, units=3, scales=scales, random_state=0, max_len=T,
              dropout=dropout)
    fit_kw = dict(epochs=2, batch_size=5, lengths=L, timestamps=ts, verbose=0, loss=loss,
                  num_negatives=7)
    cpu = MultiScaleRecommender(**kw).fit(ids, **fit_kw)
    dev = MultiScaleRecommender(device="cuda", **kw).fit(ids, **fit_kw)
    assert _on_device(dev.net)
    tol = dxp.tol
    assert dev.history_["loss"] == pytest.approx(cpu.history_["loss"], rel=10 * tol)
    q = dict(lengths=L, timestamps=ts)
    top_d, s_d = dev.recommend(ids, k=5, **q)
    top_c, s_c = cpu.recommend(ids, k=5, **q)
    assert isinstance(top_d, np.ndarray) and s_d.shape == s_c.shape
    assert np.allclose(s_d, s_c, rtol=10 * tol, atol=10 * tol)  # the k best scores
    # the items the device picked score (on the CPU model) what the device says
    assert np.allclose(cpu.score(ids, top_d, **q), s_d, rtol=10 * tol, atol=10 * tol)
    cand = rng.integers(0, V, (B, 3))
    assert np.allclose(dev.score(ids, cand, **q), cpu.score(ids, cand, **q), atol=10 * tol)
    parts_d, names = dev.explain(ids, cand[:, 0], **q)  # per-scale parts, on the host
    assert isinstance(parts_d, np.ndarray) and names == cpu.explain(ids, cand[:, 0], **q)[1]
    assert np.allclose(parts_d, cpu.explain(ids, cand[:, 0], **q)[0], rtol=10 * tol,
                       atol=10 * tol)
    every = dev.score(ids, **q)  # every item's score, on the host
    assert isinstance(every, np.ndarray) and every.shape == (B, V)
    assert np.allclose(every, cpu.score(ids, **q), rtol=10 * tol, atol=10 * tol)
    assert np.allclose(dev.embed_users(ids, **q), cpu.embed_users(ids, **q), atol=10 * tol)
    ev_d, ev_c = dev.evaluate(ids, ids[:, 0], **q), cpu.evaluate(ids, ids[:, 0], **q)
    assert ev_d["loss"] == pytest.approx(ev_c["loss"], rel=10 * tol)
    dev.save(tmp_path / "rec.csm")
    back = chronoscale.load(tmp_path / "rec.csm", device="cpu")
    assert np.allclose(back.recommend(ids, k=5, **q)[1], s_d, rtol=10 * tol, atol=10 * tol)


@pytest.mark.parametrize("output", ["last", "causal"])
def test_multiscale_layer_forward_backward(dxp, rng, output):
    B, T, C = 5, 13, 3
    x = rng.standard_normal((B, T, C))
    L = rng.integers(1, T + 1, B)
    ts = np.cumsum(rng.integers(100, 5000, (B, T)), axis=1)
    results = []
    for device in ("cpu", "cuda"):
        layer = nn.MultiScale(["1", "3", "2h"], 4, cell="gru", output=output).build(
            C, rng=0, dtype="float64").to(device)
        xd = dxp.asarray(x) if device == "cuda" else x
        y = layer.forward(xd, lengths=L, timestamps=ts)
        dy = np.ones(y.shape)
        dx = layer.backward(dxp.asarray(dy) if device == "cuda" else dy)
        grads = [device_mod.to_host(p.grad) for p in layer.parameters()]
        results.append((device_mod.to_host(y), device_mod.to_host(dx), grads))
    (y0, dx0, g0), (y1, dx1, g1) = results
    assert np.allclose(y0, y1, atol=1e-11) and np.allclose(dx0, dx1, atol=1e-11)
    for a, b in zip(g0, g1, strict=True):
        assert np.allclose(a, b, atol=1e-10)


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["bfloat16", "tfloat32", "tf32x3"])
def test_recommender_bf16_softmax_trains_like_float32(rng, precision):
    """fit(softmax_precision="bfloat16" / "tfloat32" / "tf32x3") on the GPU: the losses follow
    the float32 run's."""
    from chronoscale.models import MultiScaleRecommender

    V, B, T = 300, 64, 30
    ids = rng.integers(0, V, (B, T))
    kw = dict(num_items=V, dim=16, units=16, random_state=0, device="cuda")
    fit_kw = dict(epochs=3, batch_size=16, verbose=0)
    f32 = MultiScaleRecommender(**kw).fit(ids, **fit_kw)
    b16 = MultiScaleRecommender(**kw).fit(ids, softmax_precision=precision, **fit_kw)
    assert b16.history_["loss"] == pytest.approx(f32.history_["loss"], rel=2e-2)



def test_recommender_fit_reads_losses_after_queuing(monkeypatch, rng):
    """On a device, fit() reads no batch's loss back (a wait for the GPU) until the epoch's
    batches are all queued (verbose=0: no progress bar to update); the history's loss is the
    same as the CPU model's."""
    from chronoscale.models import MultiScaleRecommender
    from chronoscale.models._recnet import RecNet

    V, B, T = 20, 12, 9
    ids, L = rng.integers(0, V, (B, T)), rng.integers(2, T + 1, B)
    kw = dict(num_items=V, dim=4, units=3, scales=["1", "3"], random_state=0, max_len=T)
    fit_kw = dict(epochs=1, batch_size=4, lengths=L, verbose=0)
    cpu = MultiScaleRecommender(**kw).fit(ids, **fit_kw)
    cp = fake_cupy.install(monkeypatch)
    monkeypatch.setattr(device_mod, "require_cuda", lambda: None)
    events = []
    train_loss = RecNet.train_loss

    def logged(self, *a, **k):
        events.append("step")
        return train_loss(self, *a, **k)

    monkeypatch.setattr(RecNet, "train_loss", logged)
    for name in ("__float__", "get"):
        orig = getattr(fake_cupy.FakeArray, name)
        monkeypatch.setattr(fake_cupy.FakeArray, name,
                            lambda self, _f=orig: events.append("read") or _f(self))
    dev = MultiScaleRecommender(device="cuda", **kw).fit(ids, **fit_kw)
    assert cp is not None and events.count("step") == 3
    assert "read" in events and "step" not in events[events.index("read"):]
    assert events.count("read") == 1  # the epoch's losses in one copy
    assert dev.history_["loss"] == pytest.approx(cpu.history_["loss"], rel=1e-6)


def _log_steps_and_reads(monkeypatch) -> list:
    """A list that gets "step" at each nn.Adam step and "read" at each device value read on
    the host (``float()`` / ``.get()`` of a stand-in array): the order of waits in a loop."""
    events = []
    step = nn.Adam.step
    monkeypatch.setattr(nn.Adam, "step", lambda self: events.append("step") or step(self))
    for name in ("__float__", "get"):
        orig = getattr(fake_cupy.FakeArray, name)
        monkeypatch.setattr(fake_cupy.FakeArray, name,
                            lambda self, _f=orig: events.append("read") or _f(self))
    return events


def _small_net(rng):
    return nn.Sequential([nn.LSTM(4), nn.Dense(1)]).build(3, np.random.default_rng(0),
                                                          "float32")


@pytest.mark.parametrize("loss", ["mse", "bce_with_logits"])
def test_fit_reads_losses_and_metrics_after_queuing(monkeypatch, rng, loss):
    """On a device, nn.fit reads no batch's loss or prediction back (a wait for the GPU) until
    the epoch's batches are all queued (verbose=0: no progress bar to update); the history's
    losses and metrics are the CPU model's, and sample weights still count."""
    X = rng.standard_normal((20, 6, 3)).astype(np.float32)
    y, w = rng.uniform(0, 1, (20, 1)), rng.uniform(0.5, 2, 20)
    fit_kw = dict(loss=loss, epochs=2, batch_size=8, verbose=0, metrics=["mae", "r2"],
                  sample_weight=w, seed=3)
    cpu_net = _small_net(rng)
    cpu = nn.fit(cpu_net, X, y, optimizer=nn.Adam(cpu_net.parameters()), **fit_kw)
    fake_cupy.install(monkeypatch)
    monkeypatch.setattr(device_mod, "require_cuda", lambda: None)
    events = _log_steps_and_reads(monkeypatch)
    net = _small_net(rng).to("cuda")
    assert _on_device(net)
    dev = nn.fit(net, X, y, optimizer=nn.Adam(net.parameters()), **fit_kw)
    runs = [k for i, k in enumerate(events) if i == 0 or events[i - 1] != k]
    assert runs == ["step", "read", "step", "read"]  # per epoch: 3 batches, then the reads
    assert events.count("step") == 6
    for key in ("loss", "mae", "r2"):
        assert dev[key] == pytest.approx(cpu[key], rel=1e-6), key


def test_fit_reads_the_pending_losses_in_one_copy_and_bounds_them(monkeypatch, rng):
    """Without metrics only the losses wait (no predictions kept) and they come back in one
    copy per read; at most _MAX_PENDING batches wait, whatever the epoch's length."""
    from chronoscale.nn import training

    X = rng.standard_normal((24, 6, 3)).astype(np.float32)
    y = rng.uniform(0, 1, (24, 1))
    cpu_net = _small_net(rng)
    cpu = nn.fit(cpu_net, X, y, optimizer=nn.Adam(cpu_net.parameters()), epochs=2,
                 batch_size=4, verbose=0, seed=1)
    fake_cupy.install(monkeypatch)
    monkeypatch.setattr(device_mod, "require_cuda", lambda: None)
    events = _log_steps_and_reads(monkeypatch)
    for cap, runs in ((256, ["step", "read"] * 2), (4, ["step", "read"] * 4)):
        monkeypatch.setattr(training, "_MAX_PENDING", cap)
        events.clear()
        net = _small_net(rng).to("cuda")
        dev = nn.fit(net, X, y, optimizer=nn.Adam(net.parameters()), epochs=2, batch_size=4,
                     verbose=0, seed=1)
        assert [k for i, k in enumerate(events) if i == 0 or events[i - 1] != k] == runs
        assert events.count("read") == len(runs) // 2  # one copy per read point
        assert dev["loss"] == pytest.approx(cpu["loss"], rel=1e-6)


def test_fit_checks_bce_targets_once_up_front(rng):
    """fit(loss="bce_with_logits") refuses targets outside [0, 1] before training (the batches'
    losses do not check them again) and leaves the weights as they were."""
    X = rng.standard_normal((12, 6, 3)).astype(np.float32)
    y = rng.uniform(0, 1, (12, 1))
    y[7] = 1.5
    net = _small_net(rng)
    before = [p.data.copy() for p in net.parameters()]
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        nn.fit(net, X, y, optimizer=nn.Adam(net.parameters()), loss="bce_with_logits",
               verbose=0)
    ok = np.clip(y, 0, 1)
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):  # validation targets too
        nn.fit(net, X, ok, optimizer=nn.Adam(net.parameters()), loss="bce_with_logits",
               verbose=0, validation_data=(X[:4], y[5:9]))
    assert all(np.array_equal(a, p.data) for a, p in zip(before, net.parameters()))
    # checked in the model's dtype, as the losses see the targets (1 + 1e-9 is 1 in float32)
    near = ok.copy()
    near[0] = 1 + 1e-9
    nn.fit(net, X, near, optimizer=nn.Adam(net.parameters()), loss="bce_with_logits",
           verbose=0, epochs=1)


@pytest.mark.gpu
def test_to_device_many_uploads_through_pinned_staging(rng):
    """On a GPU the batch's index arrays go up in one native copy (pinned staging, CuPy's
    current stream): the same values and shapes as cupy.asarray, reused staging blocks never
    mixing two copies, empty arrays included."""
    import cupy

    assert device_mod._native_upload()
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        outs = []
        for n in (5, 100_000, 0, 3_000_000):  # the last one: past the 16 MiB staging limit
            arrays = [rng.integers(-9, 9, n), rng.integers(0, 2**40, (2, n)), np.arange(3)]
            outs.append((arrays, device_mod.to_device_many(arrays, "cuda")))
        stream.synchronize()
    for arrays, got in outs:
        for a, g in zip(arrays, got, strict=True):
            assert isinstance(g, cupy.ndarray) and g.shape == a.shape and g.dtype == np.int64
            np.testing.assert_array_equal(cupy.asnumpy(g), a)
    with pytest.raises(ValueError, match="must hold as many values of one dtype"):
        chronoscale._core.cuda_upload(np.arange(4), cupy.empty(3, np.int64))
    with pytest.raises(ValueError, match="dst must be a CUDA array"):
        chronoscale._core.cuda_upload(np.arange(4), np.arange(4))


@pytest.mark.gpu
def test_to_device_uploads_through_pinned_staging(rng):
    """to_device (nn.fit's per-batch x, y and weights) copies host arrays of the native dtypes
    through the native staging and others through CuPy: the same values, dtypes and shapes
    either way, non-contiguous and converted inputs included."""
    import cupy

    assert device_mod._native_upload()
    x = rng.standard_normal((64, 50, 7))
    cases = [(x, None), (x, np.float32), (x[:, ::2], np.float32), (x.astype(np.float32), None),
             (rng.integers(0, 9, (3, 4)).astype(np.int32), None), (np.arange(5) > 2, None),
             (np.zeros((0, 3)), np.float32), ([1.0, 2.5], np.float32)]
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        outs = [device_mod.to_device(a, "cuda", dtype) for a, dtype in cases]
        stream.synchronize()
    for (a, dtype), g in zip(cases, outs, strict=True):
        want = np.ascontiguousarray(a, dtype=dtype)
        assert isinstance(g, cupy.ndarray) and g.flags.c_contiguous
        assert g.dtype == want.dtype and g.shape == want.shape
        np.testing.assert_array_equal(cupy.asnumpy(g), want)
    # device arrays stay with CuPy: a strided CuPy view, and a torch CUDA tensor (when there)
    g = device_mod.to_device(cupy.asarray(x)[:, ::2], "cuda", np.float32)
    np.testing.assert_array_equal(cupy.asnumpy(g), x[:, ::2].astype(np.float32))
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        g = device_mod.to_device(torch.from_numpy(x).cuda(), "cuda")
        assert isinstance(g, cupy.ndarray)
        np.testing.assert_array_equal(cupy.asnumpy(g), x)
