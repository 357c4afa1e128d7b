"""The CPU recurrent driver's code paths, each against the float64 reference and directional
finite differences: one thread; threads over batch rows; threads over hidden units (B < threads);
row counts that hit every register tile of the step product. Sizes are picked so that each path
runs (the driver threads only large enough work), with H not a multiple of the SIMD width and
lengths 0, 1 and T."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_recurrent import backward, forward, forward_checked, make

import chronoscale

from helpers import rel_error

# (B, T, I, H, threads). The step product tiles rows in groups of 6 plus a remainder (1-5).
PATHS = {
    "serial": (3, 6, 5, 20, 1),  # one group of 3 rows
    "serial_b11": (11, 5, 4, 28, 1),  # 6 + 5 rows
    "rows_4": (8, 60, 5, 72, 2),  # threads over batch rows, 4 rows each
    "rows_12": (24, 40, 5, 48, 2),  # 12 rows each: 6 + 6
    "units": (1, 8, 5, 524, 2),  # threads over hidden units (B < threads)
    "units_b3": (3, 4, 4, 524, 4),
}
CELLS = ["lstm", "gru", "rnn_tanh"]


@pytest.fixture
def threads():
    old = chronoscale.get_num_threads()
    yield chronoscale.set_num_threads
    chronoscale.set_num_threads(old)


def _lengths(rng, B, T):
    if B == 1:
        return np.array([T], dtype=np.int64)
    lengths = rng.integers(0, T + 1, size=B).astype(np.int64)
    lengths[0], lengths[-1] = T, 1
    if B >= 4:
        lengths[1] = 0
    return lengths


def _loss_and_grads(cell, p, lengths, wy, wh):
    y, h, c, cache = forward(cell, p, lengths)
    loss = (y * wy).sum() + (h * wh).sum()
    return loss, backward(cell, wy, wh, None, cache)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("path", list(PATHS))
def test_path_matches_reference_and_gradients(cell, path, rng, threads):
    B, T, I, H, n = PATHS[path]
    threads(n)
    p = make(rng, cell, B, T, I, H)
    lengths = _lengths(rng, B, T)
    y, h_n, _, _ = forward_checked(cell, p, lengths, 1e-11)

    # Directional derivatives: d/de loss(p + e v) == <grad, v> for a random v per argument.
    wy = rng.standard_normal(y.shape)
    wh = rng.standard_normal(h_n.shape)
    _, grads = _loss_and_grads(cell, p, lengths, wy, wh)
    names = ["x", "w_ih", "w_hh", "b_ih", "b_hh", "h0"] + (["c0"] if cell == "lstm" else [])
    analytic = dict(zip(names, grads))
    eps = 1e-6
    for name in names:
        v = rng.standard_normal(p[name].shape)
        base = p[name].copy()
        p[name] = base + eps * v
        lp = _loss_and_grads(cell, p, lengths, wy, wh)[0]
        p[name] = base - eps * v
        lm = _loss_and_grads(cell, p, lengths, wy, wh)[0]
        p[name] = base
        num = (lp - lm) / (2 * eps)
        ana = float((analytic[name] * v).sum())
        assert abs(num - ana) <= 1e-6 * max(abs(num), abs(ana), 1.0), (name, num, ana)
    dx = grads[0]
    for b in range(B):
        assert not dx[b, lengths[b]:].any()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("path", ["rows_4", "rows_12", "units"])
def test_threaded_equals_serial_and_float32(cell, path, rng, threads):
    B, T, I, H, n = PATHS[path]
    p = make(rng, cell, B, T, I, H)
    lengths = _lengths(rng, B, T)
    wy = rng.standard_normal((B, T, H))
    wh = rng.standard_normal((B, H))
    threads(1)
    _, g1 = _loss_and_grads(cell, p, lengths, wy, wh)
    threads(n)
    _, gn = _loss_and_grads(cell, p, lengths, wy, wh)
    for a, b in zip(g1, gn):
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    p32 = {k: (None if v is None else v.astype(np.float32)) for k, v in p.items()}
    _, g32 = _loss_and_grads(cell, p32, lengths, wy.astype(np.float32), wh.astype(np.float32))
    for a, b in zip(g32, g1):
        if a is not None:
            assert a.dtype == np.float32 and rel_error(a, b) < 1e-4


_SMALL_TEAM = """
import numpy as np, chronoscale
from test_recurrent import forward_checked, make
from test_recurrent_paths import CELLS, PATHS, _lengths, _loss_and_grads
rng = np.random.default_rng(7)
checked = 0
for path in ("rows_4", "rows_12", "units", "units_b3"):
    B, T, I, H, _ = PATHS[path]
    for cell in CELLS:
        p = make(rng, cell, B, T, I, H)
        lengths = _lengths(rng, B, T)
        wy, wh = rng.standard_normal((B, T, H)), rng.standard_normal((B, H))
        chronoscale.set_num_threads(1)
        _, g1 = _loss_and_grads(cell, p, lengths, wy, wh)
        chronoscale.set_num_threads(4)
        forward_checked(cell, p, lengths, 1e-11)
        _, g4 = _loss_and_grads(cell, p, lengths, wy, wh)
        for a, b in zip(g1, g4):
            if a is not None:
                np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
                checked += 1
print("checked", checked)
"""


@pytest.mark.parametrize("limit", [1, 3])
def test_team_smaller_than_planned(limit):
    """OpenMP may give a parallel region fewer threads than asked (here OMP_THREAD_LIMIT; also a
    call from inside another parallel region): the work is planned for the team that exists.
    Before, the rows of the missing members were never computed (garbage outputs, no error)."""
    here = Path(__file__).resolve().parent
    root = Path(chronoscale.__file__).resolve().parents[1]
    env = {**os.environ, "OMP_THREAD_LIMIT": str(limit),
           "PYTHONPATH": os.pathsep.join([str(root), str(here), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-c", _SMALL_TEAM], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ["checked", str(4 * 3 * 7 - 4 * 2)]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_release_scratch_frees_this_threads_scratch(rng):
    """A padded backward keeps its scratch (here ~120 MB of gate gradients) for the thread's
    next call; release_scratch gives it back, and later calls work as before."""
    from chronoscale import ops

    B, T, I, H = 100, 200, 4, 256
    lengths = rng.integers(60, 140, B)  # padded: the backward packs the valid steps
    x = rng.standard_normal((B, T, I))
    w_ih, w_hh = rng.standard_normal((3 * H, I)) * 0.1, rng.standard_normal((3 * H, H)) * 0.05
    y, h, cache = ops.gru_forward(x, w_ih, w_hh, lengths=lengths)
    dy = rng.standard_normal(y.shape)
    first = ops.gru_backward(dy, None, cache)
    held = _rss_bytes()
    chronoscale.release_scratch()
    scratch = 2 * int(lengths.sum()) * 3 * H * 8  # the backward's dgi + dhg, float64
    assert held - _rss_bytes() > scratch // 2
    again = ops.gru_backward(dy, None, cache)
    for a, b in zip(first, again):
        if a is not None:
            np.testing.assert_array_equal(a, b)
    chronoscale.release_scratch()  # (nothing held: a no-op)
