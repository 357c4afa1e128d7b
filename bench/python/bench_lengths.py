"""Does the CPU cost of the recurrent kernels follow the events of a variable-length batch?

Same run, same inputs, one GRU size (default B=256, T=192, H=128, I=66: the MultiScaleRecommender's
cells), two sets of lengths:
  full    every slot an event (lengths = T)
  skewed  ML-1M-like: lognormal lengths with mean ~18 clipped to [1, T] (about 9.5% of the slots),
          or with ``--lengths ml1m`` the history lengths of ../shared/data/movielens-1m-sample
and three workloads, each timed forward and forward + backward:
  gru         chronoscale.ops.gru_forward / gru_backward over [B, T, I]
  multiscale  chronoscale.ops.multiscale_forward / multiscale_backward, count scales 1, 4, 16
              (mean pooling, count feature), one GRU per scale
  torch gru   torch.nn.GRU on a packed sequence (pack_padded_sequence, enforce_sorted=False) when
              lengths vary, the plain padded batch when they are all T; backward by
              torch.autograd.grad w.r.t. the input and the weights (the same gradients)
All contenders run in interleaved rounds (order alternating), so load changes on a shared machine
hit them alike; medians of wall and process CPU time are printed with the ratio skewed / full
(ideal: the event fraction) and the load average before and after.

    python bench/python/bench_lengths.py [--repeat 5] [--rounds 3] [--threads N] [--no-torch]
        [--lengths lognormal|ml1m] [--batch 256] [--seq-len 192] [--hidden 128] [--json out]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

import numpy as np

import chronoscale
from chronoscale import ops

ML1M = Path(
    os.path.dirname(os.path.abspath(__file__)),
    "..",
    "..",
    "..",
    "shared",
    "data",
    "movielens-1m-sample",
    "sample_movielens_rating.dat.gz",
)


def skewed_lengths(kind: str, B: int, T: int, mean: float, rng) -> np.ndarray:
    if kind == "ml1m":
        if not ML1M.exists():
            raise SystemExit(f"--lengths ml1m: {ML1M} not found")
        with gzip.open(ML1M, "rt") as f:
            users = np.array([int(line.split("::", 1)[0]) for line in f])
        counts = np.bincount(users)
        counts = counts[counts >= 2]
        return np.minimum(rng.choice(counts, B), T).astype(np.int64)  # each user's last T
    # lognormal with sigma 1: mean = exp(mu + 1/2); clipping at T trims the tail a little
    L = rng.lognormal(np.log(mean) - 0.5, 1.0, B)
    return np.clip(np.rint(L), 1, T).astype(np.int64)


def timed(fns: dict, repeat: int, rounds: int, warmup: int = 1) -> dict:
    """Median (wall ms, process CPU ms) per call, sampled in interleaved rounds."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    wall = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    keys = list(fns)
    for r in range(rounds):
        for k in keys if r % 2 == 0 else keys[::-1]:
            for _ in range(repeat):
                c0, t0 = time.process_time(), time.perf_counter()
                fns[k]()
                wall[k].append(time.perf_counter() - t0)
                cpu[k].append(time.process_time() - c0)
    return {k: (float(np.median(wall[k])) * 1e3, float(np.median(cpu[k])) * 1e3) for k in fns}


def gru_weights(rng, I, H):
    s = 1.0 / np.sqrt(H)
    u = lambda *shape: rng.uniform(-s, s, shape).astype(np.float32)  # noqa: E731
    return u(3 * H, I), u(3 * H, H), u(3 * H), u(3 * H)


def chronoscale_cases(x, L, w, dy, xs, ws, dys):
    def gru(backward):
        def run():
            _, _, cache = ops.gru_forward(x, *w, lengths=L)
            if backward:
                ops.gru_backward(dy, None, cache)

        return run

    def multiscale(backward):
        def run():
            _, cache = ops.multiscale_forward(
                xs, ["1", "4", "16"], ws, cell="gru", lengths=L, count_feature=True
            )
            if backward:
                ops.multiscale_backward(dys, None, None, cache)

        return run

    return {
        "gru fwd": gru(False),
        "gru fwd+bwd": gru(True),
        "multiscale fwd": multiscale(False),
        "multiscale fwd+bwd": multiscale(True),
    }


def torch_cases(torch, x, L, w, dy):
    T = x.shape[1]
    gru = torch.nn.GRU(x.shape[2], w[1].shape[1], batch_first=True)
    with torch.no_grad():
        for p, a in zip((gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0), w):
            p.copy_(torch.from_numpy(a))
    xt, dyt, Lt = torch.from_numpy(x), torch.from_numpy(dy), torch.from_numpy(L)
    full = bool((L == T).all())

    def run_gru(xx):
        if full:
            return gru(xx)[0]
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            xx, Lt, batch_first=True, enforce_sorted=False
        )
        return torch.nn.utils.rnn.pad_packed_sequence(
            gru(packed)[0], batch_first=True, total_length=T
        )[0]

    def fwd():
        with torch.no_grad():
            run_gru(xt)

    def fwd_bwd():
        xx = xt.clone().requires_grad_(True)
        y = run_gru(xx)
        torch.autograd.grad(y, [xx, *gru.parameters()], dyt)

    return {"torch gru fwd": fwd, "torch gru fwd+bwd": fwd_bwd}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--seq-len", type=int, default=192)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--channels", type=int, default=65, help="C; the cells see I = C + 1")
    p.add_argument("--mean", type=float, default=18.0)
    p.add_argument("--lengths", choices=("lognormal", "ml1m"), default="lognormal")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.threads:
        chronoscale.set_num_threads(args.threads)
    torch = None
    if not args.no_torch:
        try:
            import torch

            torch.set_num_threads(chronoscale.get_num_threads())
        except ImportError:
            print("torch not installed: no reference column")
    B, T, H, C = args.batch, args.seq_len, args.hidden, args.channels
    I = C + 1
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    xs = rng.standard_normal((B, T, C)).astype(np.float32)
    w = gru_weights(rng, I, H)
    ws = [gru_weights(rng, I, H) for _ in range(3)]
    dy = rng.standard_normal((B, T, H)).astype(np.float32)
    lengths = {
        "full": np.full(B, T, np.int64),
        "skewed": skewed_lengths(args.lengths, B, T, args.mean, rng),
    }
    frac = lengths["skewed"].sum() / (B * T)
    load0 = os.getloadavg()
    fns, labels = {}, []
    for kind, L in lengths.items():
        # pad the skewed batch like the real inputs: zero features past each length
        valid = (np.arange(T)[None, :] < L[:, None])[..., None]
        xk, xsk = np.ascontiguousarray(x * valid), np.ascontiguousarray(xs * valid)
        dys = []
        for k in (1, 4, 16):
            dys.append(rng.standard_normal((B, -(-T // k), H)).astype(np.float32))
        cases = chronoscale_cases(xk, L, w, dy, xsk, ws, dys)
        if torch is not None:
            cases.update(torch_cases(torch, xk, L, w, dy))
        for name, fn in cases.items():
            fns[(name, kind)] = fn
            if name not in labels:
                labels.append(name)
    res = timed(fns, args.repeat, args.rounds)
    load1 = os.getloadavg()
    print(
        f"B={B} T={T} H={H} I={I} float32, threads={chronoscale.get_num_threads()}, "
        f"skewed lengths ({args.lengths}): mean {lengths['skewed'].mean():.1f}, "
        f"{lengths['skewed'].sum()} events in {B * T} slots ({100 * frac:.1f}%)"
    )
    print(f"load average before {load0[0]:.2f} {load0[1]:.2f}, after {load1[0]:.2f} {load1[1]:.2f}")
    print(
        f"{'':22}{'full ms':>10}{'skewed ms':>11}{'ratio':>7}   {'cpu full':>9}{'cpu skew':>9}"
        f"{'ratio':>7}"
    )
    out = {
        "B": B,
        "T": T,
        "H": H,
        "I": I,
        "event_fraction": float(frac),
        "threads": chronoscale.get_num_threads(),
        "load": [load0, load1],
        "rows": {},
    }
    for name in labels:
        (wf, cf), (ws_, cs) = res[(name, "full")], res[(name, "skewed")]
        print(f"{name:22}{wf:10.1f}{ws_:11.1f}{ws_ / wf:7.3f}   {cf:9.1f}{cs:9.1f}{cs / cf:7.3f}")
        out["rows"][name] = {
            "full_ms": wf,
            "skewed_ms": ws_,
            "full_cpu_ms": cf,
            "skewed_cpu_ms": cs,
        }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
