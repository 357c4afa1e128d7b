"""Packed running sums (ops.packed_cumsum) on the CPU: against a float64 reference over padded
sequences on random lengths (empty sequences and T beyond the longest included), the reverse
sums as the adjoint of the forward ones (their gradient), the same bits as a sequential sum for
any thread count, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import chronoscale
from chronoscale import ops

from helpers import rel_error


def packed_case(rng, B, T, D, dtype=np.float64):
    """Random lengths (zeros included), x packed time-major longest first, and the padded
    [B, T, D] view of the same values with each sequence's rank."""
    L = rng.integers(0, T + 1, size=B)
    order = np.argsort(-L, kind="stable")
    bs = (L[order][None, :] > np.arange(T)[:, None]).sum(axis=1)
    off = np.concatenate([[0], np.cumsum(bs)])
    x = rng.standard_normal((int(off[-1]), D)).astype(dtype)
    padded = np.zeros((B, T, D))
    for t in range(T):
        for r in range(bs[t]):
            padded[r, t] = x[off[t] + r]
    return x, bs, off, padded


def unpack(padded, bs, off):
    out = np.zeros((int(off[-1]), padded.shape[2]))
    for t in range(len(bs)):
        for r in range(bs[t]):
            out[off[t] + r] = padded[r, t]
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trial", range(4))
def test_matches_padded_reference(rng, dtype, trial):
    B, T, D = int(rng.integers(1, 30)), int(rng.integers(1, 25)), int(rng.integers(1, 40))
    x, bs, off, padded = packed_case(rng, B, T, D, dtype)
    mask = np.zeros((B, T, 1))
    for t in range(T):
        mask[:bs[t], t] = 1
    want_f = unpack(np.cumsum(padded, axis=1), bs, off)
    want_r = unpack(np.cumsum(padded[:, ::-1], axis=1)[:, ::-1] * mask, bs, off)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    got_f, got_r = ops.packed_cumsum(x, bs), ops.packed_cumsum(x, bs, reverse=True)
    assert got_f.dtype == dtype and got_f.shape == x.shape
    assert rel_error(got_f, want_f) < tol and rel_error(got_r, want_r) < tol


def test_reverse_is_the_adjoint(rng):
    """<cumsum(x), g> == <x, rcumsum(g)>: the reverse sums are the forward's gradient."""
    x, bs, _, _ = packed_case(rng, 17, 13, 6)
    g = rng.standard_normal(x.shape)
    lhs = np.sum(ops.packed_cumsum(x, bs) * g)
    rhs = np.sum(x * ops.packed_cumsum(g, bs, reverse=True))
    assert abs(lhs - rhs) < 1e-12 * max(1.0, abs(lhs))


def test_sequential_sums_for_any_thread_count(rng):
    """float32 sums equal a step-by-step float32 sum, bit for bit, at 1 and 2 threads (large
    enough to run in parallel)."""
    x, bs, off, _ = packed_case(rng, 300, 150, 64, np.float32)
    want_f, want_r = np.empty_like(x), np.empty_like(x)
    for t in range(len(bs)):
        n = bs[t]
        cur = x[off[t]:off[t] + n]
        want_f[off[t]:off[t] + n] = cur if t == 0 else want_f[off[t - 1]:off[t - 1] + n] + cur
    for t in range(len(bs) - 1, -1, -1):
        n, m = bs[t], bs[t + 1] if t + 1 < len(bs) else 0
        want_r[off[t]:off[t] + n] = x[off[t]:off[t] + n]
        if m:
            want_r[off[t]:off[t] + m] = x[off[t]:off[t] + m] + want_r[off[t + 1]:off[t + 1] + m]
    old = chronoscale.get_num_threads()
    try:
        for threads in (1, 2):
            chronoscale.set_num_threads(threads)
            assert np.array_equal(ops.packed_cumsum(x, bs), want_f)
            assert np.array_equal(ops.packed_cumsum(x, bs, reverse=True), want_r)
    finally:
        chronoscale.set_num_threads(old)


def test_empty_and_trailing_zero_steps():
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.testing.assert_array_equal(ops.packed_cumsum(x, [2, 1, 0, 0]), [[0, 1], [2, 3], [4, 6]])
    np.testing.assert_array_equal(ops.packed_cumsum(x, [2, 1, 0], reverse=True),
                                  [[4, 6], [2, 3], [4, 5]])
    assert ops.packed_cumsum(np.zeros((0, 3)), [0, 0]).shape == (0, 3)
    assert ops.packed_cumsum(np.zeros((0, 3)), np.zeros(0, np.int64)).shape == (0, 3)


def test_bad_input():
    x = np.ones((4, 2))
    with pytest.raises(ValueError, match="batch_sizes must not increase"):
        ops.packed_cumsum(x, [1, 3])
    with pytest.raises(ValueError, match=r"batch_sizes\[1\] = -1 is negative"):
        ops.packed_cumsum(x, [5, -1])
    with pytest.raises(ValueError, match="batch_sizes sum to 3 but x has N = 4"):
        ops.packed_cumsum(x, [2, 1])
    with pytest.raises(TypeError, match="batch_sizes"):
        ops.packed_cumsum(x, [2.5, 1.5])
    with pytest.raises(TypeError, match="x must be float32 or float64"):
        ops.packed_cumsum(x.astype(np.int32), [2, 2])
    with pytest.raises(ValueError, match=r"x must have shape \[N, D\]"):
        ops.packed_cumsum(x[None], [2, 2])
    with pytest.raises(ValueError, match="contiguous"):
        ops.packed_cumsum(np.ones((4, 4))[:, ::2], [2, 2])
    with pytest.raises(TypeError, match="reverse must be True or False"):
        ops.packed_cumsum(x, [2, 2], reverse="yes")
