"""conv1d: NumPy reference, finite differences, lengths, bad input, torch parity."""

from __future__ import annotations

import numpy as np
import pytest

from chronoscale import ops

from helpers import FakeCudaArray, numeric_grad, random_lengths, rel_error, skip_if_cuda_device


def ref_conv1d(x, w, b, lengths, relu):
    B, T, _ = x.shape
    Cout, _, K = w.shape
    To = T - K + 1
    out_lengths = np.maximum(np.asarray(lengths) - K + 1, 0)
    y = np.zeros((B, To, Cout))
    for i in range(B):
        for t in range(out_lengths[i]):
            acc = np.zeros(Cout) if b is None else b.astype(np.float64).copy()
            for k in range(K):
                acc += w[:, :, k] @ x[i, t + k]
            y[i, t] = np.maximum(acc, 0.0) if relu else acc
    return y, out_lengths


@pytest.mark.parametrize("trial", range(6))
def test_forward_matches_reference(rng, trial):
    B, T = int(rng.integers(1, 5)), int(rng.integers(1, 9))
    Cin, Cout = int(rng.integers(1, 5)), int(rng.integers(1, 6))
    K = [1, T, int(rng.integers(1, T + 1))][trial % 3]
    relu, with_bias = trial % 2 == 0, trial % 3 != 1
    x = rng.standard_normal((B, T, Cin))
    w = rng.standard_normal((Cout, Cin, K))
    b = rng.standard_normal(Cout) if with_bias else None
    lengths = random_lengths(rng, B, T)
    y, out_lengths, _ = ops.conv1d_forward(x, w, b, lengths, relu=relu)
    y_ref, ol_ref = ref_conv1d(x, w, b, lengths, relu)
    assert y.shape == (B, T - K + 1, Cout) and out_lengths.dtype == np.int64
    np.testing.assert_array_equal(out_lengths, ol_ref)
    assert rel_error(y, y_ref) < 1e-12
    f32 = [None if a is None else a.astype(np.float32) for a in (x, w, b)]
    y32, _, _ = ops.conv1d_forward(*f32, lengths, relu=relu)
    assert y32.dtype == np.float32 and rel_error(y32, y) < 1e-5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_passes_nan_through(rng, dtype):
    """A NaN input gives NaN outputs (as torch.relu and np.maximum), never a silent 0, and the
    gradient passes through a NaN output (torch's threshold_backward: zero only where y <= 0)."""
    B, T, Cin, Cout, K = 3, 8, 2, 5, 3
    x = rng.standard_normal((B, T, Cin))
    x[1, 3, 0] = x[2, 0, 1] = np.nan
    w, b = rng.standard_normal((Cout, Cin, K)), rng.standard_normal(Cout)
    lengths = np.array([8, 8, 6])
    y, _, cache = ops.conv1d_forward(*(a.astype(dtype) for a in (x, w, b)), lengths, relu=True)
    ref, _ = ref_conv1d(x, w, b, lengths, True)
    assert np.isnan(ref).sum() == (K + 1) * Cout  # x[1, 3] in 3 windows, x[2, 0] in 1
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5, equal_nan=True)
    dy = rng.standard_normal(y.shape).astype(dtype)
    db = ops.conv1d_backward(dy, cache)[2]
    np.testing.assert_allclose(db, (dy * ~(ref <= 0)).sum(axis=(0, 1)), rtol=1e-5)


def test_default_lengths_and_padding_is_not_seen(rng):
    x = rng.standard_normal((2, 7, 3))
    w = rng.standard_normal((4, 3, 3))
    y, out_lengths, _ = ops.conv1d_forward(x, w)
    np.testing.assert_array_equal(out_lengths, [5, 5])
    assert rel_error(y, ref_conv1d(x, w, None, [7, 7], False)[0]) < 1e-12
    lengths = np.array([7, 4])
    y1, ol, _ = ops.conv1d_forward(x, w, lengths=lengths)
    x2 = x.copy()
    x2[1, 4:] = 1e3  # padded steps must not reach any output
    y2, _, _ = ops.conv1d_forward(x2, w, lengths=lengths)
    np.testing.assert_array_equal(ol, [5, 2])
    np.testing.assert_array_equal(y1, y2)
    assert np.all(y1[1, 2:] == 0.0)
    y3, ol3, _ = ops.conv1d_forward(x, w, lengths=[2, 0])  # shorter than K: no outputs
    np.testing.assert_array_equal(ol3, [0, 0])
    assert np.all(y3 == 0.0)


@pytest.mark.parametrize("relu", [False, True])
def test_backward_matches_finite_differences(rng, relu):
    B, T, Cin, Cout, K = 3, 6, 3, 4, 3
    x = rng.standard_normal((B, T, Cin))
    w = rng.standard_normal((Cout, Cin, K))
    b = rng.standard_normal(Cout)
    lengths = random_lengths(rng, B, T)
    lengths[-1] = K  # exactly one output step
    wts = rng.standard_normal((B, T - K + 1, Cout))

    def loss():
        return float(np.sum(ops.conv1d_forward(x, w, b, lengths, relu)[0] * wts))

    _, _, cache = ops.conv1d_forward(x, w, b, lengths, relu)
    dx, dw, db = ops.conv1d_backward(wts, cache)
    assert rel_error(dx, numeric_grad(loss, x)) < 1e-6
    assert rel_error(dw, numeric_grad(loss, w)) < 1e-6
    assert rel_error(db, numeric_grad(loss, b)) < 1e-6
    if relu:
        assert np.any(cache.y[:, :, :] == 0.0)  # the mask is exercised


def test_backward_float32_matches_float64(rng):
    x = rng.standard_normal((4, 9, 5))
    w = rng.standard_normal((6, 5, 4))
    b = rng.standard_normal(6)
    dy = rng.standard_normal((4, 6, 6))
    lengths = random_lengths(rng, 4, 9)
    g64 = ops.conv1d_backward(dy, ops.conv1d_forward(x, w, b, lengths, True)[2])
    f = [a.astype(np.float32) for a in (x, w, b, dy)]
    g32 = ops.conv1d_backward(f[3], ops.conv1d_forward(f[0], f[1], f[2], lengths, True)[2])
    for a32, a64 in zip(g32, g64):
        assert a32.dtype == np.float32 and rel_error(a32, a64) < 1e-5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_without_input_grad(rng, dtype):
    x = rng.standard_normal((3, 7, 4)).astype(dtype)
    w = rng.standard_normal((5, 4, 3)).astype(dtype)
    dy = rng.standard_normal((3, 5, 5)).astype(dtype)
    cache = ops.conv1d_forward(x, w, None, random_lengths(rng, 3, 7), True)[2]
    full = ops.conv1d_backward(dy, cache)
    dx, dw, db = ops.conv1d_backward(dy, cache, input_grad=False)
    assert dx is None and full[0] is not None
    assert np.array_equal(dw, full[1]) and np.array_equal(db, full[2])


def test_bad_input(rng):
    x = rng.standard_normal((2, 5, 3))
    w = rng.standard_normal((4, 3, 2))
    with pytest.raises(TypeError, match="x"):
        ops.conv1d_forward(x.astype(np.int64), w)
    with pytest.raises(TypeError, match="w must have the dtype of x"):
        ops.conv1d_forward(x, w.astype(np.float32))
    with pytest.raises(ValueError, match="w must have shape"):
        ops.conv1d_forward(x, rng.standard_normal((4, 2, 2)))
    with pytest.raises(ValueError, match="w: kernel size K = 6"):
        ops.conv1d_forward(x, rng.standard_normal((4, 3, 6)))
    with pytest.raises(ValueError, match="b must have shape"):
        ops.conv1d_forward(x, w, np.zeros(3))
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        ops.conv1d_forward(np.asfortranarray(x), w)
    with pytest.raises(ValueError, match="x: empty batch"):
        ops.conv1d_forward(x[:0], w)
    with pytest.raises(ValueError, match="x: no time steps"):
        ops.conv1d_forward(x[:, :0], w)
    with pytest.raises(ValueError, match="lengths"):
        ops.conv1d_forward(x, w, lengths=[6, 1])
    _, _, cache = ops.conv1d_forward(x, w, relu=True)
    with pytest.raises(ValueError, match="dy must have shape"):
        ops.conv1d_backward(np.zeros((2, 5, 4)), cache)
    with pytest.raises(TypeError, match="cache"):
        ops.conv1d_backward(np.zeros((2, 4, 4)), object())


def test_cuda_array_raises_without_crash():
    skip_if_cuda_device()
    with pytest.raises(RuntimeError, match="CUDA"):
        ops.conv1d_forward(FakeCudaArray((2, 5, 3)), FakeCudaArray((4, 3, 2)))


@pytest.mark.torch
@pytest.mark.parametrize("relu", [False, True])
def test_torch_parity(rng, relu):
    torch = pytest.importorskip("torch")
    B, T, Cin, Cout, K = 3, 12, 5, 7, 4
    conv = torch.nn.Conv1d(Cin, Cout, K)
    x = rng.standard_normal((B, T, Cin)).astype(np.float32)
    wts = rng.standard_normal((B, T - K + 1, Cout)).astype(np.float32)
    xt = torch.tensor(x.transpose(0, 2, 1).copy(), requires_grad=True)  # torch is [B, C, T]
    yt = conv(xt)
    if relu:
        yt = torch.relu(yt)
    (yt * torch.tensor(wts.transpose(0, 2, 1).copy())).sum().backward()
    w = conv.weight.detach().numpy()
    b = conv.bias.detach().numpy()
    y, _, cache = ops.conv1d_forward(x, w, b, relu=relu)
    assert rel_error(y, yt.detach().numpy().transpose(0, 2, 1)) < 1e-5
    dx, dw, db = ops.conv1d_backward(wts, cache)
    assert rel_error(dx, xt.grad.numpy().transpose(0, 2, 1)) < 1e-4
    assert rel_error(dw, conv.weight.grad.numpy()) < 1e-4
    assert rel_error(db, conv.bias.grad.numpy()) < 1e-4
