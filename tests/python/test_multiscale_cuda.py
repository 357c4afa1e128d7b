"""CUDA multi-scale driver against the CPU driver (which test_multiscale.py checks against the
composed single ops and finite differences): every cell, count and time scales of every pooling
mode, the count feature, random lengths (including 0), gradients of x and of every weight,
float32 and float64. Skipped without a CUDA build, a device and CuPy."""

from __future__ import annotations

import numpy as np
import pytest
from test_multiscale import SCALES, make_weights, random_timestamps
from train_gpu import check_pair, to_gpu

from chronoscale import ops

from helpers import random_lengths

pytestmark = pytest.mark.gpu

CELLS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("count_feature", [False, True])
def test_multiscale_matches_cpu(rng, dtype, cell, count_feature):
    B, T, C = int(rng.integers(3, 33)), int(rng.integers(8, 60)), int(rng.integers(1, 24))
    x = rng.standard_normal((B, T, C)).astype(dtype)
    ts = random_timestamps(rng, B, T)
    lengths = random_lengths(rng, B, T)
    lengths[2] = 0
    hidden = [int(h) for h in rng.integers(1, 40, size=len(SCALES))]
    weights = make_weights(rng, cell, C + count_feature, hidden, dtype, bias=cell != "gru")
    outs, cache = ops.multiscale_forward(x, SCALES, weights, cell, lengths, ts, count_feature)
    wg = [tuple(to_gpu(a) for a in w) for w in weights]
    outs_g, cache_g = ops.multiscale_forward(to_gpu(x), SCALES, wg, cell, lengths, ts,
                                             count_feature)
    for s, (o, g) in enumerate(zip(outs, outs_g)):
        for k in ("out_lengths", "counts", "closed_before"):
            assert isinstance(getattr(g, k), np.ndarray), f"scale {s} {k}: a NumPy array"
            np.testing.assert_array_equal(getattr(g, k), getattr(o, k), err_msg=f"{s} {k}")
        check_pair(cache_g.pooled(s), cache.pooled(s), dtype, f"scale {s} z")
        check_pair(g.y, o.y, dtype, f"scale {s} y")
        check_pair(g.h_n, o.h_n, dtype, f"scale {s} h_n")
        check_pair(g.c_n, o.c_n, dtype, f"scale {s} c_n")

    dys = [rng.standard_normal(o.y.shape).astype(dtype) for o in outs]
    dhs = [rng.standard_normal(o.h_n.shape).astype(dtype) for o in outs]
    dcs = [rng.standard_normal(o.h_n.shape).astype(dtype) if cell == "lstm" else None
           for o in outs]
    dys[1] = None
    dhs[3] = None
    dx, grads = ops.multiscale_backward(dys, dhs, dcs, cache)
    dx_g, grads_g = ops.multiscale_backward([to_gpu(a) for a in dys], [to_gpu(a) for a in dhs],
                                            [to_gpu(a) for a in dcs], cache_g)
    check_pair(dx_g, dx, dtype, "dx")
    for s, (gc, gg) in enumerate(zip(grads, grads_g)):
        for name, a, b in zip(("dw_ih", "dw_hh", "db_ih", "db_hh"), gg, gc):
            check_pair(a, b, dtype, f"scale {s} {name}")


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
