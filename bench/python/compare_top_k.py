"""Top-k per row (ops.top_k) vs torch.topk and the array-library way it replaced, same run, same
threads: the recommender's top-k over its catalogue (scores [N, V], a few seen items at -inf).

    chronoscale  ops.top_k: best first, ties by lower column (a total order)
    torch        torch.topk(sorted=True) (ties in no stated order)
    numpy        np.argpartition + np.lexsort of the k (CPU; the recommender before ops.top_k)
    cupy         cupy.argsort(-scores, kind="stable")[:, :k] (GPU; the same)

Calls alternate between the sides; medians after one warm-up call each; ratio = other ms /
chronoscale ms (> 1: chronoscale faster). ``--device cuda`` times CuPy arrays against torch CUDA
tensors (synchronised after each call). ``--check`` compares the results (values always; ids
with NumPy's). ``--recommend ml1m|random`` times ``MultiScaleRecommender.recommend`` (B=256,
k=10) with ``ops.top_k`` and with the NumPy top-k it replaced, alternating in one process.

    python bench/python/compare_top_k.py [--device cpu|cuda] [--repeat 21] [--threads N]
    python bench/python/compare_top_k.py --recommend ml1m --repeat 15
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from bench_common import paired

import chronoscale
from chronoscale import ops

# (N, V, k): ML-1M's catalogue at the recommender's batch, one user, a longer list, a big batch,
# larger catalogues (Amazon-sized, and 1M items for one user at a time).
SIZES = [(256, 3706, 10), (1, 3706, 10), (256, 3706, 100), (4096, 3706, 10),
         (256, 50000, 10), (256, 50000, 1000), (16, 1000000, 10)]


def scores(rng, N, V):
    s = rng.standard_normal((N, V), dtype=np.float32)
    s[rng.random((N, V)) < 0.01] = -np.inf  # seen items
    return s


def numpy_top_k(s, k):
    top = np.argpartition(-s, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(s, top, axis=1)
    order = np.lexsort((top, -vals))
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(vals, order, axis=1)


def sides(device, s, k):
    """The timed callables on ``device`` for scores ``s`` (host) and ``k``; the torch tensor."""
    import torch

    if device == "cuda":
        import cupy as cp

        sd = cp.asarray(s)
        ts = torch.as_tensor(sd, device="cuda")
        return {"chronoscale": lambda: ops.top_k(sd, k),
                "torch": lambda: torch.topk(ts, k, dim=1),
                "cupy": lambda: cp.argsort(-sd, axis=1, kind="stable")[:, :k]}, ts
    ts = torch.from_numpy(s)
    return {"chronoscale": lambda: ops.top_k(s, k),
            "torch": lambda: torch.topk(ts, k, dim=1),
            "numpy": lambda: numpy_top_k(s, k)}, ts


def check(ours, ts, s, k, torch):
    """Values equal to torch.topk's and NumPy's, ids to NumPy's (ties by column: torch states no
    order for ties)."""
    ids, vals = (np.asarray(v.get() if hasattr(v, "get") else v) for v in ours)
    tv = torch.topk(ts, k, dim=1)[0].cpu().numpy()
    want_ids, want_vals = numpy_top_k(s, k)
    assert np.array_equal(vals, tv) and np.array_equal(vals, want_vals)
    assert np.array_equal(ids, want_ids)


def recommend_ab(data: str, repeat: int) -> dict:
    """MultiScaleRecommender.recommend (B=256, T=192, k=10, the compare_recommender model) with
    ops.top_k and with the NumPy top-k it replaced, alternating in one process; the results
    must be the same."""
    import compare_recommender as cr

    from chronoscale.models import recommender

    rng = np.random.default_rng(0)
    ids, L = cr.histories(data, 256, 192, cr.V_ML1M, rng)
    m = cr.build(ids, L, cr.V_ML1M, 64, 128, ("1", "4", "16"), "float32")
    cls = recommender.MultiScaleRecommender
    sides = {"ops.top_k": cls._top_k, "numpy": staticmethod(numpy_top_k)}
    out, times = {}, {k: [] for k in sides}
    try:
        for r in range(repeat + 1):  # round 0: warm-up and the equality check
            for name, f in (list(sides.items()) if r % 2 else list(sides.items())[::-1]):
                cls._top_k = f if isinstance(f, staticmethod) else staticmethod(f)
                t0 = time.perf_counter()
                res = m.recommend(ids, k=10, lengths=L)
                times[name].append(time.perf_counter() - t0)
                out.setdefault(name, res)
    finally:
        cls._top_k = sides["ops.top_k"]
    a, b = out["ops.top_k"], out["numpy"]
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]), "different results"
    ms = {k: float(np.median(v[1:]) * 1e3) for k, v in times.items()}
    print(f"recommend B=256 k=10 ({data}): ops.top_k {ms['ops.top_k']:.2f} ms, NumPy top-k "
          f"{ms['numpy']:.2f} ms (same ids and scores), median of {repeat}")
    return ms


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=21)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--recommend", choices=("ml1m", "random"), default=None,
                    help="only the A/B of MultiScaleRecommender.recommend with the old top-k")
    a = ap.parse_args(argv)
    if a.recommend:
        return recommend_ab(a.recommend, a.repeat)
    import torch

    if a.threads:
        chronoscale.set_num_threads(a.threads)
    torch.set_num_threads(chronoscale.get_num_threads())
    sync = lambda: None  # noqa: E731
    if a.device == "cuda":
        import cupy as cp

        sync = lambda: (cp.cuda.get_current_stream().synchronize(),  # noqa: E731
                        torch.cuda.synchronize())
    other = "numpy" if a.device == "cpu" else "cupy"
    print(f"# {a.device}, {chronoscale.get_num_threads()} threads, torch {torch.__version__}; "
          f"float32 scores, 1% at -inf, median of {a.repeat}")
    print(f"{'N':>5} {'V':>8} {'k':>5} {'chronoscale ms':>15} {'torch ms':>9} {'torch/cs':>9} "
          f"{other + ' ms':>9} {other + '/cs':>9}")
    rng = np.random.default_rng(0)
    results = []
    for N, V, k in SIZES:
        s = scores(rng, N, V)
        fns, ts = sides(a.device, s, k)
        if a.check:
            check(fns["chronoscale"](), ts, s, k, torch)
        ms = paired(fns, a.repeat if N * V < 1e8 else max(3, a.repeat // 4), sync)
        row = {"N": N, "V": V, "k": k, **{f"{n}_ms": v for n, v in ms.items()}}
        results.append(row)
        print(f"{N:5d} {V:8d} {k:5d} {ms['chronoscale']:15.3f} {ms['torch']:9.3f} "
              f"{ms['torch'] / ms['chronoscale']:8.2f}x {ms[other]:9.3f} "
              f"{ms[other] / ms['chronoscale']:8.2f}x")
    return {"device": a.device, "rows": results}


if __name__ == "__main__":
    main()
