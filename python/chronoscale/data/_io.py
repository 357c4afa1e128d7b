"""File access for the readers: transparent gzip, peeking, chunked reading with a progress bar,
and whole-file column parsing built on the vectorised tokenizer in ``_text``; and the argument
checks shared by the data modules (``index_array``)."""

from __future__ import annotations

import gzip
import os
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..io import file_kind
from ..ops._common import as_array, int64_indices
from . import _text

#: files at least this large (on disk) show a progress bar when ``progress=None``
PROGRESS_MIN_BYTES = 16 << 20
CHUNK_BYTES = 16 << 20
_KIND_ORDER = {"int": 0, "float": 1, "str": 2}


def index_array(a, name: str, n: int, what: str = "codes") -> np.ndarray:
    """``a`` (any shape) as int64 indices into ``n`` things; an empty sequence gives an empty
    array whatever its dtype.

    Raises:
        TypeError: values that are not integers (floats are never truncated, bools never read
            as 0 / 1). ValueError: a value outside ``[0, n)`` (negatives never wrap), ragged
            nested lists.
    """
    try:
        arr = as_array(a, name, " of integers")
    except TypeError as err:
        raise TypeError(f"{name} must be an array of integers ({err})") from None
    if arr.size == 0:
        return np.zeros(arr.shape, np.int64)
    arr = int64_indices(arr, name, what)
    lo, hi = arr.min(), arr.max()
    if lo < 0 or hi >= n:
        raise ValueError(f"{name} must be {what} in [0, {n}), got {lo}..{hi}")
    return arr.astype(np.int64, copy=False)


def regular_file(path) -> Path:
    """``path`` as a ``Path`` when it names a regular file (symbolic links followed), checked
    before it is opened.

    Raises:
        FileNotFoundError: nothing exists at ``path`` ("no such file: ...").
        ValueError: it exists but is not a regular file: a directory, a device (``/dev/zero``
            would be read for ever), a named pipe (opening one blocks) or a socket.
        OSError: it cannot be examined (e.g. PermissionError).
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(f"no such file: {path}") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path}: it is {file_kind(mode)}, not a regular file; pass the path "
                         "of a data file")
    return path


def is_gzip(path) -> bool:
    with open(regular_file(path), "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def open_binary(path):
    """``(stream, raw)``: the decompressed byte stream (gzip detected by its magic bytes, not by
    the name) and the raw file under it (for progress in on-disk bytes). Only a regular file is
    opened (see ``regular_file``)."""
    raw = open(regular_file(path), "rb")  # noqa: SIM115 - closed by the caller through the stream
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw
    raw.seek(0)
    return raw, raw


def _read(stream, n: int, path) -> bytes:
    """``stream.read(n)``; undecodable gzip data raises ValueError naming the file."""
    try:
        return stream.read(n)
    except EOFError as err:  # gzip stream cut short
        raise ValueError(f"{Path(path).name}: truncated gzip data ({err})") from err
    except (zlib.error, gzip.BadGzipFile) as err:
        raise ValueError(f"{Path(path).name}: corrupt gzip data ({err})") from err


def peek_lines(path, n: int = 64, max_bytes: int = 1 << 20) -> list[str]:
    """Up to ``n`` first lines of the (decompressed) file, decoded as UTF-8 without newlines."""
    stream, raw = open_binary(path)
    try:
        head = _read(stream, max_bytes, path)
    finally:
        stream.close()
        raw.close()
    lines = head.split(b"\n")
    if len(head) == max_bytes and len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut
    return [ln.rstrip(b"\r").decode("utf-8", "replace") for ln in lines[:n] if ln.strip()]


def _progress_bar(path, size: int, progress: bool | None):
    show = size >= PROGRESS_MIN_BYTES if progress is None else bool(progress)
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=size, unit="B", unit_scale=True, desc=f"reading {Path(path).name}")


def _row_end(block: bytes, quoted: bool) -> int:
    """Index after the last line end of ``block`` (which starts at a row start) that ends a row:
    with ``quoted`` (CSV), a newline inside a quoted field does not (an even number of ``"``
    before it: doubled quotes inside a field count twice). 0 when there is none."""
    pos = block.rfind(b"\n")
    if not quoted or pos < 0 or b'"' not in block:
        return pos + 1
    # Walk back over the newlines, counting the quotes after each once (O(len(block)) in all).
    total, after, end = block.count(b'"'), 0, len(block)
    while pos >= 0:
        after += block.count(b'"', pos, end)
        if (total - after) % 2 == 0:
            return pos + 1
        end, pos = pos, block.rfind(b"\n", 0, pos)
    return 0


def iter_chunks(
    path, progress: bool | None = None, chunk_bytes: int = CHUNK_BYTES, *, quoted: bool = False
) -> Iterator[bytes]:
    """The decompressed file in pieces of about ``chunk_bytes`` that end at a line end (with
    ``quoted``: at a row end of a CSV file, never inside a quoted field that holds newlines)."""
    stream, raw = open_binary(path)
    bar = _progress_bar(path, os.fstat(raw.fileno()).st_size, progress)
    rest = b""
    try:
        while True:
            block = _read(stream, chunk_bytes, path)
            if bar is not None:
                bar.update(raw.tell() - bar.n)
            if not block:
                break
            block = rest + block
            cut = _row_end(block, quoted)
            if cut == 0:
                rest = block
                continue
            rest = block[cut:]
            yield block[:cut]
        if rest:
            yield rest
    finally:
        if bar is not None:
            bar.close()
        stream.close()
        raw.close()


def _skip_lines(chunk: bytes, n: int) -> tuple[bytes, int]:
    """Drop ``n`` lines from the start of the chunk; returns the rest and how many were dropped."""
    done = 0
    while done < n and chunk:
        cut = chunk.find(b"\n")
        chunk = b"" if cut < 0 else chunk[cut + 1 :]
        done += 1
    return chunk, done


def unify(parts: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """Concatenate per-chunk parsed columns, widening to the widest kind (int < float < str)."""
    if not parts:
        return np.zeros(0, np.int64)
    kind = max((k for k, _ in parts), key=_KIND_ORDER.__getitem__)
    conv = {"int": np.int64, "float": np.float64, "str": np.bytes_}[kind]
    return np.concatenate([a.astype(conv) if k != kind else a for k, a in parts])


def _chunk_fields(path, delimiter, skip, progress, replace) -> Iterator[tuple]:
    """``(fields, first_line)`` per chunk: the chunk's fields (``_text.Fields``) and the 1-based
    number of its first line, after dropping ``skip`` lines and applying ``replace``."""
    where = f"{Path(path).name}: "
    line_no = 1
    for chunk in iter_chunks(path, progress, quoted=delimiter is not None):
        if skip:
            chunk, done = _skip_lines(chunk, skip)
            skip -= done
            line_no += done
        if not chunk:
            continue
        if replace is not None:
            chunk = chunk.replace(*replace)
        yield _text.split_fields(_text.as_buffer(chunk), delimiter, where, line_no), line_no
        line_no += chunk.count(b"\n")


def read_columns(
    path,
    delimiter: str | None,
    skip: int = 0,
    usecols: list[int] | None = None,
    kinds: dict[int, str] | None = None,
    progress: bool | None = None,
    replace: tuple[bytes, bytes] | None = None,
) -> list[np.ndarray]:
    """Every row of a delimited text file (gzip or not) as one array per column.

    ``skip`` header lines are dropped; blank lines are ignored; every other line must have as
    many fields as the first. ``usecols`` selects columns (by position); ``kinds`` forces a
    column's kind (``"str"`` keeps ids with leading zeros apart, ``"id"``: int64 where every
    field of a chunk is an integer, else str, never float, ``"datetime"`` parses ISO dates
    to int64 seconds, ``"int"`` / ``"float"``); others are parsed as the narrowest of int64,
    float64, str. ``replace=(old, new)`` rewrites every chunk first (e.g. ``::`` to a one-byte
    delimiter). Malformed input (ragged lines, a field not of its forced kind, bad gzip data, a
    quoted chunk that is not UTF-8 / CSV) raises ValueError naming the file and the line.
    """
    kinds = kinds or {}
    name = Path(path).name
    cols: dict[int, list] = {}
    ncols = None
    for fields, first_line in _chunk_fields(path, delimiter, skip, progress, replace):
        st, en = _text.table(fields, f"{name}: ", first_line)
        if st.size == 0:
            continue
        if ncols is None:
            ncols = st.shape[1]
            for c in usecols or []:
                if not -ncols <= c < ncols:
                    raise ValueError(
                        f"{name}: line {first_line + int(fields.line[0])} has {ncols} fields, "
                        f"too few for column {c} (0-based)"
                    )
        elif st.shape[1] != ncols:
            raise ValueError(
                f"{name}: line {first_line + int(fields.line[0])} has {st.shape[1]} fields, "
                f"expected {ncols} like the first line"
            )
        for c in usecols if usecols is not None else range(ncols):
            kind, v = _parse(fields.buf, st[:, c], en[:, c], kinds.get(c))
            if v is None:
                rows_line = first_line + fields.line[:: st.shape[1]]
                raise _field_error(name, fields.buf, st[:, c], en[:, c], kinds[c], rows_line)
            cols.setdefault(c, []).append((kind, v))
    if ncols is None:
        return [np.zeros(0, np.int64) for _ in usecols or []]
    return [unify(cols[c]) for c in (usecols if usecols is not None else range(ncols))]


_PARSERS = {"int": _text.parse_int, "float": _text.parse_float, "datetime": _text.parse_datetime}
_KIND_TEXT = {
    "int": "an integer",
    "float": "a number",
    "datetime": "a date/time YYYY-MM-DD[ HH:MM:SS]",
}


def _parse(buf, s, e, kind) -> tuple[str, np.ndarray | None]:
    """``(kind, values)``; values None when a field is not of the forced ``kind``."""
    if kind is None:
        return _text.parse_auto(buf, s, e)
    if kind == "id":
        return _text.parse_id(buf, s, e)
    if kind == "str":
        return "str", _text.parse_str(buf, s, e)
    if kind not in _PARSERS:
        raise ValueError(f"unknown column kind {kind!r}")
    return ("int" if kind == "datetime" else kind), _PARSERS[kind](buf, s, e)


def _field_error(name, buf, s, e, kind, rows_line) -> ValueError:
    """The ValueError for the first field of ``s:e`` that does not parse as ``kind``."""
    parse = _PARSERS[kind]
    r = _text.first_failing(lambda lo, hi: parse(buf, s[lo:hi], e[lo:hi]) is not None, len(s))
    text = buf[s[r] : e[r]].tobytes().decode("utf-8", "replace")
    return ValueError(f"{name}: line {int(rows_line[r])}: {text!r} is not {_KIND_TEXT[kind]}")


def line_of_row(path, delimiter, skip, row: int, replace=None) -> int | None:
    """1-based line number of the ``row``-th (0-based) non-blank line after ``skip`` lines, i.e.
    of row ``row`` of ``read_columns`` / line ``row`` of ``read_ragged`` with the same
    arguments; None past the end. Reads the file again: for error messages only."""
    for fields, first_line in _chunk_fields(path, delimiter, skip, False, replace):
        lines = np.unique(fields.line)
        if row < len(lines):
            return first_line + int(lines[row])
        row -= len(lines)
    return None


def first_non_utf8_line(path) -> int | None:
    """1-based number of the first line that is not valid UTF-8, None if there is none. Reads
    the file again: for error messages only."""
    line_no = 1
    for chunk in iter_chunks(path, False):
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError as err:
            return line_no + chunk.count(b"\n", 0, err.start)
        line_no += chunk.count(b"\n")
    return None


def read_ragged(path, progress: bool | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A whitespace-separated file of variable-length lines ``key tok tok ...``.

    Returns ``(keys [L], tokens [M], line [M])``: the first field of every non-blank line, the
    other fields of all lines in file order, and the index (into ``keys``) of each token's line.
    """
    keys, toks, lines = [], [], []
    nlines = 0
    for chunk in iter_chunks(path, progress):
        buf = _text.as_buffer(chunk)
        f = _text.split_fields(buf, None)
        if f.start.size == 0:
            continue
        first = np.concatenate([[True], f.line[1:] != f.line[:-1]])
        keys.append(_text.parse_id(buf, f.start[first], f.end[first]))
        toks.append(_text.parse_id(buf, f.start[~first], f.end[~first]))
        lines.append(np.cumsum(first)[~first] - 1 + nlines)
        nlines += int(first.sum())
    if not keys:
        z = np.zeros(0, np.int64)
        return z, z, z
    return unify(keys), unify(toks), np.concatenate(lines)
