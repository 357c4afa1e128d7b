"""ops.adam_step_many (one native Adam call over many parameters): bit-identical to adam_step on
each parameter (per-parameter steps, Adam and AdamW, both dtypes, a large model on the parallel
path), errors name the list and index and leave every array untouched; nn.Adam uses it."""

from __future__ import annotations

import numpy as np
import pytest

from chronoscale import nn, ops


def _arrays(rng, shapes, dtype):
    p = [rng.standard_normal(s).astype(dtype) for s in shapes]
    g = [rng.standard_normal(s).astype(dtype) for s in shapes]
    m = [0.1 * rng.standard_normal(s).astype(dtype) for s in shapes]
    v = [np.abs(rng.standard_normal(s)).astype(dtype) for s in shapes]
    return p, g, m, v


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("decoupled", [False, True])
def test_equals_adam_step_per_parameter(rng, dtype, decoupled):
    for shapes in ([(3, 4), (7,), (2, 3, 5), (1,)], [(300, 500), (9000,), (11,)]):
        p, g, m, v = _arrays(rng, shapes, dtype)
        ref = [[a.copy() for a in arrs] for arrs in (p, m, v)]
        steps = [int(s) for s in rng.integers(1, 50, len(shapes))]
        hyper = dict(lr=3e-3, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.01,
                     decoupled=decoupled)
        ops.adam_step_many(p, g, m, v, steps, **hyper)
        for i in range(len(shapes)):
            ops.adam_step(ref[0][i], g[i], ref[1][i], ref[2][i], steps[i], **hyper)
            np.testing.assert_array_equal(p[i], ref[0][i])
            np.testing.assert_array_equal(m[i], ref[1][i])
            np.testing.assert_array_equal(v[i], ref[2][i])
    p, g, m, v = _arrays(rng, [(4,), (5,)], dtype)
    before = p[1].copy()
    ops.adam_step_many(p, g, m, v, 3, lr=1e-2)  # one int step for all
    assert not np.array_equal(p[1], before)
    ops.adam_step_many([], [], [], [], [], lr=1e-3)  # nothing to do


def test_errors_name_the_entry_and_update_nothing(rng):
    p, g, m, v = _arrays(rng, [(3, 4), (5,)], np.float32)
    snapshot = [a.copy() for a in p + m + v]

    def untouched():
        for a, b in zip(p + m + v, snapshot, strict=True):
            np.testing.assert_array_equal(a, b)

    with pytest.raises(ValueError, match=r"grads\[1\] must have the shape of params\[1\]"):
        ops.adam_step_many(p, [g[0], g[1][:4].copy()], m, v, 1, lr=1e-3)
    untouched()
    with pytest.raises(TypeError, match=r"v\[1\]"):
        ops.adam_step_many(p, g, m, [v[0], v[1].astype(np.float64)], 1, lr=1e-3)
    with pytest.raises(TypeError, match=r"params\[1\] must have the dtype of params\[0\]"):
        ops.adam_step_many([p[0], p[1].astype(np.float64)], g, m, v, 1, lr=1e-3)
    with pytest.raises(ValueError, match="same length"):
        ops.adam_step_many(p, g[:1], m, v, 1, lr=1e-3)
    with pytest.raises(ValueError, match=r"steps\[1\] must be >= 1"):
        ops.adam_step_many(p, g, m, v, [1, 0], lr=1e-3)
    with pytest.raises(TypeError, match=r"steps\[1\] must be an integer"):
        ops.adam_step_many(p, g, m, v, [1, 1.5], lr=1e-3)
    with pytest.raises(ValueError, match=r"params\[0\] and m\[0\] must be different"):
        ops.adam_step_many(p, g, [p[0], m[1]], v, 1, lr=1e-3)
    with pytest.raises(ValueError, match="beta1"):
        ops.adam_step_many(p, g, m, v, 1, lr=1e-3, beta1=1.0)
    with pytest.raises(ValueError, match=r"steps\[1\] must be in \[1, 2\*\*63\)"):
        ops.adam_step_many(p, g, m, v, [1, 2**70], lr=1e-3)
    # Memory shared across entries: the same param twice, a state shared by two params, a
    # param that another entry reads as its grad (nothing is updated).
    q, gq, mq, vq = _arrays(rng, [(4,), (4,)], np.float32)
    q_before = [a.copy() for a in q]
    with pytest.raises(ValueError, match=r"params\[1\] and params\[0\] share memory"):
        ops.adam_step_many([q[0], q[0]], gq, mq, vq, 1, lr=1e-3)
    with pytest.raises(ValueError, match=r"m\[1\] and m\[0\] share memory"):
        ops.adam_step_many(q, gq, [mq[0], mq[0]], vq, 1, lr=1e-3)
    with pytest.raises(ValueError, match=r"grads\[1\] and params\[0\] share memory"):
        ops.adam_step_many(q, [gq[0], q[0]], mq, vq, 1, lr=1e-3)
    for a, b in zip(q, q_before, strict=True):
        np.testing.assert_array_equal(a, b)
    frozen = p[1].copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match=r"params\[1\] must be writable"):
        ops.adam_step_many([p[0], frozen], g, m, v, 1, lr=1e-3)
    with pytest.raises(ValueError, match=r"m\[0\] must be C-contiguous"):
        ops.adam_step_many(p, g, [np.zeros((4, 3), np.float32).T, m[1]], v, 1, lr=1e-3)
    untouched()


def test_nn_adam_fused_equals_per_parameter(rng):
    net = nn.Sequential([nn.Conv1d(4, 2, activation="relu"), nn.LSTM(3),
                         nn.Dense(1)]).build(2, rng=0)
    twin = nn.Sequential([nn.Conv1d(4, 2, activation="relu"), nn.LSTM(3),
                          nn.Dense(1)]).build(2, rng=0)
    fused = nn.Adam(net.parameters(), lr=1e-2, weight_decay=1e-3)
    single = nn.Adam(twin.parameters(), lr=1e-2, weight_decay=1e-3)
    single._update_many = lambda items: nn.Optimizer._update_many(single, items)
    x = rng.standard_normal((6, 5, 2)).astype(np.float32)
    y = rng.standard_normal((6, 1)).astype(np.float32)
    for _ in range(3):
        for model, opt in ((net, fused), (twin, single)):
            opt.zero_grad()
            model.backward(nn.losses.mse(model.forward(x, training=True), y)[1])
            opt.step()
    for (k, a), b in zip(net.state_dict().items(), twin.state_dict().values(), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=k)
    assert fused.state_dict()["steps"] == [3] * len(net.parameters())
