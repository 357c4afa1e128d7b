"""CUDA recurrent cells against the CPU kernels (which test_recurrent.py checks against a float64
reference and finite differences): random shapes and lengths, every launch mode, both GEMM
backends, streams, torch CUDA tensors. Skipped without a CUDA build, a device and CuPy."""

from __future__ import annotations

import numpy as np
import pytest
from test_recurrent import make

from chronoscale import _core, ops

from helpers import random_lengths, recurrent_backward, recurrent_forward, rel_error

pytestmark = pytest.mark.gpu

CELLS = ["lstm", "gru", "rnn_tanh", "rnn_sigmoid", "rnn_relu"]
TOL = {np.float32: 1e-4, np.float64: 1e-10}
POISON = {np.float32: np.float32(np.nan), np.float64: np.nan}


def to_gpu(p):
    import cupy as cp

    return {k: (None if v is None else cp.asarray(v)) for k, v in p.items()}


forward = recurrent_forward


backward = recurrent_backward


def poison_pool(p, dtype):
    """Fill CuPy's pool with NaN blocks of the sizes the op allocates, so that an output element
    the kernels never write stays NaN (CuPy hands freed blocks back for the same sizes)."""
    import cupy as cp

    B, T, _ = p["x"].shape
    GH, H = p["w_hh"].shape
    sizes = [(B, T, GH), (B, T, H), (B, T, H), (B, T, H), (B, H), (B, H)]
    blocks = [cp.full(s, POISON[dtype], dtype=dtype) for s in sizes for _ in range(2)]
    del blocks


def check_pair(gpu, cpu, tol, what):
    import cupy as cp

    if cpu is None:
        assert gpu is None, what
        return
    g = cp.asnumpy(gpu)
    assert g.dtype == cpu.dtype, what
    assert np.all(np.isfinite(g)), f"{what}: non-finite (unwritten?) entries"
    assert rel_error(g, cpu) < tol, f"{what}: rel. error {rel_error(g, cpu):.2e}"


def run_and_compare(rng, cell, B, T, I, H, dtype=np.float32, lengths=None, **make_kw):
    import cupy as cp

    p = make(rng, cell, B, T, I, H, dtype, **make_kw)
    if lengths is None:
        lengths = random_lengths(rng, B, T)
    tol = TOL[dtype]
    y_c, h_c, c_c, cache_c = forward(cell, p, lengths)
    pg = to_gpu(p)
    poison_pool(p, dtype)
    y_g, h_g, c_g, cache_g = forward(cell, pg, lengths)
    cp.cuda.get_current_stream().synchronize()
    assert isinstance(y_g, cp.ndarray)
    valid = (np.arange(T)[None, :] < np.asarray(lengths)[:, None])[..., None]
    check_pair(y_g, y_c, tol, "y")
    check_pair(h_g, h_c, tol, "h_n")
    check_pair(c_g, c_c, tol, "c_n")
    check_pair(cache_g.hprev, cache_c.hprev, tol, "cache.hprev")
    # Past a length the CPU leaves the cache unspecified; the GPU writes zeros there.
    valid_g = cp.asarray(valid)
    gates_c = np.where(valid, cache_c.gates, 0)  # the CPU leaves these entries unspecified
    check_pair(cp.where(valid_g, cache_g.gates, 0), gates_c, tol, "cache.gates")
    assert not cp.asnumpy(cache_g.gates)[~np.broadcast_to(valid, cache_c.gates.shape)].any()
    if cache_c.aux is not None:
        aux_c = np.where(valid, cache_c.aux, 0)
        check_pair(cp.where(valid_g, cache_g.aux, 0), aux_c, tol, "cache.aux")

    if cell == "rnn_relu":  # a pre-activation within rounding of 0 may take the other branch
        act_g = cp.asnumpy(cache_g.gates)
        flips = valid & ((act_g > 0) != (cache_c.gates > 0))
        if flips.any():  # harmless in the forward; the gradients then differ by design
            assert np.abs(np.where(flips, act_g - cache_c.gates, 0)).max() < 1e-5
            return None

    dy = rng.standard_normal(y_c.shape).astype(dtype)
    dh = rng.standard_normal(h_c.shape).astype(dtype)
    dc = rng.standard_normal(h_c.shape).astype(dtype) if cell == "lstm" else None
    grads_c = backward(cell, dy, dh, dc, cache_c)
    poison_pool(p, dtype)
    grads_g = backward(
        cell, cp.asarray(dy), cp.asarray(dh), None if dc is None else cp.asarray(dc), cache_g
    )
    names = ["dx", "dw_ih", "dw_hh", "db_ih", "db_hh", "dh0", "dc0"]
    for name, g, c in zip(names, grads_g, grads_c):
        check_pair(g, c, tol, name)
    return grads_g


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("H", [1, 17, 64, 256])
def test_matches_cpu_float32(rng, cell, H):
    B, T, I = int(rng.integers(1, 9)), int(rng.integers(1, 30)), int(rng.integers(1, 40))
    run_and_compare(rng, cell, B, T, I, H, bias=bool(rng.integers(2)), init=bool(rng.integers(2)))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_matches_cpu_float64(rng, cell):
    run_and_compare(rng, cell, 5, 13, 7, 33, dtype=np.float64)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_relu"])
@pytest.mark.parametrize(
    "mode,plan",
    [
        ("", ""),  # the planner's choice
        ("grid", ""),  # cooperative grid (never the resident mode)
        ("step", ""),  # one launch per step
        ("grid", "8,32,1,1"),  # one row per tile, gridDim.y = 1: every block loops over 12 tiles
        ("grid", "2,4,2"),  # 2 units per block, 4 lanes per dot
        ("", "64,2,2"),  # resident (H <= 64): 3 blocks of 4 rows, no inter-block barrier
        ("step", "1,32,8"),  # one unit per block, a whole warp per dot
        ("gemm", ""),  # one cuBLAS GEMM + one elementwise kernel per step (large batches)
    ],
)
@pytest.mark.parametrize("state", ["", "0"])
def test_every_launch_mode(rng, monkeypatch, cell, mode, plan, state):
    """Every launch mode and tile shape against the CPU, the backward's running dh / dc in
    registers where a block owns one tile (default) and in global memory
    (CHRONOSCALE_CUDA_RNN_STATE_REGS=0)."""
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_MODE", mode)
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_PLAN", plan)
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_STATE_REGS", state)
    lengths = np.array([11, 1, 0, 7, 11, 3, 11, 5, 9, 2, 1, 11])
    run_and_compare(rng, cell, 12, 11, 5, 40, lengths=lengths)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("reg", ["", "0"])
def test_register_resident_forward(rng, monkeypatch, cell, reg):
    """B = 1 and B = 3 with H <= 64: the planner keeps the forward's W_hh in registers (the
    latency case) unless CHRONOSCALE_CUDA_RNN_REG=0; both equal the CPU, gradients included."""
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_REG", reg)
    monkeypatch.delenv("CHRONOSCALE_CUDA_RNN_MODE", raising=False)
    monkeypatch.delenv("CHRONOSCALE_CUDA_RNN_PLAN", raising=False)
    run_and_compare(rng, cell, 1, 23, 9, 64)
    run_and_compare(rng, cell, 3, 17, 5, 29, lengths=np.array([17, 0, 6]))


def test_bad_plan_override_raises(rng, monkeypatch):
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_PLAN", "3,1,1")
    p = to_gpu(make(rng, "gru", 2, 3, 4, 5, np.float32))
    with pytest.raises(ValueError, match="CHRONOSCALE_CUDA_RNN_PLAN"):
        forward("gru", p, None)


def test_large_batch_many_tiles(rng):
    run_and_compare(rng, "lstm", 300, 9, 16, 64)
    run_and_compare(rng, "gru", 70, 6, 8, 256)


@pytest.mark.parametrize("cell,H", [("lstm", 128), ("gru", 160)])
def test_large_batch_gemm_mode_planned(rng, monkeypatch, cell, H):
    """B * G * H * H >= 2^26 (with cuBLAS): the planner's own choice is the GEMM mode; with
    random lengths (some past the longest, some empty) it equals the CPU, gradients included,
    and so does the persistent plan of the same size."""
    monkeypatch.delenv("CHRONOSCALE_CUDA_RNN_PLAN", raising=False)
    B, T = 1024, 6
    lengths = rng.integers(0, T, B)  # every row shorter than T: the forward's tail kernel
    for mode in ("", "persistent"):
        monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_MODE", mode)
        run_and_compare(rng, cell, B, T, 8, H, lengths=lengths)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_gemm_mode_float64_without_bias_or_initial_state(rng, monkeypatch, cell):
    """CHRONOSCALE_CUDA_RNN_MODE=gemm in float64 (cublasDgemm), no biases, no h0 / c0 (no
    GEMM at the first step), random lengths."""
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_MODE", "gemm")
    monkeypatch.delenv("CHRONOSCALE_CUDA_RNN_PLAN", raising=False)
    run_and_compare(rng, cell, 7, 9, 5, 21, dtype=np.float64, bias=False, init=False)


def test_bad_mode_raises(rng, monkeypatch):
    monkeypatch.setenv("CHRONOSCALE_CUDA_RNN_MODE", "cudnn")
    p = to_gpu(make(rng, "lstm", 2, 3, 4, 5, np.float32))
    with pytest.raises(ValueError, match="CHRONOSCALE_CUDA_RNN_MODE"):
        forward("lstm", p, None)


def test_builtin_gemm_matches_cublas(rng, monkeypatch):
    monkeypatch.setenv("CHRONOSCALE_CUDA_GEMM", "builtin")
    assert _core.cuda_gemm_backend().startswith("builtin")
    run_and_compare(rng, "lstm", 37, 23, 70, 45)  # ragged sizes: partial GEMM tiles, split K


def test_all_lengths_zero_keeps_initial_state(rng):
    import cupy as cp

    p = to_gpu(make(rng, "lstm", 3, 4, 2, 5, np.float32))
    y, h, c, cache = forward("lstm", p, [0, 0, 0])
    assert not cp.asnumpy(y).any()
    np.testing.assert_array_equal(cp.asnumpy(h), cp.asnumpy(p["h0"]))
    np.testing.assert_array_equal(cp.asnumpy(c), cp.asnumpy(p["c0"]))
    dh = cp.asarray(rng.standard_normal((3, 5)).astype(np.float32))
    *_, dh0, dc0 = ops.lstm_backward(None, dh, None, cache)
    np.testing.assert_array_equal(cp.asnumpy(dh0), cp.asnumpy(dh))
    assert not cp.asnumpy(dc0).any()


def test_cupy_lengths_are_copied_to_the_host(rng):
    import cupy as cp

    p = make(rng, "lstm", 4, 6, 3, 8, np.float32)
    lengths = random_lengths(rng, 4, 6)
    y_c = forward("lstm", p, lengths)[0]
    y_g = forward("lstm", to_gpu(p), cp.asarray(lengths.astype(np.int32)))[0]
    assert rel_error(cp.asnumpy(y_g), y_c) < 1e-4


def test_backward_is_deterministic(rng):
    import cupy as cp

    p = to_gpu(make(rng, "gru", 16, 20, 12, 48, np.float32))
    lengths = random_lengths(rng, 16, 20)
    _, _, _, cache = forward("gru", p, lengths)
    dy = cp.asarray(rng.standard_normal((16, 20, 48)).astype(np.float32))
    a = [cp.asnumpy(g) for g in ops.gru_backward(dy, None, cache)]
    b = [cp.asnumpy(g) for g in ops.gru_backward(dy, None, cache)]
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_non_default_stream(rng):
    import cupy as cp

    p = make(rng, "lstm", 6, 17, 9, 64, np.float32)
    lengths = random_lengths(rng, 6, 17)
    ref_y, ref_h, _, ref_cache = forward("lstm", p, lengths)
    dy = rng.standard_normal(ref_y.shape).astype(np.float32)
    ref_g = backward("lstm", dy, None, None, ref_cache)
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        pg = to_gpu(p)
        y, h, _, cache = forward("lstm", pg, lengths)
        grads = backward("lstm", cp.asarray(dy), None, None, cache)
        done = stream.record()
    done.synchronize()
    assert rel_error(cp.asnumpy(y), ref_y) < 1e-4 and rel_error(cp.asnumpy(h), ref_h) < 1e-4
    for g, c in zip(grads, ref_g):
        if c is not None:
            assert rel_error(cp.asnumpy(g), c) < 1e-4


@pytest.mark.parametrize("H", [64, 128, 256])
def test_latency_smoke_b1_t50(rng, H):
    """B = 1, T = 50 LSTM forward: correct, and its GPU time printed (pytest -s)."""
    import cupy as cp

    p = make(rng, "lstm", 1, 50, 64, H, np.float32)
    y_c = forward("lstm", p, None)[0]
    pg = to_gpu(p)
    for _ in range(3):
        forward("lstm", pg, None)
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    times = []
    for _ in range(20):
        start.record()
        y_g = forward("lstm", pg, None)[0]
        stop.record()
        stop.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, stop) * 1e3)
    print(f"\nB=1 T=50 LSTM H={H} forward: median {np.median(times):.1f} us (GPU events)")
    assert rel_error(cp.asnumpy(y_g), y_c) < 1e-4


def test_torch_cuda_tensors_as_input(rng):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    import cupy as cp

    p = make(rng, "gru", 4, 9, 6, 32, np.float32)
    lengths = random_lengths(rng, 4, 9)
    y_c, h_c, _, _ = forward("gru", p, lengths)
    pt = {k: (None if v is None else torch.as_tensor(v, device="cuda")) for k, v in p.items()}
    torch.cuda.synchronize()
    y_g, h_g, _, cache = forward("gru", pt, torch.as_tensor(lengths, device="cuda"))
    assert isinstance(y_g, cp.ndarray)
    assert rel_error(cp.asnumpy(y_g), y_c) < 1e-4 and rel_error(cp.asnumpy(h_g), h_c) < 1e-4
    dx = ops.gru_backward(torch.ones(4, 9, 32, device="cuda"), None, cache)[0]
    assert dx.shape == (4, 9, 6) and np.all(np.isfinite(cp.asnumpy(dx)))


def test_gpu_bad_input_raises(rng):
    import cupy as cp

    p = to_gpu(make(rng, "lstm", 2, 4, 3, 5, np.float32))
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        ops.lstm_forward(p["x"].transpose(1, 0, 2), p["w_ih"], p["w_hh"])
    with pytest.raises(ValueError, match="w_hh must be on the device of x"):
        ops.lstm_forward(p["x"], p["w_ih"], cp.asnumpy(p["w_hh"]))
    with pytest.raises(TypeError, match="w_ih must have the dtype of x"):
        ops.lstm_forward(p["x"], p["w_ih"].astype(cp.float64), p["w_hh"])
    with pytest.raises(ValueError, match="outside"):
        ops.lstm_forward(p["x"], p["w_ih"], p["w_hh"], lengths=[5, 1])
    _, _, _, cache = ops.lstm_forward(p["x"], p["w_ih"], p["w_hh"])
    with pytest.raises(ValueError, match="dy must be on the device of x"):
        ops.lstm_backward(np.zeros((2, 4, 5), np.float32), None, None, cache)


def test_rnn_relu_passes_nan_like_cpu(rng):
    """A NaN input stays NaN through the ReLU cell (never 0) from its step on, in every kernel
    path's output as on the CPU; other sequences are untouched."""
    import cupy as cp

    for H in (8, 64, 256):
        p = make(rng, "rnn_relu", 4, 12, 5, H, np.float32)
        p["x"][2, 3, 1] = np.nan
        lengths = np.array([12, 9, 10, 12])
        y_c, h_c, _, _ = forward("rnn_relu", p, lengths)
        y_g, h_g, _, _ = forward("rnn_relu", to_gpu(p), lengths)
        assert np.isnan(y_c[2, 3:10]).all() and not np.isnan(np.delete(y_c, 2, 0)).any()
        for name, g, c in (("y", y_g, y_c), ("h_n", h_g, h_c)):
            g = cp.asnumpy(g)
            np.testing.assert_array_equal(np.isnan(g), np.isnan(c), err_msg=f"{name}, H={H}")
            assert rel_error(np.nan_to_num(g), np.nan_to_num(c)) < TOL[np.float32], (name, H)

