"""The CUDA row normalisation (cuda/normalize.cu: kernels and host side) run in the CPU emulator
(tests/cuda_emu/harness_rows.cpp) and compared with the CPU ops (which test_normalize.py
checks against references and finite differences): random shapes (D below, at and above the
warp's 32 lanes), zero rows, a large norm floor, float32 and float64, two scheduling seeds.

Part of the suite; CHRONOSCALE_TEST_EMU=0 skips it (tests/python/cuda_emu_build.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from cuda_emu_build import load_row_glue
from test_normalize import random_rows

from chronoscale import ops

from helpers import rel_error


@pytest.fixture(scope="module")
def emu():
    return load_row_glue()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,D,eps", [(1, 1, 1e-8), (37, 31, 1e-8), (70, 32, 0.5), (90, 100, 1e-8)])
def test_matches_cpu(emu, rng, dtype, N, D, eps):
    x = random_rows(rng, N, D, dtype)
    dy = rng.standard_normal((N, D)).astype(dtype)
    want_y, want_n = ops.normalize_forward(x, eps)
    want_dx = ops.normalize_backward(dy, want_y, want_n, eps)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    for seed in (1, 2):
        y, n, dx = np.empty_like(x), np.empty(N, dtype), np.empty_like(x)
        rc = emu.emu_normalize(int(dtype == np.float64), N, D, eps, x.ctypes.data, dy.ctypes.data,
                               y.ctypes.data, n.ctypes.data, dx.ctypes.data, seed)
        assert rc == 0, emu.emu_rows_error().decode()
        assert rel_error(y, want_y) < tol and rel_error(n, want_n) < tol
        assert rel_error(dx, want_dx) < 10 * tol
