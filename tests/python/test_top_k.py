"""Top-k per row (ops.top_k) on the CPU: against a float64 NumPy reference (a stable sort by
score, then column) on random rows with many ties, -inf, NaN and signed zeros, in both CPU
paths (heap scan for small k, selection for large k), thread-count independence, torch parity,
bad input."""

from __future__ import annotations

import numpy as np
import pytest

import chronoscale
from chronoscale import ops

from helpers import FakeCudaArray, skip_if_cuda_device


def reference(scores, k):
    """Columns of the k best per row: higher score first, ties by lower column, NaN last."""
    s = np.asarray(scores, np.float64)
    cols = np.broadcast_to(np.arange(s.shape[1]), s.shape)
    order = np.lexsort((cols, -s), axis=1)[:, :k]  # lexsort puts NaN (= -NaN) last
    return order, np.take_along_axis(np.asarray(scores), order, axis=1)


def random_scores(rng, N, V, dtype, special=True):
    """Random rows with ties (rounded entries, repeated values), and with ``special``: -inf
    (excluded items), NaN and signed zeros."""
    s = rng.standard_normal((N, V)) * rng.uniform(0.1, 100)
    s = np.where(rng.random((N, V)) < 0.3, np.round(s), s)  # ties among rounded values
    s[rng.random((N, V)) < 0.1] = s.flat[0]  # one value many times per row
    if special:
        s[rng.random((N, V)) < 0.1] = -np.inf
        s[rng.random((N, V)) < 0.02] = np.nan
        z = rng.random((N, V)) < 0.05
        s[z] = np.where(rng.random(int(z.sum())) < 0.5, 0.0, -0.0)
    return s.astype(dtype)


def check_top_k(scores, k):
    ids, values = ops.top_k(scores, k)
    want_ids, want_values = reference(scores, k)
    assert ids.dtype == np.int64 and values.dtype == scores.dtype
    assert ids.shape == values.shape == (scores.shape[0], k)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(values, want_values)  # NaN == NaN here
    return ids, values


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trial", range(6))
def test_matches_reference(rng, dtype, trial):
    N, V = int(rng.integers(1, 60)), int(rng.integers(1, 2000))
    # k from 1 to V: both the heap scan (16 k <= V) and the selection
    k = int(rng.choice([1, V, rng.integers(1, V + 1), max(1, V // 20)]))
    check_top_k(random_scores(rng, N, V, dtype, special=trial % 2 == 0), k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ties_go_to_the_lower_column(dtype):
    s = np.array([[1.0, 3.0, 3.0, -0.0, 0.0, 3.0, -np.inf, np.nan, -np.inf]], dtype)
    ids, values = check_top_k(s, 9)
    assert ids.tolist() == [[1, 2, 5, 0, 3, 4, 6, 8, 7]]
    assert np.signbit(values[0, 4]) and not np.signbit(values[0, 5])  # the original zeros
    # constant rows: the first k columns, in order (the heap scan's worst case for ties)
    c = np.full((3, 500), 2.5, dtype)
    assert ops.top_k(c, 7)[0].tolist() == [list(range(7))] * 3
    assert ops.top_k(c, 400)[0].tolist() == [list(range(400))] * 3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_and_inf_rank_last_and_never_beat_numbers(rng, dtype):
    s = rng.standard_normal((4, 300)).astype(dtype)
    s[:, :290] = np.nan  # the heap starts full of NaN: every number must replace one
    s[1, 295:] = -np.inf
    ids, values = check_top_k(s, 12)
    assert not np.isnan(values[:, :10]).any() and np.isnan(values[:, 10:]).all()
    check_top_k(np.full((2, 50), np.nan, dtype), 5)
    check_top_k(np.full((2, 50), -np.inf, dtype), 50)


def test_catalogue_sizes_and_extremes(rng):
    # the recommender's case: a few thousand items, a few seen ones at -inf, k = 10 and 100
    s = random_scores(rng, 256, 3706, np.float32, special=False)
    s[rng.random(s.shape) < 0.01] = -np.inf
    for k in (1, 10, 100, 3706):
        check_top_k(s, k)
    check_top_k(s[:, :1].copy(), 1)
    fi = np.finfo(np.float32)
    big = np.array([[fi.max, fi.tiny, -fi.tiny, fi.min, 1e-45, -1e-45, np.inf]], np.float32)
    check_top_k(big, 7)


def test_empty_batch_gives_empty_results():
    ids, values = ops.top_k(np.zeros((0, 5), np.float32), 3)
    assert ids.shape == values.shape == (0, 3) and ids.dtype == np.int64


def test_threads_do_not_change_the_result(rng):
    s = random_scores(rng, 3000, 500, np.float32)
    old = chronoscale.get_num_threads()
    try:
        outs = []
        for threads in (1, 2):
            chronoscale.set_num_threads(threads)
            outs.append(ops.top_k(s, 20))
    finally:
        chronoscale.set_num_threads(old)
    for a, b in zip(*outs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_bad_input_raises(rng):
    s = rng.standard_normal((4, 6)).astype(np.float32)
    with pytest.raises(TypeError, match="scores must be float32 or float64"):
        ops.top_k(s.astype(np.int64), 2)
    with pytest.raises(ValueError, match=r"scores must have shape \[N, V\]"):
        ops.top_k(s[None], 2)
    with pytest.raises(ValueError, match="contiguous"):
        ops.top_k(s[:, ::2], 2)
    with pytest.raises(ValueError, match=r"no columns to rank \(V = 0"):
        ops.top_k(np.zeros((3, 0), np.float32), 1)
    for k in (0, -1, 7):
        with pytest.raises(ValueError, match=r"k must be in \[1, V = 6\], got " + str(k)):
            ops.top_k(s, k)
    for k in (2.0, "2", True, None):
        with pytest.raises(TypeError, match="k must be an integer"):
            ops.top_k(s, k)
    assert ops.top_k(s, np.int32(2))[0].shape == (4, 2)  # NumPy integers are integers


def test_cuda_array_without_device_raises():
    skip_if_cuda_device()
    with pytest.raises(RuntimeError, match="CUDA") as e:
        ops.top_k(FakeCudaArray((4, 3)), 2)
    if chronoscale.build_info()["cuda"]:
        assert isinstance(e.value, chronoscale.CudaError)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torch_parity(rng, dtype):
    torch = pytest.importorskip("torch")
    s = rng.standard_normal((64, 1000)).astype(dtype)  # continuous: no ties, a unique top-k
    for k in (1, 10, 250):
        tv, ti = torch.topk(torch.from_numpy(s), k, dim=1, largest=True, sorted=True)
        ids, values = ops.top_k(s, k)
        np.testing.assert_array_equal(values, tv.numpy())
        np.testing.assert_array_equal(ids, ti.numpy())
