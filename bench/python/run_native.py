"""Run the native benchmark binary (bench/cpp/bench_rnn) beside torch.nn, size by size.

    python bench/python/run_native.py --sizes full --repeat 11 --blas openblas,mkl --md out.md

Builds the binary into build/bench when it is not found (or with --build). For each size the
binary runs once per BLAS (a fresh process, --blas PATH), then torch times the same pass in this
process, so slow drifts of the machine hit every column alike. Ratios are torch / native.
BLAS names: ``openblas`` (scipy-openblas32), ``mkl`` (the ``mkl`` wheel in this environment),
a library path, or ``name=path`` (e.g. ``mkl=/venv/lib/libmkl_rt.so.3``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_common as bc  # noqa: E402
from compare_recurrent import parse_sizes  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def build(build_dir: Path) -> Path:
    cmd = ["cmake", "-S", str(ROOT), "-B", str(build_dir), "-DCHRONOSCALE_BENCH=ON",
           "-DCHRONOSCALE_PYTHON=OFF", "-DCHRONOSCALE_CUDA=OFF", "-DCMAKE_BUILD_TYPE=Release"]
    if shutil.which("ninja"):
        cmd[1:1] = ["-G", "Ninja"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(build_dir), "--target", "bench_rnn"], check=True,
                   stdout=subprocess.DEVNULL)
    return build_dir / "bench" / "cpp" / "bench_rnn"


def find_binary(args) -> Path:
    if args.binary:
        return Path(args.binary)
    default = ROOT / "build" / "bench" / "bench" / "cpp" / "bench_rnn"
    if args.build or not default.exists():
        print(f"building {default} ...", file=sys.stderr, flush=True)
        return build(ROOT / "build" / "bench")
    return default


def blas_path(name: str) -> str:
    if "=" in name:  # name=path
        return name.split("=", 1)[1]
    from chronoscale._runtime import blas_library_path
    path = blas_library_path(name)
    if path is None:
        raise SystemExit(f"no BLAS library for {name!r}")
    return path


def run_binary(binary: Path, cell: str, size, blas: str, threads: int, repeat: int,
               metric: str = "median_ms") -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "r.json")
        cmd = [str(binary), "--cells", cell, "--sizes", ",".join(map(str, size)), "--blas", blas,
               "--threads", str(threads), "--repeat", str(repeat), "--json", out]
        # Keep the BLAS from starting its own thread pool: chronoscale threads around it.
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        with open(out) as f:
            return json.load(f)["rows"][0][metric]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=None, help="path of bench_rnn (default: build/bench)")
    ap.add_argument("--build", action="store_true", help="(re)build the binary first")
    ap.add_argument("--blas", default="openblas",
                    help="comma list of openblas, mkl, a path, or name=path")
    ap.add_argument("--cells", default="lstm,gru")
    ap.add_argument("--sizes", default="quick", help="quick | full | 'B,T,H;B,T,H' (I = 64)")
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--budget", type=float, default=4.0, help="seconds per size for torch")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--metric", choices=("wall", "cpu"), default="wall",
                    help="native time: median wall (default) or median process CPU time (more "
                         "robust on a busy machine with --threads 1; not comparable to torch)")
    bc.add_quiet_arguments(ap)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None)
    args = ap.parse_args(argv)

    binary = find_binary(args)
    blases = {name.split("=")[0]: blas_path(name) for name in args.blas.split(",")}
    threads = bc.set_threads(args.threads)
    with_torch = not args.no_torch
    if with_torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            with_torch = False
    hw = bc.hardware()
    hw["native"] = {"binary": str(binary), "blas": blases, "metric": args.metric}
    print(bc.hardware_line(hw), flush=True)

    rows = []
    first = next(iter(blases))
    for cell in args.cells.split(","):
        for size in parse_sizes(args.sizes):
            B, T, H = size
            bc.quiet_before_size(args)
            row = {"cell": cell, "B": B, "T": T, "I": bc.INPUT, "H": H,
                   "load": os.getloadavg()[0]}
            for name, path in blases.items():
                row[f"native_{name}_ms"] = run_binary(
                    binary, cell, size, path, threads, args.repeat,
                    "cpu_ms" if args.metric == "cpu" else "median_ms")
            if with_torch:
                fn = bc.torch_runner(cell, bc.make_inputs(cell, B, T, H))
                n = bc.auto_repeat(fn, args.repeat, args.budget)
                row["torch_ms"] = bc.time_pair({"torch": fn}, n)["torch"]
            row["native_ms"] = row[f"native_{first}_ms"]
            row["ratio"] = row["torch_ms"] / row["native_ms"] if with_torch else None
            rows.append(row)
            cols = "  ".join(f"{k[7:-3]} {v:9.2f} ms" for k, v in row.items()
                             if k.startswith("native_") and k != "native_ms")
            tail = (f"  torch {row['torch_ms']:9.2f} ms  torch/native {row['ratio']:5.2f}"
                    if with_torch else "")
            print(f"{cell:5s} B={B:4d} T={T:4d} H={H:4d}  {cols}{tail}", flush=True)
    print()
    print(bc.format_table(rows, names=("native", "torch")))
    if len(blases) > 1:
        print()
        print(blas_table(rows, list(blases)))
    bc.write_outputs(rows, hw, args.json, args.md, names=("native", "torch"))
    if args.md and len(blases) > 1:
        with open(args.md, "a") as f:
            f.write("\n" + blas_table(rows, list(blases)) + "\n")
    return 0


def blas_table(rows, names) -> str:
    """ms per BLAS and the ratio of each to the first (> 1: the first is faster)."""
    a = names[0]
    head = "| cell | B | T | H | " + " | ".join(f"{n} ms" for n in names) + " | " + " | ".join(
        f"{n}/{a}" for n in names[1:]) + " |"
    lines = [head, "|" + "---|" * (4 + 2 * len(names) - 1)]
    for r in rows:
        ms = [r[f"native_{n}_ms"] for n in names]
        lines.append(f"| {r['cell']} | {r['B']} | {r['T']} | {r['H']} | "
                     + " | ".join(f"{m:.2f}" for m in ms) + " | "
                     + " | ".join(f"{m / ms[0]:.2f}" for m in ms[1:]) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
