"""Row gather / scatter-add and row normalisation: chronoscale vs PyTorch (and NumPy), same run,
same threads, at the recommender's sizes (B=256, T=192: 48,896 scored events).

    gather_rows    states [B*W, H] rows by index -> [N, H]       torch.index_select / NumPy take
    scatter_rows   [N, H] rows summed into [B*W, H] by index     torch.index_add_ / np.add.at
    normalize      [N, d] rows to unit length, forward + backward torch F.normalize + backward
    packed_cumsum  running sums over packed histories [N, d],     torch.cumsum of the padded
                   forward + reverse                              [B, T, d] block, both ways
                                                                  / NumPy loop over time steps

Calls alternate between the sides; medians after one warm-up call each; ratio = other ms /
chronoscale ms (> 1: chronoscale faster). ``--device cuda`` times CuPy arrays against torch CUDA
tensors (synchronised after each call).

    python bench/python/compare_rows.py [--events 48896] [--rows 49152] [--hidden 128]
        [--dim 64] [--repeat 21] [--threads N] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse

import numpy as np
from bench_common import paired

import chronoscale
from chronoscale import ops


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=48896)
    ap.add_argument("--rows", type=int, default=256 * 192)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=21)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    a = ap.parse_args(argv)
    import torch

    if a.threads:
        chronoscale.set_num_threads(a.threads)
    torch.set_num_threads(chronoscale.get_num_threads())
    rng = np.random.default_rng(0)
    y = rng.standard_normal((a.rows, a.hidden), dtype=np.float32)
    g = rng.standard_normal((a.events, a.hidden), dtype=np.float32)
    idx = np.sort(rng.integers(0, a.rows, a.events))  # window rows: sorted, repeated
    B = 256  # histories of the packed sums: lengths in [1, T], T = rows / B
    T = max(1, a.rows // B)
    lens = np.sort(rng.integers(1, T + 1, B))[::-1]
    bs = (lens[None, :] > np.arange(T)[:, None]).sum(axis=1)
    off = np.concatenate([[0], np.cumsum(bs)])
    xp_h = rng.standard_normal((int(off[-1]), a.dim), dtype=np.float32)
    pad_h = np.zeros((B, T, a.dim), np.float32)
    for t in range(T):
        pad_h[:bs[t], t] = xp_h[off[t]:off[t + 1]]
    e = rng.standard_normal((a.events, a.dim), dtype=np.float32)
    de = rng.standard_normal((a.events, a.dim), dtype=np.float32)
    sync = lambda: None  # noqa: E731
    dev = "cpu"
    if a.device == "cuda":
        import cupy as cp

        dev, sync = "cuda", lambda: (cp.cuda.get_current_stream().synchronize(),
                                     torch.cuda.synchronize())
        y, g, idx, e, de = (cp.asarray(v) for v in (y, g, idx, e, de))
    packed = xp_h if a.device == "cpu" else cp.asarray(xp_h)
    t = {k: torch.as_tensor(v, device=dev) for k, v in
         (("y", y), ("g", g), ("idx", idx), ("e", e), ("de", de), ("pad", pad_h))}

    def normalize_ours():
        yh, n = ops.normalize_forward(e)
        ops.normalize_backward(de, yh, n)

    def normalize_torch():
        x = t["e"].detach().requires_grad_(True)
        torch.nn.functional.normalize(x, dim=1).backward(t["de"])

    def packed_ours():
        ops.packed_cumsum(packed, bs)
        ops.packed_cumsum(packed, bs, reverse=True)

    def packed_torch():
        torch.cumsum(t["pad"], dim=1)
        torch.cumsum(t["pad"].flip(1), dim=1).flip(1)

    def packed_numpy():  # the recommender's loop before ops.packed_cumsum (forward only x2)
        for _ in range(2):
            out = np.empty_like(xp_h)
            out[:bs[0]] = xp_h[:bs[0]]
            for s in range(1, T):
                n = int(bs[s])
                np.add(out[off[s - 1]:off[s - 1] + n], xp_h[off[s]:off[s] + n],
                       out=out[off[s]:off[s] + n])

    cases = {
        "gather_rows": {"chronoscale": lambda: ops.gather_rows(y, idx),
                        "torch": lambda: t["y"].index_select(0, t["idx"])},
        "scatter_rows": {"chronoscale": lambda: ops.scatter_rows(g, idx, size=a.rows),
                         "torch": lambda: torch.zeros_like(t["y"]).index_add_(0, t["idx"], t["g"])},
        "normalize fwd+bwd": {"chronoscale": normalize_ours, "torch": normalize_torch},
        "packed_cumsum f+r": {"chronoscale": packed_ours, "torch": packed_torch},
    }
    if a.device == "cpu":
        cases["gather_rows"]["numpy"] = lambda: y[idx]

        def add_at():
            out = np.zeros_like(y)
            np.add.at(out, idx, g)
        cases["scatter_rows"]["numpy"] = add_at
        cases["packed_cumsum f+r"]["numpy"] = packed_numpy
    print(f"# {a.device}, {chronoscale.get_num_threads()} threads, torch {torch.__version__}; "
          f"N={a.events} events, {a.rows} rows x H={a.hidden}, d={a.dim}, float32, "
          f"packed sums over {B} histories of {int(off[-1])} events (T={T}), "
          f"median of {a.repeat}")
    print(f"{'op':<20} {'chronoscale ms':>15} {'torch ms':>10} {'torch/cs':>9} {'numpy ms':>9}")
    results = {}
    for name, fns in cases.items():
        ms = paired(fns, a.repeat, sync)
        results[name] = ms
        npy = f"{ms['numpy']:9.2f}" if "numpy" in ms else f"{'-':>9}"
        print(f"{name:<20} {ms['chronoscale']:15.2f} {ms['torch']:10.2f} "
              f"{ms['torch'] / ms['chronoscale']:8.2f}x {npy}")
    return results


if __name__ == "__main__":
    main()
