"""The ``chronoscale`` command line on tiny data: every subcommand, --help, configuration
precedence, one-line errors with exit status 2, models saved and reloaded, reports and plots."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest

import chronoscale
from chronoscale.cli import config as cfgmod
from chronoscale.cli import main
from chronoscale.cli.ranking import recommender_class
from chronoscale.report import validate_report

from helpers import err_line

COMMANDS = ["demo", "train", "evaluate", "recommend", "forecast", "bench", "info"]
FAST = ["--units", "4", "--epochs", "1", "--batch-size", "64", "-q", "--threads", "1"]
needs_recommender = pytest.mark.skipif(recommender_class() is None,
                                       reason="MultiScaleRecommender not in this build")




@pytest.fixture
def log_csv(tmp_path, rng):
    """12 users x 6 days of hourly-patterned events (user,item,timestamp,value)."""
    rows = []
    t0 = 1_700_000_000 // 86400 * 86400
    for u in range(12):
        rate = 1 + u % 3
        for h in range(6 * 24):
            n = rng.poisson(rate * (1.5 + np.sin(2 * np.pi * h / 24)))
            for _ in range(n):
                ts = t0 + h * 3600 + int(rng.integers(0, 3600))
                rows.append((f"u{u}", int(rng.integers(0, 30)), ts, float(rng.integers(1, 5))))
    path = tmp_path / "log.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user_id", "item_id", "timestamp", "rating"])
        w.writerows(rows)
    return path


def _forecast_args(path):
    return ["--data", str(path), "--format", "table", "--task", "forecast", "--period", "1h",
            "--what", "count", "--history", "24", "--horizon", "6",
            "--set", "forecast.max_train_windows=400", "--scales", "1h", "6h", *FAST]


# ------------------------------------------------------------------------------ help, usage
@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_everywhere(capsys, command):
    argv = ["--help"] if command is None else [command, "--help"]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "usage: chronoscale" in out
    if command is None:
        assert all(c in out for c in COMMANDS)


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


@pytest.mark.parametrize("argv,needle", [
    (["frobnicate"], "invalid choice"),
    (["train", "--epochs", "three"], "--epochs"),
    (["train", "--no-such-flag"], "--no-such-flag"),
    (["evaluate", "--cell", "transformer"], "--cell"),
    (["recommend"], "--model"),
])
def test_bad_flags_one_line_exit_2(capsys, argv, needle):
    assert main(argv) == 2
    err = err_line(capsys)
    assert err.startswith("chronoscale") and "error" in err and needle in err


def test_bad_config_one_line_exit_2(capsys, tmp_path, log_csv):
    cases = {
        "unknown key": ("[model]\nepochz = 3\n", "model.epochz"),
        "unknown section": ("[modle]\nepochs = 3\n", "modle"),
        "wrong type": ("[model]\nepochs = 'three'\n", "model.epochs"),
        "not toml": ("[model\nepochs = 3\n", "not valid TOML"),
        "bad task": ("task = 'cluster'\n", "task"),
    }
    for name, (text, needle) in cases.items():
        p = tmp_path / f"{name.replace(' ', '_')}.toml"
        p.write_text(text)
        assert main(["train", "--config", str(p), "--data", str(log_csv)]) == 2, name
        err = err_line(capsys)
        assert needle in err, (name, err)
    assert main(["train", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "config file not found" in err_line(capsys)
    assert main(["train", "--set", "model.epochs"]) == 2
    assert "section.key=value" in err_line(capsys)


def test_bad_input_one_line_exit_2(capsys, tmp_path, log_csv):
    assert main(["train", "--data", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in err_line(capsys)
    assert main(["train"]) == 2
    assert "no data" in err_line(capsys)
    # too few periods for history + 3 horizons
    argv = _forecast_args(log_csv) + ["--history", "140", "--out", str(tmp_path)]
    assert main(["train", *argv]) == 2
    assert "history" in err_line(capsys)
    assert main(["forecast", "--model", str(tmp_path / "none.csm")]) == 2
    assert "no such model file" in err_line(capsys)


def test_config_precedence_and_print(capsys, tmp_path):
    p = tmp_path / "run.toml"
    p.write_text("seed = 5\n[model]\nepochs = 3\nunits = 8\ndim = 16\n"
                 "[forecast]\nperiod = '1d'\n")
    assert main(["train", "--config", str(p), "--set", "model.units=12", "--set",
                 "forecast.period=6h", "--epochs", "7", "--print-config"]) == 0
    cfg = cfgmod.tomllib.loads(capsys.readouterr().out)
    assert cfg["seed"] == 5 and cfg["model"]["dim"] == 16          # file
    assert cfg["model"]["units"] == 12                             # --set over the file
    assert cfg["forecast"]["period"] == "6h"                       # bare word -> string
    assert cfg["model"]["epochs"] == 7                             # flag over everything
    assert "learning_rate" not in cfg["model"]                      # None: left out


def test_config_module_checks_types():
    c = cfgmod.build(flags={"model.learning_rate": 1, "model.scales": ["1", "4"]})
    assert c["model"]["learning_rate"] == 1.0 and isinstance(c["model"]["learning_rate"], float)
    with pytest.raises(cfgmod.UsageError, match="model.epochs"):
        cfgmod.build(flags={"model.epochs": True})
    with pytest.raises(cfgmod.UsageError, match="plots"):
        cfgmod.build(flags={"plots": 1})
    assert cfgmod.tomllib.loads(cfgmod.to_toml(cfgmod.defaults()))["model"]["epochs"] == 10


# -------------------------------------------------------------------------------- forecasting
def test_forecast_train_forecast_evaluate(capsys, tmp_path, log_csv):
    out = tmp_path / "run"
    model = tmp_path / "m.csm"
    assert main(["train", *_forecast_args(log_csv), "--out", str(out), "-o", str(model)]) == 0
    assert model.stat().st_size > 0 and "saved" in capsys.readouterr().out

    preds = tmp_path / "pred.csv"
    assert main(["forecast", "--model", str(model), "-o", str(preds)]) == 0
    rows = list(csv.DictReader(open(preds)))
    assert len(rows) == 12 * 6 and {r["horizon"] for r in rows} == {str(h) for h in range(1, 7)}
    assert all(float(r["forecast"]) >= 0 for r in rows)
    assert "wrote 72 forecasts" in capsys.readouterr().out
    assert main(["forecast", "--model", str(model), "--series", "u3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("user,horizon") and len(lines) == 1 + 6
    assert all(line.startswith("u3,") for line in lines[1:])
    assert main(["forecast", "--model", str(model), "--series", "nobody"]) == 2
    assert "nobody" in err_line(capsys)
    assert main(["recommend", "--model", str(model)]) == 2
    assert "not a recommender" in err_line(capsys)

    # evaluate the saved model: its configuration is the default, no retraining, no plots
    assert main(["evaluate", "--model", str(model), "--out", str(out), "--no-plots"]) == 0
    rep = json.loads((out / "report.json").read_text())
    validate_report(rep)
    assert rep["task"] == "forecast" and rep["plots"] == []
    assert {"multiscale", "seasonal-naive(24)", "naive"} <= set(rep["results"])
    assert rep["results"]["multiscale"]["protocol"] == "forecast"
    assert rep["split"]["scaling"]["fitted_on"] == "training periods only"
    assert "train" not in rep["timings_s"]
    table = capsys.readouterr().out
    assert "multiscale *" in table and "MAE" in table


def test_evaluate_trains_and_writes_report_and_plots(capsys, tmp_path, log_csv):
    out = tmp_path / "ev"
    assert main(["evaluate", *_forecast_args(log_csv), "--out", str(out)]) == 0
    rep = json.loads((out / "report.json").read_text())
    validate_report(rep)
    assert rep["versions"]["build_info"]["version"] == rep["versions"]["chronoscale"]
    assert rep["dataset"]["version"].startswith("sha256:")
    assert rep["training"]["scales"] == ["1h", "6h"]
    assert len(rep["training"]["history"]["loss"]) == 1
    assert set(rep["plots"]) == {"training_curves.png", "forecast_vs_truth.png",
                                 "scale_weights.png", "scale_contributions.png"}
    for name in rep["plots"]:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_demo_fast(capsys, tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--epochs", "1", "--out", str(out), "-q", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "Open Bandit" in text and "OTTO" in text and "seasonal-naive(24)" in text
    assert "most-popular" in text and "Done in" in text
    for part in ("forecast", "recommend"):
        rep = json.loads((out / part / "report.json").read_text())
        validate_report(rep)
        assert rep["command"] == "demo" and rep["task"] == part
    assert (out / "forecast" / "forecast_vs_truth.png").stat().st_size > 5000
    rec = json.loads((out / "recommend" / "report.json").read_text())
    assert {"hit_rate_curves.png", "by_history_length.png"} <= set(rec["plots"])
    assert (out / "recommend" / "hit_rate_curves.png").read_bytes()[:4] == b"\x89PNG"
    curve = rec["results"]["most-popular"]["hit_curve"]
    assert curve["k"][0] == 1 and curve["k"][-1] == rec["results"]["most-popular"]["num_items"]


# ----------------------------------------------------------------------------- recommendation
@needs_recommender
def test_recommend_train_evaluate_recommend(capsys, tmp_path, log_csv):
    model = tmp_path / "rec.csm"
    args = ["--data", str(log_csv), "--format", "table", "--task", "recommend",
            "--scales", "1", "4", "--dim", "8", "--max-len", "20", *FAST]
    assert main(["train", *args, "-o", str(model), "--out", str(tmp_path)]) == 0
    assert main(["recommend", "--model", str(model), "--users", "u1", "u2", "-k", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len([ln for ln in lines if ln.split()[0] in ("u1", "u2")]) == 6
    assert main(["recommend", "--model", str(model), "--users", "zz"]) == 2
    assert "zz" in err_line(capsys)
    assert main(["forecast", "--model", str(model)]) == 2
    assert "not a forecaster" in err_line(capsys)
    out = tmp_path / "ev"
    assert main(["evaluate", "--model", str(model), "--out", str(out), "--no-plots"]) == 0
    rep = json.loads((out / "report.json").read_text())
    validate_report(rep)
    assert rep["split"]["protocol"] == "leave-one-out"
    assert {"multiscale", "most-popular", "last-item"} == set(rep["results"])
    r = rep["results"]["multiscale"]
    assert r["protocol"] == "full-ranking" and r["k"] == [10, 20]
    assert r["exclusion"].startswith("history items removed")


@needs_recommender
def test_recommend_leaves_out_the_whole_log_not_only_max_len(capsys, tmp_path, rng):
    """Items a user saw before the max_len most recent events are left out too."""
    rows, t0 = [], 1_700_000_000
    for u in range(6):
        items = rng.permutation(60)[:40]  # 40 distinct items of 60; max_len 10 scores 10
        rows += [(f"u{u}", int(i), t0 + 60 * j, 1.0) for j, i in enumerate(items)]
    path = tmp_path / "log.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([("user_id", "item_id", "timestamp", "rating"), *rows])
    model = tmp_path / "rec.csm"
    assert main(["train", "--data", str(path), "--format", "table", "--task", "recommend",
                 "--scales", "1", "--dim", "8", "--max-len", "10", *FAST, "-o", str(model),
                 "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    seen = {}
    for u, i, *_ in rows:
        seen.setdefault(u, set()).add(str(i))
    for flag, want_seen in (([], False), (["--include-seen"], True)):
        assert main(["recommend", "--model", str(model), "--users", *seen, "-k", "20",
                     *flag]) == 0
        got = [ln.split() for ln in capsys.readouterr().out.strip().splitlines()[1:]]
        assert len(got) == 6 * 20
        hits = [(u, item) for u, _, item, score in got if item in seen[u]]
        if want_seen:
            assert hits  # 40 of 60 items seen: some of the top 20 are
        else:
            assert not hits
            assert all(np.isfinite(float(score)) for *_, score in got)


@needs_recommender
def test_evaluate_without_queries_still_reports(capsys, tmp_path, log_csv):
    """No test query survives the split: the report is written (metrics null), no ranking plot
    is drawn, the command succeeds."""
    model = tmp_path / "rec.csm"
    assert main(["train", "--data", str(log_csv), "--format", "table", "--task", "recommend",
                 "--scales", "1", "--dim", "8", *FAST, "-o", str(model),
                 "--out", str(tmp_path / "run")]) == 0
    out = tmp_path / "ev"
    assert main(["evaluate", "--model", str(model), "--out", str(out), "--protocol", "temporal",
                 "--set", "split.min_history=100000"]) == 0
    rep = json.loads((out / "report.json").read_text())
    validate_report(rep)
    assert rep["results"]["multiscale"]["num_queries"] == 0
    assert not {"hit_rate_curves.png", "by_history_length.png"} & set(rep["plots"])


@needs_recommender
def test_recommend_from_another_folder_names_the_data(capsys, tmp_path, log_csv, monkeypatch):
    """train saves --data as given; from elsewhere a relative path is not found: the error
    says so and asks for --data."""
    monkeypatch.chdir(log_csv.parent)
    model = tmp_path / "rec.csm"
    assert main(["train", "--data", log_csv.name, "--format", "table", "--task", "recommend",
                 "--scales", "1", "--dim", "8", *FAST, "-o", str(model),
                 "--out", str(tmp_path / "run")]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["recommend", "--model", str(model), "--users", "u1"]) == 2
    err = err_line(capsys)
    assert f"training data {log_csv.name}" in err and "give --data PATH" in err
    assert main(["recommend", "--model", str(model), "--users", "u1", "--data", str(log_csv),
                 "--format", "table"]) == 0


# --------------------------------------------------------------------------------- bench, info
def test_info_prints_build_json(capsys):
    assert main(["info"]) == 0
    assert "version" in json.loads(capsys.readouterr().out)


def test_bench_lists_or_says_why(capsys, monkeypatch):
    from chronoscale.cli import commands

    if commands.bench_dir() is not None:
        assert main(["bench"]) == 0
        assert "benchmark scripts" in capsys.readouterr().out
        assert main(["bench", "no_such_bench"]) == 2
        assert "no_such_bench" in err_line(capsys)
    monkeypatch.setattr(commands, "bench_dir", lambda: None)
    assert main(["bench", "accuracy"]) == 2
    assert "source checkout" in err_line(capsys)


@needs_recommender
def test_cli_ranking_reports_are_evaluate_recommender(rng):
    """The CLI's full-ranking reports are metrics.evaluate_recommender's for the same model and
    targets (the Python API's numbers), queries without an earlier event left out."""
    from chronoscale.baselines import MostPopular
    from chronoscale.cli import config, ranking
    from chronoscale.data import from_columns, leave_one_out
    from chronoscale.metrics import evaluate_full, evaluate_recommender

    n = 300
    user = np.sort(rng.integers(0, 30, n))
    log = from_columns(user, rng.integers(0, 25, n), np.arange(n) * 3600)
    sp = leave_one_out(log)
    cfg = config.build(base={"model": {"max_len": 8}, "eval": {"k": [5, 10]}})
    model = recommender_class()(num_items=log.num_items, dim=8, units=8, scales=["1", "3"],
                                max_len=8, random_state=0)
    model.fit(sp.train, epochs=1, verbose=0)
    models = {"ms": model, "pop": MostPopular().fit(sp.train)}
    got = ranking.evaluate(models, sp.test, cfg, sp.label(), verbose=0)
    keep = sp.test.take(np.flatnonzero(sp.test.history_lengths > 0))
    for name, m in models.items():
        want = evaluate_recommender(m, keep, k=[5, 10], max_len=8, progress=False)
        assert got[name]["metrics"] == want["metrics"], name
        assert got[name]["split"]["targets"] == "test" and got[name]["model"] == name
    # and the numbers of scoring every item directly (the path the CLI had before the fold:
    # the model's scores of the histories, history items excluded, full ranking)
    b = keep.histories(8)
    direct = evaluate_full(model.score(b.items, lengths=b.lengths, batch_size=512), keep.items,
                           [5, 10], exclude=keep.seen_items())
    for key, value in direct["metrics"].items():
        assert got["ms"]["metrics"][key] == pytest.approx(value, rel=1e-6, abs=1e-9), key


@needs_recommender
def test_model_hyper_parameters_reach_the_model(capsys, tmp_path, log_csv):
    """[model] count_feature, weight_decay, clipnorm and dropout (--set or TOML) are passed to
    the estimator; weight_decay and dropout are refused for the forecaster, which has none."""
    import chronoscale

    model = tmp_path / "rec.csm"
    args = ["--data", str(log_csv), "--format", "table", "--task", "recommend", "--scales", "1",
            "4", "--dim", "8", "--max-len", "20", *FAST, "--set", "model.weight_decay=0.001",
            "--set", "model.count_feature=false", "--set", "model.clipnorm=2",
            "--set", "model.dropout=0.25"]
    assert main(["train", *args, "-o", str(model), "--out", str(tmp_path)]) == 0
    m = chronoscale.load(model)
    assert (m.weight_decay, m.count_feature, m.clipnorm, m.dropout) == (0.001, False, 2.0, 0.25)
    f = tmp_path / "f.csm"
    assert main(["train", *_forecast_args(log_csv), "--set", "model.count_feature=false",
                 "-o", str(f), "--out", str(tmp_path / "f")]) == 0
    assert chronoscale.load(f).count_feature is False
    capsys.readouterr()
    assert main(["train", *_forecast_args(log_csv), "--set", "model.weight_decay=0.1",
                 "--out", str(tmp_path / "g")]) == 2
    assert "weight_decay applies to the recommender" in err_line(capsys)
    assert main(["train", *_forecast_args(log_csv), "--set", "model.dropout=0.1",
                 "--out", str(tmp_path / "h")]) == 2
    assert "dropout applies to the recommender" in err_line(capsys)


@needs_recommender
def test_strided_count_scales_on_order_only_data(capsys, tmp_path, rng):
    """"16/4"-style count scales are count windows: accepted for data without timestamps
    (where wall-clock scales are refused), saved and served by `recommend`."""
    seq = tmp_path / "seq.txt"
    seq.write_text("".join(f"{u} " + " ".join(str(i) for i in rng.integers(1, 25, 15)) + "\n"
                           for u in range(10)))
    model = tmp_path / "m.csm"
    base = ["--data", str(seq), "--format", "sequence", "--task", "recommend", "--dim", "8",
            *FAST]
    assert main(["train", *base, "--scales", "1", "4/2", "-o", str(model),
                 "--out", str(tmp_path / "a")]) == 0
    import chronoscale

    assert chronoscale.load(model).scales == ["1", "4/2"]
    assert main(["recommend", "--model", str(model), "--data", str(seq), "--format", "sequence",
                 "--users", "3", "-k", "2"]) == 0
    capsys.readouterr()
    assert main(["train", *base, "--scales", "1", "1h", "--out", str(tmp_path / "b")]) != 0
    assert "no timestamps" in capsys.readouterr().err


@needs_recommender
def test_model_monitor_reaches_fit(capsys, tmp_path, log_csv):
    """[model] monitor picks what early stopping and the kept epoch follow; an unknown one is
    refused with the model's message."""
    import chronoscale

    model = tmp_path / "rec.csm"
    args = ["--data", str(log_csv), "--format", "table", "--task", "recommend", "--scales", "1",
            "--dim", "8", "--max-len", "20", *FAST, "--epochs", "3",
            "--set", "model.patience=3", "--set", "model.monitor=val_loss"]
    assert main(["train", *args, "-o", str(model), "--out", str(tmp_path)]) == 0
    h = chronoscale.load(model).history_
    assert len(h["val_loss"]) == 3 and h.best == min(h["val_loss"])
    capsys.readouterr()
    assert main(["train", *args, "--set", "model.monitor=val_mae",
                 "--out", str(tmp_path / "bad")]) != 0
    assert "monitor must be one of" in capsys.readouterr().err


# ------------------------------------------------------------- python -m, ranges, no-effect keys
def _subprocess_env() -> dict:
    """This process's environment with this chronoscale first on the path (as bench does)."""
    root = str(Path(chronoscale.__file__).resolve().parents[1])
    old = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + old if old else "")}


@pytest.mark.parametrize("module", ["chronoscale", "chronoscale.cli"])
def test_python_m_runs_the_cli(module):
    env = _subprocess_env()
    r = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "usage: chronoscale" in r.stdout and "evaluate" in r.stdout
    r = subprocess.run([sys.executable, "-m", module, "train", "--epochs", "0"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "--epochs" in r.stderr


@pytest.mark.parametrize("argv,needle", [
    (["train", "--batch-size", "0"], "--batch-size: must be an integer >= 1, got 0"),
    (["train", "--epochs", "-2"], "--epochs"),
    (["train", "--history", "0"], "--history"),
    (["train", "--seed", "-1"], "--seed: must be an integer >= 0, got -1"),
    (["train", "--threads", "-1"], "--threads"),
    (["train", "--lr", "0"], "--lr"),
    (["train", "--lr", "nan"], "--lr"),
    (["evaluate", "--max-test", "-3"], "--max-test: must be an integer >= 1, got -3"),
    (["evaluate", "--max-test", "0"], "--max-test"),
    (["demo", "--epochs", "0"], "--epochs"),
    (["demo", "--seed", "-1"], "--seed"),
    (["recommend", "--model", "m.csm", "-k", "0"], "-k"),
    (["train", "--max-test", "5"], "--max-test"),   # train evaluates nothing: no such flag
    (["train", "--no-plots"], "--no-plots"),         # train draws nothing
])
def test_flag_ranges_name_the_flag(capsys, argv, needle):
    assert main(argv) == 2
    err = err_line(capsys)
    assert needle in err, err


@pytest.mark.parametrize("assignment,needle", [
    ("model.batch_size=0", "model.batch_size must be >= 1, got 0"),
    ("model.epochs=0", "model.epochs"),
    ("forecast.season=0", "forecast.season"),
    ("forecast.max_train_windows=0", "forecast.max_train_windows"),
    ("split.max_test=0", "split.max_test"),
    ("eval.max_queries=0", "eval.max_queries"),
    ("eval.max_queries=-5", "eval.max_queries must be >= 1, got -5"),
    ("eval.k=[10, 0]", "eval.k"),
    ("seed=-1", "seed must be >= 0"),
    ("threads=-2", "threads"),
    ("data.k_core=-1", "data.k_core"),
    ("data.k_core=[1]", "data.k_core"),
    ("model.learning_rate=0", "model.learning_rate must be > 0"),
    ("model.learning_rate=nan", "model.learning_rate must be a finite number"),
    ("split.quantile=1.0", "split.quantile"),
    ("model.cell=''", "model.cell must not be empty"),
    ("model.scales=[]", "model.scales must not be an empty list"),
])
def test_config_ranges_name_the_key(capsys, assignment, needle):
    assert main(["train", "--set", assignment, "--print-config"]) == 2
    assert needle in err_line(capsys)


def test_zero_threads_means_all_cores(capsys, tmp_path):
    from chronoscale.cli import demo

    before = chronoscale.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        chronoscale.set_num_threads(1)
        # threads are set before the data is read: the missing file fails after that
        assert main(["train", "--threads", "0", "--data", str(tmp_path / "none.csv")]) == 2
        assert chronoscale.get_num_threads() == cores
        chronoscale.set_num_threads(1)
        assert main(["train", "--set", "threads=0", "--data", str(tmp_path / "none.csv")]) == 2
        assert chronoscale.get_num_threads() == cores
    finally:
        chronoscale.set_num_threads(before)
    capsys.readouterr()
    # demo: an explicit --epochs is used as given, the default only when it is left out
    args = Namespace(seed=0, out=str(tmp_path), no_plots=True, scales=None, epochs=None)
    assert demo.forecast_config(args)["model"]["epochs"] == 12
    assert demo.recommend_config(args)["model"]["epochs"] == 20
    args.epochs = 1
    assert demo.forecast_config(args)["model"]["epochs"] == 1
    assert demo.recommend_config(args)["model"]["epochs"] == 1


def test_evaluate_saved_model_refuses_conflicting_settings(capsys, tmp_path, log_csv):
    model = tmp_path / "fc.csm"
    assert main(["train", *_forecast_args(log_csv), "-o", str(model),
                 "--out", str(tmp_path / "t")]) == 0
    out = tmp_path / "ev"
    base = ["evaluate", "--model", str(model), "--out", str(out), "--no-plots", "-q"]
    capsys.readouterr()
    for extra, needles in [
        (["--history", "5", "--horizon", "2"], ["--history", "5", "saved model's history=24"]),
        (["--task", "recommend"], ["--task (task)=recommend conflicts", "forecast"]),
        (["--set", "forecast.stride=2"], ["forecast.stride", "saved model's stride=1"]),
        (["--epochs", "3"], ["--epochs", "no effect with --model"]),
        (["--set", "forecast.season=30"], ["forecast.season=30 exceeds forecast.history=24"]),
    ]:
        assert main([*base, *extra]) == 2, extra
        err = err_line(capsys)
        assert all(n in err for n in needles), (extra, err)
    assert not (out / "report.json").exists()
    # agreeing with the saved model is fine; the report records what was used
    assert main([*base, "--history", "24", "--task", "forecast"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["config"]["task"] == "forecast"
    assert (rep["config"]["forecast"]["history"], rep["config"]["forecast"]["horizon"]) == (24, 6)
    assert (rep["split"]["history"], rep["split"]["horizon"]) == (24, 6)


def test_settings_without_effect_are_refused(capsys, tmp_path, log_csv):
    rec = ["train", "--data", str(log_csv), "--format", "table", "--task", "recommend",
           "--out", str(tmp_path), *FAST]
    for extra, needles in [
        (["--set", "split.targets=all"], ["split.targets", "'leave-one-out'", "temporal"]),
        (["--set", "split.min_history=2"], ["split.min_history", "'leave-one-out'"]),
        (["--protocol", "temporal", "--set", "split.short_users=drop"],
         ["split.short_users", "'temporal'"]),
        (["--protocol", "temporal", "--test-data", str(log_csv)], ["--test-data", "session"]),
        (["--history", "5"], ["--history", "forecast task only"]),
        (["--set", "model.num_negatives=8"], ["model.num_negatives", "'sampled'"]),
    ]:
        assert main([*rec, *extra]) == 2, extra
        err = err_line(capsys)
        assert all(n in err for n in needles), (extra, err)
    fc = ["evaluate", *_forecast_args(log_csv), "--out", str(tmp_path)]
    for extra, key in [(["--max-test", "5"], "--max-test"), (["--protocol", "temporal"],
                       "--protocol"), (["--set", "eval.k=5"], "eval.k"),
                       (["--dim", "8"], "--dim")]:
        assert main([*fc, *extra]) == 2, extra
        err = err_line(capsys)
        assert key in err and "no effect for the forecast task" in err, err


def test_bad_paths_and_empty_data_say_what(capsys, tmp_path, log_csv):
    data = ["--data", str(log_csv), "--format", "table", "--out", str(tmp_path / "o"), *FAST]
    assert main(["train", *data, "-o", "."]) == 2
    assert "-o/--output . is a directory" in err_line(capsys)
    assert main(["train", *data, "-o", str(tmp_path)]) == 2
    assert "is a directory" in err_line(capsys)
    assert main(["evaluate", *data[:4], "--out", str(log_csv)]) == 2
    assert "--out" in err_line(capsys)
    binary = tmp_path / "run.toml"
    binary.write_bytes(bytes(range(256)))
    assert main(["train", "--config", str(binary)]) == 2
    err = err_line(capsys)
    assert str(binary) in err and "not UTF-8" in err
    empty = tmp_path / "empty.csv"
    empty.write_text("user_id,item_id,timestamp,rating\n")
    assert main(["train", "--data", str(empty), "--format", "table", "-q"]) == 2
    err = err_line(capsys)
    assert f"no events in {empty}" in err and "no data rows" in err
    assert main(["train", *data, "--set", "data.k_core=1000"]) == 2
    err = err_line(capsys)
    assert "after k-core filtering with data.k_core=1000" in err and str(log_csv) in err


def test_forecast_windows_sampled_before_built_and_capped(monkeypatch):
    """train_windows draws its max_train_windows sample before building any window (the same
    windows as building all and sampling), and a window set above MAX_WINDOW_VALUES is refused
    before allocating, naming the settings that shrink it."""
    from chronoscale.cli import forecasting as fc

    rng = np.random.default_rng(3)
    series = rng.random((7, 60))
    starts = np.arange(60, dtype=np.int64) * 3600
    task = fc.SeriesTask(period="1h", history=5, horizon=2, max_train_windows=40, seed=4)
    origins = np.arange(5, 50, 2)
    got = task.train_windows(series, starts, origins)
    every = task.windows(series, starts, origins)
    keep = np.sort(np.random.default_rng(4).choice(len(every[0]), 40, replace=False))
    for a, b in zip(got, every, strict=True):
        np.testing.assert_array_equal(a, b[keep])
    monkeypatch.setattr(fc, "MAX_WINDOW_VALUES", 40 * 5 * 5)  # 40 windows x 5 steps x 5 inputs
    assert len(task.train_windows(series, starts, origins)[0]) == 40
    with pytest.raises(ValueError, match=r"161 windows .* forecast fewer series at once"):
        task.windows(series, starts, origins)
    task.max_train_windows = None
    with pytest.raises(ValueError, match=r"161 windows .* forecast\.max_train_windows"):
        task.train_windows(series, starts, origins)

