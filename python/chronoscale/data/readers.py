"""``read_interactions``: interaction logs from files (CSV/TSV/whitespace text, gzip or not,
Parquet, JSONL) and data frames (pandas, polars, pyarrow; duck-typed, none required).

Known formats (``format=``; detected from the name and the first lines when omitted). Every
loader returns timestamps as int64 seconds; the conversion is noted per format:

=================  ==========================================================================
``movielens-dat``  ``UserID::MovieID::Rating::Timestamp`` (ML-1M/10M ``ratings.dat``); seconds
``movielens-csv``  ``userId,movieId,rating,timestamp`` with header (ML-20M/25M/latest); seconds
``udata``          ``user item rating timestamp``, tab, no header (ML-100K ``u.data``); seconds
``recbole``        RecBole atomic ``.inter``: typed header ``user_id:token item_id:token
                   rating:float timestamp:float``; float seconds floored
``session``        ``SessionId ItemId Time`` (YOOCHOOSE / session-rec); sessions are the users;
                   float seconds floored
``sequence``       ``user item item ...``, one user per line (S3-Rec); order only: timestamps are
                   synthesised as 0, 1, 2, ... per user (``synthetic_time=True``)
``pairs``          ``user item`` per line, grouped by user in time order (SASRec); order only,
                   synthesised as for ``sequence``
``otto``           OTTO JSONL ``{"session", "events": [{"aid", "ts", "type"}]}`` (session, aid, ts
                   integers); sessions are the users; ``value`` = event type (0 clicks, 1 carts,
                   2 orders); ms floored to s
``cdnow``          ``customer_id date number_of_cds dollar_value`` (whitespace, header); date
                   YYYYMMDD -> midnight UTC; no item ids: one item ``"purchase"``;
                   ``value`` = dollar_value, ``extra["number_of_cds"]``
``diginetica``     ``session_id;user_id;item_id;timeframe;eventdate``; sessions are the users;
                   eventdate midnight UTC + timeframe (ms since the session start) floored to s
``open-bandit``    Open Bandit Dataset CSV; no user id: the hashed ``user_feature_0..3``
                   combination is the user; ``value`` = click; ``extra`` position, propensity;
                   ISO timestamps (µs, +00:00) floored to s
``table``          any delimited text with or without header; columns by ``columns=`` or by
                   common names; timestamps in ``time_unit`` (default s) or ISO date strings
``parquet``        a Parquet file (needs pyarrow or polars), then as ``table``
=================  ==========================================================================
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Mapping
from functools import partial
from pathlib import Path

import numpy as np

from . import _io, _text
from .interactions import (
    DEDUPE_RULES,
    TIME_UNITS,
    ColumnError,
    Interactions,
    _show,
    as_seconds,
    from_columns,
    k_core_pair,
)

ROLES = ("user", "item", "timestamp", "value")
_ALIASES = {
    "user": "user userid uid sessionid session customerid visitorid reviewerid clientid".split(),
    "item": "item itemid iid movieid aid productid asin articleid trackid artistid".split(),
    "timestamp": "timestamp time ts datetime date eventtime unixreviewtime eventdate".split(),
    "value": "rating value score click overall dollarvalue weight count label".split(),
}
_OTTO_TYPES = ("clicks", "carts", "orders")
_EXTS = (".gz", ".gzip")


def _norm(name) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).split(":")[0].lower())


def read_interactions(
    source,
    format: str | None = None,
    columns: Mapping[str, str | int] | None = None,
    *,
    delimiter: str | None = None,
    header: bool | None = None,
    time_unit: str = "s",
    dedupe: str | None = None,
    k_core: int | tuple[int, int] | None = None,
    name: str | None = None,
    version: str | None = None,
    progress: bool | None = None,
) -> Interactions:
    """Read an interaction log into an ``Interactions`` (sorted by user, then time; stable ties).

    Parameters
    ----------
    source : path (str / Path, gzip detected by content), a pandas / polars DataFrame, a pyarrow
        Table, or a mapping of column name -> array.
    format : one of ``FORMATS`` (see the module docstring); detected when None.
    columns : a mapping role -> column name (str) or 0-based position (int >= 0, e.g. for
        headerless text), roles ``user``, ``item``, ``timestamp``, ``value``; any other (str) key
        keeps that column in ``extra``. Roles not given are found by common names (``userId``,
        ``item_id``, ``SessionId``, ``rating``...). Without a timestamp column the row order is
        taken as time order (``synthetic_time``). User and item ids in text files are read as
        integers, or as text when a field is not an integer (never as floats: ids of more than
        19 digits stay distinct).
    delimiter : one character, ``"::"``, or None (sniffed: tab, comma, semicolon, pipe, else
        runs of whitespace).
    header : whether text has a header line; None detects it.
    time_unit : unit of numeric timestamps in ``table``/frame input: ``s``, ``ms``, ``us``,
        ``ns``, ``D`` or ``yyyymmdd``.
    dedupe, k_core : see ``from_columns`` (default: keep every row, no filtering).
    name, version : labels for reports; default the file name and ``sha256:<16 hex>`` of the
        file's bytes.
    progress : tqdm progress bar while reading text; None shows it for files >= 16 MiB.

    Raises
    ------
    ValueError for an unknown format, ``time_unit`` or ``dedupe``, a negative ``k_core``, a
    negative or out-of-range column position, a missing column, or a file that does not fit its
    format: ragged lines, fields of the wrong kind, malformed JSON / CSV, corrupt or truncated
    gzip data, text that is not UTF-8 (the message names the file and, where the reader can
    tell, the line; the original exception is chained). Also for unusable values, in files and
    frames alike: missing or non-finite ids (empty fields and text spelling NaN / inf too),
    values that are not numbers, are NaN / inf or exceed float32, timestamps that are missing or
    whose seconds do not fit int64 (never wrapped; frames name the row). TypeError when
    ``columns`` is not a mapping of str -> column name / position or ``k_core`` not integers
    (both checked before reading); ImportError for Parquet without pyarrow/polars;
    FileNotFoundError for a missing file; ValueError for a path that exists but is not a regular
    file (a directory, a device such as ``/dev/zero``, a named pipe).
    """
    opts = dict(dedupe=dedupe, k_core=k_core)
    if dedupe not in DEDUPE_RULES:  # checked before a big file is read, as from_columns does
        raise ValueError(f"dedupe must be one of {DEDUPE_RULES}, got {dedupe!r}")
    if k_core is not None:
        k_core_pair(k_core)
    if format is not None and format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    _check_columns(columns)
    if time_unit not in TIME_UNITS:
        raise ValueError(f"time_unit must be one of {TIME_UNITS}, got {time_unit!r}")
    if not isinstance(source, (str, Path)):
        cols = _frame_columns(source)
        meta = {"format": "frame", "source": type(source).__name__}
        return _from_named(cols, columns, time_unit, name or "", version or "", meta, opts)

    path = _io.regular_file(source)  # (a directory or /dev/zero: ValueError, not "no such")
    fmt = format or detect_format(path)
    label = name if name is not None else _base_name(path)
    ver = version if version is not None else file_version(path)
    meta = {"format": fmt, "source": str(path)}
    args = (path, columns, delimiter, header, time_unit, progress)
    cols, meta_more, locate = _LOADERS[fmt](*args)
    meta.update(meta_more)
    try:
        if fmt != "parquet":  # the loader named the roles and converted timestamps to seconds
            return _from_named(cols, None, "s", label, ver, meta, opts)
        return _from_named(cols, columns, time_unit, label, ver, meta, opts)
    except ColumnError as err:
        raise _file_error(path, err, locate) from err


def _check_columns(columns) -> None:
    if columns is None:
        return
    if not isinstance(columns, Mapping):
        raise TypeError(
            "columns must be a mapping of role (or extra column) -> column name or 0-based "
            f"position, e.g. {{'user': 'userId', 'item': 1}}, got {type(columns).__name__}"
        )
    for key, col in columns.items():
        if not isinstance(key, str):
            raise TypeError(f"columns keys must be roles or column names (str), got {key!r}")
        if isinstance(col, (bool, np.bool_)) or not isinstance(col, (str, int, np.integer)):
            raise TypeError(
                f"columns[{key!r}] must be a column name (str) or a 0-based position (int), "
                f"got {type(col).__name__}"
            )
        if not isinstance(col, str) and col < 0:
            raise ValueError(f"columns[{key!r}] = {col} is negative; positions are 0-based")


def _file_error(path: Path, err: ColumnError, locate=None) -> ValueError:
    """``err`` (about a column's values) as a ValueError naming the file and, when the loader
    can map the bad row back (``locate(row) -> line``) or the text is not UTF-8, the line."""
    line = None
    if err.row is not None and locate is not None:
        line = locate(err.row)
    elif isinstance(err.__cause__, UnicodeDecodeError):
        line = _io.first_non_utf8_line(path)
    if line is None:
        return ValueError(f"{path.name}: {err}")
    return ValueError(f"{path.name}: line {line}: {err.message}")


def _rows_of(path, d, skip):
    """``locate(row) -> line`` for the rows that ``_read_text(path, d, skip, ...)`` returns."""
    if d == "::":
        return partial(_io.line_of_row, path, "\x1f", skip, replace=(b"::", b"\x1f"))
    return partial(_io.line_of_row, path, d, skip)


def _to_seconds(a, unit: str, path: Path, locate, name: str = "timestamp") -> np.ndarray:
    """A numeric column parsed from text as int64 seconds; the ValueError for a field that is
    not a number or out of range names the file and line."""
    if a.dtype.kind not in "iuf":
        row = _text.first_raising(lambda v: v.astype(np.float64), a, (TypeError, ValueError))
        raise ValueError(f"{path.name}: line {locate(row)}: {name} {_show(a[row])} is not a number")
    try:
        return as_seconds(a, unit, name=name)
    except ColumnError as err:
        raise _file_error(path, err, locate) from err


def _base_name(path: Path) -> str:
    n = path.name
    for ext in _EXTS:
        if n.lower().endswith(ext):
            n = n[: -len(ext)]
    return n


def file_version(path) -> str:
    """``sha256:<first 16 hex digits>`` of the file's bytes, a dataset version label.
    FileNotFoundError for a missing file, ValueError for a path that is not a regular file."""
    h = hashlib.sha256()
    with open(_io.regular_file(path), "rb") as f:  # (/dev/zero would never end)
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()[:16]


# ---------------------------------------------------------------------------------- detection


def _sniff_delimiter(line: str) -> str | None:
    if "::" in line:
        return "::"
    counts = {d: line.count(d) for d in ("\t", ",", ";", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else None


def _split(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return line.split()
    if len(delimiter) != 1 or '"' not in line:
        return [t.strip() for t in line.split(delimiter)]
    try:
        return [t.strip() for t in next(csv.reader([line], delimiter=delimiter), [])]
    except csv.Error:  # not CSV after all: the reader reports it with the line number
        return [t.strip() for t in line.split(delimiter)]


def _is_number(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


def detect_format(path) -> str:
    """The ``format`` that ``read_interactions`` would use for this file (from its name and first
    lines). Raises ValueError when the file is empty, its gzip data is corrupt or truncated, or
    the path is not a regular file (a directory, a device); FileNotFoundError when it is
    missing."""
    path = Path(path)
    low = _base_name(path).lower()
    if low.endswith((".parquet", ".pq")):
        return "parquet"
    if low.endswith(".inter"):
        return "recbole"
    lines = _io.peek_lines(path)
    if not lines:
        raise ValueError(f"{path.name}: file is empty")
    first = lines[0].lstrip("\ufeff")
    if first.lstrip().startswith("{") or low.endswith((".jsonl", ".json", ".ndjson")):
        return "otto"
    if "::" in first:
        return "movielens-dat"
    d = _sniff_delimiter(first)
    names = {_norm(t) for t in _split(first, d)}
    toks = _split(first, d)
    if toks and all(re.fullmatch(r"[^:\s]+:(token|float|token_seq|float_seq)", t) for t in toks):
        return "recbole"
    if names >= {"userid", "movieid", "rating", "timestamp"}:
        return "movielens-csv"
    if names >= {"sessionid", "itemid", "time"}:
        return "session"
    if names >= {"customerid", "date", "numberofcds", "dollarvalue"}:
        return "cdnow"
    if names >= {"sessionid", "itemid", "timeframe", "eventdate"}:
        return "diginetica"
    if names >= {"timestamp", "itemid", "click", "propensityscore"}:
        return "open-bandit"
    if _has_header(lines, d):
        return "table"
    counts = [len(_split(ln, d)) for ln in lines]
    if d is None and (len(set(counts)) > 1 or counts[0] > 4):
        return "sequence"
    if counts[0] == 2:
        return "pairs"
    return "table"


def _has_header(lines: list[str], d) -> bool:
    first = _split(lines[0], d)
    if any(_norm(t) in a for t in first for a in _ALIASES.values()):
        return True
    if len(lines) < 2:
        return False
    second = _split(lines[1], d)
    return len(second) == len(first) and any(
        not _is_number(a) and _is_number(b) for a, b in zip(first, second)
    )


# ------------------------------------------------------------------------------------ loaders


def _resolve(names: list[str], columns, ncols: int) -> dict[str, int]:
    """role -> column position from ``columns`` (names or positions) and, for the roles not
    given, common names (or, headerless, the position convention user item [value] timestamp)."""
    out: dict[str, int] = {}
    norm = [_norm(n) for n in names]
    for role, col in (columns or {}).items():
        if isinstance(col, (int, np.integer)):
            if not 0 <= col < ncols:
                raise ValueError(
                    f"columns[{role!r}] = {col} is out of range (0-based, {ncols} columns)"
                )
            out[role] = int(col)
        elif col in names:
            out[role] = names.index(col)
        elif _norm(col) in norm:
            out[role] = norm.index(_norm(col))
        else:
            raise ValueError(f"columns[{role!r}] = {col!r} is not a column; columns are {names}")
    taken = set(out.values())
    if names and any(names):
        for role in ROLES:
            if role in out:
                continue
            for alias in _ALIASES[role]:
                hits = [j for j, n in enumerate(norm) if n == alias and j not in taken]
                if hits:
                    out[role] = hits[0]
                    taken.add(hits[0])
                    break
    elif not columns:
        layout = {
            2: ("user", "item"),
            3: ("user", "item", "timestamp"),
            4: ("user", "item", "value", "timestamp"),
        }.get(ncols)
        if layout is None:
            raise ValueError(
                f"headerless file with {ncols} columns: say which is which with columns="
            )
        out = {r: j for j, r in enumerate(layout)}
    for role in ("user", "item"):
        if role not in out:
            raise ValueError(
                f"no {role} column found among {names}; pass columns={{{role!r}: ...}}"
            )
    return out


def _load_table(path, columns, delimiter, header, time_unit, progress):
    lines = _io.peek_lines(path)
    if not lines:
        return {}, {"rows": 0}, None
    d = delimiter if delimiter is not None else _sniff_delimiter(lines[0])
    if header is None:
        header = _has_header(lines, d)
    first = _split(lines[0].lstrip("\ufeff"), d)
    hdr = first if header else [""] * len(first)
    where = _resolve(hdr, columns, len(first))
    usecols = sorted(set(where.values()))
    # user / item ids: integers or text, never floats (20-digit ids would round together)
    kinds = {where[r]: "id" for r in ("user", "item")}
    sample = _split(lines[1 if header else 0], d) if len(lines) > int(bool(header)) else []
    ts_col = where.get("timestamp")
    # (a short sample line is left for the reader to report with its line number)
    if ts_col is not None and ts_col < len(sample) and not _is_number(sample[ts_col]):
        kinds[ts_col] = "datetime"
    skip = int(bool(header))
    arrays = _read_text(path, d, skip, usecols, kinds, progress)
    cols = {role: arrays[usecols.index(j)] for role, j in where.items()}
    locate = _rows_of(path, d, skip)
    if ts_col is not None and ts_col not in kinds:
        cols["timestamp"] = _to_seconds(cols["timestamp"], time_unit, path, locate)
    return cols, {"columns": {r: (hdr[j] or j) for r, j in where.items()}}, locate


def _read_text(path, d, skip, usecols, kinds, progress):
    if d == "::":
        return _io.read_columns(
            path, "\x1f", skip, usecols, kinds, progress, replace=(b"::", b"\x1f")
        )
    return _io.read_columns(path, d, skip, usecols, kinds, progress)


def _load_movielens_dat(path, columns, delimiter, header, time_unit, progress):
    cols = {"user": 0, "item": 1, "value": 2, "timestamp": 3, **(columns or {})}
    return _load_table(path, cols, "::", False, time_unit, progress)


def _load_sequence(path, columns, delimiter, header, time_unit, progress):
    keys, items, line = _io.read_ragged(path, progress)

    def locate(row):
        return _io.line_of_row(path, None, 0, int(line[row]))

    return {"user": keys[line], "item": items}, {"time": "synthetic (order only)"}, locate


def _load_pairs(path, columns, delimiter, header, time_unit, progress):
    cols, meta, locate = _load_table(
        path, {"user": 0, "item": 1, **(columns or {})}, delimiter, header, "s", progress
    )
    cols.pop("timestamp", None)
    meta["time"] = "synthetic (order only)"
    return cols, meta, locate


def _load_otto(path, columns, delimiter, header, time_unit, progress):
    sess, aid, ts, typ, counts, rec_line = [], [], [], [], [], []
    line_no = 1
    for chunk in _io.iter_chunks(path, progress):
        for k, line in enumerate(chunk.split(b"\n"), line_no):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                ev = rec["events"]
                if type(ev) is not list:
                    raise TypeError("events is not a list")
                sess.append(rec["session"])
                counts.append(len(ev))
                aid.extend([e["aid"] for e in ev])
                ts.extend([e["ts"] for e in ev])
                typ.extend([_OTTO_TYPES.index(e["type"]) for e in ev])
            except (ValueError, KeyError, TypeError, RecursionError) as err:
                raise ValueError(f"{path.name}: line {k}: {_otto_problem(line, err)}") from err
            rec_line.append(k)
        line_no += chunk.count(b"\n")
    ends = np.cumsum(np.asarray(counts, np.int64))

    def event_line(row):
        return rec_line[int(np.searchsorted(ends, row, "right"))]

    ms = _otto_ints(ts, "ts", path, event_line)
    cols = {
        "user": np.repeat(_otto_ints(sess, "session", path, rec_line.__getitem__), counts),
        "item": _otto_ints(aid, "aid", path, event_line),
        "timestamp": np.floor_divide(ms, 1000),
        "value": np.asarray(typ, np.float32),
    }
    return (
        cols,
        {
            "time": "milliseconds floored to seconds",
            "value": "event type 0/1/2 = " + "/".join(_OTTO_TYPES),
        },
        event_line,
    )


def _otto_ints(values: list, key: str, path: Path, line_of) -> np.ndarray:
    """int64 array of the JSON numbers (converted like ``int()``, as NumPy does); a value that
    is not one or does not fit int64 raises ValueError naming the file and line."""

    def convert(vals):
        return np.fromiter(vals, np.int64, len(vals))

    try:
        return convert(values)
    except (TypeError, ValueError, OverflowError) as err:
        j = _text.first_raising(convert, values, (TypeError, ValueError, OverflowError))
        raise ValueError(
            f"{path.name}: line {line_of(j)}: {key} must be an int64 integer, "
            f"got {_show(values[j])}"
        ) from err


def _otto_problem(line: bytes, err: Exception) -> str:
    """What is wrong with one OTTO line (error path only)."""
    if isinstance(err, UnicodeDecodeError):
        return f"not UTF-8 text ({err.reason})"
    if isinstance(err, (json.JSONDecodeError, RecursionError)):
        return f"not valid JSON ({err})"
    rec = json.loads(line)
    form = 'expected {"session": int, "events": [{"aid": int, "ts": int, "type": str}]}'
    if not isinstance(rec, dict):
        return f"{form}, got a JSON {type(rec).__name__}"
    for key in ("session", "events"):
        if key not in rec:
            return f"missing key {key!r}; {form}"
    if not isinstance(rec["events"], list):
        return f"events must be a list, got {type(rec['events']).__name__}"
    for j, ev in enumerate(rec["events"]):
        if not isinstance(ev, dict):
            return f"event {j} is not an object; {form}"
        for key in ("aid", "ts", "type"):
            if key not in ev:
                return f"event {j} has no {key!r}; {form}"
        if ev["type"] not in _OTTO_TYPES:
            return f"event {j}: type {ev['type']!r} is not one of {_OTTO_TYPES}"
    return f"{form} ({type(err).__name__}: {err})"


def _load_cdnow(path, columns, delimiter, header, time_unit, progress):
    arrays = _io.read_columns(path, None, 1, [0, 1, 2, 3], {0: "str"}, progress)
    n = len(arrays[0])
    locate = partial(_io.line_of_row, path, None, 1)
    cols = {
        "user": arrays[0],
        "item": np.full(n, "purchase"),
        "timestamp": _to_seconds(arrays[1], "yyyymmdd", path, locate, "date"),
        "value": arrays[3],
        "number_of_cds": arrays[2],
    }
    return cols, {"time": "YYYYMMDD at midnight UTC", "value": "dollar_value"}, locate


def _load_diginetica(path, columns, delimiter, header, time_unit, progress):
    sess, item, frame, day = _io.read_columns(
        path, ";", 1, [0, 2, 3, 4], {0: "id", 2: "id", 4: "datetime"}, progress
    )
    locate = partial(_io.line_of_row, path, ";", 1)
    frame = _to_seconds(frame, "ms", path, locate, "timeframe")  # floored like floor_divide
    cols = {"user": sess, "item": item, "timestamp": day + frame}
    return (
        cols,
        {"time": "eventdate midnight UTC + timeframe ms floored to s; session = user"},
        locate,
    )


def _load_open_bandit(path, columns, delimiter, header, time_unit, progress):
    head = _io.peek_lines(path, 1)
    if not head:
        return {}, {}, None
    names = _split(head[0].lstrip("\ufeff"), ",")
    want = ["timestamp", "item_id", "position", "click", "propensity_score"]
    feats = [j for j, nm in enumerate(names) if nm.startswith("user_feature_")]
    missing = [w for w in want if w not in names] + ([] if feats else ["user_feature_*"])
    if missing:
        raise ValueError(f"{path.name}: line 1: no column {missing[0]!r} (Open Bandit Dataset)")
    pos = [names.index(w) for w in want]
    arrays = _io.read_columns(
        path, ",", 1, pos + feats, {pos[0]: "datetime", pos[1]: "id"}, progress
    )
    a = dict(zip(want, arrays))
    user = arrays[len(want)].astype(str)
    for f in arrays[len(want) + 1 :]:
        user = np.char.add(np.char.add(user, "|"), f.astype(str))
    cols = {
        "user": user,
        "item": a["item_id"],
        "timestamp": a["timestamp"],
        "value": a["click"],
        "position": a["position"],
        "propensity_score": a["propensity_score"],
    }
    meta = {
        "time": "ISO UTC, microseconds floored to s",
        "user": "user_feature_0..3 combination (no user id in the data)",
    }
    return cols, meta, partial(_io.line_of_row, path, ",", 1)


def _load_parquet(path, columns, delimiter, header, time_unit, progress):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        pq = None
    if pq is not None:
        errors = (ValueError, OSError)  # pyarrow's ArrowInvalid, ArrowIOError
        read = pq.read_table
    else:
        try:
            import polars as pl
        except ImportError:
            raise ImportError(
                f"reading {Path(path).name} (Parquet) needs pyarrow or polars: pip install pyarrow"
            ) from None
        errors = (ValueError, OSError, getattr(pl.exceptions, "PolarsError", ValueError))
        read = pl.read_parquet
    try:
        table = read(path)
    except errors as err:
        raise ValueError(f"{Path(path).name}: not a readable Parquet file ({err})") from err
    return _frame_columns(table), {}, None


_LOADERS = {
    "movielens-dat": _load_movielens_dat,
    "movielens-csv": _load_table,
    "udata": _load_table,
    "recbole": _load_table,
    "session": _load_table,
    "table": _load_table,
    "sequence": _load_sequence,
    "pairs": _load_pairs,
    "otto": _load_otto,
    "cdnow": _load_cdnow,
    "diginetica": _load_diginetica,
    "open-bandit": _load_open_bandit,
    "parquet": _load_parquet,
}
FORMATS = tuple(_LOADERS)


# ------------------------------------------------------------------------- frames and columns


def _frame_columns(obj) -> dict:
    """Column name -> NumPy array for pandas / polars DataFrames, pyarrow Tables and mappings."""
    if isinstance(obj, Mapping):
        return {str(k): np.asarray(v) for k, v in obj.items()}
    if hasattr(obj, "column_names") and hasattr(obj, "column"):  # pyarrow Table
        return {n: _to_numpy(obj.column(n)) for n in obj.column_names}
    if hasattr(obj, "columns") and hasattr(obj, "__getitem__"):  # pandas / polars
        return {str(n): _to_numpy(obj[n]) for n in list(obj.columns)}
    raise TypeError(
        "source must be a path, a pandas/polars DataFrame, a pyarrow Table or a mapping of "
        f"columns, got {type(obj).__name__}"
    )


def _to_numpy(col) -> np.ndarray:
    if hasattr(col, "to_numpy"):
        try:
            return np.asarray(col.to_numpy())
        except TypeError:  # pyarrow ChunkedArray with nulls
            return np.asarray(col.to_numpy(zero_copy_only=False))
    return np.asarray(col)


def _from_named(cols: dict, columns, time_unit, name, version, meta, opts) -> Interactions:
    """Pick the roles out of named columns (frames) or take loader output (roles as keys)."""
    if not cols:
        raise ValueError(f"{name or 'source'}: no rows")
    if not set(cols) >= {"user", "item"} or columns:
        names = list(cols)
        where = _resolve(names, columns, len(names))
        cols = {role: cols[names[j]] for role, j in where.items()}
    ts = cols.pop("timestamp", None)
    if ts is not None:
        ts = as_seconds(ts, time_unit)
    elif "time" not in meta:
        meta = {**meta, "time": "synthetic (no timestamp column: row order per user)"}
    return from_columns(
        cols.pop("user"),
        cols.pop("item"),
        ts,
        cols.pop("value", None),
        extra=cols,
        name=name,
        version=version,
        meta=meta,
        **opts,
    )
