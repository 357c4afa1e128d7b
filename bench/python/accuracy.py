"""Accuracy runs behind bench/ACCURACY.md: ``chronoscale evaluate`` on ../shared/data beside the
baselines, plus a single-scale vs multi-scale ablation; then the Markdown table.

    python bench/python/accuracy.py                 # every run, then writes bench/ACCURACY.md
    python bench/python/accuracy.py --only ml-100k  # one run (and its ablation)
    python bench/python/accuracy.py --table-only    # re-render from the saved reports

Each run is the exact command printed (and listed in ACCURACY.md); reports land in
``--out/<run>/report.json``. Sizes and epochs keep every run within a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = os.environ.get("CHRONOSCALE_SHARED_DATA", "../shared/data")

RUNS = {
    "ml-100k": ["--data", f"{DATA}/movielens-100k/ml-100k.inter.gz", "--format", "recbole",
                "--set", "data.name=ml-100k", "--scales", "1", "4", "16", "--max-len", "50",
                "--dim", "64", "--units", "64", "--epochs", "15", "--batch-size", "32"],
    "ml-100k-single": ["--data", f"{DATA}/movielens-100k/ml-100k.inter.gz", "--format",
                       "recbole", "--set", "data.name=ml-100k", "--scales", "1", "--max-len",
                       "50", "--dim", "64", "--units", "64", "--epochs", "15", "--batch-size",
                       "32"],
    "ml-100k-long": ["--data", f"{DATA}/movielens-100k/ml-100k.inter.gz", "--format",
                     "recbole", "--set", "data.name=ml-100k", "--epochs", "30", "--max-len",
                     "200", "--dim", "64", "--units", "64", "--batch-size", "32", "--no-plots"],
    "ml-100k-long-vl": ["--data", f"{DATA}/movielens-100k/ml-100k.inter.gz", "--format",
                        "recbole", "--set", "data.name=ml-100k", "--scales", "1", "4", "16",
                        "--max-len", "200", "--dim", "64", "--units", "64", "--epochs", "60",
                        "--batch-size", "32", "--set", "model.patience=5", "--set",
                        "model.monitor=val_loss", "--no-plots"],
    "ml-100k-long-vl-single": ["--data", f"{DATA}/movielens-100k/ml-100k.inter.gz", "--format",
                               "recbole", "--set", "data.name=ml-100k", "--scales", "1",
                               "--max-len", "200", "--dim", "64", "--units", "64", "--epochs",
                               "60", "--batch-size", "32", "--set", "model.patience=5",
                               "--set", "model.monitor=val_loss", "--no-plots"],
    "ml-100k-long-vl-dropout-single": [
        "--data", f"{DATA}/movielens-100k/ml-100k.inter.gz", "--format", "recbole", "--set",
        "data.name=ml-100k", "--scales", "1", "--max-len", "200", "--dim", "64", "--units", "64",
        "--epochs", "60", "--batch-size", "32", "--set", "model.patience=5", "--set",
        "model.monitor=val_loss", "--set", "model.dropout=0.5", "--no-plots"],
    "ml-100k-es": ["--data", f"{DATA}/movielens-100k/ml-100k.inter.gz", "--format", "recbole",
                   "--set", "data.name=ml-100k", "--scales", "1", "4", "16", "--max-len", "50",
                   "--dim", "64", "--units", "64", "--epochs", "60", "--batch-size", "32",
                   "--set", "model.patience=5"],
    "ml-100k-single-es": ["--data", f"{DATA}/movielens-100k/ml-100k.inter.gz", "--format",
                          "recbole", "--set", "data.name=ml-100k", "--scales", "1", "--max-len",
                          "50", "--dim", "64", "--units", "64", "--epochs", "60",
                          "--batch-size", "32", "--set", "model.patience=5"],
    "beauty": ["--data", f"{DATA}/s3rec-amazon-yelp/Beauty.txt.gz", "--format", "sequence",
               "--set", "data.name=s3rec-beauty", "--scales", "1", "4", "16", "--max-len", "50",
               "--dim", "64", "--units", "64", "--epochs", "6", "--batch-size", "128",
               "--set", "model.loss=sampled", "--set", "model.num_negatives=512"],
    "beauty-long": ["--data", f"{DATA}/s3rec-amazon-yelp/Beauty.txt.gz", "--format",
                    "sequence", "--set", "data.name=s3rec-beauty", "--scales", "1", "4", "16",
                    "--max-len", "50", "--dim", "64", "--units", "64", "--epochs", "40",
                    "--batch-size", "128", "--set", "model.loss=sampled", "--set",
                    "model.num_negatives=512", "--set", "model.patience=5"],
    "grocery": ["--data", f"{DATA}/amazon-grocery-rechorus/train.csv.gz", "--format", "table",
                "--set", "data.name=amazon-grocery", "--scales", "1", "4", "16", "--max-len",
                "50", "--dim", "64", "--units", "64", "--epochs", "6", "--batch-size", "128",
                "--set", "model.loss=sampled", "--set", "model.num_negatives=512"],
    "beauty-long-single": ["--data", f"{DATA}/s3rec-amazon-yelp/Beauty.txt.gz", "--format",
                           "sequence", "--set", "data.name=s3rec-beauty", "--scales", "1",
                           "--max-len", "50", "--dim", "64", "--units", "64", "--epochs", "40",
                           "--batch-size", "128", "--set", "model.loss=sampled", "--set",
                           "model.num_negatives=512", "--set", "model.patience=5"],
    "grocery-long": ["--data", f"{DATA}/amazon-grocery-rechorus/train.csv.gz", "--format",
                     "table", "--set", "data.name=amazon-grocery", "--scales", "1", "4", "16",
                     "--max-len", "50", "--dim", "64", "--units", "64", "--epochs", "40",
                     "--batch-size", "128", "--set", "model.loss=sampled", "--set",
                     "model.num_negatives=512", "--set", "model.patience=5"],
    "beauty-dropout-single": ["--data", f"{DATA}/s3rec-amazon-yelp/Beauty.txt.gz", "--format",
                              "sequence", "--set", "data.name=s3rec-beauty", "--scales", "1",
                              "--max-len", "50", "--dim", "64", "--units", "64", "--epochs",
                              "40", "--batch-size", "128", "--set", "model.loss=sampled",
                              "--set", "model.num_negatives=512", "--set", "model.patience=5",
                              "--set", "model.dropout=0.5", "--no-plots"],
    "grocery-dropout-single": ["--data", f"{DATA}/amazon-grocery-rechorus/train.csv.gz",
                               "--format", "table", "--set", "data.name=amazon-grocery",
                               "--scales", "1", "--max-len", "50", "--dim", "64", "--units",
                               "64", "--epochs", "40", "--batch-size", "128", "--set",
                               "model.loss=sampled", "--set", "model.num_negatives=512",
                               "--set", "model.patience=5", "--set", "model.dropout=0.5",
                               "--no-plots"],
    "yoochoose-dropout-single": [
        "--data", f"{DATA}/yoochoose-100k/yoochoose-clicks-100k_train_full.txt.gz",
        "--test-data", f"{DATA}/yoochoose-100k/yoochoose-clicks-100k_test.txt.gz", "--format",
        "session", "--set", "data.name=yoochoose-100k", "--scales", "1", "--max-len", "30",
        "--dim", "64", "--units", "64", "--epochs", "40", "--batch-size", "128", "--set",
        "model.patience=5", "--set", "model.dropout=0.5", "--no-plots"],
    "yoochoose": ["--data", f"{DATA}/yoochoose-100k/yoochoose-clicks-100k_train_full.txt.gz",
                  "--test-data", f"{DATA}/yoochoose-100k/yoochoose-clicks-100k_test.txt.gz",
                  "--format", "session", "--set", "data.name=yoochoose-100k", "--scales", "1",
                  "4", "1h", "--max-len", "30", "--dim", "64", "--units", "64", "--epochs", "6",
                  "--batch-size", "128"],
    "cdnow": ["--data", f"{DATA}/cdnow/CDNOW_master.txt.gz", "--format", "cdnow", "--set",
              "data.name=cdnow", "--period", "7d", "--history", "26", "--horizon", "4", "--set",
              "forecast.stride=4", "--set", "forecast.max_train_windows=100000", "--scales", "7d",
              "28d", "91d", "--units", "32", "--epochs", "4", "--batch-size", "256"],
    "cdnow-single": ["--data", f"{DATA}/cdnow/CDNOW_master.txt.gz", "--format", "cdnow",
                     "--set", "data.name=cdnow", "--period", "7d", "--history", "26",
                     "--horizon", "4", "--set", "forecast.stride=4", "--set",
                     "forecast.max_train_windows=100000", "--scales", "7d", "--units", "32",
                     "--epochs", "4", "--batch-size", "256"],
}


def command(name: str, out: Path) -> list[str]:
    return ["chronoscale", "evaluate", *RUNS[name], "--out", str(out / name), "--threads", "2",
            "-q"]


def run(name: str, out: Path) -> float:
    argv = command(name, out)
    print("$ " + " ".join(argv), flush=True)
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python") + os.pathsep
           + os.environ.get("PYTHONPATH", "")}
    rc = subprocess.call([sys.executable, "-m", "chronoscale.cli", *argv[1:]], cwd=ROOT, env=env)
    if rc != 0:
        raise SystemExit(f"{name}: chronoscale evaluate failed with status {rc}")
    return time.perf_counter() - t0


def load(out: Path, name: str):
    p = out / name / "report.json"
    return json.loads(p.read_text()) if p.is_file() else None


def markdown(out: Path) -> str:
    """The result rows of ACCURACY.md from the saved reports ("not run" where none)."""
    lines = ["| run | dataset, protocol | method | NDCG@10 | HR@10 | Recall@20 | MRR@20 | MAE | "
             "RMSE | wall s |", "|---" * 10 + "|"]
    for name in RUNS:
        rep = load(out, name)
        if rep is None:
            lines.append(f"| {name} | | not run | | | | | | | |")
            continue
        proto = rep["split"]["protocol"]
        for method, r in rep["results"].items():
            m = r["metrics"]
            cells = [f"{m[k]:.4f}" if m.get(k) is not None else "" for k in
                     ("NDCG@10", "HR@10", "Recall@20", "MRR@20", "MAE", "RMSE")]
            label = f"**{method}**" if method == rep["primary"] else method
            lines.append(f"| {name} | {rep['dataset']['name']}, {proto} | {label} | "
                         + " | ".join(cells) + f" | {rep['timings_s']['total']:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="+", choices=list(RUNS), help="runs to do")
    p.add_argument("--out", default=str(ROOT / "build" / "accuracy"), help="report directory")
    p.add_argument("--table-only", action="store_true", help="only print the saved results")
    p.add_argument("--markdown", action="store_true", help="print the Markdown result rows")
    a = p.parse_args(argv)
    out = Path(a.out)
    if a.markdown:
        print(markdown(out))
        return 0
    if not a.table_only:
        for name in a.only or RUNS:
            print(f"{name}: {run(name, out):.0f} s", flush=True)
    for name in RUNS:
        rep = load(out, name)
        if rep is None:
            print(f"{name}: not run")
            continue
        m = rep["results"]
        keys = ["NDCG@10", "HR@10", "Recall@20", "MRR@20"] if rep["task"] == "recommend" \
            else ["MAE", "RMSE"]
        print(f"{name} ({rep['dataset']['name']}, {rep['split']['protocol']}, "
              f"{rep['timings_s']['total']:.0f} s):")
        for method, r in m.items():
            print("   " + f"{method:<22}" + "  ".join(f"{k} {r['metrics'][k]:.4f}" for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
