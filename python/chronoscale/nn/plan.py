"""Inference plans: a :class:`~chronoscale.nn.Sequential` compiled into one native object.

:func:`compile` copies the weights of a built stack of Conv1d, MaxPool1d (max / mean / sum count
windows), RNN / LSTM / GRU, Dense and Dropout (identity at inference) layers into a native
:class:`Plan`, packed for its kernels. :meth:`Plan.predict` then runs the whole forward pass in one
call: no Python per layer, no allocation besides the output once the largest batch has been
seen, the GIL released while it runs. Results equal ``model.forward(x, lengths=lengths)`` up to
floating-point summation order (the same activation functions are used).

The plan holds a *copy* of the weights: after training or changing them, compile again (the
models do this for you, see :class:`PlanCache`).

Threads: one call at a time per plan (calls are serialised by a lock inside the plan); use one
plan per thread for concurrent inference. A large batch is split across chronoscale's threads
(:func:`chronoscale.set_num_threads`); a small one runs on the calling thread.
"""

from __future__ import annotations

import numpy as np

from .. import _core
from ..ops._common import as_lengths
from .layer import Layer, Sequential
from .layers import _ACTIVATIONS, Conv1d, Dense, Dropout, MaxPool1d
from .parameter import weights_version
from .recurrent import GRU, LSTM, RNN

_RNN_CELLS = {"tanh": "rnn_tanh", "sigmoid": "rnn_sigmoid", "relu": "rnn_relu"}


def _data(p):
    return None if p is None else p.data


def _conv_spec(layer):
    return {"kind": "conv1d", "weight": layer.weight.data, "bias": _data(layer.bias),
            "relu": layer.activation == "relu"}


def _pool_spec(layer):
    return {"kind": "pool", "mode": layer.mode, "size": layer.size, "stride": layer.stride,
            "partial": layer.partial}


def _recurrent_spec(layer):
    if isinstance(layer, LSTM):
        cell = "lstm"
    elif isinstance(layer, GRU):
        cell = "gru"
    else:
        cell = _RNN_CELLS[layer.activation]
    return {"kind": "recurrent", "cell": cell, "w_ih": layer.w_ih.data, "w_hh": layer.w_hh.data,
            "b_ih": _data(layer.b), "b_hh": _data(layer.b_hh),
            "return_sequences": layer.return_sequences}


def _dense_spec(layer):
    return {"kind": "dense", "weight": layer.weight.data, "bias": _data(layer.bias),
            "activation": _ACTIVATIONS[layer.activation]}


_SPECS = {Conv1d: _conv_spec, MaxPool1d: _pool_spec, LSTM: _recurrent_spec, GRU: _recurrent_spec,
          RNN: _recurrent_spec, Dense: _dense_spec}


def layer_specs(model: Layer) -> list:
    """The plan's layer specs (dicts of options and weight arrays, not copies) of a built model.

    Raises:
        ValueError: unbuilt model, or a layer the plan does not run (named with its index).
    """
    layers = model.layers_list if isinstance(model, Sequential) else [model]
    if not model.built:
        raise ValueError("compile: build the model first (fit it, or call build(in_features))")
    specs = []
    for i, layer in enumerate(layers):
        if isinstance(layer, Dropout):
            continue
        if isinstance(layer, Sequential):
            specs.extend(layer_specs(layer))
            continue
        fn = _SPECS.get(type(layer))
        if fn is None:
            raise ValueError(f"compile: layer {i} ({type(layer).__name__}) is not supported by "
                             f"inference plans (supported: Conv1d, MaxPool1d, RNN, LSTM, GRU, "
                             f"Dense, Dropout)")
        specs.append(fn(layer))
    return specs


class Plan:
    """A compiled model (see :func:`compile`). Attributes: ``dtype`` ("float32" / "float64"),
    ``in_features``, ``out_features``, ``num_layers``, ``sequence_output``, ``min_steps``,
    ``weight_bytes``, ``scratch_bytes``, ``version`` (the weights version it was compiled at)."""

    __slots__ = ("_plan", "version")

    def __init__(self, native, version=None):
        self._plan = native
        self.version = version

    def predict(self, x, lengths=None, check_finite: bool = False):
        """Forward pass of ``x [B, T, F]`` (C-contiguous, the plan's dtype), ``lengths [B]``
        (ints in ``[0, T]``, None: all T).

        Returns:
            ``[B, To, O]`` when the last layer keeps the time axis, else ``[B, O]``.

        Raises:
            TypeError: x not an array of the plan's dtype, non-integer lengths.
            ValueError: x not ``[B, T, in_features]``, B = 0, T = 0 or too few steps for the
                layers (``min_steps``), not C-contiguous, lengths out of range; NaN / inf in x
                with ``check_finite``.
        """
        if lengths is not None:
            lengths = as_lengths(lengths)
        return self._plan.run(x, lengths, check_finite)

    __call__ = predict

    def output_shape(self, batch: int, steps: int) -> tuple:
        """Shape of ``predict``'s result for ``x [batch, steps, in_features]``."""
        return self._plan.output_shape(batch, steps)

    def __getattr__(self, name):
        if name in ("dtype", "in_features", "out_features", "num_layers", "sequence_output",
                    "min_steps", "weight_bytes", "scratch_bytes"):
            return getattr(self._plan, name)
        raise AttributeError(name)

    def __repr__(self) -> str:
        return (f"Plan(layers={self.num_layers}, dtype={self.dtype}, in_features="
                f"{self.in_features}, out_features={self.out_features})")


def compile(model: Layer, dtype=None) -> Plan:  # noqa: A001 - the natural name
    """Compile a built :class:`~chronoscale.nn.Sequential` (or a single layer) into a
    :class:`Plan`; ``dtype`` defaults to the model's.

    Raises:
        ValueError: unbuilt model or an unsupported layer (Embedding, MultiScale, cosine
            features, fusion).
        TypeError: dtype other than float32 / float64.
    """
    version = weights_version()
    specs = layer_specs(model)
    dtype = np.dtype(model.dtype if dtype is None else dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    for spec in specs:  # weights in the plan's dtype (copied by the plan anyway)
        for k, v in spec.items():
            if isinstance(v, np.ndarray):
                spec[k] = np.ascontiguousarray(v, dtype=dtype)
    return Plan(_core.Plan(dtype.name, int(model.in_features), specs), version)


class PlanCache:
    """A model's compiled plan, recompiled when its weights may have changed.

    ``get(model)`` returns the cached plan while :func:`~chronoscale.nn.parameter.weights_version`
    is unchanged (it moves on every optimiser step, ``load_state_dict``, ``build`` and ``astype``
    of any model) and compiles a new one otherwise. Writing into ``Parameter.data`` by hand is
    not seen: call :meth:`clear` after doing so.
    """

    __slots__ = ("_plan", "_model")

    def __init__(self):
        self._plan = None
        self._model = None

    def get(self, model: Layer) -> Plan:
        plan = self._plan
        if plan is None or self._model is not model or plan.version != weights_version():
            plan = self._plan = compile(model)
            self._model = model
        return plan

    def clear(self) -> None:
        self._plan = None
        self._model = None

    # A copied or pickled model recompiles its plan on first use (the native plan is not copied).
    def __deepcopy__(self, memo):
        return PlanCache()

    def __copy__(self):
        return PlanCache()

    def __reduce__(self):
        return (PlanCache, ())
