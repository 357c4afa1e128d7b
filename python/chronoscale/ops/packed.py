"""Running sums over the sequences of a packed batch (the time-major layout of
``torch.nn.utils.rnn.PackedSequence``): history means and their gradients without padding and
without a Python loop over time.

Block ``t`` of ``x [N, D]`` holds ``batch_sizes[t]`` rows, one per sequence still running at
step ``t`` (non-increasing: the sequences sorted longest first), and row ``r`` of block ``t``
continues row ``r`` of block ``t - 1``. With ``off[t] = batch_sizes[:t].sum()``::

    forward:  out[off[t] + r] = x[off[0] + r] + ... + x[off[t] + r]
    reverse:  out[off[t] + r] = x[off[t] + r] + ... + x[off[L_r - 1] + r]   (L_r: its length)

The reverse sums are the gradient of the forward ones (and vice versa). Each sum adds in time
order (reverse: from the sequence's end back), one sequence at a time: the result does not
depend on the thread count and is the same on the CPU and on CUDA.

NumPy arrays run on the CPU; CUDA arrays (CuPy, anything with ``__cuda_array_interface__``) run
the CUDA kernel on CuPy's current stream and return CuPy arrays. ``batch_sizes`` is a host array
(like ``lengths``: it is copied to the device without a wait).
"""

from __future__ import annotations

from .. import _core
from ._common import as_bool, as_lengths


def packed_cumsum(x, batch_sizes, reverse: bool = False):
    """Running sums of ``x [N, D]`` along each packed sequence (see the module docstring).

    Args:
        x: ``[N, D]`` float32 or float64, C-contiguous (NumPy or CUDA array).
        batch_sizes: ``[T]`` integers >= 0, non-increasing, summing to ``N`` (host array; an
            empty list is an empty batch).
        reverse: sums from each sequence's end back (the gradient of the forward sums).

    Returns:
        ``out [N, D]`` of ``x``'s dtype and device.

    Raises:
        TypeError: ``x`` not float32/float64, ``batch_sizes`` not integers, ``reverse`` not
            True or False.
        ValueError: shapes, non-contiguous ``x``, ``batch_sizes`` negative, increasing or not
            summing to ``N``. RuntimeError: a CUDA array without a CUDA build
            (``chronoscale.CudaError`` when no CUDA device is available or a CUDA call fails).
    """
    reverse = as_bool(reverse, "reverse")
    return _core.packed_cumsum(x, as_lengths(batch_sizes, "batch_sizes"), reverse)
