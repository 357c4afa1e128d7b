"""``chronoscale demo``: the built-in real data, end to end, offline, in well under a minute.

1. Forecasting — Open Bandit Dataset sample (ZOZOTOWN, Apache-2.0; 20,000 impressions, 80
   items, 7 days): one series per item, impressions per hour; the multi-scale forecaster
   (wall-clock scales 1h / 6h / 1d, LSTM) sees 48 hours and forecasts the next 24; the last 24
   hours are held out, the 24 before them validate. Beside seasonal-naive (same hour yesterday),
   naive and moving averages.
2. Recommendation — OTTO sample (CC BY 4.0; 20 real sessions, 862 events, 510 items): the
   events after the 80% time quantile are next-item targets, each predicted from its session's
   earlier events only (models train on the events before the cut; 20 sessions leave no room
   for a validation window, so the curves show the training loss); the multi-scale recommender
   (where this build has it) beside most-popular and last-item transitions, full ranking over
   all items.

Outputs under ``--out``: ``forecast/`` and ``recommend/``, each with ``report.json`` and PNGs.
"""

from __future__ import annotations

from pathlib import Path

from . import config, ranking, runs

DATA = Path(__file__).resolve().parents[1] / "datasets" / "data"
OPEN_BANDIT = DATA / "open_bandit_all.csv.gz"
OTTO = DATA / "otto_sample.jsonl.gz"


def _epochs(args, default: int) -> int:
    return default if args.epochs is None else args.epochs


def forecast_config(args) -> dict:
    return config.build(flags={
        "task": "forecast", "seed": args.seed, "out": str(Path(args.out) / "forecast"),
        "plots": not args.no_plots,
        "data.path": str(OPEN_BANDIT), "data.format": "open-bandit",
        "data.name": "open-bandit-all-sample",
        "forecast.series_by": "item", "forecast.period": "1h", "forecast.what": "count",
        "forecast.history": 48, "forecast.horizon": 24, "forecast.transform": "log1p",
        "model.scales": ["1h", "6h", "1d"] if args.scales is None else args.scales,
        "model.cell": "lstm",
        "model.units": 16, "model.epochs": _epochs(args, 12), "model.batch_size": 64,
        "model.learning_rate": 3e-3, "model.patience": 4,
    })


def recommend_config(args) -> dict:
    return config.build(flags={
        "task": "recommend", "seed": args.seed, "out": str(Path(args.out) / "recommend"),
        "plots": not args.no_plots,
        "data.path": str(OTTO), "data.format": "otto", "data.name": "otto-sample",
        "split.protocol": "temporal", "split.quantile": 0.8,
        "split.targets": "all",
        "eval.exclude_history": False, "eval.k": [10, 20],
        "model.scales": ["1", "4", "1h", "1d"], "model.cell": "gru", "model.dim": 32,
        "model.units": 32, "model.max_len": 64, "model.epochs": _epochs(args, 20),
        "model.batch_size": 8, "model.learning_rate": 5e-3,
    })


def _forecast(args, verbose):
    cfg = forecast_config(args)
    out, t = Path(cfg["out"]), runs.Timings()
    with t("load"):
        x, _ = runs.load_data(cfg, progress=False)
    run = runs.ForecastRun(cfg, x, t=t)
    tk = run.task
    runs.say(f"\n== Forecasting: Open Bandit Dataset sample (ZOZOTOWN, Apache-2.0; Saito et al., "
             f"arXiv:2008.07146)\n   {len(x):,} impressions, {x.num_items} items, "
             f"{run.series.shape[1]} hours -> {run.series.shape[0]} series of {tk.what} per "
             f"{tk.series_by} per {tk.period}; input {tk.history} h, forecast {tk.horizon} h; "
             f"test = the last {tk.horizon} h, validation = the {tk.horizon} h before")
    model = runs.make_forecaster(cfg, tk)
    run.fit(model, verbose)
    with t("evaluate"):
        results = run.evaluate()
    plots = []
    if cfg["plots"]:
        with t("plots"):
            plots = run.plots(out)
    runs.finish_report("demo", "forecast", cfg, x, None, run.split_label(), results,
                       "multiscale", runs.training_info(model), t, plots, out)
    runs.say(f"\n   test MAE / RMSE per item-hour (scales {', '.join(model.scales)}; "
             f"learned α = " + ", ".join(f"{a:.2f}" for a in model.scale_weights_.mean(1))
             + " averaged over horizons):")
    runs.print_results(results, "multiscale", ["MAE", "RMSE"])
    return out, t


def _recommend(args, verbose):
    cfg = recommend_config(args)
    out, t = Path(cfg["out"]), runs.Timings()
    with t("load"):
        x, _ = runs.load_data(cfg, progress=False)
    run = runs.RecommendRun(cfg, x, t=t)
    runs.say(f"\n== Next-item recommendation: OTTO sample (CC BY 4.0)\n   {len(x)} events, "
             f"{x.num_users} sessions, {x.num_items} items; {len(run.test)} targets after the "
             f"80% time quantile, each from its session's earlier events; full ranking")
    have_model = ranking.recommender_class() is not None
    if have_model:
        run.fit(verbose=verbose)
    else:
        runs.say("   (MultiScaleRecommender is not in this build: baselines only)")
    results = run.evaluate(verbose=verbose)
    primary = "multiscale" if have_model else next(iter(results))
    plots = []
    if cfg["plots"]:
        with t("plots"):
            plots = run.plots(out, results, primary)
    runs.finish_report("demo", "recommend", cfg, x, None, run.label, results, primary,
                       runs.training_info(run.model), t, plots, out)
    runs.print_results(results, primary if have_model else None,
                       ["HR@10", "NDCG@10", "Recall@20", "MRR@20"])
    return out, t


def run_demo(args) -> int:
    import time

    import chronoscale

    t0 = time.perf_counter()
    runs.check_output(args.out, "--out", folder=True)  # before any training
    runs.set_threads(args.threads)
    verbose = 0 if args.quiet else 1
    done = []
    if args.only in (None, "forecast"):
        done.append(_forecast(args, verbose))
    if args.only in (None, "recommend"):
        done.append(_recommend(args, verbose))
    runs.say(f"\nDone in {time.perf_counter() - t0:.1f} s "
             f"({chronoscale.get_num_threads()} threads). Reports and plots:")
    for out, _ in done:
        files = sorted(p.name for p in out.iterdir())
        runs.say(f"   {out}/: {', '.join(files)}")
    return 0
