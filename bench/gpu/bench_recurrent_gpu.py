"""GPU benchmark: chronoscale's CUDA LSTM / GRU beside torch.nn.LSTM / GRU (cuDNN).

Training step = forward + backward (gradients of x and all weights for a given dy), float32,
full-length sequences, I = --input. Timed with CUDA events on the current stream after a warm-up;
medians of several repetitions. PyTorch runs twice: as configured by default (cuDNN may use TF32
tensor cores) and with TF32 off (IEEE float32, the same arithmetic as chronoscale). Also the
B = 1, T = 50 LSTM forward latency. Prints a table; --json (or $OUT) gets every number.

    python bench/gpu/bench_recurrent_gpu.py [--quick] [--budget SECONDS] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from bench_common import host_us, kernel_profile  # noqa: E402


def parse():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", default="lstm,gru")
    ap.add_argument("--batch", default="64,256,1024")
    ap.add_argument("--steps", default="50,200")
    ap.add_argument("--hidden", default="64,128,256")
    ap.add_argument("--input", type=int, default=64)
    ap.add_argument("--quick", action="store_true", help="B=64,256 T=50 only")
    ap.add_argument("--budget", type=float, default=240.0, help="seconds for the grid table")
    ap.add_argument("--json", default=None)
    ap.add_argument("--summary", default=None, help="print the table of a saved JSON and exit")
    return ap.parse_args()


def ints(s):
    return [int(v) for v in s.split(",") if v]


def timed(fn, cp, min_reps=5, max_reps=30, target_s=0.6):
    """Median milliseconds of fn() on the current stream (CUDA events), after a warm-up. Events
    around one call on an idle GPU also count the host's time to queue the call's work."""
    fn()
    fn()
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    start.record()
    fn()
    stop.record()
    stop.synchronize()
    one = max(cp.cuda.get_elapsed_time(start, stop), 1e-3)
    reps = int(min(max_reps, max(min_reps, target_s * 1e3 / one)))
    out = []
    for _ in range(reps):
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        out.append(cp.cuda.get_elapsed_time(start, stop))
    return float(np.median(out)), float(np.min(out)), reps


def kernel_time_us(fn, cp, torch, n=20):
    """``(microseconds per call, longest)``: the CUDA kernel and copy durations of fn() (CUPTI,
    see bench_common.kernel_profile) and its four longest kernels as ``[microseconds per call,
    name]``; ``(None, [])`` without torch."""
    if torch is None:
        return None, []
    return kernel_profile(fn, cp.cuda.Device().synchronize, torch, n)


def ours_step(cell, B, T, I, H, cp, ops):
    G = 4 if cell == "lstm" else 3
    rs = cp.random.RandomState(0)
    s = np.float32(1.0 / np.sqrt(H))

    def uniform(*shape):
        return (rs.random_sample(shape, dtype=cp.float32) * 2 - 1) * s

    x = rs.standard_normal((B, T, I), dtype=cp.float32)
    w_ih, w_hh, b_ih, b_hh = uniform(G * H, I), uniform(G * H, H), uniform(G * H), uniform(G * H)
    dy = rs.standard_normal((B, T, H), dtype=cp.float32)

    if cell == "lstm":

        def fwd():
            return ops.lstm_forward(x, w_ih, w_hh, b_ih, b_hh)[3]

        def step():
            ops.lstm_backward(dy, None, None, fwd())

    else:

        def fwd():
            return ops.gru_forward(x, w_ih, w_hh, b_ih, b_hh)[2]

        def step():
            ops.gru_backward(dy, None, fwd())

    return fwd, step


def torch_step(cell, B, T, I, H, torch):
    mod = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(I, H, batch_first=True).cuda()
    x = torch.randn(B, T, I, device="cuda", requires_grad=True)
    dy = torch.randn(B, T, H, device="cuda")

    def fwd():
        with torch.no_grad():
            mod(x)

    def step():
        for prm in mod.parameters():
            prm.grad = None
        x.grad = None
        y, _ = mod(x)
        y.backward(dy)

    return fwd, step


def parity(cp, ops, torch):
    """Max relative difference of chronoscale vs torch LSTM outputs on copied weights (fp32)."""
    torch.backends.cudnn.allow_tf32 = False
    m = torch.nn.LSTM(32, 48, batch_first=True).cuda()
    x = torch.randn(8, 20, 32, device="cuda")
    with torch.no_grad():
        y_t, _ = m(x)
    params = (m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)
    w = [cp.asarray(p.detach()) for p in params]
    y = ops.lstm_forward(cp.asarray(x), *w)[0]
    ref = cp.asarray(y_t)
    torch.backends.cudnn.allow_tf32 = True
    return float(cp.abs(y - ref).max() / cp.abs(ref).max())


def main():
    args = parse()
    if args.summary:
        with open(args.summary) as f:
            print_summary(json.load(f))
        return
    import cupy as cp

    import chronoscale
    from chronoscale import _core, ops

    try:
        import torch
    except ImportError:
        torch = None
    info = chronoscale.build_info()
    if not info["cuda_available"]:
        sys.exit(f"no usable CUDA build/device: cuda={info['cuda']}")
    dev = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    meta = {
        "device": dev["name"].decode() if isinstance(dev["name"], bytes) else str(dev["name"]),
        "sms": dev["multiProcessorCount"],
        "chronoscale": chronoscale.__version__,
        "gemm_backend": None,
        "cupy": cp.__version__,
        "torch": getattr(torch, "__version__", None),
        "cudnn": torch.backends.cudnn.version() if torch is not None else None,
        "python": platform.python_version(),
    }
    try:
        meta["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        meta["commit"] = None
    results = {"meta": meta, "train_step": [], "latency_b1_t50": []}

    # Latency first (small, and the target): B = 1, T = 50 LSTM forward.
    for H in [64, 128, 256]:
        fwd, _ = ours_step("lstm", 1, 50, args.input, H, cp, ops)
        gpu_ms, _, _ = timed(fwd, cp, min_reps=50, max_reps=200, target_s=0.2)
        cp.cuda.Device().synchronize()
        n = 200
        t0 = time.perf_counter()
        for _ in range(n):
            fwd()
        cp.cuda.Device().synchronize()
        wall_us = (time.perf_counter() - t0) / n * 1e6
        row = {"H": H, "ours_gpu_us": gpu_ms * 1e3, "ours_wall_us": wall_us}
        row["ours_kernels_us"], row["ours_top"] = kernel_time_us(fwd, cp, torch)
        row["ours_host_us"] = host_us(fwd, cp.cuda.Device().synchronize)
        # The same call with W_hh kept in shared memory (CHRONOSCALE_CUDA_RNN_REG=0): the A/B of
        # the register-resident forward, which the planner picks for small H.
        os.environ["CHRONOSCALE_CUDA_RNN_REG"] = "0"
        try:
            smem_ms = timed(fwd, cp, min_reps=50, max_reps=200, target_s=0.2)[0]
            row["ours_smem_gpu_us"] = smem_ms * 1e3
            row["ours_smem_kernels_us"] = kernel_time_us(fwd, cp, torch)[0]
        finally:
            del os.environ["CHRONOSCALE_CUDA_RNN_REG"]
        if torch is not None:
            tf, _ = torch_step("lstm", 1, 50, args.input, H, torch)
            row["torch_gpu_us"] = timed(tf, cp, min_reps=50, max_reps=200, target_s=0.2)[0] * 1e3
            row["torch_kernels_us"] = kernel_time_us(tf, cp, torch)[0]
            row["torch_host_us"] = host_us(tf, cp.cuda.Device().synchronize)
        results["latency_b1_t50"].append(row)
    meta["gemm_backend"] = _core.cuda_gemm_backend()
    if torch is not None:
        meta["parity_lstm_vs_torch_fp32"] = parity(cp, ops, torch)

    cells = args.cells.split(",")
    batches = [64, 256] if args.quick else ints(args.batch)
    steps = [50] if args.quick else ints(args.steps)
    deadline = time.monotonic() + args.budget
    skipped = 0
    for cell in cells:
        for T in steps:
            for H in ints(args.hidden):
                for B in batches:
                    if time.monotonic() > deadline:
                        skipped += 1
                        continue
                    row = {"cell": cell, "B": B, "T": T, "H": H, "I": args.input}
                    fwd, step = ours_step(cell, B, T, args.input, H, cp, ops)
                    row["ours_fwd_ms"] = timed(fwd, cp)[0]
                    row["ours_step_ms"] = timed(step, cp)[0]
                    del fwd, step
                    if torch is not None:
                        tf, ts = torch_step(cell, B, T, args.input, H, torch)
                        torch.backends.cudnn.allow_tf32 = True
                        row["torch_step_ms"] = timed(ts, cp)[0]
                        torch.backends.cudnn.allow_tf32 = False
                        row["torch_fp32_step_ms"] = timed(ts, cp)[0]
                        row["torch_fp32_fwd_ms"] = timed(tf, cp)[0]
                        torch.backends.cudnn.allow_tf32 = True
                        del tf, ts
                    cp.get_default_memory_pool().free_all_blocks()
                    results["train_step"].append(row)
                    print(fmt_row(row), flush=True)
    results["skipped_for_budget"] = skipped

    print_summary(results)
    path = args.json or (
        os.path.join(os.environ["OUT"], "bench_recurrent_gpu.json")
        if os.environ.get("OUT")
        else None
    )
    if path:
        with open(path, "w") as f:
            json.dump(results, f, indent=1)
        print(f"wrote {path}")


def fmt_row(r):
    t = r.get("torch_step_ms")
    t32 = r.get("torch_fp32_step_ms")
    sp = f"{t / r['ours_step_ms']:5.2f}x" if t else "   - "
    sp32 = f"{t32 / r['ours_step_ms']:5.2f}x" if t32 else "   - "
    return (
        f"{r['cell']:4s} B={r['B']:5d} T={r['T']:4d} H={r['H']:4d}"
        f" | ours fwd {r['ours_fwd_ms']:8.3f}"
        f" step {r['ours_step_ms']:8.3f} ms | torch step {t or float('nan'):8.3f}"
        f" fp32 {t32 or float('nan'):8.3f} ms | speedup {sp} (fp32 {sp32})"
    )


def print_summary(results):
    m = results["meta"]
    print(
        f"\n== {m['device']} ({m['sms']} SMs), chronoscale {m['chronoscale']} @ {m['commit']},"
        f" gemm {m['gemm_backend']}, torch {m['torch']}, cuDNN {m['cudnn']}"
    )
    if "parity_lstm_vs_torch_fp32" in m:
        diff = m["parity_lstm_vs_torch_fp32"]
        print(f"LSTM output vs torch (fp32, copied weights): rel. diff {diff:.1e}")
    print("B=1 T=50 LSTM forward latency, us (events: call on an idle GPU incl. host queueing;")
    print("  wall: synchronous call; kernels: sum of GPU kernel durations per call, CUPTI;")
    print("  smem: W_hh in shared memory, CHRONOSCALE_CUDA_RNN_REG=0; host: time to return")
    print("  from a call on an idle GPU without waiting for it)")
    print(
        "     H  ours-events  ours-wall  ours-kernels  ours-host  smem-events  smem-kernels"
        "  torch-events  torch-kernels  torch-host"
    )

    def num(v):
        return float("nan") if v is None else v

    for r in results["latency_b1_t50"]:
        print(
            f"  {r['H']:4d} {r['ours_gpu_us']:12.1f} {r['ours_wall_us']:10.1f}"
            f" {num(r.get('ours_kernels_us')):13.1f} {num(r.get('ours_host_us')):10.1f}"
            f" {num(r.get('ours_smem_gpu_us')):12.1f} {num(r.get('ours_smem_kernels_us')):13.1f}"
            f" {num(r.get('torch_gpu_us')):13.1f} {num(r.get('torch_kernels_us')):14.1f}"
            f" {num(r.get('torch_host_us')):11.1f}"
        )
        for us, name in r.get("ours_top", [])[:3]:
            print(f"        {us:8.1f} us  {name}")
    print("training step (fwd+bwd) medians, ms; speedup = torch / ours:")
    for r in results["train_step"]:
        print("  " + fmt_row(r))
    if results.get("skipped_for_budget"):
        print(f"  ({results['skipped_for_budget']} configurations skipped: --budget reached)")


if __name__ == "__main__":
    main()
