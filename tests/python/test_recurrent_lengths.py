"""Variable lengths in the CPU recurrent driver: rows are stepped longest first (a permutation of
the batch), the big GEMMs run over the valid steps only (packed), and the cache / outputs past
each length keep their contract. Checked on every thread plan (serial, rows, units) against the
float64 reference, against per-row runs, under batch permutations, and with all lengths 0."""

from __future__ import annotations

import numpy as np
import pytest
from test_recurrent import backward, forward, forward_checked, make, reference

import chronoscale

from helpers import rel_error

CELLS = ["lstm", "gru", "rnn_tanh"]
# (B, T, I, H, threads): serial; threads over rows (work above the threading threshold even with
# the skewed lengths); threads over hidden units (B < threads).
PATHS = {
    "serial": (7, 9, 5, 13, 1),
    "rows": (37, 60, 6, 48, 2),
    "units": (3, 6, 4, 524, 2),
}


@pytest.fixture
def threads():
    old = chronoscale.get_num_threads()
    yield chronoscale.set_num_threads
    chronoscale.set_num_threads(old)


def skewed_lengths(rng, B, T, zero=True):
    """Mostly short sequences (geometric, mean ~T/4) with 1 and T, and 0 when allowed."""
    lengths = np.minimum(rng.geometric(4.0 / T, size=B), T).astype(np.int64)
    lengths[0] = T
    if B >= 2:
        lengths[-1] = 1
    if B >= 3 and zero:
        lengths[1] = 0
    return lengths


def loss_grads(cell, p, lengths, wy, wh):
    y, h, c, cache = forward(cell, p, lengths)
    return (y * wy).sum() + (h * wh).sum(), backward(cell, wy, wh, None, cache)


def names(cell):
    return ["x", "w_ih", "w_hh", "b_ih", "b_hh", "h0"] + (["c0"] if cell == "lstm" else [])



def check_directional(rng, cell, p, lengths, wy, wh, which, grads, eps=1e-6):
    """Central differences along a random direction per input named in ``which`` agree with
    the analytic ``grads`` (float64)."""
    for name, g in zip(which, grads):
        v = rng.standard_normal(p[name].shape)
        base = p[name]
        p[name] = base + eps * v
        lp = loss_grads(cell, p, lengths, wy, wh)[0]
        p[name] = base - eps * v
        lm = loss_grads(cell, p, lengths, wy, wh)[0]
        p[name] = base
        num, ana = (lp - lm) / (2 * eps), float((g * v).sum())
        assert abs(num - ana) <= 1e-6 * max(abs(num), abs(ana), 1.0), (name, num, ana)

@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("path", list(PATHS))
def test_outputs_and_cache_past_lengths(cell, path, rng, threads):
    B, T, I, H, n = PATHS[path]
    threads(n)
    p = make(rng, cell, B, T, I, H)
    lengths = skewed_lengths(rng, B, T)
    y, h_n, c_n, cache = forward_checked(cell, p, lengths, 1e-11)
    for b, L in enumerate(lengths):
        assert not y[b, L:].any()
        # hprev[b, t]: the state entering step t, carried unchanged past the length.
        np.testing.assert_array_equal(cache.hprev[b, 0], p["h0"][b])
        np.testing.assert_array_equal(cache.hprev[b, 1 : L + 1], y[b, : min(L, T - 1)])
        if L + 1 < T:
            carried = np.broadcast_to(h_n[b], (T - L - 1, H))
            np.testing.assert_array_equal(cache.hprev[b, L + 1 :], carried)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("path", list(PATHS))
def test_padded_batch_equals_rows_run_alone(cell, path, rng, threads):
    """Each row of a padded batch gives what it gives alone, cut to its length; the weight
    gradients are the sums over rows; gradients past a length are zero."""
    B, T, I, H, n = PATHS[path]
    threads(n)
    p = make(rng, cell, B, T, I, H)
    lengths = skewed_lengths(rng, B, T)
    wy, wh = rng.standard_normal((B, T, H)), rng.standard_normal((B, H))
    _, grads = loss_grads(cell, p, lengths, wy, wh)
    y, h_n, _, _ = forward(cell, p, lengths)
    per_weight = {k: np.zeros_like(p[k]) for k in ("w_ih", "w_hh", "b_ih", "b_hh")}
    for b, L in enumerate(lengths):
        if L == 0:
            np.testing.assert_array_equal(grads[5][b], wh[b])  # dh0 = dh_n
            continue
        q = dict(p)
        q["x"] = p["x"][b : b + 1, :L].copy()
        q["h0"] = p["h0"][b : b + 1]
        q["c0"] = None if p["c0"] is None else p["c0"][b : b + 1]
        yb, hb, _, _ = forward(cell, q, None)
        np.testing.assert_allclose(y[b, :L], yb[0], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(h_n[b], hb[0], rtol=1e-12, atol=1e-13)
        _, gb = loss_grads(cell, q, None, wy[b : b + 1, :L], wh[b : b + 1])
        np.testing.assert_allclose(grads[0][b, :L], gb[0][0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(grads[5][b], gb[5][0], rtol=1e-10, atol=1e-12)
        for k, g in zip(("w_ih", "w_hh", "b_ih", "b_hh"), gb[1:5]):
            per_weight[k] += g
    for k, g in zip(("w_ih", "w_hh", "b_ih", "b_hh"), grads[1:5]):
        np.testing.assert_allclose(g, per_weight[k], rtol=1e-10, atol=1e-11)
    for b, L in enumerate(lengths):
        assert not grads[0][b, L:].any()


@pytest.mark.parametrize("cell", CELLS)
def test_batch_permutation_permutes_results(cell, rng, threads):
    B, T, I, H, n = PATHS["rows"]
    threads(n)
    p = make(rng, cell, B, T, I, H)
    lengths = skewed_lengths(rng, B, T)
    wy, wh = rng.standard_normal((B, T, H)), rng.standard_normal((B, H))
    loss, grads = loss_grads(cell, p, lengths, wy, wh)
    perm = rng.permutation(B)
    q = dict(p)
    for k in ("x", "h0", "c0"):
        q[k] = None if p[k] is None else p[k][perm].copy()
    loss_p, grads_p = loss_grads(cell, q, lengths[perm], wy[perm], wh[perm])
    assert abs(loss - loss_p) <= 1e-10 * abs(loss)
    for name, a, b in zip(names(cell), grads, grads_p):
        if name in ("x", "h0", "c0"):
            np.testing.assert_allclose(a[perm], b, rtol=1e-12, atol=1e-13)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_full_lengths_equal_no_lengths(cell, rng):
    B, T, I, H, _ = PATHS["serial"]
    p = make(rng, cell, B, T, I, H)
    wy, wh = rng.standard_normal((B, T, H)), rng.standard_normal((B, H))
    a = loss_grads(cell, p, None, wy, wh)[1]
    b = loss_grads(cell, p, np.full(B, T), wy, wh)[1]
    for ga, gb in zip(a, b):
        if ga is not None:
            np.testing.assert_array_equal(ga, gb)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("path", ["serial", "units"])
def test_all_lengths_zero(cell, path, rng, threads):
    B, T, I, H, n = PATHS[path]
    threads(n)
    p = make(rng, cell, B, T, I, H)
    lengths = np.zeros(B, np.int64)
    y, h_n, c_n, cache = forward(cell, p, lengths)
    assert not y.any()
    np.testing.assert_array_equal(h_n, p["h0"])
    np.testing.assert_array_equal(cache.hprev, np.broadcast_to(p["h0"][:, None], (B, T, H)))
    if cell == "lstm":
        np.testing.assert_array_equal(c_n, p["c0"])
    dh, dc = rng.standard_normal((B, H)), rng.standard_normal((B, H))
    dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0 = backward(
        cell, rng.standard_normal((B, T, H)), dh, dc if cell == "lstm" else None, cache
    )
    for g in (dx, dw_ih, dw_hh, db_ih, db_hh):
        assert not g.any()
    np.testing.assert_array_equal(dh0, dh)
    if cell == "lstm":
        np.testing.assert_array_equal(dc0, dc)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("H", [1, 3, 9, 17, 25, 50])
def test_step_product_widths_and_gradients(cell, H, rng):
    """Hidden sizes that leave every width of partial register tile in the step products, with
    directional finite differences of the gradients (float64) and float32 against float64."""
    B, T, I = 13, 5, 4
    p = make(rng, cell, B, T, I, H)
    lengths = skewed_lengths(rng, B, T)
    y, h_n, _, _ = forward(cell, p, lengths)
    y_ref, h_ref, _ = reference(
        cell, p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], p["h0"], p["c0"], lengths
    )
    np.testing.assert_allclose(y, y_ref, rtol=1e-11, atol=1e-11)
    wy, wh = rng.standard_normal((B, T, H)), rng.standard_normal((B, H))
    _, grads = loss_grads(cell, p, lengths, wy, wh)
    check_directional(rng, cell, p, lengths, wy, wh, names(cell), grads)
    p32 = {k: (None if v is None else v.astype(np.float32)) for k, v in p.items()}
    _, g32 = loss_grads(cell, p32, lengths, wy.astype(np.float32), wh.astype(np.float32))
    for a, b in zip(g32[: len(names(cell))], grads):
        assert a.dtype == np.float32 and rel_error(a, b) < 1e-4


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("path", list(PATHS))
def test_without_initial_state(cell, path, rng, threads):
    """h0 / c0 absent (the first step's recurrent product is skipped) gives exactly what explicit
    zero states give, matches the reference, and has finite-difference gradients."""
    B, T, I, H, n = PATHS[path]
    threads(n)
    p = make(rng, cell, B, T, I, H, init=False)
    lengths = skewed_lengths(rng, B, T)
    wy, wh = rng.standard_normal((B, T, H)), rng.standard_normal((B, H))
    y, h_n, c_n, _ = forward(cell, p, lengths)
    y_ref, h_ref, _ = reference(
        cell, p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], None, None, lengths
    )
    np.testing.assert_allclose(y, y_ref, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(h_n, h_ref, rtol=1e-11, atol=1e-11)
    z = dict(p, h0=np.zeros((B, H)), c0=np.zeros((B, H)) if cell == "lstm" else None)
    for a, b in zip(forward(cell, p, lengths)[:3], forward(cell, z, lengths)[:3]):
        if a is not None:
            np.testing.assert_array_equal(a, b)
    loss, grads = loss_grads(cell, p, lengths, wy, wh)
    for a, b in zip(grads, loss_grads(cell, z, lengths, wy, wh)[1]):
        if a is not None:
            np.testing.assert_array_equal(a, b)
    check_directional(rng, cell, p, lengths, wy, wh, ["x", "w_hh"], [grads[0], grads[2]])
