"""Count what one GPU training step of the MultiScaleRecommender asks of the device, without a GPU.

The GPU recommender step is bound by the host (bench/results/gpu_h200.md: host CPU time equals
wall time): every CuPy operation is a kernel launch (~5-10 us of Python + driver each), every
``cupy.asarray`` of a host array is a host-to-device copy, and every ``.get()`` / ``float()`` /
``int()`` / ``bool()`` of a device array waits for the GPU (a sync). This script runs the step on
the CuPy stand-in of the tests (tests/python/fake_cupy.py: NumPy underneath, the native kernels
on the CPU) and counts, per step and per source line of chronoscale:

  native   calls into chronoscale._core with device arrays (each one or more kernel launches)
  cupy     CuPy operations that launch a kernel (ufuncs, reductions, fancy indexing, copies,
           module functions such as zeros / stack / concatenate / arange; not empty)
  h2d      host arrays copied to the device from Python (a native call's own copies of its
           host arguments -- lengths, batch sizes -- go through pinned staging and are not
           counted)
  sync     device values read on the host

    python bench/gpu/step_anatomy.py [--case train|recommend|forecast] [--batch 256]
        [--seq-len 192] [--top 25]

(``--case recommend``: one ``recommend(k=10)`` call over ``--batch`` histories instead;
``--case forecast``: one epoch of ``MultiScaleForecaster.fit`` on one batch of ``--batch``
sequences of 4 features, LSTM 64 units, scales 1/4/16 -- one training step with its data
upload and loss read-back.)

The counts are exact for the code path; how long each costs needs a GPU (compare_recommender.py
--device cuda).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

import fake_cupy  # noqa: E402

import chronoscale  # noqa: E402
from chronoscale.models import _recdata as rd  # noqa: E402
from chronoscale.nn import device as device_mod  # noqa: E402

_PKG = os.path.dirname(os.path.abspath(chronoscale.__file__))
COUNTS: collections.Counter = collections.Counter()
SITES: collections.Counter = collections.Counter()
ON = [False]


def _site() -> str:
    """The innermost chronoscale source line (outside this script and the stand-in)."""
    f = sys._getframe(2)
    while f is not None:
        path = f.f_code.co_filename
        if path.startswith(_PKG) and not path.endswith("_core_wrapper"):
            return f"{os.path.relpath(path, _PKG)}:{f.f_lineno} {f.f_code.co_name}"
        f = f.f_back
    return "?"


def _count(kind: str) -> None:
    if ON[0]:
        COUNTS[kind] += 1
        SITES[(kind, _site())] += 1


def _is_view_index(idx) -> bool:
    """Basic indexing (ints, slices, ellipsis, None) makes a view: no kernel."""
    items = idx if isinstance(idx, tuple) else (idx,)
    return all(isinstance(i, (int, np.integer, slice, type(Ellipsis), type(None)))
               for i in items)


def instrument(monkeypatch) -> None:
    """Wrap the stand-in's entry points with counters."""
    fa = fake_cupy.FakeArray
    orig = {n: getattr(fa, n) for n in ("__array_ufunc__", "__array_function__", "__getitem__",
                                        "__setitem__", "get", "__float__", "__int__",
                                        "__bool__", "__getattr__")}

    def ufunc(self, *a, **k):
        _count("cupy")
        return orig["__array_ufunc__"](self, *a, **k)

    def function(self, func, *a, **k):
        _count("cupy")
        return orig["__array_function__"](self, func, *a, **k)

    def host_indices(idx):  # CuPy copies NumPy index arrays to the device
        for i in idx if isinstance(idx, tuple) else (idx,):
            if isinstance(i, np.ndarray) and i.ndim > 0:
                _count("h2d")

    def getitem(self, idx):
        if not _is_view_index(idx):
            _count("cupy")
            host_indices(idx)
        return orig["__getitem__"](self, idx)

    def setitem(self, idx, value):
        _count("cupy")
        host_indices(idx)
        return orig["__setitem__"](self, idx, value)

    def syncing(name):
        def f(self, *a):
            _count("sync")
            if os.environ.get("ANATOMY_TRACE_SYNC"):
                import traceback
                traceback.print_stack(limit=6)
            return orig[name](self, *a)
        return f

    views = {"reshape", "view", "ravel", "transpose", "squeeze"}
    plain = {"shape", "dtype", "ndim", "size", "nbytes", "flags", "strides", "itemsize",
             "data", "ctypes", "base"}

    def getattr_(self, name):
        if name not in views and name not in plain and not name.startswith("__"):
            _count("cupy")
        return orig["__getattr__"](self, name)

    for name, fn in (("__array_ufunc__", ufunc), ("__array_function__", function),
                     ("__getitem__", getitem), ("__setitem__", setitem),
                     ("get", syncing("get")), ("__float__", syncing("__float__")),
                     ("__int__", syncing("__int__")), ("__bool__", syncing("__bool__")),
                     ("__getattr__", getattr_)):
        monkeypatch.setattr(fa, name, fn)


# Module functions of CuPy that allocate without a kernel (or are not array functions at all).
_NO_KERNEL = {"empty", "empty_like", "dtype", "result_type", "promote_types", "iinfo", "finfo",
              "can_cast", "shape", "ndim", "size", "isscalar"}


def _counted(fn):
    def call(*a, **k):
        _count("cupy")
        return fn(*a, **k)
    return call


def _count_module_functions(monkeypatch) -> None:
    """cupy.zeros / stack / concatenate / arange / where / ... launch kernels too."""
    orig = fake_cupy._FakeModule.__getattr__

    def getattr_(self, name):
        fn = orig(self, name)
        if name in _NO_KERNEL or not callable(fn) or isinstance(fn, (type, np.ufunc)):
            return fn
        return _counted(fn)

    monkeypatch.setattr(fake_cupy._FakeModule, "__getattr__", getattr_)


def install(monkeypatch):
    cp = fake_cupy.install(monkeypatch)
    import chronoscale._core as core

    for name in dir(core):  # count the native calls that get device arrays
        fn = getattr(core, name)
        if name.startswith("_") or not callable(fn) or isinstance(fn, type):
            continue

        def call(*a, _fn=fn, **k):
            if fake_cupy._any_fake((a, k)):
                _count("native")
            return _fn(*a, **k)

        monkeypatch.setattr(core, name, call)
    asarray = cp.asarray

    def counted_asarray(a, dtype=None, order=None):
        if not isinstance(a, fake_cupy.FakeArray):
            _count("h2d")
        return asarray(a, dtype=dtype, order=order)

    cp.asarray = counted_asarray
    contiguous = cp.ascontiguousarray

    def counted_contiguous(a, dtype=None):  # CuPy copies (a kernel) only when it must
        if isinstance(a, fake_cupy.FakeArray) and not (
                a._a.flags.c_contiguous and (dtype is None or np.dtype(dtype) == a.dtype)):
            _count("cupy")
        return contiguous(a, dtype=dtype)

    cp.ascontiguousarray = counted_contiguous
    cp.array = _counted(cp.array)
    monkeypatch.setattr(device_mod, "require_cuda", lambda: None)
    instrument(monkeypatch)
    _count_module_functions(monkeypatch)
    return cp


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--seq-len", type=int, default=192)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--case", choices=("train", "recommend", "forecast"), default="train")
    args = p.parse_args(argv)
    COUNTS.clear()
    SITES.clear()
    import compare_recommender as cr
    import pytest

    rng = np.random.default_rng(0)
    B, T, V = args.batch, args.seq_len, cr.V_ML1M
    ids, L = cr.histories("random", B, T, V, rng)
    mp = pytest.MonkeyPatch()
    try:
        install(mp)
        if args.case == "forecast":
            return _forecast(args, rng)
        m = cr.build(ids, L, V, 64, 128, ("1", "4", "16"), "float32")
        m.device = "cuda"
        m._place()
        net = m.net
        opt = m.optimizer_ = chronoscale.nn.Adam(net.parameters(), lr=1e-3, clipnorm=5.0)
        data = rd.read_histories(ids, L)
        idx = np.arange(B)

        def step():
            if args.case == "recommend":
                m.recommend(ids, k=10, lengths=L)
                return
            batch = rd.take(data, idx, net.dtype)
            opt.zero_grad()
            net.train_loss(batch["ids"], batch["lengths"], None, None, "full", wait=False)
            opt.step()

        step()  # warm-up (first-call allocations)
        ON[0] = True
        step()
        ON[0] = False
    finally:
        mp.undo()
    what = "recommend(k=10) call" if args.case == "recommend" else "train step"
    return _report(args, f"one MultiScaleRecommender {what}, B={B} T={T} (device='cuda' on "
                         "the stand-in)")


def _forecast(args, rng) -> dict:
    """The forecaster case of :func:`main` (inside its stand-in)."""
    from chronoscale.models import MultiScaleForecaster

    B, T = args.batch, args.seq_len
    X = rng.standard_normal((B, T, 4)).astype(np.float32)
    y = rng.standard_normal(B).astype(np.float32)
    L = rng.integers(1, T + 1, B)
    m = MultiScaleForecaster(units=64, device="cuda", random_state=0)
    m.fit(X, y, lengths=L, epochs=1, batch_size=B, verbose=0)  # warm-up (build, allocations)
    m.set_params(warm_start=True)
    ON[0] = True
    m.fit(X, y, lengths=L, epochs=1, batch_size=B, verbose=0)
    ON[0] = False
    return _report(args, f"one MultiScaleForecaster training step (fit, 1 epoch, 1 batch), "
                         f"B={B} T={T} (device='cuda' on the stand-in)")


def _report(args, title) -> dict:
    print(title)
    for kind in ("native", "cupy", "h2d", "sync"):
        print(f"  {kind:6s} {COUNTS[kind]:6d}")
    print(f"\ntop {args.top} source lines:")
    for (kind, site), n in SITES.most_common(args.top):
        print(f"  {n:5d} {kind:6s} {site}")
    return dict(COUNTS)


if __name__ == "__main__":
    main()
