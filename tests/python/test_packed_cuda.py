"""CUDA packed running sums against the CPU op: random lengths, forward and reverse, float32 and
float64, bit for bit (sequential sums per sequence on both), CuPy's current stream. Skipped
without a CUDA build, a device and CuPy."""

from __future__ import annotations

import numpy as np
import pytest
from test_packed import packed_case
from train_gpu import cp, to_gpu

from chronoscale import ops

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("B,T,D", [(1, 1, 1), (37, 50, 65), (256, 192, 64)])
def test_matches_cpu_bit_for_bit(rng, dtype, B, T, D):
    x, bs, _, _ = packed_case(rng, B, T, D, dtype)
    for reverse in (False, True):
        want = ops.packed_cumsum(x, bs, reverse=reverse)
        got = ops.packed_cumsum(to_gpu(x), bs, reverse=reverse)
        assert isinstance(got, cp().ndarray)
        assert np.array_equal(cp().asnumpy(got), want)


def test_non_default_stream(rng):
    x, bs, _, _ = packed_case(rng, 64, 40, 32, np.float32)
    want = ops.packed_cumsum(x, bs, reverse=True)
    with cp().cuda.Stream(non_blocking=True) as s:
        got = ops.packed_cumsum(to_gpu(x), bs, reverse=True)
        s.synchronize()
    assert np.array_equal(cp().asnumpy(got), want)
