"""CUDA embedding against the CPU op (which test_embedding.py checks against NumPy): gather,
dense and sparse (device-grouped) gradients, random ids and lengths, float32 and float64, the id
range check on the device, host ids with a CUDA table. Skipped without a CUDA build, a device
and CuPy."""

from __future__ import annotations

import numpy as np
import pytest
from train_gpu import check_pair

from chronoscale import ops

from helpers import random_lengths

pytestmark = pytest.mark.gpu



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("V,hot", [(1, 1), (50, 50), (5000, 8), (200_000, 200_000)])
def test_embedding_matches_cpu(rng, dtype, V, hot):
    import cupy as cp

    B, T, D = int(rng.integers(1, 64)), int(rng.integers(1, 80)), int(rng.integers(1, 130))
    table = rng.standard_normal((V, D)).astype(dtype)
    ids = rng.integers(0, hot, size=(B, T)).astype(np.int64)  # hot: repeated ids, atomics
    lengths = random_lengths(rng, B, T)
    ids[0, lengths[0]:] = -5  # padding may hold anything
    y, cache = ops.embedding_forward(ids, table, lengths)
    dy = rng.standard_normal(y.shape).astype(dtype)
    rows, grad = ops.embedding_backward(dy, cache, sparse=True)
    dtable = ops.embedding_backward(dy, cache, sparse=False)
    yg, cache_g = ops.embedding_forward(cp.asarray(ids), cp.asarray(table), lengths)
    dyg = cp.asarray(dy)
    rows_g, grad_g = ops.embedding_backward(dyg, cache_g, sparse=True)
    dtable_g = ops.embedding_backward(dyg, cache_g, sparse=False)
    check_pair(yg, y, dtype, "y")
    assert isinstance(rows_g, cp.ndarray)
    np.testing.assert_array_equal(cp.asnumpy(rows_g), rows)
    check_pair(grad_g, grad, dtype, "sparse grad")
    check_pair(dtable_g, dtable, dtype, "dense grad")
    # host ids with the CUDA table: checked on the host, uploaded without a wait
    yh, cache_h = ops.embedding_forward(ids, cp.asarray(table), lengths)
    check_pair(yh, y, dtype, "y (host ids)")
    rows_h, grad_h = ops.embedding_backward(dyg, cache_h, sparse=True)
    np.testing.assert_array_equal(cp.asnumpy(rows_h), rows)
    check_pair(grad_h, grad, dtype, "sparse grad (host ids)")
    check_pair(ops.embedding_backward(dyg, cache_h, sparse=False), dtable, dtype,
               "dense grad (host ids)")


def test_out_of_range_id_raises_the_cpu_message(rng):
    import cupy as cp

    table = rng.standard_normal((6, 4)).astype(np.float32)
    ids = np.array([[0, 1, 2, 3], [4, 5, 6, 1]], np.int64)
    lengths = np.array([4, 4], np.int64)
    with pytest.raises(ValueError) as cpu:
        ops.embedding_forward(ids, table, lengths)
    with pytest.raises(ValueError, match="ids") as gpu:
        ops.embedding_forward(cp.asarray(ids), cp.asarray(table), lengths)
    assert str(gpu.value) == str(cpu.value)
    # The bad id past the lengths is padding; then a cache with a bad id must still raise.
    _, cache = ops.embedding_forward(cp.asarray(ids), cp.asarray(table), [4, 2])
    bad = ops.EmbeddingCache(cp.asarray(ids), cache.table, np.array([4, 4], np.int64))
    dy = cp.zeros((2, 4, 4), cp.float32)
    for sparse in (True, False):
        with pytest.raises(ValueError, match=r"ids\[1, 2\] = 6"):
            ops.embedding_backward(dy, bad, sparse=sparse)


def test_mixed_devices_and_empty_lengths(rng):
    import cupy as cp

    table = cp.asarray(rng.standard_normal((6, 4)).astype(np.float32))
    with pytest.raises(ValueError, match="ids must be on the device of table"):
        ops.embedding_forward(cp.zeros((2, 3), cp.int64), table.get())
    with pytest.raises(ValueError, match=r"ids\[1, 0\] = 6"):  # host ids: the host check
        ops.embedding_forward(np.array([[0, 1, 2], [6, 0, 0]], np.int64), table)
    ids = cp.zeros((2, 3), cp.int64)
    y, cache = ops.embedding_forward(ids, table, [0, 0])
    assert float(cp.abs(y).max()) == 0.0
    rows, grad = ops.embedding_backward(cp.ones((2, 3, 4), cp.float32), cache)
    assert rows.shape == (0,) and grad.shape == (0, 4)


def test_embedding_runs_on_the_current_stream(rng):
    import cupy as cp

    V, B, T, D = 1000, 128, 50, 64
    table = rng.standard_normal((V, D)).astype(np.float32)
    ids = rng.integers(0, V, size=(B, T)).astype(np.int64)
    dy = rng.standard_normal((B, T, D)).astype(np.float32)
    y, cache = ops.embedding_forward(ids, table)
    rows, grad = ops.embedding_backward(dy, cache)
    with cp.cuda.Stream(non_blocking=True) as stream:
        yg, cache_g = ops.embedding_forward(cp.asarray(ids), cp.asarray(table))
        rows_g, grad_g = ops.embedding_backward(cp.asarray(dy), cache_g)
        stream.synchronize()
    check_pair(yg, y, np.float32, "y")
    np.testing.assert_array_equal(cp.asnumpy(rows_g), rows)
    check_pair(grad_g, grad, np.float32, "grad")
