"""CUDA multi-scale driver against the CPU driver (which test_multiscale.py checks against the
composed single ops and finite differences): every cell, count and time scales of every pooling
mode, the count feature, random lengths (including 0), gradients of x and of every weight,
float32 and float64, the scales' recurrences fused into one launch or not. Skipped without a
CUDA build, a device and CuPy."""

from __future__ import annotations

import numpy as np
import pytest
from test_multiscale import SCALES, make_weights, random_timestamps
from train_gpu import TOL, check_pair, to_gpu

from chronoscale import ops

from helpers import random_lengths, rel_error

pytestmark = pytest.mark.gpu

CELLS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]
# GPU vs CPU in float32 may differ by this many times the CPU's own float32 error (see below).
DRIFT_FACTOR = 10


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("count_feature", [False, True])
@pytest.mark.parametrize("fuse", ["", "0"])
def test_multiscale_matches_cpu(rng, monkeypatch, dtype, cell, count_feature, fuse):
    """fuse "": the scales' recurrences in one fused launch where their plans allow;
    "0": one launch per scale (CHRONOSCALE_CUDA_RNN_FUSE=0)."""
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_FUSE", fuse)
    B, T, C = int(rng.integers(3, 33)), int(rng.integers(8, 60)), int(rng.integers(1, 24))
    x = rng.standard_normal((B, T, C)).astype(dtype)
    ts = random_timestamps(rng, B, T)
    lengths = random_lengths(rng, B, T)
    lengths[2] = 0
    hidden = [int(h) for h in rng.integers(1, 40, size=len(SCALES))]
    weights = make_weights(rng, cell, C + count_feature, hidden, dtype, bias=cell != "gru")
    outs, cache = ops.multiscale_forward(x, SCALES, weights, cell, lengths, ts, count_feature)
    # A tanh RNN over many windows with these random weights amplifies rounding: the CPU's own
    # float32 result is up to 1e-1 from its float64 result (40 seeds, the 5 s mean windows). So
    # in float32 the outputs may differ from the CPU's by several times the CPU's own float32
    # error: the GPU's own error is a different draw of the same amplified rounding (H200,
    # 2026-11-28: 4.5x the CPU's drift at one seed). Where nothing amplifies rounding the drift
    # is ~1e-6 and the bound stays TOL.
    drift = [0.0] * len(SCALES)
    if dtype == np.float32:
        w64 = [tuple(None if a is None else a.astype(np.float64) for a in w) for w in weights]
        o64, cache64 = ops.multiscale_forward(x.astype(np.float64), SCALES, w64, cell, lengths,
                                              ts, count_feature)
        drift = [rel_error(o.y.astype(np.float64), r.y) for o, r in zip(outs, o64)]
    wg = [tuple(to_gpu(a) for a in w) for w in weights]
    outs_g, cache_g = ops.multiscale_forward(to_gpu(x), SCALES, wg, cell, lengths, ts,
                                             count_feature)
    for s, (o, g) in enumerate(zip(outs, outs_g)):
        for k in ("out_lengths", "counts", "closed_before"):
            assert isinstance(getattr(g, k), np.ndarray), f"scale {s} {k}: a NumPy array"
            np.testing.assert_array_equal(getattr(g, k), getattr(o, k), err_msg=f"{s} {k}")
        check_pair(cache_g.pooled(s), cache.pooled(s), dtype, f"scale {s} z")
        tol = max(TOL[dtype], DRIFT_FACTOR * drift[s])
        check_pair(g.y, o.y, dtype, f"scale {s} y", tol)
        check_pair(g.h_n, o.h_n, dtype, f"scale {s} h_n", tol)
        check_pair(g.c_n, o.c_n, dtype, f"scale {s} c_n", tol)

    dys = [rng.standard_normal(o.y.shape).astype(dtype) for o in outs]
    dhs = [rng.standard_normal(o.h_n.shape).astype(dtype) for o in outs]
    dcs = [rng.standard_normal(o.h_n.shape).astype(dtype) if cell == "lstm" else None
           for o in outs]
    dys[1] = None
    dhs[3] = None
    dx, grads = ops.multiscale_backward(dys, dhs, dcs, cache)
    bdrift = {}  # the CPU's own float32 error of each gradient (see drift above)
    if dtype == np.float32:
        up = [[None if a is None else a.astype(np.float64) for a in v] for v in (dys, dhs, dcs)]
        dx64, grads64 = ops.multiscale_backward(*up, cache64)
        bdrift["dx"] = rel_error(dx.astype(np.float64), dx64)
        for s, (gc, g64) in enumerate(zip(grads, grads64)):
            for name, a, b in zip(("dw_ih", "dw_hh", "db_ih", "db_hh"), gc, g64):
                if a is not None:
                    bdrift[f"{s} {name}"] = rel_error(a.astype(np.float64), b)
    dx_g, grads_g = ops.multiscale_backward([to_gpu(a) for a in dys], [to_gpu(a) for a in dhs],
                                            [to_gpu(a) for a in dcs], cache_g)
    check_pair(dx_g, dx, dtype, "dx", max(TOL[dtype], DRIFT_FACTOR * bdrift.get("dx", 0.0)))
    for s, (gc, gg) in enumerate(zip(grads, grads_g)):
        for name, a, b in zip(("dw_ih", "dw_hh", "db_ih", "db_hh"), gg, gc):
            tol = max(TOL[dtype], DRIFT_FACTOR * bdrift.get(f"{s} {name}", 0.0))
            check_pair(a, b, dtype, f"scale {s} {name}", tol)


def test_multiscale_runs_on_the_current_stream(rng):
    import cupy as cp

    B, T, C, H = 128, 100, 16, 64
    x = rng.standard_normal((B, T, C)).astype(np.float32)
    ts = random_timestamps(rng, B, T)
    lengths = random_lengths(rng, B, T)
    scales = ["1", "4", "1m"]
    weights = make_weights(rng, "lstm", C, [H] * 3, np.float32)
    outs, cache = ops.multiscale_forward(x, scales, weights, "lstm", lengths, ts)
    dys = [np.ones_like(o.y) for o in outs]
    dx, _ = ops.multiscale_backward(dys, None, None, cache)
    with cp.cuda.Stream(non_blocking=True) as stream:
        wg = [tuple(to_gpu(a) for a in w) for w in weights]
        outs_g, cache_g = ops.multiscale_forward(to_gpu(x), scales, wg, "lstm", lengths, ts)
        dx_g, _ = ops.multiscale_backward([to_gpu(a) for a in dys], None, None, cache_g)
        stream.synchronize()
    for o, g in zip(outs, outs_g):
        check_pair(g.y, o.y, np.float32, "y")
    check_pair(dx_g, dx, np.float32, "dx")


def test_weights_on_another_device_raise(rng):
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    weights = make_weights(rng, "gru", 3, [4], np.float32)
    with pytest.raises((ValueError, TypeError), match="weights"):
        ops.multiscale_forward(to_gpu(x), ["2"], weights, "gru")
