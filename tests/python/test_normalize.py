"""Row normalisation (ops.normalize_forward / normalize_backward) on the CPU: against a float64
NumPy reference on random rows (zero rows and rows at the norm floor included), gradients by
finite differences, torch parity, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import chronoscale
from chronoscale import ops

from helpers import FakeCudaArray, numeric_grad, rel_error, skip_if_cuda_device


def reference(x, eps):
    x = np.asarray(x, np.float64)
    norm = np.sqrt((x * x).sum(axis=1))
    return x / np.maximum(norm, eps)[:, None], norm


def random_rows(rng, N, D, dtype):
    x = rng.standard_normal((N, D)) * rng.uniform(0.01, 10, size=(N, 1))
    x[rng.random(N) < 0.1] = 0.0  # zero rows (padding embeddings)
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trial", range(4))
def test_forward_and_backward_match_reference(rng, dtype, trial):
    N, D = int(rng.integers(1, 300)), int(rng.integers(1, 150))
    eps = 1e-8 if trial % 2 else 0.5  # a large floor: many rows at or below it
    x = random_rows(rng, N, D, dtype)
    y, norm = ops.normalize_forward(x, eps)
    want_y, want_n = reference(x, eps)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    assert y.dtype == norm.dtype == dtype and y.shape == (N, D) and norm.shape == (N,)
    assert rel_error(y, want_y) < tol and rel_error(norm, want_n) < tol
    assert not np.isnan(y).any()
    dy = rng.standard_normal((N, D)).astype(dtype)
    n = np.maximum(want_n, eps)[:, None]
    radial = (want_y * dy).sum(axis=1, keepdims=True)
    want_dx = np.where((want_n > eps)[:, None], dy - want_y * radial, dy) / n
    assert rel_error(ops.normalize_backward(dy, y, norm, eps), want_dx) < 10 * tol


def test_gradient_by_finite_differences(rng):
    N, D, eps = 7, 5, 0.3
    x = rng.standard_normal((N, D))
    x[1] *= 0.01  # norm below eps: the floor is a constant there
    x[2] = 0.0
    w = rng.standard_normal((N, D))
    y, norm = ops.normalize_forward(x, eps)
    num = numeric_grad(lambda: float(np.sum(w * ops.normalize_forward(x, eps)[0])), x)
    assert rel_error(ops.normalize_backward(w, y, norm, eps), num) < 1e-7


def test_large_rows_run_in_parallel_with_the_same_result(rng):
    x = rng.standard_normal((20000, 64)).astype(np.float32)
    dy = rng.standard_normal((20000, 64)).astype(np.float32)
    old = chronoscale.get_num_threads()
    try:
        outs = []
        for threads in (1, 2):
            chronoscale.set_num_threads(threads)
            y, n = ops.normalize_forward(x)
            outs.append((y, n, ops.normalize_backward(dy, y, n)))
    finally:
        chronoscale.set_num_threads(old)
    for a, b in zip(*outs, strict=True):
        assert np.array_equal(a, b)


def test_nan_propagates_instead_of_the_floor():
    """A NaN in a row makes its norm NaN: the row comes out NaN (torch's clamp_min keeps NaN
    too), not x / eps; zero rows still take the floor."""
    x = np.array([[3.0, 4.0], [np.nan, 1.0], [0.0, 0.0]])
    y, norm = ops.normalize_forward(x, 1e-8)
    np.testing.assert_allclose(y[0], [0.6, 0.8])
    assert np.isnan(norm[1]) and np.isnan(y[1]).all()
    np.testing.assert_array_equal(y[2], [0.0, 0.0])
    dx = ops.normalize_backward(np.ones_like(x), y, norm, 1e-8)
    assert np.isnan(dx[1]).all() and np.isfinite(dx[[0, 2]]).all()


def test_bad_input_raises(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    with pytest.raises(TypeError, match="x must be float32 or float64"):
        ops.normalize_forward(x.astype(np.int32))
    with pytest.raises(ValueError, match=r"x must have shape \[N, D\]"):
        ops.normalize_forward(x[None])
    with pytest.raises(ValueError, match="contiguous"):
        ops.normalize_forward(x[:, :2])
    for eps in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="eps must be a finite number > 0"):
            ops.normalize_forward(x, eps)
    with pytest.raises(TypeError, match="eps must be a real number"):
        ops.normalize_forward(x, "a")
    y, n = ops.normalize_forward(x)
    with pytest.raises(ValueError, match=r"dy must have shape \[N, D\]"):
        ops.normalize_backward(x[:3].copy(), y, n)
    with pytest.raises(TypeError, match="dy must have the dtype of y"):
        ops.normalize_backward(x.astype(np.float64), y, n)
    with pytest.raises(ValueError, match=r"norm must have shape \[N\]"):
        ops.normalize_backward(x, y, n[:2].copy())
    with pytest.raises(TypeError, match="y must be float32 or float64"):
        ops.normalize_backward(x, y.astype(np.int64), n)


def test_cuda_array_without_device_raises():
    skip_if_cuda_device()
    with pytest.raises(RuntimeError, match="CUDA") as e:
        ops.normalize_forward(FakeCudaArray((4, 3)))
    if chronoscale.build_info()["cuda"]:
        assert isinstance(e.value, chronoscale.CudaError)


@pytest.mark.torch
def test_torch_parity(rng):
    torch = pytest.importorskip("torch")
    x = random_rows(rng, 50, 16, np.float64)
    eps = 1e-8
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = torch.nn.functional.normalize(tx, dim=1, eps=eps)
    w = rng.standard_normal(x.shape)
    (ty * torch.from_numpy(w)).sum().backward()
    y, n = ops.normalize_forward(x, eps)
    assert rel_error(y, ty.detach().numpy()) < 1e-14
    assert rel_error(ops.normalize_backward(w, y, n, eps), tx.grad.numpy()) < 1e-12
