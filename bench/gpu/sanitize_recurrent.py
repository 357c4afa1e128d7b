"""Small CUDA recurrent forward + backward runs through every launch mode and both GEMM
backends, to run under compute-sanitizer (memcheck, racecheck, synccheck). Also compares each
result with the CPU kernels and exits non-zero on a mismatch."""

from __future__ import annotations

import os
import sys

import cupy as cp
import numpy as np

from chronoscale import ops

RUNS = [  # CHRONOSCALE_CUDA_RNN_MODE, _RNN_PLAN, _GEMM, _RNN_REG
    ("", "", "", ""),  # the planner's choice: resident, the forward's W_hh in registers
    ("", "", "", "0"),  # resident, W_hh in shared memory
    ("grid", "", "", ""),
    ("step", "", "builtin", ""),
    ("grid", "8,32,1,1", "", ""),
    ("", "32,2,2", "builtin", ""),
    ("gemm", "", "", ""),  # one GEMM + one elementwise kernel per step (large batches)
    ("gemm", "", "builtin", ""),
]


def run(cell, xp, p, lengths, dy):
    x, w_ih, w_hh, b_ih, b_hh, h0, c0 = (None if v is None else xp.asarray(v) for v in p)
    dyx = xp.asarray(dy)
    if cell == "lstm":
        y, h, _, cache = ops.lstm_forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths)
        g = ops.lstm_backward(dyx, None, None, cache)
    elif cell == "gru":
        y, h, cache = ops.gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0, lengths)
        g = ops.gru_backward(dyx, None, cache)
    else:
        y, h, cache = ops.rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0, lengths)
        g = ops.rnn_backward(dyx, None, cache)
    to_np = cp.asnumpy if xp is cp else np.asarray
    return [to_np(a) for a in (y, h, *g) if a is not None]


def main():
    rng = np.random.default_rng(0)
    B, T, I, H = 5, 6, 3, 20
    lengths = np.array([6, 1, 0, 4, 6])
    bad = 0
    for mode, plan, gemm, reg in RUNS:
        os.environ["CHRONOSCALE_CUDA_RNN_MODE"] = mode
        os.environ["CHRONOSCALE_CUDA_RNN_PLAN"] = plan
        os.environ["CHRONOSCALE_CUDA_GEMM"] = gemm
        os.environ["CHRONOSCALE_CUDA_RNN_REG"] = reg
        for cell, G in (("lstm", 4), ("gru", 3), ("rnn", 1)):
            p = [
                rng.standard_normal(s).astype(np.float32) * 0.5
                for s in ((B, T, I), (G * H, I), (G * H, H), (G * H,), (G * H,), (B, H))
            ]
            p.append(rng.standard_normal((B, H)).astype(np.float32) if cell == "lstm" else None)
            dy = rng.standard_normal((B, T, H)).astype(np.float32)
            ref = run(cell, np, p, lengths, dy)
            got = run(cell, cp, p, lengths, dy)
            err = max(
                float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)) for a, b in zip(got, ref)
            )
            ok = err < 1e-4 and all(np.all(np.isfinite(a)) for a in got)
            bad += not ok
            print(
                f"mode={mode or 'auto':4s} plan={plan or 'auto':9s} gemm={gemm or 'auto':7s}"
                f" reg={reg or 'auto':4s}"
                f" {cell:4s} max rel. error {err:.1e} {'ok' if ok else 'MISMATCH'}",
                flush=True,
            )
    cp.cuda.Device().synchronize()
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
