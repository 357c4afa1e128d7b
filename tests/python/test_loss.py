"""Losses: NumPy references, finite differences, stability, bad input, torch parity."""

from __future__ import annotations

import numpy as np
import pytest

import chronoscale
from chronoscale import ops

from helpers import numeric_grad, rel_error


def ref_point(kind, p, t, w=None, delta=1.0):
    e = p - t
    if kind == "mse":
        loss = e * e
    elif kind == "mae":
        loss = np.abs(e)
    elif kind == "huber":
        a = np.abs(e)
        loss = np.where(a <= delta, 0.5 * e * e, delta * (a - 0.5 * delta))
    else:  # bce with logits: -t log s(p) - (1 - t) log(1 - s(p))
        loss = t * np.logaddexp(0.0, -p) + (1.0 - t) * np.logaddexp(0.0, p)
    if w is not None:
        loss = loss * w
    return float(loss.mean())


def call_point(kind, p, t, w=None, delta=1.0):
    if kind == "mse":
        return ops.mse_loss(p, t, w)
    if kind == "mae":
        return ops.mae_loss(p, t, w)
    if kind == "huber":
        return ops.huber_loss(p, t, delta, w)
    return ops.bce_with_logits_loss(p, t, w)


KINDS = ["mse", "mae", "huber", "bce"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_point_loss_matches_reference_and_finite_differences(rng, kind, weighted):
    shape = [(7,), (3, 5), (2, 3, 4)][int(rng.integers(0, 3))]
    p = rng.standard_normal(shape) * 2
    t = rng.random(shape) if kind == "bce" else rng.standard_normal(shape)
    w = rng.random(shape) + 0.5 if weighted else None
    delta = 0.7
    loss, dp = call_point(kind, p, t, w, delta)
    assert isinstance(loss, float) and dp.shape == p.shape and dp.dtype == p.dtype
    assert abs(loss - ref_point(kind, p, t, w, delta)) < 1e-12 * max(1.0, abs(loss))
    num = numeric_grad(lambda: call_point(kind, p, t, w, delta)[0], p)
    assert rel_error(dp, num) < 1e-6
    f32 = [None if a is None else a.astype(np.float32) for a in (p, t, w)]
    loss32, dp32 = call_point(kind, *f32, delta=delta)
    assert dp32.dtype == np.float32
    assert abs(loss32 - loss) < 1e-5 * max(1.0, abs(loss)) and rel_error(dp32, dp) < 1e-5


@pytest.mark.parametrize("kind", KINDS)
def test_point_loss_on_device_is_ignored_for_host_arrays(rng, kind):
    """loss_on_device only changes CUDA calls: host arrays still give a float, the same one."""
    p = rng.standard_normal((4, 3))
    t, w = rng.random((4, 3)), rng.random((4, 3))
    fn = {"mse": ops.mse_loss, "mae": ops.mae_loss, "huber": ops.huber_loss,
          "bce": ops.bce_with_logits_loss}[kind]
    a, b = fn(p, t, weights=w), fn(p, t, weights=w, loss_on_device=True)
    assert isinstance(b[0], float) and b[0] == a[0]
    np.testing.assert_array_equal(a[1], b[1])


def test_huber_both_regimes_and_large_arrays(rng):
    p = rng.standard_normal(50_000) * 3  # above the parallel threshold
    t = np.zeros_like(p)
    loss, dp = ops.huber_loss(p, t, delta=1.0)
    assert np.any(np.abs(p) < 1) and np.any(np.abs(p) > 1)
    assert abs(loss - ref_point("huber", p, t)) < 1e-12
    assert rel_error(dp, np.clip(p, -1, 1) / p.size) < 1e-12
    old = chronoscale.get_num_threads()
    try:
        chronoscale.set_num_threads(1)
        l1 = ops.mse_loss(p, t)[0]
        chronoscale.set_num_threads(2)
        l2 = ops.mse_loss(p, t)[0]
    finally:
        chronoscale.set_num_threads(old)
    assert l1 == l2  # fixed summation order


def test_bce_is_stable_for_extreme_logits():
    x = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    t = np.array([1.0, 0.0, 0.5, 1.0, 0.0])
    loss, d = ops.bce_with_logits_loss(x, t)
    assert np.isfinite(loss) and np.all(np.isfinite(d))
    assert abs(loss - ref_point("bce", x, t)) < 1e-12 * loss
    s = np.array([0.0, 0.0, 0.5, 1.0, 1.0])
    assert rel_error(d, (s - t) / 5) < 1e-12
    l32, d32 = ops.bce_with_logits_loss(x.astype(np.float32), t.astype(np.float32))
    assert np.isfinite(l32) and abs(l32 - loss) < 1e-5 * loss and rel_error(d32, d) < 1e-6


def ref_ce(logits, target, ignore_index=-1):
    lg = logits.reshape(-1, logits.shape[-1])
    tg = target.reshape(-1)
    keep = tg != ignore_index
    m = lg.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(lg - m).sum(axis=1, keepdims=True)))[:, 0]
    k = keep.sum()
    if k == 0:
        return 0.0, np.zeros_like(logits)
    rows = np.nonzero(keep)[0]
    loss = float(np.sum(lse[rows] - lg[rows, tg[rows]]) / k)
    g = np.exp(lg - lse[:, None])
    g[rows, tg[rows]] -= 1.0
    g[~keep] = 0.0
    return loss, (g / k).reshape(logits.shape)


def test_softmax_cross_entropy_reference_and_finite_differences(rng):
    N, V = 6, 5
    logits = rng.standard_normal((N, V)) * 3
    target = rng.integers(0, V, N)
    target[2] = -1
    loss, d = ops.softmax_cross_entropy(logits, target)
    loss_ref, d_ref = ref_ce(logits, target)
    assert abs(loss - loss_ref) < 1e-12 * loss_ref and rel_error(d, d_ref) < 1e-12
    assert np.all(d[2] == 0.0)
    num = numeric_grad(lambda: ops.softmax_cross_entropy(logits, target)[0], logits)
    assert rel_error(d, num) < 1e-6
    l32, d32 = ops.softmax_cross_entropy(logits.astype(np.float32), target.astype(np.int32))
    assert d32.dtype == np.float32 and abs(l32 - loss) < 1e-5 * loss and rel_error(d32, d) < 1e-5


def test_softmax_cross_entropy_3d_ignore_large_and_stable(rng):
    B, T, V = 8, 30, 300  # above the parallel threshold
    logits = rng.standard_normal((B, T, V)) + 1e4  # a large offset: needs the max subtraction
    target = rng.integers(0, V, (B, T))
    target[target == 7] = 8
    target[:, 25:] = 7  # padded positions, ignored with ignore_index=7
    loss, d = ops.softmax_cross_entropy(logits, target, ignore_index=7)
    loss_ref, d_ref = ref_ce(logits, target, 7)
    assert np.isfinite(loss) and abs(loss - loss_ref) < 1e-9 * loss_ref
    assert rel_error(d, d_ref) < 1e-10 and np.all(d[:, 25:] == 0.0)
    loss0, d0 = ops.softmax_cross_entropy(logits[:, :1].copy(), np.full((B, 1), 7), ignore_index=7)
    assert loss0 == 0.0 and np.all(d0 == 0.0)


def sampled_reference(user, items, target, negatives, log_q, hits, ignore_index=-1):
    V, S = items.shape[0], len(negatives)
    if log_q is None:
        lq = np.full(V, -np.log(V))
    else:
        lq = log_q - (log_q.max() + np.log(np.exp(log_q - log_q.max()).sum()))
    total, k = 0.0, 0
    for n, t in enumerate(target):
        if t == ignore_index:
            continue
        cand = np.concatenate([[t], negatives])
        z = items[cand] @ user[n] - (np.log(S) + lq[cand])
        if hits:
            z[1:][negatives == t] = -np.inf
        m = z.max()
        total += m + np.log(np.exp(z - m).sum()) - z[0]
        k += 1
    return total / max(k, 1)


@pytest.mark.parametrize("with_log_q", [False, True])
@pytest.mark.parametrize("hits", [True, False])
def test_sampled_softmax_reference_and_finite_differences(rng, with_log_q, hits):
    N, D, V, S, seed = 5, 3, 6, 8, 31
    user = rng.standard_normal((N, D))
    items = rng.standard_normal((V, D))
    target = rng.integers(0, V, N)
    target[3] = -1
    log_q = np.log(rng.random(V) + 0.1) + 2.0 if with_log_q else None  # unnormalised on purpose
    neg = ops.sampled_softmax_negatives(V, S, seed, log_q)
    assert neg.dtype == np.int64 and neg.shape == (S,) and np.all((neg >= 0) & (neg < V))
    target[0] = neg[0]  # make sure an accidental hit happens
    loss, d_user, rows, d_rows = ops.sampled_softmax_loss(user, items, target, S, seed, log_q, hits)
    assert abs(loss - sampled_reference(user, items, target, neg, log_q, hits)) < 1e-12 * loss
    valid = target[target != -1]
    np.testing.assert_array_equal(rows, np.unique(np.concatenate([valid, neg])))

    def f():
        return ops.sampled_softmax_loss(user, items, target, S, seed, log_q, hits)[0]

    assert rel_error(d_user, numeric_grad(f, user)) < 1e-6
    assert np.all(d_user[3] == 0.0)
    d_items = np.zeros_like(items)
    d_items[rows] = d_rows
    assert rel_error(d_items, numeric_grad(f, items)) < 1e-6
    f32 = [a.astype(np.float32) for a in (user, items)]
    l32, du32, rows32, dr32 = ops.sampled_softmax_loss(*f32, target, S, seed, log_q, hits)
    np.testing.assert_array_equal(rows32, rows)
    assert abs(l32 - loss) < 1e-5 * loss and rel_error(du32, d_user) < 1e-5
    assert rel_error(dr32, d_rows) < 1e-5


def test_sampled_softmax_larger_batch_uses_gemm_paths(rng):
    N, D, V, S = 200, 16, 500, 100
    user = rng.standard_normal((N, D)) * 0.3
    items = rng.standard_normal((V, D)) * 0.3
    target = rng.integers(0, V, N)
    loss, d_user, rows, d_rows = ops.sampled_softmax_loss(user, items, target, S, 5)
    neg = ops.sampled_softmax_negatives(V, S, 5)
    assert abs(loss - sampled_reference(user, items, target, neg, None, True)) < 1e-12 * loss
    eps = 1e-6  # directional derivative along a random direction
    du, di = rng.standard_normal(user.shape), rng.standard_normal(items.shape)
    lp = ops.sampled_softmax_loss(user + eps * du, items + eps * di, target, S, 5)[0]
    lm = ops.sampled_softmax_loss(user - eps * du, items - eps * di, target, S, 5)[0]
    analytic = np.sum(d_user * du) + np.sum(d_rows * di[rows])
    assert abs((lp - lm) / (2 * eps) - analytic) < 1e-6 * abs(analytic)


@pytest.mark.parametrize("with_log_q", [False, True])
def test_negatives_follow_the_sampling_distribution(rng, with_log_q):
    V, S = 12, 120_000
    log_q = np.log(rng.random(V) + 0.05) if with_log_q else None
    q = np.full(V, 1.0 / V) if log_q is None else np.exp(log_q) / np.exp(log_q).sum()
    neg = ops.sampled_softmax_negatives(V, S, 77, log_q)
    counts = np.bincount(neg, minlength=V)
    chi2 = np.sum((counts - S * q) ** 2 / (S * q))
    assert chi2 < 45.0  # chi-square with 11 dof: p ~ 1e-5
    np.testing.assert_array_equal(neg, ops.sampled_softmax_negatives(V, S, 77, log_q))
    assert not np.array_equal(neg, ops.sampled_softmax_negatives(V, S, 78, log_q))


def test_bad_input(rng):
    p = rng.standard_normal((3, 4))
    with pytest.raises(ValueError, match="target must have the shape of pred"):
        ops.mse_loss(p, np.zeros((4, 3)))
    with pytest.raises(TypeError, match="target must have the dtype of pred"):
        ops.mae_loss(p, p.astype(np.float32))
    with pytest.raises(ValueError, match="weights must have the shape"):
        ops.mse_loss(p, p, np.ones(3))
    with pytest.raises(TypeError, match="logits"):
        ops.bce_with_logits_loss(p.astype(np.int64), p)
    with pytest.raises(ValueError, match="pred is empty"):
        ops.mse_loss(p[:0], p[:0])
    with pytest.raises(ValueError, match="delta"):
        ops.huber_loss(p, p, delta=0.0)
    with pytest.raises(ValueError, match="pred must be C-contiguous"):
        ops.mse_loss(np.asfortranarray(p), p)
    with pytest.raises(ValueError, match=r"target\[1\] = 4 is out of range"):
        ops.softmax_cross_entropy(p, [0, 4, 1])
    with pytest.raises(ValueError, match="target must have shape"):
        ops.softmax_cross_entropy(p, [0, 1])
    with pytest.raises(TypeError, match="target must hold integers"):
        ops.softmax_cross_entropy(p, [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="logits must have shape"):
        ops.softmax_cross_entropy(p[0], [0])
    user, items = rng.standard_normal((3, 2)), rng.standard_normal((5, 2))
    with pytest.raises(ValueError, match=r"target\[2\] = 5 is out of range"):
        ops.sampled_softmax_loss(user, items, [0, 1, 5], 4, 0)
    with pytest.raises(ValueError, match="num_samples"):
        ops.sampled_softmax_loss(user, items, [0, 1, 2], 0, 0)
    with pytest.raises(ValueError, match="items must have shape"):
        ops.sampled_softmax_loss(user, items[:, :1].copy(), [0, 1, 2], 4, 0)
    with pytest.raises(TypeError, match="items must have the dtype of user"):
        ops.sampled_softmax_loss(user, items.astype(np.float32), [0, 1, 2], 4, 0)
    with pytest.raises(ValueError, match="log_q must have shape"):
        ops.sampled_softmax_loss(user, items, [0, 1, 2], 4, 0, np.zeros(4))
    with pytest.raises(ValueError, match="log_q contains NaN or inf"):
        ops.sampled_softmax_loss(user, items, [0, 1, 2], 4, 0, np.array([0, 0, -np.inf, 0, 0]))
    with pytest.raises(ValueError, match="seed"):
        ops.sampled_softmax_loss(user, items, [0, 1, 2], 4, -3)
    with pytest.raises(ValueError, match="num_items"):
        ops.sampled_softmax_negatives(0, 4, 0)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", KINDS)
def test_point_loss_torch_parity(rng, dtype, kind):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    p = (rng.standard_normal((4, 6)) * 2).astype(dtype)
    t = (rng.random((4, 6)) if kind == "bce" else rng.standard_normal((4, 6))).astype(dtype)
    w = (rng.random((4, 6)) + 0.5).astype(dtype)
    pt = torch.tensor(p, requires_grad=True)
    tt = torch.tensor(t)
    if kind == "mse":
        lt, weights = F.mse_loss(pt, tt), None
    elif kind == "mae":
        lt, weights = F.l1_loss(pt, tt), None
    elif kind == "huber":
        lt, weights = F.huber_loss(pt, tt, delta=0.8), None
    else:
        lt, weights = F.binary_cross_entropy_with_logits(pt, tt, weight=torch.tensor(w)), w
    lt.backward()
    loss, d = call_point(kind, p, t, weights, 0.8)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert abs(loss - lt.item()) < tol * max(1.0, abs(loss))
    assert rel_error(d, pt.grad.numpy()) < tol


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_torch_parity(rng, dtype):
    torch = pytest.importorskip("torch")
    logits = (rng.standard_normal((10, 37)) * 4).astype(dtype)
    target = rng.integers(0, 37, 10)
    target[[1, 6]] = -100
    lt_in = torch.tensor(logits, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(lt_in, torch.tensor(target), ignore_index=-100)
    lt.backward()
    loss, d = ops.softmax_cross_entropy(logits, target, ignore_index=-100)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert abs(loss - lt.item()) < tol * loss
    assert rel_error(d, lt_in.grad.numpy()) < tol
