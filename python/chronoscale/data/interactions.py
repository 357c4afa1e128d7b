"""The ``Interactions`` container and the vectorised clean-up pipeline behind every reader:
id remapping (original ids kept), sorting by (user, time) with stable ties, de-duplication and
iterative k-core filtering."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import numpy as np

from ..ops._common import I64_MAX, as_array, as_bool, check_int, int64_indices, is_one_of
from . import _text
from ._io import index_array

DEDUPE_RULES = (None, "exact", "first", "last")
TIME_UNITS = ("s", "ms", "us", "ns", "D", "yyyymmdd")
_SCALE = {"s": 1, "ms": 1000, "us": 10**6, "ns": 10**9, "D": 1}
_F64_LIM = 2.0**63  # a finite float64 x casts to int64 exactly iff -2**63 <= floor(x) < 2**63
#: seconds per datetime64 unit coarser than a second (Y and M at their longest, to be safe)
_COARSE = {"Y": 366 * 86400, "M": 31 * 86400, "W": 7 * 86400, "D": 86400, "h": 3600, "m": 60}
_FINE = {"ms": 10**3, "us": 10**6, "ns": 10**9, "ps": 10**12, "fs": 10**15, "as": 10**18}


class ColumnError(ValueError):
    """A ValueError about the values of a column. ``row`` is the first bad row (input order)
    when known, so that a reader can name the file line; the message then ends ``(row N)``."""

    def __init__(self, message: str, row: int | None = None):
        super().__init__(message if row is None else f"{message} (row {row})")
        self.message, self.row = message, row


def _first_bad(bad: np.ndarray) -> int:
    return int(np.flatnonzero(np.ravel(bad))[0])


def _show(v) -> str:
    """A short repr of one (NumPy or bytes) value for a message."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


@dataclass(frozen=True, eq=False)
class Interactions:
    """A flat interaction log sorted by (user, time), stable for ties (file order kept).

    Attributes (all ``[N]``): ``user`` int64 (0-based, contiguous), ``item`` int64 (0-based,
    contiguous), ``timestamp`` int64 seconds, ``value`` float32 (rating, event type code, spend;
    1.0 when the source has none). ``user_ids`` ``[U]`` / ``item_ids`` ``[V]`` map the codes back to
    the original ids (sorted, so codes follow the original ids' order). ``extra`` holds further
    per-event columns (``[N]`` each, same order). ``synthetic_time`` is True when the source had
    only an order: then ``timestamp`` is the event's position in its user's history (0, 1, ...)
    and wall-clock scales are meaningless. ``name`` / ``version`` label reports; ``meta`` says
    where the data came from (format, source, time conversion).

    The constructor (also ``dataclasses.replace``) checks the columns and sorts rows that are not
    in (user, time) order (stable, like ``from_columns``; the check is O(N)).

    Raises:
        TypeError: ``user`` / ``item`` / ``timestamp`` not integer arrays, ``value`` not numbers,
            ``extra`` / ``meta`` not mappings. ValueError: columns of different lengths or not
            1-D, codes outside ``[0, num_users)`` / ``[0, num_items)``, ``user_ids`` /
            ``item_ids`` not sorted and distinct, a ``value`` that is NaN / inf or exceeds
            float32.
    """

    user: np.ndarray
    item: np.ndarray
    timestamp: np.ndarray
    value: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    name: str = ""
    version: str = ""
    synthetic_time: bool = False
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)
    meta: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self):
        def set_(name, v):
            object.__setattr__(self, name, v)

        user = _int_column(self.user, "user")
        n = len(user)
        item = _int_column(self.item, "item", n)
        ts = _int_column(self.timestamp, "timestamp", n)
        val = _as_values(self.value, n)  # (a float32 [n] array is not copied, only checked)
        user_ids = _id_column(self.user_ids, "user_ids")
        item_ids = _id_column(self.item_ids, "item_ids")
        for col, ids, role in ((user, user_ids, "user"), (item, item_ids, "item")):
            if n and (col.min() < 0 or col.max() >= len(ids)):
                raise ValueError(
                    f"{role} must be codes in [0, {len(ids)}) (one per {role}_ids entry), "
                    f"got {col.min()}..{col.max()}"
                )
        if not isinstance(self.extra, Mapping):
            raise TypeError(f"extra must be a mapping of name -> [N] array, got "
                            f"{type(self.extra).__name__}")
        if not isinstance(self.meta, Mapping):
            raise TypeError(f"meta must be a mapping, got {type(self.meta).__name__}")
        extra = {k: np.asarray(v) for k, v in self.extra.items()}
        for k, v in extra.items():
            if v.shape[:1] != (n,):
                raise ValueError(f"extra column {k!r} must have {n} rows, got shape {v.shape}")
        if not _sorted_by_user_time(user, ts):
            order = np.lexsort((ts, user))  # stable: ties keep their order
            user, item, ts, val = user[order], item[order], ts[order], val[order]
            extra = {k: v[order] for k, v in extra.items()}
        for name, v in (("user", user), ("item", item), ("timestamp", ts), ("value", val),
                        ("user_ids", user_ids), ("item_ids", item_ids), ("extra", extra)):
            set_(name, v)

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.user)

    def __repr__(self) -> str:
        return (
            f"Interactions(name={self.name!r}, events={len(self)}, users={self.num_users}, "
            f"items={self.num_items}, synthetic_time={self.synthetic_time})"
        )

    @property
    def counts(self) -> np.ndarray:
        """Events per user ``[U]`` int64."""
        return np.bincount(self.user, minlength=self.num_users).astype(np.int64)

    @property
    def offsets(self) -> np.ndarray:
        """``[U + 1]`` int64: user ``u``'s events are rows ``offsets[u]:offsets[u + 1]``."""
        return np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)

    def item_popularity(self) -> np.ndarray:
        """Events per item ``[V]`` int64."""
        return np.bincount(self.item, minlength=self.num_items).astype(np.int64)

    def label(self) -> dict:
        """``{"name", "version", "events", "users", "items", "synthetic_time"}`` for reports."""
        return {
            "name": self.name,
            "version": self.version,
            "events": len(self),
            "users": self.num_users,
            "items": self.num_items,
            "synthetic_time": self.synthetic_time,
        }

    def describe(self) -> dict:
        """``label()`` plus the time span (ISO, UTC) and the source metadata."""
        out = self.label()
        if len(self) and not self.synthetic_time:
            lo, hi = self.timestamp.min(), self.timestamp.max()
            out["time_span"] = [str(np.datetime64(int(t), "s")) for t in (lo, hi)]
        out.update({k: v for k, v in self.meta.items() if k not in out})
        return out

    def encode_items(self, ids) -> np.ndarray:
        """Codes of original item ids ``[M]`` int64, -1 for ids not in the data."""
        return _encode(self.item_ids, ids)

    def encode_users(self, ids) -> np.ndarray:
        """Codes of original user ids ``[M]`` int64, -1 for ids not in the data."""
        return _encode(self.user_ids, ids)

    def decode_items(self, codes) -> np.ndarray:
        """Original item ids of codes (any shape). Raises TypeError for non-integer codes,
        ValueError for codes outside ``[0, num_items)`` (-1 from ``encode_items`` included)."""
        return self.item_ids[index_array(codes, "codes", self.num_items, "item codes")]

    def decode_users(self, codes) -> np.ndarray:
        """Original user ids of codes (any shape). Raises like ``decode_items``."""
        return self.user_ids[index_array(codes, "codes", self.num_users, "user codes")]

    def take(self, rows, compact: bool = False) -> Interactions:
        """The events selected by a boolean mask ``[N]`` or increasing row indices ``[M]`` (no
        repeats: the result stays sorted by (user, time)), in the same id space
        (``compact=False``; unused ids stay) or re-encoded to the ids still present.

        Raises:
            TypeError: indices that are not integers, ``compact`` not True or False.
            ValueError: a mask of the wrong shape, indices outside ``[0, N)``, not increasing,
                or not 1-D.
        """
        compact = as_bool(compact, "compact")
        rows = as_array(rows, "rows", " of integers")
        if rows.dtype == bool:
            if rows.shape != (len(self),):
                raise ValueError(f"rows mask must have shape ({len(self)},), got {rows.shape}")
            rows = np.flatnonzero(rows)
        else:
            rows = index_array(rows, "rows", len(self), "row indices")
            if rows.ndim != 1:
                raise ValueError(f"rows must be 1-D, got shape {rows.shape}")
            if len(rows) > 1 and not (rows[1:] > rows[:-1]).all():
                raise ValueError(
                    "rows must be increasing row indices without repeats (the log stays sorted "
                    "by (user, time)); pass np.unique(rows) or a boolean mask"
                )
        out = _unchecked(  # a subset in order keeps every invariant
            self,
            user=self.user[rows],
            item=self.item[rows],
            timestamp=self.timestamp[rows],
            value=self.value[rows],
            extra={k: v[rows] for k, v in self.extra.items()},
        )
        return _compact(out) if compact else out

    def to_padded(self, max_len: int | None = None):
        """Per-user padded sequences, most recent ``max_len`` events kept (vectorised).

        Returns ``(items [U, T] int64, timestamps [U, T] int64, values [U, T] float32,
        lengths [U] int64)`` with ``T = min(max_len, longest history)``; padding is 0.
        See ``chronoscale.data.padded_histories`` for the general form.
        """
        from .sequences import padded_histories

        b = padded_histories(self, max_len=max_len)
        return b.items, b.timestamps, b.values, b.lengths


def _unchecked(x: Interactions | None, **changes) -> Interactions:
    """``dataclasses.replace(x, **changes)`` (every field in ``changes`` when ``x`` is None)
    without the constructor's checks: for results that keep the invariants by construction."""
    out = object.__new__(Interactions)
    for f in fields(Interactions):
        object.__setattr__(out, f.name, changes[f.name] if f.name in changes or x is None
                           else getattr(x, f.name))
    return out


def _int_column(a, name: str, n: int | None = None) -> np.ndarray:
    """A 1-D integer column (of ``n`` rows when given) as int64, never wrapped."""
    a = np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if n is not None and len(a) != n:
        raise ValueError(f"{name} has {len(a)} rows, user has {n}")
    return int64_indices(a, name)


def _id_column(ids, name: str) -> np.ndarray:
    """``user_ids`` / ``item_ids``: 1-D, sorted and distinct (``encode_*`` search them)."""
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {ids.shape}")
    if len(ids) > 1 and ids.dtype.kind != "O" and not (ids[1:] > ids[:-1]).all():
        raise ValueError(f"{name} must be sorted and distinct (codes follow the ids' order)")
    return ids


def check_log(x, name: str = "x") -> Interactions:
    """``x`` when it is an ``Interactions``; TypeError naming ``name`` otherwise."""
    if not isinstance(x, Interactions):
        raise TypeError(f"{name} must be an Interactions log, got {type(x).__name__}")
    return x


def _encode(sorted_ids: np.ndarray, ids) -> np.ndarray:
    ids = np.asarray(ids)
    if len(sorted_ids) == 0:
        return np.full(ids.shape, -1, np.int64)
    try:
        pos = np.searchsorted(sorted_ids, ids)
    except TypeError:  # e.g. str ids looked up with ints
        return np.full(ids.shape, -1, np.int64)
    pos = np.minimum(pos, len(sorted_ids) - 1)
    hit = sorted_ids[pos] == ids
    return np.where(hit, pos, -1).astype(np.int64)


def _compact(x: Interactions) -> Interactions:
    """Drop ids that no event uses (codes stay in the original ids' order)."""
    used_u = np.bincount(x.user, minlength=x.num_users) > 0
    used_i = np.bincount(x.item, minlength=x.num_items) > 0
    return _unchecked(  # monotone re-encoding: still sorted, codes in range
        x,
        user=(np.cumsum(used_u) - 1)[x.user],
        item=(np.cumsum(used_i) - 1)[x.item],
        user_ids=x.user_ids[used_u],
        item_ids=x.item_ids[used_i],
    )


def encode_ids(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sorted distinct ids, int64 codes)`` like ``np.unique(a, return_inverse=True)``; integers
    in a range no wider than a few times the row count use an O(N) table instead of a sort."""
    if a.dtype.kind in "iu" and len(a):
        lo, hi = int(a.min()), int(a.max())
        if hi - lo <= 4 * len(a) + 1024:
            present = np.zeros(hi - lo + 1, bool)
            present[a - lo] = True
            code = np.cumsum(present) - 1
            return np.flatnonzero(present).astype(a.dtype) + lo, code[a - lo].astype(np.int64)
    ids, inv = np.unique(a, return_inverse=True)
    if ids.dtype.kind == "S":  # bytes from the text parser: decode only the distinct ids
        try:
            ids = ids.astype(f"U{max(ids.dtype.itemsize, 1)}")
        except UnicodeDecodeError:
            ids = np.char.decode(ids, "utf-8")
    return ids, inv.reshape(-1).astype(np.int64)


def _decoded(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind != "S":
        return a
    try:
        return a.astype(f"U{max(a.dtype.itemsize, 1)}")
    except UnicodeDecodeError:
        return np.char.decode(a, "utf-8")


def _sorted_by_user_time(u, ts) -> bool:
    if len(u) < 2:
        return True
    du = np.diff(u)
    return bool((du >= 0).all() and ((du > 0) | (np.diff(ts) >= 0)).all())


def as_seconds(ts, time_unit: str = "s", *, name: str = "timestamp") -> np.ndarray:
    """int64 seconds (floored) from numbers in ``time_unit`` (``s``, ``ms``, ``us``, ``ns``,
    ``D`` days, ``yyyymmdd`` dates at midnight UTC), or from datetime64 / ISO date strings.

    Raises ValueError (a ``ColumnError`` naming ``name`` and the first bad row) for missing
    values (NaN, NaT), infinities, values whose seconds do not fit int64 (never wrapped),
    strings that are not ISO dates, invalid YYYYMMDD dates, or an unknown ``time_unit``;
    TypeError for other dtypes.
    """
    if not is_one_of(time_unit, TIME_UNITS):
        raise ValueError(f"time_unit must be one of {TIME_UNITS}, got {time_unit!r}")
    ts = np.asarray(ts)
    if ts.dtype.kind in "USO":
        ts = _parse_iso(ts, name)
    if ts.dtype.kind == "M":
        return _datetime_seconds(ts, name)
    if ts.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be numeric, datetime64 or ISO strings, got {ts.dtype}")
    if time_unit == "yyyymmdd":
        return _yyyymmdd_seconds(ts, name)
    if ts.dtype.kind == "f":
        out = np.floor(ts * 86400.0 if time_unit == "D" else ts / _SCALE[time_unit])
        if out.size and not (out.min() >= -_F64_LIM and out.max() < _F64_LIM):  # NaN fails too
            row = _first_bad(~((out >= -_F64_LIM) & (out < _F64_LIM)))
            v = ts.ravel()[row]
            if not np.isfinite(v):
                raise ColumnError(f"{name} has missing or non-finite values ({v})", row)
            raise ColumnError(f"{name} {v} ({time_unit}) does not fit int64 seconds", row)
        return out.astype(np.int64)
    if ts.dtype.kind == "u" and ts.size and ts.max() > I64_MAX:
        row = _first_bad(ts > I64_MAX)
        raise ColumnError(f"{name} {ts.ravel()[row]} ({time_unit}) does not fit int64", row)
    ts = ts.astype(np.int64)
    if time_unit != "D":
        return np.floor_divide(ts, _SCALE[time_unit])
    lim = I64_MAX // 86400
    if ts.size and not (ts.min() >= -lim and ts.max() <= lim):
        row = _first_bad((ts < -lim) | (ts > lim))
        raise ColumnError(f"{name} {ts.ravel()[row]} (D) does not fit int64 seconds", row)
    return ts * 86400


def _parse_iso(ts: np.ndarray, name: str) -> np.ndarray:
    """datetime64[s] from ISO strings; years too large for int64 seconds raise, not wrap."""
    try:
        out = ts.astype("datetime64[s]")
    except (ValueError, TypeError) as err:
        flat = ts.ravel()
        row = _text.first_raising(
            lambda v: v.astype("datetime64[s]"), flat, (ValueError, TypeError)
        )
        raise ColumnError(f"{name} {_show(flat[row])} is not an ISO date", row) from err
    if ts.dtype.kind in "US" and ts.size and ts.dtype.itemsize >= 12:
        # NumPy wraps a year of 12+ digits silently: check those (rarely any) by their year
        dash = np.char.find(ts, "-" if ts.dtype.kind == "U" else b"-", 1)
        big = (np.where(dash > 0, dash, np.char.str_len(ts)) >= 12).ravel()
        if big.any():
            y = ts.ravel()[big].astype("datetime64[Y]").view(np.int64)
            lim = I64_MAX // _COARSE["Y"]
            over = (y < -lim) | (y > lim)
            if over.any():
                row = int(np.flatnonzero(big)[_first_bad(over)])
                raise ColumnError(
                    f"{name} {_show(ts.ravel()[row])} does not fit int64 seconds", row
                )
    return out


def _datetime_seconds(ts: np.ndarray, name: str) -> np.ndarray:
    """int64 seconds of datetime64 values, floored; NaT and out-of-range values raise."""
    unit, count = np.datetime_data(ts.dtype)
    v = ts.view(np.int64)
    if unit in _COARSE:
        lo = -(I64_MAX // (_COARSE[unit] * count))
        hi = -lo
    else:  # NaT is int64 min; NumPy's floor division wraps within one unit of it
        lo, hi = -I64_MAX + _FINE.get(unit, 1), I64_MAX
    if v.size and not (v.min() >= lo and v.max() <= hi):
        row = _first_bad((v < lo) | (v > hi))
        if np.isnat(ts.ravel()[row]):
            raise ColumnError(f"{name} has missing values (NaT)", row)
        raise ColumnError(f"{name} {ts.ravel()[row]} does not fit int64 seconds", row)
    return ts.astype("datetime64[s]").astype(np.int64)


def _yyyymmdd_seconds(ts: np.ndarray, name: str) -> np.ndarray:
    if ts.size and not (ts.min() >= 0 and ts.max() <= 99991231):  # NaN fails too
        row = _first_bad(~((ts >= 0) & (ts <= 99991231)))
        raise ColumnError(f"{name} {ts.ravel()[row]} is not a YYYYMMDD date", row)
    d = ts.astype(np.int64)
    days = _text.civil_days(d // 10000, d // 100 % 100, d % 100)
    if days is None:
        flat = d.ravel()

        def ok(lo, hi):
            x = flat[lo:hi]
            return _text.civil_days(x // 10000, x // 100 % 100, x % 100) is not None

        row = _text.first_failing(ok, len(flat))
        raise ColumnError(f"{name} {flat[row]} is not a valid YYYYMMDD date", row)
    return days * 86400


def _check_ids(a, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.dtype.kind == "f" and len(a):
        lo, hi = a.min(), a.max()
        if not (np.isfinite(lo) and np.isfinite(hi)):  # NaN propagates to min and max
            row = _first_bad(~np.isfinite(a))
            raise ColumnError(f"{name} has missing or infinite values ({a[row]})", row)
        if lo >= -_F64_LIM and hi < _F64_LIM and (a == np.round(a)).all():
            a = a.astype(np.int64)  # whole numbers in range only: never wrapped
    elif a.dtype.kind == "O":
        head = a[: min(len(a), 1 << 20)]
        if any(v is None for v in head):
            row = next(j for j, v in enumerate(head) if v is None)
            raise ColumnError(f"{name} has missing values (None)", row)
        a = a.astype(str)
    if a.dtype.kind in "SU" and len(a):
        row = _missing_text(a)
        if row is not None:
            raise ColumnError(f"{name} has missing values ({_show(a[row])})", row)
    return a


# Text ids that stand for a missing value (what a float column would hold as NaN / inf).
_MISSING_TEXT = {"", "nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity",
                 "-infinity"}


def _missing_text(a: np.ndarray) -> int | None:
    """First row of a text id column (``S`` or ``U``) that is empty or spells NaN / inf, else
    None. Only the few fields of a matching length and first letter are compared as text."""
    a = np.ascontiguousarray(a)
    n = np.char.str_len(a)
    cand = np.flatnonzero((n == 0) | ((n >= 3) & (n <= 9)))
    if cand.size and a.dtype.itemsize:
        unit = np.uint8 if a.dtype.kind == "S" else np.uint32
        first = a.view(unit).reshape(len(a), -1)[cand, 0]
        starts = np.array([ord(c) for c in "nNiI+-"], dtype=unit)
        cand = cand[(n[cand] == 0) | np.isin(first, starts)]
    for r in cand:
        v = a[r]
        text = v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
        if text.lower() in _MISSING_TEXT:
            return int(r)
    return None


def _utf8_error(name: str, err: UnicodeDecodeError) -> ColumnError:
    return ColumnError(f"{name} is not UTF-8 text ({err.reason})")


def _as_values(value, n: int) -> np.ndarray:
    """float32 ``value`` column; a non-number, NaN, inf or a number beyond float32 raises
    ColumnError."""

    def convert(v):
        with np.errstate(over="raise"):  # 1e300 would silently become inf
            return np.asarray(v, dtype=np.float32)

    try:
        val = convert(value)
    except (TypeError, ValueError, FloatingPointError) as err:
        flat = np.asarray(value).ravel()
        row = _text.first_raising(convert, flat, (TypeError, ValueError, FloatingPointError))
        what = "does not fit float32" if isinstance(err, FloatingPointError) else "is not a number"
        raise ColumnError(f"value {_show(flat[row])} {what}", row) from err
    if val.shape != (n,):
        raise ValueError(f"value must have shape ({n},), got {val.shape}")
    if n and not np.isfinite(val).all():  # "nan" / "inf" parse as numbers; a rating is never
        row = _first_bad(~np.isfinite(val))
        raise ColumnError(f"value has missing or infinite values ({_show(val[row])})", row)
    return val


def from_columns(
    user,
    item,
    timestamp=None,
    value=None,
    *,
    extra: Mapping[str, np.ndarray] | None = None,
    dedupe: str | None = None,
    k_core: int | tuple[int, int] | None = None,
    name: str = "",
    version: str = "",
    meta: Mapping[str, object] | None = None,
) -> Interactions:
    """Build an ``Interactions`` from raw columns (all ``[N]``).

    ``user`` / ``item``: any ids (ints or strings), remapped to contiguous 0-based codes in the
    order of the sorted original ids. ``timestamp``: int64 seconds (floats are floored; convert
    other units with ``as_seconds`` first); None means the rows are in time order within each
    user, and timestamps are synthesised as the position in the user's history
    (``synthetic_time=True``). ``value``: float, default 1.0. Rows are sorted by (user, time),
    ties keeping their input order.

    ``dedupe``: None keeps every row; ``"exact"`` drops rows repeating an earlier row's (user,
    item, timestamp); ``"first"`` / ``"last"`` keep only the earliest / latest event of each
    (user, item) pair. ``k_core``: ``k`` or ``(k_user, k_item)``: repeatedly drop users with
    fewer than ``k_user`` events and items with fewer than ``k_item`` until none is left
    (applied after de-duplication). Raises ValueError on mismatched lengths, missing or
    non-finite ids (None, NaN, inf, and text ids that are empty or spell NaN / inf), ids that
    are not UTF-8, values that are not numbers, are NaN / inf or exceed float32,
    timestamps that are missing or do not fit int64 seconds (see ``as_seconds``; never wrapped)
    or bad option values (a negative ``k_core``); TypeError when ``extra`` is not a mapping or
    ``k_core`` is not integers (``2.5``, ``"a"``, ``(None, 1)``).
    """
    if extra is not None and not isinstance(extra, Mapping):
        raise TypeError(
            f"extra must be a mapping of name -> [N] array, got {type(extra).__name__}"
        )
    if dedupe is not None and not is_one_of(dedupe, DEDUPE_RULES):
        raise ValueError(f"dedupe must be one of {DEDUPE_RULES}, got {dedupe!r}")
    k_pair = None if k_core is None else k_core_pair(k_core)
    user, item = _check_ids(user, "user"), _check_ids(item, "item")
    n = len(user)
    if len(item) != n:
        raise ValueError(f"item has {len(item)} rows, user has {n}")
    synthetic = timestamp is None
    if synthetic:
        ts = np.zeros(n, np.int64)
    else:
        ts = np.asarray(timestamp)
        if ts.shape != (n,):
            raise ValueError(f"timestamp must have shape ({n},), got {ts.shape}")
        ts = as_seconds(ts) if ts.dtype.kind != "i" else ts.astype(np.int64)
    val = np.ones(n, np.float32) if value is None else _as_values(value, n)
    decoded = {}
    for k, v in (extra or {}).items():
        try:
            decoded[k] = _decoded(np.asarray(v))
        except UnicodeDecodeError as err:
            raise _utf8_error(f"extra column {k!r}", err) from err
    extra = decoded
    for k, v in extra.items():
        if v.shape[:1] != (n,):
            raise ValueError(f"extra column {k!r} must have {n} rows, got shape {v.shape}")

    encoded = []
    for role, ids in (("user", user), ("item", item)):
        try:
            encoded.append(encode_ids(ids))
        except UnicodeDecodeError as err:
            raise _utf8_error(role, err) from err
    (user_ids, u), (item_ids, i) = encoded
    if not _sorted_by_user_time(u, ts):
        order = np.lexsort((ts, u))  # stable: ties keep the input order
        u, i, ts, val = u[order], i[order], ts[order], val[order]
        extra = {k: v[order] for k, v in extra.items()}
    if synthetic:
        starts = np.concatenate([[0], np.cumsum(np.bincount(u, minlength=len(user_ids)))])
        ts = np.arange(n, dtype=np.int64) - starts[u]

    keep = np.ones(n, bool)
    if dedupe is not None:
        keep &= _dedupe_mask(u, i, ts, dedupe)
    if k_pair is not None:
        keep &= _k_core_mask(u, i, keep, k_pair, len(user_ids), len(item_ids))
    x = _unchecked(  # codes from encode_ids, rows sorted above: the checks would be redundant
        None,
        user=u,
        item=i,
        timestamp=ts,
        value=val,
        user_ids=user_ids,
        item_ids=item_ids,
        name=name,
        version=version,
        synthetic_time=synthetic,
        extra=extra,
        meta=dict(meta or {}),
    )
    return x if keep.all() else x.take(keep, compact=True)


def _dedupe_mask(u, i, ts, rule: str) -> np.ndarray:
    """Rows to keep; the input is sorted by (user, time), so row order is time order per user."""
    n = len(u)
    keep = np.zeros(n, bool)
    if n == 0:
        return keep
    if rule == "exact":
        idx = np.lexsort((ts, i, u))  # stable: among equal keys the earliest row comes first
        key_u, key_i, key_t = u[idx], i[idx], ts[idx]
        new = np.concatenate(
            [
                [True],
                (key_u[1:] != key_u[:-1]) | (key_i[1:] != key_i[:-1]) | (key_t[1:] != key_t[:-1]),
            ]
        )
        keep[idx[new]] = True
        return keep
    idx = np.lexsort((i, u))  # groups of (user, item), rows ascending (= time order) inside
    key_u, key_i = u[idx], i[idx]
    change = (key_u[1:] != key_u[:-1]) | (key_i[1:] != key_i[:-1])
    if rule == "first":
        sel = np.concatenate([[True], change])
    else:
        sel = np.concatenate([change, [True]])
    keep[idx[sel]] = True
    return keep


def k_core_pair(k_core) -> tuple[int, int]:
    """``(k_user, k_item)`` from ``k`` or a pair; TypeError for non-integers (``2.5``, ``"a"``,
    ``None`` inside the pair), ValueError for negatives or a sequence not of length 2."""
    if isinstance(k_core, np.ndarray) and k_core.ndim == 0:
        k_core = k_core.item()
    if isinstance(k_core, (tuple, list, np.ndarray)):
        if len(k_core) != 2:
            raise ValueError(
                f"k_core must be an integer k or a pair (k_user, k_item), got {k_core!r:.60}"
            )
        return check_int(k_core[0], "k_core[0]", 0), check_int(k_core[1], "k_core[1]", 0)
    k = check_int(k_core, "k_core", 0)
    return k, k


def _k_core_mask(u, i, keep, k_pair, U, V) -> np.ndarray:
    ku, ki = k_pair
    keep = keep.copy()
    while True:
        uc = np.bincount(u[keep], minlength=U)
        ic = np.bincount(i[keep], minlength=V)
        new = keep & (uc[u] >= ku) & (ic[i] >= ki)
        if new.sum() == keep.sum():
            return new
        keep = new


def filter_k_core(x: Interactions, k_core: int | tuple[int, int]) -> Interactions:
    """``x`` with users below ``k_user`` and items below ``k_item`` events removed repeatedly
    until stable (ids re-encoded). Raises like ``from_columns`` for a bad ``k_core``."""
    check_log(x)
    keep = np.ones(len(x), bool)
    return x.take(
        _k_core_mask(x.user, x.item, keep, k_core_pair(k_core), x.num_users, x.num_items),
        compact=True,
    )


def deduplicate(x: Interactions, rule: str = "exact") -> Interactions:
    """``x`` de-duplicated by ``rule`` (see ``from_columns``), ids re-encoded."""
    check_log(x)
    if not is_one_of(rule, DEDUPE_RULES[1:]):
        raise ValueError(f"rule must be one of {DEDUPE_RULES[1:]}, got {rule!r}")
    return x.take(_dedupe_mask(x.user, x.item, x.timestamp, rule), compact=True)
