"""Evaluation splits: leave-one-out and a global temporal cut.

A split keeps one id space: ``train`` is a subset of the log's events with the log's user and
item codes, and each ``EvalTargets`` points at target events of the full log. The history given
to the model for a target is the same user's events *before* it in the log (time order, ties in
file order), so nothing at or after the target leaks in.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from ..ops._common import I64_MAX, I64_MIN, as_bool, check_int, is_one_of
from .interactions import Interactions, _unchecked, check_log
from .sequences import SequenceBatch, histories_before


@dataclass(frozen=True, eq=False)
class EvalTargets:
    """Target events ``rows`` ``[M]`` (row indices into ``data``, the full log), one query each."""

    data: Interactions
    rows: np.ndarray
    name: str = ""

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def users(self) -> np.ndarray:
        return self.data.user[self.rows]

    @property
    def items(self) -> np.ndarray:
        """Target item codes ``[M]``."""
        return self.data.item[self.rows]

    @property
    def timestamps(self) -> np.ndarray:
        return self.data.timestamp[self.rows]

    @property
    def values(self) -> np.ndarray:
        return self.data.value[self.rows]

    @property
    def history_lengths(self) -> np.ndarray:
        """Events before each target ``[M]`` (before any ``max_len`` cut)."""
        return self.rows - self.data.offsets[self.users]

    def histories(self, max_len: int | None = None, item_offset: int = 0) -> SequenceBatch:
        """The padded history of each target (most recent ``max_len`` events before it)."""
        return histories_before(self.data, self.rows, max_len, item_offset)

    def seen_items(self) -> tuple[np.ndarray, np.ndarray]:
        """Items of each target's whole history as CSR ``(indptr [M + 1], indices)`` (distinct
        per row) — the exclusion set for "history items removed" ranking."""
        n = self.history_lengths
        indptr = np.concatenate([[0], np.cumsum(n)])
        row = np.repeat(np.arange(len(self.rows)), n)
        pos = np.arange(indptr[-1]) - indptr[row] + (self.rows - n)[row]
        items = self.data.item[pos]
        key = np.unique(row * self.data.num_items + items)
        r, c = np.divmod(key, self.data.num_items)
        return np.concatenate([[0], np.cumsum(np.bincount(r, minlength=len(self.rows)))]), c

    def take(self, idx) -> EvalTargets:
        return EvalTargets(self.data, self.rows[idx], self.name)


@dataclass(frozen=True, eq=False)
class Split:
    """``train`` events (the log's id space), ``valid`` and ``test`` targets, and a label."""

    train: Interactions
    valid: EvalTargets
    test: EvalTargets
    protocol: str
    info: dict = field(default_factory=dict)

    def label(self) -> dict:
        """Protocol, its settings and counts, for reports."""
        return {
            "protocol": self.protocol,
            **self.info,
            "train_events": len(self.train),
            "valid_targets": len(self.valid),
            "test_targets": len(self.test),
        }


SHORT_USER_RULES = ("train", "drop", "test")


def leave_one_out(x: Interactions, short_users: str = "train") -> Split:
    """Per user: the last event is the test target, the second-to-last the validation target,
    the rest is training data. The test history is every earlier event (training events and the
    validation event); the validation history is the training events.

    Users with fewer than 3 events cannot give both targets. ``short_users`` says what happens:
    ``"train"`` (default, as SASRec does): all their events go to ``train``, they are never
    evaluated; ``"drop"``: their events are left out of everything; ``"test"``: a user with 2
    events gets a test target (history: the first event) and no validation target, a user with
    1 event goes to ``train``. Raises TypeError when ``x`` is not an ``Interactions``,
    ValueError for an unknown ``short_users``.
    """
    check_log(x)
    if not is_one_of(short_users, SHORT_USER_RULES):
        raise ValueError(f"short_users must be one of {SHORT_USER_RULES}, got {short_users!r}")
    n = x.counts
    last = x.offsets[1:] - 1
    full = n >= 3
    test_users = full | ((n == 2) if short_users == "test" else np.zeros_like(full))
    test_rows = last[test_users]
    valid_rows = (last - 1)[full]
    train = np.ones(len(x), bool)
    train[test_rows] = False
    train[valid_rows] = False
    if short_users == "drop":
        train &= full[x.user]
    info = {"short_users": short_users, "users_short": int((n < 3).sum())}
    return Split(
        x.take(train),
        EvalTargets(x, valid_rows, "valid"),
        EvalTargets(x, test_rows, "test"),
        "leave-one-out",
        info,
    )


def temporal_split(
    x: Interactions,
    cut: int | None = None,
    *,
    quantile: float | None = None,
    valid_cut: int | None = None,
    valid_quantile: float | None = None,
    targets: str = "first",
    min_history: int = 1,
) -> Split:
    """A global temporal cut: events before the cut train, events at or after it are targets.

    ``cut`` is a timestamp in int64 seconds (an integer, or a float holding a whole number; convert
    dates with ``as_seconds``) or ``quantile`` of all timestamps (e.g. 0.9; the cut is then an
    actual event time). A validation window ``[valid_cut, cut)`` (or
    ``valid_quantile``) moves training's end to ``valid_cut``; without one ``valid`` is empty.
    ``targets="first"``: each user's first event in the window is a target; ``"all"``: every
    event in the window is (its history then includes the user's earlier window events, which
    were observed before it — no future). Targets with fewer than ``min_history`` earlier events
    are dropped (counted in ``info``).

    Raises:
        TypeError: ``x`` not an ``Interactions``; a cut that is not a number (a string, a bool),
            a quantile that is not a number, ``min_history`` not an integer.
        ValueError: synthetic (order-only) timestamps, a missing or contradictory cut, a cut
            that is NaN / inf, not a whole number of seconds or beyond int64, a quantile
            outside (0, 1), ``min_history < 0``, an unknown ``targets``.
    """
    check_log(x)
    min_history = check_int(min_history, "min_history", 0)
    if x.synthetic_time:
        raise ValueError(
            f"{x.name or 'data'} has synthetic timestamps (order only); "
            "use leave_one_out instead of a temporal cut"
        )
    if not is_one_of(targets, ("first", "all")):
        raise ValueError(f"targets must be 'first' or 'all', got {targets!r}")
    t_test = _cut_time(x, cut, quantile, "cut", "quantile")
    t_valid = None
    if valid_cut is not None or valid_quantile is not None:
        t_valid = _cut_time(x, valid_cut, valid_quantile, "valid_cut", "valid_quantile")
        if t_valid > t_test:
            raise ValueError(f"valid_cut ({t_valid}) must not be after cut ({t_test})")
    train_end = t_test if t_valid is None else t_valid
    info = {
        "cut": t_test,
        "cut_utc": str(np.datetime64(t_test, "s")),
        "targets": targets,
        "min_history": min_history,
        "valid_cut": t_valid,
    }
    hist = np.arange(len(x)) - x.offsets[x.user]
    ts = x.timestamp

    def pick(lo, hi, name):
        inwin = (ts >= lo) & (ts < hi)
        rows = np.flatnonzero(inwin)
        if targets == "first" and len(rows):
            first = np.concatenate([[True], x.user[rows][1:] != x.user[rows][:-1]])
            rows = rows[first]
        ok = hist[rows] >= min_history
        info[f"{name}_dropped_short_history"] = int((~ok).sum())
        rows = rows[ok]
        info[f"{name}_cold_items"] = int((~np.isin(x.item[rows], x.item[ts < train_end])).sum())
        return EvalTargets(x, rows, name)

    test = pick(t_test, np.iinfo(np.int64).max, "test")
    valid = (
        pick(t_valid, t_test, "valid")
        if t_valid is not None
        else EvalTargets(x, np.zeros(0, np.int64), "valid")
    )
    return Split(x.take(ts < train_end), valid, test, "temporal", info)


def _cut_time(x, cut, quantile, name, qname) -> int:
    """The cut in int64 seconds from ``cut`` (never truncated) or ``quantile``."""
    if (cut is None) == (quantile is None):
        raise ValueError(f"give exactly one of {name} and {qname}")
    if quantile is not None:
        if isinstance(quantile, (bool, np.bool_)) or not isinstance(quantile, numbers.Real):
            raise TypeError(f"{qname} must be a number in (0, 1), got {quantile!r:.50}")
        if not 0.0 < quantile < 1.0:  # NaN fails too
            raise ValueError(f"{qname} must be in (0, 1), got {quantile}")
        if len(x) == 0:
            raise ValueError("no events to take a quantile of")
        return int(np.quantile(x.timestamp, quantile, method="lower"))
    if isinstance(cut, (bool, np.bool_)) or not isinstance(cut, numbers.Real):
        raise TypeError(
            f"{name} must be a timestamp in int64 seconds (a number), got {cut!r:.50}; "
            "convert dates with chronoscale.data.as_seconds"
        )
    if not isinstance(cut, numbers.Integral):
        f = float(cut)
        if not math.isfinite(f):
            raise ValueError(f"{name} must be a finite timestamp, got {cut}")
        if f != math.floor(f):
            raise ValueError(
                f"{name} must be a whole number of seconds (timestamps are int64 seconds), "
                f"got {cut}"
            )
        cut = f
    t = int(cut)
    if not I64_MIN <= t <= I64_MAX:
        raise ValueError(f"{name} must fit int64 seconds, got {t}")
    return t


def next_event_targets(x: Interactions, min_history: int = 1, name: str = "test") -> EvalTargets:
    """Every event with at least ``min_history`` earlier events of its user as a target (the
    session-based protocol: predict each next click of a test session from its prefix). Raises
    TypeError / ValueError unless ``min_history >= 0`` is an integer."""
    check_log(x)
    min_history = check_int(min_history, "min_history", 0)
    pos = np.arange(len(x)) - x.offsets[x.user]
    return EvalTargets(x, np.flatnonzero(pos >= min_history), name)


def align_items(
    x: Interactions, reference: Interactions, drop_unknown: bool = True
) -> Interactions:
    """``x`` re-encoded into ``reference``'s item codes (e.g. a separate test file into the
    training file's id space). Events whose item ``reference`` lacks are dropped
    (``drop_unknown``; ``meta["unknown_items_dropped"]`` counts them, users left without events
    disappear) or raise ValueError. Users keep ``x``'s own ids. TypeError when ``x`` or
    ``reference`` is not an ``Interactions`` or ``drop_unknown`` not True or False."""
    check_log(x)
    check_log(reference, "reference")
    drop_unknown = as_bool(drop_unknown, "drop_unknown")
    codes = reference.encode_items(x.item_ids)
    item = codes[x.item] if len(x) else np.zeros(0, np.int64)
    keep = item >= 0
    if not keep.all() and not drop_unknown:
        bad = x.item_ids[x.item[~keep][0]]
        raise ValueError(
            f"{int((~keep).sum())} events have items not in the reference, e.g. {bad!r}"
        )
    y = _unchecked(  # the known items only (-1 is no code): codes of reference, same order
        x.take(keep),
        item=item[keep],
        item_ids=reference.item_ids,
        meta={**x.meta, "unknown_items_dropped": int((~keep).sum())},
    )
    used = np.bincount(y.user, minlength=y.num_users) > 0
    return _unchecked(y, user=(np.cumsum(used) - 1)[y.user], user_ids=y.user_ids[used])
