"""A fit that is refused leaves a fitted forecaster as it was, whichever check refuses it: the
model's own (shapes, NaN), nn.fit's (sample_weight, metrics, monitor, mode, shuffle, checkpoint
paths), or the optimiser settings' (epsilon, betas; checked up front with the other
hyper-parameters, also with warm_start=True, whose fitted optimiser would not read them again)
-- also with warm_start=False, where fit rebuilds the network before nn.fit runs its checks."""

from __future__ import annotations

import numpy as np
import pytest

from chronoscale.models import MultiScaleForecaster, SeedForecaster

F = np.float32


def _models():
    return [SeedForecaster(filters=4, units=3, random_state=0),
            MultiScaleForecaster(scales=("1", "2"), units=4, random_state=0)]


REFUSALS = [
    ({"sample_weight": np.ones(5)}, {}, ValueError),
    ({"metrics": ["no-such-metric"]}, {}, ValueError),
    ({"monitor": "val_loss"}, {}, ValueError),  # no validation data
    ({"mode": "sideways"}, {}, ValueError),
    ({"shuffle": "yes"}, {}, TypeError),
    ({"resume": True}, {}, ValueError),  # without checkpoint_dir
    ({}, {"epsilon": -1.0}, ValueError),
    ({}, {"beta_1": 1.0}, ValueError),
]


@pytest.mark.parametrize("model_index", [0, 1])
@pytest.mark.parametrize("fit_kw,params,error", REFUSALS)
@pytest.mark.parametrize("warm_start", [False, True])
def test_refused_fit_keeps_the_fitted_model(rng, model_index, fit_kw, params, error, warm_start):
    X = rng.random((8, 10, 3)).astype(F)
    y = rng.random(8).astype(F)
    m = _models()[model_index].fit(X, y, epochs=2, batch_size=4, verbose=0)
    before = m.predict(X)
    state = {k: v.copy() for k, v in m.net.state_dict().items()}
    history, optimizer = m.history_, m.optimizer_
    if any(k not in m.get_params() for k in params):
        pytest.skip(f"{type(m).__name__} has no {sorted(params)}")
    m.set_params(warm_start=warm_start, **params)
    with pytest.raises(error):
        m.fit(X, y, epochs=1, batch_size=4, verbose=0, **fit_kw)
    assert m.history_ is history and m.optimizer_ is optimizer
    for k, v in m.net.state_dict().items():
        np.testing.assert_array_equal(v, state[k], err_msg=k)
    np.testing.assert_array_equal(m.predict(X), before)


def test_sample_weight_may_be_a_torch_tensor(rng):
    """A torch tensor as sample_weight trains like the same NumPy weights (it used to raise
    AttributeError from inside nn.fit)."""
    torch = pytest.importorskip("torch")
    X = rng.random((8, 10, 3)).astype(F)
    y = rng.random(8).astype(F)
    w = rng.random(8) + 0.5
    a = SeedForecaster(filters=4, units=3, random_state=0).fit(
        X, y, epochs=1, batch_size=4, verbose=0, sample_weight=w)
    b = SeedForecaster(filters=4, units=3, random_state=0).fit(
        X, y, epochs=1, batch_size=4, verbose=0, sample_weight=torch.from_numpy(w))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
