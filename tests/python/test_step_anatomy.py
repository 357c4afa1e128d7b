"""What one GPU training step asks of the device, counted on the CuPy stand-in
(bench/gpu/step_anatomy.py): no step may wait for the device (a sync stalls the host-bound
GPU step), and the numbers of CuPy operations, native calls and host-to-device copies stay
within the budgets below (each one is a kernel launch or a copy queued by Python; a native
call's own copies of its host arguments, such as lengths, are not counted). A change that needs
more must say why and raise the budget; counts, not times, so the test is exact on any
machine."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def anatomy():
    sys.path.insert(0, str(ROOT / "bench" / "gpu"))
    try:
        import step_anatomy
    finally:
        sys.path.remove(str(ROOT / "bench" / "gpu"))
    return step_anatomy


# case -> (arguments, budgets: the most of each kind per step, as measured when last changed)
CASES = {
    "train": (["--batch", "16", "--seq-len", "24"],
              dict(sync=0, cupy=22, native=31, h2d=2)),
    "recommend": (["--case", "recommend", "--batch", "2", "--seq-len", "24"],
                  dict(sync=2, cupy=9, native=18, h2d=3)),  # top-k ids and scores read back;
    # the top-k is one native call (ops.top_k) instead of CuPy's argsort, negation and gather
    "forecast": (["--case", "forecast", "--batch", "16", "--seq-len", "24"],
                 dict(sync=1, cupy=1, native=13, h2d=2)),  # the one-batch epoch's loss read
    # at its end (the batches' losses stay on the device; before, the native loss call waited
    # for the device itself, out of this count's sight)
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_gpu_step_stays_within_its_launch_budget(anatomy, case, capsys):
    args, budget = CASES[case]
    counts = anatomy.main([*args, "--top", "0"])
    capsys.readouterr()
    over = {k: (counts.get(k, 0), v) for k, v in budget.items() if counts.get(k, 0) > v}
    assert not over, f"{case}: (counted, budget) {over}; run bench/gpu/step_anatomy.py"
    assert counts.get("native", 0) > 0  # the stand-in saw the native calls at all
