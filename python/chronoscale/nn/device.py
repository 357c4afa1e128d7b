"""Devices of the nn layers and models: ``"cpu"`` (NumPy arrays) or ``"cuda"`` (CuPy arrays).

A layer's parameters, gradients and optimiser state live on its device; ``Layer.to(device)``
moves them. The native ops run on the device of their inputs, so a forward / backward pass
on CUDA arrays stays on the GPU; only the per-batch inputs are copied there (``to_device``,
through the native pinned staging: no wait for the device) and only the losses, metrics and
final predictions come back. Host-side bookkeeping
(lengths, positions, shuffling) stays in NumPy.
"""

from __future__ import annotations

import sys

import numpy as np

from .. import _core

DEVICES = ("cpu", "cuda")


def check(device) -> str:
    """``device`` as ``"cpu"`` or ``"cuda"``; ValueError otherwise."""
    if device not in DEVICES:
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    return device


def require_cuda() -> None:
    """Raise a clear RuntimeError unless chronoscale can run on a CUDA device here."""
    from .. import build_info

    info = build_info()
    if not info.get("cuda"):
        raise RuntimeError("device='cuda': this chronoscale was built without CUDA (reinstall "
                           "with CHRONOSCALE_CUDA=ON); use device='cpu'")
    if not info.get("cuda_available"):
        raise RuntimeError("device='cuda': no usable CUDA device was found; use device='cpu'")
    from .._cuda import _cupy

    _cupy()  # CuPy installed (chronoscale[cuda])


def _cupy_module():
    return sys.modules.get("cupy")


def is_device_array(a) -> bool:
    """True for a CuPy array (CuPy must already be imported, which it is once one exists)."""
    if type(a) is np.ndarray:
        return False
    cp = _cupy_module()
    return cp is not None and isinstance(a, cp.ndarray)


def xp(a):
    """The array module of ``a``: ``cupy`` for CuPy arrays, else ``numpy``."""
    if type(a) is np.ndarray:
        return np
    return _cupy_module() if is_device_array(a) else np


def xp_for(device: str):
    """The array module of ``device``."""
    if device == "cpu":
        return np
    from .._cuda import _cupy

    return _cupy()


def to_device(a, device: str, dtype=None):
    """``a`` (NumPy, CuPy or None) as a C-contiguous array on ``device``; no copy when it is
    already there with the dtype."""
    if a is None:
        return None
    if device == "cpu":
        if is_device_array(a):
            a = a.get()
        return np.ascontiguousarray(a, dtype=dtype)
    cp = xp_for("cuda")
    if isinstance(a, np.ndarray) and _native_upload():  # (other device arrays: CuPy reads them)
        h = np.ascontiguousarray(a, dtype=dtype)
        if h.dtype in _UPLOAD_DTYPES:
            return _upload(h, cp)
    return cp.ascontiguousarray(cp.asarray(a, dtype=dtype))


# The dtypes the native upload copies (those of the native ops); others go through CuPy.
_UPLOAD_DTYPES = frozenset(map(np.dtype, (np.float32, np.float64, np.int64, np.int32)))


def _upload(host, cp):
    """The C-contiguous host array ``host`` copied into a new CuPy array through the native
    pinned staging (queued on CuPy's current stream: no wait for the device, where a copy from
    pageable memory by ``cupy.asarray`` may wait for the stream's earlier work)."""
    out = cp.empty(host.shape, dtype=host.dtype)
    _core.cuda_upload(host, out)
    return out


def _native_upload() -> bool:
    """Whether the native module can copy to a GPU itself (a CUDA build with a device)."""
    global _NATIVE_UPLOAD
    if _NATIVE_UPLOAD is None:
        _NATIVE_UPLOAD = _core.cuda_device_count() > 0
    return _NATIVE_UPLOAD


_NATIVE_UPLOAD = None


def to_device_many(arrays, device: str, dtype=np.int64) -> list:
    """Several host arrays on ``device`` with one copy (concatenated, then split into views of
    their shapes): each copy costs host time, whatever its size. On a GPU the copy goes through
    the native module's pinned staging (``_core.cuda_upload``: queued on CuPy's current stream,
    no wait for the device; a copy from pageable memory may wait, and runs at pageable speed)."""
    arrays = [np.asarray(a, dtype=dtype) for a in arrays]
    host = np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0, dtype)
    if device != "cpu" and _native_upload() and host.dtype in _UPLOAD_DTYPES:
        flat = _upload(host, xp_for(device))
    else:
        flat = to_device(host, device)
    out, at = [], 0
    for a in arrays:
        out.append(flat[at:at + a.size].reshape(a.shape))
        at += a.size
    return out


def to_host(a):
    """``a`` as a NumPy array (copied from the GPU when it is a CuPy array)."""
    return a.get() if is_device_array(a) else np.asarray(a)


def device_of(a) -> str:
    return "cuda" if is_device_array(a) else "cpu"


def contiguous(a, dtype=None):
    """``a`` C-contiguous on its own device (``ascontiguousarray`` of NumPy or CuPy)."""
    if type(a) is np.ndarray:
        return np.ascontiguousarray(a, dtype=dtype)
    return xp(a).ascontiguousarray(a, dtype=dtype)
