"""``SeedForecaster``: the seed project's Keras model, on the native kernels."""

from __future__ import annotations

import numpy as np

from .. import io, nn
from ..nn import device as _device
from ..nn import metrics
from ..nn.plan import PlanCache
from ..nn.training import unpack_validation
from ._base import (
    BaseModel,
    as_sequences,
    as_targets,
    check_hyper,
    check_int,
    check_seed,
    fit_options,
    kept_on_error,
)


@io.register
class SeedForecaster(BaseModel):
    """Conv1D(64, k=3, ReLU) → MaxPool(2) → LSTM(50, sequences) → LSTM(50) → Dense(1, sigmoid),
    trained with Adam on the mean squared error — the seed's Keras model, layer for layer.

    Inputs ``X [B, T, F]`` (windows of T steps with F features; ``T >= kernel_size - 1 +
    pool_size``), targets ``y [B]`` or ``[B, 1]`` in ``[0, 1]`` (the sigmoid output: scale
    targets, e.g. min-max). scikit-learn style: constructor arguments are hyper-parameters
    (``get_params`` / ``set_params``), ``fit`` returns self, ``predict`` gives ``[B]``.

    Initialisation is Keras': glorot-uniform kernels (Conv1D fans ``K*F`` / ``K*filters``),
    orthogonal recurrent kernels, zero biases, LSTM forget-gate bias 1 (``unit_forget_bias``).
    Weights are in torch layout (Conv1d ``[64, F, 3]``, LSTM ``[4H, I]`` gate order i,f,g,o with
    one bias, Linear ``[1, 50]``). Adam uses Keras' defaults (``lr=1e-3``, betas 0.9 / 0.999,
    ``eps=1e-7``) with ``eps`` added to ``sqrt(v_hat)`` as in PyTorch.

    Args:
        filters, kernel_size, pool_size, units: the architecture (defaults are the seed's).
        learning_rate, beta_1, beta_2, epsilon: Adam.
        clipnorm: clip gradients to this global norm (None: no clipping, as the seed).
        dtype: "float32" (default) or "float64".
        random_state: int seed for initialisation, shuffling and any randomness of ``fit``
            (same seed, same data -> bit-identical weights on the CPU); None: random.
        warm_start: False (default) re-initialises at every ``fit``; True continues training
            the fitted weights and optimiser state (Keras' behaviour for repeated ``fit``).
        device: "cpu" (default, NumPy) or "cuda": the weights, the optimiser state and every
            forward / backward pass live on the GPU (CuPy arrays, CUDA kernels); each
            mini-batch is copied there once. ``predict`` returns a CuPy array for a CuPy ``X``
            and a NumPy array otherwise.
    """

    def __init__(self, filters: int = 64, kernel_size: int = 3, pool_size: int = 2,
                 units: int = 50, learning_rate: float = 1e-3, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, clipnorm=None,
                 dtype: str = "float32", random_state=None, warm_start: bool = False,
                 device: str = "cpu"):
        self.filters = filters
        self.kernel_size = kernel_size
        self.pool_size = pool_size
        self.units = units
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.clipnorm = clipnorm
        self.dtype = dtype
        self.random_state = random_state
        self.warm_start = warm_start
        self.device = device

    # -- network -------------------------------------------------------------------------------
    def _meta(self) -> dict:
        return {"n_features": self.n_features_in_}

    def _check_params(self) -> None:
        for name in ("filters", "kernel_size", "pool_size", "units"):
            check_int(getattr(self, name), name)
        check_seed(self.random_state)
        check_hyper(self)

    def _build(self, meta, rng) -> None:
        n_features = meta["n_features"]
        if type(n_features) is not int or n_features < 1:
            raise ValueError(f"n_features must be a positive integer, got {n_features!r}")
        self._check_params()
        self._net = nn.Sequential([
            nn.Conv1d(self.filters, self.kernel_size, activation="relu"),
            nn.MaxPool1d(self.pool_size),
            nn.LSTM(self.units, return_sequences=True),
            nn.LSTM(self.units),
            nn.Dense(1, activation="sigmoid"),
        ]).build(n_features, rng, self.dtype)
        self._place()
        self.n_features_in_ = n_features
        self.optimizer_ = None

    @property
    def net(self) -> nn.Sequential:
        """The fitted :class:`~chronoscale.nn.Sequential` (layers ``0`` conv, ``1`` pool, ``2``
        and ``3`` LSTMs, ``4`` dense)."""
        self._check_fitted()
        return self._net

    def _make_optimizer(self):
        return nn.Adam(self._net.parameters(), lr=self.learning_rate, beta1=self.beta_1,
                       beta2=self.beta_2, eps=self.epsilon, clipnorm=self.clipnorm)

    def _min_steps(self) -> int:
        return self.kernel_size - 1 + self.pool_size

    def _inputs(self, X, name="X"):
        X = as_sequences(X, self.dtype, name, getattr(self, "n_features_in_", None)
                         if self._net is not None else None)
        if X.shape[1] < self._min_steps():
            raise ValueError(f"{name} has T = {X.shape[1]} steps; this model needs at least "
                             f"{self._min_steps()} (kernel_size - 1 + pool_size)")
        return X

    # -- scikit-learn API ----------------------------------------------------------------------
    def fit(self, X, y, epochs: int = 10, batch_size: int = 32, validation_data=None,
            verbose: int = 1, **fit_kwargs):
        """Train on windows ``X [B, T, F]`` and targets ``y [B]`` / ``[B, 1]``.

        Args:
            epochs, batch_size, validation_data ``(X_val, y_val)``, verbose (0 silent, 1 bar,
                2 a line per epoch): as Keras' ``fit``.
            **fit_kwargs: passed to :func:`chronoscale.nn.fit` (``shuffle``, ``seed``,
                ``metrics``, ``sample_weight``, ``monitor``, ``mode``, ``patience``,
                ``min_delta``, ``restore_best``, ``checkpoint_dir``, ``checkpoint_every``,
                ``resume``); ``seed`` defaults to ``random_state``.

        Returns:
            self; the per-epoch :class:`~chronoscale.nn.History` is ``self.history_``.

        Raises:
            TypeError: a non-integer ``epochs``, ``batch_size``, ``seed`` or architecture
                argument (``filters``, ``kernel_size``, ``pool_size``, ``units``,
                ``random_state``: floats are refused, never truncated).
            ValueError: shapes (X not 3-D, y not [B] / [B, 1], too few steps, a different
                feature count than the fitted one with ``warm_start``), NaN / inf, ``epochs``,
                ``batch_size`` or an architecture argument < 1, a negative seed, bad
                ``sample_weight`` (see :func:`chronoscale.nn.fit`), ``y`` outside ``[0, 1]``
                (the output is a sigmoid).
            RuntimeError: ``device="cuda"`` on a build without CUDA or without a GPU.
        """
        opts = fit_options(fit_kwargs, epochs, batch_size)
        self._check_params()
        with kept_on_error(self):  # a refused fit leaves a fitted model as it was
            self._plan_cache = PlanCache()  # new weights: predict compiles a new plan
            if not (self.warm_start and self._net is not None):
                self._net = None
            X = self._inputs(X)
            y = as_targets(y, X.shape[0], self.dtype, unit=True)
            if self._net is None:
                self._build({"n_features": int(X.shape[2])}, np.random.default_rng(
                    self.random_state))
            if validation_data is not None:
                Xv, yv = unpack_validation(validation_data)
                Xv = self._inputs(Xv, "validation X")
                validation_data = (Xv, as_targets(yv, Xv.shape[0], self.dtype, "validation y",
                                                  unit=True))
            if self.optimizer_ is None:
                self.optimizer_ = self._make_optimizer()
            opts.setdefault("seed", self.random_state)
            # nn.fit checks its own arguments (sample_weight, metrics, monitor, ...) before the
            # first step: one it refuses puts the fitted model back too
            self.history_ = nn.fit(self._net, X, y, optimizer=self.optimizer_, epochs=epochs,
                                   batch_size=batch_size, validation_data=validation_data,
                                   verbose=verbose, **opts)
        return self

    def predict(self, X, batch_size=None):
        """Predictions ``[B]`` (sigmoid outputs in ``(0, 1)``) for windows ``X [B, T, F]``.

        Runs a compiled native plan (:mod:`chronoscale.nn.plan`) of the fitted network: one call
        for the whole forward pass, recompiled automatically after ``fit``, ``load`` or any
        optimiser step / ``load_state_dict`` on ``net`` (after writing into a parameter's array
        in place, call ``nn.parameter.weights_changed()``). A C-contiguous ``X`` of the model's
        dtype is used as it is; anything else is converted. ``batch_size`` is accepted for
        compatibility and ignored (the plan works in bounded chunks).

        Raises:
            RuntimeError: not fitted. TypeError: non-numeric X.
            ValueError: X not ``[B, T, F]`` with the fitted F, too few steps, NaN / inf.
        """
        if batch_size is not None:
            check_int(batch_size, "batch_size")  # (ignored, but never garbage)
        net = self._net
        if net is None:
            self._check_fitted()
        if net.device != "cpu":  # layer by layer on the GPU (the compiled plan is CPU-only)
            on_device = _device.is_device_array(X)
            pred = nn.predict_batches(net, self._inputs(X), 4096)[:, 0]
            return pred if on_device else _device.to_host(pred)
        if not (type(X) is np.ndarray and X.ndim == 3 and X.dtype == net.dtype
                and X.flags.c_contiguous and X.shape[2] == self.n_features_in_
                and X.shape[1] >= self._min_steps() and X.shape[0] > 0):
            X = self._inputs(X)
        cache = self.__dict__.get("_plan_cache")
        if cache is None:
            cache = self._plan_cache = PlanCache()
        try:
            return cache.get(net).predict(X, None, True)[:, 0]
        except ValueError as exc:
            if "NaN" in str(exc):
                raise ValueError("X contains NaN or inf") from None
            raise

    def score(self, X, y) -> float:
        """R² (coefficient of determination) of ``predict(X)`` against ``y``, as scikit-learn
        regressors' ``score``: 1 is perfect, 0 is the mean predictor, higher is better."""
        pred = self.predict(X)
        return metrics.r2(pred, as_targets(y, len(pred), np.float64))
