"""Dropout forward + backward: chronoscale vs torch.nn.functional.dropout, same run, same threads.

One call = the forward on ``x [rows, cols]`` float32 and the backward of ``sum(y * y)``'s
gradient path: chronoscale ``ops.dropout_forward`` + ``ops.dropout_backward(y)`` (the mask is
recomputed from the seed); torch ``F.dropout(x, p, training=True)`` then ``y.backward(y)``
(torch keeps the mask). The default size is the recommender's fusion input at B=256, T=192,
H=128 x 3 scales (48,896 scored rows x 449 columns). Calls alternate between the two sides;
medians after one warm-up call each; ratio = torch ms / chronoscale ms (> 1: chronoscale faster).

    python bench/python/compare_dropout.py [--rows 48896] [--cols 449] [--p 0.5] [--repeat 11]
        [--threads N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import chronoscale
from chronoscale import ops


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=48896)
    ap.add_argument("--cols", type=int, default=449)
    ap.add_argument("--p", type=float, default=0.5)
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args(argv)
    import torch

    if a.threads:
        chronoscale.set_num_threads(a.threads)
    torch.set_num_threads(chronoscale.get_num_threads())
    x = np.random.default_rng(0).standard_normal((a.rows, a.cols), dtype=np.float32)
    xt = torch.from_numpy(x)

    def ours():
        y, cache = ops.dropout_forward(x, a.p, 123)
        ops.dropout_backward(y, cache)

    def theirs():
        xr = xt.detach().requires_grad_(True)
        y = torch.nn.functional.dropout(xr, a.p, training=True)
        y.backward(y)

    times = {"chronoscale": [], "torch": []}
    pairs = [("chronoscale", ours), ("torch", theirs)]
    for r in range(a.repeat + 1):  # round 0 is the warm-up
        for name, fn in pairs if r % 2 == 0 else pairs[::-1]:
            t0 = time.perf_counter()
            fn()
            if r:
                times[name].append(time.perf_counter() - t0)
    ms = {k: float(np.median(v) * 1e3) for k, v in times.items()}
    print(f"dropout fwd+bwd [{a.rows}, {a.cols}] float32, p={a.p}, "
          f"{chronoscale.get_num_threads()} threads: chronoscale {ms['chronoscale']:.1f} ms, "
          f"torch {ms['torch']:.1f} ms, torch/chronoscale {ms['torch'] / ms['chronoscale']:.2f}")
    return ms


if __name__ == "__main__":
    main()
