"""The CUDA pooling and embedding code (cuda/pool.cu, cuda/embedding.cu: kernels and their host
side, with the host plans of cpp/src/pool.cpp) run in the CPU emulator (tests/cuda_emu) and are
compared with the CPU ops: random shapes, windows, modes and lengths, float32 and float64, several
scheduling seeds (a missing barrier in the scan kernels would change results between seeds).

Part of the suite (the first run compiles the emulator into build/cuda_emu/, about 20 s);
CHRONOSCALE_TEST_EMU=0 skips it.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from cuda_emu_build import CUDA, EMU, ROOT, load_harness
from test_pool import random_timestamps

from chronoscale import ops

from helpers import random_lengths, rel_error

MODES = {"max": 0, "mean": 1, "sum": 2}
P = ctypes.c_void_p
I64P = ctypes.POINTER(ctypes.c_int64)


class EmuPool(ctypes.Structure):
    _fields_ = [
        *[(n, ctypes.c_int) for n in ("is_double", "kind", "mode", "partial", "multiscale")],
        *[(n, ctypes.c_int64) for n in ("B", "T", "C", "W")],
        *[(n, ctypes.c_int64) for n in ("size", "stride", "window", "origin", "max_windows")],
        ("seed", ctypes.c_uint32),
        ("x", P),
        ("ts", P),
        ("len", P),
        ("dy", P),
        ("y", P),
        *[(n, P) for n in ("counts", "out_len", "argmax", "first", "window_start", "event_step")],
        ("dx", P),
    ]


class EmuEmbedding(ctypes.Structure):
    _fields_ = [
        ("is_double", ctypes.c_int),
        *[(n, ctypes.c_int64) for n in ("B", "T", "V", "D", "N")],
        ("seed", ctypes.c_uint32),
        *[(n, P) for n in ("ids", "len", "table", "dy", "y", "dtable", "rows", "grad")],
        ("U", ctypes.c_int64),
    ]


CPP = [ROOT / "cpp" / "src" / "pool.cpp", ROOT / "cpp" / "src" / "cpu" / "pool.cpp"]


@pytest.fixture(scope="module")
def emu():
    h = load_harness(
        "harness_pool",
        [EMU / "harness_pool.cpp", *CPP],
        [CUDA / "pool.cu", CUDA / "embedding.cu"],
        ["-fopenmp"],
    )
    h.emu_pool_error.restype = ctypes.c_char_p
    h.emu_pool.argtypes = [ctypes.POINTER(EmuPool)]
    h.emu_embedding.argtypes = [ctypes.POINTER(EmuEmbedding)]
    return h


def _p(a):
    return None if a is None else a.ctypes.data


def _full(shape, dtype, value):
    return np.full(shape, value, dtype=dtype)


def emulate_pool(h, kind, mode, x, lengths, dy, W, seed, ts=None, dx0=None, **win):
    """dx0 given: the multi-scale driver's launches (count column in y / dy, dx += ...)."""
    B, T, C = x.shape
    dt = x.dtype
    nan = np.nan
    driver = dx0 is not None
    out = {
        "y": _full((B, W, C + driver), dt, nan),
        "dx": dx0.copy() if driver else _full((B, T, C), dt, nan),
        "counts": _full((B, W), np.int64, -7),
        "out_len": _full((B,), np.int64, -7),
        "argmax": _full((B, W, C), np.int64, -7),
        "first": _full((B,), np.int64, -7),
        "window_start": _full((B, W), np.int64, -7),
        "event_step": _full((B, T), np.int64, -7),
    }
    r = EmuPool(int(dt == np.float64), kind, MODES[mode], int(win.get("partial", False)), driver)
    r.B, r.T, r.C, r.W = B, T, C, W
    r.size, r.stride = win.get("size", 1), win.get("stride", 0)
    r.window, r.origin, r.max_windows = win.get("window", 0), win.get("origin", 0), win.get(
        "max_windows", 0
    )
    r.seed = seed
    r.x, r.ts, r.len, r.dy = _p(x), _p(ts), _p(lengths), _p(dy)
    for k, v in out.items():
        setattr(r, k, _p(v))
    assert h.emu_pool(ctypes.byref(r)) == 0, h.emu_pool_error().decode()
    return out


TOL = {np.float32: 1e-6, np.float64: 1e-13}


def _close(a, b, dtype, what):
    assert np.all(np.isfinite(a)), f"{what}: unwritten (NaN) entries"
    assert rel_error(a, b) < TOL[dtype], f"{what}: rel. error {rel_error(a, b):.2e}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("size,stride,partial", [(1, 1, True), (3, 2, False), (2, 3, True),
                                                 (4, 1, True), (3, 3, False)])
def test_count_pool_matches_cpu(emu, rng, dtype, mode, size, stride, partial):
    for seed in (1, 2):
        B, T, C = int(rng.integers(2, 5)), int(rng.integers(size, 12)), int(rng.integers(1, 6))
        x = rng.standard_normal((B, T, C)).astype(dtype)
        if mode == "max":  # ties: the first index must win on both paths
            x[:, 1::4] = x[:, 0::4][:, : x[:, 1::4].shape[1]]
        lengths = random_lengths(rng, B, T)
        y, counts, ol, cache = ops.count_pool_forward(x, size, stride, mode, lengths, partial)
        dy = rng.standard_normal(y.shape).astype(dtype)
        dx = ops.count_pool_backward(dy, cache)
        g = emulate_pool(emu, 0, mode, x, lengths, dy, y.shape[1], seed, size=size,
                         stride=stride, partial=partial)
        np.testing.assert_array_equal(g["counts"], counts)
        np.testing.assert_array_equal(g["out_len"], ol)
        if mode == "max":
            np.testing.assert_array_equal(g["argmax"], cache.argmax)
        _close(g["y"], y, dtype, "y")
        _close(g["dx"], dx, dtype, "dx")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("window,max_windows", [(5, None), (7, 3), (1, None), (20, 1)])
def test_time_pool_matches_cpu(emu, rng, dtype, mode, window, max_windows):
    for seed in (3, 4):
        B, T, C = int(rng.integers(2, 5)), int(rng.integers(3, 12)), int(rng.integers(1, 6))
        x = rng.standard_normal((B, T, C)).astype(dtype)
        ts = random_timestamps(rng, B, T)
        lengths = random_lengths(rng, B, T)
        origin = int(rng.integers(-9, 9))
        y, counts, ol, start, cache = ops.time_pool_forward(
            x, ts, window, origin, mode, lengths, max_windows
        )
        dy = rng.standard_normal(y.shape).astype(dtype)
        dx = ops.time_pool_backward(dy, cache)
        g = emulate_pool(emu, 1, mode, x, lengths, dy, y.shape[1], seed, ts=ts, window=window,
                         origin=origin, max_windows=max_windows or 0)
        for k, want in (("counts", counts), ("out_len", ol), ("window_start", start),
                        ("first", cache.first_window), ("event_step", cache.event_step)):
            np.testing.assert_array_equal(g[k], want, err_msg=k)
        if mode == "max":
            np.testing.assert_array_equal(g["argmax"], cache.argmax)
        _close(g["y"], y, dtype, "y")
        _close(g["dx"], dx, dtype, "dx")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["count", "time"])
def test_max_pool_nan_matches_cpu(emu, rng, dtype, kind):
    """NaN inputs: the same NaN windows and argmax (the last NaN, as torch) as the CPU op."""
    B, T, C = 4, 11, 3
    x = rng.standard_normal((B, T, C)).astype(dtype)
    x[rng.random(x.shape) < 0.2] = np.nan
    lengths = random_lengths(rng, B, T)
    if kind == "count":
        y, _, _, cache = ops.count_pool_forward(x, 3, 2, "max", lengths, True)
        dx = ops.count_pool_backward(np.ones_like(y), cache)
        g = emulate_pool(emu, 0, "max", x, lengths, np.ones_like(y), y.shape[1], 5, size=3,
                         stride=2, partial=True)
    else:
        ts = random_timestamps(rng, B, T)
        y, _, _, _, cache = ops.time_pool_forward(x, ts, 7, 0, "max", lengths)
        dx = ops.time_pool_backward(np.ones_like(y), cache)
        g = emulate_pool(emu, 1, "max", x, lengths, np.ones_like(y), y.shape[1], 5, ts=ts,
                         window=7)
    assert np.isnan(y).any()
    np.testing.assert_array_equal(g["argmax"], cache.argmax)
    np.testing.assert_array_equal(g["y"], y)  # NaN == NaN here; the values are copies
    np.testing.assert_array_equal(g["dx"], dx)


def emulate_embedding(h, ids, table, lengths, dy, seed):
    B, T = ids.shape
    V, D = table.shape
    dt = table.dtype
    N = min(int(lengths.sum()) if lengths is not None else B * T, V)
    out = {
        "y": _full((B, T, D), dt, np.nan),
        "dtable": _full((V, D), dt, np.nan),
        "rows": _full((max(N, 1),), np.int64, -7),
        "grad": _full((max(N, 1), D), dt, np.nan),
    }
    r = EmuEmbedding(int(dt == np.float64), B, T, V, D, N, seed)
    r.ids, r.len, r.table, r.dy = _p(ids), _p(lengths), _p(table), _p(dy)
    for k, v in out.items():
        setattr(r, k, _p(v))
    rc = h.emu_embedding(ctypes.byref(r))
    if rc != 0:
        raise ValueError(h.emu_pool_error().decode())
    out["rows"], out["grad"] = out["rows"][: r.U], out["grad"][: r.U]
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("V", [1, 7, 300, 5000])
def test_embedding_matches_cpu(emu, rng, dtype, V):
    for seed in (5, 6):
        B, T, D = int(rng.integers(1, 5)), int(rng.integers(1, 9)), int(rng.integers(1, 7))
        table = rng.standard_normal((V, D)).astype(dtype)
        ids = rng.integers(0, min(V, 6) if seed == 5 else V, size=(B, T)).astype(np.int64)
        lengths = random_lengths(rng, B, T)
        ids[0, lengths[0]:] = -3  # padding holds anything
        y, cache = ops.embedding_forward(ids, table, lengths)
        dy = rng.standard_normal(y.shape).astype(dtype)
        rows, grad = ops.embedding_backward(dy, cache, sparse=True)
        dtable = ops.embedding_backward(dy, cache, sparse=False)
        g = emulate_embedding(emu, ids, table, lengths, dy, seed)
        np.testing.assert_array_equal(g["y"], y)
        np.testing.assert_array_equal(g["rows"], rows)
        _close(g["grad"], grad, dtype, "sparse grad")
        _close(g["dtable"], dtable, dtype, "dense grad")


def test_embedding_bad_id_message_matches_cpu(emu, rng):
    ids = np.array([[0, 1, 2], [3, 9, 1]], np.int64)
    table = rng.standard_normal((5, 3)).astype(np.float32)
    lengths = np.array([3, 3], np.int64)
    with pytest.raises(ValueError) as cpu:
        ops.embedding_forward(ids, table, lengths)
    dy = np.zeros((2, 3, 3), np.float32)
    with pytest.raises(ValueError) as gpu:
        emulate_embedding(emu, ids, table, lengths, dy, 1)
    assert str(gpu.value) == str(cpu.value)
    # Past the lengths a bad id is padding: no error.
    lengths = np.array([3, 1], np.int64)
    g = emulate_embedding(emu, ids, table, lengths, dy, 1)
    np.testing.assert_array_equal(g["y"], ops.embedding_forward(ids, table, lengths)[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("kind", [0, 1])
def test_driver_launches_count_column_and_accumulate(emu, rng, dtype, mode, kind):
    """cuda/multiscale.cu pools into the cell input [B, W, C + 1] (log1p(count) last) and adds
    every scale's gradient into one dx."""
    B, T, C = 3, int(rng.integers(4, 12)), int(rng.integers(1, 5))
    x = rng.standard_normal((B, T, C)).astype(dtype)
    lengths = random_lengths(rng, B, T)
    if kind == 0:
        y, counts, ol, cache = ops.count_pool_forward(x, 3, 2, mode, lengths, True)
        win = {"size": 3, "stride": 2, "partial": True}
        back, ts = ops.count_pool_backward, None
    else:
        ts = random_timestamps(rng, B, T)
        y, counts, ol, _, cache = ops.time_pool_forward(x, ts, 6, 0, mode, lengths)
        win = {"window": 6}
        back = ops.time_pool_backward
    W = y.shape[1]
    dz = rng.standard_normal((B, W, C + 1)).astype(dtype)
    dx0 = rng.standard_normal((B, T, C)).astype(dtype)
    g = emulate_pool(emu, kind, mode, x, lengths, dz, W, 7, ts=ts, dx0=dx0, **win)
    z = np.concatenate([y, np.log1p(counts)[..., None].astype(dtype)], axis=2)
    _close(g["y"], z, dtype, "z")
    _close(g["dx"], dx0 + back(np.ascontiguousarray(dz[..., :C]), cache), dtype, "dx")
