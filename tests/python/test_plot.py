"""PNG plots: each writes a non-empty PNG (Agg backend) and rejects inconsistent input."""

from __future__ import annotations

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
