"""The GPU cross-entropy kernels at the recommender's size: one block per row with the row read
once into registers (the default up to 8,192 classes), one block per row with three passes over
the row (CHRONOSCALE_CUDA_XENT_REG=0) and one warp per row (CHRONOSCALE_CUDA_XENT_WARP_MAX moves
that switch; 1,024 classes by default), for the cross-entropy alone (ops.softmax_cross_entropy
over stored logits) and inside the full softmax (ops.full_softmax_loss, float32 and bfloat16
products). Times are CUDA-event medians; the kernels' results must agree (rel. error < 1e-5:
only the warp's summation order differs; the two block kernels are bit-identical). Then the
full softmax at each precision of its products (float32, tfloat32, tf32x3, bfloat16; default
kernel switch): time, and the gradients' error against the float64 op on the same inputs
(tf32x3 must stay float32-accurate: < 1e-5); and float32 / tf32x3 at D = 129, D zero-padded
to 132 and D = 128 (what the recommender's odd width costs the GEMMs).

    python bench/gpu/bench_xent.py [--rows 48896] [--items 3706] [--dim 129] [--repeat 21]
"""

from __future__ import annotations

import argparse
import os

import cupy as cp
import numpy as np
from bench_recurrent_gpu import timed  # CUDA-event median (same folder)

from chronoscale import ops

WARP, REG = "CHRONOSCALE_CUDA_XENT_WARP_MAX", "CHRONOSCALE_CUDA_XENT_REG"


def rel(a, b):
    a, b = cp.asnumpy(a).astype(np.float64), cp.asnumpy(b).astype(np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=48896)
    ap.add_argument("--items", type=int, default=3706)
    ap.add_argument("--dim", type=int, default=129)
    ap.add_argument("--repeat", type=int, default=21)
    a = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    N, V, D = a.rows, a.items, a.dim
    logits = cp.asarray(rng.standard_normal((N, V), dtype=np.float32) * 3)
    target = rng.integers(0, V, N).astype(np.int64)
    user = cp.asarray(rng.standard_normal((N, D), dtype=np.float32) * 0.3)
    items = cp.asarray(rng.standard_normal((V, D), dtype=np.float32) * 0.3)
    cases = {
        "cross-entropy": lambda: ops.softmax_cross_entropy(logits, target),
        "full softmax float32": lambda: ops.full_softmax_loss(user, items, target,
                                                              loss_on_device=True),
        "full softmax bfloat16": lambda: ops.full_softmax_loss(
            user, items, target, precision="bfloat16", loss_on_device=True),
    }
    # the kernel choices, as environment settings: one block per row with the row in registers
    # (the default for 1,024 < V <= 8,192), the same with three passes over the row, a warp
    kernels = {"block, registers": {WARP: "0", REG: "1"},
               "block, 3 passes": {WARP: "0", REG: "0"},
               "warp per row": {WARP: str(V), REG: "1"}}
    old = {k: os.environ.get(k) for k in (WARP, REG)}
    out = {}
    try:
        print(f"# N={N} rows, V={V} classes, D={D}; CUDA-event ms, median of {a.repeat}; "
              "rel. diff: largest against the first kernel")
        print(f"{'case':<24}" + "".join(f"{k + ' ms':>20}" for k in kernels) + f"{'rel. diff':>10}")
        for name, fn in cases.items():
            ms, res = {}, {}
            for kname, env in kernels.items():
                os.environ.update(env)
                ms[kname] = timed(fn, cp, min_reps=a.repeat, max_reps=a.repeat)[0]
                res[kname] = fn()
            first = res["block, registers"]
            d = max(rel(x, y) for r in res.values() for x, y in zip(r, first, strict=True))
            out[name] = {**ms, "rel_diff": d}
            print(f"{name:<24}" + "".join(f"{v:20.3f}" for v in ms.values()) + f"{d:10.1e}")
            assert d < 1e-5, f"{name}: the kernels disagree ({d:.1e})"
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    out["precision"] = by_precision(user, items, target, a.repeat)
    out["width"] = by_width(user, items, target, a.repeat)
    return out


def by_width(user, items, target, repeat) -> dict:
    """The full softmax with D = 129 (the recommender's [u, beta m, 1]: rows not 16-byte
    aligned, one column past a 128-wide tile), D padded with zeros to 132 (aligned, the same
    products) and D = 128: CUDA-event ms per precision, to see what the odd width costs."""
    D = user.shape[1]
    widths = {f"D={D}": D, f"D={D} padded to {-(-D // 4) * 4}": -(-D // 4) * 4,
              f"D={D - 1}": D - 1}
    print(f"\n{'width':<22}" + "".join(f"{p + ' ms':>14}" for p in ("float32", "tf32x3")))
    out = {}
    for name, w in widths.items():
        u, it = (cp.zeros((x.shape[0], w), x.dtype) for x in (user, items))
        n = min(w, D)
        u[:, :n], it[:, :n] = user[:, :n], items[:, :n]
        def run(p, u=u, it=it):
            return ops.full_softmax_loss(u, it, target, precision=p, loss_on_device=True)
        out[name] = {p: timed(lambda p=p: run(p), cp, min_reps=repeat, max_reps=repeat)[0]
                     for p in ("float32", "tf32x3")}
        print(f"{name:<22}" + "".join(f"{v:14.3f}" for v in out[name].values()))
    return out


def by_precision(user, items, target, repeat) -> dict:
    """The full softmax per precision: CUDA-event ms and the error of (d_user, d_items) against
    the float64 op."""
    exact = ops.full_softmax_loss(user.astype(cp.float64), items.astype(cp.float64), target)
    print(f"\n{'precision':<10} {'ms':>8} {'vs float32':>11} {'d_user err':>11} "
          f"{'d_items err':>12} {'loss err':>9}")
    out, base = {}, None
    for p in ("float32", "tfloat32", "tf32x3", "bfloat16"):
        def fn(p=p):
            return ops.full_softmax_loss(user, items, target, precision=p, loss_on_device=True)
        ms = timed(fn, cp, min_reps=repeat, max_reps=repeat)[0]
        loss, du, di = fn()
        base = base or ms
        err = {"d_user": rel(du, exact[1]), "d_items": rel(di, exact[2]),
               "loss": abs(float(loss) - exact[0]) / abs(exact[0])}
        out[p] = {"ms": ms, **err}
        print(f"{p:<10} {ms:8.3f} {base / ms:10.2f}x {err['d_user']:11.1e} "
              f"{err['d_items']:12.1e} {err['loss']:9.1e}")
    assert max(out["tf32x3"]["d_user"], out["tf32x3"]["d_items"]) < 1e-5, out["tf32x3"]
    return out


if __name__ == "__main__":
    main()
