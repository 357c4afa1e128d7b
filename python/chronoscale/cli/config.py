"""Run configuration: defaults, a TOML file (``--config run.toml``) and flags on top.

Precedence: built-in defaults < the TOML file < ``--set section.key=value`` < dedicated flags
(``--epochs 3``). Unknown sections or keys and values of the wrong type are usage errors, so a
typo never passes silently. ``chronoscale <command> --print-config`` shows the merged result.

Layout (every key optional; ``task`` is picked from the model or the data when left out)::

    task = "forecast"           # or "recommend"
    out = "chronoscale-run"     # directory for report.json and the plots
    seed = 0                    # >= 0
    threads = 2                 # native threads; 0 = all cores (default: the library's choice)
    plots = true

    [data]      path, format, name, version, test_path, k_core, dedupe, columns, time_unit
    [split]     protocol ("leave-one-out" | "temporal" | "session"), quantile, valid_quantile,
                targets,
                min_history, short_users, max_test
    [forecast]  series_by, period, what, extra, history, horizon, stride, transform, calendar,
                max_train_windows, season, ma_window, nonnegative
    [model]     scales, cell, units, dim, max_len, pool, count_feature, learning_rate,
                weight_decay and dropout (recommender), clipnorm, epochs, batch_size, loss,
                num_negatives, patience, monitor
    [eval]      k, exclude_history, baselines, max_queries

Counts are range-checked (``model.epochs`` >= 1, ``seed`` >= 0...; see ``MINIMUM``), strings
must not be empty, floats must be finite. A key that has no effect on the run (``split.targets``
with the leave-one-out protocol, ``forecast.*`` for the recommend task, ``model.*`` with
``evaluate --model``) is refused where the run is set up (``chronoscale.cli.runs``).
"""

from __future__ import annotations

import copy
import math
import os
import stat
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


class UsageError(ValueError):
    """A bad command line or configuration (exit status 2)."""


_ANY = object()
_NUM = (int, float)
#: section -> key -> (accepted types, default); a None default accepts None too
SPEC: dict = {
    "": {
        "task": ((str,), None),
        "out": ((str,), "chronoscale-run"),
        "seed": ((int,), 0),
        "threads": ((int,), None),
        "plots": ((bool,), True),
    },
    "data": {
        "path": ((str,), None),
        "format": ((str,), None),
        "name": ((str,), None),
        "version": ((str,), None),
        "test_path": ((str,), None),
        "k_core": ((int, list), None),
        "dedupe": ((str,), None),
        "columns": ((dict,), None),
        "time_unit": ((str,), "s"),
    },
    "split": {
        "protocol": ((str,), None),
        "quantile": ((float,), 0.9),
        "valid_quantile": ((float,), None),
        "targets": ((str,), "first"),
        "min_history": ((int,), 1),
        "short_users": ((str,), "train"),
        "max_test": ((int,), None),
    },
    "forecast": {
        "series_by": ((str,), "user"),
        "period": ((str, int), "1d"),
        "what": ((str,), "value"),
        "extra": ((str,), None),
        "history": ((int,), 28),
        "horizon": ((int,), 7),
        "stride": ((int,), 1),
        "transform": ((str,), "log1p"),
        "calendar": ((bool,), True),
        "max_train_windows": ((int,), None),
        "season": ((int,), None),
        "ma_window": ((int,), None),
        "nonnegative": ((bool,), True),
    },
    "model": {
        "scales": ((list, str), None),
        "cell": ((str,), None),
        "units": ((int, list), 32),
        "dim": ((int,), 64),
        "max_len": ((int,), 50),
        "pool": ((str,), "mean"),
        "count_feature": ((bool,), None),  # None: the model's default (True)
        "learning_rate": (_NUM, None),
        "weight_decay": (_NUM, None),  # Adam L2; the recommender only
        "clipnorm": (_NUM, None),  # global-norm clipping; None: the model's default
        "dropout": (_NUM, None),  # training-time dropout rate; the recommender only
        "epochs": ((int,), 10),
        "batch_size": ((int,), None),
        "loss": ((str,), None),
        "num_negatives": ((int,), 256),
        "patience": ((int,), None),
        "monitor": ((str,), None),  # what patience follows; None: the model's default
    },
    "eval": {
        "k": ((int, list), None),
        "exclude_history": ((bool,), None),
        "baselines": ((bool,), True),
        "max_queries": ((int,), None),
    },
}
TASKS = ("forecast", "recommend")

#: "section.key" -> the smallest accepted integer (for lists: of every element)
MINIMUM = {
    "seed": 0, "threads": 0,
    "data.k_core": 0,
    "split.min_history": 0, "split.max_test": 1,
    "forecast.history": 1, "forecast.horizon": 1, "forecast.stride": 1,
    "forecast.max_train_windows": 1, "forecast.season": 1, "forecast.ma_window": 1,
    "model.units": 1, "model.dim": 1, "model.max_len": 1, "model.epochs": 1,
    "model.batch_size": 1, "model.num_negatives": 1, "model.patience": 1,
    "eval.k": 1, "eval.max_queries": 1,
}
#: "section.key" -> (low, high, low inclusive) for floats (high always exclusive)
FLOAT_RANGE = {
    "split.quantile": (0.0, 1.0, False), "split.valid_quantile": (0.0, 1.0, False),
    "model.learning_rate": (0.0, math.inf, False),
}
#: "section.key" -> the dedicated command-line flag that sets it
FLAGS = {
    "out": "--out", "seed": "--seed", "threads": "--threads", "task": "--task",
    "plots": "--no-plots", "data.path": "--data", "data.format": "--format",
    "data.test_path": "--test-data", "split.protocol": "--protocol",
    "split.max_test": "--max-test", "forecast.series_by": "--series-by",
    "forecast.period": "--period", "forecast.what": "--what", "forecast.history": "--history",
    "forecast.horizon": "--horizon", "model.scales": "--scales", "model.cell": "--cell",
    "model.units": "--units", "model.dim": "--dim", "model.max_len": "--max-len",
    "model.epochs": "--epochs", "model.batch_size": "--batch-size",
    "model.learning_rate": "--lr", "eval.baselines": "--no-baselines",
}


def describe(key: str) -> str:
    """How to name a setting in a message: ``"--max-test (split.max_test)"`` where a flag sets
    it, else ``"split.max_test"``."""
    return f"{FLAGS[key]} ({key})" if key in FLAGS else key


def defaults() -> dict:
    """The built-in defaults as a nested dict (top-level keys and one dict per section)."""
    out = {k: copy.deepcopy(d) for k, (_, d) in SPEC[""].items()}
    for sec, keys in SPEC.items():
        if sec:
            out[sec] = {k: copy.deepcopy(d) for k, (_, d) in keys.items()}
    return out


def _check_value(where: str, value, types, key: str = ""):
    if value is None:
        return value
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        names = " or ".join(t.__name__ for t in types)
        raise UsageError(f"{where} must be {names}, got {value!r}")
    _check_range(where, value, key)
    return value


def _check_range(where: str, value, key: str) -> None:
    if isinstance(value, str) and not value.strip():
        raise UsageError(f"{where} must not be empty (leave it out for the default)")
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{where} must be a finite number, got {value!r}")
    if isinstance(value, list):
        if not value:
            raise UsageError(f"{where} must not be an empty list (leave it out for the default)")
        if key == "data.k_core" and len(value) != 2:
            raise UsageError(f"{where} must be k or [k_user, k_item], got {value!r}")
        if key in MINIMUM:
            for v in value:
                if isinstance(v, bool) or not isinstance(v, int):
                    raise UsageError(f"{where} must hold integers, got {value!r}")
                if v < MINIMUM[key]:
                    raise UsageError(f"{where} must be >= {MINIMUM[key]}, got {value!r}")
        return
    if key in MINIMUM and isinstance(value, int) and not isinstance(value, bool) \
            and value < MINIMUM[key]:
        raise UsageError(f"{where} must be >= {MINIMUM[key]}, got {value}")
    if key in FLOAT_RANGE and isinstance(value, float):
        lo, hi, lo_in = FLOAT_RANGE[key]
        if not ((value >= lo if lo_in else value > lo) and value < hi):
            bounds = f"> {lo:g}" if hi == math.inf else f"in ({lo:g}, {hi:g})"
            raise UsageError(f"{where} must be {bounds}, got {value!r}")


def merge(base: dict, layer: dict, source: str) -> dict:
    """``base`` updated with ``layer`` (same layout), every key and type checked."""
    out = copy.deepcopy(base)
    for key, value in layer.items():
        if key in SPEC and key:
            if not isinstance(value, dict):
                raise UsageError(f"{source}: [{key}] must be a table")
            for k, v in value.items():
                if k not in SPEC[key]:
                    raise UsageError(f"{source}: unknown key {key}.{k}; known: "
                                     f"{', '.join(SPEC[key])}")
                out[key][k] = _check_value(f"{source}: {key}.{k}", v, SPEC[key][k][0],
                                           f"{key}.{k}")
        elif key in SPEC[""]:
            out[key] = _check_value(f"{source}: {key}", value, SPEC[""][key][0], key)
        else:
            known = [k for k in SPEC[""]] + [f"[{s}]" for s in SPEC if s]
            raise UsageError(f"{source}: unknown key {key!r}; known: {', '.join(known)}")
    if out.get("task") is not None and out["task"] not in TASKS:
        raise UsageError(f"{source}: task must be one of {TASKS}, got {out['task']!r}")
    return out


# A TOML config is a few lines: reading stops past this many bytes (/dev/zero never ends).
MAX_CONFIG_BYTES = 1 << 24


def load_toml(path) -> dict:
    """The TOML file at ``path`` as a dict; UsageError for a missing, malformed or oversized
    (> 16 MiB: ``/dev/zero`` would be read for ever) file, or a directory. A named pipe
    (``--config <(...)``, ``/dev/stdin``) is read like a file."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise UsageError(f"config file not found: {path}") from None
    except OSError as e:
        raise UsageError(f"cannot read config file {path}: {e.strerror or e}") from None
    if stat.S_ISDIR(mode):
        raise UsageError(f"--config {path}: it is a directory, not a file; give a TOML file")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise UsageError(f"--config {path}: more than {MAX_CONFIG_BYTES >> 20} MiB; a TOML "
                             "config is a few lines")
        return tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"config file not found: {path}") from None
    except UnicodeDecodeError as e:
        raise UsageError(f"config file {path} is not UTF-8 text (is it a TOML file?): "
                         f"{e.reason} at byte {e.start}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"config file {path} is not valid TOML: {e}") from None
    except OSError as e:
        raise UsageError(f"cannot read config file {path}: {e.strerror or e}") from None


def parse_assignment(text: str) -> dict:
    """``"section.key=value"`` (value in TOML syntax, bare words as strings) as a layer."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UsageError(f"--set expects section.key=value, got {text!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    sec, dot, name = key.partition(".")
    return {sec: {name: value}} if dot else {key: value}


def build(config_path=None, assignments=(), flags: dict | None = None,
          base: dict | None = None) -> dict:
    """Defaults (or ``base``, e.g. a saved model's configuration), then the TOML file, then
    ``--set`` assignments, then flags (``{"section.key": value}``, None values skipped)."""
    cfg = defaults() if base is None else merge(defaults(), base, "saved model configuration")
    if config_path:
        cfg = merge(cfg, load_toml(config_path), str(config_path))
    for a in assignments or ():
        cfg = merge(cfg, parse_assignment(a), "--set")
    for key, value in (flags or {}).items():
        if value is None:
            continue
        sec, dot, name = key.partition(".")
        cfg = merge(cfg, {sec: {name: value}} if dot else {key: value}, FLAGS.get(key, "flag"))
    return cfg


def to_toml(cfg: dict) -> str:
    """A TOML rendering of a configuration (None values left out)."""

    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + " }"
        return repr(v)

    lines = [f"{k} = {val(v)}" for k, v in cfg.items() if not isinstance(v, dict) and v is not None]
    for sec, d in cfg.items():
        if isinstance(d, dict):
            lines.append(f"\n[{sec}]")
            lines += [f"{k} = {val(v)}" for k, v in d.items() if v is not None]
    return "\n".join(lines) + "\n"
