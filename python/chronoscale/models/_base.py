"""Shared scikit-learn-style plumbing of the models: parameters, input checks, save/load."""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from .. import io
from ..nn import device as _device
from ..nn.layer import loading
from ..nn.training import check_stopping
from ..ops._common import as_bool, check_int, check_real

_FIT_OPTIONS = ("shuffle", "seed", "metrics", "sample_weight", "monitor", "mode", "patience",
                "min_delta", "restore_best", "checkpoint_dir", "checkpoint_every", "resume")

# The History attributes a saved model keeps beside its per-epoch lists (meta "history_state").
_HISTORY_STATE = ("best", "best_epoch", "stopped_epoch")


class BaseModel:
    """``get_params`` / ``set_params`` (scikit-learn conventions: every constructor argument is
    an attribute of the same name, validated at ``fit``), ``save``, ``__repr__``.

    Subclasses define ``_net`` (an :class:`~chronoscale.nn.Layer` once fitted),
    ``_build(meta, rng)`` that creates it, and ``_meta()`` with what ``_build`` needs.
    """

    _net = None

    @classmethod
    def _param_names(cls) -> list:
        sig = inspect.signature(cls.__init__)
        return [n for n, p in sig.parameters.items()
                if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self, deep: bool = True) -> dict:
        """Constructor arguments as a dict (scikit-learn API)."""
        return {n: getattr(self, n) for n in self._param_names()}

    def set_params(self, **params):
        """Set constructor arguments (scikit-learn API); they take effect at the next ``fit``.

        Raises:
            ValueError: an unknown parameter name.
        """
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; "
                                 f"valid: {valid}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @property
    def is_fitted(self) -> bool:
        return self._net is not None

    def _check_fitted(self):
        if self._net is None:
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet; call fit first")

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path) -> None:
        """Save the fitted model to ``path`` (the documented ``.csm`` format, see
        :mod:`chronoscale.io`); ``chronoscale.load(path)`` gives it back."""
        io.save(self, path)

    def _save_state(self):
        self._check_fitted()
        config = self.get_params()
        if "scales" in config:
            config["scales"] = scale_specs(config["scales"], config.get("pool", "mean"))
        tensors = {f"net.{k}": _device.to_host(v) for k, v in self._net.state_dict().items()}
        meta = {"fitted": True, **self._meta()}
        history = getattr(self, "history_", None)
        if history is not None:
            meta["history"] = dict(history)
            meta["history_state"] = {k: getattr(history, k) for k in _HISTORY_STATE}
        return config, tensors, meta

    def _place(self) -> None:
        """Move the network to the model's ``device`` (after building or loading)."""
        device = _device.check(getattr(self, "device", "cpu"))
        if device != self._net.device:
            self._net.to(device)

    @classmethod
    def _from_saved(cls, config, tensors, meta, device=None, path="<tensors>"):
        """The model a file holds (``io.load``): built from ``config`` / ``meta``, its
        hyper-parameters checked as ``fit`` checks them (see ``_check_saved_params``), then the
        tensors loaded. ValueError naming ``path`` for a garbled history or a bad
        hyper-parameter; TypeError / KeyError / ValueError otherwise (``io.load`` adds the
        path)."""
        if not isinstance(config, dict):
            raise TypeError("config is not an object")
        if not isinstance(meta, dict):
            raise TypeError("meta is not an object")
        history, history_state = _saved_history(meta, path)
        if device is not None:
            config = {**config, "device": _device.check(device)}
        model = cls(**config)
        _check_saved_params(model, path)
        state = {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}
        if len(state) != len(tensors):
            raise KeyError("tensors outside 'net.'")
        with loading(state):
            model._build(meta, None)
        io.check_tensor_types(path, tensors, {f"net.{k}": v
                                              for k, v in model._net.state_dict().items()})
        model._net.load_state_dict(state)
        model._place()
        if history is not None:
            from ..nn.training import History

            model.history_ = History(history)
            for k, v in history_state.items():
                setattr(model.history_, k, v)
        return model


def _is_number(v) -> bool:
    return type(v) in (int, float)  # (JSON numbers; never a bool)


def _saved_history(meta: dict, path):
    """``(history, state)`` from a saved model's ``meta``: the per-epoch lists (None when the
    file has none) and the ``_HISTORY_STATE`` attributes to set (``{}`` in older files, which
    lack ``history_state``; other keys are ignored).

    Raises:
        ValueError: naming ``path`` and the field: ``history`` not an object of lists of
            numbers, ``history_state`` not an object, ``best`` not a number,
            ``best_epoch`` / ``stopped_epoch`` not integers (null is allowed for each).
    """
    def bad(field, want, got):
        return io._bad(path, f"meta field {field!r} must be {want}, got {got!r:.50}")

    history, state = meta.get("history"), meta.get("history_state")
    if history is not None:
        if not isinstance(history, dict):
            raise bad("history", "an object of per-epoch lists", history)
        for key, values in history.items():  # (null: a NaN / inf of a diverged run)
            if not isinstance(values, list) or not all(v is None or _is_number(v)
                                                       for v in values):
                raise bad(f"history.{key}", "a list of numbers", values)
        history = io.nan_for_null(history)
    if state is None:
        return history, {}
    if not isinstance(state, dict):
        raise bad("history_state", "an object", state)
    state = {k: v for k, v in state.items() if k in _HISTORY_STATE}
    for k, v in state.items():
        if v is not None and not (_is_number(v) if k == "best" else type(v) is int):
            raise bad(f"history_state.{k}", "a number or null" if k == "best"
                      else "an integer or null", v)
    return history, state


def _check_saved_params(model, path) -> None:
    """A loaded model's hyper-parameters, checked as ``fit`` checks them (its ``_check_params``:
    sizes, seed, ``check_hyper``, the loss): a file holding a value ``fit`` would refuse is
    refused here rather than at the next ``predict`` / ``fit``.

    Raises:
        ValueError: ``"{path}: saved <class> has a bad configuration value: <why>"``, naming the
            parameter (TypeErrors of the checks too: the file is what is wrong).
    """
    try:
        check = getattr(model, "_check_params", None)
        if check is not None:
            check()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: saved {type(model).__name__} has a bad configuration value: "
                         f"{exc}") from None


@contextlib.contextmanager
def kept_on_error(model):
    """A ``fit`` (its checks, set-up and the ``nn.fit`` call, which checks its own arguments
    before the first step): when it raises, ``model``'s attributes are put back as they were (a
    refused call never leaves a fitted model rebuilt or half rebuilt)."""
    before = dict(model.__dict__)
    try:
        yield
    except Exception:
        model.__dict__.clear()
        model.__dict__.update(before)
        raise


def as_sequences(X, dtype, name: str = "X", n_features=None):
    """``X`` as a C-contiguous ``[B, T, F]`` array of ``dtype`` (converted if needed: this is the
    user-facing API, not an op).

    Raises:
        ValueError: not 3-D, empty, non-finite, or a feature count other than ``n_features``.
    """
    xp = _device.xp(X)
    X = xp.asarray(X)
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got dtype {X.dtype}")
    if X.ndim != 3:
        raise ValueError(f"{name} must have shape [B, T, F], got {X.shape}")
    if 0 in X.shape:
        raise ValueError(f"{name} must not be empty, got shape {X.shape}")
    if n_features is not None and X.shape[2] != n_features:
        raise ValueError(f"{name} has {X.shape[2]} features, the model was fitted with "
                         f"{n_features}")
    X = xp.ascontiguousarray(X, dtype=dtype)
    if not xp.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or inf")
    return X


def check_target_values(y, name: str = "y", unit: bool = False):
    """``y`` (a host array) numeric and finite, and in ``[0, 1]`` when ``unit`` (targets of a
    sigmoid output, which cannot reach values outside it): TypeError / ValueError naming
    ``name``. Strings are refused, never parsed."""
    y = np.asarray(y)
    if y.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got dtype {y.dtype}")
    if not np.isfinite(y).all():
        raise ValueError(f"{name} contains NaN or inf")
    if unit and y.size and (y.min() < 0 or y.max() > 1):
        raise ValueError(f"{name} must lie in [0, 1] (the model's output is a sigmoid), got "
                         f"[{y.min():.4g}, {y.max():.4g}]; scale the targets")
    return y


def as_targets(y, n: int, dtype, name: str = "y", unit: bool = False):
    """``y [B]`` or ``[B, 1]`` as a ``[B, 1]`` host array of ``dtype`` (numeric, finite; in
    ``[0, 1]`` when ``unit``)."""
    y = np.asarray(_device.to_host(y))
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{name} must have shape [{n}] or [{n}, 1], got {y.shape}")
    check_target_values(y, name, unit)
    return np.ascontiguousarray(y, dtype=dtype).reshape(n, 1)


def check_seed(value, name: str = "random_state"):
    """None, or an integer ``>= 0`` (a NumPy seed): TypeError / ValueError naming ``name``."""
    return None if value is None else check_int(value, name, 0)


def scale_specs(scales, pool: str):
    """A model's ``scales`` as JSON spec strings for its saved config: spec strings as given
    (``"7d"`` stays ``"7d"``), other scales (:class:`~chronoscale.ops.Scale` objects, integers)
    as their :meth:`~chronoscale.ops.Scale.parse` spec (``"4"``, ``"16/4"``, ``"1h"``), which
    the loaded model parses back with its ``pool``.

    Raises:
        TypeError: a :class:`~chronoscale.ops.Scale` whose settings no spec holds (a time
            window's origin or max_windows, ``partial=False``, or a pooling mode other than
            the model's ``pool``): the saved model would pool differently.
    """
    from ..ops import Scale

    one = isinstance(scales, (str, Scale))
    out = []
    for s in [scales] if one else list(scales):
        sc = Scale.parse(s, mode=pool)
        spec = s if isinstance(s, str) else str(sc)
        if Scale.parse(spec, mode=pool) != sc:
            raise TypeError(
                f"scale {sc!r} cannot be saved: the file keeps scales as specs ('4', '16/4', "
                f"'1h') pooled with the model's pool={pool!r}, which would drop its settings; "
                "pass specs, or Scale objects with the defaults of Scale.parse")
        out.append(spec)
    return out[0] if one else out


def check_hyper(model) -> None:
    """The real-valued and True / False hyper-parameters that ``model`` has (TypeError /
    ValueError naming them): ``learning_rate`` > 0, ``weight_decay`` >= 0, ``clipnorm`` None or
    > 0, Adam's ``epsilon`` > 0 and ``beta_1`` / ``beta_2`` in [0, 1) (finite numbers, strings
    refused; checked before ``fit`` touches the model, though the optimiser checks them again);
    ``warm_start``, ``count_feature``, ``use_values`` bools; ``scales`` a spec or a list of
    them; ``dtype`` float32 or float64."""
    for name, zero_ok in (("learning_rate", False), ("weight_decay", True), ("clipnorm", False),
                          ("epsilon", False)):
        v = getattr(model, name, None)
        if v is None and (name == "clipnorm" or not hasattr(model, name)):
            continue
        check_real(v, name, 0.0, low_open=not zero_ok)
    for name in ("beta_1", "beta_2"):
        if hasattr(model, name):
            check_real(getattr(model, name), name, 0.0, 1.0)
    for name in ("warm_start", "count_feature", "use_values"):
        if hasattr(model, name):
            as_bool(getattr(model, name), name)
    scales = getattr(model, "scales", "")
    if scales is None or isinstance(scales, bool) or not (
            isinstance(scales, (str, int, np.integer)) or hasattr(scales, "__iter__")
            or hasattr(scales, "kind")):
        raise TypeError(f"scales must be a scale spec ('4', '1h', ...) or a list of them, got "
                        f"{scales!r}")
    try:
        dtype = np.dtype(getattr(model, "dtype", "float32"))
    except TypeError:
        dtype = None
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {model.dtype!r}")


def _caller_level() -> int:
    """``warnings.warn``'s stacklevel, called from here, of the first frame outside the
    package: a warning names the user's line, whatever the call path inside."""
    pkg, f, level = str(Path(__file__).resolve().parents[1]) + os.sep, sys._getframe(1), 1
    while f is not None and str(Path(f.f_code.co_filename).resolve()).startswith(pkg):
        f, level = f.f_back, level + 1
    return level


#: a wall-clock scale stepping more windows than this for one history (and over 1,000 per event)
#: warns: the history is probably stretched by an outlier timestamp
SPAN_WARN_WINDOWS = 100_000


def warn_long_spans(timestamps, lengths, scales, name: str = "timestamps") -> None:
    """UserWarning when a wall-clock scale (``scales``: :class:`~chronoscale.ops.Scale`) would
    step over ``SPAN_WARN_WINDOWS`` windows for a history of far fewer events. A time scale
    steps its cell once per window between a history's first and last event, empty ones
    included, and a batch holds as many windows as its longest history: one outlier timestamp
    (0 standing for "missing", a 1970 date) makes every batch that holds it that large.
    ``timestamps [B, T]`` int64 (None: nothing to check), ``lengths [B]`` (None: all ``T``)."""
    if timestamps is None or not any(sc.kind == "time" for sc in scales):
        return
    ts = np.asarray(_device.to_host(timestamps))
    if ts.ndim != 2 or ts.size == 0:
        return
    B, T = ts.shape
    L = np.full(B, T, np.int64) if lengths is None else np.asarray(_device.to_host(lengths))
    L = np.clip(L, 1, T)
    first, last = ts[:, 0], ts[np.arange(B), L - 1]
    for sc in scales:
        if sc.kind != "time":
            continue
        W = (last - sc.origin) // sc.window - (first - sc.origin) // sc.window + 1
        if sc.max_windows is not None:  # only each history's last max_windows windows run
            W = np.minimum(W, sc.max_windows)
        bad = (W > SPAN_WARN_WINDOWS) & (W > 1000 * L)
        if bad.any():
            b = int(np.argmax(np.where(bad, W, -1)))
            span = np.datetime_as_string(np.array([first[b], last[b]], "datetime64[s]"))
            warnings.warn(
                f"{name}: history {b} spans {int(W[b]):,} windows of scale '{sc}' for "
                f"{int(L[b])} events ({span[0]} to {span[1]}): a wall-clock scale steps every "
                "window in between, so each batch holding it costs that much time and memory. "
                "An outlier timestamp (0 or 1970 for 'missing'?): fix or drop it, or use a "
                "coarser window", UserWarning, stacklevel=_caller_level())


def check_units(units, name: str = "units"):
    """One positive integer, or a list / tuple / array of them (one per scale)."""
    if isinstance(units, (list, tuple, np.ndarray)) and np.ndim(units) == 1:
        return [check_int(u, f"{name}[{i}]") for i, u in enumerate(units)]
    return check_int(units, name)


def fit_options(kwargs: dict, epochs=1, batch_size=1) -> dict:
    """The ``nn.fit`` keyword arguments a model's ``fit`` passes through, with ``epochs``,
    ``batch_size``, ``seed``, ``checkpoint_every`` and the early-stopping options checked up
    front (before the model is touched; ``nn.fit`` checks them again, with the same
    messages)."""
    unknown = sorted(set(kwargs) - set(_FIT_OPTIONS))
    if unknown:
        raise TypeError(f"fit() got unexpected keyword arguments {unknown}; "
                        f"accepted: {list(_FIT_OPTIONS)}")
    check_int(epochs, "epochs")
    check_int(batch_size, "batch_size")
    check_seed(kwargs.get("seed"), "seed")
    if "checkpoint_every" in kwargs:
        check_int(kwargs["checkpoint_every"], "checkpoint_every")
    check_stopping(kwargs.get("patience"), kwargs.get("min_delta", 0.0),
                   kwargs.get("restore_best", True), 1)
    return dict(kwargs)
