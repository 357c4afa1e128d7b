"""CUDA losses against the CPU kernels: MSE, MAE, Huber, BCE with logits (with and without
weights), softmax cross-entropy (ignored rows, all rows ignored), the blocked full softmax over
an item table, and sampled softmax with
log-Q (uniform and log_q, accidental hits on and off), float32 and float64; the loss is a Python
float, the gradients CuPy arrays. Skipped without a CUDA build, a device and CuPy."""

from __future__ import annotations

import numpy as np
import pytest
from train_gpu import TOL, check, cp, poison, to_gpu

from chronoscale import ops

from helpers import bf16_full_softmax_reference

pytestmark = pytest.mark.gpu

POINT = {
    "mse": ops.mse_loss,
    "mae": ops.mae_loss,
    "huber": lambda p, t, weights=None, **kw: ops.huber_loss(p, t, 0.7, weights=weights, **kw),
    "bce_with_logits": ops.bce_with_logits_loss,
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", list(POINT))
@pytest.mark.parametrize("shape", [(1,), (37, 5), (300, 1000)])
def test_point_losses(rng, dtype, kind, shape):
    p = (rng.standard_normal(shape) * 2).astype(dtype)
    t = (
        rng.uniform(0, 1, shape) if kind == "bce_with_logits" else rng.standard_normal(shape)
    ).astype(dtype)
    for w in (None, rng.uniform(0, 2, shape).astype(dtype)):
        loss_c, d_c = POINT[kind](p, t, weights=w)
        poison([shape], dtype)
        loss_g, d_g = POINT[kind](*to_gpu(p, t), weights=to_gpu(w) if w is not None else None)
        assert isinstance(loss_g, float)
        assert abs(loss_g - loss_c) <= TOL[dtype] * abs(loss_c)
        check(d_g, d_c, TOL[dtype], "dpred")
        # loss_on_device: a 0-d float64 CuPy array (no wait), the same value and gradient
        poison([shape], dtype)
        loss_d, d_d = POINT[kind](*to_gpu(p, t), weights=to_gpu(w) if w is not None else None,
                                  loss_on_device=True)
        assert isinstance(loss_d, cp.ndarray) and loss_d.shape == () and loss_d.dtype == cp.float64
        assert abs(float(loss_d) - loss_c) <= TOL[dtype] * abs(loss_c)
        check(d_d, d_c, TOL[dtype], "dpred (loss_on_device)")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,V", [(1, 1), (64, 10), (33, 5000)])
def test_softmax_cross_entropy(rng, dtype, N, V):
    x = (rng.standard_normal((N, V)) * 3).astype(dtype)
    target = rng.integers(0, V, N).astype(np.int64)
    if N > 2:
        target[1] = -1
    for tgt in (target, np.full(N, -1, np.int64)):
        loss_c, d_c = ops.softmax_cross_entropy(x, tgt)
        poison([x.shape], dtype)
        loss_g, d_g = ops.softmax_cross_entropy(to_gpu(x), to_gpu(tgt))  # CUDA target too
        assert abs(loss_g - loss_c) <= TOL[dtype] * max(abs(loss_c), 1e-30)
        check(d_g, d_c, TOL[dtype], "dlogits")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,V,D", [(1, 1, 1), (300, 37, 9), (70000, 1000, 16)])
def test_full_softmax(rng, dtype, N, V, D):
    """The native blocked full softmax: (70000, 1000) is two blocks of 2^26 logits."""
    user = rng.standard_normal((N, D)).astype(dtype)
    items = (rng.standard_normal((V, D)) * 0.5).astype(dtype)
    target = rng.integers(0, V, N).astype(np.int64)
    target[rng.random(N) < 0.2] = -1
    for tgt in (target, np.full(N, -1, np.int64)):
        loss_c, du_c, di_c = ops.full_softmax_loss(user, items, tgt)
        poison([user.shape, items.shape], dtype)
        loss_g, du_g, di_g = ops.full_softmax_loss(*to_gpu(user, items), tgt)
        assert isinstance(loss_g, float)
        assert abs(loss_g - loss_c) <= TOL[dtype] * max(abs(loss_c), 1e-30)
        check(du_g, du_c, TOL[dtype], "d_user")
        check(di_g, di_c, TOL[dtype], "d_items")
        # loss_on_device: a 0-d float64 CuPy array (no wait), the same value and gradients
        loss_d, du_d, di_d = ops.full_softmax_loss(*to_gpu(user, items), tgt,
                                                   loss_on_device=True)
        assert isinstance(loss_d, cp().ndarray) and loss_d.shape == ()
        assert loss_d.dtype == np.float64
        assert abs(float(loss_d) - loss_c) <= TOL[dtype] * max(abs(loss_c), 1e-30)
        check(du_d, du_c, TOL[dtype], "d_user (loss_on_device)")
        check(di_d, di_c, TOL[dtype], "d_items (loss_on_device)")


def _precision_case(rng, monkeypatch, gemm, N, V, D):
    """float32 user [N, D], items [V, D] and targets (every seventh ignored) for a precision
    test; gemm="builtin" turns cuBLAS off for the test."""
    if gemm == "builtin":
        monkeypatch.setenv("CHRONOSCALE_CUDA_GEMM", "builtin")
    user = rng.standard_normal((N, D)).astype(np.float32)
    items = (rng.standard_normal((V, D)) * 0.5).astype(np.float32)
    target = rng.integers(0, V, N).astype(np.int64)
    target[::7] = -1
    return user, items, target


def _refuses_float64(user, items, target, precision):
    """precision (other than "float32") refuses float64 arrays, naming itself."""
    with pytest.raises(ValueError, match=f"{precision}.*float32"):
        ops.full_softmax_loss(*to_gpu(user.astype(np.float64), items.astype(np.float64)),
                              target, precision=precision)


@pytest.mark.parametrize("gemm", ["cublas", "builtin"])
@pytest.mark.parametrize("N,V,D", [(300, 37, 9), (70000, 1000, 16)])
def test_full_softmax_bf16(rng, monkeypatch, gemm, N, V, D):
    """precision="bfloat16": cuBLAS GemmEx on bfloat16 copies (or, with the built-in GEMM, the
    same values widened to float32) against the float64 model of exactly that."""
    user, items, target = _precision_case(rng, monkeypatch, gemm, N, V, D)
    want = bf16_full_softmax_reference(user, items, target)
    loss, du, di = ops.full_softmax_loss(*to_gpu(user, items), target, precision="bfloat16")
    assert abs(loss - want[0]) <= 1e-4 * abs(want[0])
    check(du, want[1].astype(np.float32), 3e-3, "d_user")
    check(di, want[2].astype(np.float32), 3e-3, "d_items")
    _refuses_float64(user, items, target, "bfloat16")


@pytest.mark.parametrize("gemm", ["cublas", "builtin"])
def test_full_softmax_tf32(rng, monkeypatch, gemm):
    """precision="tfloat32": cuBLAS GemmEx with TF32 compute on the float32 operands (inputs
    rounded to a 10-bit mantissa: within about 1e-3 of the exact result, and not bit-equal to
    the float32 products); with the built-in GEMM, the float32 products themselves."""
    user, items, target = _precision_case(rng, monkeypatch, gemm, 3000, 1000, 64)
    exact = ops.full_softmax_loss(user.astype(np.float64), items.astype(np.float64), target)
    loss, du, di = ops.full_softmax_loss(*to_gpu(user, items), target, precision="tfloat32")
    tol = 1e-4 if gemm == "builtin" else 5e-3
    assert abs(loss - exact[0]) <= tol * abs(exact[0])
    check(du, exact[1].astype(np.float32), tol, "d_user")
    check(di, exact[2].astype(np.float32), tol, "d_items")
    _refuses_float64(user, items, target, "tfloat32")


@pytest.mark.parametrize("gemm", ["cublas", "builtin"])
@pytest.mark.parametrize("N,V,D", [(300, 37, 9), (70000, 1000, 16), (3000, 3706, 129)])
def test_full_softmax_tf32x3(rng, monkeypatch, gemm, N, V, D):
    """precision="tf32x3": three TF32 products per product on TF32 pairs (cuda/tf32.cuh; D and
    V not multiples of 4 pad; (70000, 1000) is two row blocks) are float32-accurate: as close
    to the float64 op as the float32 op (rel. error < 1e-5); with the built-in GEMM, three
    float32 products (float32 again)."""
    user, items, target = _precision_case(rng, monkeypatch, gemm, N, V, D)
    exact = ops.full_softmax_loss(user.astype(np.float64), items.astype(np.float64), target)
    f32 = ops.full_softmax_loss(user, items, target)
    poison([user.shape, items.shape], np.float32)
    loss, du, di = ops.full_softmax_loss(*to_gpu(user, items), target, precision="tf32x3")
    assert abs(loss - exact[0]) <= 1e-6 * abs(exact[0])
    check(du, exact[1].astype(np.float32), 1e-5, "d_user")
    check(di, exact[2].astype(np.float32), 1e-5, "d_items")
    check(du, f32[1], TOL[np.float32], "d_user vs the CPU float32 op")
    check(di, f32[2], TOL[np.float32], "d_items vs the CPU float32 op")
    _refuses_float64(user, items, target, "tf32x3")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("log_q", [False, True])
@pytest.mark.parametrize("hits", [True, False])
def test_sampled_softmax(rng, dtype, log_q, hits):
    N, D, V, S = 128, 32, 1000, 64
    user = rng.standard_normal((N, D)).astype(dtype)
    items = (rng.standard_normal((V, D)) * 0.3).astype(dtype)
    target = rng.integers(0, V, N).astype(np.int64)
    target[:3] = -1
    lq = -np.log1p(np.arange(V)).astype(dtype) if log_q else None
    loss_c, du_c, rows_c, dr_c = ops.sampled_softmax_loss(
        user, items, target, S, 5, log_q=lq, remove_accidental_hits=hits
    )
    loss_g, du_g, rows_g, dr_g = ops.sampled_softmax_loss(
        *to_gpu(user, items), target, S, 5, log_q=lq, remove_accidental_hits=hits
    )
    assert isinstance(rows_g, np.ndarray) and np.array_equal(rows_g, rows_c)
    assert abs(loss_g - loss_c) <= TOL[dtype] * abs(loss_c)
    check(du_g, du_c, TOL[dtype], "d_user")
    check(dr_g, dr_c, TOL[dtype], "d_rows")


def test_non_default_stream(rng):
    x = rng.standard_normal((16, 300)).astype(np.float32)
    t = rng.integers(0, 300, 16)
    want, d_c = ops.softmax_cross_entropy(x, t)
    with cp().cuda.Stream(non_blocking=True):
        got, d_g = ops.softmax_cross_entropy(to_gpu(x), t)
    assert abs(got - want) <= 1e-5 * abs(want)
    check(d_g, d_c, TOL[np.float32], "dlogits")
