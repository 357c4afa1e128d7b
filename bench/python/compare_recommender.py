"""MultiScaleRecommender vs an equivalent PyTorch model, same run, same machine, same threads.

Model (both sides): B=256 histories of T=192 events, d=64 tied item embeddings, cosine feature
with the previous event, count scales {1, 4, 16} (mean pool + log1p(count)), one GRU(H=128) per
scale, fused user state ``u = W [h^1, h^4, h^16, x] + w0``, scores over all 3,706 items
``u . E_v + beta * mean_tau cos(E_v, e_tau) + b_v``, full-softmax cross-entropy at every position
that has a next event, Adam (lr 1e-3, eps 1e-7) with global-norm clipping at 5 (the
recommender's defaults). Times (median of --repeat after --warmup):

  train step     one mini-batch: forward, loss, backward, clipping, Adam update
  recommend B=n  top-10 over the catalogue after each history's last event, seen items excluded

and prints ms per call, sequences/s and the ratio torch / chronoscale (> 1: chronoscale faster).
The two sides run alternately (AB, BA, ...) so that both see the same load on a shared machine.

    python bench/python/compare_recommender.py [--repeat 5] [--warmup 2] [--threads N]
        [--data random|ml1m] [--batch 256] [--seq-len 192] [--json out.json]
    python bench/python/compare_recommender.py --check   # float64 equivalence, small sizes
    python bench/python/compare_recommender.py --device cuda   # both on the GPU (torch + cuDNN)

On the GPU a second train-step row runs the products in bfloat16 on both sides: chronoscale's
full softmax with ``precision="bfloat16"`` (its three GEMMs on bfloat16 copies, float32
accumulation) and the PyTorch twin's forward under ``torch.autocast(bfloat16)``; a third with
TF32 products (``precision="tfloat32"``; torch's ``backends.cuda.matmul.allow_tf32``); a fourth
times 10 float32 steps back to back with one sync at the end, as ``fit`` runs them (neither side
reads its loss per step: the host queues a step while the device runs the previous one). Two
more rows run chronoscale's full softmax with ``precision="tf32x3"`` (float32-accurate: three
TF32 products of TF32 pairs per product) beside the same float32 torch steps, one step and 10
back to back.

``--data ml1m`` uses the users of ``../shared/data/movielens-1m-sample`` (each user's most
recent 192 events; the sample is thinned, so most histories are short) instead of uniformly
random ids with every history T events long; the PyTorch GRUs then run on packed sequences
(``pack_padded_sequence``) so that neither side computes the padding.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import time

import numpy as np

import chronoscale
from chronoscale.models import MultiScaleRecommender
from chronoscale.models import _recdata as rd
from chronoscale.nn.layer import mix_seed
from chronoscale.nn.multiscale_next import closed_through

V_ML1M = 3706  # items rated in ML-1M
ML1M_SAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data",
                           "movielens-1m-sample", "sample_movielens_rating.dat.gz")


def paired_ms(ours, theirs, repeat: int, warmup: int) -> tuple:
    """``(wall ms, cpu ms)`` medians of each of two calls, timed alternately (AB, BA, AB, ...)
    so that both see the same machine load; cpu is the process's CPU time over all its threads
    (less sensitive to other processes than wall time, but it counts spinning threads). ``None``
    skips a side (nan)."""
    fns = [f for f in (ours, theirs) if f is not None]
    for _ in range(warmup):
        for f in fns:
            f()
    wall = {id(f): [] for f in fns}
    cpu = {id(f): [] for f in fns}
    for r in range(repeat):
        for f in (fns if r % 2 == 0 else fns[::-1]):
            c0, t0 = time.process_time(), time.perf_counter()
            f()
            wall[id(f)].append(time.perf_counter() - t0)
            cpu[id(f)].append(time.process_time() - c0)
    nan = float("nan")
    return tuple((float(np.median(wall[id(f)]) * 1e3), float(np.median(cpu[id(f)]) * 1e3))
                 if f is not None else (nan, nan) for f in (ours, theirs))


def histories(kind, B, T, V, rng):
    """``(ids [B, T] int64, lengths [B] int64)``."""
    if kind == "random":
        return rng.integers(0, V, (B, T)), np.full(B, T, np.int64)
    with gzip.open(ML1M_SAMPLE, "rt") as f:
        rows = np.array([line.split("::") for line in f], dtype=np.int64)
    users, items = rows[:, 0], np.unique(rows[:, 1], return_inverse=True)[1]
    order = np.lexsort((rows[:, 3], users))
    users, items = users[order], items[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    ends = np.r_[starts[1:], len(users)]
    keep = np.flatnonzero(ends - starts >= 2)
    pick = rng.choice(keep, B, replace=len(keep) < B)
    ids, L = np.zeros((B, T), np.int64), np.zeros(B, np.int64)
    for b, u in enumerate(pick):
        h = items[max(starts[u], ends[u] - T):ends[u]]
        ids[b, :len(h)], L[b] = h, len(h)
    return ids, L


# -- the PyTorch model ----------------------------------------------------------------------------
def torch_model(torch, V, d, sizes, H, count_feature=True, eps=1e-8):
    F = torch.nn.functional

    class Rec(torch.nn.Module):
        """_recnet.RecNet in PyTorch (count scales only)."""

        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(V, d)
            i = d + 1 + int(count_feature)
            self.grus = torch.nn.ModuleList(torch.nn.GRU(i, H, batch_first=True) for _ in sizes)
            self.proj = torch.nn.Linear(len(sizes) * H + d + 1, d)
            self.beta = torch.nn.Parameter(torch.zeros(1))
            self.item_bias = torch.nn.Parameter(torch.zeros(V, 1))

        @staticmethod
        def _unit(x):  # x / max(|x|, eps), gradient constant below eps
            return x / torch.sqrt(torch.clamp((x * x).sum(-1, keepdim=True), min=eps * eps))

        def encode(self, ids, mask, closed):
            """``(f [B, T, S*H + d + 1], m [B, T, d])`` (see _recnet.RecNet.encode)."""
            B, T = ids.shape
            e = self.emb(ids) * mask[..., None]
            ehat = self._unit(e)
            cos = F.pad((ehat[:, 1:] * ehat[:, :-1]).sum(-1), (1, 0)) * mask
            x = torch.cat([e, cos[..., None]], -1)
            steps = torch.arange(1, T + 1, dtype=e.dtype, device=e.device)[None, :, None]
            return torch.cat(self.cells(x, mask, closed) + [x], -1), torch.cumsum(ehat, 1) / steps

        def cells(self, x, mask, closed):
            """Per scale ``[B, T, H]``: the state after the last window closed through t."""
            B, T = mask.shape
            states = []
            for k, gru, n in zip(sizes, self.grus, closed, strict=True):
                W = -(-T // k)
                xs = F.pad(x, (0, 0, 0, W * k - T)).view(B, W, k, -1).sum(2)
                cnt = F.pad(mask, (0, W * k - T)).view(B, W, k).sum(2)
                pooled = xs / torch.clamp(cnt, min=1)[..., None]
                if count_feature:
                    pooled = torch.cat([pooled, torch.log1p(cnt)[..., None]], -1)
                windows = (cnt > 0).sum(1)
                if bool((windows < W).any()):  # skip the padding, as chronoscale's kernel does
                    packed = torch.nn.utils.rnn.pack_padded_sequence(
                        pooled, windows, batch_first=True, enforce_sorted=False)
                    y = torch.nn.utils.rnn.pad_packed_sequence(gru(packed)[0], batch_first=True,
                                                               total_length=W)[0]
                else:
                    y, _ = gru(pooled)
                y = F.pad(y, (0, 0, 1, 0))  # row 0: the zero state (no window closed)
                states.append(torch.gather(y, 1, n[..., None].expand(B, T, H)))
            return states

        def table(self):
            E = self.emb.weight
            return torch.cat([E, self._unit(E), self.item_bias], 1)

        def z(self, f, m, b, t):
            u = self.proj(f[b, t])
            return torch.cat([u, self.beta * m[b, t], torch.ones_like(u[:, :1])], 1)

        def loss(self, ids, mask, closed, b, t, target):
            f, m = self.encode(ids, mask, closed)
            return F.cross_entropy(self.z(f, m, b, t) @ self.table().T, target)

        def recommend(self, ids, mask, closed, last, seen_rows, seen_items, k):
            f, m = self.encode(ids, mask, closed)
            rows = torch.arange(ids.shape[0], device=ids.device)
            scores = self.z(f, m, rows, last) @ self.table().T
            scores[seen_rows, seen_items] = -float("inf")
            return torch.topk(scores, k, dim=1)

    return Rec()


def torch_inputs(torch, model, ids, L):
    """The constant index tensors the PyTorch model needs (built once, outside the timings)."""
    B, T = ids.shape
    mask = np.arange(T)[None, :] < L[:, None]
    closed = []
    for sc in model.net.ms._scales:
        ol = -(-L // sc.size)  # windows per history (partial ones included)
        closed.append(torch.from_numpy(closed_through(sc, np.zeros((B, T), np.int64), L, ol)))
    b, t = np.nonzero(np.arange(T)[None, :] < (L - 1)[:, None])
    data = rd.read_histories(ids, L)
    rows, items = rd.seen_pairs(data, np.arange(B))
    tt = torch.from_numpy
    return {"ids": tt(ids), "mask": tt(mask).to(torch.get_default_dtype()), "closed": closed,
            "b": tt(b), "t": tt(t), "target": tt(ids[b, t + 1]), "last": tt(L - 1),
            "seen_rows": tt(rows), "seen_items": tt(items)}


def copy_weights(torch, model, tm):
    """chronoscale -> torch (same layouts: torch.nn.GRU gate order r, z, n)."""
    p = {n: torch.from_numpy(q.data.copy()) for n, q in model.net.named_parameters()}
    with torch.no_grad():
        tm.emb.weight.copy_(p["emb.weight"])
        for s, gru in enumerate(tm.grus):
            gru.weight_ih_l0.copy_(p[f"ms.s{s}.weight_ih"])
            gru.weight_hh_l0.copy_(p[f"ms.s{s}.weight_hh"])
            gru.bias_ih_l0.copy_(p[f"ms.s{s}.bias"])
            gru.bias_hh_l0.copy_(p[f"ms.s{s}.bias_hh"])
        tm.proj.weight.copy_(p["proj.weight"])
        tm.proj.bias.copy_(p["proj.bias"])
        tm.beta.copy_(p["beta"])
        tm.item_bias.copy_(p["item_bias"])


def torch_grads(tm):
    g = {"emb.weight": tm.emb.weight.grad, "proj.weight": tm.proj.weight.grad,
         "proj.bias": tm.proj.bias.grad, "beta": tm.beta.grad, "item_bias": tm.item_bias.grad}
    for s, gru in enumerate(tm.grus):
        g.update({f"ms.s{s}.weight_ih": gru.weight_ih_l0.grad,
                  f"ms.s{s}.weight_hh": gru.weight_hh_l0.grad,
                  f"ms.s{s}.bias": gru.bias_ih_l0.grad, f"ms.s{s}.bias_hh": gru.bias_hh_l0.grad})
    return {k: v.numpy() for k, v in g.items()}


def build(ids, L, V, d, H, scales, dtype, seed=0):
    """A fitted-shape MultiScaleRecommender (built without training) and its net."""
    m = MultiScaleRecommender(num_items=V, dim=d, units=H, scales=scales, cell="gru",
                              count_feature=True, dtype=dtype, random_state=seed)
    m._build({"num_items": V, "n_features": 0}, np.random.default_rng(seed))
    counts = np.bincount(ids[np.arange(ids.shape[1])[None, :] < L[:, None]], minlength=V) + 1.0
    m.net.item_bias.data[:, 0] = np.log(counts / counts.sum())
    m.optimizer_ = chronoscale.nn.Adam(m.net.parameters(), lr=1e-3, clipnorm=5.0)
    return m


# -- equivalence check ----------------------------------------------------------------------------
def check(torch) -> None:
    """float64, small sizes: copy chronoscale's weights into the PyTorch model; the loss, every
    gradient and the weights after one Adam step (with clipping) must match -- with the full
    mixed lengths (the PyTorch GRUs on packed sequences) and with every history full."""
    for full in (False, True):
        _check(torch, full)


def _check(torch, full) -> None:
    torch.set_default_dtype(torch.float64)
    rng = np.random.default_rng(7)
    V, d, H, B, T, scales = 40, 8, 6, 5, 37, ("1", "4", "16")
    label = "every history full" if full else "mixed lengths"
    ids = rng.integers(0, V, (B, T))
    L = np.full(B, T) if full else np.array([T, 1, 2, 17, 30])  # torch packs these
    m = build(ids, L, V, d, H, scales, "float64", seed=3)
    net = m.net
    for p in net.parameters():  # non-trivial values everywhere
        p.data[...] += rng.normal(0, 0.1, p.data.shape)
    net.beta.data[:] = 0.7
    tm = torch_model(torch, V, d, [s.size for s in net.ms._scales], H)
    copy_weights(torch, m, tm)
    inp = torch_inputs(torch, m, ids, L)
    topt = torch.optim.Adam(tm.parameters(), lr=1e-3, eps=1e-7)

    m.optimizer_.zero_grad()
    ours, _ = net.train_loss(ids, L)
    topt.zero_grad()
    theirs = tm.loss(inp["ids"], inp["mask"], inp["closed"], inp["b"], inp["t"], inp["target"])
    theirs.backward()
    grads = torch_grads(tm)
    worst = 0.0
    for name, p in net.named_parameters():
        g = p.grad if p.grad is not None else np.zeros_like(p.data)
        if p.grad is None and p.rows is not None:
            np.add.at(g, p.rows, p.grad_rows)
        err = np.max(np.abs(g - grads[name])) / max(np.max(np.abs(grads[name])), 1e-12)
        worst = max(worst, err)
        assert err < 1e-9, f"gradient of {name}: relative error {err:.3g}"
    m.optimizer_.step()
    torch.nn.utils.clip_grad_norm_(tm.parameters(), 5.0)
    topt.step()
    copy_back = torch_model(torch, V, d, [s.size for s in net.ms._scales], H)
    copy_weights(torch, m, copy_back)  # chronoscale's updated weights, in torch layout
    step_err = max(float(torch.max(torch.abs(a.detach() - b.detach()))) for a, b in
                   zip(copy_back.parameters(), tm.parameters(), strict=True))
    assert abs(ours - theirs.item()) < 1e-10 * abs(ours), (ours, theirs.item())
    assert step_err < 1e-10, f"weights after one Adam step differ by {step_err:.3g}"
    # recommend: the same top-10 items and scores
    ours_ids, ours_sc = m.recommend(ids, k=10, lengths=L)
    with torch.no_grad():
        ts, ti = tm.recommend(inp["ids"], inp["mask"], inp["closed"], inp["last"],
                              inp["seen_rows"], inp["seen_items"], 10)
    m2 = np.isfinite(ours_sc)
    assert np.allclose(ours_sc[m2], ts.numpy()[m2], rtol=1e-10, atol=1e-12)
    assert np.array_equal(ours_ids[m2], ti.numpy()[m2])
    print(f"check OK, {label} (float64, V={V}, d={d}, H={H}, B={B}, T={T}, "
          f"lengths={L.tolist()}): "
          f"loss {ours:.12f} vs torch {theirs.item():.12f}; worst gradient rel. error "
          f"{worst:.2e}; weights after one Adam step max |diff| {step_err:.2e}; recommend top-10 "
          f"equal")
    torch.set_default_dtype(torch.float32)


# -- benchmark ------------------------------------------------------------------------------------
def pieces(torch, m, tm, inp, ids, L, repeat, warmup) -> list:
    """The two heavy parts of a train step, each side alone on the same inputs: the multi-scale
    cells (pooling, 3 GRUs, gather at the scored events; forward, and forward + backward) and
    the full softmax over the catalogue (logits GEMM, cross-entropy, backward GEMMs; chronoscale
    in its native row blocks, torch in one piece), and the softmax's three GEMMs alone (blocks
    of 1,131 rows both sides, 6 N V (2d + 1) flops: the floor of the softmax on this machine's
    BLAS)."""
    net = m.net
    B, T = ids.shape
    b, t = np.nonzero(np.arange(T)[None, :] < (L - 1)[:, None])
    x = net.cos.forward(net.emb.forward(ids, lengths=L), lengths=L)
    Hs = sum(net.ms.units)
    rng = np.random.default_rng(1)
    dg = rng.standard_normal((len(b), Hs)).astype(x.dtype)
    z = rng.standard_normal((len(b), 2 * net.dim + 1)).astype(x.dtype) * 0.1
    F = net.table()[0]
    target = ids[b, t + 1]

    def cs_cells(backward):
        net.ms.run(x, L)
        net.ms.gather(b, t)
        if backward:
            net.ms.backward_rows(dg, b, t)

    xt, dgt, tb, ttt = torch.from_numpy(x), torch.from_numpy(dg), inp["b"], inp["t"]

    def th_cells(backward):
        xx = xt.clone().requires_grad_(backward)
        g = torch.cat([s[tb, ttt] for s in tm.cells(xx, inp["mask"], inp["closed"])], -1)
        if backward:
            g.backward(dgt)

    from chronoscale import ops

    zt, Ft, tt = torch.from_numpy(z), torch.from_numpy(F), torch.from_numpy(target)

    def th_softmax():
        zz, FF = zt.clone().requires_grad_(), Ft.clone().requires_grad_()
        torch.nn.functional.cross_entropy(zz @ FF.T, tt).backward()

    step = max(1, (1 << 22) // F.shape[0])

    def cs_gemms():  # the three GEMMs of the softmax in row blocks, no cross-entropy
        for i in range(0, len(z), step):
            logits, cache = ops.linear_forward(z[i:i + step], F)
            ops.linear_backward(logits, cache)

    def th_gemms():
        for i in range(0, len(z), step):
            zz = zt[i:i + step]
            g = zz @ Ft.T
            g @ Ft, g.T @ zz

    def no_grad(fn):
        def run():
            with torch.no_grad():
                fn()
        return run

    rows = []
    for name, ours, theirs in [
        ("cells forward", lambda: cs_cells(False), no_grad(lambda: th_cells(False))),
        ("cells fwd+bwd", lambda: cs_cells(True), lambda: th_cells(True)),
        ("softmax fwd+bwd", lambda: ops.full_softmax_loss(z, F, target), th_softmax),
        ("softmax GEMMs only", cs_gemms, th_gemms),
    ]:
        (a, ac), (c, cc) = paired_ms(ours, theirs, repeat, warmup)
        rows.append({"case": name, "chronoscale_ms": a, "torch_ms": c, "ratio": c / a,
                     "chronoscale_seq_s": B / a * 1e3, "torch_seq_s": B / c * 1e3,
                     "chronoscale_cpu_ms": ac, "torch_cpu_ms": cc})
    return rows


def profile_steps(step, sync, warmup: int, n: int) -> dict:
    """cProfile `n` chronoscale train steps after `warmup`, each ended by `sync()`; prints the
    functions with the most own time and the most cumulative time."""
    import cProfile
    import pstats

    for _ in range(warmup):
        step()
        sync()
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for _ in range(n):
        step()
        sync()
    prof.disable()
    print(f"# {n} profiled train steps: {(time.perf_counter() - t0) / n * 1e3:.1f} ms each "
          "(with the profiler's overhead)")
    stats = pstats.Stats(prof)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(25)
    return {}


PHASES = ("forward rows", "loss", "backward rows", "loss read-back", "optimiser + final sync")


def time_phases(step, sync, warmup: int, n: int) -> dict:
    """Host time of each phase of ``step`` (``step(mark=...)`` calls ``mark`` between phases),
    medians of ``n`` steps after ``warmup``: first as the step runs (a phase's time is its host
    work, plus any wait inside it), then with ``sync()`` after every phase (each phase's own
    device time shows). Where the first column is close to the second, the host is the bound."""
    out = {}
    for synced in (False, True):
        rows = []
        for r in range(warmup + n):
            t = [time.perf_counter()]

            def mark(t=t, synced=synced):
                if synced:
                    sync()
                t.append(time.perf_counter())

            step(mark=mark)
            sync()
            t.append(time.perf_counter())
            if r >= warmup:
                rows.append(np.diff(t))
        out["synced" if synced else "as run"] = np.median(rows, axis=0) * 1e3
    print(f"# phases of a chronoscale train step, ms (median of {n})")
    print(f"{'phase':<24} {'as run':>8} {'synced':>8}")
    for j, name in enumerate(PHASES):
        print(f"{name:<24} {out['as run'][j]:>8.2f} {out['synced'][j]:>8.2f}")
    print(f"{'total':<24} {out['as run'].sum():>8.2f} {out['synced'].sum():>8.2f}")
    return {k: v.tolist() for k, v in out.items()}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--seq-len", type=int, default=192)
    p.add_argument("--data", choices=("random", "ml1m"), default="random")
    p.add_argument("--only", choices=("both", "chronoscale", "torch"), default="both")
    p.add_argument("--check", action="store_true", help="float64 equivalence check only")
    p.add_argument("--pieces", action="store_true",
                   help="also time the cells and the full softmax alone, each side")
    p.add_argument("--phases", type=int, default=0, metavar="N",
                   help="time the phases of N chronoscale train steps (forward rows, loss, "
                        "backward rows, loss read-back, optimiser), without and with a sync "
                        "after each phase, and print the medians")
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="cProfile N chronoscale train steps (after warm-up) and print the top")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cuda: both models on the GPU (chronoscale device='cuda', torch + cuDNN)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.device == "cuda" and (args.pieces or args.check):
        p.error("--pieces and --check run on the CPU only")
    import torch

    if args.threads:
        chronoscale.set_num_threads(args.threads)
    torch.set_num_threads(chronoscale.get_num_threads())
    if args.check:
        check(torch)
        return {}
    V, d, H, scales, B, T = V_ML1M, 64, 128, ("1", "4", "16"), args.batch, args.seq_len
    rng = np.random.default_rng(0)
    ids, L = histories(args.data, B, T, V, rng)
    m = build(ids, L, V, d, H, scales, "float32")
    net, opt = m.net, m.optimizer_
    data = rd.read_histories(ids, L)
    idx = np.arange(B)
    calls = [0]

    def cs_step(precision="float32", mark=None):
        batch = rd.take(data, idx, net.dtype)
        opt.zero_grad()
        # as in fit: the loss stays on the device (read back by the phases' timing only)
        net.train_loss(batch["ids"], batch["lengths"], None, None, "full", 256,
                       mix_seed(0, 1, calls[0]), None, precision, _mark=mark,
                       wait=mark is not None)
        if mark:
            mark()  # the loss read-back ends train_loss
        opt.step()
        calls[0] += 1

    if args.profile and args.device == "cpu":
        return profile_steps(cs_step, lambda: None, args.warmup, args.profile)
    if args.phases and args.device == "cpu":
        return time_phases(cs_step, lambda: None, args.warmup, args.phases)
    tm = torch_model(torch, V, d, [s.size for s in net.ms._scales], H)
    copy_weights(torch, m, tm)
    inp = torch_inputs(torch, m, ids, L)
    one = torch_inputs(torch, m, ids[:1, :int(L[0])], L[:1])
    sync = lambda: None  # noqa: E731
    if args.device == "cuda":  # both sides on the GPU; every timed call ends with a device sync
        m.device = "cuda"
        m._place()
        m.optimizer_ = opt = chronoscale.nn.Adam(net.parameters(), lr=1e-3, clipnorm=5.0)
        tm.to("cuda")
        inp, one = ({k: ([x.cuda() for x in v] if isinstance(v, list) else v.cuda())
                     for k, v in x.items()} for x in (inp, one))
        sync = torch.cuda.synchronize
        if args.profile:  # where the host's time goes in a GPU step (waits show as sync time)
            return profile_steps(cs_step, sync, args.warmup, args.profile)
        if args.phases:
            return time_phases(cs_step, sync, args.warmup, args.phases)
    topt = torch.optim.Adam(tm.parameters(), lr=1e-3, eps=1e-7)

    def th_step(bf16=False, tf32=False):
        topt.zero_grad()
        old = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        try:
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
                loss = tm.loss(inp["ids"], inp["mask"], inp["closed"], inp["b"], inp["t"],
                               inp["target"])
            loss.backward()
        finally:
            torch.backends.cuda.matmul.allow_tf32 = old
        torch.nn.utils.clip_grad_norm_(tm.parameters(), 5.0)
        topt.step()

    def th_rec(x):
        with torch.no_grad():
            return tm.recommend(x["ids"], x["mask"], x["closed"], x["last"], x["seen_rows"],
                                x["seen_items"], 10)

    ids1, L1 = ids[:1, :int(L[0])], L[:1]
    def synced(fn):
        def run():
            fn()
            sync()
        return run

    cases = [
        (f"train step B={B}", synced(cs_step), synced(th_step), args.repeat),
        ("recommend B=1", synced(lambda: m.recommend(ids1, k=10, lengths=L1)),
         synced(lambda: th_rec(one)), max(20, args.repeat)),
        (f"recommend B={B}", synced(lambda: m.recommend(ids, k=10, lengths=L)),
         synced(lambda: th_rec(inp)), args.repeat),
    ]
    if args.device == "cuda":  # both sides with bfloat16 products (torch: autocast)
        cases.insert(1, (f"train step B={B} bf16", synced(lambda: cs_step("bfloat16")),
                         synced(lambda: th_step(True)), args.repeat))

        def steps(fn, n=10):  # back to back as in fit (no wait between them), one sync
            def run():
                for _ in range(n):
                    fn()
            return synced(run)

        cases.insert(2, (f"10 train steps B={B}, one sync", steps(cs_step), steps(th_step),
                         max(3, args.repeat // 2)))
        # both sides with TF32 products (torch: backends.cuda.matmul.allow_tf32)
        cases.insert(2, (f"train step B={B} tf32", synced(lambda: cs_step("tfloat32")),
                         synced(lambda: th_step(tf32=True)), args.repeat))
        # float32-accurate on both sides: chronoscale's 3xTF32 softmax beside torch's float32
        cases.insert(3, (f"train step B={B} tf32x3 / torch float32",
                         synced(lambda: cs_step("tf32x3")), synced(th_step), args.repeat))
        cases.append((f"10 train steps B={B} tf32x3 / torch float32, one sync",
                      steps(lambda: cs_step("tf32x3")), steps(th_step),
                      max(3, args.repeat // 2)))
    load0 = os.getloadavg()[0]
    rows = [] if not args.pieces else pieces(torch, m, tm, inp, ids, L, args.repeat,
                                             args.warmup)
    for name, ours, theirs, rep in cases:
        (a, ac), (b, bc) = paired_ms(ours if args.only != "torch" else None,
                                     theirs if args.only != "chronoscale" else None, rep,
                                     args.warmup)
        n = 1 if name.endswith("B=1") else (10 * B if name.startswith("10 ") else B)
        rows.append({"case": name, "chronoscale_ms": a, "torch_ms": b, "ratio": b / a,
                     "chronoscale_seq_s": n / a * 1e3, "torch_seq_s": n / b * 1e3,
                     "chronoscale_cpu_ms": ac, "torch_cpu_ms": bc})

    gpu = {}
    if args.device == "cuda":  # GPU time per train step (CUPTI): what the device itself needs
        from bench_common import api_profile, kernel_profile

        for side, fn in (("chronoscale", synced(cs_step)), ("torch", synced(th_step)),
                         ("chronoscale bf16", synced(lambda: cs_step("bfloat16"))),
                         ("torch bf16", synced(lambda: th_step(True))),
                         ("chronoscale tf32x3", synced(lambda: cs_step("tf32x3")))):
            us, top = kernel_profile(fn, sync, torch, n=args.repeat, top=8)
            gpu[side] = {"kernels_ms": None if us is None else us / 1e3, "top": top}
        # Host time inside CUDA API calls of chronoscale's step (a hidden wait would show).
        gpu["chronoscale"]["api"] = api_profile(synced(cs_step), sync, torch, n=args.repeat)

    info = chronoscale.build_info()
    positions = int(np.sum(L - 1))
    where = (torch.cuda.get_device_name() if args.device == "cuda"
             else platform.processor() or platform.machine())
    print(f"# {where} ({args.device}), {info['num_threads']} threads, "
          f"BLAS {info['blas']}, torch {torch.__version__}; data={args.data}, B={B}, T={T}, "
          f"positions={positions}, V={V}, d={d}, H={H}, GRU, scales {list(scales)}, "
          f"median of {args.repeat} (alternating) after {args.warmup} warm-up; load "
          f"{load0:.2f} -> {os.getloadavg()[0]:.2f}")
    print(f"{'case':<20} {'chronoscale ms':>15} {'torch ms':>10} {'chronoscale seq/s':>18} "
          f"{'torch seq/s':>12} {'torch/chronoscale':>18} {'cpu ms cs / torch':>20}")
    for r in rows:
        print(f"{r['case']:<20} {r['chronoscale_ms']:>15.1f} {r['torch_ms']:>10.1f} "
              f"{r['chronoscale_seq_s']:>18.1f} {r['torch_seq_s']:>12.1f} {r['ratio']:>17.2f}x "
              f"{r['chronoscale_cpu_ms']:>10.0f} / {r['torch_cpu_ms']:<8.0f}")
    for side, g in gpu.items():  # wall - kernels = what the host and its waits add
        if g["kernels_ms"] is not None:
            print(f"# {side} train step: GPU kernels and copies {g['kernels_ms']:.2f} ms per step;"
                  " longest:")
            for us, name in g["top"]:
                print(f"#   {us / 1e3:8.3f} ms  {name}")
        if g.get("api"):
            print(f"# {side} train step: host time in CUDA API calls per step (incl. the final"
                  " sync):")
            for us, calls, name in g["api"]:
                print(f"#   {us / 1e3:8.3f} ms  {calls:6.1f} calls  {name}")
    gemm = [r for r in rows if r["case"] == "softmax GEMMs only"]
    if gemm:
        flops = 6.0 * positions * V * (2 * d + 1)
        print(f"# softmax GEMMs: {flops / 1e9:.1f} GFLOP per step; chronoscale "
              f"{flops / gemm[0]['chronoscale_ms'] / 1e6:.1f} GFLOP/s, torch "
              f"{flops / gemm[0]['torch_ms'] / 1e6:.1f} GFLOP/s")
    result = {"rows": rows, "build_info": info, "torch": torch.__version__, "data": args.data,
              "device": args.device, "gpu_profile": gpu,
              "B": B, "T": T, "positions": positions}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
