"""dropout: mask statistics, determinism (seed, threads, dtype), scaling, gradient, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import chronoscale
from chronoscale import ops

from helpers import numeric_grad, rel_error


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_mask_rate_and_scaling(rng, p):
    x = rng.standard_normal((200, 1000)) + 3.0  # no zeros in x
    y, cache = ops.dropout_forward(x, p, seed=12345)
    mask = cache.mask
    assert mask.shape == x.shape and mask.dtype == x.dtype
    assert set(np.unique(mask)) <= {0.0, 1.0 / (1.0 - p)}
    kept = mask != 0
    n = x.size
    assert abs(1.0 - kept.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_array_equal(y, x * mask)
    np.testing.assert_array_equal(y != 0, kept)
    assert rel_error(y[kept], x[kept] / (1.0 - p)) < 1e-15
    # neighbours are not correlated: the rate among elements following a kept one is p too
    follow = kept.reshape(-1)[1:][kept.reshape(-1)[:-1]]
    assert abs(1.0 - follow.mean() - p) < 6 * np.sqrt(p * (1 - p) / follow.size)


def _documented_mask(n, p, seed):
    """The mask of the module docstring, in Python integers: element i is kept when the 53-bit
    draw ``splitmix64(key + (i + 1) * golden) >> 11`` of ``key = mix(seed ^ salt)`` is at least
    ``ceil(p * 2**53)``."""
    m64 = (1 << 64) - 1

    def mix(z):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m64
        return z ^ (z >> 31)

    key = mix(seed ^ 0x64726F706F757431)
    threshold = int(np.ceil(np.ldexp(p, 53)))
    return np.array([(mix((key + (i + 1) * 0x9E3779B97F4A7C15) & m64) >> 11) >= threshold
                     for i in range(n)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mask_is_the_documented_hash(rng, dtype):
    """The kernel's mask, bit for bit, is the documented function of (seed, p, index), so the
    CPU and CUDA kernels (and any reimplementation) agree."""
    for p, seed in [(0.5, 12345), (0.1, 0), (0.93, 2**64 - 1), (0.3, int(rng.integers(2**62)))]:
        x = rng.standard_normal(3001).astype(dtype)
        y, cache = ops.dropout_forward(x, p, seed)
        keep = _documented_mask(x.size, p, seed)
        np.testing.assert_array_equal(cache.mask != 0, keep)
        np.testing.assert_array_equal(y, np.where(keep, x * dtype(1 / (1 - p)), x * dtype(0)))


def test_same_seed_same_mask_other_seed_independent(rng):
    x = rng.standard_normal(100_000)
    p = 0.3
    y1, c1 = ops.dropout_forward(x, p, 7)
    y2, c2 = ops.dropout_forward(x, p, 7)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(c1.mask, c2.mask)
    k1 = c1.mask != 0
    k3 = ops.dropout_forward(x, p, 8)[1].mask != 0
    agree = np.mean(k1 == k3)  # independent masks agree with probability p^2 + (1-p)^2
    expected = p * p + (1 - p) ** 2
    assert abs(agree - expected) < 6 * np.sqrt(expected * (1 - expected) / x.size)
    big = ops.dropout_forward(x, p, 2**64 - 1)[1].mask  # the whole seed range is usable
    assert 0.6 < np.mean(big != 0) < 0.8


def test_independent_of_thread_count_and_dtype(rng):
    x = rng.standard_normal((300, 700))
    old = chronoscale.get_num_threads()
    try:
        chronoscale.set_num_threads(1)
        y1 = ops.dropout_forward(x, 0.4, 99)[0]
        chronoscale.set_num_threads(2)
        y2 = ops.dropout_forward(x, 0.4, 99)[0]
    finally:
        chronoscale.set_num_threads(old)
    np.testing.assert_array_equal(y1, y2)
    y32 = ops.dropout_forward(x.astype(np.float32), 0.4, 99)[0]
    assert y32.dtype == np.float32
    np.testing.assert_array_equal(y32 != 0, y1 != 0)
    assert rel_error(y32, y1) < 1e-6
    # the mask depends on the flat index only, not on the shape
    np.testing.assert_array_equal(ops.dropout_forward(x.reshape(-1), 0.4, 99)[0], y1.reshape(-1))


def test_p_zero_returns_a_copy_and_all_ones_mask(rng):
    x = rng.standard_normal((4, 5)).astype(np.float32)
    y, cache = ops.dropout_forward(x, 0.0, 3)
    np.testing.assert_array_equal(y, x)
    assert y is not x and not np.shares_memory(y, x)
    np.testing.assert_array_equal(cache.mask, np.ones_like(x))
    np.testing.assert_array_equal(ops.dropout_backward(x, cache), x)


def test_backward_matches_finite_differences(rng):
    x = rng.standard_normal((3, 4, 5))
    wts = rng.standard_normal(x.shape)
    p, seed = 0.35, 2024

    def loss():
        return float(np.sum(ops.dropout_forward(x, p, seed)[0] * wts))

    _, cache = ops.dropout_forward(x, p, seed)
    dx = ops.dropout_backward(wts, cache)
    assert rel_error(dx, numeric_grad(loss, x)) < 1e-6
    np.testing.assert_array_equal(dx, wts * cache.mask)
    assert np.any(cache.mask == 0) and np.any(cache.mask != 0)


def test_empty_array():
    y, cache = ops.dropout_forward(np.zeros((0, 3)), 0.5, 1)
    assert y.shape == (0, 3) and cache.mask.shape == (0, 3)


def test_bad_input(rng):
    x = rng.standard_normal((4, 5))
    for p in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="p"):
            ops.dropout_forward(x, p, 0)
    with pytest.raises(TypeError, match="p"):
        ops.dropout_forward(x, "0.5", 0)
    with pytest.raises(ValueError, match="seed"):
        ops.dropout_forward(x, 0.5, -1)
    with pytest.raises(ValueError, match="seed"):
        ops.dropout_forward(x, 0.5, 2**64)
    with pytest.raises(TypeError, match="seed"):
        ops.dropout_forward(x, 0.5, 1.5)
    with pytest.raises(TypeError, match="x"):
        ops.dropout_forward(x.astype(np.int64), 0.5, 0)
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        ops.dropout_forward(np.asfortranarray(x), 0.5, 0)
    _, cache = ops.dropout_forward(x, 0.5, 0)
    with pytest.raises(ValueError, match="dy must have the shape"):
        ops.dropout_backward(np.zeros((5, 4)), cache)
    with pytest.raises(TypeError, match="dy must have the dtype"):
        ops.dropout_backward(np.zeros((4, 5), np.float32), cache)
    with pytest.raises(TypeError, match="cache"):
        ops.dropout_backward(x, object())
    with pytest.raises(TypeError, match="dy must be a NumPy or CUDA array, got list"):
        ops.dropout_backward(x.tolist(), cache)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_out_and_in_place(rng, dtype):
    """out= writes the same values as a new array; out=x (and out=dy) overwrite in place."""
    x = rng.standard_normal((300, 70)).astype(dtype)
    y, cache = ops.dropout_forward(x, 0.4, 9)
    buf = np.empty_like(x)
    y2, _ = ops.dropout_forward(x, 0.4, 9, out=buf)
    assert y2 is buf and np.array_equal(buf, y)
    xi = x.copy()
    y3, cache3 = ops.dropout_forward(xi, 0.4, 9, out=xi)
    assert y3 is xi and np.array_equal(xi, y)
    dy = rng.standard_normal(x.shape).astype(dtype)
    want = ops.dropout_backward(dy, cache)
    dyi = dy.copy()
    assert ops.dropout_backward(dyi, cache3, out=dyi) is dyi and np.array_equal(dyi, want)
    with pytest.raises(ValueError, match=r"out must have the shape of x \(300, 70\)"):
        ops.dropout_forward(x, 0.4, 9, out=np.empty((300, 71), dtype))
    with pytest.raises(TypeError, match="out must have the dtype of x"):
        ops.dropout_forward(x, 0.4, 9, out=np.empty((300, 70), np.float16))
    with pytest.raises(TypeError, match="out must be a NumPy or CUDA array"):
        ops.dropout_forward(x, 0.4, 9, out=[1.0])
    with pytest.raises(ValueError, match="contiguous"):
        ops.dropout_forward(x, 0.4, 9, out=np.empty((300, 140), dtype)[:, ::2])
    with pytest.raises(ValueError, match=r"out must have the shape of dy"):
        ops.dropout_backward(dy, cache, out=np.empty((3, 3), dtype))


def test_layer_in_place_same_values(rng):
    """nn.Dropout(inplace=True) gives the layer's usual output and gradient, written into its
    input and its output gradient."""
    from chronoscale import nn

    x = rng.standard_normal((8, 5, 6)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    plain, inpl = nn.Dropout(0.3), nn.Dropout(0.3, inplace=True)
    for layer in (plain, inpl):
        layer.set_seed(4)
    want = plain.forward(x, training=True)
    want_dx = plain.backward(dy)
    xi, dyi = x.copy(), dy.copy()
    got = inpl.forward(xi, training=True)
    assert got is xi and np.array_equal(got, want)
    dx = inpl.backward(dyi)
    assert dx is dyi and np.array_equal(dx, want_dx)
    assert inpl.forward(x, training=False) is x  # identity when not training
