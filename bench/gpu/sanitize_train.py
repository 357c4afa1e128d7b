"""Small CUDA runs of every training op (conv1d, linear, dropout, optimisers, losses, the full
softmax at each precision), forward and backward, and of the top-k, to run under
compute-sanitizer (memcheck, racecheck, synccheck). Each result is compared with the CPU
kernels; exits non-zero on a mismatch."""

from __future__ import annotations

import sys

import cupy as cp
import numpy as np

from chronoscale import ops


def rel(a, b):
    a, b = np.asarray(cp.asnumpy(a), np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max(initial=0.0) / max(np.abs(b).max(initial=0.0), 1e-12))


def main():
    rng = np.random.default_rng(0)
    f = np.float32
    bad = []

    def same(name, g, c, tol=1e-4):
        e = rel(g, c)
        print(f"{name:28s} rel. error {e:.1e}")
        if not e < tol:
            bad.append(name)

    x = rng.standard_normal((3, 9, 5)).astype(f)
    w = rng.standard_normal((4, 5, 3)).astype(f)
    b = rng.standard_normal(4).astype(f)
    lengths = np.array([9, 1, 4])
    y, _, cache = ops.conv1d_forward(x, w, b, lengths, True)
    yg, _, cg = ops.conv1d_forward(cp.asarray(x), cp.asarray(w), cp.asarray(b), lengths, True)
    same("conv1d y", yg, y)
    dy = rng.standard_normal(y.shape).astype(f)
    for n, g, c in zip(
        ("dx", "dw", "db"), ops.conv1d_backward(cp.asarray(dy), cg), ops.conv1d_backward(dy, cache)
    ):
        same(f"conv1d {n}", g, c)

    x2 = rng.standard_normal((7, 6)).astype(f)
    w2 = rng.standard_normal((5, 6)).astype(f)
    y, cache = ops.linear_forward(x2, w2, b[:1].repeat(5), "tanh")
    yg, cg = ops.linear_forward(cp.asarray(x2), cp.asarray(w2), cp.asarray(b[:1].repeat(5)), "tanh")
    same("linear y", yg, y)
    dy = rng.standard_normal(y.shape).astype(f)
    for n, g, c in zip(
        ("dx", "dw", "db"), ops.linear_backward(cp.asarray(dy), cg), ops.linear_backward(dy, cache)
    ):
        same(f"linear {n}", g, c)

    same(
        "dropout",
        ops.dropout_forward(cp.asarray(x2), 0.4, 3)[0],
        ops.dropout_forward(x2, 0.4, 3)[0],
        0.0 + 1e-30,
    )

    p, gr = rng.standard_normal(300).astype(f), rng.standard_normal(300).astype(f)
    m, v = np.zeros_like(p), np.zeros_like(p)
    pg, mg, vg = (cp.asarray(a.copy()) for a in (p, m, v))
    ops.adam_step_many([p], [gr], [m], [v], 2, 1e-2, weight_decay=0.1)
    ops.adam_step_many([pg], [cp.asarray(gr)], [mg], [vg], 2, 1e-2, weight_decay=0.1)
    same("adam_step_many", pg, p)
    rows = np.array([4, 0, 2])
    P, G = rng.standard_normal((6, 3)).astype(f), rng.standard_normal((3, 3)).astype(f)
    Pg, B, Bg = cp.asarray(P.copy()), np.zeros_like(P), cp.zeros((6, 3), f)
    ops.sgd_step_rows(P, rows, G, B, 0.1, momentum=0.9)
    ops.sgd_step_rows(Pg, rows, cp.asarray(G), Bg, 0.1, momentum=0.9)
    same("sgd_step_rows", Pg, P)
    gs = [rng.standard_normal(50).astype(f), rng.standard_normal(9)]
    gsg = [cp.asarray(g.copy()) for g in gs]
    n_c, n_g = ops.clip_grad_norm(gs, 0.1), ops.clip_grad_norm(gsg, 0.1)
    same("clip_grad_norm", cp.asarray([n_g]), [n_c])
    same("clip_grad_norm grads", gsg[0], gs[0])

    t = rng.standard_normal(x2.shape).astype(f)
    same("huber_loss", ops.huber_loss(cp.asarray(x2), cp.asarray(t))[1], ops.huber_loss(x2, t)[1])
    tgt = np.array([0, 5, -1, 2, 1, 1, 0])
    same(
        "softmax_cross_entropy",
        ops.softmax_cross_entropy(cp.asarray(x2), tgt)[1],
        ops.softmax_cross_entropy(x2, tgt)[1],
    )
    items = rng.standard_normal((20, 6)).astype(f)
    c = ops.sampled_softmax_loss(x2, items, tgt, 8, 1)
    g = ops.sampled_softmax_loss(cp.asarray(x2), cp.asarray(items), tgt, 8, 1)
    same("sampled_softmax d_user", g[1], c[1])
    same("sampled_softmax d_rows", g[3], c[3])
    items = items[:, :5].copy()  # D = 5, V = 20: the TF32 pairs' padding to multiples of 4
    c = ops.full_softmax_loss(x2[:, :5].copy(), items, tgt)
    for precision in ("float32", "bfloat16", "tfloat32", "tf32x3"):
        g = ops.full_softmax_loss(cp.asarray(x2[:, :5]), cp.asarray(items), tgt,
                                  precision=precision)
        tol = {"bfloat16": 1e-1, "tfloat32": 1e-2}.get(precision, 1e-4)
        same(f"full_softmax {precision} d_user", g[1], c[1], tol)
        same(f"full_softmax {precision} d_items", g[2], c[2], tol)
    for N, V, k in ((5, 3000, 10), (5, 3000, 2049), (1, 100000, 10)):  # slots in shared
        sc = rng.standard_normal((N, V)).astype(f)  # memory, in global scratch; a split row
        sc[:, ::7] = np.round(sc[:, ::7])  # ties
        ig, vg = ops.top_k(cp.asarray(sc), k)
        ic, vc = ops.top_k(sc, k)
        same(f"top_k {N}x{V} k={k} values", vg, vc, tol=1e-30)
        same(f"top_k {N}x{V} k={k} ids", ig, ic, tol=1e-30)
    cp.cuda.get_current_stream().synchronize()
    print("mismatches:", bad or "none")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
