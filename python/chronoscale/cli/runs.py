"""What the subcommands do: load data, train, evaluate beside the baselines, save models with
their task settings, make the report and the plots."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from .. import io
from ..baselines import MovingAverage, SeasonalNaive
from ..data import period_seconds, read_interactions
from ..metrics import evaluate_forecast
from ..report import Timings, make_report, summary_table, write_report
from . import ranking
from .config import UsageError, describe
from .forecasting import SeriesTask

FORECAST_KEYS = ("series_by", "period", "what", "extra", "history", "horizon", "stride",
                 "transform", "calendar", "max_train_windows")


def say(*args):
    print(*args, flush=True)


def max_threads() -> int:
    """The most native threads ``chronoscale.set_num_threads`` takes: 4 x the hardware
    threads, at least 64."""
    return max(64, 4 * (os.cpu_count() or 1))


def set_threads(n) -> None:
    """``threads``: None leaves the library's choice, 0 means every core this process may use,
    ``n >= 1`` that many (at most ``max_threads()``)."""
    if n is None:
        return
    if n < 0:
        raise UsageError(f"{describe('threads')} must be >= 0 (0: all cores), got {n}")
    most = max_threads()
    if n > most:  # (past the C int range the library's binding gives an obscure TypeError)
        raise UsageError(f"{describe('threads')} must be <= {most} (4 x the {os.cpu_count()} "
                         f"hardware threads, at least 64; 0: all cores), got {n}")
    import chronoscale

    if n == 0:
        if hasattr(os, "sched_getaffinity"):
            n = len(os.sched_getaffinity(0))
        else:
            n = os.cpu_count() or 1  # None: unknown
    try:
        chronoscale.set_num_threads(int(n))
    except ValueError as e:
        raise UsageError(f"{describe('threads')}={n}: {e}") from None


def check_output(path, flag: str, folder: bool = False, replaced: bool = True) -> None:
    """UsageError naming ``flag`` and ``path`` unless a file (``folder``: a folder) can be
    created there: checked before the long work (training), so that a bad output path does
    not cost the run (see ``chronoscale.report.output_problem``)."""
    from ..report import output_problem

    problem = output_problem(path, folder=folder, replaced=replaced)
    if problem:
        raise UsageError(f"{flag} {path}: {problem}")


# ------------------------------------------------------------------------------------- data
def load_data(cfg: dict, progress=None):
    """``(log, test_log or None)`` from ``[data]``."""
    d = cfg["data"]
    if not d["path"]:
        raise UsageError("no data: give --data PATH (and --format) or [data] path in the config")
    opts = dict(format=d["format"], columns=d["columns"], time_unit=d["time_unit"],
                dedupe=d["dedupe"], k_core=tuple(d["k_core"]) if isinstance(d["k_core"], list)
                else d["k_core"], name=d["name"], version=d["version"], progress=progress)
    x = read_interactions(d["path"], **opts)
    if len(x) == 0:
        raise UsageError(_no_events(d["path"], opts))
    test = None
    if d["test_path"] is not None:
        test = read_interactions(d["test_path"], **{**opts, "k_core": None, "dedupe": None,
                                                    "name": None, "version": None})
        if len(test) == 0:
            raise UsageError(f"no events in the test file {d['test_path']} "
                             f"({describe('data.test_path')}): the file has no data rows")
    return x, test


def _no_events(path, opts) -> str:
    k = opts["k_core"]
    if k is not None and k not in (0, (0, 0)):
        before = len(read_interactions(path, **{**opts, "k_core": None, "progress": False}))
        if before:
            return (f"no events left in {path} after k-core filtering with data.k_core={k} "
                    f"({before:,} events before it): lower data.k_core")
    return f"no events in {path}: the file has no data rows"


def infer_task(cfg: dict, x=None) -> str:
    if cfg["task"]:
        return cfg["task"]
    if x is not None and x.num_items == 1:
        return "forecast"  # e.g. CDNOW: purchases without item ids
    return "recommend"


def dataset_label(x, test=None) -> dict:
    lab = x.describe()
    if test is not None:
        lab["test_file"] = {"version": test.version, "events": len(test),
                            "sessions": test.num_users}
    return lab


# --------------------------------------------------------------------------- model files
def save_model(model, path, cli_meta: dict, flag: str = "-o/--output") -> Path:
    """Save like ``chronoscale.save`` (same ``.csm`` file, loadable by ``chronoscale.load``),
    with the CLI's task settings in ``meta["cli"]``. A path that cannot be written is an
    OSError naming ``flag`` and ``path`` (never the temporary file written first)."""
    path = Path(path)
    config, tensors, meta = model._save_state()
    meta = {**meta, "cli": cli_meta}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        io.write_file(path, tensors, kind="model", cls=type(model).__name__, config=config,
                      meta=meta)
    except OSError as e:
        from ..report import output_problem

        why = output_problem(path) or f"cannot write it ({e.strerror or e})"
        raise OSError(f"{flag} {path}: {why}; the model is not saved") from None
    return path


def load_model(path):
    """``(model, cli meta)``; the meta is ``{}`` for a model saved outside the CLI.

    Raises:
        FileNotFoundError: nothing at ``path``. UsageError: ``path`` is not a regular file (a
            directory, ``/dev/zero``...).
    """
    from ..data._io import regular_file

    try:
        regular_file(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such model file: {path}") from None
    except ValueError:
        raise UsageError(f"--model {path}: it is {io.file_kind(os.stat(path).st_mode)}, not a "
                         "regular file; give a model file (.csm)") from None
    import chronoscale

    model = chronoscale.load(path)
    header, _ = io.read_file(path)
    return model, header.get("meta", {}).get("cli", {})


def _ids_json(ids):
    ids = np.asarray(ids)
    return ids.tolist() if ids.dtype.kind in "iuf" else [str(v) for v in ids]


# ------------------------------------------------------------------------------- forecasting
def _fmt_seconds(s: int) -> str:
    for unit, n in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if s % n == 0:
            return f"{s // n}{unit}"
    return f"{s}s"


def default_forecast_scales(period) -> list[str]:
    p = period_seconds(period)
    if p <= 3600:
        mult = [1, 6, 24] if p == 3600 else [1, 60 * 60 // p, 86400 // p]
    elif p < 86400:
        mult = [1, 86400 // p, 7 * 86400 // p]
    elif p < 7 * 86400:
        mult = [1, 7 * 86400 // p, 28 * 86400 // p]
    else:
        mult = [1, 4, 13]
    return [_fmt_seconds(p * m) for m in dict.fromkeys(mult)]


def default_season(period) -> int:
    p = period_seconds(period)
    if p < 86400 and 86400 % p == 0:
        return 86400 // p
    if p < 7 * 86400 and 7 * 86400 % p == 0:
        return 7 * 86400 // p
    return 1


def series_task(cfg: dict) -> SeriesTask:
    f = cfg["forecast"]
    return SeriesTask(**{k: f[k] for k in FORECAST_KEYS}, seed=cfg["seed"]).check()


def make_forecaster(cfg: dict, task: SeriesTask):
    from ..models import MultiScaleForecaster

    m = cfg["model"]
    for key, why in (("weight_decay", "the forecaster's optimiser has none"),
                     ("dropout", "the forecaster has no dropout")):
        if m[key] is not None:
            raise UsageError(f"model.{key} applies to the recommender only ({why})")
    scales = m["scales"] if m["scales"] is not None else default_forecast_scales(task.period)
    scales = [scales] if isinstance(scales, str) else [str(s) for s in scales]
    opt = {k: m[k] for k in ("count_feature", "clipnorm") if m[k] is not None}
    return MultiScaleForecaster(scales=scales, cell=_or(m["cell"], "lstm"), units=m["units"],
                                pool=m["pool"], loss=_or(m["loss"], "mse"),
                                learning_rate=_or(m["learning_rate"], 3e-3),
                                random_state=cfg["seed"], **opt)


def _or(value, default):
    """``value`` unless it is None (never ``value or default``: 0 and "" are values)."""
    return default if value is None else value


#: "section.key"s each task ignores, and why
_OTHER_TASK = {
    "forecast": ("it applies to the recommend task only", ["data.test_path"]
                 + [f"split.{k}" for k in ("protocol", "quantile", "valid_quantile", "targets",
                                           "min_history", "short_users", "max_test")]
                 + [f"eval.{k}" for k in ("k", "exclude_history", "max_queries")]
                 + [f"model.{k}" for k in ("dim", "max_len", "num_negatives")]),
    "recommend": ("it applies to the forecast task only",
                  [f"forecast.{k}" for k in ("series_by", "period", "what", "extra", "history",
                                             "horizon", "stride", "transform", "calendar",
                                             "max_train_windows", "season", "ma_window",
                                             "nonnegative")]),
}
#: the [split] keys each recommendation protocol reads
_SPLIT_KEYS = {"leave-one-out": {"protocol", "short_users", "max_test"},
               "temporal": {"protocol", "quantile", "valid_quantile", "targets", "min_history",
                            "max_test"},
               "session": {"protocol", "min_history", "max_test"}}


def _get(cfg: dict, key: str):
    sec, _, name = key.partition(".")
    return cfg[sec][name] if name else cfg[sec]


def _changed(cfg: dict, ref: dict, keys) -> list[str]:
    return [k for k in keys if _get(cfg, k) != _get(ref, k)]


def check_unused(cfg: dict, ref: dict, task: str, test_log=None) -> None:
    """UsageError for a setting changed from ``ref`` (the defaults, or a saved model's
    configuration) that would have no effect on this ``task`` (and split protocol)."""
    why, keys = _OTHER_TASK[task]
    for key in _changed(cfg, ref, keys):
        raise UsageError(f"{describe(key)} has no effect for the {task} task ({why}); "
                         "leave it out")
    if task != "recommend":
        return
    protocol = ranking.protocol(cfg, test_log)
    split_keys = [f"split.{k}" for k in cfg["split"]]
    for key in _changed(cfg, ref, split_keys):
        if key.partition(".")[2] not in _SPLIT_KEYS[protocol]:
            users = [p for p, ks in _SPLIT_KEYS.items() if key.partition(".")[2] in ks]
            raise UsageError(f"{describe(key)} has no effect with split.protocol "
                             f"{protocol!r} (it applies to {' and '.join(users)}); leave it out")
    if protocol != "session" and cfg["data"]["test_path"] is not None:
        raise UsageError(f"{describe('data.test_path')} is used by split.protocol 'session' "
                         f"only, not {protocol!r}")
    if protocol == "session" and _changed(cfg, ref, ["eval.max_queries"]):
        raise UsageError("eval.max_queries caps the validation targets during training; the "
                         "session protocol has none: leave it out")
    loss = _or(cfg["model"]["loss"], "full")
    if loss != "sampled" and _changed(cfg, ref, ["model.num_negatives"]):
        raise UsageError(f"model.num_negatives applies to model.loss 'sampled' only, not "
                         f"{loss!r}")


def check_loaded(cfg: dict, saved_cfg: dict, path) -> None:
    """``evaluate --model``: UsageError for a [model] setting (or eval.max_queries, which caps
    the validation targets of training) that differs from the saved model's: the model is
    evaluated as it was trained."""
    keys = [f"model.{k}" for k in cfg["model"]] + ["eval.max_queries"]
    for key in _changed(cfg, saved_cfg, keys):
        was = _get(saved_cfg, key)
        was = "the default" if was is None else repr(was)
        raise UsageError(f"{describe(key)}={_get(cfg, key)!r} has no effect with --model: "
                         f"{path} is evaluated as it was trained (with {was}); leave it out, "
                         "or train a new model")


def check_series(cfg: dict, saved: SeriesTask, path) -> None:
    """``evaluate --model`` on a forecaster: UsageError for a [forecast] series setting that
    contradicts the saved model's (its inputs are built the saved way); the configuration then
    records the values used."""
    f = cfg["forecast"]
    for k in FORECAST_KEYS:
        have, want = f[k], getattr(saved, k)
        same = (period_seconds(have) == period_seconds(want)) if k == "period" else have == want
        if not same:
            raise UsageError(f"{describe('forecast.' + k)}={have!r} conflicts with the saved "
                             f"model's {k}={want!r} ({path}); leave it out to use the saved "
                             "value")
        f[k] = want


class ForecastRun:
    """Series, hold-out windows, a trained (or loaded) forecaster and its evaluation."""

    def __init__(self, cfg: dict, x, task: SeriesTask | None = None, t: Timings | None = None):
        self.cfg, self.x = cfg, x
        self.t = t or Timings()
        self.task = series_task(cfg) if task is None else task
        with self.t("series"):
            self.series, self.starts, self.ids = self.task.series(x)
        f = cfg["forecast"]
        for key in ("season", "ma_window"):  # baseline settings: checked before training
            if f[key] is not None and f[key] > self.task.history:
                raise UsageError(f"forecast.{key}={f[key]} exceeds forecast.history="
                                 f"{self.task.history}: the baselines see the last history "
                                 "periods only")
        P = self.series.shape[1]
        self.origins = self.task.origins(P)
        if task is None:  # a new model: scaling from the training periods only
            self.task.fit_scaling(self.series, self.origins["valid"])
        self.model = None

    def quantity(self) -> str:
        tk = self.task
        if tk.what == "count":
            return "events"
        return tk.extra or str(self.x.meta.get("value", "value"))

    def split_label(self) -> dict:
        o, tk = self.origins, self.task
        day = lambda i: str(np.datetime64(int(self.starts[i]), "s"))  # noqa: E731
        return {"protocol": "forecast-holdout", "period": tk.period, "history": tk.history,
                "horizon": tk.horizon, "series": int(self.series.shape[0]),
                "periods": int(self.series.shape[1]),
                "train_origins": [int(o["train"][0]), int(o["train"][-1])],
                "train_stride": tk.stride, "valid_origin": day(o["valid"]),
                "test_origin": day(o["test"]),
                "scaling": {"transform": tk.transform, "mean": tk.mean, "std": tk.std,
                            "fitted_on": "training periods only"}}

    def fit(self, model, verbose: int = 1):
        tk, m = self.task, self.cfg["model"]
        with self.t("windows"):
            X, ts, y, _, _ = tk.train_windows(self.series, self.starts, self.origins["train"])
            Xv, tsv, yv, _, _ = tk.windows(self.series, self.starts, [self.origins["valid"]])
        self.n_train = len(X)
        with self.t("train"):
            model.fit(X, y, timestamps=ts, epochs=m["epochs"], batch_size=_or(m["batch_size"], 64),
                      validation_data=(Xv, yv, None, tsv), verbose=verbose,
                      patience=m["patience"], monitor=m["monitor"])
        self.model = model
        return model

    def cli_meta(self) -> dict:
        return {"task": "forecast", "series": self.task.to_dict(), "config": self.cfg,
                "dataset": self.x.label(), "series_ids": _ids_json(self.ids)}

    def predict(self, origin: int, rows=None):
        X, ts, _, _, _ = self.task.windows(self.series, self.starts, [origin], rows)
        z = self.model.predict(X, timestamps=ts)
        z = z.reshape(len(X), -1)
        p = self.task.unscale(z)
        return np.maximum(p, 0.0) if self.cfg["forecast"]["nonnegative"] else p

    def baselines(self) -> dict:
        f, tk = self.cfg["forecast"], self.task
        season = f["season"]
        if season is None:  # the period's natural season, where the history holds one
            season = default_season(tk.period)
            season = season if season <= tk.history else 1
        window = f["ma_window"]
        if window is None:
            window = min(season if season > 1 else 4, tk.history)
        out = {SeasonalNaive(season).name: SeasonalNaive(season)}
        if season > 1:
            out["naive"] = SeasonalNaive(1)
        for w in dict.fromkeys([window, tk.history]):
            out[MovingAverage(w).name] = MovingAverage(w)
        return out

    def evaluate(self, name: str = "multiscale") -> dict:
        tk, o = self.task, self.origins["test"]
        truth = self.series[:, o:o + tk.horizon]
        hist = self.series[:, o - tk.history:o]
        target = f"{tk.what} per {tk.series_by} per {tk.period}"
        holdout = f"last {tk.horizon} periods (origin {self.split_label()['test_origin']})"
        preds = {name: self.predict(o)}
        for bname, b in self.baselines().items():
            preds[bname] = b.predict(hist, tk.horizon)
        self.test_preds = preds
        results = {}
        for n, p in preds.items():
            rep = evaluate_forecast(truth, p, dataset=self.x, scale=tk.period, target=target)
            rep["model"] = n
            rep["holdout"] = holdout
            results[n] = rep
        return results

    def plots(self, out: Path, name: str = "multiscale", n: int = 4) -> list[str]:
        from .. import plot

        tk, o, m = self.task, self.origins["test"], self.model
        files = []
        hist = getattr(m, "history_", None)
        if hist:
            files.append(plot.training_curves(
                hist, out / "training_curves.png", f"Training: {self.x.name} ({tk.period} series)",
                f"{m.loss.upper()} ({tk.transform}, standardised)"))
        lo = max(0, o - max(3 * tk.horizon, tk.history))
        vol = self.series[:, lo:o].sum(1)  # the busiest series in the plotted window
        rows = np.argsort(-vol, kind="stable")[:n]
        labels = [f"{tk.series_by} {self.ids[r]}" for r in rows]
        shown = list(self.test_preds)[:3]  # the model and the first two baselines
        preds = {k: self.test_preds[k][rows] for k in shown}
        files.append(plot.forecast_vs_truth(
            self.starts[lo:o + tk.horizon], self.series[rows, lo:o + tk.horizon], preds, o - lo,
            out / "forecast_vs_truth.png", labels,
            title=f"{self.x.name}: {self.quantity()} per {tk.series_by} per {tk.period}, "
            f"the last {tk.horizon} held out", ylabel=self.quantity()))
        scales = [str(s) for s in m.scales] if not isinstance(m.scales, str) else [m.scales]
        files.append(plot.scale_weights(m.scale_weights_, scales, out / "scale_weights.png",
                                        title=f"Learned scale weights α ({self.x.name})"))
        X, ts, y, _, _ = tk.windows(self.series, self.starts, [o], rows)
        c = m.explain(X, timestamps=ts)
        c = c.reshape(len(rows), len(scales), -1)
        files.append(plot.contributions(
            c, scales, out / "scale_contributions.png", labels, truth=y,
            title=f"Per-scale contributions α_s·y_s to the test forecast ({tk.transform}, "
            "standardised)", xlabel=f"periods of {tk.period} ahead", ylabel="contribution"))
        return [Path(f).name for f in files]


# ---------------------------------------------------------------------------- recommendation
class RecommendRun:
    """Split, baselines, the multi-scale recommender and full-ranking evaluation."""

    def __init__(self, cfg: dict, x, test_log=None, t: Timings | None = None):
        self.cfg, self.x, self.t = cfg, x, t or Timings()
        with self.t("split"):
            self.train, self.valid, self.test, self.label = ranking.split(cfg, x, test_log)
        self.model = None

    def fit(self, model=None, verbose: int = 1):
        if model is None:
            model = ranking.make_model(self.cfg, self.x.num_items, self.x.synthetic_time)
        with self.t("train"):
            ranking.fit_model(model, self.cfg, self.train, self.valid, verbose)
        self.model = model
        return model

    def cli_meta(self) -> dict:
        return {"task": "recommend", "config": self.cfg, "dataset": self.x.label(),
                "item_ids": _ids_json(self.x.item_ids)}

    def evaluate(self, name: str = "multiscale", with_baselines: bool = True,
                 verbose: int = 1) -> dict:
        models = {}
        if self.model is not None:
            models[name] = self.model
        if with_baselines:
            with self.t("baselines_fit"):
                models.update(ranking.baselines(self.train))
        with self.t("evaluate"):
            return ranking.evaluate(models, self.test, self.cfg, self.label, verbose=verbose)

    def plots(self, out: Path, results: dict | None = None,
              primary: str = "multiscale") -> list[str]:
        """The PNGs in ``out``: training curves, scale weights, the held-out items' score
        parts and, given the evaluation's ``results``, each method's hit-rate curve."""
        from .. import plot

        files = []
        m = self.model
        def some(key):  # (over at least one query: nothing to draw without)
            return any(isinstance(r, dict) and r.get(key) and r.get("num_queries")
                       for r in (results or {}).values())

        if some("hit_curve"):
            files.append(plot.hit_curves(
                results, out / "hit_rate_curves.png", primary=primary,
                title=f"Where the held-out items rank ({self.x.name}, full ranking)"))
        if some("by_history_length"):
            metric = f"NDCG@{ranking.ks(self.cfg)[0]}"
            files.append(plot.by_history_length(
                results, out / "by_history_length.png", metric,
                title=f"{metric} by history length ({self.x.name})"))
        if m is None:
            return [Path(f).name for f in files]
        hist = getattr(m, "history_", None)
        if hist:
            files.append(plot.training_curves(hist, out / "training_curves.png",
                                              f"Training: {self.x.name}"))
        scales = [str(s) for s in m.scales] if not isinstance(m.scales, str) else [m.scales]
        alpha = getattr(m, "scale_weights_", None)
        if alpha is not None:
            files.append(plot.scale_weights(alpha, scales, out / "scale_weights.png"))
        if hasattr(m, "net") and hasattr(m.net, "proj") and len(self.test):
            first = np.unique(self.test.users, return_index=True)[1]  # one target per user
            q = self.test.take(np.sort(first)[:8])
            h = ranking.target_histories(q, self.cfg["model"]["max_len"], ranking.uses_time(m))
            c, names = m.explain(h, q.items)
            labels = [f"user {u}\n→ item {v}" for u, v in
                      zip(self.x.decode_users(q.users), self.x.decode_items(q.items))]
            files.append(plot.contributions(
                c, names, out / "scale_contributions.png", labels, prefix="",
                title=f"What makes up the score of the held-out item ({self.x.name})",
                ylabel="score contribution"))
        return [Path(f).name for f in files]


# ------------------------------------------------------------------------------------ reports
def finish_report(command: str, task: str, cfg: dict, x, test_log, split: dict, results: dict,
                  primary: str, training: dict, t: Timings, plots, out: Path) -> dict:
    rep = make_report(command=command, task=task, dataset=dataset_label(x, test_log),
                      split=split, config=cfg, results=results, primary=primary,
                      training=training, timings=t.total(), plots=plots)
    write_report(rep, out / "report.json")
    return rep


def training_info(model) -> dict:
    info = {}
    hist = getattr(model, "history_", None)
    if hist is not None:
        info["history"] = dict(hist)
        info["best_epoch"] = getattr(hist, "best_epoch", None)
    scales = getattr(model, "scales", None)
    if scales is not None:
        info["scales"] = [scales] if isinstance(scales, str) else [str(s) for s in scales]
    alpha = getattr(model, "scale_weights_", None) if model is not None else None
    if alpha is not None:
        info["scale_weights"] = np.asarray(alpha)
    if model is not None and hasattr(model, "get_params"):
        info["params"] = model.get_params()
    return info


def print_results(results: dict, primary: str | None, metrics=None, file=None):
    print(summary_table(results, metrics, primary), file=file or sys.stdout, flush=True)
