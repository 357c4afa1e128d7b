"""Per-user sequences from an ``Interactions`` log, vectorised (no loop over users or events).

Causality: every function here builds, for a prediction about event ``j`` of a user, inputs from
that user's events *before* ``j`` in the log's order (time, ties in file order) and nothing
after. Models that pool wall-clock windows get the target's timestamp to close windows with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .interactions import Interactions


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


def _check_max_len(max_len):
    if max_len is not None and int(max_len) < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")


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
    length 0). ``T = min(max_len, longest kept history)``. Raises ValueError for max_len < 1 or
    unknown user codes.
    """
    _check_max_len(max_len)
    off = x.offsets
    users = np.arange(x.num_users) if users is None else np.asarray(users, np.int64)
    if users.size and (users.min() < 0 or users.max() >= x.num_users):
        raise ValueError(
            f"users must be codes in [0, {x.num_users}), got {users.min()}..{users.max()}"
        )
    n = off[users + 1] - off[users]
    lengths = n if max_len is None else np.minimum(n, int(max_len))
    return windows(x, off[users + 1], lengths, int(lengths.max(initial=0)), users, item_offset)


def histories_before(
    x: Interactions, rows, max_len: int | None = None, item_offset: int = 0
) -> SequenceBatch:
    """For target events ``rows`` ``[B]`` (row indices into ``x``), the same user's events before
    each target (most recent ``max_len``), left-aligned; a user's first event gets length 0."""
    _check_max_len(max_len)
    rows = np.asarray(rows, np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= len(x)):
        raise ValueError(f"rows must index the {len(x)} events, got {rows.min()}..{rows.max()}")
    users = x.user[rows]
    n = rows - x.offsets[users]
    lengths = n if max_len is None else np.minimum(n, int(max_len))
    return windows(x, rows, lengths, int(lengths.max(initial=0)), users, item_offset)


def next_item_sequences(
    x: Interactions, max_len: int | None = None, users=None, item_offset: int = 0
) -> NextItemBatch:
    """Inputs and next-item targets for training on every position.

    For a user with events ``e_0 .. e_{n-1}``, ``L = min(n - 1, max_len)``: inputs are
    ``e_{n-1-L} .. e_{n-2}`` and targets ``e_{n-L} .. e_{n-1}`` (the event after each input).
    Users with fewer than 2 events have nothing to predict and are left out (``inputs.users``
    says which users are in). Targets are item codes (no ``item_offset``); 0 past the length.
    """
    _check_max_len(max_len)
    off = x.offsets
    users = np.arange(x.num_users) if users is None else np.asarray(users, np.int64)
    n = off[users + 1] - off[users]
    users = users[n >= 2]
    n = n[n >= 2]
    lengths = n - 1 if max_len is None else np.minimum(n - 1, int(max_len))
    T = int(lengths.max(initial=0))
    ends = off[users + 1]
    inputs = windows(x, ends - 1, lengths, T, users, item_offset)
    tgt = windows(x, ends, lengths, T, users, 0)
    return NextItemBatch(inputs, tgt.items, tgt.timestamps, tgt.values)


def iter_batches(n: int, batch_size: int, shuffle: bool = False, seed=None):
    """Index arrays covering ``range(n)`` in slices of ``batch_size`` (shuffled with ``seed``)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    idx = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    for s in range(0, n, batch_size):
        yield idx[s : s + batch_size]


_PERIODS = {"s": 1, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def period_seconds(period) -> int:
    """Seconds in ``period``: an int, or a string like ``"1h"``, ``"6h"``, ``"1d"``, ``"7d"``,
    ``"1w"``, ``"30min"``."""
    if isinstance(period, (int, np.integer)):
        p = int(period)
    else:
        s = str(period).strip().lower()
        num = s.rstrip("abcdefghijklmnopqrstuvwxyz") or "1"
        unit = s[len(num) :] or "s"
        if unit not in _PERIODS or not num.isdigit():
            raise ValueError(
                f"period must be like '1h', '1d', '7d', '1w' or seconds, got {period!r}"
            )
        p = int(num) * _PERIODS[unit]
    if p < 1:
        raise ValueError(f"period must be >= 1 second, got {period!r}")
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
    """
    p = period_seconds(period)
    if x.synthetic_time:
        raise ValueError(f"{x.name or 'data'} has synthetic timestamps (order only): no calendar")
    if len(x) == 0:
        return np.zeros((x.num_users, 0)), np.zeros(0, np.int64)
    t0 = int(x.timestamp.min()) // 86400 * 86400 if start is None else int(start)
    t1 = int(x.timestamp.max()) + 1 if end is None else int(end)
    P = max(-(-(t1 - t0) // p), 0)
    if what == "count":
        w = np.ones(len(x))
    elif what == "value":
        w = x.value.astype(np.float64) if extra is None else np.asarray(x.extra[extra], np.float64)
    else:
        raise ValueError(f"what must be 'value' or 'count', got {what!r}")
    k = (x.timestamp - t0) // p
    ok = (x.timestamp >= t0) & (x.timestamp < t1)
    flat = np.bincount(x.user[ok] * P + k[ok], weights=w[ok], minlength=x.num_users * P)
    return flat.reshape(x.num_users, P), t0 + p * np.arange(P, dtype=np.int64)
