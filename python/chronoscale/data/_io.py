"""File access for the readers: transparent gzip, peeking, chunked reading with a progress bar,
and whole-file column parsing built on the vectorised tokenizer in ``_text``."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from . import _text

#: files at least this large (on disk) show a progress bar when ``progress=None``
PROGRESS_MIN_BYTES = 16 << 20
CHUNK_BYTES = 16 << 20
_KIND_ORDER = {"int": 0, "float": 1, "str": 2}


def is_gzip(path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def open_binary(path):
    """``(stream, raw)``: the decompressed byte stream (gzip detected by its magic bytes, not by
    the name) and the raw file under it (for progress in on-disk bytes)."""
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller through the stream
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw
    raw.seek(0)
    return raw, raw


def peek_lines(path, n: int = 64, max_bytes: int = 1 << 20) -> list[str]:
    """Up to ``n`` first lines of the (decompressed) file, decoded as UTF-8 without newlines."""
    stream, raw = open_binary(path)
    try:
        head = stream.read(max_bytes)
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


def iter_chunks(
    path, progress: bool | None = None, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[bytes]:
    """The decompressed file in pieces of about ``chunk_bytes`` that end at a line end."""
    stream, raw = open_binary(path)
    bar = _progress_bar(path, os.fstat(raw.fileno()).st_size, progress)
    rest = b""
    try:
        while True:
            block = stream.read(chunk_bytes)
            if bar is not None:
                bar.update(raw.tell() - bar.n)
            if not block:
                break
            block = rest + block
            cut = block.rfind(b"\n") + 1
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
    column's kind (``"str"`` keeps ids with leading zeros apart, ``"datetime"`` parses ISO dates
    to int64 seconds); others are parsed as the narrowest of int64, float64, str.
    ``replace=(old, new)`` rewrites every chunk first (e.g. ``::`` to a one-byte delimiter).
    """
    kinds = kinds or {}
    cols: dict[int, list] = {}
    line_no, ncols = 1, None
    for chunk in iter_chunks(path, progress):
        if skip:
            chunk, done = _skip_lines(chunk, skip)
            skip -= done
            line_no += done
        if not chunk:
            continue
        if replace is not None:
            chunk = chunk.replace(*replace)
        fields = _text.split_fields(_text.as_buffer(chunk), delimiter)
        buf = fields.buf  # a quoted chunk comes back re-encoded
        st, en = _text.table(fields, f"{Path(path).name}: ", line_no)
        line_no += chunk.count(b"\n")
        if st.size == 0:
            continue
        if ncols is None:
            ncols = st.shape[1]
            for c in usecols or []:
                if not -ncols <= c < ncols:
                    raise ValueError(f"{Path(path).name}: column {c} out of range ({ncols} fields)")
        elif st.shape[1] != ncols:
            raise ValueError(
                f"{Path(path).name}: lines near line {line_no} have {st.shape[1]} fields, "
                f"expected {ncols}"
            )
        for c in usecols if usecols is not None else range(ncols):
            cols.setdefault(c, []).append(_parse(buf, st[:, c], en[:, c], kinds.get(c), path))
    if ncols is None:
        return [np.zeros(0, np.int64) for _ in usecols or []]
    return [unify(cols[c]) for c in (usecols if usecols is not None else range(ncols))]


def _parse(buf, s, e, kind, path):
    if kind is None:
        return _text.parse_auto(buf, s, e)
    if kind == "str":
        return "str", _text.parse_str(buf, s, e)
    if kind == "datetime":
        v = _text.parse_datetime(buf, s, e)
        if v is None:
            raise ValueError(f"{Path(path).name}: a date/time field is not YYYY-MM-DD[ HH:MM:SS]")
        return "int", v
    v = _text.parse_int(buf, s, e) if kind == "int" else _text.parse_float(buf, s, e)
    if v is None:
        raise ValueError(f"{Path(path).name}: a field expected to be {kind} is not")
    return kind, v


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
        keys.append(_text.parse_auto(buf, f.start[first], f.end[first]))
        toks.append(_text.parse_auto(buf, f.start[~first], f.end[~first]))
        lines.append(np.cumsum(first)[~first] - 1 + nlines)
        nlines += int(first.sum())
    if not keys:
        z = np.zeros(0, np.int64)
        return z, z, z
    return unify(keys), unify(toks), np.concatenate(lines)
