"""The subcommands: ``f(args, flags) -> exit status``."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from . import config, runs
from .config import UsageError


def _setup(args, flags, base=None):
    cfg = config.build(getattr(args, "config", None), getattr(args, "set", ()), flags, base)
    if getattr(args, "print_config", False):
        print(config.to_toml(cfg), end="")
        return None
    out = Path(cfg["out"])
    if out.exists() and not out.is_dir():
        raise UsageError(f"{config.describe('out')} must be a directory; {out} is a file")
    runs.set_threads(cfg["threads"])
    return cfg


def _output_file(path: str, flag: str, example: str, replaced: bool = False) -> Path:
    """``path`` as a file to write, checked before the work: refused when it names a
    directory, when its folder cannot be created or written in, and (``replaced``: the file is
    written beside it, then renamed over it) when it is a device, pipe or socket."""
    p = Path(path)
    if p.is_dir() or p.name in ("", ".", ".."):
        raise UsageError(f"{flag} {path} is a directory; give a file name, e.g. {p / example}")
    runs.check_output(p, flag, replaced=replaced)  # (with replaced: no device or pipe there)
    return p


def _open_output(path: Path, flag: str):
    """``path`` opened for writing text (its folder created first), an OSError naming
    ``flag`` and ``path`` when it cannot be."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "w", newline="")  # noqa: SIM115 - the caller closes it
    except OSError as e:
        raise OSError(f"{flag} {path}: cannot write it ({e.strerror or e})") from None


def _verbose(args) -> int:
    return 0 if getattr(args, "quiet", False) else 1


# ------------------------------------------------------------------------------------- train
def train(args, flags) -> int:
    cfg = _setup(args, flags)
    if cfg is None:
        return 0
    # the output path is checked before the data is read: a bad one does not cost the training
    if args.output:
        flag = "-o/--output"
        path = _output_file(args.output, flag, "model.csm", replaced=True)
    else:
        flag = config.describe("out")
        runs.check_output(cfg["out"], flag, folder=True)
        path = Path(cfg["out"]) / "model.csm"
    t = runs.Timings()
    with t("load"):
        x, test = runs.load_data(cfg, progress=None if _verbose(args) else False)
    task = runs.infer_task(cfg, x)
    cfg["task"] = task  # saved and reported as used
    runs.check_unused(cfg, config.defaults(), task, test)
    runs.say(f"{x.name}: {len(x):,} events, {x.num_users:,} users, {x.num_items:,} items "
             f"-> task {task}")
    if task == "forecast":
        run = runs.ForecastRun(cfg, x, t=t)
        model = runs.make_forecaster(cfg, run.task)
        run.fit(model, _verbose(args))
        what = f"{run.n_train:,} training windows of {run.task.history} x {run.task.period}"
    else:
        run = runs.RecommendRun(cfg, x, test, t=t)
        model = run.fit(verbose=_verbose(args))
        what = f"{len(run.train):,} training events ({run.label['protocol']} hold-out)"
    runs.save_model(model, path, run.cli_meta(), flag)
    hist = getattr(model, "history_", {}) or {}
    last = {k: v[-1] for k, v in hist.items() if k != "epoch" and v}
    runs.say(f"trained {type(model).__name__} on {what} in {t.get('train', 0):.1f} s; last "
             "epoch: " + ", ".join(f"{k} {v:.4g}" for k, v in last.items()))
    runs.say(f"saved {path}")
    return 0


# ---------------------------------------------------------------------------------- evaluate
def evaluate(args, flags) -> int:
    model, meta = (None, {})
    if args.model:
        model, meta = runs.load_model(args.model)
    cfg = _setup(args, flags, base=meta.get("config"))
    if cfg is None:
        return 0
    # what the run started from: a saved model's configuration, else the defaults
    ref = config.build(base=meta.get("config"))
    saved_task = meta.get("task")
    if saved_task and cfg["task"] and cfg["task"] != saved_task:
        raise UsageError(f"{config.describe('task')}={cfg['task']} conflicts with the saved "
                         f"model's task {saved_task} ({args.model}); leave it out")
    out = Path(cfg["out"])
    runs.check_output(out, config.describe("out"), folder=True)  # before the training
    t = runs.Timings()
    with t("load"):
        x, test = runs.load_data(cfg, progress=None if _verbose(args) else False)
    task = saved_task or runs.infer_task(cfg, x)
    cfg["task"] = task  # the report records the task used
    saved = None
    if model is not None:
        runs.check_loaded(cfg, ref, args.model)
        if task == "forecast":
            if "series" not in meta:
                raise UsageError(f"{args.model} has no forecast settings (not saved by "
                                 "'chronoscale train'); evaluate needs them to build its inputs")
            saved = runs.SeriesTask.from_dict(meta["series"])
            runs.check_series(cfg, saved, args.model)
    runs.check_unused(cfg, ref, task, test)
    runs.say(f"{x.name}: {len(x):,} events, {x.num_users:,} users, {x.num_items:,} items "
             f"-> task {task}")
    baselines = cfg["eval"]["baselines"]
    if task == "forecast":
        run = runs.ForecastRun(cfg, x, saved, t=t)
        if model is None:
            run.fit(runs.make_forecaster(cfg, run.task), _verbose(args))
        else:
            run.model = model
        with t("evaluate"):
            results = run.evaluate()
        if not baselines:
            results = {"multiscale": results["multiscale"]}
        split = run.split_label()
    else:
        run = runs.RecommendRun(cfg, x, test, t=t)
        if model is None:
            run.fit(verbose=_verbose(args))
        else:
            _check_catalogue(meta, x)
            run.model = model
        results = run.evaluate(with_baselines=baselines, verbose=_verbose(args))
        split = run.label
    plots = []
    if cfg["plots"]:
        with t("plots"):
            plots = run.plots(out, results) if task == "recommend" else run.plots(out)
    runs.finish_report("evaluate", task, cfg, x, test, split, results, "multiscale",
                       runs.training_info(run.model), t, plots, out)
    runs.print_results(results, "multiscale")
    runs.say(f"report: {out / 'report.json'}" + (f"; plots: {', '.join(plots)}" if plots else ""))
    return 0


def _check_catalogue(meta, x):
    ids = meta.get("item_ids")
    if ids is not None and [str(v) for v in ids] != [str(v) for v in x.item_ids]:
        raise UsageError("the model was trained on another item catalogue than this data's; "
                         "evaluate it on the data (and k_core/dedupe) it was trained on")


# --------------------------------------------------------------------------------- recommend
def _reload(meta, args):
    cfg = config.merge(config.defaults(), meta.get("config", {}), "saved model configuration")
    d = cfg["data"]
    if args.data:
        d.update(path=args.data, format=args.format, name=None, version=None, test_path=None)
    elif args.format:
        d["format"] = args.format
    if not d["path"]:
        raise UsageError("give --data PATH: the model does not name its training data")
    if not args.data and not os.path.exists(d["path"]):
        raise UsageError(f"the model's training data {d['path']} (the path given to 'train', "
                         f"relative to the folder it ran in) is not found from "
                         f"{os.getcwd()}: give --data PATH")
    x, _ = runs.load_data(cfg, progress=False)
    return cfg, x


def _as_ids(values, known):
    known = np.asarray(known)
    if known.dtype.kind in "iu":
        try:
            return np.asarray([int(v) for v in values], np.int64)
        except ValueError:
            raise UsageError(f"ids must be integers for this data, got {values}") from None
    return np.asarray([str(v) for v in values])


def recommend(args, flags) -> int:
    from ..data import padded_histories

    model, meta = runs.load_model(args.model)
    if meta.get("task") != "recommend":
        raise UsageError(f"{args.model} is not a recommender saved by 'chronoscale train'")
    if args.output:
        _output_file(args.output, "-o/--output", "recommendations.csv")
    cfg, x = _reload(meta, args)
    if args.users:
        want = _as_ids(args.users, x.user_ids)
        codes = x.encode_users(want)
        if (codes < 0).any():
            raise UsageError(f"unknown user id(s): {', '.join(map(str, want[codes < 0]))}")
    else:
        codes = np.flatnonzero(x.counts > 0)[:5]
    # the model's item codes for this data's items (-1: not in the model's catalogue)
    model_ids = np.asarray([str(v) for v in meta["item_ids"]])
    order = np.argsort(model_ids)
    data_ids = np.asarray([str(v) for v in x.item_ids])
    pos = np.clip(np.searchsorted(model_ids[order], data_ids), 0, len(model_ids) - 1)
    to_model = np.where(model_ids[order][pos] == data_ids, order[pos], -1)
    b = padded_histories(x, codes, cfg["model"]["max_len"])
    items, ts, lengths = np.zeros_like(b.items), np.zeros_like(b.timestamps), b.lengths.copy()
    for r in range(len(codes)):
        mc = to_model[b.items[r, :b.lengths[r]]]
        ok = mc >= 0
        lengths[r] = ok.sum()
        items[r, :lengths[r]], ts[r, :lengths[r]] = mc[ok], b.timestamps[r, :b.lengths[r]][ok]
    if (lengths == 0).any():
        bad = x.decode_users(codes[lengths == 0])
        raise UsageError(f"user(s) {', '.join(map(str, bad))} have no history with items the "
                         "model knows")
    hist = {"items": items, "lengths": lengths}
    from .ranking import uses_time

    if uses_time(model):
        hist["timestamps"] = ts
    exclude = None
    if not args.include_seen:  # the whole log of each user, not only the max_len scored events
        off = x.offsets
        exclude = [to_model[x.item[off[u]:off[u + 1]]] for u in codes]
        exclude = [e[e >= 0] for e in exclude]
    ids, scores = model.recommend(hist, k=args.k, exclude_seen=False, exclude=exclude)
    rows = []
    for r, u in enumerate(x.decode_users(codes)):
        for rank in range(ids.shape[1]):
            rows.append((u, rank + 1, meta["item_ids"][ids[r, rank]], float(scores[r, rank])))
    print(f"{'user':>12} {'rank':>4} {'item':>14} {'score':>9}")
    for u, rank, item, s in rows:
        print(f"{str(u):>12} {rank:>4} {str(item):>14} {s:>9.4f}")
    if args.output:
        with _open_output(Path(args.output), "-o/--output") as f:
            w = csv.writer(f)
            w.writerow(["user", "rank", "item", "score"])
            w.writerows(rows)
    return 0


# ---------------------------------------------------------------------------------- forecast
def forecast(args, flags) -> int:
    from ..data import period_seconds

    model, meta = runs.load_model(args.model)
    if meta.get("task") != "forecast":
        raise UsageError(f"{args.model} is not a forecaster saved by 'chronoscale train'")
    if args.output:
        _output_file(args.output, "-o/--output", "forecasts.csv")
    cfg, x = _reload(meta, args)
    task = runs.SeriesTask.from_dict(meta["series"])
    series, starts, ids = task.series(x)
    P = series.shape[1]
    if P < task.history:
        raise UsageError(f"the data has {P} periods of {task.period}; the model needs "
                         f"history={task.history}")
    rows = np.arange(len(ids))
    if args.series:
        want = _as_ids(args.series, ids)
        keys = np.asarray(ids) if np.asarray(ids).dtype.kind in "iu" else np.asarray(
            [str(v) for v in ids])
        rows = np.flatnonzero(np.isin(keys, want))
        missing = sorted(set(want.tolist()) - set(keys[rows].tolist()))
        if missing:
            raise UsageError(f"unknown series id(s): {', '.join(map(str, missing))}")
    X, ts, _, _, _ = task.windows(series, starts, [P], rows)
    pred = task.unscale(np.asarray(model.predict(X, timestamps=ts)).reshape(len(rows), -1))
    if cfg["forecast"]["nonnegative"]:
        pred = np.maximum(pred, 0.0)
    p = period_seconds(task.period)
    future = int(starts[-1]) + p * np.arange(1, task.horizon + 1)
    f = _open_output(Path(args.output), "-o/--output") if args.output else sys.stdout
    try:
        w = csv.writer(f)
        w.writerow([task.series_by, "horizon", "period_start_utc", "forecast"])
        for i, r in enumerate(rows):
            for h in range(task.horizon):
                w.writerow([ids[r], h + 1, str(np.datetime64(int(future[h]), "s")),
                            f"{pred[i, h]:.6g}"])
    finally:
        if args.output:
            f.close()
    if args.output:
        runs.say(f"wrote {len(rows) * task.horizon:,} forecasts ({len(rows):,} series x "
                 f"{task.horizon} periods of {task.period}) to {args.output}")
    return 0


# --------------------------------------------------------------------------------------- demo
def demo(args, flags) -> int:
    from .demo import run_demo

    return run_demo(args)


# -------------------------------------------------------------------------------------- bench
def bench_dir() -> Path | None:
    """``bench/python`` of the source checkout this package runs from (or of the working
    directory), None when neither has one."""
    here = Path(__file__).resolve()
    for root in (here.parents[3], Path.cwd()):
        d = root / "bench" / "python"
        if d.is_dir():
            return d
    return None


def bench(args, flags) -> int:
    d = bench_dir()
    if d is None:
        raise UsageError("the benchmark scripts live in a source checkout (bench/python), not "
                         "in the installed package: run this from a clone of chronoscale")
    scripts = sorted(p.stem for p in d.glob("*.py") if not p.name.startswith("_"))
    if not args.name:
        print(f"benchmark scripts in {d}:")
        for s in scripts:
            print(f"  {s}")
        return 0
    name = args.name[:-3] if args.name.endswith(".py") else args.name
    if name not in scripts:
        raise UsageError(f"no benchmark {name!r} in {d}; available: {', '.join(scripts)}")
    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH")
                                    else "")
    return subprocess.call([sys.executable, str(d / f"{name}.py"), *args.args], env=env)


# --------------------------------------------------------------------------------------- info
def info(args, flags) -> int:
    import chronoscale

    print(json.dumps(chronoscale.build_info(), indent=2))
    return 0
