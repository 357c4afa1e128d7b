"""CUDA dense layer against the CPU kernel: every activation, with and without bias, 2-D and 3-D
inputs, float32 and float64, forward and backward (the backward from the CPU's saved output, so
a ReLU at a rounding-level 0 cannot flip). Skipped without a CUDA build, a device and CuPy."""

from __future__ import annotations

import numpy as np
import pytest
from train_gpu import TOL, check, check_nan, poison, to_gpu

from chronoscale import ops

pytestmark = pytest.mark.gpu


def run(rng, shape, I, O, act, bias, dtype):
    x = rng.standard_normal((*shape, I)).astype(dtype)
    w = (rng.standard_normal((O, I)) / np.sqrt(I)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype) if bias else None
    y_c, cache_c = ops.linear_forward(x, w, b, act)
    xg, wg, bg = to_gpu(x, w, b)
    poison([y_c.shape], dtype)
    y_g, _ = ops.linear_forward(xg, wg, bg, act)
    tol = TOL[dtype]
    check(y_g, y_c, tol, "y")
    dy = rng.standard_normal(y_c.shape).astype(dtype)
    grads_c = ops.linear_backward(dy, cache_c)
    cache_g = ops.LinearCache(xg, wg, bg, act, to_gpu(y_c))
    poison([x.shape, w.shape, (O,)], dtype)
    grads_g = ops.linear_backward(to_gpu(dy), cache_g)
    for name, g, c in zip(("dx", "dw", "db"), grads_g, grads_c):
        check(g, c, tol, name)


@pytest.mark.parametrize("act", ["none", "relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_cpu_float32(rng, act, bias):
    N, I, O = int(rng.integers(1, 300)), int(rng.integers(1, 200)), int(rng.integers(1, 200))
    run(rng, (N,), I, O, act, bias, np.float32)


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_matches_cpu_float64_3d(rng, act):
    run(rng, (4, 37), 29, 53, act, True, np.float64)


def test_large_float32(rng):
    run(rng, (64, 50), 256, 512, "sigmoid", True, np.float32)


def test_torch_cuda_tensors_as_input(rng):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    x = rng.standard_normal((8, 16)).astype(np.float32)
    w = rng.standard_normal((4, 16)).astype(np.float32)
    want, _ = ops.linear_forward(x, w, None, "tanh")
    got, _ = ops.linear_forward(
        torch.as_tensor(x, device="cuda"), torch.as_tensor(w, device="cuda"), None, "tanh"
    )
    check(got, want, TOL[np.float32], "y")


def test_relu_passes_nan_like_cpu(rng):
    """A NaN input row stays NaN through the ReLU (never 0), and the gradients' NaN pattern and
    values match the CPU (dy passes a NaN output, as torch)."""
    x = rng.standard_normal((9, 6)).astype(np.float32)
    x[4, 2] = np.nan
    w, b = rng.standard_normal((5, 6)).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    y_c, cache_c = ops.linear_forward(x, w, b, "relu")
    xg, wg, bg = to_gpu(x, w, b)
    y_g, _ = ops.linear_forward(xg, wg, bg, "relu")
    assert np.isnan(y_c[4]).all()
    check_nan(y_g, y_c, TOL[np.float32], "y")
    dy = rng.standard_normal(y_c.shape).astype(np.float32)
    grads_c = ops.linear_backward(dy, cache_c)
    grads_g = ops.linear_backward(to_gpu(dy), ops.LinearCache(xg, wg, bg, "relu", to_gpu(y_c)))
    for name, g, c in zip(("dx", "dw", "db"), grads_g, grads_c, strict=True):
        check_nan(g, c, TOL[np.float32], name)

