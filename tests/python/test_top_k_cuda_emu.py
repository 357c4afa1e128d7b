"""The CUDA top-k (cuda/top_k.cu: kernel and host side) run in the CPU emulator
(tests/cuda_emu/harness_rows.cpp) and compared with the CPU op (which test_top_k.py checks
against a reference): random rows with ties, -inf, NaN and signed zeros; k = 1, k = V, k on
both sides of the shared-memory limit (2048 slots; global scratch above); rows longer and
shorter than a block; few rows split into segments; float32 and float64; two scheduling seeds.

Part of the suite; CHRONOSCALE_TEST_EMU=0 skips it (tests/python/cuda_emu_build.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from cuda_emu_build import load_row_glue
from test_top_k import random_scores

from chronoscale import ops


@pytest.fixture(scope="module")
def emu():
    return load_row_glue()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,V,k", [(1, 1, 1), (3, 10, 10), (4, 300, 3), (2, 700, 255),
                                   (1, 2100, 2048), (1, 2100, 2049)])
def test_matches_cpu(emu, rng, dtype, N, V, k):
    s = random_scores(rng, N, V, dtype)
    want_ids, want_values = ops.top_k(s, k)
    for seed in (1, 2):
        ids, values = np.empty((N, k), np.int64), np.empty((N, k), dtype)
        rc = emu.emu_top_k(int(dtype == np.float64), N, V, k, s.ctypes.data, ids.ctypes.data,
                           values.ctypes.data, 0, seed)
        assert rc == 0, emu.emu_rows_error().decode()
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_array_equal(values, want_values)


def test_constant_rows_take_the_first_columns(emu):
    # every key ties with the k-th: the gather must keep column order across warps and chunks
    s = np.full((2, 1000), 1.5, np.float32)
    ids, values = np.empty((2, 600), np.int64), np.empty((2, 600), np.float32)
    rc = emu.emu_top_k(0, 2, 1000, 600, s.ctypes.data, ids.ctypes.data, values.ctypes.data, 0, 3)
    assert rc == 0, emu.emu_rows_error().decode()
    assert ids.tolist() == [list(range(600))] * 2


def test_many_gather_steps_and_early_exit(emu, rng):
    # rows of 5,000 columns: the winners spread over several gather steps of 1,024 columns, or
    # (decreasing rows) all in the first one, after which the gather stops early
    s = random_scores(rng, 3, 5000, np.float32)
    s[1] = -np.arange(5000, dtype=np.float32)
    s[2, :] = np.float32(1.0)
    s[2, 4093] = np.inf
    for k in (5, 37):
        want_ids, want_values = ops.top_k(s, k)
        ids, values = np.empty((3, k), np.int64), np.empty((3, k), np.float32)
        rc = emu.emu_top_k(0, 3, 5000, k, s.ctypes.data, ids.ctypes.data, values.ctypes.data, 0,
                           4)
        assert rc == 0, emu.emu_rows_error().decode()
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_array_equal(values, want_values)
    assert ids[1].tolist() == list(range(37)) and ids[2, :2].tolist() == [4093, 0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,V,k,min_segment", [(1, 700, 3, 16), (3, 300, 10, 16),
                                               (2, 1000, 1, 8), (1, 90, 5, 8)])
def test_split_rows_match_cpu(emu, rng, dtype, N, V, k, min_segment):
    """Few rows are split into segments (one block each; the emulated device has 4 SMs), and a
    second launch takes the k best of the segments' k best: the same result, ties across
    segments included (constant runs, NaN, -inf)."""
    s = random_scores(rng, N, V, dtype)
    s[0, V // 3:] = s[0, 0]  # one value over many segments
    want_ids, want_values = ops.top_k(s, k)
    for seed in (1, 2):
        ids, values = np.empty((N, k), np.int64), np.empty((N, k), dtype)
        rc = emu.emu_top_k(int(dtype == np.float64), N, V, k, s.ctypes.data, ids.ctypes.data,
                           values.ctypes.data, min_segment, seed)
        assert rc == 0, emu.emu_rows_error().decode()
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_array_equal(values, want_values)
