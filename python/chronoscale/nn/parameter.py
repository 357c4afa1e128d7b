"""``Parameter``: a trainable array with its gradient (dense, or sparse rows for embeddings)."""

from __future__ import annotations

import numpy as np

from ..ops._common import int64_indices
from . import device as _device

_VERSION = [0]


def weights_version() -> int:
    """A counter that moves whenever chronoscale changes parameter values: optimiser steps,
    ``load_state_dict``, ``build``, ``astype``, and assigning ``Parameter.data`` (including
    ``p.data += ...``). Compiled inference plans compare it to know when to recompile. Writing
    into the array in place (``p.data[...] = ...``) is not seen; call :func:`weights_changed`."""
    return _VERSION[0]


def check_values(arr, dtype, name: str):
    """``arr`` (NumPy or CuPy) may be copied into a ``dtype`` parameter without losing values:
    a real dtype (TypeError for complex, string, object, bool), no NaN / inf and nothing beyond
    ``dtype``'s range (1e300 would become inf in float32) — ValueError naming ``name``."""
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.dtype.kind != "f" or arr.size == 0:
        return
    xp = _device.xp(arr)
    if not bool(xp.isfinite(arr).all()):
        raise ValueError(f"{name} contains NaN or inf")
    limit = float(np.finfo(dtype).max)
    if arr.dtype.itemsize > np.dtype(dtype).itemsize and float(xp.abs(arr).max()) > limit:
        raise ValueError(f"{name} holds values beyond the range of {np.dtype(dtype)} (the "
                         f"parameter's dtype, at most {limit:.4g})")


def weights_changed() -> None:
    """Mark every parameter as possibly changed (invalidates compiled plans)."""
    _VERSION[0] += 1


class Parameter:
    """A trainable array and the gradient of the last backward pass.

    Attributes:
        data: the values (NumPy, C-contiguous, float32 or float64). Optimisers update it in place.
        grad: dense gradient of ``data``'s shape and dtype, or None.
        rows, grad_rows: sparse gradient (embeddings): ``rows [U]`` int64 distinct row indices and
            ``grad_rows [U, D]``; every other row has zero gradient. None when dense or absent.
        trainable: False keeps the parameter fixed (optimisers and clipping skip it).

    A layer's backward *accumulates* into the gradient (so a parameter used twice, e.g. tied
    embeddings, gets the sum); call :meth:`zero_grad` (optimisers do) before the next batch.
    """

    __slots__ = ("_data", "grad", "rows", "grad_rows", "trainable")

    def __init__(self, data, trainable: bool = True):
        xp = _device.xp(data)
        data = xp.asarray(data)
        if data.dtype not in (np.float32, np.float64):
            raise TypeError(f"Parameter data must be float32 or float64, got {data.dtype}")
        self._data = xp.ascontiguousarray(data)
        self.grad = None
        self.rows = None
        self.grad_rows = None
        self.trainable = bool(trainable)

    @property
    def data(self):
        return self._data

    @data.setter
    def data(self, value) -> None:
        self._data = value
        _VERSION[0] += 1

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def has_grad(self) -> bool:
        return self.grad is not None or self.rows is not None

    @property
    def is_sparse(self) -> bool:
        """True when the pending gradient is sparse rows only."""
        return self.grad is None and self.rows is not None

    def zero_grad(self) -> None:
        self.grad = None
        self.rows = None
        self.grad_rows = None

    def accumulate(self, grad) -> None:
        """Add a dense gradient of ``data``'s shape."""
        xp = _device.xp(self._data)
        grad = xp.asarray(grad, dtype=self.data.dtype)
        if grad.shape != self.data.shape:
            raise ValueError(f"grad must have shape {self.data.shape}, got {grad.shape}")
        if self.grad is None:
            self.grad = xp.array(grad, copy=True, order="C")
        else:
            self.grad += grad
        if self.rows is not None:  # a dense gradient absorbs pending sparse rows
            np.add.at(self.grad, self.rows, self.grad_rows)
            self.rows = self.grad_rows = None

    def take(self, grad) -> None:
        """Add a dense gradient that the caller hands over (a fresh array no one else holds,
        e.g. a native op's output): kept as it is, without a copy, when no gradient is pending
        and it already has ``data``'s type, dtype, shape and C layout; else :meth:`accumulate`."""
        d = self._data
        if (self.grad is None and self.rows is None and type(grad) is type(d)
                and grad.dtype == d.dtype and grad.shape == d.shape
                and grad.flags.c_contiguous):
            self.grad = grad
        else:
            self.accumulate(grad)

    def accumulate_rows(self, rows, grad_rows) -> None:
        """Add a sparse gradient: ``grad[rows] += grad_rows`` (``rows [U]`` distinct integers in
        ``[0, data.shape[0])``, ``grad_rows [U, *data.shape[1:]]``).

        Raises:
            TypeError: non-integer ``rows`` (0.7 is refused, never truncated to row 0).
            ValueError: ``rows`` not 1-D or out of range, ``grad_rows`` of another shape.
        """
        if rows is None:
            raise TypeError("rows must be an array of integer row indices, got None")
        # host ids (copied)
        rows = np.array(int64_indices(_device.to_host(rows), "rows", "row indices"),
                        dtype=np.int64, order="C")
        if rows.ndim != 1:
            raise ValueError(f"rows must be 1-D, got shape {rows.shape}")
        n = self.data.shape[0] if self.data.ndim else 0
        if rows.size and (int(rows.min()) < 0 or int(rows.max()) >= n):
            raise ValueError(f"rows must lie in [0, {n}), got values in "
                             f"[{int(rows.min())}, {int(rows.max())}]")
        grad_rows = _device.xp(self._data).array(grad_rows, dtype=self.data.dtype, order="C")
        if grad_rows.shape != rows.shape + self.data.shape[1:]:
            raise ValueError(f"grad_rows must have shape {rows.shape + self.data.shape[1:]}, "
                             f"got {grad_rows.shape}")
        if self.grad is not None:
            np.add.at(self.grad, rows, grad_rows)
        elif self.rows is None:
            self.rows, self.grad_rows = rows, grad_rows
        else:
            both = np.concatenate([self.rows, rows])
            uniq, inv = np.unique(both, return_inverse=True)
            summed = _device.xp(self._data).zeros((uniq.size,) + self.data.shape[1:],
                                                  dtype=self.data.dtype)
            np.add.at(summed, inv, np.concatenate([self.grad_rows, grad_rows]))
            self.rows, self.grad_rows = uniq, summed

    def grad_arrays(self) -> list:
        """The arrays holding the pending gradient (for norms and clipping)."""
        if self.grad is not None:
            return [self.grad]
        if self.rows is not None:
            return [self.grad_rows]
        return []

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"
