"""CUDA conv1d against the CPU kernel: random shapes, kernel sizes and lengths (0, 1, T
included), with and without ReLU and bias, float32 and float64, forward and backward (the
backward from the CPU's saved output). Skipped without a CUDA build, a device and CuPy."""

from __future__ import annotations

import numpy as np
import pytest
from train_gpu import TOL, check, check_nan, cp, poison, to_gpu

from chronoscale import ops

from helpers import random_lengths

pytestmark = pytest.mark.gpu


def run(rng, B, T, Cin, Cout, K, relu, dtype, bias=True, lengths="random"):
    x = rng.standard_normal((B, T, Cin)).astype(dtype)
    w = (rng.standard_normal((Cout, Cin, K)) / np.sqrt(Cin * K)).astype(dtype)
    b = rng.standard_normal(Cout).astype(dtype) if bias else None
    if isinstance(lengths, str):
        lengths = random_lengths(rng, B, T)
        lengths[-1] = 0 if B > 2 else lengths[-1]
    y_c, ol_c, cache_c = ops.conv1d_forward(x, w, b, lengths, relu)
    xg, wg, bg = to_gpu(x, w, b)
    poison([y_c.shape], dtype)
    y_g, ol_g, _ = ops.conv1d_forward(xg, wg, bg, lengths, relu)
    assert isinstance(ol_g, np.ndarray) and np.array_equal(ol_g, ol_c)
    tol = TOL[dtype]
    check(y_g, y_c, tol, "y")
    dy = rng.standard_normal(y_c.shape).astype(dtype)
    grads_c = ops.conv1d_backward(dy, cache_c)
    cache_g = ops.Conv1dCache(xg, wg, bg, cache_c.lengths, relu, to_gpu(y_c))
    poison([x.shape, w.shape, (Cout,)], dtype)
    grads_g = ops.conv1d_backward(to_gpu(dy), cache_g)
    for name, g, c in zip(("dx", "dw", "db"), grads_g, grads_c):
        check(g, c, tol, name)


@pytest.mark.parametrize("K", [1, 2, 5])
@pytest.mark.parametrize("relu", [False, True])
def test_matches_cpu_float32(rng, K, relu):
    B, T = int(rng.integers(1, 12)), int(rng.integers(K, 60))
    Cin, Cout = int(rng.integers(1, 40)), int(rng.integers(1, 40))
    run(rng, B, T, Cin, Cout, K, relu, np.float32, bias=bool(rng.integers(2)))


def test_matches_cpu_float64(rng):
    run(rng, 5, 23, 7, 11, 3, True, np.float64)


def test_no_lengths_and_t_equals_k(rng):
    run(rng, 3, 4, 6, 5, 4, False, np.float32, lengths=None)


def test_large_float32(rng):
    run(rng, 64, 200, 64, 128, 5, True, np.float32)


def test_returns_cupy(rng):
    x = to_gpu(rng.standard_normal((2, 6, 3)).astype(np.float32))
    w = to_gpu(rng.standard_normal((4, 3, 2)).astype(np.float32))
    y, _, _ = ops.conv1d_forward(x, w)
    assert isinstance(y, cp().ndarray)


def test_relu_passes_nan_like_cpu(rng):
    """NaN inputs give NaN outputs through the fused ReLU (never 0) where the CPU has them, and
    the gradients match the CPU's, NaN pattern included."""
    x = rng.standard_normal((3, 10, 4)).astype(np.float32)
    x[1, 5, 2] = np.nan
    w = rng.standard_normal((6, 4, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    lengths = np.array([10, 10, 7])
    y_c, _, cache_c = ops.conv1d_forward(x, w, b, lengths, True)
    xg, wg, bg = to_gpu(x, w, b)
    y_g, _, _ = ops.conv1d_forward(xg, wg, bg, lengths, True)
    assert np.isnan(y_c).sum() == 3 * 6
    check_nan(y_g, y_c, TOL[np.float32], "y")
    dy = rng.standard_normal(y_c.shape).astype(np.float32)
    grads_c = ops.conv1d_backward(dy, cache_c)
    cache_g = ops.Conv1dCache(xg, wg, bg, cache_c.lengths, True, to_gpu(y_c))
    grads_g = ops.conv1d_backward(to_gpu(dy), cache_g)
    for name, g, c in zip(("dx", "dw", "db"), grads_g, grads_c, strict=True):
        check_nan(g, c, TOL[np.float32], name)

