"""Losses, each returning the mean loss (a Python float) and its gradient in one native pass.

Elementwise losses (``mse_loss``, ``mae_loss``, ``huber_loss``, ``bce_with_logits_loss``) average
over all elements like torch's ``reduction="mean"``; optional ``weights`` (the target's shape)
multiply each element's loss, and the mean still divides by the number of elements:
``loss = sum(w * l) / n``. ``softmax_cross_entropy`` is the full softmax over the last axis;
``sampled_softmax_loss`` scores against sampled negatives with the log-Q correction, for large
item tables. Sums are accumulated in float64 in a fixed order: the loss does not depend on the
thread count.

NumPy arrays run on the CPU; CUDA arrays (CuPy, anything with ``__cuda_array_interface__``) run
the CUDA kernels on CuPy's current stream and return CuPy gradients. The loss is reduced on the
device (float64, fixed order) and that one scalar is copied to the host, so a CUDA call waits for
its stream, unless ``loss_on_device=True`` (elementwise losses and the full softmax) leaves it
there as a 0-d CuPy array. Class targets and ``log_q`` are host arrays (CUDA ones are copied to
the host, where they are validated); ``rows`` of ``sampled_softmax_loss`` is a host array.
"""

from __future__ import annotations

from .. import _core
from ._common import as_bool, as_int, host, int64_indices, is_one_of, real
from .dropout import check_seed


def _as_target(target, name: str = "target"):
    """Integer class indices as a host int64 array (any integer dtype is converted)."""
    return int64_indices(host(target, name, " of integers"), name, "class indices")


def _on_device(loss_on_device) -> bool:
    return as_bool(loss_on_device, "loss_on_device")


def mse_loss(pred, target, weights=None, loss_on_device: bool = False):
    """Mean squared error ``mean(w * (pred - target)**2)``.

    Args:
        pred: any shape with at least one element, float32 or float64, C-contiguous.
        target: ``pred``'s shape and dtype.
        weights: ``pred``'s shape and dtype, or None (all ones).
        loss_on_device: with CUDA arrays, return the loss as a 0-d float64 CuPy array instead
            of a float, so that the call does not wait for the device (read it later with
            ``float(loss)``); ignored for host arrays.

    Returns:
        ``(loss, dpred)``: the mean as a Python float (see ``loss_on_device``) and
        ``dpred = 2 w (pred - target) / n``.

    Raises:
        TypeError: dtypes that differ from ``pred``'s (or are not float32/float64),
            ``loss_on_device`` not True or False.
        ValueError: shapes that differ, an empty ``pred``, non-contiguous arrays.
    """
    return _core.point_loss("mse", pred, target, weights, 1.0, _on_device(loss_on_device))


def mae_loss(pred, target, weights=None, loss_on_device: bool = False):
    """Mean absolute error ``mean(w * |pred - target|)``; the gradient uses ``sign(pred -
    target)`` (0 where they are equal, as torch). Arguments, returns and errors as
    :func:`mse_loss`."""
    return _core.point_loss("mae", pred, target, weights, 1.0, _on_device(loss_on_device))


def huber_loss(pred, target, delta: float = 1.0, weights=None, loss_on_device: bool = False):
    """Huber loss (``torch.nn.functional.huber_loss``): with ``e = pred - target``,
    ``l = e**2 / 2`` where ``|e| <= delta`` and ``delta * (|e| - delta / 2)`` elsewhere; the mean
    of ``w * l``.

    Args:
        pred, target, weights, loss_on_device: as in :func:`mse_loss`.
        delta: the threshold between the quadratic and linear parts, ``> 0``.

    Returns:
        ``(loss, dpred)``.

    Raises:
        The errors of :func:`mse_loss`; ValueError naming ``delta`` when ``delta <= 0``.
    """
    return _core.point_loss("huber", pred, target, weights, real(delta, "delta"),
                            _on_device(loss_on_device))


def bce_with_logits_loss(logits, target, weights=None, loss_on_device: bool = False):
    """Binary cross-entropy on logits, numerically stable for any logit:
    ``l = max(x, 0) - x t + log1p(exp(-|x|))`` (= ``-t log s(x) - (1 - t) log(1 - s(x))``), the
    mean of ``w * l``; ``dlogits = w (s(x) - t) / n``.

    Args:
        logits: any shape with at least one element, float32 or float64.
        target: probabilities (usually 0 / 1), ``logits``' shape and dtype.
        weights: ``logits``' shape and dtype, or None.
        loss_on_device: as in :func:`mse_loss`.

    Returns:
        ``(loss, dlogits)``.

    Raises:
        As :func:`mse_loss` (the messages name ``logits``).
    """
    return _core.point_loss("bce_with_logits", logits, target, weights, 1.0,
                            _on_device(loss_on_device))


def softmax_cross_entropy(logits, target, ignore_index: int = -1):
    """Softmax cross-entropy over the last axis (``torch.nn.functional.cross_entropy``).

    ``loss = mean over counted rows of (logsumexp(logits[n]) - logits[n, target[n]])``, computed
    with the row maximum subtracted; rows whose target equals ``ignore_index`` are excluded from
    the mean and get a zero gradient (all rows ignored: loss 0.0 and a zero gradient).

    Args:
        logits: ``[N, V]`` (or ``[..., V]``) float32 or float64, C-contiguous.
        target: ``[N]`` (or ``logits``' leading dims) integers (converted to int64) in
            ``[0, V)`` or equal to ``ignore_index``.
        ignore_index: the target value of rows to skip (e.g. padded positions).

    Returns:
        ``(loss, dlogits)`` with ``dlogits = (softmax(logits) - onehot(target)) / K``, ``K`` the
        number of counted rows.

    Raises:
        TypeError: non-float logits, non-integer targets.
        ValueError: shapes, ``V == 0`` or no rows, a target out of range (the message names
            ``target`` and the first bad row).
    """
    return _core.softmax_cross_entropy(
        logits, _as_target(target), as_int(ignore_index, "ignore_index")
    )


#: the most negatives ``sampled_softmax_loss`` / ``sampled_softmax_negatives`` draw: ``S`` is a
#: dimension of the loss's matrix products (the BLAS index range)
MAX_SAMPLES = 2**31 - 1


def _num_samples(num_samples) -> int:
    """``num_samples`` as an int <= ``MAX_SAMPLES`` (the core checks ``>= 1``)."""
    s = as_int(num_samples, "num_samples")
    if s > MAX_SAMPLES:
        raise ValueError(f"num_samples must be <= {MAX_SAMPLES} (2**31 - 1), got {s}")
    return s


# the order of MatmulPrecision (loss.hpp)
_PRECISIONS = ("float32", "bfloat16", "tfloat32", "tf32x3")


def full_softmax_loss(user, items, target, ignore_index: int = -1, precision: str = "float32",
                      loss_on_device: bool = False):
    """Full softmax cross-entropy of ``user`` against every row of an item table, with both
    gradients, without the ``[N, V]`` logits in memory.

    Same result as ``logits = user @ items.T`` followed by :func:`softmax_cross_entropy` and the
    two backward products, but the rows run in cache-sized blocks (forward GEMM, cross-entropy,
    both backward GEMMs per block), so memory is ``O(threads * block * V)`` instead of
    ``2 N V`` and the logits are never written to main memory. A bias per item fits by an extra
    column: ``user`` with a column of ones, ``items`` with the bias column.

    Args:
        user: ``[N, D]`` float32 or float64, C-contiguous (a query / user state per row).
        items: ``[V, D]`` of ``user``'s dtype, C-contiguous (the item table).
        target: ``[N]`` integers (converted to int64) in ``[0, V)`` or equal to ``ignore_index``.
        ignore_index: the target value of rows to skip.
        precision: ``"float32"`` (the products in the arrays' dtype), ``"bfloat16"`` or
            ``"tfloat32"`` (CUDA float32 arrays only; tensor cores through cuBLAS): the three
            products read bfloat16 copies of ``user``, ``items`` and the logits' gradient (about
            3 significant digits in the gradients), or round the float32 operands to TF32 (a
            10-bit mantissa, as ``torch.backends.cuda.matmul.allow_tf32``); both accumulate and
            write float32, and the logits and the cross-entropy stay float32. For GEMM-bound
            steps. ``"tf32x3"`` (CUDA float32 arrays only): float32-accurate products on the
            TF32 tensor cores: each operand split into a TF32 pair ``hi + lo`` and each product
            computed as ``hi hi + hi lo + lo hi`` (what is dropped is below ``2**-20`` of each
            term, against ``2**-11`` for ``"tfloat32"``); three TF32 products' work and twice
            the gradient's memory traffic per float32 product, so whether it beats
            ``"float32"`` depends on the GPU (``bench/python/compare_recommender.py``).
        loss_on_device: with CUDA arrays, return the loss as a 0-d float64 CuPy array instead
            of a float, so that the call does not wait for the device (read it later with
            ``float(loss)``, after queuing the backward); ignored for host arrays.

    Returns:
        ``(loss, d_user [N, D], d_items [V, D])``: the mean cross-entropy over the counted rows
        (a float; see ``loss_on_device``) and its gradients. ``d_items`` is deterministic for
        a given thread count (its sums over rows are grouped per thread), ``d_user`` and the
        loss do not depend on it.

    CUDA arrays (``user`` and ``items`` on the GPU, ``target`` on the host or the GPU) run in
    one native call on CuPy's current stream: row blocks of up to 2**26 logits, each a cuBLAS
    GEMM, the cross-entropy in place and the two backward GEMMs, ``d_items`` summed over the
    blocks on the device; the loss is reduced on the device and read back once (the call's
    only wait; none with ``loss_on_device``). ``d_user`` and ``d_items`` are CuPy arrays then.

    Raises:
        TypeError: non-float or mixed dtypes, non-integer targets, ``loss_on_device`` not
            True or False.
        ValueError: shapes (``D`` mismatch, ``N == 0``, ``V == 0``), non-contiguous arrays, a
            target out of range (the message names ``target`` and the row), an unknown
            ``precision``, or one other than ``"float32"`` with host or float64 arrays.
    """
    if not is_one_of(precision, _PRECISIONS):
        raise ValueError(f"precision must be one of {_PRECISIONS}, got {precision!r}")
    target, ignore_index = _as_target(target), as_int(ignore_index, "ignore_index")
    return _core.full_softmax_loss(user, items, target, ignore_index,
                                   _PRECISIONS.index(precision), _on_device(loss_on_device))


def sampled_softmax_negatives(num_items: int, num_samples: int, seed: int, log_q=None):
    """The negatives :func:`sampled_softmax_loss` draws for ``(num_items, num_samples, seed,
    log_q)``: ``[num_samples]`` int64 item ids in draw order (with replacement).

    Raises:
        ValueError: ``num_items < 1``, ``num_samples`` outside ``[1, MAX_SAMPLES]`` (2**31 - 1),
            ``log_q`` not ``[num_items]`` or not finite, ``seed`` outside ``[0, 2**64)``.
    """
    return _core.sample_items(
        as_int(num_items, "num_items"),
        _num_samples(num_samples),
        check_seed(seed),
        None if log_q is None else host(log_q, "log_q", " of numbers"),
    )


def sampled_softmax_loss(
    user,
    items,
    target,
    num_samples: int,
    seed: int,
    log_q=None,
    remove_accidental_hits: bool = True,
    ignore_index: int = -1,
):
    """Sampled softmax with the log-Q correction, for scoring users against a large item table.

    Negatives: ``S = num_samples`` item ids drawn **with replacement** and shared by the whole
    batch, from ``q = softmax(log_q)`` when ``log_q`` is given (log-probabilities of each item
    being drawn, up to an additive constant: they are normalised here) or uniformly otherwise.
    Draw ``j`` is a pure function of ``(seed, j)`` (counter-based RNG), so the negatives depend
    only on ``(V, S, seed, log_q)`` (see :func:`sampled_softmax_negatives`).

    For each counted row ``n`` (``target[n] != ignore_index``) the candidates are the target
    ``c_0 = target[n]`` and the ``S`` negatives ``c_1 .. c_S``, with logits

        ``z[n, k] = user[n] . items[c_k] - log(S * q[c_k])``

    (``log(S q)`` is the log of the expected number of draws of the item, the correction of Jean
    et al. 2015 that removes the sampling bias; with uniform sampling it is a constant).
    With ``remove_accidental_hits``, negatives equal to ``target[n]`` are left out of row ``n``'s
    softmax. ``loss = mean over counted rows of (logsumexp_k z[n, k] - z[n, 0])``; the gradients
    are exact for this loss with the negatives fixed (finite differences at a fixed seed agree).

    Args:
        user: ``[N, D]`` float32 or float64 (e.g. the fused user states).
        items: ``[V, D]`` ``user``'s dtype (the item embedding table).
        target: ``[N]`` integers in ``[0, V)`` or equal to ``ignore_index``.
        num_samples: ``S``, in ``[1, MAX_SAMPLES]`` (2**31 - 1: a dimension of the products).
        seed: integer in ``[0, 2**64)``; use a new one per step.
        log_q: ``[V]`` float32 / float64 finite log-probabilities, or None (uniform).
        remove_accidental_hits: drop negatives that equal the row's target.
        ignore_index: the target value of rows to skip (no loss, no gradient).

    Returns:
        ``(loss, d_user [N, D], rows [U] int64, d_rows [U, D])``: ``rows`` are the distinct
        item ids that get a gradient (counted targets and negatives), sorted; ``d_rows[u]`` is
        the summed gradient of ``items[rows[u]]``. They feed ``adam_step_rows`` / ``sgd_step_rows``
        (or ``np.add.at(d_items, rows, d_rows)`` for a dense gradient).

    Raises:
        TypeError: dtypes (``items`` must have ``user``'s), non-integer targets / seed,
            ``remove_accidental_hits`` not True or False.
        ValueError: shapes, ``N == 0``, ``V == 0``, ``num_samples`` outside ``[1, MAX_SAMPLES]``,
            a target out of range (names ``target`` and the row), non-finite ``log_q``.
    """
    return _core.sampled_softmax_loss(
        user,
        items,
        _as_target(target),
        _num_samples(num_samples),
        check_seed(seed),
        None if log_q is None else host(log_q, "log_q", " of numbers"),
        as_bool(remove_accidental_hits, "remove_accidental_hits"),
        as_int(ignore_index, "ignore_index"),
    )
