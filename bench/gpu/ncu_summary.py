"""Summary of an Nsight Compute CSV (`ncu --csv --page raw ...`, see profile_recurrent.py): one
line per profiled kernel (shortened name, grid, registers, shared memory, duration, SM and
memory throughput, achieved occupancy) and its four largest warp stall reasons (cycles per
issued instruction). Metrics a given ncu version does not report are left blank.

    python3 bench/gpu/ncu_summary.py ncu.csv
"""

from __future__ import annotations

import csv
import re
import sys

COLUMNS = [  # (label, metric)
    ("us", "gpu__time_duration.sum"),
    ("SM%", "sm__throughput.avg.pct_of_peak_sustained_elapsed"),
    ("mem%", "gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed"),
    ("occ%", "sm__warps_active.avg.pct_of_peak_sustained_active"),
    ("regs", "launch__registers_per_thread"),
    ("smemKB", "launch__shared_mem_per_block_dynamic"),
    ("grid", "launch__grid_size"),
]
STALL = re.compile(
    r"smsp__average_warps?_(?:latency_)?issue_stalled_(\w+?)_per_issue_active\.ratio"
)


def short_name(name: str) -> str:
    """recurrent_forward_kernel<LstmCellD, float, 1, true>(...) -> fwd lstm f rb1 reg."""
    kind = "fwd" if "forward" in name else "bwd" if "backward" in name else name[:40]
    if "many" in name:
        kind += "-many"
    cell = next((c for c in ("Lstm", "Gru", "Rnn") if c in name), "?").lower()
    m = re.search(r"(float|double),\s*(\d)(?:,\s*(true|false|1|0))?", name)
    if not m:
        return f"{kind} {cell}"
    reg = " reg" if m.group(3) in ("true", "1") else ""
    return f"{kind} {cell} {m.group(1)[0]} rb{m.group(2)}{reg}"


def number(v: str):
    try:
        return float(v.replace(",", ""))
    except (AttributeError, ValueError):
        return None


def summarize(rows: list[dict], units: dict) -> list[str]:
    out = [
        "kernel                      "
        + " ".join(f"{lab:>8}" for lab, _ in COLUMNS)
        + "  largest stalls (cycles per issued instruction)"
    ]
    for r in rows:
        vals = []
        for _, metric in COLUMNS:
            v = number(r.get(metric, ""))
            unit = units.get(metric, "")
            if v is not None and metric == "gpu__time_duration.sum":  # ncu 2025: "ns"
                v = v / 1e3 if unit in ("ns", "nsecond") else (
                    v * 1e3 if unit in ("ms", "msecond") else v)
            if v is not None and metric == "launch__shared_mem_per_block_dynamic":
                v = v / 1024 if unit.split("/")[0] in ("byte", "") else v  # "byte/block"
            vals.append("" if v is None else f"{v:.1f}" if v < 1e5 else f"{v:.3g}")
        stalls = []
        for k, v in r.items():
            m = STALL.fullmatch(k or "")
            x = number(v)
            if m and x:
                stalls.append((x, m.group(1)))
        top = ", ".join(f"{n} {x:.1f}" for x, n in sorted(stalls, reverse=True)[:4])
        name = short_name(r.get("Kernel Name", r.get("Function Name", "?")))
        out.append(f"{name:<28}" + " ".join(f"{v:>8}" for v in vals) + "  " + top)
    return out


def main(path: str) -> int:
    with open(path, newline="") as f:
        lines = [ln for ln in f if ln.startswith('"')]  # drop the program's own output
    table = list(csv.reader(lines))
    if len(table) < 3:
        print(f"{path}: no ncu results")
        return 1
    header, unit_row = table[0], table[1]
    units = dict(zip(header, unit_row))
    rows = [dict(zip(header, r)) for r in table[2:] if len(r) == len(header)]
    print("\n".join(summarize(rows, units)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
