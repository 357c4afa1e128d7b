"""Run reports: one JSON document per ``chronoscale evaluate`` / ``demo`` run.

Layout (``SCHEMA`` = ``"chronoscale.report/1"``)::

    {"schema": "chronoscale.report/1",
     "command": "evaluate", "task": "forecast" | "recommend",
     "created_utc": "2024-01-01T12:00:00Z",
     "dataset": {"name", "version", "events", "users", "items", ...},
     "split": {"protocol", ...},                 # the hold-out, with its settings and counts
     "config": {...},                            # the merged run configuration
     "results": {"<method>": <metrics report>},  # chronoscale.metrics report dicts, each with
                                                 # its protocol label (K, negatives, exclusion...)
     "primary": "<method>",                      # the trained model's entry in results
     "training": {"history": {...}, "scale_weights": ..., "scales": [...]},
     "timings_s": {"load": ..., "train": ..., "evaluate": ..., "total": ...},
     "versions": {"chronoscale", "build_info", "python", "numpy", "platform"},
     "plots": ["training_curves.png", ...]}      # files beside the report

Non-finite floats are written as ``null`` so the file is strict JSON.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import platform
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

SCHEMA = "chronoscale.report/1"
REQUIRED = {
    "schema": str,
    "command": str,
    "task": str,
    "created_utc": str,
    "dataset": dict,
    "split": dict,
    "config": dict,
    "results": dict,
    "primary": str,
    "training": dict,
    "timings_s": dict,
    "versions": dict,
    "plots": list,
}
__all__ = ["REQUIRED", "SCHEMA", "Timings", "make_report", "summary_table", "to_jsonable",
           "validate_report", "versions", "write_report"]


def versions() -> dict:
    """Library, build and platform versions for a report."""
    import chronoscale

    return {
        "chronoscale": chronoscale.__version__,
        "build_info": chronoscale.build_info(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


class Timings(dict):
    """Named wall-clock durations in seconds; ``with t("train"): ...`` adds one."""

    def __init__(self):
        super().__init__()
        self._t0 = time.perf_counter()

    @contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self[name] = self.get(name, 0.0) + time.perf_counter() - t0

    def total(self) -> dict:
        return {**self, "total": time.perf_counter() - self._t0}


def to_jsonable(obj):
    """``obj`` with NumPy scalars/arrays turned into Python values and NaN/inf into None."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def make_report(*, command: str, task: str, dataset: dict, split: dict, config: dict,
                results: dict, primary: str, training: dict | None = None,
                timings: dict | None = None, plots=(), **extra) -> dict:
    """Assemble a report (see the module docstring); ``extra`` keys are added as they are."""
    rep = {
        "schema": SCHEMA,
        "command": command,
        "task": task,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "dataset": dataset,
        "split": split,
        "config": config,
        "results": results,
        "primary": primary,
        "training": training or {},
        "timings_s": dict(timings or {}),
        "versions": versions(),
        "plots": [str(p) for p in plots],
        **extra,
    }
    return to_jsonable(rep)


def validate_report(rep: dict) -> None:
    """Raise ValueError naming the first missing or mistyped key of a report."""
    if not isinstance(rep, dict):
        raise ValueError(f"report must be a JSON object, got {type(rep).__name__}")
    for key, typ in REQUIRED.items():
        if key not in rep:
            raise ValueError(f"report: missing key {key!r}")
        if not isinstance(rep[key], typ):
            raise ValueError(f"report: {key!r} must be {typ.__name__}, got "
                             f"{type(rep[key]).__name__}")
    if rep["schema"] != SCHEMA:
        raise ValueError(f"report: schema {rep['schema']!r} is not {SCHEMA!r}")
    if rep["primary"] not in rep["results"]:
        raise ValueError(f"report: primary {rep['primary']!r} is not in results")
    for name, r in rep["results"].items():
        for key in ("protocol", "dataset", "metrics"):
            if key not in r:
                raise ValueError(f"report: results[{name!r}] lacks {key!r}")
    for key in ("chronoscale", "build_info"):
        if key not in rep["versions"]:
            raise ValueError(f"report: versions lacks {key!r}")


def write_report(rep: dict, path) -> Path:
    """Validate and write ``rep`` as indented strict JSON; returns the path."""
    validate_report(rep)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_jsonable(rep), indent=2, allow_nan=False) + "\n")
    return path


def summary_table(results: dict, metrics=None, primary: str | None = None) -> str:
    """A plain-text table (methods as rows) of ``results`` (name -> metrics report); the
    primary method is marked with ``*``."""
    names = list(results)
    if not names:
        return ""
    if metrics is None:
        first = results[names[0]]["metrics"]
        metrics = [m for m in first if not m.startswith("Recall")
                   and m not in ("MAPE_zeros_skipped", "count")]
    w = max(len(n) for n in names) + 2
    lines = [f"{'method':<{w}}" + "".join(f"{m:>11}" for m in metrics)]
    for n in names:
        m = results[n]["metrics"]
        cells = "".join(
            f"{m[k]:>11.4f}" if isinstance(m.get(k), (int, float)) and m.get(k) is not None
            else f"{'-':>11}" for k in metrics)
        lines.append(f"{(n + (' *' if n == primary else '')):<{w}}" + cells)
    return "\n".join(lines)
