"""``Layer`` base class and the ``Sequential`` container.

A layer owns :class:`~chronoscale.nn.Parameter` objects and child layers; ``forward`` runs native
ops and keeps their caches, ``backward`` takes the gradient w.r.t. the output, accumulates the
parameters' gradients and returns the gradient w.r.t. the input. Layers are built lazily from the
first input's channel count (or eagerly with :meth:`Layer.build`), initialised like Keras.

Sequence layers take ``lengths [B]`` (None: all T) and set ``self.out_lengths`` to the lengths of
their output (convolutions and pooling shorten sequences; a recurrent layer without
``return_sequences`` has no time axis and sets None). :class:`Sequential` threads them through.
"""

from __future__ import annotations

import contextlib
import inspect

import numpy as np

from ..ops._common import as_bool as _as_bool
from ..ops._common import check_int
from . import device as _device
from .parameter import Parameter, check_values, weights_changed

_LAYERS: dict[str, type] = {}
# While loading a file: the number of parameter elements still allowed (the file's total), and
# initialisers are skipped (weights come from the file). None otherwise.
_LOAD_BUDGET: list | None = None


def _as_rng(rng):
    """``rng`` (a NumPy Generator, None, or a seed: an integer >= 0 or a sequence of them) as a
    Generator; TypeError / ValueError naming ``rng`` otherwise."""
    if isinstance(rng, np.random.Generator):
        return rng
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"rng must be a NumPy Generator, None or a seed (an integer >= 0), "
                        f"got {rng!r:.50}") from None


_M64 = (1 << 64) - 1


def mix_seed(*values: int) -> int:
    """A 63-bit seed from integers (splitmix64 finaliser over each), cheap and deterministic."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (int(v) & _M64)) * 0xBF58476D1CE4E5B9 & _M64
        h = (h ^ (h >> 27)) * 0x94D049BB133111EB & _M64
        h ^= h >> 31
    return h >> 1


def _input_dtype(x, default):
    """The dtype a lazily built layer takes from its first input (ids keep the default)."""
    dtype = np.dtype(getattr(x, "dtype", default))
    return dtype if dtype in (np.float32, np.float64) else default


# The most elements one parameter may have (2**35: 128 GiB of float32, beyond any one device;
# e.g. an item table of 500 million items x 64): a config asking for more is a mistake or a
# hostile file, refused before anything is allocated.
MAX_PARAM_ELEMENTS = 2**35


def check_input(x, name: str = "x"):
    """``x`` must be a NumPy / CuPy array with at least one axis (its last axis is the
    channels): TypeError for anything else (a list, None), ValueError for a 0-d array."""
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{name} must be a NumPy or CuPy array, got {type(x).__name__}")
    if len(x.shape) == 0:
        raise ValueError(f"{name} must have at least one axis (the channels), got a 0-d array")
    return x


def check_grad(dy, shape, name: str = "dy"):
    """``dy``, the gradient of an output of ``shape``: a NumPy / CuPy array of that shape;
    ``shape`` a list of shapes: a list / tuple with one such array (or None: no gradient) per
    output. TypeError / ValueError naming ``name`` otherwise."""
    if isinstance(shape, list):
        if not isinstance(dy, (list, tuple)) or len(dy) != len(shape):
            raise TypeError(f"{name} must be a list of {len(shape)} arrays (or None), one per "
                            f"output, got {type(dy).__name__}")
        return [None if d is None else check_grad(d, sh, f"{name}[{i}]")
                for i, (d, sh) in enumerate(zip(dy, shape))]
    check_input(dy, name)
    if tuple(dy.shape) != tuple(shape):
        raise ValueError(f"{name} must have the output's shape {tuple(shape)}, got "
                         f"{tuple(dy.shape)}")
    return dy


def _check_in_features(in_features):
    """``in_features``: None, an integer >= 1, or a tuple / list of them (e.g. ScaleFusion's
    ``(S, K)``); TypeError / ValueError naming it otherwise."""
    if in_features is None:
        return None
    if isinstance(in_features, (tuple, list)):
        return type(in_features)(check_int(v, "in_features") for v in in_features)
    return check_int(in_features, "in_features")


def _as_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


class Layer:
    """Base class: parameters, children, state dicts, building, config.

    Subclasses implement ``_build(in_features, rng)`` (create parameters with :meth:`add_param`),
    ``output_features(in_features)``, ``forward`` and ``backward``. Constructor arguments must be
    JSON-serialisable and stored as attributes of the same name (``get_config`` reads them).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _LAYERS[cls.__name__] = cls

    def __init__(self):
        self._params: dict[str, Parameter] = {}
        self._children: dict[str, Layer] = {}
        self.out_lengths = None
        self.in_features = None
        self.dtype = np.dtype(np.float32)
        self.built = False
        self.device = "cpu"

    # -- structure -----------------------------------------------------------------------------
    def add_param(self, name: str, shape, init=None) -> Parameter:
        """Create parameter ``name`` of ``shape``; ``init()`` returns its initial values
        (None: zeros). While a file is being loaded, ``init`` is not called and the size is
        checked against the file's tensors before anything is allocated; otherwise a parameter
        may hold at most ``MAX_PARAM_ELEMENTS`` (2**35) elements (ValueError beyond)."""
        shape = tuple(int(d) for d in shape)
        n = int(np.prod(shape, dtype=object))
        if min(shape, default=0) < 0:
            raise ValueError(f"parameter {name}: negative size in shape {shape}")
        if _LOAD_BUDGET is not None:
            if n > _LOAD_BUDGET[0]:
                raise ValueError(f"parameter {name} {shape} is larger than the saved tensors")
            _LOAD_BUDGET[0] -= n
            data = np.zeros(shape, dtype=self.dtype)
        elif n > MAX_PARAM_ELEMENTS:
            raise ValueError(f"parameter {name} of shape {shape} is too large: {n} elements, "
                             f"at most {MAX_PARAM_ELEMENTS} (2**35) per parameter")
        else:
            data = np.zeros(shape, dtype=self.dtype) if init is None else np.asarray(init())
            if data.shape != shape:
                raise AssertionError(f"{name}: initialiser gave {data.shape}, expected {shape}")
        p = Parameter(_device.to_device(np.asarray(data, dtype=self.dtype), self.device))
        self._params[name] = p
        return p

    def add_child(self, name: str, layer: Layer) -> Layer:
        if not isinstance(layer, Layer):
            raise TypeError(f"child {name!r} must be a Layer, got {type(layer).__name__}")
        self._children[name] = layer
        return layer

    def named_parameters(self, prefix: str = ""):
        """``[(dotted_name, Parameter)]`` of this layer and its children, in a stable order."""
        out = [(prefix + n, p) for n, p in self._params.items()]
        for name, child in self._children.items():
            out.extend(child.named_parameters(f"{prefix}{name}."))
        return out

    def parameters(self) -> list:
        return [p for _, p in self.named_parameters()]

    def walk(self):
        """This layer and all descendants (depth first)."""
        yield self
        for child in self._children.values():
            yield from child.walk()

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def state_dict(self) -> dict:
        """``{name: array}`` (the live arrays on the layer's device, not copies)."""
        return {n: p.data for n, p in self.named_parameters()}

    def to(self, device) -> Layer:
        """Move every parameter (and future builds) of this layer and its descendants to
        ``device`` (``"cpu"``: NumPy, ``"cuda"``: CuPy); gradients are dropped. Returns self.

        Raises:
            ValueError: an unknown device. RuntimeError: ``"cuda"`` where chronoscale has no
                CUDA build, device or CuPy.
        """
        device = _device.check(device)
        if device == "cuda":
            _device.require_cuda()
        for layer in self.walk():
            layer.device = device
            for p in layer._params.values():
                p.data = _device.to_device(p.data, device)
                p.zero_grad()
        return self

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copy arrays into the parameters (shapes must match; real dtypes are cast to the
        layer's, never losing values: complex arrays, NaN / inf and values beyond the
        parameter's dtype, e.g. 1e300 for float32, are refused). Nothing is copied unless every
        array is accepted.

        Raises:
            TypeError: ``state`` not a dict, a non-real (complex, string, object) array.
            ValueError: unbuilt layer, missing or (``strict``) unexpected names, shape mismatch,
                NaN / inf, a value that overflows the parameter's dtype.
        """
        if not isinstance(state, dict):
            raise TypeError(f"load_state_dict: state must be a dict of arrays, got "
                            f"{type(state).__name__}")
        strict = _as_bool(strict, "strict")
        if not self.built:
            raise ValueError("load_state_dict: build the layer first (call build(in_features))")
        params = dict(self.named_parameters())
        missing = [n for n in params if n not in state]
        extra = [n for n in state if n not in params]
        if missing or (strict and extra):
            raise ValueError(f"load_state_dict: missing {missing}, unexpected {extra}")
        staged = []
        for name, p in params.items():
            arr = state[name]
            if not _device.is_device_array(arr):
                arr = np.asarray(arr)
            if arr.shape != p.data.shape:
                raise ValueError(
                    f"load_state_dict: {name} has shape {arr.shape}, expected {p.data.shape}"
                )
            check_values(arr, p.data.dtype, f"load_state_dict: {name}")
            staged.append((p, _device.to_device(arr, self.device, p.data.dtype)))
        for p, new in staged:
            p.data[...] = new
        weights_changed()

    # -- building ------------------------------------------------------------------------------
    def build(self, in_features, rng=None, dtype=None) -> Layer:
        """Create the parameters for inputs with ``in_features`` channels.

        ``rng``: a NumPy Generator or seed for the initialisers; ``dtype``: float32 (default)
        or float64. Returns self. Building twice re-initialises.
        """
        in_features = _check_in_features(in_features)
        if dtype is not None:
            self.dtype = _as_dtype(dtype)
        self._params.clear()
        self.in_features = in_features
        self._build(in_features, _as_rng(rng))
        self.built = True
        weights_changed()
        return self

    def _build(self, in_features, rng) -> None:
        pass

    def output_features(self, in_features):
        return in_features

    def _ensure_built(self, x) -> None:
        check_input(x)
        if not self.built:
            self.build(x.shape[-1], np.random.default_rng(0), _input_dtype(x, self.dtype))

    def astype(self, dtype) -> Layer:
        """Cast every parameter (and future builds) to ``dtype``; returns self."""
        self.dtype = _as_dtype(dtype)
        for p in self._params.values():
            p.data = _device.xp(p.data).ascontiguousarray(p.data, dtype=self.dtype)
            p.zero_grad()
        for child in self._children.values():
            child.astype(dtype)
        return self

    _random = False  # True for layers that draw random numbers (dropout)
    # False: backward need not return the input's gradient (a first layer fed with data);
    # layers that can skip it do (conv1d), the others ignore it. Set by containers and fit.
    input_grad = True

    def set_seed(self, seed: int) -> None:
        """Seed the layer's randomness (dropout masks) for the next forward passes; each random
        descendant gets its own seed derived from ``seed`` and its position."""
        seed = check_int(seed, "seed", None)  # ("x" or 1.5: refused, never truncated)
        seeded = self.__dict__.get("_seeded")
        if seeded is None:  # the structure is fixed after construction: find random children once
            seeded = [(i, c) for i, c in enumerate(self._children.values())
                      if any(layer._random for layer in c.walk())]
            self._seeded = seeded
        for i, child in seeded:
            child.set_seed(mix_seed(seed, i))

    # -- config --------------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Constructor arguments (JSON-serialisable) plus ``in_features`` and ``dtype``."""
        sig = inspect.signature(type(self).__init__)
        cfg = {n: getattr(self, n) for n in sig.parameters if n != "self" and hasattr(self, n)}
        for n, v in cfg.items():
            if isinstance(v, tuple):
                cfg[n] = list(v)
        return {
            "class": type(self).__name__,
            "config": cfg,
            "in_features": self.in_features,
            "dtype": self.dtype.name,
            "built": self.built,
        }

    # -- computation ---------------------------------------------------------------------------
    def forward(self, x, training: bool = False, lengths=None):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def __call__(self, x, training: bool = False, lengths=None, **kwargs):
        return self.forward(x, training=training, lengths=lengths, **kwargs)

    def __repr__(self) -> str:
        cfg = self.get_config()["config"]
        args = ", ".join(f"{k}={v!r}" for k, v in cfg.items() if k != "layers")
        return f"{type(self).__name__}({args})"


def layer_from_config(spec: dict, tensors: dict | None = None) -> Layer:
    """Rebuild a layer from ``get_config()``; with ``tensors`` (a state dict) load them.

    With ``tensors`` no initialiser runs and no parameter larger than the tensors' total is
    allocated (a hostile config cannot ask for huge weights), then the shapes must match.
    Without, a built layer gets fresh weights (``rng`` 0).

    Raises ValueError for an unknown class name (only chronoscale layers are accepted), bad
    config values, or tensors that do not match.
    """
    if tensors is not None and not isinstance(tensors, dict):
        raise TypeError(f"tensors must be a state dict {{name: array}} or None, got "
                        f"{type(tensors).__name__}")
    if tensors is None:
        return _from_config(spec)
    with loading(tensors):
        layer = _from_config(spec)
    layer.load_state_dict(tensors)
    return layer


@contextlib.contextmanager
def loading(tensors: dict):
    """While active, ``add_param`` skips initialisers and refuses to allocate more parameter
    elements than ``tensors`` hold in total (loading untrusted files)."""
    global _LOAD_BUDGET
    _LOAD_BUDGET = [sum(int(np.asarray(v).size) for v in tensors.values())]
    try:
        yield
    finally:
        _LOAD_BUDGET = None


def _from_config(spec, build=True):
    if not isinstance(spec, dict) or not isinstance(spec.get("class"), str) or \
            spec["class"].startswith("_") or spec["class"] not in _LAYERS:
        raise ValueError(f"unknown layer spec {spec!r:.200}")
    cls = _LAYERS[spec["class"]]
    cfg = spec.get("config", {})
    if not isinstance(cfg, dict):
        raise ValueError(f"layer config must be an object, got {cfg!r:.200}")
    cfg = dict(cfg)
    if cls is Sequential:
        specs = cfg.get("layers", [])
        if not isinstance(specs, list):
            raise ValueError(f"Sequential config: layers must be a list of layer specs, got "
                             f"{specs!r:.200}")
        cfg["layers"] = [_from_config(s, build=False) for s in specs]
    try:
        layer = cls(**cfg)
    except TypeError as exc:
        raise ValueError(f"bad config for {cls.__name__}: {exc}") from None
    if build and spec.get("built"):
        if spec.get("in_features") is not None and type(spec["in_features"]) is not int:
            raise ValueError(f"in_features must be an integer, got {spec['in_features']!r:.50}")
        layer.build(spec.get("in_features"), 0, spec.get("dtype", "float32"))
    return layer


class Sequential(Layer):
    """Layers applied in order; ``lengths`` (and ``timestamps`` for layers that take them) are
    passed along. Parameters are named ``"<index>.<name>"``."""

    def __init__(self, layers=()):
        super().__init__()
        if layers is None or isinstance(layers, (Layer, str, bytes, dict)) or \
                not hasattr(layers, "__iter__"):
            raise TypeError(f"layers must be a list of layers (nn.Sequential([nn.Dense(8), "
                            f"...])), got {type(layers).__name__}")
        layers = list(layers)  # (a generator too)
        for i, layer in enumerate(layers):
            self.add_child(str(i), layer)

    @property
    def layers_list(self) -> list:
        return list(self._children.values())

    def _build(self, in_features, rng) -> None:
        f = in_features
        for layer in self._children.values():
            layer.build(f, rng, self.dtype)
            f = layer.output_features(f)

    def output_features(self, in_features):
        f = in_features
        for layer in self._children.values():
            f = layer.output_features(f)
        return f

    def build(self, in_features, rng=None, dtype=None) -> Sequential:
        in_features = _check_in_features(in_features)
        if dtype is not None:
            self.dtype = _as_dtype(dtype)
        self.in_features = in_features
        self._build(in_features, _as_rng(rng))
        self.built = True
        weights_changed()
        return self

    def forward(self, x, training: bool = False, lengths=None, timestamps=None):
        training = _as_bool(training, "training")
        if not self.built:
            check_input(x)
            self.build(x.shape[-1], np.random.default_rng(0), _input_dtype(x, self.dtype))
        for layer in self._children.values():
            if getattr(layer, "uses_timestamps", False):
                x = layer.forward(x, training=training, lengths=lengths, timestamps=timestamps)
            else:
                x = layer.forward(x, training=training, lengths=lengths)
            lengths = layer.out_lengths
        self.out_lengths = lengths
        return x

    def backward(self, dy):
        layers = list(self._children.values())
        if layers:
            layers[0].input_grad = self.input_grad
        for layer in reversed(layers):
            dy = layer.backward(dy)
        return dy

    def get_config(self) -> dict:
        spec = super().get_config()
        spec["config"] = {"layers": [c.get_config() for c in self._children.values()]}
        return spec
