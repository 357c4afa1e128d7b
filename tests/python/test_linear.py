"""linear: NumPy reference, finite differences, float32 vs float64, bad input, torch parity."""

from __future__ import annotations

import numpy as np
import pytest

from chronoscale import ops

from helpers import numeric_grad, rel_error

ACTS = ["none", "relu", "sigmoid", "tanh"]


def ref_linear(x, w, b, activation):
    y = x.astype(np.float64) @ w.astype(np.float64).T
    if b is not None:
        y = y + b
    if activation == "relu":
        return np.maximum(y, 0.0)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-y))
    if activation == "tanh":
        return np.tanh(y)
    return y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_passes_nan_through(rng, dtype):
    """NaN rows stay NaN through the ReLU (as torch.relu), and the gradient passes through a
    NaN output (zero only where y <= 0, torch's threshold_backward)."""
    x, w, b = rng.standard_normal((6, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    x[2, 1] = np.nan
    y, cache = ops.linear_forward(*(a.astype(dtype) for a in (x, w, b)), "relu")
    ref = ref_linear(x, w, b, "relu")
    assert np.isnan(y[2]).all() and not np.isnan(np.delete(y, 2, axis=0)).any()
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6, equal_nan=True)
    dy = rng.standard_normal(y.shape).astype(dtype)
    db = ops.linear_backward(dy, cache)[2]
    np.testing.assert_allclose(db, (dy * ~(ref <= 0)).sum(axis=0), rtol=1e-5)


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("trial", range(3))
def test_forward_matches_reference(rng, activation, trial):
    lead = [(), (int(rng.integers(1, 6)),), (2, 3, int(rng.integers(1, 5)))][trial]
    I, O = int(rng.integers(1, 9)), int(rng.integers(1, 7))
    x = rng.standard_normal(lead + (I,))
    w = rng.standard_normal((O, I))
    b = rng.standard_normal(O) if trial != 1 else None
    y, _ = ops.linear_forward(x, w, b, activation)
    assert y.shape == lead + (O,) and y.dtype == np.float64
    assert rel_error(y, ref_linear(x, w, b, activation)) < 1e-12
    f32 = [None if a is None else a.astype(np.float32) for a in (x, w, b)]
    y32, _ = ops.linear_forward(*f32, activation=activation)
    assert y32.dtype == np.float32 and rel_error(y32, y) < 1e-5


def test_large_forward_uses_parallel_gemm(rng):
    x = rng.standard_normal((7, 50, 64))
    w = rng.standard_normal((40, 64))
    b = rng.standard_normal(40)
    y, cache = ops.linear_forward(x, w, b, "relu")
    assert rel_error(y, ref_linear(x, w, b, "relu")) < 1e-12
    dy = rng.standard_normal(y.shape)
    dx, dw, db = ops.linear_backward(dy, cache)
    g = dy * (y > 0)
    assert rel_error(dx, g @ w) < 1e-12
    assert rel_error(dw, g.reshape(-1, 40).T @ x.reshape(-1, 64)) < 1e-12
    assert rel_error(db, g.reshape(-1, 40).sum(0)) < 1e-12


@pytest.mark.parametrize("activation", ACTS)
def test_backward_matches_finite_differences(rng, activation):
    x = rng.standard_normal((3, 2, 4))
    w = rng.standard_normal((5, 4))
    b = rng.standard_normal(5)
    wts = rng.standard_normal((3, 2, 5))

    def loss():
        return float(np.sum(ops.linear_forward(x, w, b, activation)[0] * wts))

    y, cache = ops.linear_forward(x, w, b, activation)
    dx, dw, db = ops.linear_backward(wts, cache)
    assert rel_error(dx, numeric_grad(loss, x)) < 1e-6
    assert rel_error(dw, numeric_grad(loss, w)) < 1e-6
    assert rel_error(db, numeric_grad(loss, b)) < 1e-6
    if activation == "relu":
        assert np.any(y == 0.0) and np.any(y > 0.0)  # the mask is exercised


def test_backward_without_bias_and_1d_input(rng):
    x = rng.standard_normal(6)
    w = rng.standard_normal((3, 6))
    y, cache = ops.linear_forward(x, w, None, None)
    assert y.shape == (3,) and rel_error(y, w @ x) < 1e-12
    dy = rng.standard_normal(3)
    dx, dw, db = ops.linear_backward(dy, cache)
    assert rel_error(dx, dy @ w) < 1e-12
    assert rel_error(dw, np.outer(dy, x)) < 1e-12
    assert rel_error(db, dy) < 1e-12


@pytest.mark.parametrize("activation", ACTS)
def test_backward_float32_matches_float64(rng, activation):
    x = rng.standard_normal((4, 9, 5))
    w = rng.standard_normal((6, 5))
    b = rng.standard_normal(6)
    dy = rng.standard_normal((4, 9, 6))
    g64 = ops.linear_backward(dy, ops.linear_forward(x, w, b, activation)[1])
    f = [a.astype(np.float32) for a in (x, w, b, dy)]
    g32 = ops.linear_backward(f[3], ops.linear_forward(f[0], f[1], f[2], activation)[1])
    for a32, a64 in zip(g32, g64):
        assert a32.dtype == np.float32 and rel_error(a32, a64) < 1e-5


def test_bad_input(rng):
    x = rng.standard_normal((2, 5, 3))
    w = rng.standard_normal((4, 3))
    with pytest.raises(TypeError, match="x"):
        ops.linear_forward(x.astype(np.int64), w)
    with pytest.raises(TypeError, match="w must have the dtype of x"):
        ops.linear_forward(x, w.astype(np.float32))
    with pytest.raises(ValueError, match="w must have shape"):
        ops.linear_forward(x, rng.standard_normal((4, 2)))
    with pytest.raises(ValueError, match="b must have shape"):
        ops.linear_forward(x, w, np.zeros(3))
    with pytest.raises(TypeError, match="b must have the dtype"):
        ops.linear_forward(x, w, np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        ops.linear_forward(np.asfortranarray(x), w)
    with pytest.raises(ValueError, match="x: no rows"):
        ops.linear_forward(x[:0], w)
    with pytest.raises(ValueError, match="x: input features"):
        ops.linear_forward(x[..., :0], w[:, :0])
    with pytest.raises(ValueError, match="x must have shape"):
        ops.linear_forward(np.array(1.0), w)
    with pytest.raises(ValueError, match="activation"):
        ops.linear_forward(x, w, activation="gelu")
    with pytest.raises(TypeError, match="activation"):
        ops.linear_forward(x, w, activation=1)
    _, cache = ops.linear_forward(x, w, activation="relu")
    with pytest.raises(ValueError, match="dy must have shape"):
        ops.linear_backward(np.zeros((2, 5, 3)), cache)
    with pytest.raises(TypeError, match="dy must have the dtype"):
        ops.linear_backward(np.zeros((2, 5, 4), np.float32), cache)
    with pytest.raises(TypeError, match="cache"):
        ops.linear_backward(np.zeros((2, 5, 4)), object())


@pytest.mark.torch
@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torch_parity(rng, activation, dtype):
    torch = pytest.importorskip("torch")
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    lin = torch.nn.Linear(7, 5).to(tdt)
    x = rng.standard_normal((3, 4, 7)).astype(dtype)
    wts = rng.standard_normal((3, 4, 5)).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt = lin(xt)
    yt = {"none": yt, "relu": torch.relu(yt), "sigmoid": torch.sigmoid(yt), "tanh": torch.tanh(yt)}[
        activation
    ]
    (yt * torch.tensor(wts)).sum().backward()
    w = lin.weight.detach().numpy()
    b = lin.bias.detach().numpy()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    y, cache = ops.linear_forward(x, w, b, activation)
    assert rel_error(y, yt.detach().numpy()) < tol
    dx, dw, db = ops.linear_backward(wts, cache)
    assert rel_error(dx, xt.grad.numpy()) < 10 * tol
    assert rel_error(dw, lin.weight.grad.numpy()) < 10 * tol
    assert rel_error(db, lin.bias.grad.numpy()) < 10 * tol
