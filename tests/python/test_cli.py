"""The ``chronoscale`` command line on tiny data: every subcommand, --help, configuration
precedence, one-line errors with exit status 2, models saved and reloaded, reports and plots."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from chronoscale.cli import config as cfgmod
from chronoscale.cli import main
from chronoscale.cli.ranking import recommender_class
from chronoscale.report import validate_report

COMMANDS = ["demo", "train", "evaluate", "recommend", "forecast", "bench", "info"]
FAST = ["--units", "4", "--epochs", "1", "--batch-size", "64", "-q", "--threads", "1"]
needs_recommender = pytest.mark.skipif(recommender_class() is None,
                                       reason="MultiScaleRecommender not in this build")


def _err_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, f"expected one line on stderr, got:\n{err}"
    return err


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
    err = _err_line(capsys)
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
        err = _err_line(capsys)
        assert needle in err, (name, err)
    assert main(["train", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "config file not found" in _err_line(capsys)
    assert main(["train", "--set", "model.epochs"]) == 2
    assert "section.key=value" in _err_line(capsys)


def test_bad_input_one_line_exit_2(capsys, tmp_path, log_csv):
    assert main(["train", "--data", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in _err_line(capsys)
    assert main(["train"]) == 2
    assert "no data" in _err_line(capsys)
    # too few periods for history + 3 horizons
    argv = _forecast_args(log_csv) + ["--history", "140", "--out", str(tmp_path)]
    assert main(["train", *argv]) == 2
    assert "history" in _err_line(capsys)
    assert main(["forecast", "--model", str(tmp_path / "none.csm")]) == 2
    assert "no such model file" in _err_line(capsys)


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
    assert "nobody" in _err_line(capsys)
    assert main(["recommend", "--model", str(model)]) == 2
    assert "not a recommender" in _err_line(capsys)

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
    assert "zz" in _err_line(capsys)
    assert main(["forecast", "--model", str(model)]) == 2
    assert "not a forecaster" in _err_line(capsys)
    out = tmp_path / "ev"
    assert main(["evaluate", "--model", str(model), "--out", str(out), "--no-plots"]) == 0
    rep = json.loads((out / "report.json").read_text())
    validate_report(rep)
    assert rep["split"]["protocol"] == "leave-one-out"
    assert {"multiscale", "most-popular", "last-item"} == set(rep["results"])
    r = rep["results"]["multiscale"]
    assert r["protocol"] == "full-ranking" and r["k"] == [10, 20]
    assert r["exclusion"].startswith("history items removed")


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
        assert "no_such_bench" in _err_line(capsys)
    monkeypatch.setattr(commands, "bench_dir", lambda: None)
    assert main(["bench", "accuracy"]) == 2
    assert "source checkout" in _err_line(capsys)


@needs_recommender
def test_full_ranking_scores_match_recommend(rng):
    from chronoscale.cli import ranking

    V, B, T = 40, 6, 7
    items = rng.integers(0, V, (B, T))
    lengths = rng.integers(1, T + 1, B)
    model = recommender_class()(num_items=V, dim=8, units=8, scales=["1", "3"], max_len=T,
                                random_state=0)
    model.fit({"items": items, "lengths": np.maximum(lengths, 2)}, epochs=1, verbose=0)
    hist = {"items": items, "lengths": lengths}
    scores = ranking.model_scorer(model, hist, V)(np.arange(B))
    ids, top = model.recommend(hist, k=5, exclude_seen=False)
    np.testing.assert_allclose(np.take_along_axis(scores, ids, 1), top, rtol=1e-5, atol=1e-6)
    assert (np.sort(scores, 1)[:, ::-1][:, :5] == np.take_along_axis(scores, ids, 1)).all()


@needs_recommender
def test_score_contributions_add_up(rng):
    from chronoscale.cli import ranking

    V, B, T = 30, 5, 6
    items = rng.integers(0, V, (B, T))
    ts = np.cumsum(rng.integers(1, 5000, (B, T)), axis=1)
    model = recommender_class()(num_items=V, dim=6, units=[4, 3], scales=["1", "1h"],
                                max_len=T, random_state=0)
    hist = {"items": items, "lengths": rng.integers(1, T + 1, B), "timestamps": ts}
    model.fit(hist, epochs=1, verbose=0)
    target = rng.integers(0, V, B)
    c, names = ranking.score_contributions(model, hist, target)
    assert c.shape == (B, 4) and names[:2] == ["scale 1", "scale 1h"]
    np.testing.assert_allclose(c.sum(1), model.score(hist, target[:, None])[:, 0], rtol=1e-4,
                               atol=1e-5)


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
    assert "weight_decay applies to the recommender" in _err_line(capsys)
    assert main(["train", *_forecast_args(log_csv), "--set", "model.dropout=0.1",
                 "--out", str(tmp_path / "h")]) == 2
    assert "dropout applies to the recommender" in _err_line(capsys)


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
