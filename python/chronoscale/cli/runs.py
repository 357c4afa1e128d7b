"""What the subcommands do: load data, train, evaluate beside the baselines, save models with
their task settings, make the report and the plots."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .. import io
from ..baselines import MovingAverage, SeasonalNaive
from ..data import period_seconds, read_interactions
from ..metrics import evaluate_forecast
from ..report import Timings, make_report, summary_table, write_report
from . import ranking
from .config import UsageError
from .forecasting import SeriesTask

FORECAST_KEYS = ("series_by", "period", "what", "extra", "history", "horizon", "stride",
                 "transform", "calendar", "max_train_windows")


def say(*args):
    print(*args, flush=True)


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
    test = None
    if d["test_path"]:
        test = read_interactions(d["test_path"], **{**opts, "k_core": None, "dedupe": None,
                                                    "name": None, "version": None})
    return x, test


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
def save_model(model, path, cli_meta: dict) -> Path:
    """Save like ``chronoscale.save`` (same ``.csm`` file, loadable by ``chronoscale.load``),
    with the CLI's task settings in ``meta["cli"]``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config, tensors, meta = model._save_state()
    meta = {**meta, "cli": cli_meta}
    io.write_file(path, tensors, kind="model", cls=type(model).__name__, config=config, meta=meta)
    return path


def load_model(path):
    """``(model, cli meta)``; the meta is ``{}`` for a model saved outside the CLI."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such model file: {path}")
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
    scales = m["scales"] or default_forecast_scales(task.period)
    scales = [scales] if isinstance(scales, str) else [str(s) for s in scales]
    opt = {k: m[k] for k in ("count_feature", "clipnorm") if m[k] is not None}
    return MultiScaleForecaster(scales=scales, cell=m["cell"] or "lstm", units=m["units"],
                                pool=m["pool"], loss=m["loss"] or "mse",
                                learning_rate=m["learning_rate"] or 3e-3,
                                random_state=cfg["seed"], **opt)


class ForecastRun:
    """Series, hold-out windows, a trained (or loaded) forecaster and its evaluation."""

    def __init__(self, cfg: dict, x, task: SeriesTask | None = None, t: Timings | None = None):
        self.cfg, self.x = cfg, x
        self.t = t or Timings()
        self.task = task or series_task(cfg)
        with self.t("series"):
            self.series, self.starts, self.ids = self.task.series(x)
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
            model.fit(X, y, timestamps=ts, epochs=m["epochs"], batch_size=m["batch_size"] or 64,
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
        season = f["season"] or default_season(tk.period)
        if season > tk.history:
            season = 1
        window = f["ma_window"] or (season if season > 1 else 4)
        out = {SeasonalNaive(season).name: SeasonalNaive(season)}
        if season > 1:
            out["naive"] = SeasonalNaive(1)
        for w in dict.fromkeys([min(window, tk.history), tk.history]):
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
        model = model or ranking.make_model(self.cfg, self.x.num_items, self.x.synthetic_time)
        with self.t("train"):
            ranking.fit_model(model, self.cfg, self.train, self.valid, verbose)
        self.model = model
        return model

    def cli_meta(self) -> dict:
        return {"task": "recommend", "config": self.cfg, "dataset": self.x.label(),
                "item_ids": _ids_json(self.x.item_ids)}

    def evaluate(self, name: str = "multiscale", with_baselines: bool = True) -> dict:
        models = {}
        if self.model is not None:
            models[name] = self.model
        if with_baselines:
            with self.t("baselines_fit"):
                models.update(ranking.baselines(self.train))
        with self.t("evaluate"):
            return ranking.evaluate(models, self.test, self.cfg, self.label)

    def plots(self, out: Path) -> list[str]:
        from .. import plot

        files = []
        m = self.model
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
            c, names = ranking.score_contributions(m, h, q.items)
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
