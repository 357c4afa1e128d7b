"""Count-window and time-window pooling: NumPy references, finite differences, bad input."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

import chronoscale
from chronoscale import ops

from helpers import FakeCudaArray, numeric_grad, random_lengths, rel_error, skip_if_cuda_device

MODES = ["max", "mean", "sum"]
_REDUCE = {"max": np.max, "mean": np.mean, "sum": np.sum}


def ref_count_pool(x, size, stride, mode, lengths, partial):
    B, T, C = x.shape
    W = -(-T // stride) if partial else (T - size) // stride + 1
    y = np.zeros((B, W, C))
    counts = np.zeros((B, W), np.int64)
    out_lengths = np.zeros(B, np.int64)
    for b in range(B):
        L = int(lengths[b])
        if partial:
            out_lengths[b] = -(-L // stride)
        else:
            out_lengths[b] = (L - size) // stride + 1 if L >= size else 0
        for j in range(out_lengths[b]):
            ev = x[b, j * stride : min(j * stride + size, L)].astype(np.float64)
            counts[b, j] = len(ev)
            y[b, j] = _REDUCE[mode](ev, axis=0)
    return y, counts, out_lengths


def ref_time_pool(x, ts, window, origin, mode, lengths, max_windows=None):
    B, _, C = x.shape
    out_lengths = np.zeros(B, np.int64)
    per_b = []
    for b in range(B):
        L = int(lengths[b])
        if L == 0:
            per_b.append((0, []))
            continue
        ks = [(int(ts[b, t]) - origin) // window for t in range(L)]
        k0, k1 = ks[0], ks[-1]
        if max_windows is not None and k1 - k0 + 1 > max_windows:
            k0 = k1 - max_windows + 1
        out_lengths[b] = k1 - k0 + 1
        per_b.append((k0, ks))
    W = max(int(out_lengths.max()), 1)
    y = np.zeros((B, W, C))
    counts = np.zeros((B, W), np.int64)
    starts = np.zeros((B, W), np.int64)
    for b, (k0, ks) in enumerate(per_b):
        for j in range(out_lengths[b]):
            starts[b, j] = origin + (k0 + j) * window
            idx = [t for t, k in enumerate(ks) if k == k0 + j]
            counts[b, j] = len(idx)
            if idx:
                y[b, j] = _REDUCE[mode](x[b, idx].astype(np.float64), axis=0)
    return y, counts, out_lengths, starts


def random_timestamps(rng, B, T, lo=-50, gap=9):
    """Sorted int64 seconds with ties, small and large gaps (so some windows are empty)."""
    gaps = rng.integers(0, gap, size=(B, T))
    gaps[:, ::3] *= rng.integers(1, 6, size=gaps[:, ::3].shape)
    return (rng.integers(lo, 50, size=(B, 1)) + np.cumsum(gaps, axis=1)).astype(np.int64)


# ----------------------------------------------------------------------------- count windows


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("partial", [False, True])
@pytest.mark.parametrize("size,stride", [(1, 1), (2, None), (3, 2), (2, 3), (4, 1)])
def test_count_forward_matches_reference(rng, mode, partial, size, stride):
    B, T, C = 4, int(rng.integers(5, 11)), int(rng.integers(1, 5))
    x = rng.standard_normal((B, T, C))
    lengths = random_lengths(rng, B, T)
    lengths[2] = 0
    y, counts, out_lengths, _ = ops.count_pool_forward(x, size, stride, mode, lengths, partial)
    ry, rc, rl = ref_count_pool(x, size, stride or size, mode, lengths, partial)
    np.testing.assert_array_equal(out_lengths, rl)
    np.testing.assert_array_equal(counts, rc)
    np.testing.assert_allclose(y, ry, rtol=1e-12, atol=1e-12)
    assert y.dtype == np.float64 and counts.dtype == np.int64 and out_lengths.dtype == np.int64
    y32, c32, _, _ = ops.count_pool_forward(
        x.astype(np.float32), size, stride, mode, lengths, partial
    )
    assert y32.dtype == np.float32
    np.testing.assert_array_equal(c32, rc)
    np.testing.assert_allclose(y32, ry, rtol=1e-5, atol=1e-6)


def test_count_max_is_keras_maxpooling1d(rng):
    # MaxPooling1D(2) ("valid", stride 2) drops a trailing odd event.
    for T in (6, 7):
        x = rng.standard_normal((3, T, 4))
        y, counts, out_lengths, _ = ops.count_pool_forward(x, 2)
        W = (T - 2) // 2 + 1
        want = x[:, : 2 * W].reshape(3, W, 2, 4).max(axis=2)
        np.testing.assert_array_equal(y, want)
        assert (counts == 2).all() and (out_lengths == W).all()


def test_count_max_ties_go_to_first_index():
    x = np.array([[[1.0], [3.0], [3.0], [2.0]]])
    y, _, _, cache = ops.count_pool_forward(x, 4)
    assert y[0, 0, 0] == 3.0
    dx = ops.count_pool_backward(np.ones_like(y), cache)
    np.testing.assert_array_equal(dx[0, :, 0], [0, 1, 0, 0])


def test_max_passes_nan_through(rng):
    """Max pooling with NaN: the window's value is NaN and its gradient goes to the last NaN
    (torch's max_pool1d), never a silent maximum of the other values; count and time windows."""
    x = np.array([[[1.0], [np.nan], [3.0], [np.nan], [2.0], [0.5]]])
    y, _, _, cache = ops.count_pool_forward(x, 3, 1)
    assert np.isnan(y[0, :, 0]).tolist() == [True, True, True, True]
    dx = ops.count_pool_backward(np.ones_like(y), cache)
    np.testing.assert_array_equal(dx[0, :, 0], [0, 1, 0, 3, 0, 0])
    ts = np.array([[0, 1, 2, 10, 11, 12]])
    y, _, _, _, cache = ops.time_pool_forward(x, ts, 10, mode="max")
    assert np.isnan(y[0, :, 0]).all() and y.shape[1] == 2
    np.testing.assert_array_equal(ops.time_pool_backward(np.ones_like(y), cache)[0, :, 0],
                                  [0, 1, 0, 1, 0, 0])
    xr = rng.standard_normal((4, 9, 3))
    xr[rng.random(xr.shape) < 0.15] = np.nan
    lengths = random_lengths(rng, 4, 9)
    for dtype in (np.float32, np.float64):
        got = ops.count_pool_forward(xr.astype(dtype), 3, 2, "max", lengths, True)
        want = ref_count_pool(xr, 3, 2, "max", lengths, True)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "partial,size,stride", [(False, 3, 2), (True, 3, 2), (True, 2, 3), (True, 4, 1), (False, 2, 2)]
)
def test_count_backward_finite_differences(rng, mode, partial, size, stride):
    B, T, C = 3, 7, 2
    x = rng.standard_normal((B, T, C))  # distinct values: max's argmax is stable under eps
    lengths = random_lengths(rng, B, T)
    y, _, _, cache = ops.count_pool_forward(x, size, stride, mode, lengths, partial)
    wy = rng.standard_normal(y.shape)
    dx = ops.count_pool_backward(wy, cache)

    def loss():
        return float(
            (ops.count_pool_forward(x, size, stride, mode, lengths, partial)[0] * wy).sum()
        )

    assert rel_error(dx, numeric_grad(loss, x)) < 1e-6
    for b in range(B):  # events past the length get no gradient
        assert not dx[b, lengths[b] :].any()
    dx32 = ops.count_pool_backward(
        wy.astype(np.float32),
        ops.count_pool_forward(x.astype(np.float32), size, stride, mode, lengths, partial)[3],
    )
    np.testing.assert_allclose(dx32, dx, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------ time windows


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "window,origin,max_windows",
    [(5, 0, None), (7, 3, None), (1, 0, None), (10, -4, 3), (4, 1, 1), (1000, 0, None)],
)
def test_time_forward_matches_reference(rng, mode, window, origin, max_windows):
    B, T, C = 5, int(rng.integers(4, 10)), int(rng.integers(1, 4))
    x = rng.standard_normal((B, T, C))
    ts = random_timestamps(rng, B, T)
    lengths = random_lengths(rng, B, T)
    lengths[2] = 0
    ts[3, lengths[3] :] = -(10**9)  # padding past the length is never looked at
    y, counts, out_lengths, starts, _ = ops.time_pool_forward(
        x, ts, window, origin, mode, lengths, max_windows
    )
    ry, rc, rl, rs = ref_time_pool(x, ts, window, origin, mode, lengths, max_windows)
    np.testing.assert_array_equal(out_lengths, rl)
    np.testing.assert_array_equal(counts, rc)
    np.testing.assert_array_equal(starts, rs)
    np.testing.assert_allclose(y, ry, rtol=1e-12, atol=1e-12)
    if window <= 5 and max_windows is None:
        assert (rc[rl > 0][:, :1] > 0).all() and (rc == 0).any()  # empty windows are kept
    y32 = ops.time_pool_forward(
        x.astype(np.float32), ts, window, origin, mode, lengths, max_windows
    )[0]
    np.testing.assert_allclose(y32, ry, rtol=1e-5, atol=1e-6)


def test_time_negative_timestamps_floor():
    x = np.arange(6, dtype=np.float64).reshape(1, 6, 1)
    ts = np.array([[-21, -20, -11, -1, 0, 9]])
    y, counts, _, starts, _ = ops.time_pool_forward(x, ts, 10, origin=0, mode="sum")
    np.testing.assert_array_equal(starts[0], [-30, -20, -10, 0])
    np.testing.assert_array_equal(counts[0], [1, 2, 1, 2])
    np.testing.assert_array_equal(y[0, :, 0], [0, 1 + 2, 3, 4 + 5])
    # origin shifts the grid: windows [-25, -15), [-15, -5), [-5, 5), [5, 15)
    _, counts, _, starts, _ = ops.time_pool_forward(x, ts, 10, origin=5, mode="sum")
    np.testing.assert_array_equal(starts[0], [-25, -15, -5, 5])
    np.testing.assert_array_equal(counts[0], [2, 1, 2, 1])


def test_time_float_timestamps_are_floored(rng):
    x = rng.standard_normal((2, 5, 3))
    ts = np.array([[0.5, 1.9, 2.0, 7.99, 8.0], [-0.5, 0.0, 0.1, 3.7, 3.9]])
    got = ops.time_pool_forward(x, ts, 2)
    want = ops.time_pool_forward(x, np.floor(ts).astype(np.int64), 2)
    for a, b in zip(got[:4], want[:4]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("max_windows", [None, 2])
def test_time_backward_finite_differences(rng, mode, max_windows):
    B, T, C = 3, 8, 2
    x = rng.standard_normal((B, T, C))
    ts = random_timestamps(rng, B, T, gap=4)
    lengths = random_lengths(rng, B, T)
    args = (ts, 3, -1, mode, lengths, max_windows)
    y, _, _, _, cache = ops.time_pool_forward(x, *args)
    wy = rng.standard_normal(y.shape)
    dx = ops.time_pool_backward(wy, cache)

    def loss():
        return float((ops.time_pool_forward(x, *args)[0] * wy).sum())

    assert rel_error(dx, numeric_grad(loss, x)) < 1e-6
    cache32 = ops.time_pool_forward(x.astype(np.float32), *args)[4]
    dx32 = ops.time_pool_backward(wy.astype(np.float32), cache32)
    np.testing.assert_allclose(dx32, dx, rtol=1e-5, atol=1e-6)


def test_time_pool_movielens_user_by_day(shared_data):
    path = shared_data / "movielens-100k" / "ml-100k.inter.gz"
    with gzip.open(path, "rt") as f:
        header = f.readline().split("\t")
        data = np.loadtxt(f, delimiter="\t")
    assert header[0].startswith("user_id") and header[3].startswith("timestamp")
    user = data[data[:, 0] == data[0, 0]]
    user = user[np.argsort(user[:, 3], kind="stable")]
    x = np.ascontiguousarray(user[None, :, 2:3])  # ratings [1, L, 1]
    ts = user[None, :, 3].copy()  # float seconds, as the file stores them
    y, counts, out_lengths, starts, _ = ops.time_pool_forward(x, ts, 86400, mode="sum")
    days = np.floor(user[:, 3] / 86400).astype(np.int64)
    assert counts.sum() == len(user)
    assert out_lengths[0] == days.max() - days.min() + 1
    assert (counts[0] > 0).sum() == len(np.unique(days))
    np.testing.assert_allclose(y.sum(), user[:, 2].sum())
    assert starts[0, 0] == days.min() * 86400


# ------------------------------------------------------------------------------- bad input


def test_count_bad_input(rng):
    x = rng.standard_normal((2, 5, 3))
    with pytest.raises(TypeError, match="x"):
        ops.count_pool_forward(x.astype(np.int64), 2)
    with pytest.raises(TypeError, match="x"):
        ops.count_pool_forward(x.tolist(), 2)
    with pytest.raises(ValueError, match="x"):
        ops.count_pool_forward(x[:, ::2], 2)
    with pytest.raises(ValueError, match="x"):
        ops.count_pool_forward(x[0], 2)
    with pytest.raises(ValueError, match="x"):
        ops.count_pool_forward(np.zeros((0, 5, 3)), 2)
    with pytest.raises(ValueError, match="x"):
        ops.count_pool_forward(np.zeros((2, 0, 3)), 2, partial=True)
    with pytest.raises(ValueError, match="size"):
        ops.count_pool_forward(x, 0)
    with pytest.raises(ValueError, match="size"):
        ops.count_pool_forward(x, 6)  # T < size without partial
    assert ops.count_pool_forward(x, 6, partial=True)[0].shape == (2, 1, 3)
    with pytest.raises(ValueError, match="stride"):
        ops.count_pool_forward(x, 2, 0)
    with pytest.raises(TypeError, match="size"):
        ops.count_pool_forward(x, 2.0)
    with pytest.raises(TypeError, match="size must be an integer, got True"):
        ops.count_pool_forward(x, True)
    with pytest.raises(ValueError, match="mode"):
        ops.count_pool_forward(x, 2, mode="median")
    with pytest.raises(ValueError, match="lengths"):
        ops.count_pool_forward(x, 2, lengths=[5, 6])
    with pytest.raises(ValueError, match="lengths"):
        ops.count_pool_forward(x, 2, lengths=[-1, 2])
    with pytest.raises(ValueError, match="lengths"):
        ops.count_pool_forward(x, 2, lengths=[1, 2, 3])
    with pytest.raises(TypeError, match="lengths"):
        ops.count_pool_forward(x, 2, lengths=[1.5, 2])
    y, _, _, cache = ops.count_pool_forward(x, 2, mode="mean")
    with pytest.raises(TypeError, match="dy"):
        ops.count_pool_backward(y.astype(np.float32), cache)
    with pytest.raises(ValueError, match="dy"):
        ops.count_pool_backward(y[:, :1].copy(), cache)
    with pytest.raises(ValueError, match="dy"):
        ops.count_pool_backward(np.ones((2, 2, 4)), cache)
    with pytest.raises(ValueError, match="dy"):
        ops.count_pool_backward(np.ones((2, 4, 3))[:, ::2], cache)
    with pytest.raises(ValueError, match=r"dy must have shape \[B, W, C\]"):
        ops.count_pool_backward(np.ones((0, 3, 3)), cache)  # B = 0: named dy, not dx
    with pytest.raises(TypeError, match="cache"):
        ops.count_pool_backward(y, None)


def test_time_bad_input(rng):
    x = rng.standard_normal((2, 5, 3))
    ts = np.array([[0, 1, 2, 3, 4], [5, 5, 6, 9, 9]], dtype=np.int64)
    with pytest.raises(TypeError, match="timestamps"):
        ops.time_pool_forward(x, ts.astype(np.int32), 2)
    with pytest.raises(TypeError, match="timestamps"):
        ops.time_pool_forward(x, ts.astype(str), 2)
    with pytest.raises(ValueError, match=r"b = 1, t = 3"):
        ops.time_pool_forward(x, np.array([[0, 1, 2, 3, 4], [5, 6, 7, 6, 9]]), 2)
    # only the valid prefix has to be sorted
    ops.time_pool_forward(x, np.array([[0, 1, 2, 3, 4], [5, 6, 7, 6, 9]]), 2, lengths=[5, 3])
    bad = ts.astype(np.float64)
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="timestamps"):
        ops.time_pool_forward(x, bad, 2)
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="timestamps"):
        ops.time_pool_forward(x, bad, 2)
    with pytest.raises(ValueError, match="timestamps"):
        ops.time_pool_forward(x, ts[:, :4].copy(), 2)
    with pytest.raises(ValueError, match="timestamps"):
        ops.time_pool_forward(x, np.repeat(ts, 2, axis=1)[:, ::2], 2)
    for window in (0, -3):
        with pytest.raises(ValueError, match="window"):
            ops.time_pool_forward(x, ts, window)
    with pytest.raises(TypeError, match="window"):
        ops.time_pool_forward(x, ts, 1.5)
    with pytest.raises(ValueError, match="max_windows"):
        ops.time_pool_forward(x, ts, 2, max_windows=0)
    with pytest.raises(ValueError, match="max_windows"):  # absurd W: no huge allocation
        ops.time_pool_forward(x, np.array([[0, 1, 2, 3, 10**9]] * 2), 1)
    y = ops.time_pool_forward(x, np.array([[0, 1, 2, 3, 10**9]] * 2), 1, max_windows=4)[0]
    assert y.shape == (2, 4, 3)
    with pytest.raises(ValueError, match="max_windows"):
        ops.time_pool_forward(x, np.array([[-(2**62), 0, 1, 2, 2**62]] * 2), 1)
    with pytest.raises(ValueError, match="timestamps"):  # window index overflows int64
        ops.time_pool_forward(x, np.array([[0, 1, 2, 3, 2**62]] * 2), 1, origin=-(2**63))
    with pytest.raises(ValueError, match="mode"):
        ops.time_pool_forward(x, ts, 2, mode="min")
    with pytest.raises(TypeError, match="x"):
        ops.time_pool_forward(x.astype(np.int32), ts, 2)
    with pytest.raises(ValueError, match="x"):
        ops.time_pool_forward(x[:, ::2], ts[:, :3].copy(), 2)
    with pytest.raises(ValueError, match="x"):
        ops.time_pool_forward(np.zeros((0, 5, 3)), np.zeros((0, 5), np.int64), 2)
    with pytest.raises(ValueError, match="x"):
        ops.time_pool_forward(np.zeros((2, 0, 3)), np.zeros((2, 0), np.int64), 2)
    with pytest.raises(ValueError, match="lengths"):
        ops.time_pool_forward(x, ts, 2, lengths=[6, 1])
    y, counts, out_lengths, _, cache = ops.time_pool_forward(x, ts, 2, lengths=[0, 5])
    assert out_lengths[0] == 0 and not y[0].any() and not counts[0].any()
    with pytest.raises(ValueError, match="dy"):
        ops.time_pool_backward(np.ones((2, y.shape[1] + 1, 3)), cache)
    with pytest.raises(TypeError, match="cache"):
        ops.count_pool_backward(y, cache)


def test_cuda_array_without_device_raises():
    skip_if_cuda_device()
    x = FakeCudaArray((2, 3, 4))
    with pytest.raises(RuntimeError, match="CUDA") as e:
        ops.count_pool_forward(x, 2)
    if chronoscale.build_info()["cuda"]:
        assert isinstance(e.value, chronoscale.CudaError)
    with pytest.raises(RuntimeError, match="CUDA"):
        ops.time_pool_forward(x, np.zeros((2, 3), np.int64), 5)
