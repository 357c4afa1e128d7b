"""``MultiScaleForecaster``: one recurrent cell per time scale, a head per scale, softmax fusion."""

from __future__ import annotations

import numpy as np

from .. import io, nn
from ..nn import device as _device
from ..nn import metrics
from ..nn.training import unpack_validation
from ..ops._common import as_lengths
from ._base import (
    BaseModel,
    as_sequences,
    check_hyper,
    check_int,
    check_seed,
    check_target_values,
    check_units,
    fit_options,
    kept_on_error,
    warn_long_spans,
)

_TASKS = {"regression": (None, "mse"), "probability": ("sigmoid", "mse")}
_LOSSES = ("mse", "mae", "huber")


class _ForecastNet(nn.Layer):
    """MultiScale (state after each sequence's last window, per scale) -> Dense head per scale
    -> ScaleFusion. ``forward(x, training, lengths=None, timestamps=None)`` -> ``[B, K]``."""

    uses_timestamps = True

    def __init__(self, scales, units, cell, pool, count_feature, n_outputs, head_activation):
        super().__init__()
        self.ms = self.add_child("ms", nn.MultiScale(scales, units, cell=cell, pool=pool,
                                                     count_feature=count_feature,
                                                     output="last", merge=None))
        self.heads = [self.add_child(f"head{s}", nn.Dense(n_outputs, activation=head_activation))
                      for s in range(len(self.ms.units))]
        self.fusion = self.add_child("fusion", nn.ScaleFusion())
        self.n_outputs = n_outputs

    def build(self, in_features, rng=None, dtype=None):
        rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        if dtype is not None:
            self.dtype = np.dtype(dtype)
        self.ms.build(in_features, rng, self.dtype)
        for head, h in zip(self.heads, self.ms.units, strict=True):
            head.build(h, rng, self.dtype)
        self.fusion.build((len(self.heads), self.n_outputs), rng, self.dtype)
        self.in_features, self.built = in_features, True
        return self

    def branches(self, x, training=False, lengths=None, timestamps=None):
        hs = self.ms.forward(x, training=training, lengths=lengths, timestamps=timestamps)
        return [head.forward(h, training=training) for head, h in zip(self.heads, hs,
                                                                      strict=True)]

    def forward(self, x, training=False, lengths=None, timestamps=None):
        return self.fusion.forward(self.branches(x, training, lengths, timestamps))

    def backward(self, dy):
        dys = self.fusion.backward(dy)
        dhs = [head.backward(d) for head, d in zip(self.heads, dys, strict=True)]
        return self.ms.backward(dhs)


@io.register
class MultiScaleForecaster(BaseModel):
    """Forecasts from event-feature sequences with one recurrent cell per time scale.

    For each scale (a count window like ``"4"`` = every 4 events, or a wall-clock window like
    ``"1h"``, ``"1d"``, ``"7d"``) the events are pooled per window (``pool``) and a cell (``cell``
    = "lstm", "gru" or "rnn") runs over the windows; the state after the sequence's last window
    feeds a linear head per scale giving ``y_s [B, K]``, and the output is ``sum_s alpha_s y_s``
    with learned ``alpha = softmax(w)`` per output (:meth:`explain` returns the terms). With
    ``task="probability"`` the heads are sigmoids, so the fusion is a mixture of probabilities in
    ``(0, 1)`` trained on the squared error (Brier score).

    Targets: ``y [B]`` (one value per sequence) or ``[B, K]`` for K horizons (e.g. one per scale:
    next event, next 4, next 16); each horizon has its own fusion weights.

    Causality and streaming (served natively later): every event of ``X`` precedes the
    prediction. A scale's cell steps when its window closes; the last, still-open window (count
    windows with ``partial=True``; wall-clock windows up to the last event) is pooled as it is, so
    the prediction sees every event. Run incrementally, the per-sequence state is each scale's
    ``(h, c)``, the open window's running pool and event count, and its start: one event costs
    O(1) per scale (the fine cell steps; a coarse cell steps only when its window closes, empty
    wall-clock windows in between are stepped as empty), and replaying the events one at a time
    gives the same output as the full-sequence pass.

    Args:
        scales: list of scale specs (see :meth:`chronoscale.ops.Scale.parse`).
        cell: "lstm", "gru" or "rnn". units: hidden size (one positive int, or one per scale).
        pool: "mean", "max" or "sum" pooling of a window's events.
        count_feature: append ``log1p(events in the window)`` to each pooled step.
        task: "regression" (linear heads) or "probability" (sigmoid heads).
        loss: "mse" (default), "mae" or "huber" (either task).
        learning_rate, epsilon, clipnorm: Adam (Keras defaults; clipnorm 1.0).
        dtype, random_state, warm_start, device: as :class:`SeedForecaster` (``lengths`` and
            ``timestamps`` stay on the host with ``device="cuda"``: they index the windows).
    """

    def __init__(self, scales=("1", "4", "16"), cell: str = "lstm", units=32, pool: str = "mean",
                 count_feature: bool = True, task: str = "regression", loss: str = "mse",
                 learning_rate: float = 1e-3, epsilon: float = 1e-7, clipnorm=1.0,
                 dtype: str = "float32", random_state=None, warm_start: bool = False,
                 device: str = "cpu"):
        self.scales = scales
        self.cell = cell
        self.units = units
        self.pool = pool
        self.count_feature = count_feature
        self.task = task
        self.loss = loss
        self.learning_rate = learning_rate
        self.epsilon = epsilon
        self.clipnorm = clipnorm
        self.dtype = dtype
        self.random_state = random_state
        self.warm_start = warm_start
        self.device = device

    # -- network -------------------------------------------------------------------------------
    def _meta(self) -> dict:
        return {"n_features": self.n_features_in_, "n_outputs": self.n_outputs_}

    def _check_params(self):
        """The hyper-parameters (TypeError / ValueError naming them); checked units."""
        check_seed(self.random_state)
        check_hyper(self)
        if not isinstance(self.loss, str):
            raise TypeError(f"loss must be a name, one of {', '.join(map(repr, _LOSSES))}; got "
                            f"{type(self.loss).__name__}")
        nn.losses.get(self.loss)  # (a file saved before fit refused bce_with_logits still loads)
        return check_units(self.units)

    def _check_loss(self):
        """``fit``'s own check of ``loss``: one of _LOSSES (ValueError)."""
        if self.loss not in _LOSSES:
            hint = (" (probability targets: task='probability', whose sigmoid heads train "
                    "with 'mse')" if self.loss == "bce_with_logits" else "")
            raise ValueError(f"loss must be one of {', '.join(map(repr, _LOSSES))}, got "
                             f"{self.loss!r:.80}{hint}")

    def _build(self, meta, rng) -> None:
        units = self._check_params()
        if self.task not in _TASKS:
            raise ValueError(f"task must be 'regression' or 'probability', got {self.task!r}")
        nf, no = meta["n_features"], meta["n_outputs"]
        for name, v in (("n_features", nf), ("n_outputs", no)):
            if type(v) is not int or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        scales = [self.scales] if isinstance(self.scales, str) else list(self.scales)
        self._net = _ForecastNet(scales, units, self.cell, self.pool, bool(self.count_feature),
                                 no, _TASKS[self.task][0]).build(nf, rng, self.dtype)
        self._place()
        self.n_features_in_, self.n_outputs_ = nf, no
        self.optimizer_ = None

    @property
    def net(self):
        self._check_fitted()
        return self._net

    @property
    def needs_timestamps(self) -> bool:
        return any(s.kind == "time" for s in self._scale_list())

    def _scale_list(self) -> list:
        """The scales as :class:`~chronoscale.ops.Scale` objects (the network's once built)."""
        return self._net.ms._scales if self._net is not None else [
            nn.MultiScale([s], 1)._scales[0] for s in (
                [self.scales] if isinstance(self.scales, str) else self.scales)]

    def _inputs(self, X, lengths, timestamps, name="X"):
        nf = self.n_features_in_ if self._net is not None else None
        X = as_sequences(X, self.dtype, name, nf)
        B, T = X.shape[:2]
        if lengths is not None:
            lengths = as_lengths(lengths)
            if lengths.shape != (B,):
                raise ValueError(f"lengths must have shape [{B}], got {lengths.shape}")
            if lengths.size and (lengths.min() < 1 or lengths.max() > T):
                raise ValueError(
                    f"lengths must lie in [1, T = {T}] (a sequence without events has nothing to "
                    f"forecast from: drop it), got values in [{lengths.min()}, {lengths.max()}]")
        if timestamps is not None:
            timestamps = _device.to_host(timestamps)
            if timestamps.shape != (B, T):
                raise ValueError(f"timestamps must have shape [{B}, {T}], got "
                                 f"{timestamps.shape}")
            if timestamps.dtype.kind in "iu":
                timestamps = np.ascontiguousarray(timestamps, dtype=np.int64)
                warn_long_spans(timestamps, lengths, self._scale_list())
        elif self.needs_timestamps:
            raise ValueError("timestamps are required: a scale is a wall-clock window")
        return {"x": X, "lengths": lengths, "timestamps": timestamps}

    def _targets(self, y, n, name="y"):
        y = _device.to_host(y)
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[0] != n:
            raise ValueError(f"{name} must have shape [{n}] or [{n}, K], got {y.shape}")
        if self._net is not None and y.shape[1] != self.n_outputs_:
            raise ValueError(f"{name} has {y.shape[1]} outputs, the model has {self.n_outputs_}")
        check_target_values(y, name, unit=self.task == "probability")
        return np.ascontiguousarray(y, dtype=self.dtype)

    # -- scikit-learn API ----------------------------------------------------------------------
    def fit(self, X, y, lengths=None, timestamps=None, epochs: int = 10, batch_size: int = 32,
            validation_data=None, verbose: int = 1, **fit_kwargs):
        """Train on ``X [B, T, F]`` (with optional ``lengths [B]`` in ``[1, T]``, the steps of
        each row to read, and ``timestamps [B, T]`` int64 seconds, required for wall-clock
        scales) and ``y [B]`` or ``[B, K]``.

        ``validation_data``: ``(X, y)`` or ``(X, y, lengths, timestamps)``. Other keyword
        arguments go to :func:`chronoscale.nn.fit` (``seed`` defaults to ``random_state``).
        Returns self; ``self.history_`` holds the per-epoch history.

        Raises:
            TypeError: a non-integer ``epochs``, ``batch_size``, ``seed``, ``units`` or
                ``random_state`` (floats are refused, never truncated).
            ValueError: bad shapes, NaN / inf, ``lengths`` outside ``[1, T]``, ``epochs``,
                ``batch_size`` or ``units`` < 1, a negative seed, bad ``sample_weight`` (see
                :func:`chronoscale.nn.fit`), ``y`` outside ``[0, 1]`` with
                ``task="probability"``, an unknown ``task`` or ``loss``.
            RuntimeError: ``device="cuda"`` on a build without CUDA or without a GPU.
        """
        opts = fit_options(fit_kwargs, epochs, batch_size)
        self._check_params()
        self._check_loss()
        with kept_on_error(self):  # a refused fit leaves a fitted model as it was
            if not (self.warm_start and self._net is not None):
                self._net = None
            inputs = self._inputs(X, lengths, timestamps)
            n = inputs["x"].shape[0]
            targets = self._targets(y, n)
            if self._net is None:
                self._build({"n_features": int(inputs["x"].shape[2]),
                             "n_outputs": int(targets.shape[1])},
                            np.random.default_rng(self.random_state))
            if validation_data is not None:
                Xv, yv, *rest = unpack_validation(validation_data, (2, 3, 4),
                                                  "(X, y) or (X, y, lengths[, timestamps])")
                rest = list(rest) + [None] * (2 - len(rest))
                vin = self._inputs(Xv, rest[0], rest[1], "validation X")
                validation_data = (vin, self._targets(yv, vin["x"].shape[0], "validation y"))
            if self.optimizer_ is None:
                self.optimizer_ = nn.Adam(self._net.parameters(), lr=self.learning_rate,
                                          eps=self.epsilon, clipnorm=self.clipnorm)
            opts.setdefault("seed", self.random_state)
            # nn.fit checks its own arguments (sample_weight, metrics, monitor, ...) before the
            # first step: one it refuses puts the fitted model back too
            self.history_ = nn.fit(self._net, inputs, targets, optimizer=self.optimizer_,
                                   loss=self.loss, epochs=epochs, batch_size=batch_size,
                                   validation_data=validation_data, verbose=verbose, **opts)
        return self

    def _squeeze(self, out):
        return out[..., 0] if self.n_outputs_ == 1 else out

    def predict(self, X, lengths=None, timestamps=None, batch_size: int = 1024, progress=None):
        """Predictions ``[B]`` (one output) or ``[B, K]`` (a CuPy array for a CuPy ``X``).
        ``progress``: a bar over the rows (None: once the call has run 2 s; True / False)."""
        self._check_fitted()
        batch_size = check_int(batch_size, "batch_size")
        inputs = self._inputs(X, lengths, timestamps)
        out = self._squeeze(nn.predict_batches(self._net, inputs, batch_size, progress))
        return out if _device.is_device_array(X) else _device.to_host(out)

    def explain(self, X, lengths=None, timestamps=None, batch_size: int = 1024):
        """Each scale's contribution ``alpha_s * y_s`` per prediction: ``[B, S]`` (one output)
        or ``[B, S, K]``; summing over S gives :meth:`predict`. Scale order is ``scales``."""
        self._check_fitted()
        batch_size = check_int(batch_size, "batch_size")
        inputs = self._inputs(X, lengths, timestamps)
        n, parts = inputs["x"].shape[0], []
        device = self._net.device
        for i in range(0, n, batch_size):
            batch = {k: (None if v is None else _device.to_device(
                v[i:i + batch_size], "cpu" if k in ("lengths", "timestamps") else device))
                for k, v in inputs.items()}
            ys = self._net.branches(**batch)
            parts.append(self._net.fusion.contributions(ys))
        out = _device.xp_for(device).concatenate(parts, axis=0)
        out = out[..., 0] if self.n_outputs_ == 1 else out
        return out if _device.is_device_array(X) else _device.to_host(out)

    @property
    def scale_weights_(self):
        """Fusion weights ``alpha [S]`` (one output) or ``[S, K]``."""
        a = _device.to_host(self.net.fusion.alpha)
        return a[:, 0] if self.n_outputs_ == 1 else a

    def score(self, X, y, lengths=None, timestamps=None) -> float:
        """R² of ``predict`` against ``y`` (averaged over outputs when K > 1), like
        scikit-learn regressors: 1 is perfect, 0 is the mean predictor."""
        pred = _device.to_host(self.predict(X, lengths, timestamps)).reshape(len(X), -1)
        y = self._targets(y, len(X))
        return float(np.mean([metrics.r2(pred[:, k], y[:, k]) for k in range(y.shape[1])]))
