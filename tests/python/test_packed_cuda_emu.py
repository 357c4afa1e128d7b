"""The CUDA packed running sums (cuda/packed.cu: kernel and host side, batch_sizes copied to
the "device") run in the CPU emulator (tests/cuda_emu/harness_rows.cpp) and compared with the CPU
op (which test_packed.py checks against references): random lengths, forward and reverse,
float32 and float64, two scheduling seeds; the sums are sequential per sequence on both, so they
must agree bit for bit.

Part of the suite; CHRONOSCALE_TEST_EMU=0 skips it (tests/python/cuda_emu_build.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from cuda_emu_build import load_row_glue
from test_packed import packed_case

from chronoscale import ops


@pytest.fixture(scope="module")
def emu():
    return load_row_glue()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("B,T,D", [(1, 1, 1), (9, 7, 33), (40, 20, 64)])
def test_matches_cpu_bit_for_bit(emu, rng, dtype, B, T, D):
    x, bs, _, _ = packed_case(rng, B, T, D, dtype)
    bs = np.ascontiguousarray(bs, dtype=np.int64)
    for reverse in (False, True):
        want = ops.packed_cumsum(x, bs, reverse=reverse)
        for seed in (1, 2):
            got = np.full_like(x, np.nan)
            rc = emu.emu_packed_cumsum(int(dtype == np.float64), x.shape[0], D, bs.ctypes.data,
                                       len(bs), int(reverse), x.ctypes.data, got.ctypes.data,
                                       seed)
            assert rc == 0, emu.emu_rows_error().decode()
            assert np.array_equal(got, want)
