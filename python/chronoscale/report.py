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
import errno
import json
import math
import numbers
import os
import platform
import stat
import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .io import file_kind

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


def to_jsonable(obj, name: str = "obj"):
    """``obj`` with NumPy scalars/arrays turned into Python values and NaN/inf into None.

    Raises:
        ValueError: ``obj`` holds itself (a dict or list that contains itself, which JSON
            cannot write) or is nested too deeply; the message names where, from ``name``.
    """
    try:
        return _jsonable(obj, name, set())
    except RecursionError:
        raise ValueError(f"{name} is nested too deeply to write as JSON") from None


def _jsonable(obj, where: str, inside: set):
    """``to_jsonable``; ``inside`` holds the ids of the containers being converted (a
    reference back to one of them is a cycle), ``where`` names ``obj`` in messages."""
    if isinstance(obj, (dict, list, tuple)):
        if id(obj) in inside:
            raise ValueError(f"{where} refers back to a dict or list that contains it (a "
                             "circular reference JSON cannot write)")
        inside.add(id(obj))
        try:
            if isinstance(obj, dict):
                return {str(k): _jsonable(v, f"{where}[{k!r:.40}]", inside)
                        for k, v in obj.items()}
            return [_jsonable(v, f"{where}[{i}]", inside) for i, v in enumerate(obj)]
        finally:
            inside.discard(id(obj))
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist(), where, inside)
    if isinstance(obj, np.generic):
        return _jsonable(obj.item(), where, inside)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


#: errno values of an output path that cannot be written (anything else, e.g. a full disk, is
#: left an OSError)
_PATH_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EEXIST, errno.EISDIR, errno.EACCES,
                          errno.EPERM, errno.EROFS, errno.ENAMETOOLONG, errno.ELOOP})


def output_problem(path, folder: bool = False, probe: bool = True,
                   replaced: bool = True) -> str | None:
    """Why a file (with ``folder``: a folder) cannot be created at ``path``, in words for a
    message after the path ("its folder out is a file"), or None when nothing is in the way.

    Missing folders on the way count as creatable; the nearest existing one must be a folder
    and, with ``probe``, one where a file can be created (tested by creating and removing an
    empty file there: permissions alone miss read-only or virtual file systems). An existing
    ``path`` must be a folder (``folder``) or not one (a file to overwrite; a device or named
    pipe is not examined further). ``replaced``: the file is written beside ``path`` and renamed
    over it (the folder must take new files, and a device or pipe there is refused: the rename
    would replace it); otherwise an existing file is opened and written as it is (it must be
    writable itself, whatever its folder allows).
    """
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except OSError:
        mode = None
    if mode is not None and folder and not stat.S_ISDIR(mode):
        return f"it is {file_kind(mode)}, not a folder"
    if mode is not None and not folder and stat.S_ISDIR(mode):
        return "it is a folder; give a file name"
    if mode is not None and not folder and not stat.S_ISREG(mode):
        if replaced:  # a file renamed into place would replace the device or pipe itself
            return f"it is {file_kind(mode)}, not a regular file; give a file name"
        return None  # a device or pipe (/dev/stdout) is opened as it is, nothing created
    if mode is not None and not folder and not replaced:
        if probe:
            try:  # (append mode: the file is neither changed nor truncated)
                open(p, "ab").close()
            except OSError as e:
                return f"cannot write it ({e.strerror or e})"
        return None
    dirs = p if folder else p.parent
    here = dirs
    while True:
        try:
            mode = here.stat().st_mode
            break
        except (FileNotFoundError, NotADirectoryError):
            if here.parent == here:
                return f"{here} cannot be found"
            here = here.parent
        except OSError as e:
            return f"cannot look into {here} ({e.strerror or e})"
    target = "the folder" if folder else f"its folder {dirs}"
    if not stat.S_ISDIR(mode):
        if here == dirs:  # (never the folder itself: refused above)
            return f"its folder {dirs} is {file_kind(mode)}"
        return f"cannot create {target}: {here} is {file_kind(mode)}"
    if probe:
        try:
            fd, name = tempfile.mkstemp(dir=here, prefix=".chronoscale-probe-")
            os.close(fd)
            os.unlink(name)
        except OSError as e:
            why = e.strerror or str(e)
            if here == dirs:
                return f"cannot create files in {'it' if folder else target} ({why})"
            return f"cannot create {target} in {here} ({why})"
    return None


def _bad_output(path: Path, err: OSError, name: str = "path") -> Exception:
    """The error for ``err``, raised writing ``path``: a ValueError naming ``path`` and what
    is wrong with it, or ``err`` itself when the path is not the problem (e.g. a full disk)."""
    if err.errno not in _PATH_ERRNOS:
        return err
    why = output_problem(path) or f"cannot write it ({err.strerror or err})"
    return ValueError(f"{name} {str(path)!r}: {why}")


def _items(value, name: str) -> list:
    """``value`` as a list: a single str / ``os.PathLike`` is one item (never its characters).

    Raises:
        TypeError: not a str, path or iterable (a dict is refused too).
    """
    if isinstance(value, (str, os.PathLike)):
        return [value]
    if isinstance(value, (bytes, Mapping)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a list (or a single str), got {type(value).__name__}")
    return list(value)


def make_report(*, command: str, task: str, dataset: dict, split: dict, config: dict,
                results: dict, primary: str, training: dict | None = None,
                timings: dict | None = None, plots=(), **extra) -> dict:
    """Assemble a report (see the module docstring); ``extra`` keys are added as they are.

    ``timings`` maps names to seconds (a ``Timings``' ``total()``); ``plots`` lists file
    names (a single str or path is one file).

    Raises:
        TypeError: an argument of another type than the layout's (``command``, ``task``,
            ``primary`` str; ``dataset``, ``split``, ``config``, ``results`` dicts;
            ``training`` / ``timings`` dicts or None, ``timings`` values numbers; ``plots``
            items str or paths); the message names the argument.
        ValueError: an argument that holds itself (a circular reference, which JSON cannot
            write) or is nested too deeply; the message names the argument and where.
    """
    for name, value in (("command", command), ("task", task), ("primary", primary)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    for name, value in (("dataset", dataset), ("split", split), ("config", config),
                        ("results", results), ("training", training), ("timings", timings)):
        if not (isinstance(value, dict) or (value is None and name in ("training",
                                                                       "timings"))):
            raise TypeError(f"{name} must be a dict, got {type(value).__name__}")
    for name, sec in (timings or {}).items():
        if isinstance(sec, bool) or not isinstance(sec, numbers.Real):
            raise TypeError(f"timings[{name!r}] must be a number of seconds, got {sec!r:.50}")
    plots = _items(plots, "plots")
    for p in plots:
        if not isinstance(p, (str, os.PathLike)):
            raise TypeError(f"plots must hold file names (str or paths), got {p!r:.50}")
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
        "training": dict(training or {}),
        "timings_s": dict(timings or {}),
        "versions": versions(),
        "plots": [os.fspath(p) for p in plots],
        **extra,
    }
    names = {"training": "training", "timings_s": "timings"}
    return {k: to_jsonable(v, names.get(k, k)) for k, v in rep.items()}


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
        if not isinstance(r, dict):
            raise ValueError(f"report: results[{name!r}] must be a metrics report (an object), "
                             f"got {type(r).__name__}")
        for key in ("protocol", "dataset", "metrics"):
            if key not in r:
                raise ValueError(f"report: results[{name!r}] lacks {key!r}")
        if not isinstance(r["metrics"], dict):
            raise ValueError(f"report: results[{name!r}]['metrics'] must be an object, got "
                             f"{type(r['metrics']).__name__}")
    for key in ("chronoscale", "build_info"):
        if key not in rep["versions"]:
            raise ValueError(f"report: versions lacks {key!r}")


def write_report(rep: dict, path) -> Path:
    """Validate and write ``rep`` as indented strict JSON; returns the path. Missing parent
    folders are created.

    Raises:
        TypeError: ``path`` not a str / ``os.PathLike``.
        ValueError: ``rep`` is not a valid report (see ``validate_report``); ``path`` is a
            folder, a file on it is in the way of its folder, or it cannot be created there
            (the message names ``path`` and why).
        OSError: the write failed for another reason than the path (e.g. a full disk).
    """
    validate_report(rep)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path {str(path)!r} is a directory: give a file name, e.g. "
                         f"{str(path / 'report.json')!r}")
    text = json.dumps(to_jsonable(rep, "rep"), indent=2, allow_nan=False) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as e:
        raise _bad_output(path, e) from None
    return path


def summary_table(results: dict, metrics=None, primary: str | None = None) -> str:
    """A plain-text table (methods as rows) of ``results`` (name -> metrics report); the
    primary method is marked with ``*``. ``metrics``: the columns (a single str is one column;
    default: the first report's metrics but ``Recall*``, ``MAPE_zeros_skipped``, ``count``);
    a report without one shows ``-``.

    Raises:
        TypeError: ``results`` not a dict, ``metrics`` not names, ``primary`` not a str.
        ValueError: an entry that is not a report with a ``metrics`` dict, a metric number
            past the float range (e.g. ``10**400``); the message names it.
    """
    if not isinstance(results, Mapping):
        raise TypeError(f"results must be a dict of name -> metrics report, got "
                        f"{type(results).__name__}")
    if primary is not None and not isinstance(primary, str):
        raise TypeError(f"primary must be a str or None, got {type(primary).__name__}")
    for n, r in results.items():
        if not isinstance(r, Mapping) or not isinstance(r.get("metrics"), Mapping):
            raise ValueError(f"results[{n!r}] must be a metrics report with a 'metrics' dict, "
                             f"got {r!r:.60}")
    if metrics is not None:
        metrics = _items(metrics, "metrics")
        for m in metrics:
            if not isinstance(m, str):
                raise TypeError(f"metrics must hold metric names (str), got {m!r:.50}")
    names = [str(n) for n in results]
    if not names:
        return ""
    if metrics is None:
        first = next(iter(results.values()))["metrics"]
        metrics = [m for m in first if not str(m).startswith("Recall")
                   and m not in ("MAPE_zeros_skipped", "count")]
    w = max(len(n) for n in names) + 2
    lines = [f"{'method':<{w}}" + "".join(f"{m:>11}" for m in metrics)]
    for n, r in zip(names, results.values()):
        m = r["metrics"]
        cells = "".join(_cell(m.get(k), f"results[{n!r}]['metrics'][{k!r}]") for k in metrics)
        lines.append(f"{(n + (' *' if n == primary else '')):<{w}}" + cells)
    return "\n".join(lines)


def _cell(value, where: str) -> str:
    """One table cell: a number to 4 decimals, ``-`` for anything else (or nothing)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return f"{'-':>11}"
    try:
        value = float(value)
    except OverflowError:
        raise ValueError(f"{where} ({type(value).__name__}) is past the float range "
                         "(|x| > 1.8e308): the table shows floats") from None
    return f"{value:>11.4f}"
