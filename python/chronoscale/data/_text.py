"""Vectorised tokenizer and column parsers on raw bytes (NumPy only, no Python loop per row).

A chunk of text is a ``uint8`` array of complete lines. ``split_fields`` finds every field's
``[start, end)`` byte range and its line; the ``parse_*`` functions turn a column of ranges into
int64, float64, string or datetime (int64 seconds) arrays. Loops run over character positions
within a field (at most ~20), never over rows.
"""

from __future__ import annotations

import csv
import io

import numpy as np

_WS = np.zeros(256, bool)
_WS[[9, 10, 11, 12, 13, 32]] = True
_NL, _CR, _SPACE, _MINUS, _PLUS, _DOT, _QUOTE = 10, 13, 32, 45, 43, 46, 34
_UNIT_SEP = 0x1F  # field separator used when re-encoding a quoted CSV chunk
_POW10 = 10.0 ** np.arange(19)
_I64_HEAD = np.iinfo(np.int64).max // 10  # 2**63 - 1 without its last digit


class Fields:
    """Byte ranges of the fields of a chunk: ``start``, ``end`` ``[M]`` and ``line`` ``[M]`` (the
    index of the field's line among all lines of the chunk, blank lines included)."""

    __slots__ = ("buf", "start", "end", "line", "num_lines")

    def __init__(self, buf, start, end, line, num_lines):
        self.buf, self.start, self.end, self.line, self.num_lines = buf, start, end, line, num_lines

    def per_line(self) -> np.ndarray:
        """Number of fields on each line that has any ``[num_lines]``."""
        return np.bincount(self.line, minlength=self.num_lines)


def as_buffer(chunk: bytes) -> np.ndarray:
    """The chunk as ``uint8``, with a final newline appended when it lacks one."""
    if not chunk.endswith(b"\n"):
        chunk += b"\n"
    return np.frombuffer(chunk, np.uint8)


def split_fields(
    buf: np.ndarray, delimiter: str | None, where: str = "", first_line: int = 1
) -> Fields:
    """Fields of every non-blank line. ``delimiter=None`` splits on runs of whitespace (leading
    and trailing whitespace ignored); otherwise on each occurrence of the one-byte delimiter,
    with spaces around a field stripped and ``"`` quoting handled (via the csv module).
    A quoted chunk that is not UTF-8 or not valid CSV raises ValueError naming ``where`` (e.g.
    the file) and the line (``first_line`` numbers the chunk's first line)."""
    if delimiter is None:
        return _split_whitespace(buf)
    d = delimiter.encode()
    if len(d) != 1:
        raise ValueError(f"delimiter must be one byte, got {delimiter!r}")
    if _QUOTE in buf:
        buf = _requote(buf, delimiter, where, first_line)
        d = bytes([_UNIT_SEP])
    is_nl = buf == _NL
    sep = np.flatnonzero(is_nl | (buf == d[0]))  # every field ends at one of these, in order
    start = np.concatenate([[0], sep[:-1] + 1])
    end = sep.copy()
    at_nl = is_nl[sep]
    line = np.cumsum(at_nl) - at_nl  # newlines before each field's end
    cr = at_nl & (end > start) & (buf[np.maximum(end - 1, 0)] == _CR)
    end[cr] -= 1
    # a line's first field starts after a newline; an empty line is one field, empty, at a newline
    line_first = np.concatenate([[True], at_nl[:-1]])
    keep = ~(line_first & at_nl & (end == start))
    start, end, line = start[keep], end[keep], line[keep]
    if (buf == _SPACE).any():  # strip spaces around fields (rarely more than one or two)
        for _ in range(64):
            lead = (start < end) & (buf[np.minimum(start, len(buf) - 1)] == _SPACE)
            trail = (start < end) & (buf[np.maximum(end - 1, 0)] == _SPACE)
            if not (lead.any() or trail.any()):
                break
            start = start + lead
            end = end - trail
    nl = np.flatnonzero(is_nl)
    return Fields(buf, start, end, line, len(nl))


def _split_whitespace(buf: np.ndarray) -> Fields:
    ws = _WS[buf]
    prev_ws = np.concatenate([[True], ws[:-1]])
    next_ws = np.concatenate([ws[1:], [True]])
    start = np.flatnonzero(~ws & prev_ws)
    end = np.flatnonzero(~ws & next_ws) + 1
    nl = np.flatnonzero(buf == _NL)
    line = np.searchsorted(nl, start)
    return Fields(buf, start, end, line, len(nl))


def _requote(buf: np.ndarray, delimiter: str, where: str = "", first_line: int = 1) -> np.ndarray:
    """Re-encode a chunk with quoted fields through the csv module, joined by a unit separator
    (one output line per input line, blank ones included, so that line numbers still hold: a
    row whose quoted fields span several lines is followed by a blank line for each extra line,
    and the line breaks inside its fields become spaces)."""
    raw = buf.tobytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = first_line + raw.count(b"\n", 0, err.start)
        raise ValueError(f"{where}line {line}: not UTF-8 text ({err.reason})") from err
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    sep = chr(_UNIT_SEP)

    def lines():
        last = 0
        for r in rows:
            span = rows.line_num - last  # input lines this row took (1 unless a field has \n)
            last = rows.line_num
            if span == 1:
                yield sep.join(r) + "\n"
            else:
                flat = (f.replace("\r\n", " ").replace("\n", " ").replace("\r", " ") for f in r)
                yield sep.join(flat) + "\n" * span

    try:
        out = "".join(lines())
    except csv.Error as err:
        line = first_line + max(rows.line_num - 1, 0)
        raise ValueError(f"{where}line {line}: malformed CSV ({err})") from err
    return np.frombuffer(out.encode("utf-8"), np.uint8)


def table(fields: Fields, where: str = "", first_line: int = 1):
    """``(start, end)`` reshaped to ``[rows, columns]``; ValueError when a line has a different
    number of fields than the first (``first_line`` numbers the chunk's first line in it)."""
    counts = fields.per_line()
    counts = counts[counts > 0]
    if len(counts) == 0:
        return fields.start.reshape(0, 0), fields.end.reshape(0, 0)
    if (counts != counts[0]).any():
        lines = np.unique(fields.line)
        bad = int(np.flatnonzero(counts != counts[0])[0])
        raise ValueError(
            f"{where}line {int(lines[bad]) + first_line} has {int(counts[bad])} fields, "
            f"expected {int(counts[0])} like the first line"
        )
    C = int(counts[0])
    return fields.start.reshape(-1, C), fields.end.reshape(-1, C)


def _gather(buf, pos):
    return buf[np.minimum(pos, len(buf) - 1)]


def _digits(buf, s, e):
    """Unsigned integer value of digit-only ranges, or None when a range has another byte or
    does not fit int64 (more than 19 digits, or 19 digits above 2**63 - 1)."""
    n = e - s
    if len(n) and (n.min() < 1 or n.max() > 19):
        return None
    v = np.zeros(len(s), np.int64)
    for j in range(min(int(n.max(initial=0)), 18)):
        active = j < n
        c = _gather(buf, s + j).astype(np.int64) - 48
        if ((c < 0) | (c > 9))[active].any():
            return None
        v = np.where(active, v * 10 + c, v)
    if len(n) and n.max() == 19:  # the 19th digit may overflow: check before multiplying
        long = n == 19
        c = _gather(buf, s[long] + 18).astype(np.int64) - 48
        head = v[long]
        if ((c < 0) | (c > 9) | (head > _I64_HEAD) | ((head == _I64_HEAD) & (c > 7))).any():
            return None
        v[long] = head * 10 + c
    return v


def _sign(buf, s, e):
    first = _gather(buf, s)
    neg = (first == _MINUS) & (e > s)
    signed = (neg | (first == _PLUS)) & (e > s)
    return neg, s + signed


def parse_int(buf, s, e) -> np.ndarray | None:
    """int64 values of ``[-+]?[0-9]+`` ranges, or None if any range is not such an integer."""
    neg, s2 = _sign(buf, s, e)
    v = _digits(buf, s2, e)
    if v is None:
        return None
    return np.where(neg, -v, v)


def parse_float(buf, s, e) -> np.ndarray | None:
    """float64 values, or None if any range is not a number. ``[-+]?digits[.digits]`` with up to
    15 digits is converted exactly (one correctly rounded division); anything else (exponents,
    inf, nan, long mantissas) goes through NumPy's string conversion."""
    if len(s) == 0:
        return np.zeros(0)
    neg, s2 = _sign(buf, s, e)
    dots = np.flatnonzero(buf == _DOT)
    first = np.searchsorted(dots, s2)
    ndots = np.searchsorted(dots, e) - first
    if ndots.max() <= 1:
        dot = (
            e if len(dots) == 0 else np.where(ndots == 1, dots[np.minimum(first, len(dots) - 1)], e)
        )
        nint, nfrac = dot - s2, np.maximum(e - dot - 1, 0)
        ok = (nint + nfrac >= 1) & (nint + nfrac <= 15)
        if ok.all():
            ip = _digits_or_zero(buf, s2, dot)
            fp = _digits_or_zero(buf, dot + 1, np.maximum(e, dot + 1))
            if ip is not None and fp is not None:
                v = (ip * 10 ** nfrac.astype(np.int64) + fp) / _POW10[nfrac]
                return np.where(neg, -v, v)
    try:
        return parse_str(buf, s, e).astype(np.float64)
    except ValueError:
        return None


def _digits_or_zero(buf, s, e):
    """Like _digits, but an empty range is 0."""
    empty = e <= s
    out = np.zeros(len(s), np.int64)
    if empty.all():
        return out
    sub = _digits(buf, s[~empty], e[~empty])
    if sub is None:
        return None
    out[~empty] = sub
    return out


def parse_str(buf, s, e) -> np.ndarray:
    """The ranges as a fixed-width bytes array (``S<width>``, never truncated); decode the
    distinct values only (``from_columns`` does)."""
    n = e - s
    W = max(int(n.max(initial=0)), 1)
    mat = np.zeros((len(s), W), np.uint8)
    for j in range(W):
        active = j < n
        mat[:, j] = np.where(active, _gather(buf, s + j), 0)
    return mat.view(f"S{W}").reshape(-1)


def parse_id(buf, s, e) -> tuple[str, np.ndarray]:
    """``("int", int64)`` or ``("str", str)``: ids are never parsed as floats, so that ids of
    more than 19 digits (or float-formatted ones) stay distinct instead of rounding to the same
    float64."""
    v = parse_int(buf, s, e)
    return ("int", v) if v is not None else ("str", parse_str(buf, s, e))


def parse_auto(buf, s, e) -> tuple[str, np.ndarray]:
    """``("int", int64)``, ``("float", float64)`` or ``("str", str)``, the narrowest that fits."""
    v = parse_int(buf, s, e)
    if v is not None:
        return "int", v
    v = parse_float(buf, s, e)
    if v is not None:
        return "float", v
    return "str", parse_str(buf, s, e)


def parse_datetime(buf, s, e) -> np.ndarray | None:
    """int64 UTC seconds of ``YYYY-MM-DD[( |T)HH:MM[:SS[.fff]]][Z|(+|-)HH:MM]`` ranges (fractions
    of a second dropped, i.e. floored; an offset is subtracted to give UTC), or None if any
    range does not match."""
    n = e - s
    if len(s) == 0:
        return np.zeros(0, np.int64)
    if n.min() < 10:
        return None
    last = _gather(buf, e - 1)
    z = last == ord("Z")
    e = e - z
    n = e - s
    tz = (n >= 16) & np.isin(_gather(buf, e - 6), (_PLUS, _MINUS)) & (_gather(buf, e - 3) == 58)
    off = np.zeros(len(s), np.int64)
    if tz.any():
        hh = _digits(buf, (e - 5)[tz], (e - 3)[tz])
        mm = _digits(buf, (e - 2)[tz], e[tz])
        if hh is None or mm is None:
            return None
        sign = np.where(_gather(buf, (e - 6)[tz]) == _MINUS, -1, 1)
        off[tz] = sign * (hh * 3600 + mm * 60)
        e = np.where(tz, e - 6, e)
        n = e - s
    if not ((_gather(buf, s + 4) == _MINUS) & (_gather(buf, s + 7) == _MINUS)).all():
        return None
    y, m, d = (_digits(buf, s + a, s + b) for a, b in ((0, 4), (5, 7), (8, 10)))
    if y is None or m is None or d is None:
        return None
    days = civil_days(y, m, d)
    if days is None:
        return None
    secs = days * 86400
    has_time = n > 10
    if has_time.any():
        st = s[has_time]
        ok = np.isin(_gather(buf, st + 10), (ord(" "), ord("T"))) & (_gather(buf, st + 13) == 58)
        hh = _digits(buf, st + 11, st + 13)
        mi = _digits(buf, st + 14, st + 16)
        nt = n[has_time]
        with_s = nt >= 19
        ss = np.zeros(len(st), np.int64)
        if with_s.any():
            ok &= ~with_s | (_gather(buf, st + 16) == 58)
            sv = _digits(buf, (st + 17)[with_s], (st + 19)[with_s])
            if sv is None:
                return None
            ss[with_s] = sv
        if not ok.all() or hh is None or mi is None or (hh > 23).any() or (mi > 59).any():
            return None
        secs[has_time] += hh * 3600 + mi * 60 + ss
    return secs - off


def first_failing(ok, n: int) -> int:
    """Index of the first bad item among ``n`` by bisection, given ``ok(lo, hi)``: True when the
    items ``lo:hi`` are all good (a vectorised check; O(n) work in all). ``ok(0, n)`` must be
    False. For error messages: finds the row to report without a Python loop over rows."""
    lo, hi = 0, n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(lo, mid):
            lo = mid
        else:
            hi = mid
    return lo


def first_raising(convert, values, errors) -> int:
    """Index of the first item of ``values`` on which ``convert`` (vectorised, called on slices)
    raises one of ``errors`` (first_failing by bisection; ``convert(values)`` must raise)."""

    def ok(lo, hi):
        try:
            convert(values[lo:hi])
        except errors:
            return False
        return True

    return first_failing(ok, len(values))


def civil_days(y, m, d) -> np.ndarray | None:
    """Days since 1970-01-01 of proleptic Gregorian dates (int arrays), or None when a date is
    invalid (month outside 1..12 or day outside the month)."""
    y, m, d = (np.asarray(a, np.int64) for a in (y, m, d))
    if len(m) and ((m < 1).any() or (m > 12).any() or (d < 1).any() or (d > 31).any()):
        return None
    months = (y - 1970) * 12 + (m - 1)
    first = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    nxt = (months + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    days = first + d - 1
    if (days >= nxt).any():
        return None
    return days
