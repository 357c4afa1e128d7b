"""PNG plots: each writes a non-empty PNG (Agg backend) and rejects inconsistent input."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from chronoscale import plot

PNG = b"\x89PNG\r\n\x1a\n"


def _png(path):
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 3000
    return data


def test_training_curves(tmp_path):
    h = {"epoch": [1, 2, 3], "loss": [1.0, 0.7, 0.6], "val_loss": [1.1, 0.9, 0.95],
         "val_ndcg@10": [0.1, 0.15, 0.16]}
    _png(plot.training_curves(h, tmp_path / "c.png", "t"))
    _png(plot.training_curves({"loss": [3.0, 2.0]}, tmp_path / "d.png"))
    with pytest.raises(ValueError, match="history"):
        plot.training_curves({"seqs_per_s": [1.0]}, tmp_path / "e.png")


def test_forecast_vs_truth(tmp_path, rng):
    P, H = 30, 5
    times = 1_700_000_000 + 3600 * np.arange(P)
    truth = rng.random((3, P))
    f = {"model": rng.random((3, H)), "naive": rng.random((3, H))}
    _png(plot.forecast_vs_truth(times, truth, f, P - H, tmp_path / "f.png", ["a", "b", "c"]))


def test_scale_weights(tmp_path, rng):
    a = rng.random((3, 4))
    a /= a.sum(0)
    _png(plot.scale_weights(a, ["1h", "6h", "1d"], tmp_path / "a.png"))
    _png(plot.scale_weights([0.2, 0.8], ["1", "4"], tmp_path / "b.png"))
    with pytest.raises(ValueError, match="scales"):
        plot.scale_weights(a, ["1h"], tmp_path / "c.png")


def test_contributions(tmp_path, rng):
    c = rng.standard_normal((4, 3, 6))
    _png(plot.contributions(c, ["1", "4", "16"], tmp_path / "c.png", list("abcd"),
                            truth=rng.standard_normal((4, 6))))
    _png(plot.contributions(rng.standard_normal((5, 2)), ["1", "1d"], tmp_path / "d.png",
                            [f"user {i}" for i in range(5)]))
    with pytest.raises(ValueError, match="scales"):
        plot.contributions(c, ["1"], tmp_path / "e.png")


def test_hit_curves(tmp_path, rng):
    from chronoscale import metrics

    scores, targets = rng.random((50, 30)), rng.integers(0, 30, 50)
    rep = metrics.evaluate_full(scores, targets, 10)
    sampled = {"metrics": {"HR@10": 0.5}}  # (no hit_curve: left out)
    _png(plot.hit_curves({"model": rep, "pop": rep, "sampled": sampled}, tmp_path / "h.png",
                         primary="model"))
    with pytest.raises(ValueError, match="no method in results has a hit_curve"):
        plot.hit_curves({"sampled": sampled}, tmp_path / "i.png")
    with pytest.raises(ValueError, match="2 k for 1 HR"):
        plot.hit_curves({"m": {"hit_curve": {"k": [1, 2], "HR": [0.5]}}}, tmp_path / "j.png")
    with pytest.raises(TypeError, match="results must be a dict"):
        plot.hit_curves([rep], tmp_path / "k.png")


def test_by_history_length(tmp_path, rng):
    from chronoscale import metrics

    scores, targets = rng.random((60, 30)), rng.integers(0, 30, 60)
    lengths = rng.integers(0, 80, 60)
    rep = metrics.evaluate_full(scores, targets, 10, history_lengths=lengths)
    _png(plot.by_history_length({"model": rep, "pop": rep}, tmp_path / "b.png"))
    with pytest.raises(ValueError, match="no method in results has by_history_length"):
        plot.by_history_length({"model": rep}, tmp_path / "c.png", "NDCG@5")
    other = metrics.evaluate_full(scores, targets, 10, history_lengths=lengths // 40)
    with pytest.raises(ValueError, match="other history-length bins"):
        plot.by_history_length({"model": rep, "x": other}, tmp_path / "d.png")
    short = {**rep["by_history_length"], "queries": [1]}
    with pytest.raises(ValueError, match=r"bins, 1 query counts"):
        plot.by_history_length({"m": {"by_history_length": short}}, tmp_path / "e.png")
    with pytest.raises(TypeError, match="must be a dict with 'bins'"):
        plot.by_history_length({"m": {"by_history_length": [1]}}, tmp_path / "f.png")
    none = metrics.evaluate_full(scores[:0], targets[:0], 10, history_lengths=lengths[:0])
    with pytest.raises(ValueError, match="over at least one query"):
        plot.by_history_length({"m": none}, tmp_path / "g.png")
    with pytest.raises(ValueError, match="hit_curve with values"):
        plot.hit_curves({"m": none}, tmp_path / "h.png")
    with pytest.raises(TypeError, match="must be a dict with 'k' and 'HR'"):
        plot.hit_curves({"m": {"hit_curve": [1, 2]}}, tmp_path / "i.png")


def test_path_actually_written_is_returned(tmp_path):
    h = {"loss": [1.0, 0.5]}
    out = plot.training_curves(h, tmp_path / "curves")  # no suffix: .png is added
    assert out == tmp_path / "curves.png" and out.is_file()
    assert not (tmp_path / "curves").exists()
    out = plot.training_curves(h, str(tmp_path / "sub" / "c.PNG"))
    assert out == tmp_path / "sub" / "c.PNG" and _png(out)
    with pytest.raises(ValueError, match="is a directory"):
        plot.training_curves(h, tmp_path / "sub")
    with pytest.raises(ValueError, match=r"\.png file"):
        plot.training_curves(h, tmp_path / "c.jpg")
    with pytest.raises(TypeError, match="path must be a str"):
        plot.training_curves(h, 3)


@pytest.mark.parametrize("history,err,match", [
    (None, TypeError, "history must be a dict"),
    ([1.0, 2.0], TypeError, "history must be a dict"),
    ({"loss": "abc"}, TypeError, r"history\['loss'\] must hold numbers"),
    ({"loss": [[1.0, 2.0]]}, ValueError, r"history\['loss'\] must be 1-D"),
    ({"loss": [1.0, 2.0], "val_loss": [1.0]}, ValueError, r"val_loss'\] has 1 values for 2"),
    ({"epoch": [1, 2, 3], "loss": [1.0, 2.0]}, ValueError, "has 2 values for 3 epochs"),
    ({"loss": []}, ValueError, "no loss or validation metric"),
])
def test_training_curves_bad_history(tmp_path, history, err, match):
    with pytest.raises(err, match=match):
        plot.training_curves(history, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_training_curves_from_a_json_report(tmp_path):
    h = {"loss": [1.0, None, 0.5], "val_hr@10": [0.1, 0.2, None]}  # NaN written as null
    _png(plot.training_curves(h, tmp_path / "j.png"))


def test_forecast_vs_truth_caps_the_panels(tmp_path, rng, monkeypatch):
    P, H, N = 12, 3, 400
    times = 1_700_000_000 + 3600 * np.arange(P)
    truth, f = rng.random((N, P)), {"m": rng.random((N, H))}
    out = plot.forecast_vs_truth(times, truth, f, P - H, tmp_path / "f.png", max_series=2)
    assert _png(out)  # 2 panels drawn (fast)
    seen = {}
    save = plot._save

    def spy(fig, path):
        seen["title"] = fig._suptitle.get_text()
        seen["panels"] = sum(ax.axison for ax in fig.axes)
        return save(fig, path)

    monkeypatch.setattr(plot, "_save", spy)
    plot.forecast_vs_truth(times, truth[:5], {"m": f["m"][:5]}, P - H, tmp_path / "g.png",
                           max_series=3)
    assert seen == {"title": "Forecast vs truth (the first 3 of 5 series)", "panels": 3}
    default = inspect.signature(plot.forecast_vs_truth).parameters["max_series"].default
    assert default == plot.DEFAULT_SERIES == 16
    with pytest.raises(ValueError, match="max_series must be <= MAX_SERIES=64"):
        plot.forecast_vs_truth(times, truth, f, P - H, tmp_path / "g.png", max_series=400)
    with pytest.raises(TypeError, match="max_series must be an integer"):
        plot.forecast_vs_truth(times, truth, f, P - H, tmp_path / "g.png", max_series=2.0)


@pytest.mark.parametrize("change,err,match", [
    ({"truth": np.zeros((0, 8))}, ValueError, "truth is empty"),
    ({"truth": np.zeros(8)}, ValueError, "truth must be 2-D"),
    ({"times": np.arange(7)}, ValueError, r"times must be \[P\] with P = 8"),
    ({"times": np.arange(8.0)}, TypeError, "times must hold integers"),
    ({"origin": 8}, ValueError, r"origin must be in \[0, 8\)"),
    ({"origin": 2.0}, TypeError, "origin must be an integer"),
    ({"forecasts": {"m": np.zeros((2, 3))}}, ValueError, r"forecasts\['m'\] must be \[N, H\]"),
    ({"forecasts": {"m": np.zeros((3, 9))}}, ValueError, r"forecasts\['m'\] must be \[N, H\]"),
    ({"forecasts": {"m": np.zeros(3)}}, ValueError, r"forecasts\['m'\] must be 2-D"),
    ({"forecasts": [np.zeros((3, 2))]}, TypeError, "forecasts must be a dict"),
    ({"labels": ["a"]}, ValueError, "labels has 1 names, truth has 3 series"),
    ({"labels": "abc"}, TypeError, "labels must be a list of names"),
])
def test_forecast_vs_truth_bad_input(tmp_path, change, err, match):
    args = {"times": np.arange(8), "truth": np.zeros((3, 8)),
            "forecasts": {"m": np.zeros((3, 2))}, "origin": 6, "labels": None}
    args.update(change)
    with pytest.raises(err, match=match):
        plot.forecast_vs_truth(args["times"], args["truth"], args["forecasts"], args["origin"],
                               tmp_path / "f.png", args["labels"])


@pytest.mark.parametrize("alpha,scales,kw,err,match", [
    ([], [], {}, ValueError, "alpha is empty"),
    (np.zeros((2, 0)), ["a", "b"], {}, ValueError, "alpha is empty"),
    (np.zeros((2, 2, 2)), ["a", "b"], {}, ValueError, "alpha must be 1-D or 2-D"),
    ([0.5, np.nan], ["a", "b"], {}, ValueError, "alpha must be finite"),
    ([0.5, 0.5], "ab", {}, TypeError, "scales must be a list of names"),
    (["a", "b"], ["a", "b"], {}, TypeError, "alpha must hold numbers"),
    (np.full((2, 3), 0.5), ["a", "b"], {"horizon_labels": ["h1"]}, ValueError,
     "horizon_labels has 1 names"),
])
def test_scale_weights_bad_input(tmp_path, alpha, scales, kw, err, match):
    with pytest.raises(err, match=match):
        plot.scale_weights(alpha, scales, tmp_path / "a.png", **kw)


@pytest.mark.parametrize("contrib,kw,err,match", [
    (np.zeros((0, 2, 3)), {}, ValueError, "contrib is empty"),
    (np.zeros((2, 0)), {}, ValueError, "contrib is empty"),
    (np.zeros(4), {}, ValueError, "contrib must be 2-D or 3-D"),
    (np.full((2, 2, 3), np.nan), {}, ValueError, "contrib contains NaN or inf"),
    (np.zeros((2, 2, 3)), {"labels": ["a"]}, ValueError, "labels has 1 names"),
    (np.zeros((2, 2, 3)), {"truth": np.zeros((2, 4))}, ValueError, r"truth must have shape"),
    (np.zeros((5, 2)), {"truth": np.zeros((1, 5))}, ValueError, r"truth must have shape \[5\]"),
    (np.zeros((2, 2, 3)), {"truth": [["a"] * 3] * 2}, TypeError, "truth must hold numbers"),
])
def test_contributions_bad_input(tmp_path, contrib, kw, err, match):
    with pytest.raises(err, match=match):
        plot.contributions(contrib, ["1", "2"], tmp_path / "c.png", **kw)


def test_contributions_caps_the_rows(tmp_path, rng):
    c = rng.standard_normal((100, 2, 3))
    _png(plot.contributions(c, ["1", "2"], tmp_path / "c.png", [f"u{i}" for i in range(100)],
                            truth=rng.standard_normal((100, 3)), max_series=2))
