"""pytest-benchmark suite: LSTM / GRU forward + backward, chronoscale beside torch.nn (CPU).

    PYTHONPATH=python python -m pytest bench/python/bench_recurrent.py \
        --benchmark-columns=median,min,rounds

One benchmark group per (cell, B, T, H) holds the chronoscale / torch pair, so pytest-benchmark
prints them side by side. Both use chronoscale.get_num_threads() threads (torch.set_num_threads).
CHRONOSCALE_BENCH_SIZES=quick|full (default full) picks the grid; I = 64, float32, full lengths.
Not part of the test suite (tests/python): nothing here asserts speed.
"""

from __future__ import annotations

import os

import bench_common as bc
import pytest

SIZES = bc.GRIDS[os.environ.get("CHRONOSCALE_BENCH_SIZES", "full")]
ROUNDS = int(os.environ.get("CHRONOSCALE_BENCH_ROUNDS", "11"))


@pytest.fixture(scope="module", autouse=True)
def same_threads():
    bc.set_threads(None)


@pytest.mark.parametrize("impl", ["chronoscale", "torch"])
@pytest.mark.parametrize("B,T,H", SIZES, ids=[f"B{b}-T{t}-H{h}" for b, t, h in SIZES])
@pytest.mark.parametrize("cell", bc.CELLS)
def test_forward_backward(benchmark, cell, B, T, H, impl):
    if impl == "torch":
        pytest.importorskip("torch")
    p = bc.make_inputs(cell, B, T, H)
    fn = bc.chronoscale_runner(cell, p) if impl == "chronoscale" else bc.torch_runner(cell, p)
    benchmark.group = f"{cell} B={B} T={T} H={H}"
    benchmark.extra_info.update(cell=cell, B=B, T=T, I=bc.INPUT, H=H, impl=impl,
                                threads=bc.set_threads(None))
    rounds = bc.auto_repeat(fn, ROUNDS, budget_s=4.0)
    benchmark.pedantic(fn, rounds=rounds, warmup_rounds=1, iterations=1)
