"""embedding: NumPy reference, sparse/dense gradients, finite differences, ids handling, torch."""

from __future__ import annotations

import numpy as np
import pytest

import chronoscale
from chronoscale import ops

from helpers import FakeCudaArray, numeric_grad, random_lengths, rel_error, skip_if_cuda_device


def _valid_mask(lengths, T):
    return np.arange(T)[None, :] < np.asarray(lengths)[:, None]


def _random_case(rng, B=None, T=None, V=None, D=None):
    B = B or int(rng.integers(1, 5))
    T = T or int(rng.integers(1, 9))
    V = V or int(rng.integers(1, 12))
    D = D or int(rng.integers(1, 7))
    lengths = random_lengths(rng, B, T)
    ids = rng.integers(0, V, size=(B, T))
    ids[~_valid_mask(lengths, T)] = -12345  # padding ids are never used as indices
    return ids, rng.standard_normal((V, D)), lengths


def ref_dense_grad(dy, ids, lengths, V):
    g = np.zeros((V, dy.shape[-1]))
    m = _valid_mask(lengths, ids.shape[1])
    np.add.at(g, ids[m], dy[m])
    return g


@pytest.mark.parametrize("trial", range(4))
def test_forward_matches_reference(rng, trial):
    ids, table, lengths = _random_case(rng)
    y, _ = ops.embedding_forward(ids, table, lengths)
    m = _valid_mask(lengths, ids.shape[1])
    ref = np.zeros(ids.shape + (table.shape[1],))
    ref[m] = table[ids[m]]
    np.testing.assert_array_equal(y, ref)
    y32, _ = ops.embedding_forward(ids, table.astype(np.float32), lengths)
    assert y32.dtype == np.float32 and rel_error(y32, y) < 1e-7


@pytest.mark.parametrize("trial", range(4))
def test_backward_sparse_and_dense_match_reference(rng, trial):
    ids, table, lengths = _random_case(rng, V=int(rng.integers(3, 30)))
    V, D = table.shape
    dy = rng.standard_normal(ids.shape + (D,))
    _, cache = ops.embedding_forward(ids, table, lengths)
    rows, grad = ops.embedding_backward(dy, cache)
    dense = ops.embedding_backward(dy, cache, sparse=False)
    ref = ref_dense_grad(dy, ids, lengths, V)
    expect_rows = np.unique(ids[_valid_mask(lengths, ids.shape[1])])
    assert rows.dtype == np.int64
    np.testing.assert_array_equal(rows, expect_rows)
    assert grad.shape == (rows.size, D) and rel_error(grad, ref[rows]) < 1e-12
    assert dense.shape == (V, D) and rel_error(dense, ref) < 1e-12
    untouched = np.setdiff1d(np.arange(V), rows)
    assert np.all(dense[untouched] == 0.0)


def test_backward_matches_finite_differences(rng):
    ids, table, lengths = _random_case(rng, B=3, T=6, V=5, D=4)
    ids[0, :3] = 2  # repeated ids: their gradients add up
    w = rng.standard_normal(ids.shape + (4,))

    def loss():
        return float(np.sum(ops.embedding_forward(ids, table, lengths)[0] * w))

    _, cache = ops.embedding_forward(ids, table, lengths)
    dense = ops.embedding_backward(w, cache, sparse=False)
    assert rel_error(dense, numeric_grad(loss, table)) < 1e-6


def test_float32_gradient_matches_float64(rng):
    ids, table, lengths = _random_case(rng, B=4, T=8, V=6, D=5)
    dy = rng.standard_normal(ids.shape + (5,))
    _, c64 = ops.embedding_forward(ids, table, lengths)
    _, c32 = ops.embedding_forward(ids, table.astype(np.float32), lengths)
    r64, g64 = ops.embedding_backward(dy, c64)
    r32, g32 = ops.embedding_backward(dy.astype(np.float32), c32)
    np.testing.assert_array_equal(r32, r64)
    assert g32.dtype == np.float32 and rel_error(g32, g64) < 1e-5


def test_deterministic_across_thread_counts(rng):
    B, T, V, D = 64, 200, 7, 16  # many repeats per id, enough work to go parallel
    ids = rng.integers(0, V, size=(B, T))
    table = rng.standard_normal((V, D)).astype(np.float32)
    dy = rng.standard_normal((B, T, D)).astype(np.float32)
    _, cache = ops.embedding_forward(ids, table)
    before = chronoscale.get_num_threads()
    try:
        chronoscale.set_num_threads(1)
        one = ops.embedding_backward(dy, cache)[1]
        chronoscale.set_num_threads(max(2, before))
        many = ops.embedding_backward(dy, cache)[1]
    finally:
        chronoscale.set_num_threads(before)
    np.testing.assert_array_equal(one, many)


def test_empty_lengths_give_no_rows(rng):
    table = rng.standard_normal((4, 3))
    ids = np.full((2, 5), 99)  # all padding: never checked against V
    y, cache = ops.embedding_forward(ids, table, lengths=[0, 0])
    assert np.all(y == 0.0)
    rows, grad = ops.embedding_backward(rng.standard_normal((2, 5, 3)), cache)
    assert rows.shape == (0,) and grad.shape == (0, 3)


@pytest.mark.parametrize("dtype", [np.int32, np.int16, np.uint8, np.uint64])
def test_any_integer_ids_dtype(rng, dtype):
    table = rng.standard_normal((6, 3))
    ids = rng.integers(0, 6, size=(2, 4))
    y, cache = ops.embedding_forward(ids.astype(dtype), table)
    np.testing.assert_array_equal(y, table[ids])
    assert cache.ids.dtype == np.int64
    y_list, _ = ops.embedding_forward(ids.tolist(), table)
    np.testing.assert_array_equal(y_list, y)


def test_bad_input(rng):
    table = rng.standard_normal((5, 3))
    ids = rng.integers(0, 5, size=(2, 4))
    with pytest.raises(TypeError, match="ids must hold integers"):
        ops.embedding_forward(ids.astype(np.float64), table)
    with pytest.raises(TypeError, match="ids must hold integers"):
        ops.embedding_forward(ids > 2, table)
    with pytest.raises(TypeError, match="table"):
        ops.embedding_forward(ids, table.astype(np.int64))
    bad = ids.copy()
    bad[1, 2] = 17
    bad[1, 3] = -1
    with pytest.raises(ValueError, match=r"ids\[1, 2\] = 17 is out of range .* V = 5"):
        ops.embedding_forward(bad, table)
    with pytest.raises(ValueError, match=r"ids\[1, 3\] = -1"):
        ops.embedding_forward(np.where(bad == 17, 0, bad), table)
    y, _ = ops.embedding_forward(bad, table, lengths=[4, 2])  # bad ids only in the padding
    assert np.all(y[1, 2:] == 0.0)
    with pytest.raises(ValueError, match="ids holds values above the int64 range"):
        ops.embedding_forward(np.array([[2**63]], dtype=np.uint64), table)
    with pytest.raises(ValueError, match="ids must have shape"):
        ops.embedding_forward(ids[0], table)
    with pytest.raises(ValueError, match="ids must be C-contiguous"):
        ops.embedding_forward(np.asfortranarray(ids), table)
    with pytest.raises(ValueError, match="table must have shape"):
        ops.embedding_forward(ids, table[0])
    with pytest.raises(ValueError, match="table must be C-contiguous"):
        ops.embedding_forward(ids, np.asfortranarray(table))
    with pytest.raises(ValueError, match="ids: empty batch"):
        ops.embedding_forward(ids[:0], table)
    with pytest.raises(ValueError, match="ids: no time steps"):
        ops.embedding_forward(ids[:, :0], table)
    with pytest.raises(ValueError, match="lengths"):
        ops.embedding_forward(ids, table, lengths=[5, 1])
    _, cache = ops.embedding_forward(ids, table)
    with pytest.raises(ValueError, match="dy must have shape"):
        ops.embedding_backward(np.zeros((2, 4, 2)), cache)
    with pytest.raises(TypeError, match="dy must have the dtype of table"):
        ops.embedding_backward(np.zeros((2, 4, 3), np.float32), cache, sparse=False)
    with pytest.raises(TypeError, match="cache"):
        ops.embedding_backward(np.zeros((2, 4, 3)), None)


def test_cuda_array_raises_without_crash(rng):
    skip_if_cuda_device()
    # The id range check reads ids on the host: the device check must come first.
    with pytest.raises(RuntimeError, match="CUDA"):
        ops.embedding_forward(FakeCudaArray((2, 4), "<i8"), rng.standard_normal((5, 3)))


@pytest.mark.torch
def test_torch_parity(rng):
    torch = pytest.importorskip("torch")
    ids, table, lengths = _random_case(rng, B=4, T=9, V=11, D=6)
    table = table.astype(np.float32)
    w = rng.standard_normal(ids.shape + (6,)).astype(np.float32)
    mask = torch.tensor(_valid_mask(lengths, 9)[..., None].astype(np.float32))
    tt = torch.tensor(table, requires_grad=True)
    yt = torch.nn.functional.embedding(torch.tensor(np.where(ids < 0, 0, ids)), tt) * mask
    (yt * torch.tensor(w)).sum().backward()
    y, cache = ops.embedding_forward(ids, table, lengths)
    assert rel_error(y, yt.detach().numpy()) < 1e-6
    assert rel_error(ops.embedding_backward(w, cache, sparse=False), tt.grad.numpy()) < 1e-4
    rows, grad = ops.embedding_backward(w, cache)
    assert rel_error(grad, tt.grad.numpy()[rows]) < 1e-4
