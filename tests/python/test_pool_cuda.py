"""CUDA windowed pooling against the CPU op (which test_pool.py checks against a float64 reference
and finite differences): random shapes, windows, modes and lengths, gradients included, float32
and float64, CuPy's current stream. Skipped without a CUDA build, a device and CuPy."""

from __future__ import annotations

import numpy as np
import pytest
from test_pool import random_timestamps
from train_gpu import TOL, check_nan, check_pair

from chronoscale import ops

from helpers import random_lengths

pytestmark = pytest.mark.gpu

MODES = ["max", "mean", "sum"]


def check_host(gpu, cpu, what):
    assert isinstance(gpu, np.ndarray), f"{what}: the integer plans stay NumPy arrays"
    np.testing.assert_array_equal(gpu, cpu, err_msg=what)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size,stride,partial", [(1, 1, True), (3, 2, False), (2, 3, True),
                                                 (5, 1, True), (4, 4, False)])
def test_count_pool_matches_cpu(rng, dtype, mode, size, stride, partial):
    import cupy as cp

    B, T, C = int(rng.integers(2, 40)), int(rng.integers(size, 60)), int(rng.integers(1, 70))
    x = rng.standard_normal((B, T, C)).astype(dtype)
    lengths = random_lengths(rng, B, T)
    y, counts, ol, cache = ops.count_pool_forward(x, size, stride, mode, lengths, partial)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = ops.count_pool_backward(dy, cache)
    yg, cg, olg, cache_g = ops.count_pool_forward(cp.asarray(x), size, stride, mode, lengths,
                                                  partial)
    dxg = ops.count_pool_backward(cp.asarray(dy), cache_g)
    check_host(cg, counts, "counts")
    check_host(olg, ol, "out_lengths")
    if mode == "max":
        np.testing.assert_array_equal(cp.asnumpy(cache_g.argmax), cache.argmax)
    check_pair(yg, y, dtype, "y")
    check_pair(dxg, dx, dtype, "dx")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("window,max_windows", [(5, None), (7, 3), (1, None), (40, 1)])
def test_time_pool_matches_cpu(rng, dtype, mode, window, max_windows):
    import cupy as cp

    B, T, C = int(rng.integers(2, 40)), int(rng.integers(3, 60)), int(rng.integers(1, 70))
    x = rng.standard_normal((B, T, C)).astype(dtype)
    ts = random_timestamps(rng, B, T)
    lengths = random_lengths(rng, B, T)
    y, counts, ol, start, cache = ops.time_pool_forward(x, ts, window, 3, mode, lengths,
                                                        max_windows)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = ops.time_pool_backward(dy, cache)
    yg, cg, olg, sg, cache_g = ops.time_pool_forward(cp.asarray(x), ts, window, 3, mode, lengths,
                                                     max_windows)
    dxg = ops.time_pool_backward(cp.asarray(dy), cache_g)
    for g, c, what in ((cg, counts, "counts"), (olg, ol, "out_lengths"), (sg, start, "start"),
                       (cache_g.event_step, cache.event_step, "event_step")):
        check_host(g, c, what)
    if mode == "max":
        np.testing.assert_array_equal(cp.asnumpy(cache_g.argmax), cache.argmax)
    check_pair(yg, y, dtype, "y")
    check_pair(dxg, dx, dtype, "dx")


def test_pool_runs_on_the_current_stream(rng):
    import cupy as cp

    B, T, C = 64, 120, 48
    x = rng.standard_normal((B, T, C)).astype(np.float32)
    ts = random_timestamps(rng, B, T)
    lengths = random_lengths(rng, B, T)
    y, _, _, _, cache = ops.time_pool_forward(x, ts, 6, mode="max", lengths=lengths)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = ops.time_pool_backward(dy, cache)
    with cp.cuda.Stream(non_blocking=True) as stream:
        xg, dyg = cp.asarray(x), cp.asarray(dy)
        yg, _, _, _, cache_g = ops.time_pool_forward(xg, ts, 6, mode="max", lengths=lengths)
        dxg = ops.time_pool_backward(dyg, cache_g)
        stream.synchronize()
    check_pair(yg, y, np.float32, "y")
    check_pair(dxg, dx, np.float32, "dx")


def test_bad_cuda_inputs_raise(rng):
    import cupy as cp

    x = cp.asarray(rng.standard_normal((2, 6, 3)).astype(np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        ops.count_pool_forward(x[:, ::2], 2)
    with pytest.raises(ValueError, match="lengths"):
        ops.count_pool_forward(x, 2, lengths=[7, 1])
    y, _, _, cache = ops.count_pool_forward(x, 2, mode="max")
    with pytest.raises(TypeError, match="dy"):
        ops.count_pool_backward(y.astype(cp.float64), cache)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_passes_nan_like_cpu(rng, dtype):
    """Max windows holding NaN are NaN with the last NaN's index (as torch), count and time
    windows, as on the CPU; the gradient goes to the same events."""
    import cupy as cp

    B, T, C = 5, 30, 7
    x = rng.standard_normal((B, T, C)).astype(dtype)
    x[rng.random(x.shape) < 0.1] = np.nan
    lengths = random_lengths(rng, B, T)
    ts = random_timestamps(rng, B, T)
    runs = [(ops.count_pool_forward(x, 4, 2, "max", lengths, True), ops.count_pool_backward,
             ops.count_pool_forward(cp.asarray(x), 4, 2, "max", lengths, True)),
            (ops.time_pool_forward(x, ts, 6, 0, "max", lengths), ops.time_pool_backward,
             ops.time_pool_forward(cp.asarray(x), ts, 6, 0, "max", lengths))]
    for cpu, backward, gpu in runs:
        y, cache, yg, cache_g = cpu[0], cpu[-1], gpu[0], gpu[-1]
        assert np.isnan(y).any()
        check_nan(yg, y, TOL[dtype], "y")
        np.testing.assert_array_equal(cp.asnumpy(cache_g.argmax), cache.argmax)
        dy = rng.standard_normal(y.shape).astype(dtype)
        check_pair(backward(cp.asarray(dy), cache_g), backward(dy, cache), dtype, "dx")

