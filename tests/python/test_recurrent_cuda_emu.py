"""The CUDA recurrent, GEMM and column-sum kernels run in a CPU emulator (tests/cuda_emu) and are
compared with the CPU kernels. This checks the kernels' indexing, length masking, barriers and all
three launch modes (resident / cooperative grid / one launch per step) on machines without a
GPU; a barrier that not every thread reaches fails as a deadlock, and a missing barrier shows up
as a result that changes with the emulator's scheduling seed. The host side (cuBLAS, launches,
streams) needs a GPU: test_recurrent_cuda.py.

Part of the suite: about 30 s, plus about 30 s to compile the emulator into build/cuda_emu/ the
first time for given sources; CHRONOSCALE_TEST_EMU=0 skips it.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import threading

import numpy as np
import pytest
from cuda_emu_build import CUDA, EMU, load_harness
from test_recurrent import make

from helpers import random_lengths, recurrent_backward, recurrent_forward, rel_error

CELL_IDS = {"rnn_tanh": 0, "rnn_sigmoid": 1, "rnn_relu": 2, "lstm": 3, "gru": 4}
RESIDENT, GRID, STEP, GEMM = 2, 1, 0, 3
P = ctypes.c_void_p


class EmuRec(ctypes.Structure):
    _fields_ = [
        ("cell", ctypes.c_int),
        ("is_double", ctypes.c_int),
        ("B", ctypes.c_int64),
        ("T", ctypes.c_int64),
        ("H", ctypes.c_int),
        ("nj", ctypes.c_int),
        ("ks", ctypes.c_int),
        ("rb", ctypes.c_int),
        ("mode", ctypes.c_int),
        ("gy", ctypes.c_int),
        ("reg", ctypes.c_int),
        ("seed", ctypes.c_uint32),
        ("len", P),
        *[(n, P) for n in ("w_hh", "b_ih", "b_hh", "h0", "c0")],
        *[(n, P) for n in ("gates", "hprev", "aux", "y", "h_n", "c_n")],
        *[(n, P) for n in ("dy", "dh_n", "dc_n", "dgi", "dhg", "dh0", "dc0")],
    ]


class EmuFull(ctypes.Structure):
    _fields_ = [
        ("cell", ctypes.c_int),
        ("is_double", ctypes.c_int),
        *[(n, ctypes.c_int64) for n in ("B", "T", "I", "H")],
        ("len", P),
        *[(n, P) for n in ("x", "w_ih", "w_hh", "b_ih", "b_hh", "h0", "c0")],
        *[(n, P) for n in ("y", "h_n", "c_n", "gates", "hprev", "aux")],
        *[(n, P) for n in ("dy", "dh_n", "dc_n")],
        *[(n, P) for n in ("dx", "dw_ih", "dw_hh", "db_ih", "db_hh", "dh0", "dc0")],
        ("sms", ctypes.c_int),
        ("refuse_cooperative_launch", ctypes.c_int),
        ("seed", ctypes.c_uint32),
        ("launches", ctypes.c_int),
        ("cooperative_launches", ctypes.c_int),
        ("reg_launches", ctypes.c_int),
        ("gemm_launches", ctypes.c_int),
    ]


HARNESS = ["harness.cpp", "host_glue.cpp"]
HOST_SOURCES = ["recurrent_plan.cu", "recurrent_forward.cu", "recurrent_backward.cu", "cublas.cu"]


@pytest.fixture(scope="module")
def emu():
    h = load_harness("harness", [EMU / f for f in HARNESS], [CUDA / f for f in HOST_SOURCES])
    h.emu_last_error.restype = ctypes.c_char_p
    h.emu_glue_error.restype = ctypes.c_char_p
    i32, i64 = ctypes.c_int, ctypes.c_int64
    h.emu_full.argtypes = [ctypes.POINTER(EmuFull)]
    h.emu_full_many.argtypes = [ctypes.POINTER(EmuFull), ctypes.c_int]
    h.emu_cublas_gemm.argtypes = [i32, i32, i32, i64, i64, i64, P, i64, P, i64, P, i64]
    i32, i64, u32 = ctypes.c_int, ctypes.c_int64, ctypes.c_uint32
    h.emu_recurrent_forward.argtypes = [ctypes.POINTER(EmuRec)]
    h.emu_recurrent_backward.argtypes = [ctypes.POINTER(EmuRec)]
    h.emu_gemm.argtypes = [i32, i32, i32, i64, i64, i64, P, i64, P, i64, P, i64, i32, u32]
    h.emu_colsum.argtypes = [i32, P, i64, i64, i64, P, i32, u32]
    h.emu_plan.argtypes = [
        i32,
        i32,
        i32,
        i64,
        i32,
        i32,
        i64,
        i32,
        ctypes.POINTER(i32),
        ctypes.POINTER(i32),
        ctypes.POINTER(i64),
    ]
    return h


def _ptr(a):
    return None if a is None else a.ctypes.data


def _check(h, rc):
    assert rc == 0, h.emu_last_error().decode()


cpu_forward = recurrent_forward


cpu_backward = recurrent_backward


def tiles(B, nj, ks, rb):
    return -(-B // (256 // (nj * ks) * rb))


def emulate(h, cell, p, lengths, plan, seed, dy, dh_n, dc_n):
    """Forward and backward through the emulated kernels; the GEMMs in NumPy."""
    nj, ks, rb, mode, gy, *reg = plan
    x = p["x"]
    B, T, I = x.shape
    GH, H = p["w_hh"].shape
    dt = x.dtype
    nan = np.array(np.nan, dt)
    gates = np.ascontiguousarray((x.reshape(-1, I) @ p["w_ih"].T).reshape(B, T, GH))
    out = {
        k: np.full(s, nan)
        for k, s in [
            ("hprev", (B, T, H)),
            ("aux", (B, T, H)),
            ("y", (B, T, H)),
            ("h_n", (B, H)),
            ("c_n", (B, H)),
        ]
    }
    lens = None if lengths is None else np.ascontiguousarray(lengths, dtype=np.int64)
    reg = reg[0] if reg else 0
    r = EmuRec(CELL_IDS[cell], int(dt == np.float64), B, T, H, nj, ks, rb, mode, gy, reg, seed)
    r.len = _ptr(lens)
    for k in ("w_hh", "b_ih", "b_hh", "h0", "c0"):
        setattr(r, k, _ptr(p[k]))
    r.gates = _ptr(gates)
    for k, v in out.items():
        setattr(r, k, _ptr(v))
    _check(h, h.emu_recurrent_forward(ctypes.byref(r)))
    fwd = dict(out, gates=gates.copy())
    r.reg = 0  # the backward keeps W_hh in shared memory
    dgi, dhg = np.full((B, T, GH), nan), np.full((B, T, GH), nan)
    dh0, dc0 = np.full((B, H), nan), np.full((B, H), nan)
    for k, v in (
        ("dy", dy),
        ("dh_n", dh_n),
        ("dc_n", dc_n),
        ("dgi", dgi),
        ("dhg", dhg),
        ("dh0", dh0),
        ("dc0", dc0),
    ):
        setattr(r, k, _ptr(v))
    r.seed = seed + 1000
    _check(h, h.emu_recurrent_backward(ctypes.byref(r)))
    if cell != "gru":
        dhg = dgi
    R = B * T
    g = {
        "dx": (dgi.reshape(R, GH) @ p["w_ih"]).reshape(B, T, I),
        "dw_ih": dgi.reshape(R, GH).T @ x.reshape(R, I),
        "dw_hh": dhg.reshape(R, GH).T @ fwd["hprev"].reshape(R, H),
        "db_ih": dgi.reshape(R, GH).sum(0),
        "db_hh": dhg.reshape(R, GH).sum(0),
        "dh0": dh0,
        "dc0": dc0,
    }
    return fwd, g


def compare(h, rng, cell, B, T, I, H, plan, dtype=np.float64, lengths="random", seeds=(1,)):
    p = make(rng, cell, B, T, I, H, dtype)
    if isinstance(lengths, str):
        lengths = random_lengths(rng, B, T)
    tol = 1e-12 if dtype == np.float64 else 1e-4
    y, h_n, c_n, cache = cpu_forward(cell, p, lengths)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dh_n = rng.standard_normal(h_n.shape).astype(dtype)
    dc_n = rng.standard_normal(h_n.shape).astype(dtype) if cell == "lstm" else None
    ref = dict(
        zip(
            ["dx", "dw_ih", "dw_hh", "db_ih", "db_hh", "dh0", "dc0"],
            cpu_backward(cell, dy, dh_n, dc_n, cache),
        )
    )
    L = np.full(B, T) if lengths is None else np.asarray(lengths)
    valid = (np.arange(T)[None, :] < L[:, None])[..., None]
    for seed in seeds:
        fwd, g = emulate(h, cell, p, lengths, plan, seed, dy, dh_n, dc_n)
        pairs = [
            ("y", fwd["y"], y),
            ("h_n", fwd["h_n"], h_n),
            ("hprev", fwd["hprev"], cache.hprev),
            ("gates", np.where(valid, fwd["gates"], 0), np.where(valid, cache.gates, 0)),
        ]
        if cell == "lstm":
            pairs += [("c_n", fwd["c_n"], c_n)]
        if cache.aux is not None:
            pairs += [("aux", np.where(valid, fwd["aux"], 0), np.where(valid, cache.aux, 0))]
        pairs += [(k, g[k], v) for k, v in ref.items() if v is not None]
        for name, got, want in pairs:
            assert np.all(np.isfinite(got)), f"{name}: unwritten (NaN) entries, plan {plan}"
            assert rel_error(got, want) < tol, f"{name}: {rel_error(got, want):.1e}, plan {plan}"
        assert not fwd["gates"][~np.broadcast_to(valid, fwd["gates"].shape)].any()


CELLS = ["lstm", "gru", "rnn_tanh", "rnn_sigmoid", "rnn_relu"]


@pytest.mark.parametrize("cell", CELLS)
def test_resident_mode(emu, rng, cell):
    B, T, I, H = 9, 7, 3, 12
    compare(emu, rng, cell, B, T, I, H, (16, 4, 2, RESIDENT, tiles(B, 16, 4, 2)), seeds=(1, 2))


@pytest.mark.parametrize("cell", CELLS)
def test_grid_mode_several_tiles_per_block(emu, rng, cell):
    """Tiles of 16 rows: B = 7 is one tile (each block owns at most one: the backward keeps
    dh / dc in registers), B = 40 three tiles on two blocks (a.dh / a.dc carry them)."""
    for B in (7, 40):
        compare(emu, rng, cell, B, 6, 4, 10, (4, 8, 2, GRID, 2), seeds=(3, 4))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_relu"])
def test_step_mode(emu, rng, cell):
    B, T, I, H = 6, 5, 2, 9
    compare(emu, rng, cell, B, T, I, H, (2, 2, 4, STEP, tiles(B, 2, 2, 4)), seeds=(5,))


@pytest.mark.parametrize(
    "plan",
    [(1, 32, 1, GRID, 3), (8, 1, 8, GRID, 1), (32, 8, 1, RESIDENT, 9), (1, 1, 4, STEP, 1)],
)
def test_tile_shapes(emu, rng, plan):
    nj, ks, rb, mode, gy = plan
    B, T, I, H = 9, 4, 3, 17
    if mode == RESIDENT:
        gy = tiles(B, nj, ks, rb)
    compare(emu, rng, "lstm", B, T, I, H, (nj, ks, rb, mode, gy))
    compare(emu, rng, "gru", B, T, I, H, (nj, ks, rb, mode, gy))


# k values of one dot product a thread of the register-resident forward holds (reg_slice).
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_sigmoid": 1, "rnn_relu": 1}
KR = {(c, e): 256 // (GATES[c] * e) for c in CELLS for e in (4, 8)}


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_register_resident_forward(emu, rng, cell, dtype):
    """W_hh in registers (resident tiles, one row per thread): full k-slices (H = KR * ks where
    KR * ks <= 64), a ragged last slice, one batch row (the latency case) and several tiles
    with random lengths; equal to the CPU (the backward as usual)."""
    kr = KR[cell, np.dtype(dtype).itemsize]
    for B, H, nj, ks in [(1, min(kr * 4, 64), 64, 4), (9, 13, 16, 2), (3, 7, 8, 1)]:
        assert -(-H // ks) <= kr
        plan = (nj, ks, 1, RESIDENT, tiles(B, nj, ks, 1), 1)
        compare(emu, rng, cell, B, 6, 3, H, plan, dtype=dtype, seeds=(1, 2))


def test_register_resident_planned_and_refused(emu, monkeypatch):
    """The planner keeps W_hh in registers for the B = 1 LSTM / GRU forward at H = 64 in
    float32 (never for the backward, never with CHRONOSCALE_CUDA_RNN_REG=0, never when its
    blocks would not all fit at once); the harness refuses a tile whose slice would not fit."""
    for G in (3, 4):
        q = plan_of(emu, 0, G, 4, 1, 64)
        assert q["reg"] == 1 and q["mode"] == RESIDENT and q["rb"] == 1
        assert q["smem"] == 2 * q["nbg"] * q["ld"] * 4  # two h buffers, no W_hh
        assert plan_of(emu, 1, G, 4, 1, 64)["reg"] == 0
    assert plan_of(emu, 0, 4, 4, 1, 256)["reg"] == 0  # 4 x 256 / ks words: too many
    # 256 one-row blocks of 162 registers: more than fit at once (132 SMs x 1), so not in
    # registers (a second wave would wait for the first's whole sequence).
    assert plan_of(emu, 0, 4, 4, 256, 64, regs=(106, 167, 164, 255, 162))["reg"] == 0
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_REG", "0")
    assert plan_of(emu, 0, 4, 4, 1, 64)["reg"] == 0
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_REG", "2")
    out, smem, r = (ctypes.c_int * 9)(), ctypes.c_int64(), (ctypes.c_int * 5)(64, 80, 128, 170, 128)
    assert emu.emu_plan(0, 4, 4, 1, 64, 132, 227 << 10, 1, r, out, ctypes.byref(smem)) == 1
    assert "CHRONOSCALE_CUDA_RNN_REG" in emu.emu_last_error().decode()
    rng = np.random.default_rng(0)
    p = make(rng, "lstm", 1, 3, 2, 20, np.float64)  # 20 > KR(8) * ks(2)
    r = EmuRec(CELL_IDS["lstm"], 1, 1, 3, 20, 32, 2, 1, RESIDENT, 1, 1, 1)
    r.w_hh = _ptr(p["w_hh"])
    assert emu.emu_recurrent_forward(ctypes.byref(r)) == 1
    assert "reg needs" in emu.emu_last_error().decode()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("reg", ["", "0"])
def test_host_code_register_resident(emu, rng, monkeypatch, cell, reg):
    """The host code's own plan for a B = 1 / B = 3 forward with small H keeps W_hh in
    registers (one launch of that kernel; the backward's plan is unchanged) unless
    CHRONOSCALE_CUDA_RNN_REG=0; both equal the CPU."""
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_REG", reg)
    monkeypatch.delenv("CHRONOSCALE_CUDA_RNN_MODE", raising=False)
    monkeypatch.delenv("CHRONOSCALE_CUDA_RNN_PLAN", raising=False)
    for B, lengths in [(1, None), (3, np.array([4, 0, 2]))]:
        p = make(rng, cell, B, 4, 3, 6, np.float64)
        L = np.full(B, 4) if lengths is None else lengths
        want, grads_out = reference(rng, cell, p, lengths)
        f = EmuFull()
        o, g, _keep = prepare_full(f, cell, p, lengths, *grads_out)
        assert emu.emu_full(ctypes.byref(f)) == 0, emu.emu_glue_error().decode()
        compare_full(cell, o, g, want, L, 4)
        assert f.launches == 2 and f.reg_launches == (0 if reg == "0" else 1)


@pytest.mark.parametrize("state", ["", "0", "1"])
def test_host_code_backward_state(emu, rng, monkeypatch, state):
    """The host code's backward with its running dh / dc in registers (default, '1') or read
    back from global memory at every step (CHRONOSCALE_CUDA_RNN_STATE_REGS=0): both equal the
    CPU, with empty and partial sequences; any other value is refused by name."""
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_STATE_REGS", state)
    monkeypatch.delenv("CHRONOSCALE_CUDA_RNN_MODE", raising=False)
    monkeypatch.delenv("CHRONOSCALE_CUDA_RNN_PLAN", raising=False)
    lengths = np.array([5, 0, 3, 5, 1])
    for cell in ("lstm", "gru", "rnn_tanh"):
        p = make(rng, cell, 5, 5, 3, 9, np.float64)
        want, grads_out = reference(rng, cell, p, lengths)
        o, g, _, _ = full(emu, cell, p, lengths, *grads_out)
        compare_full(cell, o, g, want, lengths, 5)
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_STATE_REGS", "yes")
    f = EmuFull()
    p = make(rng, "lstm", 5, 5, 3, 9, np.float64)
    _o, _g, _keep = prepare_full(f, "lstm", p, lengths, *reference(rng, "lstm", p, lengths)[1])
    assert emu.emu_full(ctypes.byref(f)) != 0
    assert "CHRONOSCALE_CUDA_RNN_STATE_REGS" in emu.emu_glue_error().decode()


def test_lengths_zero_and_none(emu, rng):
    plan = (4, 4, 1, GRID, 2)
    compare(emu, rng, "lstm", 4, 5, 3, 6, plan, lengths=np.array([0, 5, 0, 2]))
    compare(emu, rng, "gru", 4, 5, 3, 6, plan, lengths=np.array([0, 0, 0, 0]))
    compare(emu, rng, "lstm", 4, 5, 3, 6, plan, lengths=None)
    compare(emu, rng, "rnn_tanh", 3, 4, 3, 6, (8, 2, 2, RESIDENT, 1), lengths=[0, 0, 0])


@pytest.mark.parametrize("plan", [(8, 2, 2, RESIDENT, 1), (4, 4, 1, GRID, 2)])
def test_rnn_relu_passes_nan_like_cpu(emu, rng, plan):
    """A NaN input stays NaN through the ReLU cell (as torch's RNN(nonlinearity="relu")),
    never a silent 0, on the CPU and in the kernels alike."""
    p = make(rng, "rnn_relu", 3, 6, 4, 8)
    p["x"][1, 2, 0] = np.nan
    lengths = np.array([6, 5, 4])
    y, h_n, _, _ = cpu_forward("rnn_relu", p, lengths)
    assert np.isnan(y[1, 2:5]).all() and np.isnan(h_n[1]).all()
    assert not np.isnan(np.delete(y, 1, 0)).any() and not np.isnan(y[1, :2]).any()
    dy, dh_n = rng.standard_normal(y.shape), rng.standard_normal(h_n.shape)
    fwd, _ = emulate(emu, "rnn_relu", p, lengths, plan, 1, dy, dh_n, None)
    np.testing.assert_allclose(fwd["y"], y, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(fwd["h_n"], h_n, rtol=1e-12, equal_nan=True)


def test_float32(emu, rng):
    compare(emu, rng, "lstm", 5, 6, 4, 20, (8, 4, 2, GRID, 1), dtype=np.float32)
    compare(emu, rng, "gru", 5, 6, 4, 20, (32, 2, 1, RESIDENT, 2), dtype=np.float32)


@pytest.mark.parametrize("ta,tb", [(0, 0), (0, 1), (1, 0), (1, 1)])
@pytest.mark.parametrize("split", [1, 3])
def test_builtin_gemm(emu, rng, ta, tb, split):
    M, N, K = 70, 37, 45
    # lda / ldb past the row lengths: row-strided operands (the recurrent GEMM mode's steps)
    aw = rng.standard_normal((K, M + 5) if ta else (M, K + 5))
    bw = rng.standard_normal((N, K + 2) if tb else (K, N + 2))
    a, b = aw[:, : aw.shape[1] - 5], bw[:, : bw.shape[1] - 2]
    c = np.full((M, N), np.nan)
    rc = emu.emu_gemm(
        1, ta, tb, M, N, K, _ptr(aw), aw.shape[1], _ptr(bw), bw.shape[1], _ptr(c), N, split, 7
    )
    _check(emu, rc)
    want = (a.T if ta else a) @ (b.T if tb else b)
    assert rel_error(c, want) < 1e-12


@pytest.mark.parametrize("chunks", [1, 4])
def test_column_sum(emu, rng, chunks):
    a = rng.standard_normal((300, 70))
    out = np.full(70, np.nan)
    _check(emu, emu.emu_colsum(1, _ptr(a), 300, 70, 70, _ptr(out), chunks, 3))
    assert rel_error(out, a.sum(0)) < 1e-12


def plan_of(
    h, backward, G, elem, B, H, sms=132, optin=227 << 10, coop=1, regs=(64, 80, 128, 170, 128)
):
    out = (ctypes.c_int * 9)()
    smem = ctypes.c_int64()
    r = (ctypes.c_int * 5)(*regs)
    _check(h, h.emu_plan(backward, G, elem, B, H, sms, optin, coop, r, out, ctypes.byref(smem)))
    names = ["nj", "ks", "rb", "nbg", "ld", "mode", "gx", "gy", "reg"]
    return dict(zip(names, out), smem=smem.value)


@pytest.mark.parametrize("backward", [0, 1])
@pytest.mark.parametrize("G", [1, 3, 4])
def test_planner_fits_the_device(emu, monkeypatch, backward, G):
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_MODE", "persistent")  # every size gets a tile
    for B in (1, 64, 256, 1024, 5000):
        for H in (1, 17, 64, 128, 256, 1024):
            for elem in (4, 8):
                q = plan_of(emu, backward, G, elem, B, H)
                K = G * H if backward else H
                nb = q["nbg"] * q["rb"]
                assert q["nj"] * q["ks"] * q["nbg"] == 256
                if q["reg"]:  # ks odd-strided segments, room for KR reads (rec_ld)
                    seg = -(-K // q["ks"])
                    assert q["ld"] == (q["ks"] - 1) * (seg | 1) + 256 // (G * elem)
                else:
                    assert q["ld"] >= K and q["ld"] % 32 == q["ks"] % 32
                w_rows = 0 if q["reg"] else (1 if backward else G) * q["nj"]
                h_rows = nb * (2 if q["mode"] == RESIDENT else 1)  # resident: two buffers
                assert q["smem"] == (w_rows + h_rows) * q["ld"] * elem
                if q["reg"]:  # the register-resident forward: its k-slice fits kWRegs words
                    assert not backward and q["mode"] == RESIDENT and q["rb"] == 1
                    assert -(-H // q["ks"]) * G * elem <= 64 * 4
                assert q["smem"] <= 227 << 10
                assert q["gx"] == -(-H // q["nj"])
                ntiles = -(-B // nb)
                assert 1 <= q["gy"] <= ntiles
                if q["mode"] == RESIDENT:
                    assert q["gx"] == 1 and q["gy"] == ntiles
    no_coop = plan_of(emu, 0, 4, 4, 64, 256, coop=0)
    assert no_coop["mode"] == STEP


def prepare_full(f, cell, p, lengths, dy, dh_n, dc_n, sms=2, refuse=0, seed=1):
    """Fill the EmuFull ``f`` for one recurrence; returns its output and gradient arrays (NaN
    until written) and the arrays ``f`` points into (keep them alive)."""
    x = p["x"]
    B, T, I = x.shape
    GH, H = p["w_hh"].shape
    dt = x.dtype

    def nans(*shape):
        return np.full(shape, np.nan, dt)

    o = {"y": nans(B, T, H), "h_n": nans(B, H), "gates": nans(B, T, GH), "hprev": nans(B, T, H)}
    o["c_n"] = nans(B, H) if cell == "lstm" else None
    o["aux"] = nans(B, T, H) if cell in ("lstm", "gru") else None
    g = {"dx": nans(B, T, I), "dw_ih": nans(GH, I), "dw_hh": nans(GH, H), "db_ih": nans(GH)}
    g.update(db_hh=nans(GH), dh0=nans(B, H), dc0=nans(B, H) if cell == "lstm" else None)
    lens = None if lengths is None else np.ascontiguousarray(lengths, dtype=np.int64)
    for k, v in [
        ("cell", CELL_IDS[cell]),
        ("is_double", int(dt == np.float64)),
        ("B", B),
        ("T", T),
        ("I", I),
        ("H", H),
        ("len", _ptr(lens)),
    ]:
        setattr(f, k, v)
    for k, v in [*p.items(), *o.items(), *g.items(), ("dy", dy), ("dh_n", dh_n), ("dc_n", dc_n)]:
        setattr(f, k, _ptr(v))
    f.sms, f.refuse_cooperative_launch, f.seed = sms, refuse, seed
    return o, g, (lens, p, dy, dh_n, dc_n)


def full(h, cell, p, lengths, dy, dh_n, dc_n, sms=2, refuse=0, seed=1):
    """Forward + backward through chronoscale::cuda::recurrent_{forward,backward} (host code)."""
    f = EmuFull()
    o, g, _keep = prepare_full(f, cell, p, lengths, dy, dh_n, dc_n, sms, refuse, seed)
    assert h.emu_full(ctypes.byref(f)) == 0, h.emu_glue_error().decode()
    return o, g, f.launches, f.cooperative_launches


def reference(rng, cell, p, lengths):
    """CPU forward and backward of ``p`` with random output gradients: ``(want, (dy, dh_n,
    dc_n))`` with ``want`` the outputs, cache and input gradients to compare."""
    y, h_n, c_n, cache = cpu_forward(cell, p, lengths)
    dy, dh_n = rng.standard_normal(y.shape), rng.standard_normal(h_n.shape)
    dc_n = rng.standard_normal(h_n.shape) if cell == "lstm" else None
    names = ["dx", "dw_ih", "dw_hh", "db_ih", "db_hh", "dh0", "dc0"]
    ref = dict(zip(names, cpu_backward(cell, dy, dh_n, dc_n, cache)))
    return (y, h_n, c_n, cache, ref), (dy, dh_n, dc_n)


def compare_full(cell, o, g, want, lengths, T):
    """Every output, cache entry (at valid steps) and gradient of the emulated run against the
    CPU's (float64: rel. error < 1e-12), all written (no NaN left)."""
    y, h_n, c_n, cache, ref = want
    valid = (np.arange(T)[None, :] < lengths[:, None])[..., None]
    pairs = [("y", o["y"], y), ("h_n", o["h_n"], h_n), ("hprev", o["hprev"], cache.hprev)]
    pairs.append(("gates", np.where(valid, o["gates"], 0), np.where(valid, cache.gates, 0)))
    if cell == "lstm":
        pairs.append(("c_n", o["c_n"], c_n))
    if cache.aux is not None:
        pairs.append(("aux", np.where(valid, o["aux"], 0), np.where(valid, cache.aux, 0)))
    pairs += [(k, g[k], v) for k, v in ref.items() if v is not None]
    for name, got, exp in pairs:
        assert np.all(np.isfinite(got)), f"{name}: unwritten (NaN) entries"
        assert rel_error(got, exp) < 1e-12, f"{name}: {rel_error(got, exp):.1e}"


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(
    "mode,plan,refuse",
    [
        ("", "", 0),
        ("grid", "", 0),
        ("step", "", 0),
        ("grid", "", 1),
        ("", "8,4,2,1", 0),
        ("gemm", "", 0),
        ("persistent", "", 0),
    ],
)
def test_host_code_matches_cpu(emu, rng, monkeypatch, cell, mode, plan, refuse):
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_MODE", mode)
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_PLAN", plan)
    B, T, I, H = 6, 5, 3, 11
    p = make(rng, cell, B, T, I, H, np.float64)
    lengths = np.array([5, 1, 0, 3, 5, 2])
    want, grads_out = reference(rng, cell, p, lengths)
    o, g, launches, coop = full(emu, cell, p, lengths, *grads_out, refuse=refuse)
    compare_full(cell, o, g, want, lengths, T)
    steps = int(lengths.max())
    if mode == "step" or refuse:
        # per-step launches: forward steps, backward steps plus the dh0 phase
        assert coop == 0 and launches == steps + steps + 1
    elif mode == "grid":
        assert coop == 2 and launches == 2
    elif mode == "gemm":
        # one elementwise kernel per step each way, the backward's init and dh0 phase
        assert coop == 0 and launches == steps + 1 + steps + 1
    else:
        assert launches == 2


def gemm_mode_full(h, rng, cell, B, T, H, lengths, **make_args):
    """Forward + backward of the host code in the GEMM mode, compared with the CPU; returns the
    EmuFull (launch counts)."""
    p = make(rng, cell, B, T, 3, H, np.float64, **make_args)
    want, grads_out = reference(rng, cell, p, lengths)
    f = EmuFull()
    o, g, _keep = prepare_full(f, cell, p, lengths, *grads_out)
    assert h.emu_full(ctypes.byref(f)) == 0, h.emu_glue_error().decode()
    compare_full(cell, o, g, want, np.full(B, T) if lengths is None else lengths, T)
    return f


@pytest.mark.parametrize("cell", CELLS)
def test_gemm_mode_matches_cpu(emu, rng, monkeypatch, cell):
    """CHRONOSCALE_CUDA_RNN_MODE=gemm (one GEMM and one elementwise kernel per step): random
    lengths with steps no row reaches (the forward's tail kernel), without h0 / c0 (no GEMM at
    the first step) and without biases, full rows, all rows empty; every output, cache entry
    and gradient equals the CPU's, and only the GEMM mode's kernels run."""
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_MODE", "gemm")
    monkeypatch.delenv("CHRONOSCALE_CUDA_RNN_PLAN", raising=False)
    T = 7
    for B, H, lengths, kw in [
        (5, 9, np.array([4, 0, 2, 4, 1]), {}),
        (4, 6, rng.integers(0, T + 1, 4), {"init": False}),
        (3, 5, None, {"bias": False, "init": False}),
        (2, 4, np.array([0, 0]), {}),
    ]:
        f = gemm_mode_full(emu, rng, cell, B, T, H, lengths, **kw)
        steps = T if lengths is None else max(int(np.max(lengths)), 1)
        forward = steps + (1 if steps < T else 0)  # the tail kernel pads steps >= t_loop
        assert f.launches == f.gemm_launches == forward + 1 + steps + 1
        assert f.cooperative_launches == 0


def test_planner_chooses_gemm_mode(emu, monkeypatch, fake_cublas):
    """Unset, the GEMM mode is planned when one step's product B * G * H * H reaches 2^26
    multiply-adds (forward and backward alike) and cuBLAS serves the GEMMs, or when no
    persistent tile fits in shared memory; never with MODE=persistent or a forced tile, always
    with MODE=gemm; an unknown mode is a clear error."""
    monkeypatch.delenv("CHRONOSCALE_CUDA_RNN_MODE", raising=False)
    monkeypatch.delenv("CHRONOSCALE_CUDA_RNN_PLAN", raising=False)
    monkeypatch.delenv("CHRONOSCALE_CUDA_GEMM", raising=False)
    for backward in (0, 1):
        for G, B, H in [(4, 1024, 128), (4, 256, 256), (3, 1024, 256), (1, 1024, 256)]:
            big = B * G * H * H >= 1 << 26
            assert (plan_of(emu, backward, G, 4, B, H)["mode"] == GEMM) == big, (G, B, H)
        assert plan_of(emu, backward, 4, 4, 4096, 128)["mode"] == GEMM
        assert plan_of(emu, backward, 4, 8, 1023, 128)["mode"] != GEMM
    # The built-in GEMM kernel is far from cuBLAS: large problems keep the persistent kernels.
    monkeypatch.setenv("CHRONOSCALE_CUDA_GEMM", "builtin")
    assert plan_of(emu, 1, 4, 4, 1024, 256)["mode"] != GEMM
    # No persistent tile fits (the float64 LSTM backward's W_hh^T slice at H = 1536): the GEMM
    # mode at any batch size, unless a persistent tile is required.
    assert plan_of(emu, 1, 4, 8, 1, 1536)["mode"] == GEMM
    monkeypatch.delenv("CHRONOSCALE_CUDA_GEMM")
    assert plan_of(emu, 1, 4, 8, 1, 1536)["mode"] == GEMM
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_MODE", "persistent")
    out, smem, r = (ctypes.c_int * 9)(), ctypes.c_int64(), (ctypes.c_int * 5)(64, 80, 128, 170, 128)
    assert emu.emu_plan(1, 4, 8, 1, 1536, 132, 227 << 10, 1, r, out, ctypes.byref(smem)) == 1
    assert "needs more shared memory" in emu.emu_last_error().decode()
    assert plan_of(emu, 0, 4, 4, 1024, 256)["mode"] in (RESIDENT, GRID, STEP)
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_MODE", "gemm")
    assert plan_of(emu, 0, 4, 4, 1, 16)["mode"] == GEMM
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_PLAN", "8,4,2")
    assert plan_of(emu, 1, 4, 4, 1024, 256)["mode"] != GEMM
    monkeypatch.delenv("CHRONOSCALE_CUDA_RNN_PLAN")
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_MODE", "cudnn")
    out, smem, r = (ctypes.c_int * 9)(), ctypes.c_int64(), (ctypes.c_int * 5)(64, 80, 128, 170, 128)
    assert emu.emu_plan(0, 4, 4, 1, 64, 132, 227 << 10, 1, r, out, ctypes.byref(smem)) == 1
    assert "'gemm', 'persistent'" in emu.emu_last_error().decode()


def run_many(h, rng, cell, B, scales, random_lengths):
    """Recurrences of `B` rows with the (T, H) of `scales` (I = 3, float64; lengths random with
    a full and an empty row, or all full) through emu_full_many; every output, cache entry and
    gradient is compared with the CPU's. Returns the EmuFull array (launch counts: forward in
    [0], backward in [1])."""
    fs = (EmuFull * len(scales))()
    runs = []
    for f, (T, H) in zip(fs, scales):
        p = make(rng, cell, B, T, 3, H, np.float64)
        lengths = rng.integers(0, T + 1, B) if random_lengths else np.full(B, T)
        lengths[:2] = [T, 0][:B]
        want, grads_out = reference(rng, cell, p, lengths)
        o, g, keep = prepare_full(f, cell, p, lengths, *grads_out)
        runs.append((o, g, want, lengths, T, keep))
    assert h.emu_full_many(fs, len(scales)) == 0, h.emu_glue_error().decode()
    for o, g, want, lengths, T, _ in runs:
        compare_full(cell, o, g, want, lengths, T)
    return fs


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("fuse,B", [("", 7), ("0", 7), ("", 3000), ("", 1)])
def test_fused_scales_match_cpu(emu, rng, monkeypatch, cell, fuse, B):
    """recurrent_forward_many / recurrent_backward_many, the multi-scale driver's path: three
    recurrences with different steps, hidden sizes and lengths (some 0) share ONE launch of the
    fused kernel each way (their plans are resident), or run one launch each with
    CHRONOSCALE_CUDA_RNN_FUSE=0, or when their blocks do not all fit on the device at once
    (B=3000 on the few emulated multiprocessors: the short scales' blocks would queue behind
    the long one's);
    every output, cache entry and gradient equals the CPU's."""
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_FUSE", fuse)
    monkeypatch.delenv("CHRONOSCALE_CUDA_RNN_MODE", raising=False)
    monkeypatch.delenv("CHRONOSCALE_CUDA_RNN_PLAN", raising=False)
    fs = run_many(emu, rng, cell, B, [(9, 11), (3, 5), (1, 16)], random_lengths=True)
    assert fs[0].cooperative_launches == fs[1].cooperative_launches == 0
    fused = fuse != "0" and B < 3000
    assert fs[0].launches == (1 if fused else 3), "the forward launches"
    if B == 1:  # small H, one row: the fused forward keeps W_hh in registers
        assert fs[0].reg_launches == 1
    assert fs[1].launches == (1 if fused else 3), "the backward launches"


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fused_scales_in_gemm_mode(emu, rng, monkeypatch, cell):
    """The multi-scale path in the GEMM mode: no fused launch (each recurrence runs its own
    steps), every result equal to the CPU's."""
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_MODE", "gemm")
    monkeypatch.delenv("CHRONOSCALE_CUDA_RNN_PLAN", raising=False)
    fs = run_many(emu, rng, cell, 5, [(6, 7), (3, 5)], random_lengths=True)
    assert fs[0].launches == fs[0].gemm_launches >= 2
    assert fs[1].launches == fs[1].gemm_launches >= 4


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fused_scales_disagreeing_on_registers(emu, rng, monkeypatch, cell):
    """Two scales at B = 1 whose own plans differ in W_hh placement (H = 11 fits the float64
    register slice, H = 48 does not): the fused launch re-plans both with W_hh in shared memory
    (one launch, no register kernel) and equals the CPU."""
    for k in ("FUSE", "MODE", "PLAN"):
        monkeypatch.delenv(f"CHRONOSCALE_CUDA_RNN_{k}", raising=False)
    fs = run_many(emu, rng, cell, 1, [(6, 11), (3, 48)], random_lengths=False)
    assert fs[0].launches == 1 and fs[0].reg_launches == 0


@pytest.fixture(scope="module")
def fake_cublas(emu, tmp_path_factory):
    """tests/cuda_emu/fake_cublas.c built and loaded as the emulator's cuBLAS; its path."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    fake = tmp_path_factory.mktemp("cublas") / "libfakecublas.so"
    subprocess.run(
        [cc, "-shared", "-fPIC", "-O1", str(EMU / "fake_cublas.c"), "-o", str(fake)], check=True
    )
    assert emu.emu_cublas_load(str(fake).encode()) == 0, emu.emu_glue_error().decode()
    return fake


def test_cublas_binding_maps_row_major_products(emu, rng, fake_cublas):
    fake = fake_cublas
    assert emu.emu_cublas_load(str(fake).encode()) == 0, emu.emu_glue_error().decode()
    buf = ctypes.create_string_buffer(512)
    emu.emu_gemm_backend(buf, 512)
    assert buf.value.decode() == f"cublas:{fake}"
    M, N, K = 7, 5, 3
    for dtype in (np.float32, np.float64):
        for ta in (0, 1):
            for tb in (0, 1):
                # lda, ldb, ldc past the row lengths (row-strided operands, as the recurrent
                # GEMM mode's per-step products over [B, T, H] arrays)
                aw = rng.standard_normal((K, M + 3) if ta else (M, K + 3)).astype(dtype)
                bw = rng.standard_normal((N, K + 1) if tb else (K, N + 1)).astype(dtype)
                a, b = aw[:, : aw.shape[1] - 3], bw[:, : bw.shape[1] - 1]
                c = np.full((M, N + 2), np.nan, dtype)  # ldc > N
                served = emu.emu_cublas_gemm(
                    int(dtype == np.float64),
                    ta,
                    tb,
                    M,
                    N,
                    K,
                    _ptr(aw),
                    aw.shape[1],
                    _ptr(bw),
                    bw.shape[1],
                    _ptr(c),
                    N + 2,
                )
                assert served == 1, emu.emu_glue_error().decode()
                want = (a.T if ta else a) @ (b.T if tb else b)
                assert rel_error(c[:, :N], want) < 1e-6
                assert np.isnan(c[:, N:]).all()  # columns past N untouched
    # Threads that end hand their handle on: four threads one after another create one handle.
    fake_lib = ctypes.CDLL(str(fake))
    a, b = rng.standard_normal((M, K)), rng.standard_normal((K, N))
    c = np.empty((M, N))
    args = (1, 0, 0, M, N, K, _ptr(a), K, _ptr(b), N, _ptr(c), N)
    before = fake_lib.fake_cublas_creates()
    for _ in range(4):
        t = threading.Thread(target=emu.emu_cublas_gemm, args=args)
        t.start()
        t.join()
    assert fake_lib.fake_cublas_creates() - before == 1
    assert rel_error(c, a @ b) < 1e-12
    assert emu.emu_cublas_load(b"/nonexistent/libcublas.so") == 1
