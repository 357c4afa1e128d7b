"""CUDA optimiser steps against the CPU kernels: Adam / AdamW, the multi-tensor Adam, sparse-row
Adam and SGD, SGD with (Nesterov) momentum and global-norm clipping, float32 and float64, several
steps in a row, updated in place on CuPy arrays. Skipped without a CUDA build, a device and CuPy."""

from __future__ import annotations

import numpy as np
import pytest
from train_gpu import TOL, check, cp, to_gpu

from chronoscale import ops

pytestmark = pytest.mark.gpu

ADAM = [
    dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False),
    dict(lr=3e-3, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1, decoupled=False),
    dict(lr=1e-3, beta1=0.5, beta2=0.9, eps=1e-8, weight_decay=0.05, decoupled=True),
]


def state(rng, shape, dtype):
    p, g = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    return p, g, np.zeros(shape, dtype), np.zeros(shape, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(ADAM)))
def test_adam_matches_cpu(rng, dtype, case):
    p, g, m, v = state(rng, (300, 77), dtype)
    pg, mg, vg = to_gpu(p, m, v)
    for step in range(1, 4):
        g = rng.standard_normal(p.shape).astype(dtype)
        ops.adam_step(p, g, m, v, step, **ADAM[case])
        ops.adam_step(pg, to_gpu(g), mg, vg, step, **ADAM[case])
    for name, a, b in (("param", pg, p), ("m", mg, m), ("v", vg, v)):
        check(a, b, TOL[dtype], name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_many_matches_cpu(rng, dtype):
    sizes = [(3,), (8192,), (100, 91), (1,), (40000,)]
    steps = [1, 4, 2, 7, 3]
    cpu = [state(rng, s, dtype) for s in sizes]
    gpu = [tuple(to_gpu(*s)) for s in cpu]
    kw = ADAM[1]
    ops.adam_step_many(
        [s[0] for s in cpu],
        [s[1] for s in cpu],
        [s[2] for s in cpu],
        [s[3] for s in cpu],
        steps,
        **kw,
    )
    ops.adam_step_many(
        [s[0] for s in gpu],
        [s[1] for s in gpu],
        [s[2] for s in gpu],
        [s[3] for s in gpu],
        steps,
        **kw,
    )
    for i, (a, b) in enumerate(zip(gpu, cpu)):
        for name, x, y in zip(("param", "grad", "m", "v"), a, b):
            check(x, y, TOL[dtype], f"[{i}] {name}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_rows_match_cpu(rng, dtype):
    V, D = 500, 24
    p, _, m, v = state(rng, (V, D), dtype)
    rows = rng.choice(V, 60, replace=False).astype(np.int64)
    gr = rng.standard_normal((60, D)).astype(dtype)
    pg, mg, vg = to_gpu(p, m, v)
    ops.adam_step_rows(p, rows, gr, m, v, 5, **ADAM[2])
    ops.adam_step_rows(pg, to_gpu(rows), to_gpu(gr), mg, vg, 5, **ADAM[2])  # CUDA rows too
    for name, a, b in (("param", pg, p), ("m", mg, m), ("v", vg, v)):
        check(a, b, TOL[dtype], name)
    buf = np.zeros((V, D), dtype)
    bg = to_gpu(buf)
    ops.sgd_step_rows(p, rows, gr, buf, 0.1, momentum=0.9, weight_decay=0.01)
    ops.sgd_step_rows(pg, rows, to_gpu(gr), bg, 0.1, momentum=0.9, weight_decay=0.01)
    check(pg, p, TOL[dtype], "sgd rows param")
    check(bg, buf, TOL[dtype], "sgd rows buf")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_matches_cpu(rng, dtype, momentum, nesterov):
    p, _, buf, _ = state(rng, (1000, 33), dtype)
    pg, bg = to_gpu(p, buf)
    for _ in range(3):
        g = rng.standard_normal(p.shape).astype(dtype)
        kw = dict(momentum=momentum, weight_decay=0.01, nesterov=nesterov)
        ops.sgd_step(p, g, buf if momentum else None, 0.05, **kw)
        ops.sgd_step(pg, to_gpu(g), bg if momentum else None, 0.05, **kw)
    check(pg, p, TOL[dtype], "param")
    if momentum:
        check(bg, buf, TOL[dtype], "buf")


@pytest.mark.parametrize("max_norm", [0.5, 1e9])
def test_clip_grad_norm_matches_cpu(rng, max_norm):
    grads = [
        rng.standard_normal(s).astype(dt)
        for s, dt in [
            ((5,), np.float32),
            ((300, 400), np.float64),
            ((9000,), np.float32),
            ((1,), np.float64),
        ]
    ]
    originals = [g.copy() for g in grads]  # the CPU clip below scales grads in place
    gpu = [to_gpu(g) for g in grads]
    norm_c = ops.clip_grad_norm(grads, max_norm)
    norm_g = ops.clip_grad_norm(gpu, max_norm)
    assert isinstance(norm_g, float)
    assert abs(norm_g - norm_c) <= 1e-12 * norm_c
    for i, (a, b) in enumerate(zip(gpu, grads)):
        check(a, b, TOL[b.dtype.type], f"grads[{i}]")
    again = [to_gpu(g) for g in originals]
    assert ops.clip_grad_norm(again, max_norm) == norm_g, "the norm is not deterministic"
    quiet = [to_gpu(g) for g in originals]
    assert ops.clip_grad_norm(quiet, max_norm, return_norm=False) is None  # no wait
    for i, (a, b) in enumerate(zip(quiet, again)):
        assert bool((a == b).all()), f"grads[{i}]: return_norm=False clips differently"


def test_non_default_stream(rng):
    p, g, m, v = state(rng, (1 << 16,), np.float32)
    pg, gg, mg, vg = to_gpu(p, g, m, v)
    ops.adam_step(p, g, m, v, 1, **ADAM[0])
    with cp().cuda.Stream(non_blocking=True) as s:
        ops.adam_step(pg, gg, mg, vg, 1, **ADAM[0])
        s.synchronize()
    check(pg, p, TOL[np.float32], "param")
