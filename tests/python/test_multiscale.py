"""Multi-scale driver: equals pooling + cell per scale, gradients, causality, bad input."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from chronoscale import ops
from chronoscale.ops import Scale

from helpers import FakeCudaArray, numeric_grad, random_lengths, rel_error, skip_if_cuda_device

CELLS = ["lstm", "gru", "rnn_tanh", "rnn_sigmoid", "rnn_relu"]
GATES = {"lstm": 4, "gru": 3}


def make_weights(rng, cell, I, hidden, dtype=np.float64, bias=True):
    out = []
    for H in hidden:
        G = GATES.get(cell, 1)
        w = [0.5 * rng.standard_normal(shape) for shape in ((G * H, I), (G * H, H))]
        b = [0.3 * rng.standard_normal(G * H) for _ in range(2)] if bias else [None, None]
        out.append(tuple(None if a is None else a.astype(dtype) for a in w + b))
    return out


def random_timestamps(rng, B, T):
    gaps = rng.integers(0, 6, size=(B, T)) * rng.integers(1, 4, size=(B, T))
    return (rng.integers(-20, 20, size=(B, 1)) + np.cumsum(gaps, axis=1)).astype(np.int64)


def run_cell(cell, z, w, lengths):
    w_ih, w_hh, b_ih, b_hh = w
    if cell == "lstm":
        y, h, c, cache = ops.lstm_forward(z, w_ih, w_hh, b_ih, b_hh, lengths=lengths)
        return y, h, c, cache
    if cell == "gru":
        y, h, cache = ops.gru_forward(z, w_ih, w_hh, b_ih, b_hh, lengths=lengths)
    else:
        y, h, cache = ops.rnn_forward(
            z, w_ih, w_hh, b_ih, b_hh, lengths=lengths, activation=cell[4:]
        )
    return y, h, None, cache


def cell_backward(cell, dy, dh, dc, cache):
    if cell == "lstm":
        return ops.lstm_backward(dy, dh, dc, cache)[:5]
    if cell == "gru":
        return ops.gru_backward(dy, dh, cache)[:5]
    return ops.rnn_backward(dy, dh, cache)[:5]


def compose(x, scales, weights, cell, lengths, ts, count_feature):
    """The driver written with the single ops, one scale at a time."""
    res = []
    for sc, w in zip(scales, weights):
        if sc.kind == "count":
            z, counts, ol, pc = ops.count_pool_forward(
                x, sc.size, sc.stride, sc.mode, lengths, sc.partial
            )
        else:
            z, counts, ol, _, pc = ops.time_pool_forward(
                x, ts, sc.window, sc.origin, sc.mode, lengths, sc.max_windows
            )
        if count_feature:
            z = np.ascontiguousarray(
                np.concatenate([z, np.log1p(counts)[..., None].astype(x.dtype)], axis=2)
            )
        y, h, c, rc = run_cell(cell, z, w, ol)
        res.append((y, h, c, ol, counts, pc, rc))
    return res


def compose_backward(x, scales, cell, res, dys, dhs, dcs):
    dx = np.zeros_like(x)
    grads = []
    for sc, (_, _, _, _, _, pc, rc), dy, dh, dc in zip(scales, res, dys, dhs, dcs):
        dz, dw_ih, dw_hh, db_ih, db_hh = cell_backward(cell, dy, dh, dc, rc)
        dz = np.ascontiguousarray(dz[..., : x.shape[2]])
        back = ops.count_pool_backward if sc.kind == "count" else ops.time_pool_backward
        dx += back(dz, pc)
        grads.append((dw_ih, dw_hh, db_ih, db_hh))
    return dx, grads


def ref_closed_before(scale, ts, lengths, out_lengths, window_start, T):
    """Steps whose windows hold only events < t (trailing partial windows: once complete)."""
    B = len(lengths)
    out = np.zeros((B, T), np.int64)
    for b in range(B):
        for t in range(lengths[b]):
            for j in range(out_lengths[b]):
                if scale.kind == "count":
                    closed = j * scale.stride + scale.size <= t
                else:
                    closed = window_start[b, j] + scale.window <= ts[b, t]
                out[b, t] += closed
    return out


SCALES = [
    Scale.parse("1"),
    Scale.count(3, stride=2, mode="max"),
    Scale.count(4, mode="sum", partial=False),
    Scale.parse("5s"),
    Scale.time(7, origin=3, mode="max"),
]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("count_feature", [False, True])
def test_forward_backward_equal_composed_ops(rng, cell, count_feature):
    B, T, C = 4, 11, 3
    x = rng.standard_normal((B, T, C))
    ts = random_timestamps(rng, B, T)
    lengths = random_lengths(rng, B, T)
    lengths[2] = 0
    hidden = [3, 2, 4, 2, 3]
    weights = make_weights(rng, cell, C + count_feature, hidden, bias=cell != "gru")
    outs, cache = ops.multiscale_forward(x, SCALES, weights, cell, lengths, ts, count_feature)
    ref = compose(x, SCALES, weights, cell, lengths, ts, count_feature)
    for s, (o, r) in enumerate(zip(outs, ref)):
        np.testing.assert_array_equal(o.out_lengths, r[3])
        np.testing.assert_array_equal(o.counts, r[4])
        np.testing.assert_allclose(o.y, r[0], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(o.h_n, r[1], rtol=1e-12, atol=1e-13)
        if cell == "lstm":
            np.testing.assert_allclose(o.c_n, r[2], rtol=1e-12, atol=1e-13)
        else:
            assert o.c_n is None
        want = ref_closed_before(SCALES[s], ts, lengths, r[3], cache.window_start(s), T)
        np.testing.assert_array_equal(o.closed_before, want)

    dys = [rng.standard_normal(o.y.shape) for o in outs]
    dhs = [rng.standard_normal(o.h_n.shape) for o in outs]
    dcs = [rng.standard_normal(o.h_n.shape) if cell == "lstm" else None for o in outs]
    dys[1] = None
    dx, grads = ops.multiscale_backward(dys, dhs, dcs if cell == "lstm" else None, cache)
    rdx, rgrads = compose_backward(x, SCALES, cell, ref, dys, dhs, dcs)
    np.testing.assert_allclose(dx, rdx, rtol=1e-11, atol=1e-12)
    for g, rg in zip(grads, rgrads):
        for a, b in zip(g, rg):
            if cell == "gru":  # no biases given: no bias gradients returned
                assert a is None or b.shape == a.shape
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_sigmoid"])
def test_driver_finite_differences(rng, cell):
    B, T, C = 2, 6, 2
    x = rng.standard_normal((B, T, C))
    ts = random_timestamps(rng, B, T)
    lengths = np.array([6, 4])
    scales = [
        "1",
        Scale.count(3, stride=2, mode="max"),
        Scale.time(4, origin=1, mode="mean"),
        Scale.count(2, mode="sum", partial=True),
    ]
    weights = make_weights(rng, cell, C + 1, [2, 2, 1, 2])
    outs, cache = ops.multiscale_forward(x, scales, weights, cell, lengths, ts, True)
    wy = [rng.standard_normal(o.y.shape) for o in outs]
    wh = [rng.standard_normal(o.h_n.shape) for o in outs]
    wc = [rng.standard_normal(o.h_n.shape) for o in outs]

    def loss():
        res = ops.multiscale_forward(x, scales, weights, cell, lengths, ts, True)[0]
        total = sum((o.y * a).sum() + (o.h_n * b).sum() for o, a, b in zip(res, wy, wh))
        if cell == "lstm":
            total += sum((o.c_n * c).sum() for o, c in zip(res, wc))
        return float(total)

    dx, grads = ops.multiscale_backward(wy, wh, wc if cell == "lstm" else None, cache)
    assert rel_error(dx, numeric_grad(loss, x)) < 1e-6
    for w, g in zip(weights, grads):
        for p, dp in zip(w, g):
            assert rel_error(dp, numeric_grad(loss, p)) < 1e-6


def test_float32_matches_float64(rng):
    B, T, C = 3, 9, 2
    x = rng.standard_normal((B, T, C))
    ts = random_timestamps(rng, B, T)
    weights = make_weights(rng, "lstm", C + 1, [3, 3, 3, 3, 3])
    o64, c64 = ops.multiscale_forward(x, SCALES, weights, "lstm", None, ts, True)
    w32 = [tuple(a.astype(np.float32) for a in w) for w in weights]
    o32, c32 = ops.multiscale_forward(x.astype(np.float32), SCALES, w32, "lstm", None, ts, True)
    for a, b in zip(o32, o64):
        assert a.y.dtype == np.float32
        np.testing.assert_allclose(a.y, b.y, rtol=1e-4, atol=1e-5)
    dys = [rng.standard_normal(o.y.shape) for o in o64]
    dx64, _ = ops.multiscale_backward(dys, None, None, c64)
    dx32, _ = ops.multiscale_backward([d.astype(np.float32) for d in dys], None, None, c32)
    np.testing.assert_allclose(dx32, dx64, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------- causality


def gathered(x, ts, weights, lengths):
    outs, _ = ops.multiscale_forward(x, SCALES, weights, "lstm", lengths, ts, True)
    return [ops.gather_causal(o.y, o.closed_before) for o in outs], outs


def test_changing_a_future_event_leaves_earlier_states_unchanged(rng):
    B, T, C = 3, 14, 2
    x = rng.standard_normal((B, T, C))
    ts = random_timestamps(rng, B, T)
    lengths = np.array([T, T, 9])
    weights = make_weights(rng, "lstm", C + 1, [3] * len(SCALES))
    base, base_outs = gathered(x, ts, weights, lengths)
    changed_later = 0
    for t0 in range(T):
        x2 = x.copy()
        x2[:, t0] += 1.0 + rng.standard_normal((B, C))
        # features only: predictions at t <= t0 use events < t0 only
        feat, outs = gathered(x2, ts, weights, lengths)
        for g, g2 in zip(base, feat):
            np.testing.assert_allclose(g2[:, : t0 + 1], g[:, : t0 + 1], rtol=1e-12, atol=1e-14)
            changed_later += int(not np.allclose(g2[:, t0 + 1 :], g[:, t0 + 1 :]))
        # the raw pooled state of the window holding t0 does change: the gather is what hides it
        if t0 < 8:
            assert not np.allclose(outs[2].y[0, t0 // 4], base_outs[2].y[0, t0 // 4])
        # features and a later timestamp (events t0.. shifted to keep the order): t < t0 unchanged
        ts2 = ts.copy()
        ts2[:, t0:] += rng.integers(1, 12)
        moved, _ = gathered(x2, ts2, weights, lengths)
        for g, g2 in zip(base, moved):
            np.testing.assert_allclose(g2[:, :t0], g[:, :t0], rtol=1e-12, atol=1e-14)
    assert changed_later > T  # the test is not vacuous: later positions do see the change


def test_gather_causal_matches_loop(rng):
    B, W, H, T = 3, 4, 2, 6
    y = rng.standard_normal((B, W, H))
    closed = np.sort(rng.integers(0, W + 1, size=(B, T)), axis=1)
    got = ops.gather_causal(y, closed)
    dg = rng.standard_normal((B, T, H))
    dy = ops.gather_causal_backward(dg, closed, W)
    want, want_dy = np.zeros((B, T, H)), np.zeros_like(y)
    for b in range(B):
        for t in range(T):
            if closed[b, t]:
                want[b, t] = y[b, closed[b, t] - 1]
                want_dy[b, closed[b, t] - 1] += dg[b, t]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(dy, want_dy, rtol=1e-14)
    with pytest.raises(ValueError, match="closed_before"):
        ops.gather_causal(y, closed + W)
    with pytest.raises(ValueError, match="closed_before"):
        ops.gather_causal(y, closed[:2])
    with pytest.raises(TypeError, match="closed_before"):
        ops.gather_causal(y, closed.astype(np.float64))
    # Unsigned indices (0 must not wrap to the last window), no window at all (W = 0).
    np.testing.assert_array_equal(ops.gather_causal(y, closed.astype(np.uint8)), want)
    np.testing.assert_array_equal(ops.gather_causal_backward(dg, closed.astype(np.uint8), W), dy)
    empty = ops.gather_causal(np.zeros((B, 0, H)), np.zeros((B, T), np.int64))
    assert empty.shape == (B, T, H) and not empty.any()
    assert ops.gather_causal_backward(dg, np.zeros((B, T), np.int64), 0).shape == (B, 0, H)
    with pytest.raises(TypeError, match="y_s must be float32 or float64"):
        ops.gather_causal(y.astype(np.int32), closed)
    with pytest.raises(ValueError, match="W .* must be an integer >= 0"):
        ops.gather_causal_backward(dg, closed, -1)


# ------------------------------------------------------------------------------------ Scale


def test_scale_parse_and_constructors():
    assert Scale.parse("1") == Scale.count(1)
    assert Scale.parse(" 4 ") == Scale.count(4) == Scale.parse(4)
    for spec, seconds in [
        ("90s", 90),
        ("30m", 1800),
        ("1h", 3600),
        ("1d", 86400),
        ("7d", 7 * 86400),
        ("2w", 14 * 86400),
    ]:
        sc = Scale.parse(spec)
        assert sc.kind == "time" and sc.window == seconds and sc.mode == "mean"
    assert str(Scale.parse("7d")) == "1w" and str(Scale.parse("90s")) == "90s"
    assert str(Scale.count(3, stride=2)) == "3/2" and str(Scale.parse("4")) == "4"
    # "size/stride" count specs: what str() gives, parsed back
    assert Scale.parse("3/2") == Scale.count(3, stride=2) == Scale.parse(" 3 / 2 ")
    assert Scale.parse("4/4") == Scale.count(4) and Scale.parse("16/1").stride == 1
    for sc in (Scale.count(16, stride=4), Scale.count(5, stride=7), Scale.count(1)):
        assert Scale.parse(str(sc)) == sc
    assert Scale.parse("1h", mode="max").mode == "max"
    assert Scale.count(3).stride == 3 and Scale.count(3).partial
    assert Scale.time(60, origin=-30, max_windows=5).max_windows == 5
    for bad in ["", "0", "0h", "1x", "-4", "1.5h", "h", "1 h x", "4/0", "0/2", "4/2h", "4/",
                "/2", "4//2"]:
        with pytest.raises(ValueError, match="scale spec"):
            Scale.parse(bad)
    with pytest.raises(ValueError, match="size"):
        Scale.count(0)
    with pytest.raises(ValueError, match="size must fit in 64 bits"):
        Scale.count(2**64)
    with pytest.raises(ValueError, match="window_seconds must fit in 64 bits"):
        Scale.time(2**64)
    with pytest.raises(ValueError, match="stride"):
        Scale.count(2, stride=0)
    with pytest.raises(ValueError, match="window"):
        Scale.time(0)
    with pytest.raises(TypeError, match="window_seconds"):
        Scale.time(1.5)
    with pytest.raises(ValueError, match="max_windows"):
        Scale.time(10, max_windows=0)
    with pytest.raises(ValueError, match="mode"):
        Scale.count(2, mode="median")


# -------------------------------------------------------------------------------- bad input


def test_bad_input(rng):
    B, T, C = 2, 6, 3
    x = rng.standard_normal((B, T, C))
    ts = random_timestamps(rng, B, T)
    w = make_weights(rng, "lstm", C, [2, 2])
    scales = ["1", "3s"]
    with pytest.raises(ValueError, match="weights"):
        ops.multiscale_forward(x, scales, w[:1], timestamps=ts)
    with pytest.raises(ValueError, match=r"weights\[1\]"):
        ops.multiscale_forward(x, scales, [w[0], w[1][:3]], timestamps=ts)
    with pytest.raises(ValueError, match=r"weights\[1\]\.w_ih"):  # count_feature needs C + 1
        ops.multiscale_forward(
            x,
            scales,
            [make_weights(rng, "lstm", C + 1, [2])[0], w[1]],
            timestamps=ts,
            count_feature=True,
        )
    with pytest.raises(ValueError, match=r"weights\[0\]\.w_hh"):
        ops.multiscale_forward(x, scales, make_weights(rng, "gru", C, [2, 2]), timestamps=ts)
    with pytest.raises(TypeError, match=r"weights\[0\]"):
        ops.multiscale_forward(
            x, scales, [tuple(a.astype(np.float32) for a in w[0]), w[1]], timestamps=ts
        )
    with pytest.raises(ValueError, match="timestamps"):
        ops.multiscale_forward(x, scales, w)
    with pytest.raises(ValueError, match=r"b = 1, t = 2"):
        bad_ts = ts.copy()
        bad_ts[1, 2] = bad_ts[1, 1] - 1
        ops.multiscale_forward(x, scales, w, timestamps=bad_ts)
    with pytest.raises(ValueError, match="timestamps"):
        ops.multiscale_forward(x, scales, w, timestamps=np.where(ts > 0, np.nan, ts * 1.0))
    with pytest.raises(ValueError, match="cell"):
        ops.multiscale_forward(x, scales, w, cell="lstmx", timestamps=ts)
    with pytest.raises(ValueError, match="scales"):
        ops.multiscale_forward(x, [], [], timestamps=ts)
    with pytest.raises(TypeError, match="scales"):
        ops.multiscale_forward(x, "1h", w, timestamps=ts)
    with pytest.raises(ValueError, match=r"scales\[1\].*size"):
        ops.multiscale_forward(x, ["1", Scale.count(7, partial=False)], w)
    with pytest.raises(ValueError, match="x"):
        ops.multiscale_forward(x[:, ::2], scales, w, timestamps=ts[:, ::2].copy())
    with pytest.raises(TypeError, match="x"):
        ops.multiscale_forward(x.astype(np.int64), scales, w, timestamps=ts)
    with pytest.raises(ValueError, match="x"):
        ops.multiscale_forward(np.zeros((0, T, C)), scales, w, timestamps=ts[:0])
    with pytest.raises(ValueError, match="lengths"):
        ops.multiscale_forward(x, scales, w, lengths=[T + 1, 1], timestamps=ts)
    outs, cache = ops.multiscale_forward(x, scales, w, timestamps=ts)
    with pytest.raises(ValueError, match="dys"):
        ops.multiscale_backward([outs[0].y], None, None, cache)
    with pytest.raises(ValueError, match=r"dys\[1\]"):
        ops.multiscale_backward([None, outs[0].y], None, None, cache)
    with pytest.raises(ValueError, match=r"dh_ns\[0\]"):
        ops.multiscale_backward(None, [outs[0].y, None], None, cache)
    with pytest.raises(TypeError, match="cache"):
        ops.multiscale_backward(None, None, None, None)
    gru_outs, gru_cache = ops.multiscale_forward(
        x, scales, make_weights(rng, "gru", C, [2, 2]), cell="gru", timestamps=ts
    )
    with pytest.raises(ValueError, match=r"dc_ns\[0\]"):
        ops.multiscale_backward(None, None, [gru_outs[0].h_n, None], gru_cache)


def test_time_windows_past_the_memory_bound_are_refused():
    """One outlier timestamp (0 among 2023 times) makes an hourly scale span 472k windows for
    every sequence of the call: refused before anything is allocated, naming the sequence and
    the way out (max_windows caps it: then the call runs)."""
    B, T, C, H = 64, 2, 2000, 4
    ts = np.tile(np.array([1_700_000_000, 1_700_003_600], np.int64), (B, 1))
    ts[5, 0] = 0
    wide = np.zeros((B, T, C), np.float32)  # C wide inputs: about 240 GiB of windows
    wide_w = [(np.zeros((3 * H, C), np.float32), np.zeros((3 * H, H), np.float32), None, None)]
    with pytest.raises(ValueError, match=r"scales\[0\]: the windows of 3600 s need about \d+ "
                       r"GiB.*sequence b = 5 spans timestamps 0 to 1700003600.*max_windows"):
        ops.multiscale_forward(wide, ["1h"], wide_w, cell="gru", timestamps=ts)
    outs, _ = ops.multiscale_forward(wide, [Scale.time(3600, max_windows=4)], wide_w,
                                     cell="gru", timestamps=ts)
    assert outs[0].y.shape == (B, 4, H)


def test_movielens_users_smoke(shared_data):
    with gzip.open(shared_data / "movielens-100k" / "ml-100k.inter.gz", "rt") as f:
        f.readline()
        data = np.loadtxt(f, delimiter="\t", max_rows=3000)
    users = np.unique(data[:, 0])[:4]
    seqs = [data[data[:, 0] == u] for u in users]
    seqs = [s[np.argsort(s[:, 3], kind="stable")] for s in seqs]
    T = max(len(s) for s in seqs)
    x = np.zeros((len(seqs), T, 2))
    ts = np.zeros((len(seqs), T), np.int64)
    for b, s in enumerate(seqs):
        x[b, : len(s), 0] = s[:, 2] / 5.0
        x[b, : len(s), 1] = np.log1p(s[:, 1]) / 8.0
        ts[b, : len(s)] = s[:, 3].astype(np.int64)
    lengths = [len(s) for s in seqs]
    scales = ["1", "5", "1d", "7d"]
    rng = np.random.default_rng(0)
    outs, _ = ops.multiscale_forward(
        x, scales, make_weights(rng, "gru", 3, [4] * 4), "gru", lengths, ts, count_feature=True
    )
    for sc, o in zip(scales, outs):
        assert np.isfinite(o.y).all()
        if sc.endswith("d"):
            np.testing.assert_array_equal(o.counts.sum(axis=1), lengths)
        assert (np.diff(o.closed_before, axis=1)[:, : min(lengths) - 1] >= 0).all()


def test_cuda_array_without_device_raises(rng):
    skip_if_cuda_device()
    x, w = FakeCudaArray((2, 3, 4)), FakeCudaArray((16, 4))
    with pytest.raises(RuntimeError, match="CUDA"):
        ops.multiscale_forward(x, ["1"], [(w, FakeCudaArray((16, 4)))])
