"""Run reports: schema, strict JSON (NaN -> null), validation errors, the summary table."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import chronoscale
from chronoscale.metrics import evaluate_forecast, evaluate_full
from chronoscale.report import (
    REQUIRED,
    SCHEMA,
    Timings,
    make_report,
    summary_table,
    to_jsonable,
    validate_report,
    write_report,
)


def _report(rng):
    scores = rng.standard_normal((20, 9))
    targets = rng.integers(0, 9, 20)
    results = {"model": evaluate_full(scores, targets, (5, 10), dataset={"name": "toy",
                                                                         "version": "v1"}),
               "base": evaluate_full(rng.standard_normal((20, 9)), targets, (5, 10))}
    t = Timings()
    with t("train"):
        pass
    return make_report(command="evaluate", task="recommend", dataset={"name": "toy"},
                       split={"protocol": "leave-one-out"}, config={"seed": 0},
                       results=results, primary="model",
                       training={"history": {"loss": [1.0, float("nan")]},
                                 "scale_weights": np.array([0.25, 0.75], np.float32)},
                       timings=t.total(), plots=["a.png"])


def test_report_has_schema_and_versions(rng):
    rep = _report(rng)
    validate_report(rep)
    assert rep["schema"] == SCHEMA and set(REQUIRED) <= set(rep)
    assert rep["versions"]["chronoscale"] == chronoscale.__version__
    assert rep["versions"]["build_info"] == chronoscale.build_info()
    assert rep["timings_s"]["train"] >= 0 and rep["timings_s"]["total"] >= rep["timings_s"]["train"]
    r = rep["results"]["model"]
    assert r["protocol"] == "full-ranking" and r["k"] == [5, 10]
    assert r["dataset"]["name"] == "toy" and r["dataset"]["version"] == "v1"


def test_write_is_strict_json_with_nan_as_null(rng, tmp_path):
    rep = _report(rng)
    path = write_report(rep, tmp_path / "sub" / "report.json")
    text = path.read_text()
    assert "NaN" not in text
    back = json.loads(text)
    assert back["training"]["history"]["loss"] == [1.0, None]
    assert back["training"]["scale_weights"] == pytest.approx([0.25, 0.75])
    validate_report(back)


@pytest.mark.parametrize("mutate,needle", [
    (lambda r: r.pop("versions"), "versions"),
    (lambda r: r.update(results=[]), "results"),
    (lambda r: r.update(primary="nobody"), "primary"),
    (lambda r: r.update(schema="other/9"), "schema"),
    (lambda r: r["results"]["model"].pop("protocol"), "protocol"),
    (lambda r: r["versions"].pop("build_info"), "build_info"),
])
def test_validate_names_the_problem(rng, tmp_path, mutate, needle):
    rep = _report(rng)
    mutate(rep)
    with pytest.raises(ValueError, match=needle):
        validate_report(rep)
    with pytest.raises(ValueError, match=needle):
        write_report(rep, tmp_path / "r.json")
    with pytest.raises(ValueError, match="JSON object"):
        validate_report([])


def test_to_jsonable_converts_numpy_and_non_finite():
    out = to_jsonable({"a": np.float32(1.5), "b": np.arange(3), "c": (np.inf, -np.nan),
                       1: {"d": np.int64(4)}})
    assert out == {"a": 1.5, "b": [0, 1, 2], "c": [None, None], "1": {"d": 4}}
    assert json.dumps(out, allow_nan=False)
    assert not any(isinstance(v, float) and math.isnan(v) for v in out["c"] if v is not None)


def test_summary_table_rows_and_marks(rng):
    y = rng.random((5, 3))
    res = {"m": evaluate_forecast(y, y + 0.1), "b": evaluate_forecast(y, y * 0)}
    res["b"]["metrics"]["MAPE"] = None
    text = summary_table(res, ["MAE", "MAPE"], primary="m")
    lines = text.splitlines()
    assert lines[0].split() == ["method", "MAE", "MAPE"]
    assert lines[1].startswith("m *") and "0.1000" in lines[1]
    assert lines[2].split()[-1] == "-"
    assert summary_table({}) == ""


def _args(rng, **change):
    rep = _report(rng)
    args = {k: rep[k] for k in ("command", "task", "dataset", "split", "config", "results",
                                "primary", "training")}
    return {**args, **change}


def test_a_single_plot_or_metric_is_one_item(rng, tmp_path):
    rep = make_report(**_args(rng), plots="abc.png")
    assert rep["plots"] == ["abc.png"]
    assert make_report(**_args(rng), plots=tmp_path / "p.png")["plots"] == [str(tmp_path / "p.png")]
    y = rng.random((5, 3))
    res = {"m": evaluate_forecast(y, y + 0.1)}
    assert summary_table(res, "MAE") == summary_table(res, ["MAE"])
    assert summary_table(res, "MAE").splitlines()[0].split() == ["method", "MAE"]


@pytest.mark.parametrize("change,match", [
    ({"timings": [1, 2]}, "timings must be a dict"),
    ({"timings": {"train": "1s"}}, r"timings\['train'\] must be a number"),
    ({"plots": 5}, "plots must be a list"),
    ({"plots": [1]}, "plots must hold file names"),
    ({"results": [1]}, "results must be a dict"),
    ({"training": [1]}, "training must be a dict"),
    ({"primary": None}, "primary must be a str"),
    ({"dataset": "toy"}, "dataset must be a dict"),
])
def test_make_report_names_the_bad_argument(rng, change, match):
    with pytest.raises(TypeError, match=match):
        make_report(**_args(rng, **change))


def test_validate_non_dict_results_entry(rng):
    rep = _report(rng)
    rep["results"]["base"] = [1, 2]
    with pytest.raises(ValueError, match=r"results\['base'\] must be a metrics report"):
        validate_report(rep)
    rep["results"]["base"] = {"protocol": "x", "dataset": {}, "metrics": 3}
    with pytest.raises(ValueError, match=r"results\['base'\]\['metrics'\] must be an object"):
        validate_report(rep)


@pytest.mark.parametrize("results,metrics,err,match", [
    ({"m": {"protocol": "x"}}, None, ValueError, r"results\['m'\] must be a metrics report"),
    ({"m": [1]}, ["MAE"], ValueError, r"results\['m'\] must be a metrics report"),
    ([("m", {})], None, TypeError, "results must be a dict"),
    ({"m": {"metrics": {"MAE": 1.0}}}, [1], TypeError, "metrics must hold metric names"),
    ({"m": {"metrics": {"MAE": 1.0}}}, 5, TypeError, "metrics must be a list"),
])
def test_summary_table_bad_input(results, metrics, err, match):
    with pytest.raises(err, match=match):
        summary_table(results, metrics)
