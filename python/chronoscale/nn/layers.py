"""Feed-forward layers: Embedding, Conv1d, MaxPool1d, Dense, Dropout, cosine features."""

from __future__ import annotations

import numpy as np

from .. import ops
from . import device as _device
from .init import glorot_uniform
from .layer import Layer, mix_seed

_ACTIVATIONS = {None: "none", "none": "none", "linear": "none", "relu": "relu",
                "sigmoid": "sigmoid", "tanh": "tanh"}


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
    """

    def __init__(self, num_embeddings: int, dim: int, sparse: bool = True):
        super().__init__()
        self.num_embeddings = int(num_embeddings)
        self.dim = int(dim)
        self.sparse = bool(sparse)
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
    """

    def __init__(self, filters: int, kernel_size: int, activation=None, use_bias: bool = True):
        super().__init__()
        if activation not in (None, "none", "linear", "relu"):
            raise ValueError(f"Conv1d activation must be None or 'relu', got {activation!r}")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.activation = activation
        self.use_bias = bool(use_bias)
        self._cache = None

    def _build(self, in_features, rng):
        k, c, f = self.kernel_size, in_features, self.filters
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
    ``partial=True`` keeps trailing incomplete windows."""

    def __init__(self, size: int = 2, stride=None, mode: str = "max", partial: bool = False):
        super().__init__()
        self.size = int(size)
        self.stride = self.size if stride is None else int(stride)
        self.mode = mode
        self.partial = bool(partial)
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
    """

    def __init__(self, units: int, activation=None, use_bias: bool = True):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(map(str, _ACTIVATIONS))}, "
                             f"got {activation!r}")
        self.units = int(units)
        self.activation = activation
        self.use_bias = bool(use_bias)
        self._cache = None

    def _build(self, in_features, rng):
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
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.inplace = bool(inplace)
        self._seed = 0
        self._calls = 0
        self._cache = None

    def set_seed(self, seed: int) -> None:
        self._seed = int(seed) & 0x7FFFFFFFFFFFFFFF
        self._calls = 0

    def forward(self, x, training=False, lengths=None):
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
    ``[B, T, D] -> [B, T, D + len(lags)]`` (0 where ``t < lag`` or past the length)."""

    def __init__(self, lags=(1,), eps: float = 1e-8):
        super().__init__()
        self.lags = tuple(int(k) for k in lags)
        if not self.lags or min(self.lags) < 1:
            raise ValueError(f"lags must be a non-empty list of integers >= 1, got {lags!r}")
        self.eps = float(eps)
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
        return np.concatenate([x] + feats, axis=-1)

    def backward(self, dy):
        if self._caches is None:
            raise RuntimeError("CosineFeatures.backward called before forward")
        dx = _device.contiguous(dy[..., : self._D])
        for i, cache in enumerate(self._caches):
            dx = dx + ops.cosine_lag_backward(_device.contiguous(dy[..., self._D + i]), cache)
        return dx


class CosineQuery(Layer):
    """``cos(q_b, x_{b,t})`` of a query per sequence (e.g. a candidate item) with every event.

    ``forward((q [B, D], x [B, T, D]))`` -> ``[B, T]``; ``backward(dy)`` -> ``(dq, dx)``.
    """

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = float(eps)
        self._cache = None

    def forward(self, inputs, training=False, lengths=None):
        q, x = inputs
        self._ensure_built(x)
        y, self._cache = ops.cosine_query_forward(q, x, lengths, self.eps)
        self.out_lengths = lengths
        return y

    def backward(self, dy):
        return ops.cosine_query_backward(_device.contiguous(dy), _check_cache(self))
