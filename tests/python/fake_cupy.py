"""A stand-in for CuPy on machines without a GPU, to test the device plumbing of the models.

``FakeArray`` wraps a NumPy array and behaves like a CuPy array where it matters for finding
host/device mistakes: NumPy functions and ufuncs dispatch to it (NEP 18 / NEP 13, as CuPy's do)
and return FakeArrays, but implicit conversion to NumPy (``np.asarray(a)``, ``np.array(a)``)
raises TypeError as CuPy does; ``a.get()`` copies to the host. Mixing a FakeArray with a NumPy
array in an arithmetic operation or ufunc also raises (CuPy refuses NumPy operands), while
NumPy integer arrays used as indices are allowed (CuPy accepts them).

``install(monkeypatch)`` puts a fake ``cupy`` module in ``sys.modules`` and wraps every
function of ``chronoscale._core`` so that FakeArrays are unwrapped before the native call and the
arrays it returns are wrapped again when any argument was a FakeArray: the native kernels run on
the CPU, everything around them sees "device" arrays. It cannot find what only a real GPU shows
(CuPy functions NumPy has but CuPy lacks, streams, the CUDA kernels themselves): those are the
gpu-marked tests.
"""

from __future__ import annotations

import sys
import types

import numpy as np


def _unwrap(x):
    if isinstance(x, FakeArray):
        return x._a
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _wrap(x):
    if isinstance(x, np.ndarray):
        return FakeArray(x)
    if isinstance(x, np.generic):  # CuPy's reductions and scalar indexing give 0-d arrays
        return FakeArray(np.asarray(x))
    if isinstance(x, (list, tuple)) and not hasattr(x, "_fields"):
        return type(x)(_wrap(v) for v in x)
    if hasattr(x, "_fields"):  # namedtuple caches
        return type(x)(*(_wrap(v) for v in x))
    return x


def _any_fake(x) -> bool:
    if isinstance(x, FakeArray):
        return True
    if isinstance(x, (list, tuple)):
        return any(_any_fake(v) for v in x)
    if isinstance(x, dict):
        return any(_any_fake(v) for v in x.values())
    return False


def _no_host(args, what):
    for v in args:
        if isinstance(v, np.ndarray) and v.ndim > 0:
            raise TypeError(f"fake cupy: {what} got a NumPy array operand (CuPy refuses host "
                            "arrays; move it with cupy.asarray)")


class FakeArray(np.lib.mixins.NDArrayOperatorsMixin):
    __slots__ = ("_a",)

    def __init__(self, a):
        self._a = a

    # -- the CuPy surface ---------------------------------------------------------------------
    def get(self):
        return self._a.copy()

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed (fake cupy); "
                        "use .get()")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # ufunc.at's second operand is an index: NumPy integer arrays are fine there
        _no_host([v for i, v in enumerate(inputs) if not (method == "at" and i == 1)],
                 f"ufunc {ufunc.__name__}")
        if "out" in kwargs:
            kwargs["out"] = tuple(_unwrap(o) for o in kwargs["out"])
        out = getattr(ufunc, method)(*_unwrap(inputs), **_unwrap(kwargs))
        return None if method == "at" else _wrap(out)

    def __array_function__(self, func, types_, args, kwargs):
        if func in (np.asarray, np.array, np.asanyarray):
            raise TypeError("Implicit conversion to a NumPy array is not allowed (fake cupy)")
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    # -- array protocol -----------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: self._a.flags)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    T = property(lambda self: FakeArray(self._a.T))
    device = property(lambda self: "fake-cuda")

    @property
    def __cuda_array_interface__(self):  # how chronoscale.ops recognise device arrays (the
        # _core wrapper unwraps FakeArrays before any native call reads this)
        return {"shape": self._a.shape, "typestr": self._a.dtype.str,
                "data": (self._a.ctypes.data, False), "version": 3, "strides": None}

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(v) for v in self._a)

    def __getitem__(self, idx):
        return _wrap(self._a[_unwrap(idx)])

    def __setitem__(self, idx, value):
        if isinstance(value, np.ndarray) and value.ndim > 0:
            raise TypeError("fake cupy: assigning a NumPy array into a device array")
        self._a[_unwrap(idx)] = _unwrap(value)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __bool__(self):
        return bool(self._a)

    def __index__(self):
        return int(self._a)

    def __repr__(self):
        return f"FakeArray({self._a!r})"

    def __getattr__(self, name):  # methods: astype, reshape, sum, copy, fill, ...
        if name.startswith("__"):  # no __array_interface__ & co.: no implicit host conversion
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):
            return lambda *a, **k: _wrap(attr(*_unwrap(a), **_unwrap(k)))
        return _wrap(attr)


class _FakeModule(types.ModuleType):
    def __getattr__(self, name):  # any other NumPy function, on FakeArrays
        fn = getattr(np, name)
        if not callable(fn) or isinstance(fn, (type, np.ufunc)):  # ufuncs (add.at, ...)
            return fn  # dispatch to FakeArray.__array_ufunc__ themselves
        return lambda *a, **k: _wrap(fn(*_unwrap(a), **_unwrap(k)))


def _module():
    m = _FakeModule("cupy")
    m.ndarray = FakeArray
    m.__version__ = "fake"

    def asarray(a, dtype=None, order=None):
        if isinstance(a, FakeArray):
            return a if dtype is None or a.dtype == dtype else FakeArray(a._a.astype(dtype))
        return FakeArray(np.array(a, dtype=dtype, order=order or "K", copy=True))

    def asnumpy(a):
        return a.get() if isinstance(a, FakeArray) else np.asarray(a)

    def get_array_module(*args):
        return m if any(isinstance(a, FakeArray) for a in args) else np

    def array(a, dtype=None, copy=True, order="K"):
        if isinstance(a, FakeArray):
            return FakeArray(np.array(a._a, dtype=dtype, copy=copy, order=order))
        return FakeArray(np.array(a, dtype=dtype, copy=True, order=order))

    m.asarray = asarray
    m.array = array
    m.ascontiguousarray = lambda a, dtype=None: FakeArray(np.ascontiguousarray(_unwrap(a),
                                                                               dtype=dtype))
    m.asnumpy = asnumpy
    m.get_array_module = get_array_module
    m.cuda = types.SimpleNamespace(
        get_current_stream=lambda: types.SimpleNamespace(ptr=0, synchronize=lambda: None),
        Device=lambda *a: types.SimpleNamespace(synchronize=lambda: None))
    return m


# Entries of each scale's tuple from _core.multiscale_forward that the binding returns as host
# (NumPy) arrays whatever the device of x: out_lengths, first_window, counts, window_start,
# event_step, closed_before (cpp/bindings/multiscale.cpp).
_MULTISCALE_HOST = frozenset({0, 1, 3, 4, 6, 7})


# The _core losses whose sixth argument (device_loss) leaves the loss on the device.
_DEVICE_LOSS = frozenset({"full_softmax_loss", "point_loss"})


def install(monkeypatch):
    """Fake CuPy + a _core whose functions unwrap FakeArrays; returns the fake module."""
    import chronoscale._core as core

    fake = _module()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    from chronoscale.nn import device

    # copies to the "device" as cupy.asarray does, even where a real GPU is present
    monkeypatch.setattr(device, "_NATIVE_UPLOAD", False)
    for name in dir(core):
        fn = getattr(core, name)
        if name.startswith("_") or not callable(fn) or isinstance(fn, type):
            continue

        def call(*a, _fn=fn, _name=name, **k):
            out = _fn(*_unwrap(a), **_unwrap(k))
            if not _any_fake((a, k)):
                return out
            if _name in _DEVICE_LOSS and len(a) > 5 and a[5]:  # loss_on_device: 0-d on device
                out = (np.asarray(out[0], np.float64), *out[1:])
            if _name == "multiscale_forward":  # per scale: the integer plans stay on the host
                return [tuple(v if i in _MULTISCALE_HOST else _wrap(v) for i, v in enumerate(st))
                        for st in out]
            return _wrap(out)

        monkeypatch.setattr(core, name, call)
    return fake
