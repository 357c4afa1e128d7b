"""Scale fusion (ops.scale_fusion_forward / backward, nn.ScaleFusion) on the CPU: against a
float64 NumPy reference on random inputs, gradients by finite differences (ys and logits),
torch parity, the same result for any thread count, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import chronoscale
from chronoscale import nn, ops

from helpers import numeric_grad, rel_error


def reference(ys, logits):
    z = logits - logits.max(axis=0, keepdims=True)
    a = np.exp(z) / np.exp(z).sum(axis=0, keepdims=True)
    return (ys * a[:, None, :]).sum(axis=0), a


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("S,B,K", [(1, 1, 1), (3, 17, 1), (4, 300, 5), (2, 0, 3)])
def test_matches_reference(rng, dtype, S, B, K):
    ys = rng.standard_normal((S, B, K)).astype(dtype)
    logits = (3 * rng.standard_normal((S, K))).astype(dtype)
    y, a = ops.scale_fusion_forward(ys, logits)
    want_y, want_a = reference(ys.astype(np.float64), logits.astype(np.float64))
    tol = 2e-6 if dtype == np.float32 else 1e-13
    assert y.shape == (B, K) and a.shape == (S, K) and y.dtype == a.dtype == dtype
    assert rel_error(a, want_a) < tol and rel_error(y, want_y) < tol
    dy = rng.standard_normal((B, K)).astype(dtype)
    dys, dlogits = ops.scale_fusion_backward(dy, ys, a)
    g = np.einsum("bk,sbk->sk", dy.astype(np.float64), ys.astype(np.float64))
    wa = a.astype(np.float64)  # the alpha the backward is given (g - mean cancels: use it)
    want_dl = wa * (g - (wa * g).sum(axis=0, keepdims=True))
    assert rel_error(dys, wa[:, None, :] * dy[None]) < tol
    assert rel_error(dlogits, want_dl) < 10 * tol


def test_gradients_by_finite_differences(rng):
    S, B, K = 3, 7, 2
    ys, logits = rng.standard_normal((S, B, K)), rng.standard_normal((S, K))
    w = rng.standard_normal((B, K))

    def f():
        return float(np.sum(w * ops.scale_fusion_forward(ys, logits)[0]))

    a = ops.scale_fusion_forward(ys, logits)[1]
    dys, dlogits = ops.scale_fusion_backward(w, ys, a)
    assert rel_error(dys, numeric_grad(f, ys)) < 1e-8
    assert rel_error(dlogits, numeric_grad(f, logits)) < 1e-7


def test_layer_uses_the_op(rng):
    """nn.ScaleFusion: forward equals the reference, backward returns one [B, K] gradient per
    scale (C-contiguous) and accumulates the logits' gradient."""
    ys = [rng.standard_normal((9, 2)) for _ in range(3)]
    layer = nn.ScaleFusion()
    layer.build((3, 2), np.random.default_rng(0), np.float64)
    layer.logits.data = rng.standard_normal((3, 2))
    y = layer.forward(ys)
    np.testing.assert_allclose(y, reference(np.stack(ys), layer.logits.data)[0], rtol=1e-13)
    np.testing.assert_allclose(layer.alpha, reference(np.stack(ys), layer.logits.data)[1],
                               rtol=1e-13)
    dy = rng.standard_normal((9, 2))
    dys = layer.backward(dy)
    assert len(dys) == 3 and all(d.shape == (9, 2) and d.flags.c_contiguous for d in dys)
    assert layer.logits.grad is not None and layer.logits.grad.shape == (3, 2)


def test_independent_of_thread_count(rng):
    ys = rng.standard_normal((3, 20000, 4)).astype(np.float32)
    logits = rng.standard_normal((3, 4)).astype(np.float32)
    dy = rng.standard_normal((20000, 4)).astype(np.float32)
    old = chronoscale.get_num_threads()
    outs = []
    try:
        for threads in (1, 2):
            chronoscale.set_num_threads(threads)
            y, a = ops.scale_fusion_forward(ys, logits)
            outs.append((y, a, *ops.scale_fusion_backward(dy, ys, a)))
    finally:
        chronoscale.set_num_threads(old)
    for p, q in zip(*outs, strict=True):
        assert np.array_equal(p, q)


def test_bad_input(rng):
    ys = rng.standard_normal((3, 4, 2))
    with pytest.raises(ValueError, match=r"ys must have shape \[S, B, K\]"):
        ops.scale_fusion_forward(ys[0], np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"logits must have shape \[S, K\]"):
        ops.scale_fusion_forward(ys, np.zeros((2, 2)))
    with pytest.raises(TypeError, match="logits must have the dtype of ys"):
        ops.scale_fusion_forward(ys, np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match=r"no scales \(S = 0\)"):
        ops.scale_fusion_forward(np.zeros((0, 4, 2)), np.zeros((0, 2)))
    with pytest.raises(TypeError, match="ys must be float32 or float64"):
        ops.scale_fusion_forward(ys.astype(np.int64), np.zeros((3, 2)))
    a = ops.scale_fusion_forward(ys, np.zeros((3, 2)))[1]
    with pytest.raises(ValueError, match=r"dy must have shape \[B, K\]"):
        ops.scale_fusion_backward(np.zeros((5, 2)), ys, a)
    with pytest.raises(ValueError, match=r"alpha must have shape \[S, K\]"):
        ops.scale_fusion_backward(np.zeros((4, 2)), ys, a[:2].copy())
    with pytest.raises(ValueError, match="contiguous"):
        ops.scale_fusion_forward(np.zeros((3, 4, 4))[..., ::2], np.zeros((3, 2)))


@pytest.mark.torch
def test_torch_parity(rng):
    torch = pytest.importorskip("torch")
    ys = rng.standard_normal((3, 50, 2))
    logits = rng.standard_normal((3, 2))
    ty = torch.tensor(ys, requires_grad=True)
    tl = torch.tensor(logits, requires_grad=True)
    out = (torch.softmax(tl, dim=0)[:, None, :] * ty).sum(dim=0)
    w = rng.standard_normal((50, 2))
    (out * torch.tensor(w)).sum().backward()
    y, a = ops.scale_fusion_forward(ys, logits)
    dys, dl = ops.scale_fusion_backward(w, ys, a)
    assert rel_error(y, out.detach().numpy()) < 1e-14
    assert rel_error(dys, ty.grad.numpy()) < 1e-14 and rel_error(dl, tl.grad.numpy()) < 1e-12
