"""The CUDA scale fusion (cuda/fusion.cu: kernels and host side) run in the CPU emulator
(tests/cuda_emu/harness_rows.cpp) and compared with the CPU op (which test_fusion.py checks
against references and finite differences): random shapes (more rows than a block's threads,
several columns), float32 and float64, two scheduling seeds (the block sums must not change).

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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("S,B,K", [(1, 1, 1), (3, 300, 2), (4, 37, 5)])
def test_matches_cpu(emu, rng, dtype, S, B, K):
    ys = rng.standard_normal((S, B, K)).astype(dtype)
    logits = (2 * rng.standard_normal((S, K))).astype(dtype)
    dy = rng.standard_normal((B, K)).astype(dtype)
    want_y, want_a = ops.scale_fusion_forward(ys, logits)
    want_dys, want_dl = ops.scale_fusion_backward(dy, ys, want_a)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    runs = []
    for seed in (1, 2):
        y, a = np.empty((B, K), dtype), np.empty((S, K), dtype)
        dys, dl = np.empty((S, B, K), dtype), np.empty((S, K), dtype)
        rc = emu.emu_scale_fusion(int(dtype == np.float64), S, B, K, ys.ctypes.data,
                                  logits.ctypes.data, dy.ctypes.data, y.ctypes.data,
                                  a.ctypes.data, dys.ctypes.data, dl.ctypes.data, seed)
        assert rc == 0, emu.emu_rows_error().decode()
        assert rel_error(a, want_a) < tol and rel_error(y, want_y) < tol
        assert rel_error(dys, want_dys) < tol and rel_error(dl, want_dl) < 10 * tol
        runs.append((y, dl))
    assert all(np.array_equal(p, q) for p, q in zip(*runs, strict=True))
