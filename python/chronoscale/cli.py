"""The ``chronoscale`` command line.

    chronoscale info     build and runtime facts (version, CUDA, BLAS, threads, SIMD) as JSON
    chronoscale demo     run the multi-scale encoder, forward and backward, on the built-in
                         OTTO sample and print what each scale sees and how long each kernel took

Errors are printed as one line on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import chronoscale
from chronoscale import ops
from chronoscale.datasets import load_otto_sample


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, (time.perf_counter() - t0) * 1e3


def _init(rng, shape, fan_in):
    s = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-s, s, shape).astype(np.float32)


def demo(args) -> int:
    rng = np.random.default_rng(args.seed)
    data = load_otto_sample()
    items, ts, _, lengths = data.to_padded(args.max_len)
    B, T = items.shape
    D, H = args.dim, args.hidden
    print(
        f"OTTO sample (CC BY 4.0): {len(data)} events, {data.num_users} sessions, "
        f"{data.num_items} items; padded to [B={B}, T={T}], "
        f"lengths {lengths.min()}..{lengths.max()}"
    )

    table = _init(rng, (data.num_items, D), D)
    timings = {}
    (x, emb_cache), timings["embedding fwd"] = _timed(ops.embedding_forward, items, table, lengths)
    (cos, cos_cache), timings["cosine lag fwd"] = _timed(ops.cosine_lag_forward, x, 1, lengths)
    valid = np.arange(T)[None, :] < lengths[:, None]
    valid[:, 0] = False
    print(f"cos(e(u_t), e(u_t-1)) with random embeddings: mean {cos[valid].mean():+.3f}")

    scales = [ops.Scale.parse(s) for s in args.scales]
    G = {"lstm": 4, "gru": 3}.get(args.cell, 1)
    weights = [
        (
            _init(rng, (G * H, D + 1), H),
            _init(rng, (G * H, H), H),
            np.zeros(G * H, np.float32),
            np.zeros(G * H, np.float32),
        )
        for _ in scales
    ]
    (outs, ms_cache), timings["multiscale fwd"] = _timed(
        ops.multiscale_forward,
        x,
        scales,
        weights,
        cell=args.cell,
        lengths=lengths,
        timestamps=ts,
        count_feature=True,
    )

    print(f"\n{'scale':>7} {'windows/session':>16} {'usable at t (mean)':>19} {'|h_n| (mean)':>13}")
    for spec, o in zip(args.scales, outs):
        usable = o.closed_before[valid].mean() if valid.any() else 0.0
        print(
            f"{spec:>7} {o.out_lengths.mean():>16.1f} {usable:>19.1f} "
            f"{np.linalg.norm(o.h_n, axis=1).mean():>13.3f}"
        )

    dys = [rng.standard_normal(o.y.shape).astype(np.float32) for o in outs]
    (dx, wgrads), timings["multiscale bwd"] = _timed(
        ops.multiscale_backward, dys, None, None, ms_cache
    )
    dx = dx + ops.cosine_lag_backward(rng.standard_normal(cos.shape).astype(np.float32), cos_cache)
    (rows, grad_rows), timings["embedding bwd"] = _timed(ops.embedding_backward, dx, emb_cache)
    print(
        f"\nbackward: |dx| = {np.linalg.norm(dx):.3f}, {len(rows)} embedding rows touched, "
        f"|dW_ih| per scale = " + ", ".join(f"{np.linalg.norm(g[0]):.2f}" for g in wgrads)
    )
    print(
        "\nkernel times (ms, first call, "
        f"{chronoscale.get_num_threads()} threads, BLAS {chronoscale.build_info()['blas']}):"
    )
    for k, v in timings.items():
        print(f"  {k:<16} {v:8.2f}")
    return 0


def info(args) -> int:
    print(json.dumps(chronoscale.build_info(), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chronoscale", description=__doc__.split("\n")[0])
    p.add_argument("--version", action="version", version=chronoscale.__version__)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="run the multi-scale encoder on the built-in OTTO sample")
    d.add_argument(
        "--scales",
        nargs="+",
        default=["1", "4", "1h", "1d"],
        help="scales: event counts ('1', '4') or wall-clock windows ('1h', '1d', '7d')",
    )
    d.add_argument("--cell", default="gru", choices=["lstm", "gru", "rnn_tanh", "rnn_sigmoid"])
    d.add_argument("--dim", type=int, default=32, help="item embedding size")
    d.add_argument("--hidden", type=int, default=32, help="hidden size per scale")
    d.add_argument("--max-len", type=int, default=128, help="most recent events kept per session")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=demo)
    i = sub.add_parser("info", help="print build and runtime facts as JSON")
    i.set_defaults(func=info)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, RuntimeError, OSError) as e:
        print(f"chronoscale {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
