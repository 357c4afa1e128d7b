"""The recommender's fast paths give what the plain definitions give: the blocked full softmax,
MultiScaleNext's row gather / scatter (vs gather_causal and np.add.at), float64."""

from __future__ import annotations

import numpy as np
import pytest

import chronoscale
from chronoscale import nn, ops
from chronoscale.models import MultiScaleRecommender, _recnet
from chronoscale.nn.multiscale_next import closed_through

from helpers import random_lengths, rel_error


def test_full_softmax_matches_dense(rng):
    N, V, K = 23, 7, 5
    z, F = rng.normal(size=(N, K)), rng.normal(size=(V, K))
    target = rng.integers(0, V, N)
    value, dz, dF = ops.full_softmax_loss(z, F, target)
    logits = z @ F.T
    lse = logits.max(1) + np.log(np.exp(logits - logits.max(1)[:, None]).sum(1))
    assert value == pytest.approx(np.mean(lse - logits[np.arange(N), target]), rel=1e-12)
    p = np.exp(logits - lse[:, None])
    p[np.arange(N), target] -= 1.0
    p /= N
    assert rel_error(dz, p @ F) < 1e-12 and rel_error(dF, p.T @ z) < 1e-12


@pytest.mark.parametrize("loss", ["full", "sampled"])
def test_train_loss_gradients_do_not_depend_on_threads(rng, loss):
    V, B, T = 11, 4, 9
    ids, L = rng.integers(0, V, (B, T)), random_lengths(rng, B, T)
    m = MultiScaleRecommender(num_items=V, dim=3, units=2, scales=["1", "4"], dtype="float64",
                              random_state=0).fit(ids, epochs=1, lengths=L, verbose=0)
    for p in m.net.parameters():
        p.data[...] += rng.normal(scale=0.3, size=p.data.shape)

    def grads():
        m.net.zero_grad()
        value, _ = m.net.train_loss(ids, L, loss=loss, num_negatives=5, seed=3)
        out = {}
        for name, p in m.net.named_parameters():
            g = np.zeros_like(p.data) if p.grad is None else p.grad.copy()
            if p.rows is not None:
                np.add.at(g, p.rows, p.grad_rows)
            out[name] = g
        return value, out

    before = chronoscale.get_num_threads()
    try:
        chronoscale.set_num_threads(1)
        v0, g0 = grads()
        chronoscale.set_num_threads(2)
        v1, g1 = grads()
    finally:
        chronoscale.set_num_threads(before)
    assert v1 == pytest.approx(v0, rel=1e-12)
    for name in g0:
        assert rel_error(g1[name], g0[name]) < 1e-12, name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_packed_running_sums_equal_dense_cumsum(rng, dtype):
    """_Events' time-major running sums (forward and reverse) are np.cumsum over time of the
    zero-padded batch, bit for bit, at every event; lengths include 0, 1 and T."""
    B, T, d = 11, 9, 3
    L = rng.integers(0, T + 1, B)
    L[:3] = [0, 1, T]
    x = rng.normal(size=(B, T, d)).astype(dtype)
    x[np.arange(T)[None, :] >= L[:, None]] = 0
    ev = _recnet._Events(L, T)
    assert ev.size == L.sum()
    assert np.array_equal(np.sort(ev.b * T + ev.t),
                          np.flatnonzero(np.arange(T)[None, :] < L[:, None]))
    packed = x[ev.b, ev.t]
    fwd, rev = ev.cumsum(packed), ev.rcumsum(packed)
    np.testing.assert_array_equal(fwd, np.cumsum(x, axis=1)[ev.b, ev.t])
    np.testing.assert_array_equal(rev, np.cumsum(x[:, ::-1], axis=1)[:, ::-1][ev.b, ev.t])
    b, t = ev.b[::2], ev.t[::2]
    np.testing.assert_array_equal(ev.index(b, t), np.arange(ev.size)[::2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_device_running_sums_equal_packed(rng, monkeypatch, dtype):
    """On device arrays (the CuPy stand-in) _Events sums through one dense cumsum over time;
    they equal the packed loop's (which the GPU path replaces) at every event."""
    import fake_cupy

    B, T, d = 11, 9, 3
    L = rng.integers(0, T + 1, B)
    L[:3] = [0, 1, T]
    ev = _recnet._Events(L, T)
    packed = rng.normal(size=(ev.size, d)).astype(dtype)
    want_f, want_r = ev.cumsum(packed), ev.rcumsum(packed)
    cp = fake_cupy.install(monkeypatch)
    dev = _recnet._Events(L, T)
    got_f, got_r = dev.cumsum(cp.asarray(packed)), dev.rcumsum(cp.asarray(packed))
    assert isinstance(got_f, fake_cupy.FakeArray) and isinstance(got_r, fake_cupy.FakeArray)
    np.testing.assert_allclose(got_f.get(), want_f, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got_r.get(), want_r, rtol=1e-6, atol=1e-6)


def test_scatter_rows_matches_add_at(rng, monkeypatch):
    """The row-gradient sums of MultiScaleNext.backward_rows (ops.scatter_rows over the keys of
    each scale): equal to add.at for the key patterns the layer makes (sorted runs with gaps, a
    wall-clock window's long run) and any other (a key in two runs), on the host and on the
    device stand-in."""
    import fake_cupy

    H, size = 3, 9
    cases = []
    for keys in (np.array([-1, -1, 0, 0, 0, 2, 2, 5, -1, 6, 8, 8]),
                 np.array([3, 3, -1, 1, 1, 3, 0]),
                 np.r_[-1, [1] * 70, -1, -1, [4] * 3, 7],
                 np.full(4, -1)):
        g = rng.normal(size=(len(keys), H))
        want = np.zeros((size, H))
        used = keys >= 0
        np.add.at(want, keys[used], g[used])
        np.testing.assert_allclose(ops.scatter_rows(g, keys, size), want, rtol=1e-14, atol=1e-14)
        cases.append((keys, g, want))
    cp = fake_cupy.install(monkeypatch)
    for keys, g, want in cases:
        got = ops.scatter_rows(cp.asarray(g), cp.asarray(keys), size)
        assert isinstance(got, fake_cupy.FakeArray) and got.shape == (size, H)
        np.testing.assert_allclose(got.get(), want, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("merge", ["concat", None])
def test_multiscale_next_matches_gather_causal(rng, merge):
    B, T, C = 5, 13, 3
    x = rng.normal(size=(B, T, C))
    L = random_lengths(rng, B, T)
    ts = (1_700_000_000 + np.cumsum(rng.integers(0, 3000, (B, T)), axis=1)).astype(np.int64)
    layer = nn.MultiScaleNext(["1", "4", "1h"], [2, 3, 2], cell="gru", count_feature=True,
                              merge=merge).build(C, rng, np.float64)
    y = layer.forward(x, lengths=L, timestamps=ts)
    weights = [tuple(p.data for p in c) for c in layer.cells]
    outs, cache = ops.multiscale_forward(x, layer._scales, weights, cell="gru", lengths=L,
                                         timestamps=ts, count_feature=True)
    idx = [closed_through(s, o.closed_before, L, o.out_lengths)
           for s, o in zip(layer._scales, outs, strict=True)]
    want = [ops.gather_causal(o.y, i) for o, i in zip(outs, idx, strict=True)]
    got = y if merge is None else np.split(y, np.cumsum(layer.units)[:-1], axis=-1)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    dys = [rng.normal(size=w.shape) for w in want]
    layer.zero_grad()
    dx = layer.backward(dys if merge is None else np.concatenate(dys, axis=-1))
    seq = [ops.gather_causal_backward(d, i, o.y.shape[1])
           for d, i, o in zip(dys, idx, outs, strict=True)]
    dx_want, grads = ops.multiscale_backward(seq, None, None, cache)
    assert rel_error(dx, dx_want) < 1e-13
    for params, gs in zip(layer.cells, grads, strict=True):
        for p, g in zip(params, gs, strict=True):
            assert rel_error(p.grad, g) < 1e-13
    # selected rows: the same states and, from their gradients, the same backward
    b = rng.integers(0, B, 6)
    t = np.minimum(rng.integers(0, T, 6), L[b] - 1)
    order = np.lexsort((t, b))
    b, t = b[order], t[order]
    rows = layer.gather(b, t)
    np.testing.assert_array_equal(rows, np.concatenate([w[b, t] for w in want], axis=-1))


@pytest.mark.parametrize("same_rows", [True, False])
@pytest.mark.parametrize("scales", [["1", "3"], ["2", "1h", "30m"]])
@pytest.mark.parametrize("with_lengths", [True, False])
def test_device_rows_match_host(rng, monkeypatch, same_rows, scales, with_lengths):
    """MultiScaleNext on a device (the CuPy stand-in), whose row keys are computed on the
    device: gather then backward_rows, and the full forward / backward, give the host layer's
    states, dx and weight gradients exactly, with count and wall-clock scales, with and without
    lengths, whether backward_rows gets gather's own (b, t) arrays (its device keys are reused)
    or equal copies (computed again)."""
    import fake_cupy

    from chronoscale.nn import device as device_mod

    B, T, C = 4, 11, 3
    x = rng.normal(size=(B, T, C))
    L = random_lengths(rng, B, T)
    L[0] = T
    lengths = L if with_lengths else None
    Lk = L if with_lengths else np.full(B, T)
    ts = (1_700_000_000 + np.cumsum(rng.integers(0, 1500, (B, T)), axis=1)).astype(np.int64)
    b, t = np.nonzero(np.arange(T)[None, :] < Lk[:, None])
    dg = rng.normal(size=(b.size, 3 * len(scales)))
    dy = rng.normal(size=(B, T, 3 * len(scales)))

    def run(layer, to_dev):
        layer.run(to_dev(x), lengths=lengths, timestamps=ts)
        rows = layer.gather(b, t)
        layer.zero_grad()
        dx = layer.backward_rows(to_dev(dg), b if same_rows else b.copy(),
                                 t if same_rows else t.copy())
        grads = [p.grad.copy() for c in layer.cells for p in c if p is not None]
        y = layer.forward(to_dev(x), lengths=lengths, timestamps=ts)  # every event
        layer.zero_grad()
        dx_all = layer.backward(to_dev(dy))
        return [rows, dx, y, dx_all] + grads

    def make():
        return nn.MultiScaleNext(scales, [3] * len(scales), cell="gru").build(
            C, np.random.default_rng(0), np.float64)

    want = run(make(), lambda a: a)
    cp = fake_cupy.install(monkeypatch)
    monkeypatch.setattr(device_mod, "require_cuda", lambda: None)
    got = run(make().to("cuda"), cp.asarray)
    for g, w in zip(got, want, strict=True):
        assert isinstance(g, fake_cupy.FakeArray)
        np.testing.assert_allclose(g.get(), w, rtol=1e-12, atol=1e-12)


def test_scoring_table_is_kept_until_the_weights_change(rng):
    """The scoring calls build the items' table once per weights version: repeated recommend
    calls reuse it, and every way the weights change (a warm-started fit's optimiser steps,
    load_state_dict, assigning a parameter's data, an in-place write announced with
    weights_changed) gives a table equal to a fresh build; training never uses the kept one."""
    from chronoscale.nn.parameter import weights_changed

    V, B, T = 30, 6, 9
    ids = rng.integers(0, V, (B, T))
    m = MultiScaleRecommender(num_items=V, dim=8, units=6, random_state=0)
    m.fit(ids, epochs=1, batch_size=3, verbose=0)
    net = m.net

    def fresh():
        return net.table()[0]  # (not kept)

    top = m.recommend(ids, k=5)
    F = net.table(cached=True)[0]
    assert net.table(cached=True)[0] is F  # kept across calls
    assert fresh() is not F
    np.testing.assert_array_equal(F, fresh())
    np.testing.assert_array_equal(m.recommend(ids, k=5)[0], top[0])

    state = {k: v.copy() for k, v in net.state_dict().items()}
    m.set_params(warm_start=True)
    m.fit(ids, epochs=1, batch_size=3, verbose=0)  # optimiser steps (in place)
    F2 = net.table(cached=True)[0]
    assert not np.array_equal(F2, F)
    np.testing.assert_array_equal(F2, fresh())
    net.load_state_dict(state)  # back to the first weights (in place)
    np.testing.assert_array_equal(net.table(cached=True)[0], F)
    net.item_bias.data = net.item_bias.data + 1.0  # assigning data
    np.testing.assert_array_equal(net.table(cached=True)[0], fresh())
    net.emb.weight.data[0] += 1.0  # written in place, then announced
    weights_changed()
    np.testing.assert_array_equal(net.table(cached=True)[0], fresh())
