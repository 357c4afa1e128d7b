"""How the native module reads CUDA arrays (cpp/bindings/common.cpp): each CUDA argument's
``__cuda_array_interface__`` is read at most once per call, and a C-contiguous ``cupy.ndarray``
is read through its dtype, shape and data pointer without it (CuPy builds that dict, with
``dtype.descr`` and the current stream, at every access). Checked without a GPU: the arrays
below only claim to be on the device, and the op fails after reading them (no CUDA build or
device, or no CuPy to allocate its outputs); their dtype, shape and layout errors come first."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from chronoscale import ops

from helpers import FakeCudaArray, skip_if_cuda_device


class _Flags:
    def __init__(self, c):
        self.c_contiguous = c


class _Pointer:
    ptr = 0  # never dereferenced: the op stops before any kernel


class _FakeCupyNdarray(FakeCudaArray):
    """Looks like a cupy.ndarray where the fast path reads it."""

    def __init__(self, shape, dtype=np.float32, contiguous=True):
        super().__init__(shape, np.dtype(dtype).str)
        self.dtype = np.dtype(dtype)
        self.flags = _Flags(contiguous)
        self.data = _Pointer()
        if not contiguous:  # what the interface says of a transposed array
            self.strides = np.zeros(shape, dtype, order="F").strides


@pytest.fixture
def fake_cupy_module(monkeypatch):
    """A ``cupy`` module in sys.modules whose ndarray is _FakeCupyNdarray (only while the test
    runs: the native module looks CuPy up at every call)."""
    mod = types.ModuleType("cupy")
    mod.ndarray = _FakeCupyNdarray

    def unavailable(*args, **kwargs):  # the op's first output allocation: stop there
        raise RuntimeError("no CUDA device (test stand-in for CuPy)")

    mod.empty = mod.zeros = unavailable
    monkeypatch.setitem(sys.modules, "cupy", mod)
    return mod


def test_cuda_array_interface_read_once():
    skip_if_cuda_device()
    x, w_ih, w_hh = FakeCudaArray((2, 3, 4)), FakeCudaArray((6, 4)), FakeCudaArray((6, 2))
    with pytest.raises(RuntimeError, match="CUDA"):
        ops.gru_forward(x, w_ih, w_hh)
    assert (x.reads, w_ih.reads, w_hh.reads) == (1, 1, 1)


def test_cupy_ndarray_read_without_the_interface(fake_cupy_module):
    skip_if_cuda_device()
    x, w_ih, w_hh = (_FakeCupyNdarray(s) for s in [(2, 3, 4), (6, 4), (6, 2)])
    with pytest.raises(RuntimeError, match="CUDA"):
        ops.gru_forward(x, w_ih, w_hh)
    assert (x.reads, w_ih.reads, w_hh.reads) == (0, 0, 0)
    # Shapes and dtypes come from the array itself: the usual errors.
    with pytest.raises(ValueError, match=r"w_hh must have shape \[3H, H\]"):
        ops.gru_forward(x, w_ih, _FakeCupyNdarray((6, 3)))
    with pytest.raises(TypeError, match="x has unsupported dtype float16"):
        ops.gru_forward(_FakeCupyNdarray((2, 3, 4), np.float16), w_ih, w_hh)
    with pytest.raises(TypeError, match="x must be in native byte order"):
        ops.gru_forward(_FakeCupyNdarray((2, 3, 4), ">f4"), w_ih, w_hh)


def test_non_contiguous_cupy_ndarray_takes_the_interface_path(fake_cupy_module):
    """Not C-contiguous: read through the interface, which names the argument and the fix."""
    skip_if_cuda_device()
    x = _FakeCupyNdarray((2, 3, 4), contiguous=False)
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        ops.gru_forward(x, _FakeCupyNdarray((6, 4)), _FakeCupyNdarray((6, 2)))
    assert x.reads == 1


def test_subclass_is_not_taken_for_cupy(fake_cupy_module):
    """Only exactly cupy.ndarray takes the fast path; anything else reads the interface."""
    skip_if_cuda_device()

    class Sub(_FakeCupyNdarray):
        pass

    x = Sub((2, 3, 4))
    with pytest.raises(RuntimeError, match="CUDA"):
        ops.gru_forward(x, _FakeCupyNdarray((6, 4)), _FakeCupyNdarray((6, 2)))
    assert x.reads == 1
