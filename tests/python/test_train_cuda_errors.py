"""CUDA arrays given to the training ops (conv1d, linear, dropout, optimisers, losses) raise a
clear error -- never a crash -- where they cannot run: a build without CUDA (Unsupported, naming
the rebuild) or a machine without a device (CudaError). The pointers are never touched."""

from __future__ import annotations

import numpy as np
import pytest

import chronoscale
from chronoscale import ops

from helpers import FakeCudaArray as Fake
from helpers import skip_if_cuda_device

CALLS = {
    "conv1d": lambda: ops.conv1d_forward(Fake((2, 5, 3)), Fake((4, 3, 2))),
    "linear": lambda: ops.linear_forward(Fake((6, 3)), Fake((4, 3))),
    "linear_backward": lambda: ops.linear_backward(
        Fake((6, 4)), ops.LinearCache(Fake((6, 3)), Fake((4, 3)), None, "none", None)
    ),
    "dropout": lambda: ops.dropout_forward(Fake((8,)), 0.5, 1),
    "adam_step": lambda: ops.adam_step(Fake((3,)), Fake((3,)), Fake((3,)), Fake((3,)), 1, 0.1),
    "adam_step_many": lambda: ops.adam_step_many(
        [Fake((3,))], [Fake((3,))], [Fake((3,))], [Fake((3,))], 1, 0.1
    ),
    "adam_step_rows": lambda: ops.adam_step_rows(
        Fake((5, 2)), [1], Fake((1, 2)), Fake((5, 2)), Fake((5, 2)), 1, 0.1
    ),
    "sgd_step": lambda: ops.sgd_step(Fake((3,)), Fake((3,)), None, 0.1),
    "clip_grad_norm": lambda: ops.clip_grad_norm([Fake((3,))], 1.0),
    "mse_loss": lambda: ops.mse_loss(Fake((4,)), Fake((4,))),
    "softmax_cross_entropy": lambda: ops.softmax_cross_entropy(Fake((2, 3)), np.array([0, 1])),
    "sampled_softmax_loss": lambda: ops.sampled_softmax_loss(
        Fake((2, 3)), Fake((5, 3)), np.array([0, 1]), 2, 0
    ),
}


@pytest.mark.parametrize("op", list(CALLS))
def test_cuda_array_raises_without_device(op):
    skip_if_cuda_device()
    with pytest.raises(RuntimeError, match="CUDA") as e:
        CALLS[op]()
    if chronoscale.build_info()["cuda"]:
        assert isinstance(e.value, chronoscale.CudaError)
    else:
        assert "built without CUDA" in str(e.value)
