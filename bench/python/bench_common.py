"""Shared pieces of the recurrent benchmarks: the size grid, inputs, the two runners (chronoscale
and torch.nn), interleaved median timing, the hardware line and table/JSON/markdown output.

Each measured call is one forward + backward pass over a full batch (no lengths): chronoscale
``ops.<cell>_forward`` + ``ops.<cell>_backward(dy)``; torch ``nn.LSTM/GRU(x)`` then
``torch.autograd.grad(y, [x, *params], dy)``, i.e. the same gradients (dx, dW, db) for the same
loss ``sum(y * dy)``.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import re
import statistics
import sys
import time

import numpy as np

import chronoscale
from chronoscale import ops

CELLS = ("lstm", "gru")
GATES = {"lstm": 4, "gru": 3}
INPUT = 64
GRIDS = {
    # (B, T, H) triples; I = 64 throughout.
    "full": [(b, t, h) for b, t, h in itertools.product((1, 64, 256), (50, 200), (64, 128, 256))],
    "quick": [(1, 50, 64), (1, 50, 256), (64, 50, 128), (256, 50, 256)],
}


def make_inputs(cell: str, B: int, T: int, H: int, I: int = INPUT, seed: int = 0) -> dict:
    """float32 inputs in the torch.nn layout, uniform(-1/sqrt(H), 1/sqrt(H)) weights like torch."""
    rng = np.random.default_rng(seed)
    G, s = GATES[cell], 1.0 / np.sqrt(H)

    def u(*shape):
        return rng.uniform(-s, s, shape).astype(np.float32)

    return {
        "x": rng.standard_normal((B, T, I)).astype(np.float32),
        "w_ih": u(G * H, I), "w_hh": u(G * H, H), "b_ih": u(G * H), "b_hh": u(G * H),
        "dy": rng.standard_normal((B, T, H)).astype(np.float32),
    }


def chronoscale_runner(cell: str, p: dict):
    """A zero-argument callable doing one chronoscale forward + backward."""
    x, w_ih, w_hh, b_ih, b_hh, dy = (p[k] for k in ("x", "w_ih", "w_hh", "b_ih", "b_hh", "dy"))
    if cell == "lstm":
        def run():
            _, _, _, cache = ops.lstm_forward(x, w_ih, w_hh, b_ih, b_hh)
            return ops.lstm_backward(dy, None, None, cache)
    else:
        def run():
            _, _, cache = ops.gru_forward(x, w_ih, w_hh, b_ih, b_hh)
            return ops.gru_backward(dy, None, cache)
    return run


def torch_runner(cell: str, p: dict):
    """The same pass with torch.nn.LSTM / GRU on the same weights (CPU, float32)."""
    import torch

    B, T, I = p["x"].shape
    H = p["w_hh"].shape[1]
    m = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(I, H, batch_first=True)
    with torch.no_grad():
        for name in ("w_ih", "w_hh", "b_ih", "b_hh"):
            attr = {"w_ih": "weight_ih_l0", "w_hh": "weight_hh_l0",
                    "b_ih": "bias_ih_l0", "b_hh": "bias_hh_l0"}[name]
            getattr(m, attr).copy_(torch.from_numpy(p[name]))
    x = torch.from_numpy(p["x"]).requires_grad_()
    dy = torch.from_numpy(p["dy"])
    params = list(m.parameters())

    def run():
        y, _ = m(x)
        return torch.autograd.grad(y, [x, *params], dy)
    return run


def set_threads(n: int | None) -> int:
    """Give chronoscale and torch the same thread count; returns it."""
    if n:
        chronoscale.set_num_threads(n)
    n = chronoscale.get_num_threads()
    try:
        import torch
        torch.set_num_threads(n)
    except ImportError:
        pass
    return n


def time_pair(fns: dict, repeat: int, warmup: int = 1) -> dict:
    """Median milliseconds of each callable; the callables run interleaved (a, b, a, b, ...) so
    that noise from other processes hits both alike."""
    for _ in range(warmup):
        for f in fns.values():
            f()
    times = {k: [] for k in fns}
    for _ in range(repeat):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append((time.perf_counter() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def paired(fns: dict, repeat: int, sync) -> dict:
    """Median milliseconds of each callable over ``repeat`` rounds after one warm-up round; the
    order alternates from round to round and ``sync()`` (a device synchronisation, or nothing)
    runs before and after each call."""
    names = list(fns)
    times = {k: [] for k in names}
    for r in range(repeat + 1):  # round 0 is the warm-up
        for name in names if r % 2 == 0 else names[::-1]:
            sync()
            t0 = time.perf_counter()
            fns[name]()
            sync()
            if r:
                times[name].append(time.perf_counter() - t0)
    return {k: float(np.median(v) * 1e3) for k, v in times.items()}


def auto_repeat(fn, repeat: int, budget_s: float = 3.0) -> int:
    """Fewer repetitions for slow sizes: at most what fits in budget_s, at least 3."""
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    return max(3, min(repeat, int(budget_s / max(dt, 1e-6))))


def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return sum(v), v[3] + v[4]  # total, idle + iowait


def wait_quiet(max_load: float, min_idle: float = 0.85, window_s: float = 3.0,
               timeout_s: float = 3600.0) -> bool:
    """Block until the machine looks idle: 1-minute load average below max_load and at least
    min_idle of all CPU time idle over window_s. For shared machines, where other jobs would
    otherwise land inside the timings. Returns False on timeout (or without /proc)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            t0, i0 = _cpu_times()
            time.sleep(window_s)
            t1, i1 = _cpu_times()
            load = os.getloadavg()[0]
        except OSError:
            return False
        if load < max_load and (i1 - i0) >= min_idle * max(t1 - t0, 1):
            return True
    return False


def add_quiet_arguments(ap) -> None:
    """The --wait-quiet / --quiet-idle / --quiet-timeout options of the size sweeps."""
    ap.add_argument("--wait-quiet", type=float, default=None, metavar="LOAD",
                    help="before each size, wait until the 1-min load average is below LOAD "
                         "and the CPUs are mostly idle (--quiet-idle); for shared machines")
    ap.add_argument("--quiet-idle", type=float, default=0.85,
                    help="idle fraction of all CPUs over 3 s that --wait-quiet waits for")
    ap.add_argument("--quiet-timeout", type=float, default=180.0,
                    help="seconds --wait-quiet waits at most per size (then times anyway)")


def quiet_before_size(args) -> None:
    """With --wait-quiet, :func:`wait_quiet` before a size (a warning when it times out)."""
    if args.wait_quiet and not wait_quiet(args.wait_quiet, args.quiet_idle,
                                          timeout_s=args.quiet_timeout):
        print("machine never got quiet: timing anyway", file=sys.stderr)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_line(torch, load_before, load_after) -> str:
    """CPU, cores, threads, BLAS, torch version and the load average around a comparison."""
    info = chronoscale.build_info()
    return (f"{cpu_model()}, {os.cpu_count()} cores, {info['num_threads']} threads (both "
            f"libraries), BLAS {info['blas']}, torch {torch.__version__}, load average "
            f"{load_before[0]:.1f} -> {load_after[0]:.1f}")


def save_json(path: str | None, result: dict) -> None:
    """``result`` as indented JSON at ``path`` (nothing when None)."""
    if path:
        with open(path, "w") as f:
            json.dump(result, f, indent=2)


def hardware() -> dict:
    info = chronoscale.build_info()
    hw = {
        "cpu": cpu_model(), "cores": os.cpu_count(), "os": platform.platform(),
        "python": platform.python_version(), "numpy": np.__version__,
        "chronoscale": {k: info[k] for k in ("version", "compiler", "march_native", "avx2", "fma",
                                             "avx512", "openmp", "blas", "blas_path",
                                             "num_threads")},
    }
    try:
        import torch
        hw["torch"] = {"version": torch.__version__, "num_threads": torch.get_num_threads(),
                       "mkldnn": torch.backends.mkldnn.is_available()}
    except ImportError:
        hw["torch"] = None
    return hw


def hardware_line(hw: dict) -> str:
    c = hw["chronoscale"]
    t = hw["torch"]
    line = (f"CPU: {hw['cpu']} ({hw['cores']} cores) | chronoscale {c['version']} "
            f"({c['compiler'].split(' (')[0]}, blas={c['blas']}, threads={c['num_threads']}, "
            f"avx2={c['avx2']}, avx512={c['avx512']})")
    if t:
        line += f" | torch {t['version']} (threads={t['num_threads']})"
    return line


def format_table(rows: list[dict], names=("chronoscale", "torch")) -> str:
    """Markdown table; ratio = torch / chronoscale (> 1: chronoscale is faster)."""
    a, b = names
    head = f"| cell | B | T | H | {a} ms | {b} ms | {b}/{a} |"
    lines = [head, "|" + "---|" * 7]
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") else "-"
        tb = f"{r[b + '_ms']:.2f}" if r.get(b + "_ms") is not None else "-"
        lines.append(f"| {r['cell']} | {r['B']} | {r['T']} | {r['H']} | {r[a + '_ms']:.2f} | "
                     f"{tb} | {ratio} |")
    ratios = [r["ratio"] for r in rows if r.get("ratio")]
    if ratios:
        lines.append(f"\nratio {b}/{a}: min {min(ratios):.2f}, median "
                     f"{statistics.median(ratios):.2f}, max {max(ratios):.2f}")
    return "\n".join(lines)


def write_outputs(rows: list[dict], hw: dict, json_path: str | None, md_path: str | None,
                  names=("chronoscale", "torch")) -> None:
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"hardware": hw, "rows": rows}, f, indent=1)
    if md_path:
        with open(md_path, "w") as f:
            f.write(hardware_line(hw) + "\n\n" + format_table(rows, names) + "\n")


def _profiled(fn, sync, n: int, cpu: bool):
    """The torch profiler over n calls of fn() (after one untimed call), CUDA activity and, with
    ``cpu``, CPU activity (where the CUDA API calls show)."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    sync()
    acts = [ProfilerActivity.CPU, ProfilerActivity.CUDA] if cpu else [ProfilerActivity.CUDA]
    with profile(activities=acts) as prof:
        for _ in range(n):
            fn()
        sync()
    return prof


def kernel_profile(fn, sync, torch, n: int = 20, top: int = 4):
    """GPU time of fn() from CUPTI through the torch profiler (it sees every kernel and copy of
    the process, chronoscale's and CuPy's included): ``(microseconds per call, longest)``, with
    ``longest`` the ``top`` kernels / copies as ``[microseconds per call, name]``; ``(None, [])``
    when the profiler is unavailable. Unlike events or a clock around a call, this leaves out the
    host's time to queue the work, so ``wall - kernels`` is what the host (or a wait) adds.
    ``sync()`` waits for the device."""
    try:
        prof = _profiled(fn, sync, n, cpu=False)
        total, rows = 0.0, []
        for e in prof.key_averages():
            t = getattr(e, "self_device_time_total", None)
            t = t if t is not None else getattr(e, "self_cuda_time_total", 0.0)
            total += t
            if t > 0:
                rows.append([t / n, e.key[:90]])
        return total / n, sorted(rows, reverse=True)[:top]
    except Exception as e:  # profiler unavailable: report, do not fail the benchmark
        print(f"(kernel timing unavailable: {e})")
        return None, []


def api_profile(fn, sync, torch, n: int = 10, top: int = 12):
    """Host time of fn() in CUDA runtime / driver API calls (CUPTI through the torch profiler,
    every library of the process): ``[[microseconds per call of fn, calls per call of fn,
    name], ...]``, longest first (``top`` of them); ``[]`` when the profiler is unavailable.
    A wait inside an API call (a synchronisation, a copy from pageable memory) shows here."""
    try:
        prof = _profiled(fn, sync, n, cpu=True)
        rows = []
        for e in prof.key_averages():
            if re.match(r"cu(da)?[A-Z]", e.key):  # cudaMemcpyAsync, cuLaunchKernel, ...
                t = getattr(e, "self_cpu_time_total", 0.0) or getattr(e, "cpu_time_total", 0.0)
                rows.append([t / n, e.count / n, e.key[:60]])
        return sorted(rows, reverse=True)[:top]
    except Exception as e:  # profiler unavailable: report, do not fail the benchmark
        print(f"(API timing unavailable: {e})")
        return []


def host_us(fn, sync, n: int = 50) -> float:
    """Median microseconds for fn() to return, started on an idle device and not waited for:
    the host's time to check the arguments and queue the work (``sync()`` waits for the device
    between calls)."""
    out = []
    for _ in range(n):
        sync()
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    sync()
    return float(np.median(out)) * 1e6
