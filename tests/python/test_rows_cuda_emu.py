"""The CUDA row gather / scatter (cuda/rows.cu: kernels and host side) run in the CPU emulator
(tests/cuda_emu/harness_rows.cpp) and compared with the CPU ops (which test_rows.py checks
against references and finite differences): random shapes, column blocks and indices with
"none" entries on both sides, float32 and float64, two scheduling seeds (the scatter's
repeated indices add in a different order under each); window_rows on count and wall-clock
scales of a real multi-scale batch, events outside the batch included.

Part of the suite; CHRONOSCALE_TEST_EMU=0 skips it (tests/python/cuda_emu_build.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from cuda_emu_build import load_row_glue

from chronoscale import ops

from helpers import rel_error


@pytest.fixture(scope="module")
def emu():
    return load_row_glue()


def _call(h, fn, data, index, out, col, seed):
    wide, rows = (out, data) if fn == "gather" else (data, out)
    args = [int(data.dtype == np.float64), index.size, rows.shape[0], rows.shape[1],
            wide.shape[1], col, data.ctypes.data, index.ctypes.data, out.ctypes.data, seed]
    rc = getattr(h, f"emu_{fn}_rows")(*args)
    assert rc == 0, h.emu_rows_error().decode()
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trial", range(4))
def test_gather_and_scatter_match_cpu(emu, rng, dtype, trial):
    N, M, H = int(rng.integers(1, 400)), int(rng.integers(1, 60)), int(rng.integers(1, 50))
    W = H + int(rng.integers(0, 7))
    col = int(rng.integers(0, W - H + 1))
    src = rng.standard_normal((M, H)).astype(dtype)
    index = rng.integers(-2, M + 2, size=N)
    g = rng.standard_normal((N, W)).astype(dtype)
    base = rng.standard_normal((N, W)).astype(dtype)
    want_gather = ops.gather_rows(src, index, base.copy(), col=col)
    acc = rng.standard_normal((M, H)).astype(dtype)
    want_scatter = ops.scatter_rows(g, index, out=acc.copy(), col=col)
    for seed in (1, 2):
        got = _call(emu, "gather", src, index, base.copy(), col, seed)
        assert np.array_equal(got, want_gather)
        got = _call(emu, "scatter", g, index, acc.copy(), col, seed)
        assert rel_error(got, want_scatter) < (1e-5 if dtype == np.float32 else 1e-12)


def test_window_rows_match_cpu(emu, rng):
    from test_rows import window_case

    L, scales, outs = window_case(rng)
    B, T = len(L), 13
    b = np.r_[rng.integers(0, B, 300), -1, B, 0, 1]
    t = np.r_[rng.integers(0, T, 300), 0, 0, -1, T]
    p = lambda a: None if a is None else a.ctypes.data  # noqa: E731
    for sc, o in zip(scales, outs, strict=True):
        W = o.y.shape[1]
        want = ops.window_rows(sc, b, t, (B, T), W, L, o.out_lengths, o.closed_before)
        time = sc.kind == "time"
        got = np.full(b.size, 99, np.int64)
        rc = emu.emu_window_rows(b.size, p(b), p(t), B, T, W, sc.size, sc.stride,
                                 None if time else p(L), None if time else p(o.out_lengths),
                                 p(o.closed_before) if time else None, p(got), 1)
        assert rc == 0, emu.emu_rows_error().decode()
        np.testing.assert_array_equal(got, want, err_msg=str(sc))
