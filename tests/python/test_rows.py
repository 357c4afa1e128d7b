"""Row gather / scatter (ops.gather_rows, ops.scatter_rows) on the CPU: against float64 NumPy
references on random shapes, indices (with "none" entries: negative and >= M) and column blocks;
the scatter is the gather's adjoint and its gradient (finite differences); repeated indices sum
in index order for any thread count; bad input raises naming the argument."""

from __future__ import annotations

import numpy as np
import pytest

import chronoscale
from chronoscale import ops

from helpers import FakeCudaArray, numeric_grad, rel_error, skip_if_cuda_device


def random_index(rng, N, M):
    """Indices in [-2, M + 1]: mostly valid, some "none" on both sides, repeats likely."""
    return rng.integers(-2, M + 2, size=N)


def gather_reference(src, index, out, col):
    out = np.array(out, dtype=np.float64)
    M, H = src.shape
    for n, v in enumerate(index):
        out[n, col:col + H] = src[v] if 0 <= v < M else 0.0
    return out


def scatter_reference(g, index, out, col):
    out = np.array(out, dtype=np.float64)
    M, H = out.shape
    for n, v in enumerate(index):
        if 0 <= v < M:
            out[v] += g[n, col:col + H]
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trial", range(6))
def test_gather_matches_reference(rng, dtype, trial):
    N, M, H = rng.integers(1, 300), rng.integers(1, 50), rng.integers(1, 40)
    W = H + rng.integers(0, 9)
    col = int(rng.integers(0, W - H + 1))
    src = rng.standard_normal((M, H)).astype(dtype)
    index = random_index(rng, N, M)
    out = rng.standard_normal((N, W)).astype(dtype)
    want = gather_reference(src, index, out, col)
    got = ops.gather_rows(src, index, out, col=col)
    assert got is out  # written in place; the other columns keep their values
    assert np.array_equal(got, want.astype(dtype))
    fresh = ops.gather_rows(src, index)
    assert fresh.shape == (N, H) and fresh.dtype == dtype
    assert np.array_equal(fresh, want[:, col:col + H].astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trial", range(6))
def test_scatter_matches_reference(rng, dtype, trial):
    N, M, H = rng.integers(1, 300), rng.integers(1, 50), rng.integers(1, 70)
    W = H + rng.integers(0, 9)
    col = int(rng.integers(0, W - H + 1))
    g = rng.standard_normal((N, W)).astype(dtype)
    index = random_index(rng, N, M)
    want = scatter_reference(g, index, np.zeros((M, H)), col)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    fresh = ops.scatter_rows(g, index, size=M, col=col, width=H)
    assert fresh.shape == (M, H) and fresh.dtype == dtype
    assert rel_error(fresh, want) < tol
    base = rng.standard_normal((M, H)).astype(dtype)
    got = ops.scatter_rows(g, index, out=base.copy(), col=col)  # adds to what is there
    assert rel_error(got, want + base) < tol
    if col == 0 and H == W:
        assert rel_error(ops.scatter_rows(g, index, size=M), want) < tol  # width = W - col


def test_scatter_is_the_adjoint_of_gather(rng):
    M, H, N, W, col = 13, 7, 90, 11, 3
    src = rng.standard_normal((M, H))
    g = rng.standard_normal((N, W))
    index = random_index(rng, N, M)
    out = np.zeros((N, W))
    lhs = np.sum(ops.gather_rows(src, index, out, col=col) * g)
    rhs = np.sum(src * ops.scatter_rows(g, index, size=M, col=col, width=H))
    assert abs(lhs - rhs) < 1e-12 * max(1.0, abs(lhs))


def test_gather_gradient_by_finite_differences(rng):
    """d/d src of sum(w * gather(src)) is scatter(w): checked numerically in float64."""
    M, H, N = 6, 4, 25
    src = rng.standard_normal((M, H))
    index = random_index(rng, N, M)
    w = rng.standard_normal((N, H))
    num = numeric_grad(lambda: float(np.sum(w * ops.gather_rows(src, index))), src)
    assert rel_error(ops.scatter_rows(w, index, size=M), num) < 1e-8


@pytest.mark.parametrize("order", ["random", "sorted"])
def test_scatter_repeated_indices_sum_in_order(rng, order):
    """Many rows onto few: the float32 sums equal a serial float32 sum in index order, bit for
    bit, at 1 and 2 threads (the work is large enough to run in parallel). "sorted": the valid
    indices never decrease, with "none" entries inside and between runs (the window rows of
    MultiScaleNext): the threads split the rows between runs."""
    N, M, H = 20000, 40, 96
    g = rng.standard_normal((N, H)).astype(np.float32)
    index = rng.integers(0, M, size=N)
    if order == "sorted":
        index = np.sort(index)
        index[rng.random(N) < 0.2] = -1  # none, also between equal indices
        index[rng.random(N) < 0.02] = M + 3
    want = np.zeros((M, H), np.float32)
    for m in range(M):  # a sequential float32 sum in index order
        rows = g[index == m]
        want[m] = np.cumsum(rows, axis=0, dtype=np.float32)[-1] if len(rows) else 0
    old = chronoscale.get_num_threads()
    try:
        for threads in (1, 2):
            chronoscale.set_num_threads(threads)
            assert np.array_equal(ops.scatter_rows(g, index, size=M), want)
            assert np.array_equal(ops.scatter_rows(g, index, size=M, col=5, width=H - 9),
                                  want[:, 5:-4])
    finally:
        chronoscale.set_num_threads(old)


def test_index_dtypes_and_empty(rng):
    src = rng.standard_normal((5, 3)).astype(np.float32)
    want = ops.gather_rows(src, np.array([4, 0, -1]))
    for dt in (np.int32, np.uint8, np.int16):
        assert np.array_equal(ops.gather_rows(src, np.array([4, 0, 255 if dt == np.uint8 else -1],
                                                            dtype=dt)), want)
    assert ops.gather_rows(src, np.zeros(0, np.int64)).shape == (0, 3)
    assert np.array_equal(ops.scatter_rows(np.zeros((0, 3), np.float32), np.zeros(0, np.int64),
                                           size=4), np.zeros((4, 3), np.float32))
    assert ops.scatter_rows(src, np.arange(5), size=0).shape == (0, 3)  # every row dropped


def test_bad_input_raises(rng):
    src = rng.standard_normal((5, 3)).astype(np.float32)
    idx = np.array([0, 1])
    with pytest.raises(TypeError, match="index must hold integers"):
        ops.gather_rows(src, idx.astype(np.float64))
    with pytest.raises(TypeError, match="index must hold integers"):
        ops.gather_rows(src, np.array([True, False]))
    with pytest.raises(TypeError, match="src must be float32 or float64"):
        ops.gather_rows(src.astype(np.int32), idx)
    with pytest.raises(TypeError, match="out must have the dtype of src"):
        ops.gather_rows(src, idx, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"src must have shape \[M, H\]"):
        ops.gather_rows(src[None], idx)
    with pytest.raises(ValueError, match=r"index must have shape \[N\]"):
        ops.gather_rows(src, idx[None])
    with pytest.raises(ValueError, match=r"with N = 3 \(the rows of out"):
        ops.gather_rows(src, idx, np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match=r"columns \[1, 4\) of out do not fit"):
        ops.gather_rows(src, idx, np.zeros((2, 3), np.float32), col=1)
    with pytest.raises(ValueError, match=r"columns \[-1, 2\)"):
        ops.gather_rows(src, idx, np.zeros((2, 3), np.float32), col=-1)
    with pytest.raises(ValueError, match="contiguous"):
        ops.gather_rows(src[:, :2], idx)
    with pytest.raises(ValueError, match="contiguous"):
        ops.gather_rows(src, idx, np.zeros((2, 6), np.float32)[:, :3])
    with pytest.raises(ValueError, match="int64 range"):
        ops.gather_rows(src, np.array([2**63], dtype=np.uint64))
    with pytest.raises(TypeError, match="col must be an integer"):
        ops.gather_rows(src, idx, col=0.5)
    g = rng.standard_normal((2, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="needs size"):
        ops.scatter_rows(g, idx)
    with pytest.raises(ValueError, match="size must be >= 0"):
        ops.scatter_rows(g, idx, size=-1)
    with pytest.raises(ValueError, match=r"columns \[2, 5\) of g do not fit"):
        ops.scatter_rows(g, idx, out=np.zeros((4, 3), np.float32), col=2)
    with pytest.raises(TypeError, match="out must be float32 or float64"):
        ops.scatter_rows(g, idx, out=np.zeros((4, 3), np.int64))
    with pytest.raises(TypeError, match="out must have the dtype of g"):
        ops.scatter_rows(g.astype(np.float64), idx, out=np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"g must have shape \[N, W\]"):
        ops.scatter_rows(g[0], idx, size=4)


def test_scatter_size_and_width_must_match_out(rng):
    g, index = rng.standard_normal((4, 3)), np.array([0, 1, 1, 2])
    out = np.zeros((5, 3))
    ops.scatter_rows(g, index, size=5, out=out, width=3)  # consistent: fine
    with pytest.raises(ValueError, match=r"size=4 but out has shape \[5, 3\]"):
        ops.scatter_rows(g, index, size=4, out=out)
    with pytest.raises(ValueError, match=r"width=2 but out has shape \[5, 3\]"):
        ops.scatter_rows(g, index, out=out, width=2)


def test_cuda_array_without_device_raises():
    skip_if_cuda_device()
    src = FakeCudaArray((4, 3))
    with pytest.raises(RuntimeError, match="CUDA") as e:
        ops.gather_rows(src, FakeCudaArray((2,), "<i8"))
    if chronoscale.build_info()["cuda"]:
        assert isinstance(e.value, chronoscale.CudaError)
    with pytest.raises(ValueError, match="index must be on the device of src"):
        ops.gather_rows(src, np.array([0, 1]))
    with pytest.raises(RuntimeError, match="CUDA"):
        ops.scatter_rows(FakeCudaArray((2, 3)), FakeCudaArray((2,), "<i8"), size=4)


@pytest.mark.torch
def test_torch_parity(rng):
    torch = pytest.importorskip("torch")
    M, H, N = 40, 16, 300
    src = rng.standard_normal((M, H)).astype(np.float32)
    index = rng.integers(0, M, size=N)
    g = rng.standard_normal((N, H)).astype(np.float32)
    t_idx = torch.from_numpy(index)
    want_g = torch.from_numpy(src).index_select(0, t_idx).numpy()
    want_s = torch.zeros(M, H).index_add_(0, t_idx, torch.from_numpy(g)).numpy()
    assert np.array_equal(ops.gather_rows(src, index), want_g)
    assert rel_error(ops.scatter_rows(g, index, size=M), want_s) < 1e-6


# ----------------------------------------------------------------------------- window_rows


def window_case(rng, B=5, T=13):
    """A batch through multiscale_forward: lengths (some 0), timestamps, and count (strided,
    partial and not) and wall-clock scales; returns what window_rows takes per scale."""
    from test_pool import random_timestamps

    L = rng.integers(0, T + 1, size=B)
    L[0] = T
    ts = random_timestamps(rng, B, T)
    x = rng.normal(size=(B, T, 2))
    scales = [ops.Scale.parse(s) for s in ("1", "3", "4/2", "2/3", "7s", "20s")]
    scales.append(ops.Scale.count(3, partial=False))
    w = [(rng.normal(size=(3, 3)), rng.normal(size=(3, 1))) for _ in scales]
    outs, _ = ops.multiscale_forward(x, scales, w, cell="gru", lengths=L, timestamps=ts,
                                     count_feature=True)
    return L, scales, outs


def window_rows_definition(sc, o, L, b, t, T):
    """The row from the windows' definition (count: window j holds events [j*stride, j*stride +
    size), closed after event t iff j*stride + size <= t + 1, at most out_lengths of them)."""
    W = o.y.shape[1]
    if not (0 <= b < len(L) and 0 <= t < T):
        return -1
    if sc.kind == "time":
        c = int(o.closed_before[b, t])
    elif t >= L[b]:
        c = 0
    else:
        c = min(sum(1 for j in range(T + 1) if j * sc.stride + sc.size <= t + 1),
                int(o.out_lengths[b]))
    return b * W + c - 1 if c > 0 else -1


def test_window_rows_match_definition(rng):
    T = 13
    for _ in range(3):
        L, scales, outs = window_case(rng, T=T)
        B = len(L)
        b = np.r_[rng.integers(0, B, 60), -1, B, 0, 2]  # and events outside the batch
        t = np.r_[rng.integers(0, T, 60), 0, 0, -1, T]
        for sc, o in zip(scales, outs, strict=True):
            got = ops.window_rows(sc, b, t, (B, T), o.y.shape[1], lengths=L,
                                  out_lengths=o.out_lengths, closed=o.closed_before)
            want = [window_rows_definition(sc, o, L, bb, tt, T) for bb, tt in zip(b, t)]
            assert got.dtype == np.int64
            np.testing.assert_array_equal(got, want, err_msg=str(sc))


def test_window_rows_on_the_device_stand_in(rng, monkeypatch):
    """Device arrays in, a device array out, equal to the host result."""
    import fake_cupy

    L, scales, outs = window_case(rng)
    B, T = 5, 13
    b, t = rng.integers(0, B, 40), rng.integers(0, T, 40)
    want = [ops.window_rows(sc, b, t, (B, T), o.y.shape[1], L, o.out_lengths, o.closed_before)
            for sc, o in zip(scales, outs, strict=True)]
    cp = fake_cupy.install(monkeypatch)
    for sc, o, w in zip(scales, outs, want, strict=True):
        got = ops.window_rows(sc, cp.asarray(b), cp.asarray(t), (B, T), o.y.shape[1],
                              cp.asarray(L), cp.asarray(o.out_lengths),
                              cp.asarray(o.closed_before))
        assert isinstance(got, fake_cupy.FakeArray)
        np.testing.assert_array_equal(got.get(), w)


def test_window_rows_bad_input():
    sc, tsc = ops.Scale.count(2), ops.Scale.time(60)
    b = t = np.zeros(3, np.int64)
    ol = np.ones(2, np.int64)
    with pytest.raises(ValueError, match="count scale needs out_lengths"):
        ops.window_rows(sc, b, t, (2, 4), 3)
    with pytest.raises(ValueError, match="wall-clock scale needs closed"):
        ops.window_rows(tsc, b, t, (2, 4), 3, out_lengths=ol)
    with pytest.raises(TypeError, match="scale must be a chronoscale.ops.Scale"):
        ops.window_rows("2", b, t, (2, 4), 3, out_lengths=ol)
    with pytest.raises(TypeError, match="b must hold integers"):
        ops.window_rows(sc, b.astype(float), t, (2, 4), 3, out_lengths=ol)
    with pytest.raises(ValueError, match=r"t must have shape \[N\]"):
        ops.window_rows(sc, b, t[:2], (2, 4), 3, out_lengths=ol)
    with pytest.raises(ValueError, match=r"out_lengths must have shape \[B\]"):
        ops.window_rows(sc, b, t, (3, 4), 3, out_lengths=ol)
    with pytest.raises(ValueError, match=r"lengths must have shape \[B\]"):
        ops.window_rows(sc, b, t, (2, 4), 3, lengths=[1, 2, 3], out_lengths=ol)
    with pytest.raises(ValueError, match=r"closed must have shape \[B, T\]"):
        ops.window_rows(tsc, b, t, (2, 4), 3, closed=np.zeros((2, 5), np.int64))
    with pytest.raises(ValueError, match=r"shape must be the batch's \(B, T\)"):
        ops.window_rows(sc, b, t, (2, 4, 1), 3, out_lengths=ol)
    with pytest.raises(ValueError, match="B, T and W must be >= 0"):
        ops.window_rows(sc, b, t, (2, 4), -1, out_lengths=ol)
    with pytest.raises(ValueError, match=r"shape \[B, T\]|B, T and W"):
        ops.window_rows(sc, b, t, (-1, 4), 3, out_lengths=ol)
