"""CUDA dropout against the CPU kernel: the same mask bit for bit for the same (seed, p, size),
forward, backward and cache.mask, on CuPy's current stream. Skipped without a CUDA build, a
device and CuPy."""

from __future__ import annotations

import numpy as np
import pytest
from train_gpu import cp, to_gpu

from chronoscale import ops

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape,p,seed",
    [((7,), 0.5, 0), ((33, 17, 5), 0.1, 2**64 - 1), ((1000, 300), 0.9, 12345), ((4, 4), 0.0, 3)],
)
def test_same_mask_as_cpu(rng, dtype, shape, p, seed):
    x = rng.standard_normal(shape).astype(dtype)
    y_c, cache_c = ops.dropout_forward(x, p, seed)
    y_g, cache_g = ops.dropout_forward(to_gpu(x), p, seed)
    assert isinstance(y_g, cp().ndarray)
    assert np.array_equal(cp().asnumpy(y_g), y_c)
    dy = rng.standard_normal(shape).astype(dtype)
    assert np.array_equal(
        cp().asnumpy(ops.dropout_backward(to_gpu(dy), cache_g)), ops.dropout_backward(dy, cache_c)
    )
    m = cache_g.mask
    assert isinstance(m, cp().ndarray)
    assert np.array_equal(cp().asnumpy(m), cache_c.mask)


def test_non_default_stream(rng):
    x = rng.standard_normal((512, 64)).astype(np.float32)
    want, _ = ops.dropout_forward(x, 0.3, 77)
    with cp().cuda.Stream(non_blocking=True) as s:
        y, _ = ops.dropout_forward(to_gpu(x), 0.3, 77)
        s.synchronize()
    assert np.array_equal(cp().asnumpy(y), want)


def test_in_place_same_as_cpu(rng):
    x = rng.standard_normal((1000, 300)).astype(np.float32)
    want, cache_c = ops.dropout_forward(x, 0.5, 5)
    xg = to_gpu(x)
    y, cache_g = ops.dropout_forward(xg, 0.5, 5, out=xg)
    assert y is xg and np.array_equal(cp().asnumpy(xg), want)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    dyg = to_gpu(dy)
    dx = ops.dropout_backward(dyg, cache_g, out=dyg)
    assert dx is dyg
    assert np.array_equal(cp().asnumpy(dyg), ops.dropout_backward(dy, cache_c))
