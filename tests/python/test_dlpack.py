"""Arrays that only speak DLPack (here: torch CPU tensors, which have no
``__cuda_array_interface__`` and are not NumPy arrays) are read in place by every op: results
equal the NumPy ones, in-place updates land in the caller's tensor, and bad layouts or dtypes
raise the usual errors."""

from __future__ import annotations

import numpy as np
import pytest

from chronoscale import ops

from helpers import random_lengths

torch = pytest.importorskip("torch")


def test_recurrent_forward_backward_from_torch_tensors(rng):
    B, T, I, H = 4, 7, 3, 5
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    w_ih = rng.standard_normal((4 * H, I)).astype(np.float32) * 0.3
    w_hh = rng.standard_normal((4 * H, H)).astype(np.float32) * 0.3
    L = random_lengths(rng, B, T)
    want = ops.lstm_forward(x, w_ih, w_hh, lengths=L)
    got = ops.lstm_forward(*(torch.from_numpy(a) for a in (x, w_ih, w_hh)), lengths=L)
    for a, b in zip(got[:3], want[:3]):
        assert isinstance(a, np.ndarray) and np.array_equal(a, b)
    dy = np.ones_like(want[0])
    g_want = ops.lstm_backward(dy, None, None, want[3])
    g_got = ops.lstm_backward(torch.from_numpy(dy), None, None, got[3])
    for a, b in zip(g_got, g_want):
        assert (a is None and b is None) or np.array_equal(a, b)


def test_in_place_update_reaches_the_tensor(rng):
    p = rng.standard_normal(10)
    g, m, v = rng.standard_normal(10), np.zeros(10), np.zeros(10)
    want = p.copy()
    ops.adam_step(want, g, m.copy(), v.copy(), 1, 0.1)
    pt, mt, vt = torch.from_numpy(p.copy()), torch.zeros(10, dtype=torch.float64), \
        torch.zeros(10, dtype=torch.float64)
    ops.adam_step(pt, torch.from_numpy(g), mt, vt, 1, 0.1)
    assert np.array_equal(pt.numpy(), want) and mt.abs().sum() > 0


def test_bad_dlpack_inputs(rng):
    x = torch.from_numpy(rng.standard_normal((4, 6, 3)).astype(np.float32))
    w_ih, w_hh = torch.zeros(20, 3), torch.zeros(20, 5)
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        ops.lstm_forward(x.transpose(0, 1), w_ih, w_hh)
    with pytest.raises(TypeError, match="x has unsupported DLPack dtype"):
        ops.lstm_forward(x.half(), w_ih, w_hh)
    with pytest.raises(TypeError, match="must be a NumPy array"):
        ops.lstm_forward([[[1.0]]], w_ih, w_hh)
