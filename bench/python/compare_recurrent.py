"""chronoscale vs torch.nn.LSTM / GRU on the CPU: forward + backward, median ms per size.

    python bench/python/compare_recurrent.py --sizes full --repeat 15 --json out.json --md out.md

Prints the hardware line and a table with chronoscale ms, torch ms and torch/chronoscale (> 1
means chronoscale is faster). Both run in this process with the same thread count, interleaved.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_common as bc  # noqa: E402


def parse_sizes(text: str) -> list[tuple[int, int, int]]:
    if text in bc.GRIDS:
        return bc.GRIDS[text]
    # "B,T,H;B,T,H"
    return [tuple(int(v) for v in part.split(",")) for part in text.split(";") if part]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", default="lstm,gru", help="comma list of lstm, gru")
    ap.add_argument("--sizes", default="quick",
                    help="quick | full | explicit 'B,T,H;B,T,H' (I = 64)")
    ap.add_argument("--repeat", type=int, default=11, help="timed repetitions per size (median)")
    ap.add_argument("--budget", type=float, default=4.0,
                    help="seconds per size and library; slow sizes get fewer repetitions (>= 3)")
    ap.add_argument("--threads", type=int, default=None, help="threads for both (default: all)")
    bc.add_quiet_arguments(ap)
    ap.add_argument("--no-torch", action="store_true", help="time chronoscale alone")
    ap.add_argument("--json", default=None, help="write rows + hardware as JSON")
    ap.add_argument("--md", default=None, help="write the table as markdown")
    args = ap.parse_args(argv)

    with_torch = not args.no_torch
    if with_torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("torch is not installed: timing chronoscale alone", file=sys.stderr)
            with_torch = False
    bc.set_threads(args.threads)
    hw = bc.hardware()
    print(bc.hardware_line(hw), flush=True)

    rows = []
    for cell in args.cells.split(","):
        for B, T, H in parse_sizes(args.sizes):
            bc.quiet_before_size(args)
            load = os.getloadavg()[0]
            p = bc.make_inputs(cell, B, T, H)
            fns = {"chronoscale": bc.chronoscale_runner(cell, p)}
            if with_torch:
                fns["torch"] = bc.torch_runner(cell, p)
            n = min(bc.auto_repeat(f, args.repeat, args.budget) for f in fns.values())
            ms = bc.time_pair(fns, n)
            row = {"cell": cell, "B": B, "T": T, "I": bc.INPUT, "H": H, "repeat": n, "load": load,
                   "chronoscale_ms": ms["chronoscale"], "torch_ms": ms.get("torch")}
            row["ratio"] = ms["torch"] / ms["chronoscale"] if with_torch else None
            rows.append(row)
            ratio = f"{row['ratio']:6.2f}" if row["ratio"] else "     -"
            tms = f"{row['torch_ms']:10.2f}" if with_torch else "         -"
            print(f"{cell:5s} B={B:4d} T={T:4d} H={H:4d}  chronoscale {ms['chronoscale']:10.2f} ms"
                  f"  torch {tms} ms  torch/cs {ratio}  (n={n}, load {load:.2f})", flush=True)
            bc.write_outputs(rows, hw, args.json, None)  # partial results survive an interrupt
    print()
    print(bc.format_table(rows))
    bc.write_outputs(rows, hw, args.json, args.md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
