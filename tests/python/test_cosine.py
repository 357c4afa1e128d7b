"""Cosine interaction features: NumPy reference, finite differences, bad input, torch, GPU."""

from __future__ import annotations

import numpy as np
import pytest

import chronoscale
from chronoscale import ops

from helpers import FakeCudaArray, numeric_grad, random_lengths, rel_error, skip_if_cuda_device


def _cos(a, b, eps):
    return a @ b / (max(np.linalg.norm(a), eps) * max(np.linalg.norm(b), eps))


def ref_lag(x, lag, lengths, eps):
    B, T, _ = x.shape
    y = np.zeros((B, T))
    for b in range(B):
        for t in range(lag, lengths[b]):
            y[b, t] = _cos(x[b, t], x[b, t - lag], eps)
    return y


def ref_query(q, x, lengths, eps):
    B, T, _ = x.shape
    y = np.zeros((B, T))
    for b in range(B):
        for t in range(lengths[b]):
            y[b, t] = _cos(q[b], x[b, t], eps)
    return y


def _shape(rng):
    return int(rng.integers(1, 5)), int(rng.integers(1, 8)), int(rng.integers(1, 10))


@pytest.mark.parametrize("trial", range(4))
def test_lag_forward_matches_reference(rng, trial):
    B, T, D = _shape(rng)
    lag = int(rng.integers(1, 4))
    x = rng.standard_normal((B, T, D))
    x[0, 0] = 0.0  # a zero vector (padding embedding): finite, equal to the reference
    lengths = random_lengths(rng, B, T)
    y, cache = ops.cosine_lag_forward(x, lag=lag, lengths=lengths)
    assert y.shape == (B, T) and y.dtype == np.float64
    assert np.all(np.isfinite(y))
    assert rel_error(y, ref_lag(x, lag, lengths, 1e-8)) < 1e-12
    mask = np.arange(T)[None, :] < lengths[:, None]
    np.testing.assert_allclose(cache.xnorm, np.linalg.norm(x, axis=-1) * mask, rtol=1e-12)
    y32, _ = ops.cosine_lag_forward(x.astype(np.float32), lag=lag, lengths=lengths)
    assert y32.dtype == np.float32 and rel_error(y32, y) < 1e-5


def test_lag_all_zero_rows_and_default_lengths(rng):
    x = rng.standard_normal((3, 6, 4))
    x[1] = 0.0
    x[2, ::2] = 0.0
    y, _ = ops.cosine_lag_forward(x, lag=2)
    assert np.all(np.isfinite(y))
    assert rel_error(y, ref_lag(x, 2, np.full(3, 6), 1e-8)) < 1e-12
    assert np.all(y[1] == 0.0) and np.all(y[:, :2] == 0.0)


def test_lag_at_least_T_gives_zeros(rng):
    x = rng.standard_normal((2, 3, 4))
    y, cache = ops.cosine_lag_forward(x, lag=3)
    assert np.all(y == 0.0)
    dx = ops.cosine_lag_backward(rng.standard_normal((2, 3)), cache)
    assert np.all(dx == 0.0)


@pytest.mark.parametrize("trial", range(4))
def test_query_forward_matches_reference(rng, trial):
    B, T, D = _shape(rng)
    x = rng.standard_normal((B, T, D))
    q = rng.standard_normal((B, D))
    x[-1, -1] = 0.0
    q[0] = 0.0
    lengths = random_lengths(rng, B, T)
    y, cache = ops.cosine_query_forward(q, x, lengths=lengths)
    assert np.all(np.isfinite(y))
    assert rel_error(y, ref_query(q, x, lengths, 1e-8)) < 1e-12
    np.testing.assert_allclose(cache.qnorm, np.linalg.norm(q, axis=-1), rtol=1e-12)
    y32, _ = ops.cosine_query_forward(q.astype(np.float32), x.astype(np.float32), lengths)
    assert rel_error(y32, y) < 1e-5


def _floored_input(rng, shape, eps):
    """Random rows, some scaled below eps (floored norm): FD stays on one side of the floor."""
    x = rng.standard_normal(shape)
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    scale = rng.choice([0.2 * eps, 3.0 * eps], size=shape[:-1])
    return x * scale[..., None]


@pytest.mark.parametrize("eps", [1e-8, 0.5])
def test_lag_backward_matches_finite_differences(rng, eps):
    B, T, D, lag = 4, 6, 5, 2
    # eps = 0.5 puts some rows under the norm floor, exercising the other gradient branch.
    x = rng.standard_normal((B, T, D)) if eps < 1e-3 else _floored_input(rng, (B, T, D), eps)
    lengths = random_lengths(rng, B, T)
    w = rng.standard_normal((B, T))

    def loss():
        return float(np.sum(ops.cosine_lag_forward(x, lag, lengths, eps)[0] * w))

    _, cache = ops.cosine_lag_forward(x, lag, lengths, eps)
    dx = ops.cosine_lag_backward(w, cache)
    assert rel_error(dx, numeric_grad(loss, x)) < 1e-6


@pytest.mark.parametrize("eps", [1e-8, 0.5])
def test_query_backward_matches_finite_differences(rng, eps):
    B, T, D = 4, 5, 6
    if eps < 1e-3:
        x, q = rng.standard_normal((B, T, D)), rng.standard_normal((B, D))
    else:
        x, q = _floored_input(rng, (B, T, D), eps), _floored_input(rng, (B, D), eps)
    lengths = random_lengths(rng, B, T)
    w = rng.standard_normal((B, T))

    def loss():
        return float(np.sum(ops.cosine_query_forward(q, x, lengths, eps)[0] * w))

    _, cache = ops.cosine_query_forward(q, x, lengths, eps)
    dq, dx = ops.cosine_query_backward(w, cache)
    assert rel_error(dx, numeric_grad(loss, x)) < 1e-6
    assert rel_error(dq, numeric_grad(loss, q)) < 1e-6


def test_backward_float32_matches_float64(rng):
    x, q = rng.standard_normal((3, 7, 9)), rng.standard_normal((3, 9))
    lengths, dy = random_lengths(rng, 3, 7), rng.standard_normal((3, 7))
    dx64 = ops.cosine_lag_backward(dy, ops.cosine_lag_forward(x, 1, lengths)[1])
    f32 = [a.astype(np.float32) for a in (x, q, dy)]
    dx32 = ops.cosine_lag_backward(f32[2], ops.cosine_lag_forward(f32[0], 1, lengths)[1])
    assert dx32.dtype == np.float32 and rel_error(dx32, dx64) < 1e-5
    dq64, dxq64 = ops.cosine_query_backward(dy, ops.cosine_query_forward(q, x, lengths)[1])
    dq32, dxq32 = ops.cosine_query_backward(
        f32[2], ops.cosine_query_forward(f32[1], f32[0], lengths)[1]
    )
    assert rel_error(dq32, dq64) < 1e-5 and rel_error(dxq32, dxq64) < 1e-5


def test_dy_past_lengths_is_ignored(rng):
    x, q = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 3))
    lengths = np.array([5, 2])
    dy = rng.standard_normal((2, 5))
    dy2 = dy.copy()
    dy2[1, 2:] = 100.0
    dy2[:, 0] = -7.0  # y[:, 0] is 0 for lag 1
    _, c = ops.cosine_lag_forward(x, 1, lengths)
    np.testing.assert_array_equal(ops.cosine_lag_backward(dy, c), ops.cosine_lag_backward(dy2, c))
    dy2[:, 0] = dy[:, 0]
    _, c = ops.cosine_query_forward(q, x, lengths)
    for a, b in zip(ops.cosine_query_backward(dy, c), ops.cosine_query_backward(dy2, c)):
        np.testing.assert_array_equal(a, b)


def test_bad_input(rng):
    x = rng.standard_normal((2, 4, 3))
    q = rng.standard_normal((2, 3))
    with pytest.raises(TypeError, match="x"):
        ops.cosine_lag_forward(x.astype(np.int64))
    with pytest.raises(ValueError, match="x must have shape"):
        ops.cosine_lag_forward(x[0])
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        ops.cosine_lag_forward(x.transpose(1, 0, 2))
    with pytest.raises(ValueError, match="x: empty batch"):
        ops.cosine_lag_forward(x[:0])
    with pytest.raises(ValueError, match="x: no time steps"):
        ops.cosine_lag_forward(np.zeros((2, 0, 3)))
    with pytest.raises(ValueError, match="lag"):
        ops.cosine_lag_forward(x, lag=0)
    with pytest.raises(ValueError, match="eps"):
        ops.cosine_lag_forward(x, eps=0.0)
    with pytest.raises(TypeError, match="eps must be a real number, got None"):
        ops.cosine_lag_forward(x, eps=None)
    with pytest.raises(TypeError, match="eps must be a real number"):
        ops.cosine_query_forward(q, x, eps="x")
    with pytest.raises(TypeError, match="lag must be an integer, got True"):
        ops.cosine_lag_forward(x, lag=True)
    with pytest.raises(ValueError, match="lengths"):
        ops.cosine_lag_forward(x, lengths=[1, 5])
    with pytest.raises(ValueError, match="lengths"):
        ops.cosine_lag_forward(x, lengths=[1, 2, 3])
    with pytest.raises(TypeError, match="lengths"):
        ops.cosine_lag_forward(x, lengths=[1.0, 2.0])
    with pytest.raises(ValueError, match="q must have shape"):
        ops.cosine_query_forward(q[:1], x)
    with pytest.raises(TypeError, match="q must have the dtype of x"):
        ops.cosine_query_forward(q.astype(np.float32), x)
    _, cache = ops.cosine_lag_forward(x)
    with pytest.raises(ValueError, match="dy must have shape"):
        ops.cosine_lag_backward(np.zeros((2, 3)), cache)
    with pytest.raises(TypeError, match="dy must have the dtype"):
        ops.cosine_lag_backward(np.zeros((2, 4), np.float32), cache)
    with pytest.raises(ValueError, match="cosine_lag_forward, not cosine_query_forward"):
        ops.cosine_query_backward(np.zeros((2, 4)), cache)
    with pytest.raises(TypeError, match="cache"):
        ops.cosine_lag_backward(np.zeros((2, 4)), None)


def test_cuda_array_without_device_raises():
    skip_if_cuda_device()
    x = FakeCudaArray((2, 3, 4))
    with pytest.raises(RuntimeError, match="CUDA") as e:
        ops.cosine_lag_forward(x)
    if chronoscale.build_info()["cuda"]:
        assert isinstance(e.value, chronoscale.CudaError)
    with pytest.raises(RuntimeError, match="CUDA"):
        ops.cosine_query_forward(FakeCudaArray((2, 4)), x)


@pytest.mark.torch
def test_torch_parity(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    B, T, D, lag = 3, 8, 16, 2
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    q = rng.standard_normal((B, D)).astype(np.float32)
    w = rng.standard_normal((B, T)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    qt = torch.tensor(q, requires_grad=True)
    yt = F.cosine_similarity(xt[:, lag:], xt[:, :-lag], dim=-1)
    (yt * torch.tensor(w[:, lag:])).sum().backward()
    y, cache = ops.cosine_lag_forward(x, lag)
    assert rel_error(y[:, lag:], yt.detach().numpy()) < 1e-5 and np.all(y[:, :lag] == 0)
    assert rel_error(ops.cosine_lag_backward(w, cache), xt.grad.numpy()) < 1e-4
    xt.grad = None
    yq = F.cosine_similarity(qt[:, None, :], xt, dim=-1)
    (yq * torch.tensor(w)).sum().backward()
    y, cache = ops.cosine_query_forward(q, x)
    assert rel_error(y, yq.detach().numpy()) < 1e-5
    dq, dx = ops.cosine_query_backward(w, cache)
    assert rel_error(dq, qt.grad.numpy()) < 1e-4 and rel_error(dx, xt.grad.numpy()) < 1e-4


@pytest.mark.gpu
@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-4), (np.float64, 1e-10)])
@pytest.mark.parametrize("D", [3, 70, 300])
def test_gpu_matches_cpu(rng, dtype, tol, D):
    import cupy as cp

    B, T, lag = 6, 37, 3
    x = rng.standard_normal((B, T, D)).astype(dtype)
    q = rng.standard_normal((B, D)).astype(dtype)
    dy = rng.standard_normal((B, T)).astype(dtype)
    x[2, 4] = 0.0
    q[1] = 0.0
    lengths = random_lengths(rng, B, T)
    lengths[3] = 0  # an empty sequence: its qnorm must still be written
    xd, qd, dyd = cp.asarray(x), cp.asarray(q), cp.asarray(dy)
    with cp.cuda.Stream(non_blocking=True) as stream:
        y_g, c_g = ops.cosine_lag_forward(xd, lag, lengths)
        dx_g = ops.cosine_lag_backward(dyd, c_g)
        yq_g, cq_g = ops.cosine_query_forward(qd, xd, lengths)
        dq_g, dxq_g = ops.cosine_query_backward(dyd, cq_g)
        stream.synchronize()
    assert isinstance(y_g, cp.ndarray) and isinstance(dxq_g, cp.ndarray)
    y_c, c_c = ops.cosine_lag_forward(x, lag, lengths)
    yq_c, cq_c = ops.cosine_query_forward(q, x, lengths)
    dq_c, dxq_c = ops.cosine_query_backward(dy, cq_c)
    pairs = [
        (y_g, y_c),
        (c_g.xnorm, c_c.xnorm),
        (dx_g, ops.cosine_lag_backward(dy, c_c)),
        (yq_g, yq_c),
        (cq_g.qnorm, cq_c.qnorm),
        (dq_g, dq_c),
        (dxq_g, dxq_c),
    ]
    for gpu, cpu in pairs:
        assert gpu.dtype == dtype
        assert rel_error(cp.asnumpy(gpu), cpu) < tol


@pytest.mark.gpu
def test_gpu_bad_input_raises():
    import cupy as cp

    x = cp.zeros((2, 4, 3), dtype=cp.float32)
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        ops.cosine_lag_forward(x.transpose(1, 0, 2))
    with pytest.raises(ValueError, match="q must be on the device of x"):
        ops.cosine_query_forward(np.zeros((2, 3), np.float32), x)
