"""ops.full_softmax_loss: the blocked full softmax against a float64 NumPy reference, finite
differences, the unblocked ops it replaces, thread counts, ignored rows and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import chronoscale
from chronoscale import ops

from helpers import bf16_round, numeric_grad, rel_error


def reference(user, items, target, ignore_index=-1):
    logits = user @ items.T
    keep = target != ignore_index
    K = int(keep.sum())
    if K == 0:
        return 0.0, np.zeros_like(user), np.zeros_like(items)
    m = logits.max(axis=1, keepdims=True)
    p = np.exp(logits - m)
    s = p.sum(axis=1, keepdims=True)
    p /= s
    rows = np.nonzero(keep)[0]
    loss = float(np.sum(np.log(s[rows, 0]) + m[rows, 0] - logits[rows, target[rows]])) / K
    d = p / K
    d[rows, target[rows]] -= 1.0 / K
    d[~keep] = 0.0
    return loss, d @ items, d.T @ user


def case(rng, N, V, D, dtype=np.float64, ignore=0.0):
    user = rng.standard_normal((N, D)).astype(dtype)
    items = (rng.standard_normal((V, D)) * 0.5).astype(dtype)
    target = rng.integers(0, V, N)
    target[rng.random(N) < ignore] = -1
    return user, items, target


@pytest.mark.parametrize("N,V,D", [(1, 1, 1), (7, 13, 5), (300, 2000, 9), (1100, 600, 17)])
def test_matches_reference_float64(rng, N, V, D):
    # (300, 2000): 262-row blocks -> two waves on two threads; (1100, 600): 512-row blocks and
    # a partial last block.
    user, items, target = case(rng, N, V, D, ignore=0.2 if N > 1 else 0.0)
    loss, du, di = ops.full_softmax_loss(user, items, target)
    rloss, rdu, rdi = reference(user, items, target)
    assert abs(loss - rloss) <= 1e-12 * max(1.0, abs(rloss))
    assert rel_error(du, rdu) < 1e-10 and rel_error(di, rdi) < 1e-10


def test_float32_close_to_float64(rng):
    user, items, target = case(rng, 400, 3000, 33, ignore=0.1)
    loss, du, di = ops.full_softmax_loss(user.astype(np.float32), items.astype(np.float32),
                                         target)
    rloss, rdu, rdi = reference(user, items, target)
    assert du.dtype == np.float32 and di.dtype == np.float32
    assert abs(loss - rloss) < 1e-5 * abs(rloss)
    assert rel_error(du, rdu) < 1e-4 and rel_error(di, rdi) < 1e-4


def test_finite_differences(rng):
    user, items, target = case(rng, 23, 31, 4, ignore=0.2)
    _, du, di = ops.full_softmax_loss(user, items, target)
    assert rel_error(du, numeric_grad(lambda: ops.full_softmax_loss(user, items, target)[0],
                                      user)) < 1e-6
    assert rel_error(di, numeric_grad(lambda: ops.full_softmax_loss(user, items, target)[0],
                                      items)) < 1e-6


def test_equals_unblocked_ops(rng):
    """The same numbers as linear_forward -> softmax_cross_entropy -> linear_backward."""
    user, items, target = case(rng, 500, 1500, 12, dtype=np.float32, ignore=0.1)
    loss, du, di = ops.full_softmax_loss(user, items, target)
    logits, cache = ops.linear_forward(user, items)
    loss2, dlogits = ops.softmax_cross_entropy(logits, target)
    du2, di2, _ = ops.linear_backward(dlogits, cache)
    assert abs(loss - loss2) < 1e-6 * abs(loss2)
    assert rel_error(du, du2) < 1e-5 and rel_error(di, di2) < 1e-5


def test_thread_counts(rng):
    user, items, target = case(rng, 900, 2500, 16, dtype=np.float32)
    before = chronoscale.get_num_threads()
    try:
        out = {}
        for n in (1, 2, 3):
            chronoscale.set_num_threads(n)
            out[n] = ops.full_softmax_loss(user, items, target)
            again = ops.full_softmax_loss(user, items, target)
            assert out[n][0] == again[0] and np.array_equal(out[n][2], again[2])  # deterministic
    finally:
        chronoscale.set_num_threads(before)
    for n in (2, 3):
        assert out[n][0] == out[1][0]  # per-block sums added in block order
        assert np.array_equal(out[n][1], out[1][1])  # d_user rows do not depend on threads
        assert rel_error(out[n][2], out[1][2]) < 1e-5


def test_all_rows_ignored(rng):
    user, items, _ = case(rng, 5, 7, 3)
    loss, du, di = ops.full_softmax_loss(user, items, np.full(5, -1))
    assert loss == 0.0 and not du.any() and not di.any()
    target = np.full(5, 99)
    target[2] = 4
    loss, du, di = ops.full_softmax_loss(user, items, target, ignore_index=99)
    rloss, rdu, rdi = reference(user, items, target, ignore_index=99)
    assert abs(loss - rloss) < 1e-12 and rel_error(du, rdu) < 1e-10 and rel_error(di, rdi) < 1e-10


def test_bad_input(rng):
    user, items, target = case(rng, 6, 9, 4)
    with pytest.raises(TypeError, match="items"):
        ops.full_softmax_loss(user, items.astype(np.float32), target)
    with pytest.raises(TypeError, match="user"):
        ops.full_softmax_loss(user.astype(np.int64), items, target)
    with pytest.raises(ValueError, match="items"):
        ops.full_softmax_loss(user, items[:, :3].copy(), target)
    with pytest.raises(ValueError, match="target"):
        ops.full_softmax_loss(user, items, target[:5])
    bad = target.copy()
    bad[3] = 9
    with pytest.raises(ValueError, match=r"target\[3\]"):
        ops.full_softmax_loss(user, items, bad)
    with pytest.raises(ValueError, match="contiguous"):
        ops.full_softmax_loss(user[:, ::2], items[:, :2].copy(), target)
    with pytest.raises(ValueError, match="user"):
        ops.full_softmax_loss(user[:0], items, target[:0])
    with pytest.raises(ValueError, match="items"):
        ops.full_softmax_loss(user, items[:0], target)


def test_precision_argument(rng):
    user, items, target = case(rng, 6, 5, 3, np.float32)
    with pytest.raises(ValueError, match="precision must be one of"):
        ops.full_softmax_loss(user, items, target, precision="float16")
    for precision in ("bfloat16", "tfloat32", "tf32x3"):
        with pytest.raises(ValueError, match=f"{precision}.*CUDA"):
            ops.full_softmax_loss(user, items, target, precision=precision)


def test_loss_on_device_is_ignored_for_host_arrays(rng):
    """loss_on_device only changes CUDA calls: host arrays still give a float, the same one."""
    user, items, target = case(rng, 9, 6, 4, np.float64)
    a = ops.full_softmax_loss(user, items, target)
    b = ops.full_softmax_loss(user, items, target, loss_on_device=True)
    assert isinstance(b[0], float) and b[0] == a[0]
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2], b[2])


def test_bf16_reference_rounds_like_the_hardware():
    """helpers.bf16_round: ties to even, 8 significant bits."""
    x = np.array([1.0, 1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8, 1.0 + 2.0**-9, -2.5], np.float32)
    np.testing.assert_array_equal(bf16_round(x), [1.0, 1.0, 1.0 + 4 * 2.0**-8, 1.0, -2.5])

