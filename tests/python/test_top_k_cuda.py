"""CUDA top-k against the CPU op (which test_top_k.py checks against a reference): random rows
with ties, -inf, NaN and signed zeros, k from 1 to V (shared-memory slots up to k = 2048, global
scratch above), few long rows (split into segments, then a second pass), float32 and float64,
CuPy outputs on the current stream. Skipped without a CUDA build, a device and CuPy."""

from __future__ import annotations

import numpy as np
import pytest
from test_top_k import random_scores
from train_gpu import cp, to_gpu

from chronoscale import ops

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "N,V,k", [(1, 1, 1), (3, 17, 17), (256, 3706, 10), (100, 3706, 100), (7, 5000, 2048),
              (5, 5000, 2049), (3, 9000, 9000), (70000, 40, 5), (2, 300000, 50),
              (1, 1000000, 100), (4, 200000, 2048), (64, 50000, 10)])  # last 3: split rows
def test_matches_cpu(rng, dtype, N, V, k):
    s = random_scores(rng, N, V, dtype)
    want_ids, want_values = ops.top_k(s, k)
    ids, values = ops.top_k(to_gpu(s), k)
    assert isinstance(ids, cp().ndarray) and isinstance(values, cp().ndarray)
    assert ids.dtype == np.int64 and values.dtype == dtype
    np.testing.assert_array_equal(cp().asnumpy(ids), want_ids)
    np.testing.assert_array_equal(cp().asnumpy(values), want_values)


def test_runs_on_the_current_stream(rng):
    s = random_scores(rng, 64, 1000, np.float32)
    want = ops.top_k(s, 10)
    stream = cp().cuda.Stream(non_blocking=True)
    with stream:
        ids, values = ops.top_k(to_gpu(s), 10)
        stream.synchronize()
    np.testing.assert_array_equal(cp().asnumpy(ids), want[0])
    np.testing.assert_array_equal(cp().asnumpy(values), want[1])


def test_empty_batch_and_bad_input():
    ids, values = ops.top_k(cp().zeros((0, 5), np.float32), 3)
    assert ids.shape == (0, 3) and isinstance(ids, cp().ndarray)
    with pytest.raises(ValueError, match=r"k must be in \[1, V = 5\]"):
        ops.top_k(cp().zeros((2, 5), np.float32), 6)
