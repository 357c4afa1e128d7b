"""Row gather and scatter-add through an index array: the glue of a model that scores selected
events (pick rows of a state or embedding block; send their gradients back), one native call
each instead of fancy indexing, a mask and a copy (one kernel launch on a GPU instead of several).

``index[n]`` outside ``[0, M)`` means "no row" (``-1`` is the usual marker): the gather writes a
zero row there and the scatter drops the row. So no index reaches memory outside the arrays and
a device index is never read back to be checked. ``col`` places the ``H`` columns of the row
block inside the wider rows of a C-contiguous ``[N, W]`` array (one scale of a concatenated state,
say), so no column slice has to be copied.

``gather_rows`` is linear and ``scatter_rows`` is its adjoint (the backward of a gather is a
scatter of the output gradient with the same index, and vice versa).

NumPy arrays run on the CPU; CUDA arrays (CuPy, anything with ``__cuda_array_interface__``) run
the CUDA kernels on CuPy's current stream; ``index`` must be on the device of the data. On the
CPU a scatter adds repeated indices in the order ``n = 0, 1, ...`` (deterministic for any thread
count); on CUDA it uses atomic adds (the summation order of repeated indices is not fixed).
"""

from __future__ import annotations

import numpy as np

from .. import _core
from ._common import as_int, check_elements, int64_indices
from .multiscale import Scale


def _as_index(index):
    """Host indices of any integer dtype as int64; device arrays as they are (the core requires
    int64 there)."""
    if hasattr(index, "__cuda_array_interface__"):
        return index
    return int64_indices(index, "index", "row numbers")


def gather_rows(src, index, out=None, col: int = 0):
    """``out[n, col:col + H] = src[index[n]]``, a zero row where ``index[n]`` is outside
    ``[0, M)``.

    Args:
        src: ``[M, H]`` float32 or float64, C-contiguous (NumPy or CUDA array).
        index: ``[N]`` integers (int64 on the device of ``src``; host indices of another integer
            dtype are converted).
        out: None (a new ``[N, H]`` array) or a C-contiguous ``[N, W]`` array with ``src``'s
            dtype and device; only its columns ``[col, col + H)`` are written.
        col: first column of ``out`` to write (``0 <= col``, ``col + H <= W``).

    Returns:
        ``out``.

    Raises:
        TypeError: dtypes (float ``src`` / ``out`` of the same dtype, integer ``index``).
        ValueError: shapes, non-contiguous arrays, columns outside ``out``, arrays on different
            devices, a read-only ``out``, an ``out`` that shares memory with ``src`` (its rows
            would be read after being written). RuntimeError: a CUDA array without a CUDA
            build (``chronoscale.CudaError`` when no CUDA device is available or a CUDA call
            fails).
    """
    return _core.gather_rows(src, _as_index(index), out, as_int(col, "col"))


def scatter_rows(g, index, size: int | None = None, out=None, col: int = 0,
                 width: int | None = None):
    """``out[index[n]] += g[n, col:col + H]`` for every ``n`` with ``index[n]`` in ``[0, M)``.

    Args:
        g: ``[N, W]`` float32 or float64, C-contiguous.
        index: ``[N]`` integers (as for :func:`gather_rows`).
        size: ``M``, the rows of a new zero output (when ``out`` is None).
        out: None, or an ``[M, H]`` array with ``g``'s dtype and device to add into (its other
            content is kept: a scatter into a gradient that already holds other terms).
        col: first column of ``g`` to read.
        width: ``H`` of a new output (default ``W - col``).

    Returns:
        ``out`` (``[M, H]``).

    Raises:
        As :func:`gather_rows` (``out`` must not share memory with ``g``); ValueError when
        ``out`` and ``size`` are both None, or when
        ``size`` / ``width`` are given with ``out`` and differ from its shape; for a new output,
        ValueError naming ``col`` outside ``[0, W]``, ``width`` past ``W - col``, or ``size``
        when ``[size, width]`` would exceed ``MAX_ELEMENTS`` (2**36) elements.
    """
    col = as_int(col, "col")
    if out is None:
        if size is None:
            raise ValueError("scatter_rows needs size (the rows of the output) or out")
        size = as_int(size, "size")
        shape = tuple(getattr(g, "shape", ()))
        W = shape[1] if len(shape) == 2 else None  # (the core reports a g of another shape)
        if W is not None and not 0 <= col <= W:  # checked before width = W - col is derived
            raise ValueError(f"col must be in [0, W] with W = {W} (the columns of g), got {col}")
        if width is None:
            width = W - col if W is not None else 0
        width = as_int(width, "width")
        if W is not None and width > W - col:  # before the [size, width] output is allocated
            raise ValueError(
                f"width must be <= W - col = {W - col} (the columns of g from col), got {width}"
            )
        if size >= 0 and width >= 0:  # (negative ones: the core's message)
            check_elements((size, width), "size", "a new [size, width] output")
    else:  # size / width, when given too, must be out's (never silently ignored)
        shape = tuple(getattr(out, "shape", ()))
        for name, v, axis in (("size", size, 0), ("width", width, 1)):
            if v is not None and len(shape) == 2 and as_int(v, name) != shape[axis]:
                raise ValueError(f"scatter_rows: {name}={v} but out has shape {list(shape)}")
        size = width = 0
    return _core.scatter_rows(g, _as_index(index), out, size, col, width)


def window_rows(scale, b, t, shape, W: int, lengths=None, out_lengths=None, closed=None):
    """The row of one scale's outputs ``y.reshape(B * W, H)`` that holds the state for a
    prediction right after the event ``(b[n], t[n])``: the scale's last step whose window is
    closed once events ``0..t`` are seen (what :class:`~chronoscale.nn.MultiScaleNext` gathers;
    pass the result to :func:`gather_rows` / :func:`scatter_rows`).

    * count scale (``scale.kind == "count"``): ``c = clip(floor((t + 1 - size) / stride) + 1, 0,
      out_lengths[b])`` for ``t < lengths[b]``, else 0;
    * wall-clock scale: ``c = closed[b, t]`` (the ``closed_before`` of
      :func:`multiscale_forward`: windows that ended at or before the event's time);

    and ``rows[n] = b * W + c - 1`` (``c`` at most ``W``), ``-1`` where ``c == 0`` or the event is
    outside the batch (``b`` not in ``[0, B)``, ``t`` not in ``[0, T)``).

    Args:
        scale: the :class:`Scale` (its ``size`` / ``stride`` for a count scale).
        b, t: ``[N]`` integers, the events (NumPy or CUDA arrays; int64 on a device).
        shape: ``(B, T)`` of the batch.
        W: the scale's steps (``y.shape[1]``).
        lengths: ``[B]`` events per sequence (count scales; None: all ``T``).
        out_lengths: ``[B]`` the scale's steps per sequence (count scales).
        closed: ``[B, T]`` (wall-clock scales).

    Every array lives on the device of ``b`` (int64 there; host arrays of other integer dtypes
    are converted). Returns ``rows [N]`` int64 on that device (one kernel on a GPU).

    Raises:
        TypeError / ValueError naming the argument (dtypes, shapes, devices, a missing
        ``out_lengths`` or ``closed``; host ``lengths`` outside ``[0, T]`` or ``out_lengths``
        outside ``[0, W]``, a ``B * W`` past int64; device values are not read, and the row
        math keeps every row in ``[-1, B * W)``).
    """
    if not isinstance(scale, Scale):
        raise TypeError(f"scale must be a chronoscale.ops.Scale, got {type(scale).__name__}")
    try:
        B, T = shape
    except (TypeError, ValueError):
        raise ValueError(f"shape must be the batch's (B, T), got {shape!r}") from None
    B, T = as_int(B, "B"), as_int(T, "T")
    time = scale.kind == "time"
    if time and closed is None:
        raise ValueError("window_rows: a wall-clock scale needs closed ([B, T])")
    if not time and out_lengths is None:
        raise ValueError("window_rows: a count scale needs out_lengths ([B])")
    if time:
        lengths = out_lengths = None
    else:
        closed = None

    def host_int64(a, name):  # host arrays as C-contiguous int64; device arrays as they are
        if a is None or hasattr(a, "__cuda_array_interface__"):
            return a
        return np.ascontiguousarray(int64_indices(a, name))

    b, t, lengths, out_lengths, closed = (host_int64(a, n) for a, n in (
        (b, "b"), (t, "t"), (lengths, "lengths"), (out_lengths, "out_lengths"),
        (closed, "closed")))
    return _core.window_rows(b, t, B, T, as_int(W, "W"), lengths, out_lengths,
                             scale.size, scale.stride, closed)
