"""chronoscale.nn optimisers (dense and sparse rows, clipping, state) and loss wrappers,
against float64 NumPy references of the update rules."""

from __future__ import annotations

import numpy as np
import pytest

from chronoscale import nn, ops

from helpers import rel_error


def _adam_ref(p, grads, lr, b1, b2, eps, wd=0.0, decoupled=False):
    p = p.copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        if wd and decoupled:
            p = p * (1 - lr * wd)
        elif wd:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return p


def _sgd_ref(p, grads, lr, momentum, nesterov, wd):
    p = p.copy()
    buf = None
    for g in grads:
        g = g + wd * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def _run(opt_factory, p0, grads):
    p = nn.Parameter(p0.copy())
    opt = opt_factory([p])
    for g in grads:
        opt.zero_grad()
        p.accumulate(g)
        opt.step()
    return p.data, opt


@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_and_adamw_match_reference(rng, decoupled):
    p0 = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(5)]
    cls = nn.AdamW if decoupled else nn.Adam
    got, opt = _run(lambda ps: cls(ps, lr=0.01, weight_decay=0.1), p0, grads)
    ref = _adam_ref(p0, grads, 0.01, 0.9, 0.999, 1e-7, 0.1, decoupled)
    assert rel_error(got, ref) < 1e-12
    assert opt.iterations == 5


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_matches_reference(rng, momentum, nesterov):
    p0 = rng.standard_normal(6)
    grads = [rng.standard_normal(6) for _ in range(4)]
    got, _ = _run(lambda ps: nn.SGD(ps, lr=0.1, momentum=momentum, nesterov=nesterov,
                                    weight_decay=0.01), p0, grads)
    assert rel_error(got, _sgd_ref(p0, grads, 0.1, momentum, nesterov, 0.01)) < 1e-12


@pytest.mark.parametrize("cls", [nn.Adam, nn.SGD])
def test_sparse_rows_only_move_touched_rows(rng, cls):
    V, D = 8, 3
    p0 = rng.standard_normal((V, D))
    sparse = nn.Parameter(p0.copy())
    dense = nn.Parameter(p0.copy())
    kw = {"lr": 0.05} if cls is nn.Adam else {"lr": 0.05, "momentum": 0.9}
    opt_s, opt_d = cls([sparse], **kw), cls([dense], **kw)
    rows = np.array([1, 4, 6])
    g = rng.standard_normal((3, D))
    sparse.accumulate_rows(rows, g)
    full = np.zeros((V, D))
    full[rows] = g
    dense.accumulate(full)
    opt_s.step()
    opt_d.step()
    untouched = np.setdiff1d(np.arange(V), rows)
    np.testing.assert_array_equal(sparse.data[untouched], p0[untouched])
    assert rel_error(sparse.data[rows], dense.data[rows]) < 1e-12
    assert np.abs(sparse.data[rows] - p0[rows]).min() > 0


def test_clip_grad_norm_global(rng):
    a = nn.Parameter(np.zeros(3))
    b = nn.Parameter(np.zeros((4, 2)))
    ga, gb = rng.standard_normal(3), rng.standard_normal((4, 2))
    a.accumulate(ga)
    b.accumulate_rows(np.array([2]), gb[:1])
    total = np.sqrt(np.sum(ga**2) + np.sum(gb[:1] ** 2))
    norm = nn.clip_grad_norm([a, b], max_norm=0.5)
    assert abs(norm - total) < 1e-12
    after = np.sqrt(np.sum(a.grad**2) + np.sum(b.grad_rows**2))
    assert abs(after - 0.5) < 1e-5
    np.testing.assert_allclose(a.grad / ga, 0.5 / total, rtol=1e-5)
    np.testing.assert_allclose(b.grad_rows / gb[:1], 0.5 / total, rtol=1e-5)


def test_optimizer_state_dict_roundtrip_and_frozen(rng):
    p0 = rng.standard_normal((3, 2))
    grads = [rng.standard_normal((3, 2)) for _ in range(4)]
    straight, _ = _run(lambda ps: nn.Adam(ps, lr=0.1), p0, grads)
    mid, opt = _run(lambda ps: nn.Adam(ps, lr=0.1), p0, grads[:2])
    state = {k: (np.copy(v) if isinstance(v, np.ndarray) else v)
             for k, v in opt.state_dict().items()}
    q = nn.Parameter(mid.copy())
    opt2 = nn.Adam([q], lr=0.1)
    opt2.load_state_dict(state)
    for g in grads[2:]:
        opt2.zero_grad()
        q.accumulate(g)
        opt2.step()
    np.testing.assert_array_equal(q.data, straight)

    frozen = nn.Parameter(p0.copy(), trainable=False)
    opt3 = nn.SGD([frozen], lr=1.0)
    frozen.accumulate(grads[0])
    opt3.step()
    np.testing.assert_array_equal(frozen.data, p0)
    with pytest.raises(ValueError, match="parameters"):
        nn.Adam([], lr=0.1)
    with pytest.raises(ValueError, match="nesterov"):
        nn.SGD([q], nesterov=True)
    with pytest.raises(ValueError, match="optimizer state"):
        opt2.load_state_dict({"iterations": 1, "steps": [1, 1]})


@pytest.mark.parametrize("name", sorted(nn.losses.LOSSES))
def test_named_losses_equal_the_ops_with_and_without_weights(rng, name):
    """Each named loss (nn.losses.<name> and the per-batch form fit runs, for_fit(name)) gives
    the op's loss and gradient, weights ([B] spread over a [B, 2] prediction) included."""
    pred = rng.standard_normal((6, 2))
    target = rng.random((6, 2))
    w = rng.random(6) + 0.5
    op = {"mse": ops.mse_loss, "mae": ops.mae_loss, "huber": ops.huber_loss,
          "bce_with_logits": ops.bce_with_logits_loss}[name]
    for weights in (None, w):
        want = op(pred, target, weights=None if weights is None else
                  np.repeat(weights[:, None], 2, axis=1))
        for fn in (nn.losses.get(name), nn.losses.for_fit(name)):
            loss, d = fn(pred, target, weights=weights)
            assert isinstance(loss, float) and loss == want[0]
            np.testing.assert_array_equal(d, want[1])
    X = rng.standard_normal((16, 4, 3)).astype(np.float32)
    y = rng.random((16, 1))
    net = nn.Sequential([nn.LSTM(3), nn.Dense(1)]).build(3, np.random.default_rng(0), "float32")
    hist = nn.fit(net, X, y, optimizer=nn.Adam(net.parameters()), loss=name, epochs=2,
                  batch_size=8, verbose=0, sample_weight=rng.random(16) + 0.1)
    assert len(hist["loss"]) == 2 and all(np.isfinite(hist["loss"]))


def test_loss_wrappers(rng):
    pred = rng.random((5, 1))
    target = rng.random(5)  # [B] target for a [B, 1] prediction
    loss, d = nn.losses.mse(pred, target)
    diff = pred[:, 0] - target
    assert abs(loss - np.mean(diff**2)) < 1e-12
    assert d.shape == pred.shape and rel_error(d[:, 0], 2 * diff / 5) < 1e-12
    w = rng.random(5)
    loss_w, _ = nn.losses.mse(pred, target, weights=w)
    assert abs(loss_w - np.mean(w * diff**2)) < 1e-12
    loss, d = nn.losses.mae(pred, target)
    assert abs(loss - np.mean(np.abs(diff))) < 1e-12
    loss, _ = nn.losses.bce_with_logits(pred, (target > 0.5).astype(float))
    assert loss > 0
    logits = rng.standard_normal((4, 6))
    ids = np.array([0, 5, 2, -1])
    loss, d = nn.losses.softmax_cross_entropy(logits, ids)
    lsm = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert abs(loss + np.mean(lsm[[0, 1, 2], [0, 5, 2]])) < 1e-12
    assert nn.losses.get("huber") is nn.losses.huber
    with pytest.raises(ValueError, match="target"):
        nn.losses.mse(pred, np.zeros(4))
    with pytest.raises(ValueError, match="unknown loss"):
        nn.losses.get("hinge")
