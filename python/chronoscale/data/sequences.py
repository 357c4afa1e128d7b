"""Per-user sequences from an ``Interactions`` log, vectorised (no loop over users or events).

Causality: every function here builds, for a prediction about event ``j`` of a user, inputs from
that user's events *before* ``j`` in the log's order (time, ties in file order) and nothing
after. Models that pool wall-clock windows get the target's timestamp to close windows with.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

from ..ops._common import I64_MAX, I64_MIN, as_bool, check_elements, check_int, is_one_of
from ._io import index_array
from .interactions import Interactions, check_log

#: most values ``user_series`` builds (users x periods; 8 GiB of float64)
MAX_SERIES_VALUES = 2**30


@dataclass(frozen=True, eq=False)
class SequenceBatch:
    """Left-aligned padded histories: ``items``, ``timestamps`` ``[B, T]`` int64, ``values``
    ``[B, T]`` float32, ``lengths`` ``[B]`` int64, ``users`` ``[B]`` int64 (codes). Entries at
    ``t >= lengths[b]`` are 0. ``items`` are item codes plus the ``item_offset`` asked for."""

    items: np.ndarray
    timestamps: np.ndarray
    values: np.ndarray
    lengths: np.ndarray
    users: np.ndarray

    def __len__(self) -> int:
        return len(self.lengths)

    def take(self, idx) -> SequenceBatch:
        """Rows ``idx`` of every array."""
        return SequenceBatch(
            *(a[idx] for a in (self.items, self.timestamps, self.values, self.lengths, self.users))
        )


@dataclass(frozen=True, eq=False)
class NextItemBatch:
    """Training on every position: ``inputs`` is a ``SequenceBatch``; ``targets``,
    ``target_timestamps`` ``[B, T]`` int64 and ``target_values`` ``[B, T]`` float32 hold, at
    position ``t``, the event that follows input ``t``. So the prediction at ``t`` may use inputs
    ``0..t`` (all strictly before its target) and never ``t+1..``."""

    inputs: SequenceBatch
    targets: np.ndarray
    target_timestamps: np.ndarray
    target_values: np.ndarray

    def __len__(self) -> int:
        return len(self.inputs)

    def take(self, idx) -> NextItemBatch:
        return NextItemBatch(
            self.inputs.take(idx),
            self.targets[idx],
            self.target_timestamps[idx],
            self.target_values[idx],
        )


def _check_max_len(max_len) -> int | None:
    """``max_len`` (None: no cut) as an int >= 1; one past int64 keeps every event, as
    ``I64_MAX`` does (so that NumPy can compare it with the lengths)."""
    return None if max_len is None else min(check_int(max_len, "max_len", 1), I64_MAX)


def _check_offset(item_offset, x: Interactions) -> int:
    """``item_offset >= 0`` with the shifted item codes still int64."""
    return check_int(item_offset, "item_offset", 0, I64_MAX - max(x.num_items - 1, 0))


def _seconds(value, name: str) -> int:
    v = check_int(value, name, None)
    if not I64_MIN <= v <= I64_MAX:
        raise ValueError(f"{name} must fit int64 seconds, got {v}")
    return v


def _user_codes(x: Interactions, users) -> np.ndarray:
    if users is None:
        return np.arange(x.num_users, dtype=np.int64)
    users = index_array(users, "users", x.num_users)
    if users.ndim != 1:
        raise ValueError(f"users must be 1-D, got shape {users.shape}")
    return users


def windows(
    x: Interactions, end_rows, lengths, T: int, users, item_offset: int = 0
) -> SequenceBatch:
    """For each b, the ``lengths[b]`` events of the log ending just before row ``end_rows[b]``
    (rows ``end - len .. end - 1``; the caller keeps them inside user ``users[b]``) as
    ``[B, T]``."""
    end_rows = np.asarray(end_rows, np.int64)
    lengths = np.asarray(lengths, np.int64)
    B = len(end_rows)
    col = np.arange(T, dtype=np.int64)
    mask = col[None, :] < lengths[:, None]
    rows = (end_rows - lengths)[:, None] + col[None, :]
    r = rows[mask]
    items = np.zeros((B, T), np.int64)
    ts = np.zeros((B, T), np.int64)
    vals = np.zeros((B, T), np.float32)
    items[mask] = x.item[r] + item_offset
    ts[mask] = x.timestamp[r]
    vals[mask] = x.value[r]
    return SequenceBatch(items, ts, vals, lengths.copy(), np.asarray(users, np.int64))


def padded_histories(
    x: Interactions, users=None, max_len: int | None = None, item_offset: int = 0
) -> SequenceBatch:
    """Each user's whole history, the most recent ``max_len`` events kept, left-aligned.

    ``users``: codes ``[B]`` (default all users, in code order; users without events get
    length 0). ``T = min(max_len, longest kept history)``.

    Raises:
        TypeError: ``x`` not an ``Interactions``; ``users``, ``max_len`` or ``item_offset`` not
            integers. ValueError: ``max_len < 1``, ``item_offset < 0`` (or so large that the
            codes overflow int64), user codes outside ``[0, num_users)``.
    """
    check_log(x)
    max_len = _check_max_len(max_len)
    item_offset = _check_offset(item_offset, x)
    off = x.offsets
    users = _user_codes(x, users)
    n = off[users + 1] - off[users]
    lengths = n if max_len is None else np.minimum(n, max_len)
    return windows(x, off[users + 1], lengths, int(lengths.max(initial=0)), users, item_offset)


def histories_before(
    x: Interactions, rows, max_len: int | None = None, item_offset: int = 0
) -> SequenceBatch:
    """For target events ``rows`` ``[B]`` (row indices into ``x``), the same user's events before
    each target (most recent ``max_len``), left-aligned; a user's first event gets length 0.

    Raises:
        TypeError / ValueError: like ``padded_histories``, for ``rows`` outside ``[0, N)``.
    """
    check_log(x)
    max_len = _check_max_len(max_len)
    item_offset = _check_offset(item_offset, x)
    rows = index_array(rows, "rows", len(x), "row indices")
    if rows.ndim != 1:
        raise ValueError(f"rows must be 1-D, got shape {rows.shape}")
    users = x.user[rows]
    n = rows - x.offsets[users]
    lengths = n if max_len is None else np.minimum(n, max_len)
    return windows(x, rows, lengths, int(lengths.max(initial=0)), users, item_offset)


def next_item_sequences(
    x: Interactions, max_len: int | None = None, users=None, item_offset: int = 0
) -> NextItemBatch:
    """Inputs and next-item targets for training on every position.

    For a user with events ``e_0 .. e_{n-1}``, ``L = min(n - 1, max_len)``: inputs are
    ``e_{n-1-L} .. e_{n-2}`` and targets ``e_{n-L} .. e_{n-1}`` (the event after each input).
    Users with fewer than 2 events have nothing to predict and are left out (``inputs.users``
    says which users are in). Targets are item codes (no ``item_offset``); 0 past the length.
    Raises like ``padded_histories``.
    """
    check_log(x)
    max_len = _check_max_len(max_len)
    item_offset = _check_offset(item_offset, x)
    off = x.offsets
    users = _user_codes(x, users)
    n = off[users + 1] - off[users]
    users = users[n >= 2]
    n = n[n >= 2]
    lengths = n - 1 if max_len is None else np.minimum(n - 1, max_len)
    T = int(lengths.max(initial=0))
    ends = off[users + 1]
    inputs = windows(x, ends - 1, lengths, T, users, item_offset)
    tgt = windows(x, ends, lengths, T, users, 0)
    return NextItemBatch(inputs, tgt.items, tgt.timestamps, tgt.values)


def _rng(seed, name: str = "seed") -> np.random.Generator:
    """``np.random.default_rng(seed)`` for None, an integer >= 0 (a 0-d integer array too), a
    sequence of them or a NumPy ``Generator`` / ``BitGenerator`` / ``SeedSequence``; TypeError /
    ValueError naming ``name`` otherwise (floats, strings, bools, negative integers)."""
    if seed is None or isinstance(
        seed, (np.random.Generator, np.random.BitGenerator, np.random.SeedSequence)
    ):
        return np.random.default_rng(seed)
    if not isinstance(seed, (list, tuple)) and np.ndim(seed) == 0:
        return np.random.default_rng(check_int(seed, name, 0))
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be None, an integer >= 0, a sequence of them or a NumPy Generator, "
            f"got {seed!r:.50}"
        ) from None


def iter_batches(n: int, batch_size: int, shuffle: bool = False, seed=None):
    """Index arrays covering ``range(n)`` in slices of ``batch_size`` (shuffled with ``seed``:
    None, an integer >= 0 or anything ``np.random.default_rng`` takes). Raises TypeError /
    ValueError (at the call, not at the first batch) unless ``n >= 0`` and ``batch_size >= 1``
    are integers, ``shuffle`` is True or False and ``seed`` a seed; ValueError naming ``n``
    when a shuffled order (``n`` int64 indices) would exceed ``MAX_ELEMENTS`` (2**36)."""
    n = check_int(n, "n", 0)
    batch_size = check_int(batch_size, "batch_size", 1)
    shuffle = as_bool(shuffle, "shuffle")
    rng = _rng(seed)
    if not shuffle:  # built one batch at a time: any n that fits int64
        if n > I64_MAX:
            raise ValueError(f"n must be <= {I64_MAX}, got {n}")
        return (np.arange(s, min(s + batch_size, n)) for s in range(0, n, batch_size))
    check_elements((n,), "n", "the shuffled order")
    idx = rng.permutation(n)
    return (idx[s : s + batch_size] for s in range(0, n, batch_size))


_PERIODS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def period_seconds(period) -> int:
    """Seconds in ``period``: an int, or a string like ``"1h"``, ``"6h"``, ``"1d"``, ``"7d"``,
    ``"1w"``, ``"30m"`` / ``"30min"`` (the units of the scale specs; an upper-case ``"M"``
    is refused: months have no fixed length).

    Raises:
        TypeError: neither an integer nor a string (a bool or a float included).
        ValueError: a string of another form, or fewer than 1 / at least 2**63 seconds.
    """
    if isinstance(period, (bool, np.bool_)) or not isinstance(period, (int, np.integer, str)):
        raise TypeError(
            f"period must be seconds (an integer) or a string like '1h', '1d', '7d', got "
            f"{period!r:.50}"
        )
    if isinstance(period, str):
        if period.strip().endswith("M"):
            raise ValueError(f"period {period!r}: months have no fixed length; use days, e.g. "
                             "'30d' (minutes are 'm' or 'min')")
        s = period.strip().lower()
        num = s.rstrip("abcdefghijklmnopqrstuvwxyz") or "1"
        unit = s[len(num) :] or "s"
        if unit not in _PERIODS or not (num.isascii() and num.isdigit()):
            raise ValueError(
                f"period must be like '30m', '1h', '1d', '7d', '1w' or seconds, got {period!r}"
            )
        p = int(num) * _PERIODS[unit]
    else:
        p = int(period)
    if p < 1:
        raise ValueError(f"period must be >= 1 second, got {period!r}")
    if p > I64_MAX:
        raise ValueError(f"period must be below 2**63 seconds, got {period!r:.50}")
    return p


def user_series(
    x: Interactions,
    period="7d",
    *,
    what: str = "value",
    start: int | None = None,
    end: int | None = None,
    extra: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Regular per-user series: the sum of ``value`` (``what="value"``), of ``extra[extra]``, or the
    number of events (``what="count"``) in each period.

    Periods start at ``start`` (default: the first timestamp floored to whole days) and cover
    ``[start, end)`` (default: through the last event). Returns ``(series [U, P] float64,
    period_starts [P] int64)``. Events outside ``[start, end)`` are ignored.

    Raises:
        TypeError: ``x`` not an ``Interactions``, ``period`` / ``start`` / ``end`` not integers
            (``period`` may be a string), the ``extra`` column not numeric.
        ValueError: synthetic timestamps, an unknown ``what`` or ``extra`` column, ``start`` /
            ``end`` outside int64 or more than 2**63 - 1 seconds apart, or a series of more
            than ``MAX_SERIES_VALUES`` values (users x periods).
    """
    check_log(x)
    p = period_seconds(period)
    if not is_one_of(what, ("value", "count")):
        raise ValueError(f"what must be 'value' or 'count', got {what!r}")
    if extra is not None and not (isinstance(extra, Hashable) and extra in x.extra):
        raise ValueError(f"extra must name one of the extra columns {list(x.extra)}, got {extra!r}")
    start = None if start is None else _seconds(start, "start")
    end = None if end is None else _seconds(end, "end")
    if x.synthetic_time:
        raise ValueError(f"{x.name or 'data'} has synthetic timestamps (order only): no calendar")
    if len(x) == 0:
        return np.zeros((x.num_users, 0)), np.zeros(0, np.int64)
    t0 = max(int(x.timestamp.min()) // 86400 * 86400, I64_MIN) if start is None else start
    t1 = int(x.timestamp.max()) + 1 if end is None else end
    if start is not None and end is not None and end < start:
        raise ValueError(f"end must be >= start, got start={start}, end={end}")
    if t1 - t0 > I64_MAX:
        raise ValueError(f"end - start must be below 2**63 seconds, got [{t0}, {t1})")
    P = max(-(-(t1 - t0) // p), 0)
    if max(x.num_users, 1) * P > MAX_SERIES_VALUES:
        raise ValueError(
            f"user_series would hold {x.num_users} users x {P} periods, more than "
            f"MAX_SERIES_VALUES = {MAX_SERIES_VALUES} values; use a longer period or a narrower "
            "[start, end)"
        )
    if what == "count":
        w = np.ones(len(x))
    elif extra is None:
        w = x.value.astype(np.float64)
    else:
        col = x.extra[extra]
        if col.dtype.kind not in "biuf":
            raise TypeError(f"extra column {extra!r} must be numeric, got dtype {col.dtype}")
        w = col.astype(np.float64)
    ok = (x.timestamp >= t0) & (x.timestamp < t1)
    k = (x.timestamp[ok] - t0) // p  # in [0, P): ok rows only, so nothing wraps
    flat = np.bincount(x.user[ok] * P + k, weights=w[ok], minlength=x.num_users * P)
    return flat.reshape(x.num_users, P), t0 + p * np.arange(P, dtype=np.int64)
