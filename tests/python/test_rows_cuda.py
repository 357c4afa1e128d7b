"""CUDA row gather / scatter against the CPU ops: random shapes, column blocks and indices with
"none" entries, float32 and float64, outputs as CuPy arrays, in-place outputs, CuPy's current
stream, a host index refused. Skipped without a CUDA build, a device and CuPy."""

from __future__ import annotations

import numpy as np
import pytest
from train_gpu import cp, to_gpu

from chronoscale import ops

from helpers import rel_error

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trial", range(4))
def test_matches_cpu(rng, dtype, trial):
    N, M, H = int(rng.integers(1, 5000)), int(rng.integers(1, 400)), int(rng.integers(1, 200))
    W = H + int(rng.integers(0, 9))
    col = int(rng.integers(0, W - H + 1))
    src = rng.standard_normal((M, H)).astype(dtype)
    index = rng.integers(-2, M + 2, size=N)
    base = rng.standard_normal((N, W)).astype(dtype)
    want = ops.gather_rows(src, index, base.copy(), col=col)
    out = to_gpu(base)
    got = ops.gather_rows(to_gpu(src), to_gpu(index), out, col=col)
    assert got is out
    assert np.array_equal(cp().asnumpy(got), want)
    fresh = ops.gather_rows(to_gpu(src), to_gpu(index))
    assert isinstance(fresh, cp().ndarray)
    assert np.array_equal(cp().asnumpy(fresh), want[:, col:col + H])

    g = rng.standard_normal((N, W)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    want = ops.scatter_rows(g, index, size=M, col=col, width=H)
    got = ops.scatter_rows(to_gpu(g), to_gpu(index), size=M, col=col, width=H)
    assert isinstance(got, cp().ndarray) and got.shape == (M, H)
    assert rel_error(cp().asnumpy(got), want) < tol
    acc = rng.standard_normal((M, H)).astype(dtype)
    got = ops.scatter_rows(to_gpu(g), to_gpu(index), out=to_gpu(acc), col=col)
    assert rel_error(cp().asnumpy(got), want + acc) < tol


def test_non_default_stream(rng):
    src = rng.standard_normal((300, 64)).astype(np.float32)
    index = rng.integers(-1, 300, size=20000)
    want = ops.gather_rows(src, index)
    with cp().cuda.Stream(non_blocking=True) as s:
        got = ops.gather_rows(to_gpu(src), to_gpu(index))
        back = ops.scatter_rows(got, to_gpu(index), size=300)
        s.synchronize()
    assert np.array_equal(cp().asnumpy(got), want)
    assert rel_error(cp().asnumpy(back), ops.scatter_rows(want, index, size=300)) < 1e-5


def test_host_index_refused(rng):
    src = to_gpu(rng.standard_normal((5, 3)).astype(np.float32))
    with pytest.raises(ValueError, match="index must be on the device of src"):
        ops.gather_rows(src, np.array([0, 1]))


def test_window_rows_match_cpu(rng):
    from test_rows import window_case

    L, scales, outs = window_case(rng)
    B, T = len(L), 13
    b = np.r_[rng.integers(0, B, 3000), -1, B]
    t = np.r_[rng.integers(0, T, 3000), 0, 0]
    for sc, o in zip(scales, outs, strict=True):
        W = o.y.shape[1]
        want = ops.window_rows(sc, b, t, (B, T), W, L, o.out_lengths, o.closed_before)
        got = ops.window_rows(sc, to_gpu(b), to_gpu(t), (B, T), W, to_gpu(L),
                              to_gpu(o.out_lengths), to_gpu(o.closed_before))
        assert isinstance(got, cp().ndarray)
        np.testing.assert_array_equal(cp().asnumpy(got), want, err_msg=str(sc))
