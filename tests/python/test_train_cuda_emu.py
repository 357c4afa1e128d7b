"""The CUDA kernels of the training ops (conv1d, linear, dropout, optimisers, losses) run in the
CPU emulator (tests/cuda_emu/harness_train.cpp), host code included, and are compared with the
CPU kernels (which test_conv1d.py, test_linear.py, ... check against references and finite
differences). Each case runs under two emulator scheduling seeds: results must not change
(a missing barrier in a reduction would show). GEMMs are CPU loops in the harness; cuBLAS,
streams and real launches need a GPU (test_*_cuda.py).

Part of the suite (about 5 s to build the harness into build/cuda_emu/ the first time for
given sources, then a few seconds); CHRONOSCALE_TEST_EMU=0 skips it.
"""

from __future__ import annotations

import ctypes
import itertools

import numpy as np
import pytest
from cuda_emu_build import CUDA, EMU, load_harness

from chronoscale import _core, ops

from helpers import bf16_full_softmax_reference, random_lengths, rel_error

SOURCES = ["conv1d.cu", "dropout.cu", "full_softmax.cu", "linear.cu", "loss.cu",
           "loss_sampled.cu", "optim.cu"]
P = ctypes.c_void_p
I32, I64, U64, F64 = ctypes.c_int, ctypes.c_int64, ctypes.c_uint64, ctypes.c_double
DTYPES = [np.float32, np.float64]
TOL = {np.float32: 2e-5, np.float64: 1e-12}
ACTS = {"none": 0, "relu": 1, "sigmoid": 2, "tanh": 3}
KINDS = {"mse": 0, "mae": 1, "huber": 2, "bce_with_logits": 3}
SEEDS = (1, 2)


@pytest.fixture(scope="module")
def emu():
    h = load_harness("train", [EMU / "harness_train.cpp"], [CUDA / f for f in SOURCES])
    h.emu_train_error.restype = ctypes.c_char_p
    h.emu_train_seed.argtypes = [ctypes.c_uint32]
    h.emu_tf32_cores.argtypes = [I32]
    h.emu_dropout.argtypes = [I32, P, I64, F64, U64, P]
    h.emu_linear_forward.argtypes = [I32, I64, I64, I64, P, P, P, I32, P]
    h.emu_linear_backward.argtypes = [I32, I64, I64, I64, P, P, P, P, I32, P, P, P]
    h.emu_conv1d_forward.argtypes = [I32, I64, I64, I64, I64, I64, P, P, P, P, I32, P]
    h.emu_conv1d_backward.argtypes = [I32, *[I64] * 5, P, P, P, P, I32, P, P, P, P]
    adam = [I64, F64, F64, F64, F64, F64, I32]
    h.emu_adam.argtypes = [I32, P, P, P, P, I64, *adam]
    h.emu_adam_many.argtypes = [I32, I32, P, P, P, P, P, P, *adam[1:]]
    h.emu_adam_rows.argtypes = [I32, P, P, I64, I64, P, P, P, *adam]
    h.emu_sgd.argtypes = [I32, P, P, P, I64, F64, F64, F64, I32]
    h.emu_sgd_rows.argtypes = [I32, P, P, I64, I64, P, P, F64, F64, F64, I32]
    h.emu_clip.argtypes = [I32, P, P, P, F64, ctypes.POINTER(F64)]
    h.emu_point_loss.argtypes = [I32, I32, P, P, P, I64, F64, P, ctypes.POINTER(F64), I32]
    h.emu_softmax_xent.argtypes = [I32, P, P, I64, I64, I64, I64, P, ctypes.POINTER(F64)]
    h.emu_full_softmax.argtypes = [I32, P, P, P, *[I64] * 5, P, P, I64, I32,
                                   ctypes.POINTER(F64), I32]
    h.emu_sampled_softmax.argtypes = [
        I32,
        P,
        P,
        P,
        I64,
        I64,
        I64,
        I64,
        P,
        I32,
        I32,
        I64,
        P,
        F64,
        P,
        I64,
        P,
        P,
        P,
        P,
        ctypes.POINTER(F64),
    ]
    return h


def _p(a):
    return None if a is None else a.ctypes.data


def _dbl(dtype):
    return int(np.dtype(dtype) == np.float64)


def _run(h, seed, fn, *args):
    h.emu_train_seed(seed)
    rc = fn(*args)
    assert rc == 0, h.emu_train_error().decode()


def _nan(shape, dtype):
    return np.full(shape, np.nan, dtype=dtype)


def _close(got, want, tol, what):
    assert np.all(np.isfinite(got)), f"{what}: unwritten (NaN) entries"
    assert rel_error(got, want) < tol, f"{what}: rel. error {rel_error(got, want):.2e}"


# ---- dropout ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_same_mask_as_cpu(emu, rng, dtype):
    for n, p, seed in [(1000, 0.3, 7), (777, 0.0, 2**64 - 1), (1500, 0.9, 12345)]:
        x = rng.standard_normal(n).astype(dtype)
        want, _ = ops.dropout_forward(x, p, seed)
        got = _nan(n, dtype)
        _run(emu, 1, emu.emu_dropout, _dbl(dtype), _p(x), n, p, seed, _p(got))
        assert np.array_equal(got, want), "the CUDA mask differs from the CPU mask"
        mask = _nan(n, dtype)
        _run(emu, 2, emu.emu_dropout, _dbl(dtype), None, n, p, seed, _p(mask))
        assert np.array_equal(mask * x, want)
        inplace = x.copy()  # out = in: the in-place dropout of nn.Dropout(inplace=True)
        _run(emu, 3, emu.emu_dropout, _dbl(dtype), _p(inplace), n, p, seed, _p(inplace))
        assert np.array_equal(inplace, want)


# ---- linear -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", list(ACTS))
def test_linear(emu, rng, dtype, act):
    N, I, O = int(rng.integers(1, 40)), int(rng.integers(1, 20)), int(rng.integers(1, 20))
    x = rng.standard_normal((N, I)).astype(dtype)
    w = rng.standard_normal((O, I)).astype(dtype)
    for b in (rng.standard_normal(O).astype(dtype), None):
        y_c, cache = ops.linear_forward(x, w, b, act)
        dy = rng.standard_normal(y_c.shape).astype(dtype)
        dx_c, dw_c, db_c = ops.linear_backward(dy, cache)
        for seed in SEEDS:
            y = _nan((N, O), dtype)
            _run(
                emu,
                seed,
                emu.emu_linear_forward,
                _dbl(dtype),
                N,
                I,
                O,
                _p(x),
                _p(w),
                _p(b),
                ACTS[act],
                _p(y),
            )
            _close(y, y_c, TOL[dtype], "y")
            dx, dw, db = _nan((N, I), dtype), _nan((O, I), dtype), _nan(O, dtype)
            _run(
                emu,
                seed,
                emu.emu_linear_backward,
                _dbl(dtype),
                N,
                I,
                O,
                _p(dy),
                _p(x),
                _p(w),
                _p(y_c),
                ACTS[act],
                _p(dx),
                _p(dw),
                _p(db),
            )
            for name, got, want in (("dx", dx, dx_c), ("dw", dw, dw_c), ("db", db, db_c)):
                _close(got, want, TOL[dtype], name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_nan_matches_cpu(emu, rng, dtype):
    """NaN inputs through the fused ReLU of linear and conv1d: NaN out where the CPU gives NaN
    (never a silent 0), and the gradients' masks as on the CPU (dy passes a NaN output)."""
    tol = TOL[dtype]
    x = rng.standard_normal((7, 4)).astype(dtype)
    x[3, 2] = np.nan
    w, b = rng.standard_normal((5, 4)).astype(dtype), rng.standard_normal(5).astype(dtype)
    y_c, cache = ops.linear_forward(x, w, b, "relu")
    dy = rng.standard_normal(y_c.shape).astype(dtype)
    dx_c, _, db_c = ops.linear_backward(dy, cache)
    y, dx, dw, db = (np.full(a.shape, 7e7, dtype) for a in (y_c, x, w, b))
    _run(emu, 1, emu.emu_linear_forward, _dbl(dtype), 7, 4, 5, _p(x), _p(w), _p(b),
         ACTS["relu"], _p(y))
    np.testing.assert_allclose(y, y_c, rtol=tol, equal_nan=True)
    assert np.isnan(y[3]).all()
    _run(emu, 1, emu.emu_linear_backward, _dbl(dtype), 7, 4, 5, _p(dy), _p(x), _p(w), _p(y_c),
         ACTS["relu"], _p(dx), _p(dw), _p(db))
    _close(db, db_c, tol, "linear db")
    _close(dx, dx_c, tol, "linear dx")

    B, T, Cin, Cout, K = 3, 8, 2, 4, 3
    x = rng.standard_normal((B, T, Cin)).astype(dtype)
    x[1, 4, 1] = np.nan
    w = rng.standard_normal((Cout, Cin, K)).astype(dtype)
    b = rng.standard_normal(Cout).astype(dtype)
    lens = np.array([8, 8, 5])
    y_c, _, cache = ops.conv1d_forward(x, w, b, lens, True)
    dy = rng.standard_normal(y_c.shape).astype(dtype)
    dx_c, _, db_c = ops.conv1d_backward(dy, cache)
    y, dx, dw, db = (np.full(a.shape, 7e7, dtype) for a in (y_c, x, w, b))
    _run(emu, 1, emu.emu_conv1d_forward, _dbl(dtype), B, T, Cin, Cout, K, _p(x), _p(w), _p(b),
         _p(lens), 1, _p(y))
    np.testing.assert_allclose(y, y_c, rtol=tol, equal_nan=True)
    assert np.isnan(y).sum() == K * Cout
    _run(emu, 1, emu.emu_conv1d_backward, _dbl(dtype), B, T, Cin, Cout, K, _p(dy), _p(x), _p(w),
         _p(lens), 1, _p(y_c), _p(dx), _p(dw), _p(db))
    _close(db, db_c, tol, "conv1d db")
    _close(dx, dx_c, tol, "conv1d dx")


# ---- conv1d -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("K", [1, 3])
def test_conv1d(emu, rng, dtype, relu, K):
    B, T = int(rng.integers(2, 5)), int(rng.integers(K, 9))
    Cin, Cout = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    x = rng.standard_normal((B, T, Cin)).astype(dtype)
    w = rng.standard_normal((Cout, Cin, K)).astype(dtype)
    b = rng.standard_normal(Cout).astype(dtype)
    lengths = random_lengths(rng, B, T)
    lengths[-1] = 0
    for lens in (lengths, None):
        y_c, _, cache = ops.conv1d_forward(x, w, b, lens, relu)
        dy = rng.standard_normal(y_c.shape).astype(dtype)
        dx_c, dw_c, db_c = ops.conv1d_backward(dy, cache)
        To = T - K + 1
        for seed in SEEDS:
            y = _nan((B, To, Cout), dtype)
            _run(
                emu,
                seed,
                emu.emu_conv1d_forward,
                _dbl(dtype),
                B,
                T,
                Cin,
                Cout,
                K,
                _p(x),
                _p(w),
                _p(b),
                _p(lens),
                int(relu),
                _p(y),
            )
            _close(y, y_c, TOL[dtype], "y")
            dx, dw, db = _nan(x.shape, dtype), _nan(w.shape, dtype), _nan(Cout, dtype)
            _run(
                emu,
                seed,
                emu.emu_conv1d_backward,
                _dbl(dtype),
                B,
                T,
                Cin,
                Cout,
                K,
                _p(dy),
                _p(x),
                _p(w),
                _p(lens),
                int(relu),
                _p(y_c),
                _p(dx),
                _p(dw),
                _p(db),
            )
            for name, got, want in (("dx", dx, dx_c), ("dw", dw, dw_c), ("db", db, db_c)):
                _close(got, want, TOL[dtype], name)


# ---- optimisers ---------------------------------------------------------------------------

ADAM_CASES = [
    dict(step=1, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False),
    dict(step=7, lr=3e-3, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1, decoupled=False),
    dict(step=3, lr=1e-3, beta1=0.5, beta2=0.9, eps=1e-8, weight_decay=0.05, decoupled=True),
]


def _state(rng, shape, dtype):
    return [rng.standard_normal(shape).astype(dtype) for _ in range(3)] + [
        rng.uniform(0.0, 1.0, shape).astype(dtype)
    ]


def _adam_args(c):
    return [
        c["step"],
        c["lr"],
        c["beta1"],
        c["beta2"],
        c["eps"],
        c["weight_decay"],
        int(c["decoupled"]),
    ]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(ADAM_CASES)))
def test_adam_dense_and_rows(emu, rng, dtype, case):
    c = ADAM_CASES[case]
    p, g, m, v = _state(rng, (23, 5), dtype)
    want = [a.copy() for a in (p, m, v)]
    ops.adam_step(want[0], g, want[1], want[2], **c)
    got = [a.copy() for a in (p, m, v)]
    _run(
        emu,
        1,
        emu.emu_adam,
        _dbl(dtype),
        _p(got[0]),
        _p(g),
        _p(got[1]),
        _p(got[2]),
        p.size,
        *_adam_args(c),
    )
    for name, a, b in zip("pmv", got, want):
        _close(a, b, TOL[dtype], name)
    rows = np.array([17, 2, 9, 0, 22], dtype=np.int64)
    gr = rng.standard_normal((rows.size, 5)).astype(dtype)
    want = [a.copy() for a in (p, m, v)]
    ops.adam_step_rows(want[0], rows, gr, want[1], want[2], **c)
    got = [a.copy() for a in (p, m, v)]
    _run(
        emu,
        2,
        emu.emu_adam_rows,
        _dbl(dtype),
        _p(got[0]),
        _p(rows),
        rows.size,
        5,
        _p(gr),
        _p(got[1]),
        _p(got[2]),
        *_adam_args(c),
    )
    for name, a, b in zip("pmv", got, want):
        _close(a, b, TOL[dtype], f"rows {name}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_many_chunks(emu, rng, dtype):
    c = dict(ADAM_CASES[1])
    sizes = [3, 8192, 9000, 1]  # a slice over one chunk, a partial chunk, a tiny one
    steps = [1, 5, 2, 9]
    states = [_state(rng, n, dtype) for n in sizes]
    want = [[s[0].copy(), s[2].copy(), s[3].copy()] for s in states]
    ops.adam_step_many(
        [w[0] for w in want],
        [s[1] for s in states],
        [w[1] for w in want],
        [w[2] for w in want],
        steps,
        **{k: v for k, v in c.items() if k != "step"},
    )
    got = [[s[0].copy(), s[2].copy(), s[3].copy()] for s in states]

    def arr(xs):
        return (P * len(xs))(*[x.ctypes.data for x in xs])

    n_arr, step_arr = np.array(sizes, dtype=np.int64), np.array(steps, dtype=np.int64)
    _run(
        emu,
        3,
        emu.emu_adam_many,
        _dbl(dtype),
        len(sizes),
        arr([q[0] for q in got]),
        arr([s[1] for s in states]),
        arr([q[1] for q in got]),
        arr([q[2] for q in got]),
        _p(n_arr),
        _p(step_arr),
        *_adam_args(c)[1:],
    )
    for i, (a, b) in enumerate(zip(got, want)):
        for name, x, y in zip("pmv", a, b):
            _close(x, y, TOL[dtype], f"params[{i}] {name}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "momentum,nesterov,wd", [(0.0, False, 0.0), (0.9, False, 0.01), (0.8, True, 0.0)]
)
def test_sgd_dense_and_rows(emu, rng, dtype, momentum, nesterov, wd):
    p, g, buf, _ = _state(rng, (11, 4), dtype)
    kw = dict(lr=0.05, momentum=momentum, weight_decay=wd, nesterov=nesterov)
    use = buf if momentum else None
    want_p, want_b = p.copy(), None if use is None else use.copy()
    ops.sgd_step(want_p, g, want_b, **kw)
    got_p, got_b = p.copy(), None if use is None else use.copy()
    _run(
        emu,
        1,
        emu.emu_sgd,
        _dbl(dtype),
        _p(got_p),
        _p(g),
        _p(got_b),
        p.size,
        0.05,
        momentum,
        wd,
        int(nesterov),
    )
    _close(got_p, want_p, TOL[dtype], "param")
    if use is not None:
        _close(got_b, want_b, TOL[dtype], "buf")
    rows = np.array([3, 10, 0], dtype=np.int64)
    gr = rng.standard_normal((3, 4)).astype(dtype)
    want_p, want_b = p.copy(), None if use is None else use.copy()
    ops.sgd_step_rows(want_p, rows, gr, want_b, **kw)
    got_p, got_b = p.copy(), None if use is None else use.copy()
    _run(
        emu,
        2,
        emu.emu_sgd_rows,
        _dbl(dtype),
        _p(got_p),
        _p(rows),
        3,
        4,
        _p(gr),
        _p(got_b),
        0.05,
        momentum,
        wd,
        int(nesterov),
    )
    _close(got_p, want_p, TOL[dtype], "rows param")
    if use is not None:
        _close(got_b, want_b, TOL[dtype], "rows buf")


@pytest.mark.parametrize("max_norm", [0.5, 1e9])
def test_clip_grad_norm_mixed_dtypes(emu, rng, max_norm):
    grads = [
        rng.standard_normal(n).astype(dt)
        for n, dt in [(5, np.float32), (9000, np.float64), (300, np.float32), (1, np.float64)]
    ]
    want = [g.copy() for g in grads]
    norm_c = ops.clip_grad_norm(want, max_norm)
    norms = []
    for seed in SEEDS:
        got = [g.copy() for g in grads]
        out = F64()
        sizes = np.array([g.size for g in got], dtype=np.int64)
        dbl = np.array([_dbl(g.dtype) for g in got], dtype=np.int32)
        _run(
            emu,
            seed,
            emu.emu_clip,
            len(got),
            (P * len(got))(*[g.ctypes.data for g in got]),
            _p(sizes),
            _p(dbl),
            max_norm,
            ctypes.byref(out),
        )
        assert abs(out.value - norm_c) <= 1e-12 * norm_c
        for i, (a, b) in enumerate(zip(got, want)):
            _close(a, b, TOL[a.dtype.type], f"grads[{i}]")
        norms.append(out.value)
    assert norms[0] == norms[1], "the norm depends on the scheduling"


# ---- losses -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", list(KINDS))
def test_point_loss(emu, rng, dtype, kind):
    n = 20000  # three blocks of partial sums
    p = (rng.standard_normal(n) * 3).astype(dtype)
    t = (
        rng.uniform(0, 1, n).astype(dtype)
        if kind == "bce_with_logits"
        else rng.standard_normal(n).astype(dtype)
    )
    t[:5] = p[:5]  # |p - t| == 0: the MAE / Huber kinks
    for w in (None, rng.uniform(0, 2, n).astype(dtype)):
        want, d_c = _core.point_loss(kind, p, t, w, 0.7)
        by_mode = []
        for device_loss in (0, 1):  # read back, or left in device memory (loss_out, NaN)
            losses = []
            for seed in SEEDS:
                d, loss = _nan(n, dtype), F64(np.nan)
                _run(
                    emu,
                    seed,
                    emu.emu_point_loss,
                    _dbl(dtype),
                    KINDS[kind],
                    _p(p),
                    _p(t),
                    _p(w),
                    n,
                    0.7,
                    _p(d),
                    ctypes.byref(loss),
                    device_loss,
                )
                _close(d, d_c, TOL[dtype], "dpred")
                assert abs(loss.value - want) <= TOL[dtype] * abs(want)
                losses.append(loss.value)
            assert losses[0] == losses[1], "the loss depends on the scheduling"
            by_mode.append(losses[0])
        assert by_mode[0] == by_mode[1], "the device mean rounds unlike the host's division"


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy(emu, rng, dtype):
    for N, V in [(7, 5), (19, 700), (3, 1500)]:  # a warp per row (V <= 1024), a block per row
        x = (rng.standard_normal((N, V)) * 4).astype(dtype)
        target = rng.integers(0, V, N).astype(np.int64)
        target[1] = -1
        for tgt in (target, np.full(N, -1, dtype=np.int64)):
            want, d_c = ops.softmax_cross_entropy(x, tgt)
            K = int((tgt != -1).sum())
            for seed in SEEDS:
                d, loss = _nan((N, V), dtype), F64()
                _run(
                    emu,
                    seed,
                    emu.emu_softmax_xent,
                    _dbl(dtype),
                    _p(x),
                    _p(tgt),
                    N,
                    V,
                    -1,
                    K,
                    _p(d),
                    ctypes.byref(loss),
                )
                assert np.array_equal(d, d_c) if K == 0 else rel_error(d, d_c) < TOL[dtype]
                assert abs(loss.value - want) <= TOL[dtype] * max(abs(want), 1e-300)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_rows_in_registers(emu, rng, monkeypatch, dtype):
    """Rows of 1,025 to 8,192 classes are read once into registers (8, 16 or 32 per thread):
    bit-identical to the three-pass kernel of one block per row (CHRONOSCALE_CUDA_XENT_REG=0:
    the same sums in the same order), for every gradient writer (in place, bfloat16, TF32
    pairs); above 8,192 classes both settings run the three-pass kernel."""
    for N, V, D in [(5, 1100, 3), (4, 3000, 2), (3, 5000, 2), (2, 8300, 2)]:
        user, items, target, K = _softmax_case(rng, N, V, D)
        if dtype == np.float64:
            user, items = user.astype(dtype), items.astype(dtype)
        x = (user.astype(np.float64) @ items.T.astype(np.float64)).astype(dtype)
        want, d_c = ops.softmax_cross_entropy(x, target)
        runs = {}
        for reg in ("1", "0"):
            monkeypatch.setenv("CHRONOSCALE_CUDA_XENT_REG", reg)
            d, loss = _nan((N, V), dtype), F64()
            _run(emu, 1, emu.emu_softmax_xent, _dbl(dtype), _p(x), _p(target), N, V, -1, K,
                 _p(d), ctypes.byref(loss))
            runs[reg] = [loss.value, d]
            for precision in ((1, 3) if dtype == np.float32 else ()):
                du, di, fl = _nan((N, D), dtype), _nan((V, D), dtype), F64()
                _run(emu, 2, emu.emu_full_softmax, 0, _p(user), _p(items), _p(target), N, V, D,
                     -1, K, _p(du), _p(di), 1 << 26, precision, ctypes.byref(fl), 0)
                runs[reg] += [fl.value, du, di]
        assert rel_error(runs["1"][1], d_c) < TOL[dtype]
        assert abs(runs["1"][0] - want) <= TOL[dtype] * abs(want)
        for a, b in zip(runs["1"], runs["0"], strict=True):
            assert np.array_equal(a, b), (N, V)
    monkeypatch.setenv("CHRONOSCALE_CUDA_XENT_REG", "yes")
    rc = emu.emu_softmax_xent(_dbl(dtype), _p(x), _p(target), N, V, -1, K, _p(d),
                              ctypes.byref(loss))
    assert rc != 0 and b"CHRONOSCALE_CUDA_XENT_REG" in emu.emu_train_error()


@pytest.mark.parametrize("dtype", DTYPES)
def test_full_softmax_blocks(emu, rng, dtype):
    """The native CUDA full softmax (row blocks: GEMM, cross-entropy in place, both backward
    GEMMs, d_items summed over blocks) equals the CPU op, for one block and for several (some
    with every row ignored), and with V above the one-warp-per-row limit; the loss read back
    or written to device memory (loss_out, no wait; the call returns NaN)."""
    for N, V, D, block in [(23, 9, 5, 1 << 26), (23, 9, 5, 7 * 9), (9, 1100, 4, 2 * 1100)]:
        user = rng.standard_normal((N, D)).astype(dtype)
        items = rng.standard_normal((V, D)).astype(dtype)
        target = rng.integers(0, V, N).astype(np.int64)
        target[rng.random(N) < 0.3] = -1
        target[:7] = -1  # the first block of 7 rows counts for nothing
        for tgt in (target, np.full(N, -1, dtype=np.int64)):
            want, du_c, di_c = ops.full_softmax_loss(user, items, tgt)
            K = int((tgt != -1).sum())
            values = []
            for seed, device_loss in zip(SEEDS, itertools.cycle((0, 1))):
                du, di, loss = _nan((N, D), dtype), _nan((V, D), dtype), F64(np.nan)
                _run(emu, seed, emu.emu_full_softmax, _dbl(dtype), _p(user), _p(items), _p(tgt),
                     N, V, D, -1, K, _p(du), _p(di), block, 0, ctypes.byref(loss), device_loss)
                if K == 0:
                    assert loss.value == 0.0 and not du.any() and not di.any()
                    continue
                assert rel_error(du, du_c) < TOL[dtype] and rel_error(di, di_c) < TOL[dtype]
                assert abs(loss.value - want) <= TOL[dtype] * abs(want)
                values.append(loss.value)
            # read back or left on the device: the same mean to the last bit
            assert len(set(values)) <= 1, values


def _softmax_case(rng, N, V, D):
    """float32 user [N, D] and items [V, D], targets [N] (every fifth row ignored), and K."""
    user = rng.standard_normal((N, D)).astype(np.float32)
    items = (rng.standard_normal((V, D)) * 0.5).astype(np.float32)
    target = rng.integers(0, V, N).astype(np.int64)
    target[::5] = -1
    return user, items, target, int((target != -1).sum())


@pytest.mark.parametrize("N,V,D", [(23, 37, 8), (9, 1100, 4)])
def test_full_softmax_bf16(emu, rng, N, V, D):
    """precision="bfloat16": bfloat16 copies of the three products' operands, float32
    accumulation (gemm_bf16, here its CPU stand-in), against the float64 model of exactly that
    (helpers.bf16_full_softmax_reference), in one and in several row blocks; the cross-entropy
    kernel (one warp per row, and one block per row above 1024 classes) writes the logits'
    gradient in bfloat16."""
    user, items, target, K = _softmax_case(rng, N, V, D)
    want = bf16_full_softmax_reference(user, items, target)
    exact = ops.full_softmax_loss(user, items, target)
    for block in (1 << 26, 6 * V):
        du, di, loss = _nan((N, D), np.float32), _nan((V, D), np.float32), F64()
        _run(emu, 1, emu.emu_full_softmax, 0, _p(user), _p(items), _p(target), N, V, D, -1, K,
             _p(du), _p(di), block, 1, ctypes.byref(loss), 0)
        assert abs(loss.value - want[0]) <= 1e-5 * abs(want[0])
        assert rel_error(du, want[1]) < 2e-3 and rel_error(di, want[2]) < 2e-3
        # bfloat16 is coarser than float32: further from the float32 op, but close to it
        assert 1e-4 < rel_error(du, exact[1]) < 3e-2


@pytest.mark.parametrize("warp_max", ["0", "4096"])
def test_cross_entropy_kernels_by_row_length(emu, rng, monkeypatch, warp_max):
    """CHRONOSCALE_CUDA_XENT_WARP_MAX moves the switch between the one-warp-per-row and the
    one-block-per-row cross-entropy kernels ("0": every row a block; "4096": rows up to 4,096
    classes a warp): both give the CPU op's result, float32 and bfloat16 gradients alike."""
    monkeypatch.setenv("CHRONOSCALE_CUDA_XENT_WARP_MAX", warp_max)
    for N, V, D in [(23, 37, 8), (9, 1100, 4)]:
        user, items, target, K = _softmax_case(rng, N, V, D)
        exact = ops.full_softmax_loss(user, items, target)
        bf16 = bf16_full_softmax_reference(user, items, target)
        for precision, want, tol in ((0, exact, TOL[np.float32]), (1, bf16, 2e-3)):
            du, di, loss = _nan((N, D), np.float32), _nan((V, D), np.float32), F64()
            _run(emu, 2, emu.emu_full_softmax, 0, _p(user), _p(items), _p(target), N, V, D, -1,
                 K, _p(du), _p(di), 1 << 26, precision, ctypes.byref(loss), 0)
            assert abs(loss.value - want[0]) <= 1e-5 * abs(want[0])
            assert rel_error(du, want[1]) < tol and rel_error(di, want[2]) < tol
    monkeypatch.setenv("CHRONOSCALE_CUDA_XENT_WARP_MAX", "many")
    du, di, loss = _nan((N, D), np.float32), _nan((V, D), np.float32), F64()
    rc = emu.emu_full_softmax(0, _p(user), _p(items), _p(target), N, V, D, -1, K, _p(du),
                              _p(di), 1 << 26, 0, ctypes.byref(loss), 0)
    assert rc != 0 and b"CHRONOSCALE_CUDA_XENT_WARP_MAX" in emu.emu_train_error()


def test_full_softmax_tf32_without_tensor_cores(emu, rng):
    """precision="tfloat32" where cuBLAS has no TF32 GemmEx (the emulator's stand-in has no
    GemmEx at all): the float32 products, so the float32 op's result."""
    N, V, D = 23, 1100, 8
    user, items, target, K = _softmax_case(rng, N, V, D)
    want = ops.full_softmax_loss(user, items, target)
    du, di, loss = _nan((N, D), np.float32), _nan((V, D), np.float32), F64()
    _run(emu, 1, emu.emu_full_softmax, 0, _p(user), _p(items), _p(target), N, V, D, -1, K,
         _p(du), _p(di), 1 << 26, 2, ctypes.byref(loss), 0)
    assert abs(loss.value - want[0]) <= TOL[np.float32] * abs(want[0])
    assert rel_error(du, want[1]) < TOL[np.float32] and rel_error(di, want[2]) < TOL[np.float32]


@pytest.mark.parametrize("N,V,D", [(23, 37, 9), (41, 1102, 6)])
def test_full_softmax_tf32x3(emu, rng, N, V, D):
    """precision="tf32x3" on (emulated) TF32 tensor cores, whose GEMMs read each operand
    truncated to TF32: the TF32 pairs and three products per product (the forward as one GEMM
    over [z_hi, z_hi, z_lo] x [F_hi, F_lo, F_hi], the gradient as pairs from the cross-entropy,
    D and V padded to multiples of 4) are as close to the float64 op as the float32 op is,
    where one TF32 product ("tfloat32") is far off; in one and in several row blocks."""
    user, items, target, K = _softmax_case(rng, N, V, D)
    exact = ops.full_softmax_loss(user.astype(np.float64), items.astype(np.float64), target)
    f32 = ops.full_softmax_loss(user, items, target)
    f32_err = max(rel_error(f32[1], exact[1]), rel_error(f32[2], exact[2]))

    def run(precision, block):
        du, di, loss = _nan((N, D), np.float32), _nan((V, D), np.float32), F64()
        _run(emu, 3, emu.emu_full_softmax, 0, _p(user), _p(items), _p(target), N, V, D, -1, K,
             _p(du), _p(di), block, precision, ctypes.byref(loss), 0)
        return loss.value, du, di

    emu.emu_tf32_cores(1)
    try:
        for block in (1 << 26, 5 * V):
            loss, du, di = run(3, block)
            err = max(rel_error(du, exact[1]), rel_error(di, exact[2]))
            assert err < max(4 * f32_err, 2e-6), (err, f32_err)
            assert abs(loss - exact[0]) <= 1e-6 * abs(exact[0])
        _, du1, di1 = run(2, 1 << 26)  # one TF32 product: the emulation is on
        assert max(rel_error(du1, exact[1]), rel_error(di1, exact[2])) > 50 * max(err, 1e-7)
    finally:
        emu.emu_tf32_cores(0)
    loss, du, di = run(3, 1 << 26)  # no tensor cores: three float32 products, still float32
    assert rel_error(du, f32[1]) < TOL[np.float32] and rel_error(di, f32[2]) < TOL[np.float32]
    assert abs(loss - f32[0]) <= TOL[np.float32] * abs(f32[0])


def _plan(negatives, target, ignore_index):
    """The grouping of sampled_softmax_plan: distinct rows and their sources, in order."""
    S = negatives.size
    pairs = sorted(
        [(int(r), j) for j, r in enumerate(negatives)]
        + [(int(t), S + n) for n, t in enumerate(target) if t != ignore_index]
    )
    rows, offsets, sources = [], [], []
    for i, (r, src) in enumerate(pairs):
        if i == 0 or r != pairs[i - 1][0]:
            rows.append(r)
            offsets.append(i)
        sources.append(src)
    offsets.append(len(pairs))
    return [np.array(a, dtype=np.int64) for a in (rows, offsets, sources)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_log_q", [False, True])
def test_sampled_softmax(emu, rng, dtype, with_log_q):
    N, D, V, S = 9, 6, 13, 11
    user = rng.standard_normal((N, D)).astype(dtype)
    items = rng.standard_normal((V, D)).astype(dtype)
    some = rng.integers(0, V, N).astype(np.int64)
    some[2] = -1
    log_q = rng.standard_normal(V).astype(dtype) if with_log_q else None
    ignored = np.full(N, -1, np.int64)
    for hits, target in ((True, some), (False, some), (True, ignored)):
        loss_c, du_c, rows_c, dr_c = ops.sampled_softmax_loss(
            user, items, target, S, 99, log_q=log_q, remove_accidental_hits=hits
        )
        neg = ops.sampled_softmax_negatives(V, S, 99, log_q)
        rows, offsets, sources = _plan(neg, target, -1)
        assert np.array_equal(rows, rows_c)
        if log_q is None:
            log_norm = float(np.log(V))
        else:
            lq = log_q.astype(np.float64)
            log_norm = float(lq.max() + np.log(np.exp(lq - lq.max()).sum()))
        for seed in SEEDS:
            du, dr, loss = _nan((N, D), dtype), _nan((rows.size, D), dtype), F64()
            _run(
                emu,
                seed,
                emu.emu_sampled_softmax,
                _dbl(dtype),
                _p(user),
                _p(items),
                _p(target),
                N,
                D,
                V,
                S,
                _p(log_q),
                int(log_q is not None and log_q.dtype == np.float64),
                int(hits),
                -1,
                _p(neg),
                log_norm,
                _p(rows),
                rows.size,
                _p(offsets),
                _p(sources),
                _p(du),
                _p(dr),
                ctypes.byref(loss),
            )
            _close(du, du_c, TOL[dtype], "d_user")
            _close(dr, dr_c, TOL[dtype], "d_rows")
            assert abs(loss.value - loss_c) <= TOL[dtype] * abs(loss_c)  # 0 == 0 when all ignored
