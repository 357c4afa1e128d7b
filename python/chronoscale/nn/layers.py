"""Feed-forward layers: Embedding, Conv1d, MaxPool1d, Dense, Dropout, cosine features."""

from __future__ import annotations

import numpy as np

from .. import ops
from ..ops._common import as_bool, check_int, check_real
from ..ops.dropout import check_rate
from . import device as _device
from .init import glorot_uniform
from .layer import Layer, check_grad, check_input, mix_seed

_ACTIVATIONS = {None: "none", "none": "none", "linear": "none", "relu": "relu",
                "sigmoid": "sigmoid", "tanh": "tanh"}


def _check_choice(value, allowed, what="activation"):
    """``value`` if it is one of ``allowed`` (strings or None); TypeError / ValueError naming
    ``what`` otherwise."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{what} must be a string or None, got {type(value).__name__}")
    if value not in allowed:
        raise ValueError(f"{what} must be one of {sorted(map(str, allowed))}, got {value!r}")
    return value


def _check_cache(layer):
    if getattr(layer, "_cache", None) is None:
        raise RuntimeError(f"{type(layer).__name__}.backward called before forward")
    return layer._cache


class Embedding(Layer):
    """Rows of a ``[num_embeddings, dim]`` table for integer ids ``[B, T]`` -> ``[B, T, dim]``.

    Initialised like Keras (``U(-0.05, 0.05)``). With ``sparse=True`` (default) the backward pass
    leaves a sparse gradient (only the rows seen in the batch), which the optimisers apply with
    their ``*_rows`` steps so that only those rows move. ``backward`` returns None (ids have no
    gradient). ``in_features`` is ignored (the input is ids).

    Raises:
        TypeError: ``num_embeddings`` / ``dim`` not integers, ``sparse`` not a bool.
        ValueError: ``num_embeddings`` or ``dim`` < 1.
    """

    def __init__(self, num_embeddings: int, dim: int, sparse: bool = True):
        super().__init__()
        self.num_embeddings = check_int(num_embeddings, "num_embeddings")
        self.dim = check_int(dim, "dim")
        self.sparse = as_bool(sparse, "sparse")
        self._cache = None

    def _build(self, in_features, rng):
        shape = (self.num_embeddings, self.dim)
        self.weight = self.add_param("weight", shape, lambda: rng.uniform(-0.05, 0.05, shape))

    def output_features(self, in_features):
        return self.dim

    def _ensure_built(self, x):
        if not self.built:
            self.build(None, np.random.default_rng(0), self.dtype)

    def forward(self, ids, training=False, lengths=None):
        self._ensure_built(ids)
        y, self._cache = ops.embedding_forward(ids, self.weight.data, lengths)
        self.out_lengths = lengths
        return y

    def backward(self, dy):
        cache = _check_cache(self)
        if self.sparse:
            rows, grad = ops.embedding_backward(dy, cache, sparse=True)
            self.weight.accumulate_rows(rows, grad)
        else:
            self.weight.accumulate(ops.embedding_backward(dy, cache, sparse=False))
        return None


class Conv1d(Layer):
    """Valid 1-D convolution over time, stride 1, optional fused ReLU (Keras ``Conv1D(filters,
    kernel_size, activation="relu")``): ``[B, T, C] -> [B, T - K + 1, filters]``.

    ``weight [filters, C, K]`` (torch.nn.Conv1d layout), ``bias [filters]``; glorot-uniform
    kernel with Keras' fans (``K*C``, ``K*filters``), zero bias.

    Raises:
        TypeError: ``filters`` / ``kernel_size`` not integers (2.9 is refused, never
            truncated), ``use_bias`` not a bool.
        ValueError: ``filters`` or ``kernel_size`` < 1, an unknown activation.
    """

    def __init__(self, filters: int, kernel_size: int, activation=None, use_bias: bool = True):
        super().__init__()
        self.activation = _check_choice(activation, (None, "none", "linear", "relu"),
                                            "Conv1d activation")
        self.filters = check_int(filters, "filters")
        self.kernel_size = check_int(kernel_size, "kernel_size")
        self.use_bias = as_bool(use_bias, "use_bias")
        self._cache = None

    def _build(self, in_features, rng):
        k, c, f = self.kernel_size, check_int(in_features, "in_features"), self.filters
        self.weight = self.add_param(
            "weight", (f, c, k), lambda: glorot_uniform(rng, (f, c, k), k * c, k * f))
        self.bias = self.add_param("bias", (f,)) if self.use_bias else None

    def output_features(self, in_features):
        return self.filters

    def forward(self, x, training=False, lengths=None):
        self._ensure_built(x)
        y, self.out_lengths, self._cache = ops.conv1d_forward(
            x, self.weight.data, self.bias.data if self.bias is not None else None, lengths,
            relu=self.activation == "relu",
        )
        if lengths is None:
            self.out_lengths = None
        return y

    def backward(self, dy):
        dx, dw, db = ops.conv1d_backward(dy, _check_cache(self), input_grad=self.input_grad)
        self.weight.take(dw)
        if self.bias is not None:
            self.bias.take(db)
        return dx


class MaxPool1d(Layer):
    """Count-window pooling over time (Keras ``MaxPooling1D(pool_size, strides)``, "valid"):
    ``[B, T, C] -> [B, (T - size) // stride + 1, C]``. ``mode`` may also be "mean" or "sum";
    ``partial=True`` keeps trailing incomplete windows.

    Raises:
        TypeError: ``size`` / ``stride`` not integers (1.5 is refused), ``partial`` not a bool.
        ValueError: ``size`` or ``stride`` < 1, an unknown mode.
    """

    def __init__(self, size: int = 2, stride=None, mode: str = "max", partial: bool = False):
        super().__init__()
        self.size = check_int(size, "size")
        self.stride = self.size if stride is None else check_int(stride, "stride")
        self.mode = _check_choice(mode, ("max", "mean", "sum"), "mode")
        self.partial = as_bool(partial, "partial")
        self._cache = None

    def forward(self, x, training=False, lengths=None):
        self._ensure_built(x)
        y, _, out_lengths, self._cache = ops.count_pool_forward(
            x, self.size, self.stride, self.mode, lengths, self.partial
        )
        self.out_lengths = None if lengths is None else out_lengths
        return y

    def backward(self, dy):
        return ops.count_pool_backward(_device.contiguous(dy), _check_cache(self))


class Dense(Layer):
    """``y = act(x @ weight.T + bias)`` over the last axis (any leading dims), one fused native
    GEMM + bias + activation (``None``/"linear", "relu", "sigmoid", "tanh").

    ``weight [units, in]`` (torch.nn.Linear layout), glorot-uniform; ``bias [units]`` zeros.
    Steps past a sequence's length are computed too (they hold zeros in, bias out).

    Raises:
        TypeError: ``units`` not an integer (2.7 and "4" are refused, never converted),
            ``use_bias`` not a bool.
        ValueError: ``units`` < 1, an unknown activation.
    """

    def __init__(self, units: int, activation=None, use_bias: bool = True):
        super().__init__()
        self.activation = _check_choice(activation, _ACTIVATIONS)
        self.units = check_int(units, "units")
        self.use_bias = as_bool(use_bias, "use_bias")
        self._cache = None

    def _build(self, in_features, rng):
        in_features = check_int(in_features, "in_features")
        shape = (self.units, in_features)
        self.weight = self.add_param(
            "weight", shape, lambda: glorot_uniform(rng, shape, in_features, self.units))
        self.bias = self.add_param("bias", (self.units,)) if self.use_bias else None

    def output_features(self, in_features):
        return self.units

    def forward(self, x, training=False, lengths=None):
        self._ensure_built(x)
        y, self._cache = ops.linear_forward(
            x, self.weight.data, self.bias.data if self.bias is not None else None,
            activation=_ACTIVATIONS[self.activation],
        )
        self.out_lengths = lengths
        return y

    def backward(self, dy):
        dx, dw, db = ops.linear_backward(_device.contiguous(dy), _check_cache(self))
        self.weight.take(dw)
        if self.bias is not None:
            self.bias.take(db)
        return dx


class Dropout(Layer):
    """Inverted dropout with rate ``rate`` while training, identity otherwise.

    Masks come from the native counter-based RNG keyed by a seed: the layer's seed (set by
    :meth:`set_seed`, which ``fit`` calls per batch) plus a per-call counter, so training is
    reproducible. ``inplace=True``: while training, the forward overwrites its input and the
    backward its gradient (no new arrays; for a caller that does not use them afterwards).
    """

    _random = True

    def __init__(self, rate: float, inplace: bool = False):
        super().__init__()
        self.rate = check_rate(rate, "rate")
        self.inplace = as_bool(inplace, "inplace")
        self._seed = 0
        self._calls = 0
        self._cache = None

    def set_seed(self, seed: int) -> None:
        self._seed = check_int(seed, "seed", None) & 0x7FFFFFFFFFFFFFFF
        self._calls = 0

    def forward(self, x, training=False, lengths=None):
        training = as_bool(training, "training")  # ("False" must not mean True)
        self._ensure_built(x)
        self.out_lengths = lengths
        if not training or self.rate == 0.0:
            self._cache = False
            return x
        seed = mix_seed(self._seed, self._calls)
        self._calls += 1
        y, self._cache = ops.dropout_forward(x, self.rate, seed, out=x if self.inplace else None)
        return y

    def backward(self, dy):
        cache = _check_cache(self)
        if cache is False:
            return dy
        dy = _device.contiguous(dy)
        return ops.dropout_backward(dy, cache, out=dy if self.inplace else None)


class CosineFeatures(Layer):
    """Appends ``cos(x_t, x_{t-lag})`` for each lag as extra channels:
    ``[B, T, D] -> [B, T, D + len(lags)]`` (0 where ``t < lag`` or past the length).

    ``lags``: integers >= 1 (one integer is one lag); ``eps``: the norm floor, > 0.

    Raises:
        TypeError: a lag that is not an integer (1.5 is refused), ``eps`` not a number.
        ValueError: no lags, a lag < 1, ``eps`` not a finite number > 0.
    """

    def __init__(self, lags=(1,), eps: float = 1e-8):
        super().__init__()
        if isinstance(lags, (int, np.integer)) and not isinstance(lags, bool):
            lags = (lags,)
        if isinstance(lags, (str, bytes)) or not hasattr(lags, "__iter__"):
            raise TypeError(f"lags must be an integer or a list of integers, got "
                            f"{type(lags).__name__}")
        self.lags = tuple(check_int(k, "lags") for k in lags)
        if not self.lags:
            raise ValueError(f"lags must be a non-empty list of integers >= 1, got {lags!r}")
        self.eps = check_real(eps, "eps", 0.0, low_open=True)
        self._caches = None

    def output_features(self, in_features):
        return in_features + len(self.lags)

    def forward(self, x, training=False, lengths=None):
        self._ensure_built(x)
        feats, self._caches = [], []
        for lag in self.lags:
            y, cache = ops.cosine_lag_forward(x, lag, lengths, self.eps)
            feats.append(y[..., None])
            self._caches.append(cache)
        self._D = x.shape[-1]
        self.out_lengths = lengths
        out = np.concatenate([x] + feats, axis=-1)
        self._out_shape = out.shape
        return out

    def backward(self, dy):
        if self._caches is None:
            raise RuntimeError("CosineFeatures.backward called before forward")
        check_grad(dy, self._out_shape)
        dx = _device.contiguous(dy[..., : self._D])
        for i, cache in enumerate(self._caches):
            dx = dx + ops.cosine_lag_backward(_device.contiguous(dy[..., self._D + i]), cache)
        return dx


class CosineQuery(Layer):
    """``cos(q_b, x_{b,t})`` of a query per sequence (e.g. a candidate item) with every event.

    ``forward((q [B, D], x [B, T, D]))`` -> ``[B, T]``; ``backward(dy)`` -> ``(dq, dx)``.

    Raises:
        TypeError: ``eps`` not a number; ``inputs`` not a ``(q, x)`` pair.
        ValueError: ``eps`` not a finite number > 0.
    """

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = check_real(eps, "eps", 0.0, low_open=True)
        self._cache = None

    def forward(self, inputs, training=False, lengths=None):
        if not (isinstance(inputs, (tuple, list)) and len(inputs) == 2):
            raise TypeError(f"inputs must be a pair (q [B, D], x [B, T, D]), got "
                            f"{type(inputs).__name__}")
        q, x = inputs
        check_input(q, "q")
        self._ensure_built(x)
        y, self._cache = ops.cosine_query_forward(q, x, lengths, self.eps)
        self.out_lengths = lengths
        return y

    def backward(self, dy):
        return ops.cosine_query_backward(_device.contiguous(dy), _check_cache(self))
