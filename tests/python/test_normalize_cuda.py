"""CUDA row normalisation against the CPU op: random rows (zero rows, a large norm floor),
float32 and float64, forward and backward, CuPy outputs. Skipped without a CUDA build, a device
and CuPy."""

from __future__ import annotations

import numpy as np
import pytest
from test_normalize import random_rows
from train_gpu import cp, to_gpu

from chronoscale import ops

from helpers import rel_error

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,D,eps", [(1, 1, 1e-8), (3706, 64, 1e-8), (5000, 129, 0.5)])
def test_matches_cpu(rng, dtype, N, D, eps):
    x = random_rows(rng, N, D, dtype)
    dy = rng.standard_normal((N, D)).astype(dtype)
    want_y, want_n = ops.normalize_forward(x, eps)
    want_dx = ops.normalize_backward(dy, want_y, want_n, eps)
    y, n = ops.normalize_forward(to_gpu(x), eps)
    assert isinstance(y, cp().ndarray) and isinstance(n, cp().ndarray)
    dx = ops.normalize_backward(to_gpu(dy), y, n, eps)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    assert rel_error(cp().asnumpy(y), want_y) < tol
    assert rel_error(cp().asnumpy(n), want_n) < tol
    assert rel_error(cp().asnumpy(dx), want_dx) < 10 * tol
