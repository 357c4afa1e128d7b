"""Optimisers and gradient clipping: NumPy references, sparse rows, bad input, torch parity."""

from __future__ import annotations

import numpy as np
import pytest

import chronoscale
from chronoscale import ops

from helpers import rel_error


def ref_adam(p, g, m, v, t, lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, decoupled=False):
    p, g, m, v = (a.astype(np.float64).copy() for a in (p, g, m, v))
    if decoupled:
        p *= 1.0 - lr * wd
    else:
        g = g + wd * p
    m = b1 * m + (1.0 - b1) * g
    v = b2 * v + (1.0 - b2) * g * g
    mhat = m / (1.0 - b1**t)
    vhat = v / (1.0 - b2**t)
    return p - lr * mhat / (np.sqrt(vhat) + eps), m, v


def ref_sgd(p, g, buf, lr, mom=0.0, wd=0.0, nesterov=False):
    g = g + wd * p
    if mom:
        buf = mom * buf + g
        g = g + mom * buf if nesterov else buf
    return p - lr * g, buf


@pytest.mark.parametrize("wd,decoupled", [(0.0, False), (0.1, False), (0.1, True)])
def test_adam_matches_reference(rng, wd, decoupled):
    shape = (3, 17, 5)
    p = rng.standard_normal(shape)
    m, v = np.zeros(shape), np.zeros(shape)
    rp, rm, rv = p.copy(), m.copy(), v.copy()
    for t in range(1, 5):
        g = rng.standard_normal(shape)
        ops.adam_step(p, g, m, v, t, 0.01, 0.8, 0.95, 1e-6, wd, decoupled)
        rp, rm, rv = ref_adam(rp, g, rm, rv, t, 0.01, 0.8, 0.95, 1e-6, wd, decoupled)
    assert rel_error(p, rp) < 1e-12 and rel_error(m, rm) < 1e-12 and rel_error(v, rv) < 1e-12


@pytest.mark.parametrize(
    "mom,wd,nesterov", [(0.0, 0.0, False), (0.9, 0.01, False), (0.9, 0.01, True)]
)
def test_sgd_matches_reference(rng, mom, wd, nesterov):
    p = rng.standard_normal((40000,))  # above the parallel threshold
    buf = np.zeros_like(p) if mom else None
    rp, rbuf = p.copy(), np.zeros_like(p)
    for _ in range(3):
        g = rng.standard_normal(p.shape)
        ops.sgd_step(p, g, buf, 0.1, mom, wd, nesterov)
        rp, rbuf = ref_sgd(rp, g, rbuf, 0.1, mom, wd, nesterov)
    assert rel_error(p, rp) < 1e-12
    if mom:
        assert rel_error(buf, rbuf) < 1e-12


def test_float32_matches_float64(rng):
    p64 = rng.standard_normal((6, 7))
    p32 = p64.astype(np.float32)
    s64 = [np.zeros_like(p64) for _ in range(2)]
    s32 = [np.zeros_like(p32) for _ in range(2)]
    for t in range(1, 4):
        g = rng.standard_normal(p64.shape)
        ops.adam_step(p64, g, *s64, t, 1e-2, weight_decay=0.01, decoupled=True)
        ops.adam_step(p32, g.astype(np.float32), *s32, t, 1e-2, weight_decay=0.01, decoupled=True)
    assert p32.dtype == np.float32 and rel_error(p32, p64) < 1e-5


@pytest.mark.parametrize("kind", ["adam", "adamw", "sgd"])
def test_rows_update_only_the_given_rows(rng, kind):
    V, D = 12, 5
    rows = np.array([7, 2, 11, 0])  # any order
    p = rng.standard_normal((V, D))
    s = [rng.standard_normal((V, D)) ** 2 for _ in range(2)]  # non-zero state
    p0, s0 = p.copy(), [a.copy() for a in s]
    for t in (1, 2):
        gr = rng.standard_normal((len(rows), D))
        exp_p, exp_s = p.copy(), [a.copy() for a in s]
        if kind == "sgd":
            ops.sgd_step_rows(p, rows, gr, s[0], 0.1, momentum=0.9, weight_decay=0.01)
            exp_p[rows], exp_s[0][rows] = ref_sgd(exp_p[rows], gr, exp_s[0][rows], 0.1, 0.9, 0.01)
        else:
            dec = kind == "adamw"
            ops.adam_step_rows(p, rows, gr, s[0], s[1], t, 0.05, weight_decay=0.1, decoupled=dec)
            exp_p[rows], exp_s[0][rows], exp_s[1][rows] = ref_adam(
                exp_p[rows], gr, exp_s[0][rows], exp_s[1][rows], t, 0.05, wd=0.1, decoupled=dec
            )
        assert rel_error(p, exp_p) < 1e-12
        for a, e in zip(s, exp_s):
            assert rel_error(a, e) < 1e-12
    untouched = np.setdiff1d(np.arange(V), rows)
    np.testing.assert_array_equal(p[untouched], p0[untouched])
    for a, a0 in zip(s, s0):
        np.testing.assert_array_equal(a[untouched], a0[untouched])


def test_rows_match_dense_update_on_those_rows(rng):
    V, D = 300, 70  # above the parallel threshold
    rows = np.sort(rng.choice(V, 150, replace=False))
    p = rng.standard_normal((V, D))
    m, v = np.zeros((V, D)), np.zeros((V, D))
    g = np.zeros((V, D))
    g[rows] = rng.standard_normal((len(rows), D))
    pd, md, vd = p.copy(), m.copy(), v.copy()
    ops.adam_step_rows(p, rows.astype(np.int32), g[rows], m, v, 1, 0.01)
    ops.adam_step(pd, g, md, vd, 1, 0.01)
    np.testing.assert_array_equal(p[rows], pd[rows])
    np.testing.assert_array_equal(m, md)


def test_results_do_not_depend_on_thread_count(rng):
    p0 = rng.standard_normal((200, 300)).astype(np.float32)
    g = rng.standard_normal(p0.shape).astype(np.float32)
    out = []
    old = chronoscale.get_num_threads()
    try:
        for n in (1, 2):
            chronoscale.set_num_threads(n)
            p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
            ops.adam_step(p, g, m, v, 1, 1e-3)
            norm = ops.clip_grad_norm([p], 1.0)
            out.append((p, norm))
    finally:
        chronoscale.set_num_threads(old)
    np.testing.assert_array_equal(out[0][0], out[1][0])
    assert out[0][1] == out[1][1]


def test_clip_grad_norm(rng):
    gs = [
        rng.standard_normal((4, 5)),
        rng.standard_normal(30000).astype(np.float32),
        rng.standard_normal((2, 3, 2)),
    ]
    ref = [g.astype(np.float64) for g in gs]
    norm_ref = np.sqrt(sum(np.sum(g * g) for g in ref))
    norm = ops.clip_grad_norm(gs, 2.0)
    assert isinstance(norm, float) and abs(norm - norm_ref) < 1e-9 * norm_ref
    coef = 2.0 / (norm_ref + 1e-6)
    for g, r in zip(gs, ref):
        assert rel_error(g, r * coef) < (1e-6 if g.dtype == np.float32 else 1e-14)
    new = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in gs))
    assert abs(new - 2.0) < 1e-5
    small = [rng.standard_normal(3) * 1e-3]
    before = small[0].copy()
    assert ops.clip_grad_norm(small, 1.0) < 1.0
    np.testing.assert_array_equal(small[0], before)  # below max_norm: untouched
    assert ops.clip_grad_norm([], 1.0) == 0.0
    quiet = [r.astype(g.dtype) for g, r in zip(gs, ref)]
    assert ops.clip_grad_norm(quiet, 2.0, return_norm=False) is None
    for g, q in zip(gs, quiet):
        np.testing.assert_array_equal(q, g)  # the same clipping without the norm


def test_bad_input(rng):
    p = rng.standard_normal((4, 3))
    z = np.zeros_like(p)
    with pytest.raises(TypeError, match="grad must have the dtype of param"):
        ops.adam_step(p, z.astype(np.float32), z.copy(), z.copy(), 1, 0.1)
    with pytest.raises(ValueError, match="m must have the shape of param"):
        ops.adam_step(p, z, np.zeros((3, 4)), z.copy(), 1, 0.1)
    with pytest.raises(TypeError, match="param"):
        ops.adam_step(p.astype(np.int64), z, z.copy(), z.copy(), 1, 0.1)
    with pytest.raises(ValueError, match="m and v must be different"):
        ops.adam_step(p, z, z, z, 1, 0.1)
    with pytest.raises(ValueError, match="step must be >= 1"):
        ops.adam_step(p, z, z.copy(), z.copy(), 0, 0.1)
    with pytest.raises(TypeError, match="step"):
        ops.adam_step(p, z, z.copy(), z.copy(), 1.5, 0.1)
    with pytest.raises(ValueError, match="beta1"):
        ops.adam_step(p, z, z.copy(), z.copy(), 1, 0.1, beta1=1.0)
    with pytest.raises(ValueError, match="lr"):
        ops.adam_step(p, z, z.copy(), z.copy(), 1, -0.1)
    ro = p.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="param must be writable"):
        ops.adam_step(ro, z, z.copy(), z.copy(), 1, 0.1)
    with pytest.raises(ValueError, match="m must be C-contiguous"):
        ops.adam_step(p, z, np.zeros((3, 4)).T, z.copy(), 1, 0.1)
    with pytest.raises(ValueError, match="buf"):
        ops.sgd_step(p, z, None, 0.1, momentum=0.9)
    with pytest.raises(ValueError, match="nesterov"):
        ops.sgd_step(p, z, z.copy(), 0.1, nesterov=True)
    with pytest.raises(ValueError, match="momentum"):
        ops.sgd_step(p, z, z.copy(), 0.1, momentum=-1.0)
    gr = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"rows\[1\] = 4 is out of range"):
        ops.adam_step_rows(p, [0, 4], gr, z.copy(), z.copy(), 1, 0.1)
    with pytest.raises(ValueError, match="rows must be distinct"):
        ops.sgd_step_rows(p, [2, 2], gr, None, 0.1)
    with pytest.raises(ValueError, match="grad_rows must have shape"):
        ops.sgd_step_rows(p, [1, 2], np.zeros((3, 3)), None, 0.1)
    with pytest.raises(TypeError, match="rows must hold integers"):
        ops.sgd_step_rows(p, [1.0, 2.0], gr, None, 0.1)
    with pytest.raises(ValueError, match="param must have shape"):
        ops.sgd_step_rows(np.zeros(4), [1, 2], gr, None, 0.1)
    with pytest.raises(ValueError, match="max_norm"):
        ops.clip_grad_norm([p], -1.0)
    with pytest.raises(TypeError, match=r"grads\[1\]"):
        ops.clip_grad_norm([p, np.zeros(3, np.int64)], 1.0)
    # Overlapping views (not only the same array object), non-finite or non-numeric scalars.
    buf = np.zeros(13)
    with pytest.raises(ValueError, match="m and v must be different arrays"):
        ops.adam_step(p.ravel(), z.ravel(), buf[:12], buf[1:], 1, 0.1)
    with pytest.raises(ValueError, match="param and buf must be different arrays"):
        ops.sgd_step(p.ravel(), z.ravel(), p.ravel(), 0.1, momentum=0.9)
    for bad in (float("inf"), float("nan")):
        with pytest.raises(ValueError, match="lr must be finite"):
            ops.adam_step(p, z, z.copy(), z.copy(), 1, bad)
        with pytest.raises(ValueError, match="lr must be finite"):
            ops.sgd_step(p, z, None, bad)
    with pytest.raises(ValueError, match="weight_decay must be finite"):
        ops.adam_step(p, z, z.copy(), z.copy(), 1, 0.1, weight_decay=float("inf"))
    with pytest.raises(TypeError, match="lr must be a real number, got None"):
        ops.adam_step(p, z, z.copy(), z.copy(), 1, None)
    with pytest.raises(TypeError, match="max_norm must be a real number"):
        ops.clip_grad_norm([p], "x")
    with pytest.raises(ValueError, match=r"step must be in \[1, 2\*\*63\)"):
        ops.adam_step(p, z, z.copy(), z.copy(), 2**70, 0.1)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "kind", ["adam", "adam_wd", "adamw", "sgd", "sgd_momentum", "sgd_nesterov"]
)
def test_torch_parity(rng, dtype, kind):
    torch = pytest.importorskip("torch")
    p0 = rng.standard_normal((5, 6)).astype(dtype)
    grads = [rng.standard_normal(p0.shape).astype(dtype) for _ in range(5)]
    pt = torch.nn.Parameter(torch.tensor(p0))
    opt = {
        "adam": lambda: torch.optim.Adam([pt], lr=0.01),
        "adam_wd": lambda: torch.optim.Adam([pt], lr=0.01, betas=(0.8, 0.99), weight_decay=0.1),
        "adamw": lambda: torch.optim.AdamW([pt], lr=0.01, weight_decay=0.1, eps=1e-6),
        "sgd": lambda: torch.optim.SGD([pt], lr=0.1, weight_decay=0.01),
        "sgd_momentum": lambda: torch.optim.SGD([pt], lr=0.1, momentum=0.9, weight_decay=0.01),
        "sgd_nesterov": lambda: torch.optim.SGD([pt], lr=0.1, momentum=0.9, nesterov=True),
    }[kind]()
    p = p0.copy()
    s1, s2 = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        pt.grad = torch.tensor(g)
        opt.step()
        if kind == "adam":
            ops.adam_step(p, g, s1, s2, t, 0.01)
        elif kind == "adam_wd":
            ops.adam_step(p, g, s1, s2, t, 0.01, beta1=0.8, beta2=0.99, weight_decay=0.1)
        elif kind == "adamw":
            ops.adam_step(p, g, s1, s2, t, 0.01, eps=1e-6, weight_decay=0.1, decoupled=True)
        elif kind == "sgd":
            ops.sgd_step(p, g, None, 0.1, weight_decay=0.01)
        elif kind == "sgd_momentum":
            ops.sgd_step(p, g, s1, 0.1, momentum=0.9, weight_decay=0.01)
        else:
            ops.sgd_step(p, g, s1, 0.1, momentum=0.9, nesterov=True)
    tol = 1e-5 if dtype == np.float32 else 1e-6
    assert rel_error(p, pt.detach().numpy()) < tol


@pytest.mark.torch
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_torch_parity(rng, max_norm):
    torch = pytest.importorskip("torch")
    gs = [rng.standard_normal(s) for s in [(3, 4), (7,), (2, 2, 2)]]
    params = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in gs]
    for pt, g in zip(params, gs):
        pt.grad = torch.tensor(g)
    norm_t = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    norm = ops.clip_grad_norm(gs, max_norm)
    assert abs(norm - norm_t) < 1e-12 * norm_t
    for pt, g in zip(params, gs):
        assert rel_error(g, pt.grad.numpy()) < 1e-12
