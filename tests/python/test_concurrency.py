"""Calls from several Python threads at once (a service answering requests with one fitted
model): the native calls release the GIL and run side by side, each with its own OpenMP team
and scratch; every result must equal the one-thread-at-a-time result bit for bit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import chronoscale as cs
from chronoscale import ops
from chronoscale.models import MultiScaleForecaster, MultiScaleRecommender, SeedForecaster

from helpers import random_lengths


def _in_threads(job, n=12, workers=4):
    with ThreadPoolExecutor(workers) as ex:
        return list(ex.map(job, range(n)))


def test_ops_side_by_side(rng):
    B, T, I, H = 24, 40, 6, 48
    x = rng.standard_normal((B, T, I))
    w_ih, w_hh = rng.standard_normal((4 * H, I)) * 0.2, rng.standard_normal((4 * H, H)) * 0.2
    lengths = random_lengths(rng, B, T)
    dy = rng.standard_normal((B, T, H))
    scores = rng.standard_normal((B, 500))

    def run(_):
        y, h, c, cache = ops.lstm_forward(x, w_ih, w_hh, lengths=lengths)
        grads = ops.lstm_backward(dy, None, None, cache)
        return [y, h, c, *grads, *ops.top_k(scores, 7)]

    old = cs.get_num_threads()
    try:
        cs.set_num_threads(2)  # (each call's team; four calls at once)
        want = run(0)
        for got in _in_threads(run):
            for a, b in zip(got, want):
                assert np.array_equal(a, b)
    finally:
        cs.set_num_threads(old)


def test_models_side_by_side(rng):
    n, T, V = 96, 30, 40
    ids = rng.integers(0, V, (n, T))
    lengths = random_lengths(rng, n, T)
    lengths[lengths < 2] = 2
    ts = 1_700_000_000 + np.cumsum(rng.integers(1, 5000, (n, T)), axis=1)
    rec = MultiScaleRecommender(num_items=V, dim=8, units=8, scales=("1", "4", "1h"),
                                random_state=0)
    rec.fit(ids, epochs=1, lengths=lengths, timestamps=ts, verbose=0)
    X = rng.standard_normal((n, T, 3))
    y = rng.random(n)
    seed = SeedForecaster(random_state=0).fit(X, y, epochs=1, verbose=0)
    ms = MultiScaleForecaster(random_state=0).fit(X, y, lengths=lengths, epochs=1, verbose=0)

    calls = [
        lambda: rec.recommend(ids, k=5, lengths=lengths, timestamps=ts, progress=False),
        lambda: rec.score(ids, lengths=lengths, timestamps=ts, progress=False),
        lambda: seed.predict(X),
        lambda: ms.predict(X, lengths=lengths, batch_size=32),
    ]
    want = [f() for f in calls]

    def run(i):
        return i % len(calls), calls[i % len(calls)]()

    results = _in_threads(run, n=16)
    assert sorted(k for k, _ in results) == sorted(list(range(4)) * 4)
    for k, got in results:
        got, ref = (got, want[k]) if isinstance(got, tuple) else ((got,), (want[k],))
        assert len(got) == len(ref) and all(np.array_equal(a, b) for a, b in zip(got, ref)), k
