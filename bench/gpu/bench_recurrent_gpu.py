"""GPU benchmark: chronoscale's CUDA LSTM / GRU beside torch.nn.LSTM / GRU (cuDNN).

Training step = forward + backward (gradients of x and all weights for a given dy), float32,
full-length sequences, I = --input. Timed with CUDA events on the current stream after a warm-up;
medians of several repetitions. PyTorch runs twice: as configured by default (cuDNN may use TF32
tensor cores) and with TF32 off (IEEE float32, the same arithmetic as chronoscale). Also the
B = 1, T = 50 LSTM forward latency. Prints a table; --json (or $OUT) gets every number.

Large batches (B >= 256): an A/B of the two recurrent strategies on the same inputs, to calibrate
the automatic choice (CHRONOSCALE_CUDA_RNN_MODE unset: the gemm mode when B*G*H*H >= 2**26, G = 4
for the LSTM, 3 for the GRU). The training step is timed again with CHRONOSCALE_CUDA_RNN_MODE=gemm
(per time step one cuBLAS GEMM plus one fused elementwise kernel) and =persistent (the persistent
kernels), alternating between the two in a few short rounds; the rows get "step_gemm",
"step_persistent" (ms) and "auto" (the rule's pick, computed here), and the summary a second
table. It counts against --budget (a few seconds for the default grid); --no-mode-ab skips it.
Each size's step is also timed with CHRONOSCALE_CUDA_RNN_STATE_REGS=0 (the backward's running
dh / dc read back from global memory at every step instead of kept in registers):
"step_state_global", and a summary line of its ratio to the default (--no-state-ab skips it).

    python bench/gpu/bench_recurrent_gpu.py [--quick] [--budget SECONDS] [--json PATH]
        [--no-mode-ab] [--no-state-ab] [--summary PATH]
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

MODE_ENV = "CHRONOSCALE_CUDA_RNN_MODE"
STATE_ENV = "CHRONOSCALE_CUDA_RNN_STATE_REGS"
AB_MODES = ("persistent", "gemm")  # the A/B's values of MODE_ENV, timed in this order per round
AB_MIN_BATCH = 256  # the A/B runs for the grid's sizes with B >= this
# The automatic rule: the gemm mode when B*G*H*H >= GEMM_MODE_WORK (kGemmModeMinWork in
# cuda/recurrent_plan.cuh; keep the two equal).
GEMM_MODE_WORK = 2**26


def parse():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", default="lstm,gru")
    ap.add_argument("--batch", default="64,256,1024")
    ap.add_argument("--steps", default="50,200")
    ap.add_argument("--hidden", default="64,128,256")
    ap.add_argument("--input", type=int, default=64)
    ap.add_argument("--quick", action="store_true", help="B=64,256 T=50 only")
    ap.add_argument(
        "--budget",
        type=float,
        default=240.0,
        help="seconds for the grid table (its gemm / persistent A/B included)",
    )
    ap.add_argument("--json", default=None)
    ap.add_argument(
        "--no-mode-ab",
        action="store_true",
        help=f"skip the {MODE_ENV}=gemm vs =persistent A/B of the B >= {AB_MIN_BATCH} sizes",
    )
    ap.add_argument(
        "--no-state-ab",
        action="store_true",
        help=f"skip the {STATE_ENV}=0 timing of every size (backward state in global memory)",
    )
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


def auto_mode(cell, B, H):
    """The mode that CHRONOSCALE_CUDA_RNN_MODE unset picks: "gemm" when B*G*H*H >= 2**26,
    else "persistent" (the planner's rule restated; G = 4 LSTM, 3 GRU)."""
    G = 4 if cell == "lstm" else 3
    return "gemm" if B * G * H * H >= GEMM_MODE_WORK else "persistent"


def timed_modes(fn, cp, est_ms, rounds=3, target_s=0.1, max_reps=6):
    """A/B of fn() under each of AB_MODES: ``({mode: median ms or None}, {mode: error})``.

    ``rounds`` rounds alternate the modes (persistent, gemm, persistent, gemm, ...); in each, a
    mode gets one untimed call after the switch, then ``reps`` calls timed with CUDA events as in
    timed(). ``reps`` (2 to max_reps) comes from est_ms, the step's time measured before, so that
    all rounds together take about target_s per mode. A mode whose call raises (e.g. a build
    that does not know it) gets None and the error's text, and is not called again. MODE_ENV is
    restored to its value before the call afterwards, also on an exception."""
    reps = int(min(max_reps, max(2, target_s * 1e3 / (rounds * max(est_ms, 1e-3)))))
    samples = {m: [] for m in AB_MODES}
    errors = {}
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    old = os.environ.get(MODE_ENV)
    try:
        for _ in range(rounds):
            for m in AB_MODES:
                if m in errors:
                    continue
                os.environ[MODE_ENV] = m
                try:
                    fn()
                    for _ in range(reps):
                        start.record()
                        fn()
                        stop.record()
                        stop.synchronize()
                        samples[m].append(cp.cuda.get_elapsed_time(start, stop))
                except Exception as e:  # recorded; the benchmark goes on
                    errors[m] = f"{type(e).__name__}: {e}"
    finally:
        if old is None:
            os.environ.pop(MODE_ENV, None)
        else:
            os.environ[MODE_ENV] = old
    med = {m: (None if m in errors else float(np.median(v))) for m, v in samples.items()}
    return med, errors


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
        # Set from outside, it overrides the automatic choice in every row's ours_* timings.
        "rnn_mode_env": os.environ.get(MODE_ENV),
    }
    # COMMIT (run_device.sh's command line) first: the device's copy of .git can be stale.
    meta["commit"] = os.environ.get("COMMIT")
    try:
        meta["commit"] = meta["commit"] or subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        meta["commit"] = None
    results = {"meta": meta, "train_step": [], "latency_b1_t50": []}
    results["mode_ab"] = {
        "enabled": not args.no_mode_ab,
        "min_batch": AB_MIN_BATCH,
        "gemm_work_threshold": GEMM_MODE_WORK,
        "seconds": 0.0,
    }

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
                    if not args.no_state_ab:
                        os.environ[STATE_ENV] = "0"
                        try:
                            row["step_state_global"] = timed(step, cp)[0]
                        finally:
                            del os.environ[STATE_ENV]
                    if B >= AB_MIN_BATCH and not args.no_mode_ab:
                        t0 = time.monotonic()
                        med, errors = timed_modes(step, cp, row["ours_step_ms"])
                        results["mode_ab"]["seconds"] += time.monotonic() - t0
                        row["step_persistent"] = med["persistent"]
                        row["step_gemm"] = med["gemm"]
                        row["auto"] = auto_mode(cell, B, H)
                        if errors:
                            row["mode_ab_error"] = errors
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
                    if "auto" in row:
                        print(fmt_ab(row), flush=True)
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


def fmt_ms(v, width=8):
    return f"{v:{width}.3f}" if isinstance(v, (int, float)) else f"{'-':>{width}s}"


def fmt_ab(r):
    """The live line of a size's gemm vs persistent A/B."""
    line = (
        f"     A/B {MODE_ENV}: persistent {fmt_ms(r.get('step_persistent'))}"
        f" gemm {fmt_ms(r.get('step_gemm'))} ms (auto: {r.get('auto', '-')})"
    )
    for m, err in (r.get("mode_ab_error") or {}).items():
        line += f"\n       {m} failed: {err[:200]}"
    return line


def work_log2(r):
    """log2(B*G*H*H), the quantity of the automatic rule (gemm from 26 on)."""
    G = 4 if r["cell"] == "lstm" else 3
    return float(np.log2(r["B"] * G * r["H"] * r["H"]))


def print_mode_ab(results):
    """The second table: gemm vs persistent at large batch (nothing for a JSON without it)."""
    ab = results.get("mode_ab") or {}
    rows = [r for r in results["train_step"] if "step_gemm" in r or "step_persistent" in r]
    if not rows:
        if ab and not ab.get("enabled", True):
            print("large batch: gemm vs persistent: not run (--no-mode-ab)")
        return
    print(
        f"large batch: gemm vs persistent ({MODE_ENV}=gemm / =persistent, training step medians,"
        f" ms, {ab.get('seconds', float('nan')):.1f} s in all);\n  speedup = persistent / gemm;"
        " auto = the rule's pick (gemm when B*G*H*H >= 2**26), '!': the other mode was more"
        " than 5% faster"
    )
    print(
        "  cell     B    T    H  log2(BGH^2)  ours persistent  ours gemm   gemm speedup"
        "  auto pick    torch step  torch fp32"
    )
    n = n_gemm = n_right = 0
    for r in rows:
        p, g = r.get("step_persistent"), r.get("step_gemm")
        auto = r.get("auto", "-")
        sp = "-"
        if isinstance(p, (int, float)) and isinstance(g, (int, float)) and g > 0:
            sp = f"{p / g:.2f}x"
            n += 1
            n_gemm += g < p
            fast, slow = ("gemm", p) if g < p else ("persistent", g)
            other_faster = auto != fast and slow > 1.05 * min(p, g)
            n_right += not other_faster
            if other_faster:
                auto += "!"
        print(
            f"  {r['cell']:4s} {r['B']:5d} {r['T']:4d} {r['H']:4d} {work_log2(r):12.2f}"
            f" {fmt_ms(p, 16)} {fmt_ms(g, 10)} {sp:>14s}  {auto:11s}"
            f" {fmt_ms(r.get('torch_step_ms'), 10)} {fmt_ms(r.get('torch_fp32_step_ms'), 11)}"
        )
        for m, err in (r.get("mode_ab_error") or {}).items():
            print(f"        {m} failed: {err[:200]}")
    if n:
        print(
            f"  gemm faster at {n_gemm} of {n} sizes; the automatic rule picks the faster mode"
            f" (or one within 5%) at {n_right} of {n}"
        )


def print_summary(results):
    m = results["meta"]
    print(
        f"\n== {m['device']} ({m['sms']} SMs), chronoscale {m['chronoscale']} @ {m['commit']},"
        f" gemm {m['gemm_backend']}, torch {m['torch']}, cuDNN {m['cudnn']}"
    )
    if m.get("rnn_mode_env"):
        print(f"{MODE_ENV}={m['rnn_mode_env']} was set: the ours columns are that mode, not auto")
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
    print_mode_ab(results)
    print_state_ab(results)


def print_state_ab(results):
    """One line: the training step with the backward's dh / dc in global memory
    (CHRONOSCALE_CUDA_RNN_STATE_REGS=0) over the default, at the sizes the persistent kernels
    run (the automatic rule's "persistent")."""
    r = [
        x["step_state_global"] / x["ours_step_ms"]
        for x in results["train_step"]
        if "step_state_global" in x and auto_mode(x["cell"], x["B"], x["H"]) == "persistent"
    ]
    if r:
        print(
            f"backward state: step with {STATE_ENV}=0 / default (registers), {len(r)} persistent"
            f" sizes: min {min(r):.2f}, median {float(np.median(r)):.2f}, max {max(r):.2f}"
            " (above 1: registers faster)"
        )


if __name__ == "__main__":
    main()
