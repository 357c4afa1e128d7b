"""One CUDA recurrent forward + backward per shape, for Nsight Compute (run_device.sh's `ncu`
step): the shapes where the persistent kernels matter most (the B=1 latency case, the
recommender's main scale, and the two training shapes slowest against cuDNN on the first H200
run). Each recurrent kernel launch is one ncu result; `ncu_summary.py` prints them. The
persistent kernels are profiled at every shape (CHRONOSCALE_CUDA_RNN_MODE=persistent: the
largest one would otherwise run in the GEMM mode, one small kernel per step).

    ncu --clock-control none --csv --page raw --section SpeedOfLight --section Occupancy \\
        --section LaunchStats --section WarpStateStats -k regex:recurrent_ \\
        python3 bench/gpu/profile_recurrent.py > ncu.csv && python3 bench/gpu/ncu_summary.py ncu.csv
"""

from __future__ import annotations

import os

import cupy as cp

from chronoscale import ops

SHAPES = [  # (cell, B, T, I, H)
    ("lstm", 1, 50, 64, 64),
    ("gru", 256, 192, 64, 128),
    ("lstm", 256, 200, 64, 128),
    ("lstm", 1024, 50, 64, 256),
]


def main():
    os.environ["CHRONOSCALE_CUDA_RNN_MODE"] = "persistent"
    rs = cp.random.RandomState(0)
    for cell, B, T, I, H in SHAPES:
        G = 4 if cell == "lstm" else 3
        x = rs.standard_normal((B, T, I), dtype=cp.float32)
        scale = H**-0.5
        w_ih = rs.standard_normal((G * H, I), dtype=cp.float32) * scale
        w_hh = rs.standard_normal((G * H, H), dtype=cp.float32) * scale
        dy = rs.standard_normal((B, T, H), dtype=cp.float32)
        if cell == "lstm":
            ops.lstm_backward(dy, None, None, ops.lstm_forward(x, w_ih, w_hh)[3])
        else:
            ops.gru_backward(dy, None, ops.gru_forward(x, w_ih, w_hh)[2])
        cp.cuda.Device().synchronize()
        print(f"{cell} B={B} T={T} H={H}: forward + backward done", flush=True)


if __name__ == "__main__":
    main()
