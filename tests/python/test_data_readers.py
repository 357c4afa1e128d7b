"""read_interactions on small files written here: every format, detection, gzip, column mapping,
header handling, frames, errors; and the vectorised tokenizer against Python's own parsing."""

from __future__ import annotations

import csv
import gzip
import json
import re
import sys
import zlib

import numpy as np
import pytest

from chronoscale.data import FORMATS, _text, detect_format, read_interactions


def write(tmp_path, name, text, gz=False):
    p = tmp_path / name
    data = text.encode()
    p.write_bytes(gzip.compress(data) if gz else data)
    return p


def events(x):
    """(original user, original item, timestamp, value) tuples in the container's order."""
    return list(
        zip(
            x.decode_users(x.user).tolist(),
            x.decode_items(x.item).tolist(),
            x.timestamp.tolist(),
            x.value.tolist(),
        )
    )


@pytest.mark.parametrize("gz", [False, True])
def test_movielens_dat(tmp_path, gz):
    p = write(
        tmp_path,
        "ratings.dat" + (".gz" if gz else ""),
        "2::20::4::300\n1::10::5::200\n1::11::3::100\n",
        gz,
    )
    assert detect_format(p) == "movielens-dat"
    x = read_interactions(p)
    assert events(x) == [(1, 11, 100, 3.0), (1, 10, 200, 5.0), (2, 20, 300, 4.0)]
    assert x.name == "ratings.dat" and x.version.startswith("sha256:")
    assert (
        x.user.dtype == np.int64 and x.timestamp.dtype == np.int64 and x.value.dtype == np.float32
    )


def test_movielens_csv_crlf_and_blank_lines(tmp_path):
    p = write(
        tmp_path,
        "ratings.csv",
        "userId,movieId,rating,timestamp\r\n1,1,4.0,964982703\r\n\r\n1,3,4.5,964981247\r\n",
    )
    assert detect_format(p) == "movielens-csv"
    assert events(read_interactions(p)) == [(1, 3, 964981247, 4.5), (1, 1, 964982703, 4.0)]


def test_recbole_inter_floors_float_time(tmp_path):
    p = write(
        tmp_path,
        "x.inter",
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n7\t1\t3\t10.9\n7\t2\t1\t10.2\n",
    )
    assert detect_format(p) == "recbole"
    # equal floored times: file order decides (stable ties)
    assert events(read_interactions(p)) == [(7, 1, 10, 3.0), (7, 2, 10, 1.0)]


def test_session_yoochoose(tmp_path):
    p = write(
        tmp_path,
        "clicks.txt",
        "SessionId\tItemId\tTime\n5\t214536502\t1396860669.277\n"
        "5\t214536506\t1396860886.998\n3\t1\t1396860000.5\n",
    )
    assert detect_format(p) == "session"
    x = read_interactions(p)
    assert events(x) == [
        (3, 1, 1396860000, 1.0),
        (5, 214536502, 1396860669, 1.0),
        (5, 214536506, 1396860886, 1.0),
    ]


def test_sequence_file_synthesises_order(tmp_path):
    p = write(tmp_path, "Beauty.txt", "1 5 6 7 8 9\n2 6 7\n\n3 9 8 7 6 5 4\n", gz=True)
    assert detect_format(p) == "sequence"
    x = read_interactions(p)
    assert x.synthetic_time and len(x) == 5 + 2 + 6 and x.num_users == 3
    assert x.decode_items(x.item[x.user == 2]).tolist() == [9, 8, 7, 6, 5, 4]
    assert x.timestamp[x.user == 2].tolist() == list(range(6))
    assert "synthetic" in x.meta["time"]


def test_pairs_sasrec(tmp_path):
    p = write(tmp_path, "Video.txt", "1 30\n1 10\n1 20\n2 10\n")
    assert detect_format(p) == "pairs"
    x = read_interactions(p)
    assert x.synthetic_time
    assert events(x) == [(1, 30, 0, 1.0), (1, 10, 1, 1.0), (1, 20, 2, 1.0), (2, 10, 0, 1.0)]


def test_otto_jsonl(tmp_path):
    rec = [
        {
            "session": 9,
            "events": [
                {"aid": 5, "ts": 1659304800025, "type": "clicks"},
                {"aid": 6, "ts": 1659304904999, "type": "orders"},
            ],
        },
        {"session": 2, "events": [{"aid": 5, "ts": 1000, "type": "carts"}]},
    ]
    p = write(tmp_path, "train.jsonl", "\n".join(json.dumps(r) for r in rec) + "\n")
    assert detect_format(p) == "otto"
    x = read_interactions(p)
    assert events(x) == [(2, 5, 1, 1.0), (9, 5, 1659304800, 0.0), (9, 6, 1659304904, 2.0)]


def test_cdnow_dates_to_midnight_utc(tmp_path):
    p = write(
        tmp_path,
        "CDNOW_master.txt",
        " customer_id  date number_of_cds  dollar_value\n"
        " 00001 19970101  1   11.77\n 00002 19970112  1   12.00\n 00002 19980228  5   77.00\n",
    )
    assert detect_format(p) == "cdnow"
    x = read_interactions(p)
    day = lambda s: int(np.datetime64(s, "s").astype(np.int64))  # noqa: E731
    assert x.timestamp.tolist() == [day("1997-01-01"), day("1997-01-12"), day("1998-02-28")]
    assert x.decode_users(x.user).tolist() == ["00001", "00002", "00002"]
    np.testing.assert_allclose(x.value, [11.77, 12.0, 77.0], rtol=1e-6)
    assert x.extra["number_of_cds"].tolist() == [1, 1, 5] and x.num_items == 1


def test_cdnow_bad_date(tmp_path):
    p = write(
        tmp_path, "c.txt", " customer_id  date number_of_cds  dollar_value\n 1 19970230 1 2.0\n"
    )
    with pytest.raises(ValueError, match="YYYYMMDD"):
        read_interactions(p)


def test_diginetica(tmp_path):
    p = write(
        tmp_path,
        "views.csv",
        "session_id;user_id;item_id;timeframe;eventdate\n"
        "1;NA;81766;526309;2016-05-09\n1;NA;31331;1031018;2016-05-09\n2;7;5;0;2016-01-03\n",
    )
    assert detect_format(p) == "diginetica"
    x = read_interactions(p)
    base = int(np.datetime64("2016-05-09", "s").astype(np.int64))
    assert x.timestamp[x.user == 0].tolist() == [base + 526, base + 1031]


def test_open_bandit(tmp_path):
    head = ",timestamp,item_id,position,click,propensity_score,user_feature_0,user_feature_1\n"
    rows = (
        "0,2019-11-24 00:00:34.762830+00:00,14,3,0,0.0125,aa,bb\n"
        "1,2019-11-24 01:00:00.1+02:00,3,1,1,0.5,aa,cc\n"
    )
    p = write(tmp_path, "all.csv", head + rows)
    assert detect_format(p) == "open-bandit"
    x = read_interactions(p)
    t0 = int(np.datetime64("2019-11-24T00:00:34", "s").astype(np.int64))
    t1 = int(np.datetime64("2019-11-23T23:00:00", "s").astype(np.int64))  # +02:00 -> UTC
    assert sorted(x.timestamp.tolist()) == sorted([t0, t1])
    assert set(x.user_ids.tolist()) == {"aa|bb", "aa|cc"}
    assert sorted(x.extra["propensity_score"].tolist()) == [0.0125, 0.5]


def test_table_column_mapping_and_extra(tmp_path):
    p = write(tmp_path, "log.tsv", "t\tu\tw\ti\tkind\n5\tA\t1.5\tX\tview\n3\tA\t2.5\tY\tbuy\n")
    x = read_interactions(
        p, columns={"user": "u", "item": "i", "timestamp": "t", "value": "w", "kind": "kind"}
    )
    assert events(x) == [("A", "Y", 3, 2.5), ("A", "X", 5, 1.5)]
    assert x.extra["kind"].tolist() == ["buy", "view"]


def test_headerless_positions_and_time_unit(tmp_path):
    p = write(tmp_path, "r.csv", "u1,i1,5.0,1500\nu1,i2,4.0,500\n")
    x = read_interactions(
        p, "table", {"user": 0, "item": 1, "value": 2, "timestamp": 3}, header=False, time_unit="ms"
    )
    assert events(x) == [("u1", "i2", 0, 4.0), ("u1", "i1", 1, 5.0)]


def test_iso_dates_in_table(tmp_path):
    p = write(tmp_path, "d.csv", "user,item,date\n1,2,2020-02-29\n1,3,2020-03-01T12:00:00Z\n")
    x = read_interactions(p)
    assert x.timestamp.tolist() == [1582934400, 1583064000]


def test_quoted_csv(tmp_path):
    p = write(tmp_path, "q.csv", 'user,item,timestamp\n"a, b",x,1\nc,"y""z",2\n')
    x = read_interactions(p)
    assert sorted(x.user_ids.tolist()) == ["a, b", "c"] and 'y"z' in x.item_ids.tolist()


def test_dedupe_and_kcore_options(tmp_path):
    p = write(tmp_path, "r.csv", "user,item,timestamp\n1,1,1\n1,1,1\n1,2,2\n2,1,3\n")
    assert len(read_interactions(p)) == 4
    assert len(read_interactions(p, dedupe="exact")) == 3
    x = read_interactions(p, k_core=(2, 2))  # user 2 has 1 event; then item 2 has 1
    assert events(x) == [(1, 1, 1, 1.0), (1, 1, 1, 1.0)]


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_interactions(tmp_path / "missing.csv")
    p = write(tmp_path, "r.csv", "user,item\n1,2\n3\n")
    with pytest.raises(ValueError, match="line 3"):
        read_interactions(p)
    with pytest.raises(ValueError, match="format"):
        read_interactions(p, format="nope")
    q = write(tmp_path, "s.csv", "a,b\n1,2\n")
    with pytest.raises(ValueError, match="user"):
        read_interactions(q)
    with pytest.raises(ValueError, match="not a column"):
        read_interactions(q, columns={"user": "a", "item": "zz"})
    with pytest.raises(ValueError, match="empty"):
        read_interactions(write(tmp_path, "e.txt", ""))
    assert set(FORMATS) >= {"movielens-dat", "recbole", "session", "sequence", "pairs", "otto"}


class _Col:
    def __init__(self, a):
        self.a = np.asarray(a)

    def to_numpy(self):
        return self.a


class FakePandas:
    """pandas-like: .columns and df[name].to_numpy()."""

    def __init__(self, d):
        self.d = d
        self.columns = list(d)

    def __getitem__(self, k):
        return _Col(self.d[k])


class FakeArrow:
    """pyarrow-like: .column_names and .column(name).to_numpy()."""

    def __init__(self, d):
        self.d = d
        self.column_names = list(d)

    def column(self, k):
        return _Col(self.d[k])


@pytest.mark.parametrize("kind", ["dict", "pandas-like", "arrow-like"])
def test_frames_duck_typed(kind):
    d = {
        "userId": ["b", "a", "a"],
        "movieId": [1, 2, 1],
        "ts": np.array(["2020-01-02", "2020-01-01", "2020-01-03"], "datetime64[s]"),
        "rating": [1.0, 2.0, 3.0],
    }
    src = {"dict": d, "pandas-like": FakePandas(d), "arrow-like": FakeArrow(d)}[kind]
    x = read_interactions(src, name="frame", columns={"timestamp": "ts"})
    assert events(x)[0] == ("a", 2, 1577836800, 2.0) and x.name == "frame"


def test_real_frame_libraries():
    libs = [m for m in ("pandas", "polars", "pyarrow") if _importable(m)]
    if not libs:
        pytest.skip("none of pandas, polars, pyarrow is installed")
    d = {"user_id": [3, 1, 1], "item_id": [7, 8, 9], "timestamp": [30, 20, 10]}
    for lib in libs:
        mod = __import__(lib)
        frame = mod.table(d) if lib == "pyarrow" else mod.DataFrame(d)
        x = read_interactions(frame)
        assert events(x) == [(1, 9, 10, 1.0), (1, 8, 20, 1.0), (3, 7, 30, 1.0)], lib


def _importable(name):
    try:
        __import__(name)
        return True
    except ImportError:
        return False


def test_parquet_without_engine_says_what_to_install(tmp_path, monkeypatch):
    p = tmp_path / "x.parquet"
    p.write_bytes(b"PAR1")
    for mod in ("pyarrow", "pyarrow.parquet", "polars"):
        monkeypatch.setitem(sys.modules, mod, None)  # makes `import mod` raise ImportError
    with pytest.raises(ImportError, match="pyarrow or polars"):
        read_interactions(p)


def test_parquet_roundtrip(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    p = tmp_path / "x.parquet"
    pq.write_table(pa.table({"user_id": [1, 1], "item_id": [5, 6], "timestamp": [2, 1]}), p)
    assert events(read_interactions(p)) == [(1, 6, 1, 1.0), (1, 5, 2, 1.0)]


def test_progress_bar_and_silence(tmp_path, capsys):
    p = write(
        tmp_path,
        "r.csv",
        "user,item,timestamp\n" + "".join(f"{i % 7},{i},{i}\n" for i in range(500)),
    )
    read_interactions(p, progress=True)
    assert "reading r.csv" in capsys.readouterr().err
    read_interactions(p, progress=False)
    assert capsys.readouterr().err == ""


def test_chunked_reading_matches_one_chunk(tmp_path, monkeypatch, rng):
    """Chunk boundaries (mid-file, types widening across chunks) change nothing."""
    from chronoscale.data import _io

    n = 3000
    u, i, t = rng.integers(0, 50, n), rng.integers(0, 400, n), rng.integers(0, 10**9, n)
    lines = [f"{a},{b},{c}" for a, b, c in zip(u, i, t)]
    lines[-1] = f"{u[-1]},{i[-1]},{t[-1]}.75"  # a float only in the last chunk
    p = write(tmp_path, "r.csv", "user,item,timestamp\n" + "\n".join(lines) + "\n")
    whole = read_interactions(p)
    monkeypatch.setattr(_io, "CHUNK_BYTES", 997)
    monkeypatch.setattr(_io.iter_chunks, "__defaults__", (None, 997))
    parts = read_interactions(p)
    assert events(whole) == events(parts) and len(whole) == n


def test_quoted_fields_with_line_breaks(tmp_path, monkeypatch):
    """A quoted CSV field may hold line breaks (review texts): the row is read as one event,
    in one chunk or split across many (never cut inside the field), and the line numbers of
    later errors still count every line of the file."""
    from chronoscale.data import _io

    rows = [
        'u1,i1,"great, really",100',
        'u2,i2,"two\nlines, and ""quotes""\n",200',
        'u1,i3,"",300',
        'u3,i1,"three\r\nline\nreview",400',
        "u2,i3,plain,500",
    ]
    text = "user,item,review,timestamp\n" + "\n".join(rows) + "\n"
    p = write(tmp_path, "r.csv", text)
    want = [
        ("u1", "i1", 100),
        ("u2", "i2", 200),
        ("u1", "i3", 300),
        ("u3", "i1", 400),
        ("u2", "i3", 500),
    ]
    want.sort()
    got = read_interactions(p, format="table")
    assert sorted(e[:3] for e in events(got)) == want
    for size in (7, 23, 41):  # chunk ends inside the quoted fields
        monkeypatch.setattr(_io.iter_chunks, "__defaults__", (None, size))
        assert sorted(e[:3] for e in events(read_interactions(p, format="table"))) == want
    bad = write(tmp_path, "bad.csv", text + "u4,i4,ok,soon\n")  # line 11 of the file
    with pytest.raises(ValueError, match=r"bad\.csv: line 11\b"):
        read_interactions(bad, format="table")


# ------------------------------------------------------------------ malformed input (fuzzer)


def _causes(err):
    """The chain of exceptions behind ``err`` (``raise ... from``)."""
    out = []
    while err.__cause__ is not None:
        err = err.__cause__
        out.append(type(err))
    return out


def _fails_because(path, data: bytes, match: str, cause: type) -> None:
    """``path`` holding ``data`` fails to read with a ValueError matching ``match`` whose
    chained causes include ``cause``."""
    path.write_bytes(data)
    with pytest.raises(ValueError, match=match) as info:
        read_interactions(path)
    assert cause in _causes(info.value)


@pytest.mark.parametrize("ts", ["1e30", "9223372036854775808", "-1e19", "inf", "nan"])
def test_text_timestamp_out_of_int64_raises_naming_file_and_line(tmp_path, ts):
    p = write(tmp_path, "r.csv", f"userId,movieId,rating,timestamp\n2,3,1,5\n\n1,10,4.0,{ts}\n")
    with pytest.raises(ValueError, match=r"r\.csv: line 4: timestamp"):
        read_interactions(p)


def test_timestamp_overflow_after_unit_conversion_raises(tmp_path):
    p = write(tmp_path, "r.csv", "u,i,t\n1,2,0\n1,3,106751991167301\n")  # days * 86400 > 2**63
    with pytest.raises(ValueError, match=r"r\.csv: line 3: timestamp"):
        read_interactions(p, columns={"user": "u", "item": "i", "timestamp": "t"}, time_unit="D")
    p = write(tmp_path, "m.dat", "1::2::3::4\n1::2::3::1e30\n")  # through the '::' reader
    with pytest.raises(ValueError, match=r"m\.dat: line 2: timestamp"):
        read_interactions(p)


@pytest.mark.parametrize(
    "ts, unit",
    [
        ([0, 2**62], "D"),
        ([0.0, 1e15], "D"),
        ([0.0, 1e19], "s"),
        ([0.0, np.nan], "s"),
        (np.array([1, 2**64 - 1], np.uint64), "s"),
        (np.array([1, 10**15], "datetime64[Y]"), "s"),
        (np.array(["2020-01-01", "NaT"], "datetime64[s]"), "s"),
        (["2020-01-01", "999999999999-01-01"], "s"),
        ([20200101, 2**62], "yyyymmdd"),
    ],
)
def test_frame_timestamp_overflow_raises_never_wraps(ts, unit):
    d = {"user": [1, 2], "item": [1, 2], "timestamp": ts}
    with pytest.raises(ValueError, match=r"timestamp .*\(row 1\)"):
        read_interactions(d, time_unit=unit)


def test_timestamps_at_the_int64_limits_are_exact(tmp_path):
    big = 2**63 - 1
    x = read_interactions({"user": [1, 2], "item": [1, 2], "timestamp": [-(2**63), big]})
    assert x.timestamp.tolist() == [-(2**63), big]
    lim = big // 86400
    x = read_interactions({"user": [1, 2], "item": [1, 2], "timestamp": [-lim, lim]}, time_unit="D")
    assert x.timestamp.tolist() == [-lim * 86400, lim * 86400]
    # 19-digit nanosecond timestamps are parsed exactly (not through float64)
    p = write(tmp_path, "ns.csv", "user,item,timestamp\n1,2,1659304800999999999\n")
    assert read_interactions(p, time_unit="ns").timestamp.tolist() == [1659304800]


def test_columns_negative_position_or_wrong_type(tmp_path):
    p = write(tmp_path, "r.csv", "1,10,4.0,100\n2,11,3.0,200\n")
    with pytest.raises(ValueError, match=r"columns\['user'\] = -1 is negative"):
        read_interactions(p, format="table", header=False, columns={"user": -1, "item": 1})
    with pytest.raises(ValueError, match=r"columns\['item'\] = 9 is out of range"):
        read_interactions(p, format="table", header=False, columns={"user": 0, "item": 9})
    with pytest.raises(TypeError, match="columns must be a mapping"):
        read_interactions(p, columns=["user"])
    with pytest.raises(TypeError, match=r"columns\['user'\] must be a column name"):
        read_interactions(p, format="table", header=False, columns={"user": True, "item": 1})
    with pytest.raises(TypeError, match="columns keys"):
        read_interactions(p, format="table", header=False, columns={0: "user"})
    with pytest.raises(ValueError, match="time_unit"):
        read_interactions(p, time_unit="hours")


def test_session_ragged_row_names_file_and_line(tmp_path):
    p = write(tmp_path, "r2.tsv", "SessionId\tItemId\tTime\n1\t10\n")
    with pytest.raises(ValueError, match=r"r2\.tsv: line 2 has 2 fields"):
        read_interactions(p, format="session")
    p = write(tmp_path, "r3.tsv", "SessionId\tItemId\tTime\n1\t10\t5\n2\t11\n")
    with pytest.raises(ValueError, match=r"r3\.tsv: line 3 has 2 fields"):
        read_interactions(p)


_OTTO_OK = '{"session": 1, "events": [{"aid": 5, "ts": 1000, "type": "clicks"}]}\n'


@pytest.mark.parametrize(
    "bad, match, cause",
    [
        ('{"session": 1, "events": [{"aid": 5}]}', "event 0 has no 'ts'", KeyError),
        ('{"session": 1, "events": [', "not valid JSON", json.JSONDecodeError),
        ('{"session": 1, "events": 5}', "events must be a list", TypeError),
        ("[1, 2, 3]", "got a JSON list", TypeError),
        ('{"events": []}', "missing key 'session'", KeyError),
        ('{"session": 1, "events": [{"aid": 5, "ts": 1, "type": "buy"}]}', "'buy'", ValueError),
        ('{"session": 1, "events": [{"aid": "x", "ts": 1, "type": "carts"}]}', "aid", ValueError),
        (
            '{"session": 1, "events": [{"aid": 5, "ts": 1e30, "type": "carts"}]}',
            "ts",
            OverflowError,
        ),
        ('{"session": 99999999999999999999, "events": []}', "session", OverflowError),
    ],
)
def test_otto_malformed_line_names_file_and_line(tmp_path, bad, match, cause):
    p = write(tmp_path, "o.jsonl", _OTTO_OK + "\n" + bad + "\n" + _OTTO_OK)
    with pytest.raises(ValueError, match=r"o\.jsonl: line 3: .*" + re.escape(match)) as info:
        read_interactions(p)
    assert cause in _causes(info.value)


def test_otto_not_utf8(tmp_path):
    _fails_because(tmp_path / "o.jsonl",
                   _OTTO_OK.encode() + b'{"session": 2, "events": [], "x": "caf\xe9"}\n',
                   r"o\.jsonl: line 2: not UTF-8", UnicodeDecodeError)


def test_gzip_truncated_or_corrupt(tmp_path):
    data = gzip.compress(b"user,item,timestamp\n" + b"1,2,3\n" * 1000)
    _fails_because(tmp_path / "cut.csv.gz", data[: len(data) // 2],
                   r"cut\.csv\.gz: truncated gzip", EOFError)
    _fails_because(tmp_path / "junk.csv.gz", b"\x1f\x8b\x08\x00garbagegarbage",
                   r"junk\.csv\.gz: corrupt gzip", zlib.error)
    # intact deflate stream, wrong checksum
    _fails_because(tmp_path / "crc.csv.gz", data[:-8] + b"\0\0\0\0" + data[-4:],
                   r"crc\.csv\.gz: corrupt gzip", gzip.BadGzipFile)


def test_binary_and_non_utf8_files(tmp_path):
    _fails_because(tmp_path / "bin.csv", bytes(range(256)) * 4, r"bin\.csv: line 2: not UTF-8",
                   UnicodeDecodeError)
    _fails_because(tmp_path / "latin1.csv",
                   b"userId,movieId,rating,timestamp\n1,2,4.0,100\n1,caf\xe9,4.0,100\n",
                   r"latin1\.csv: line 3: item is not UTF-8", UnicodeDecodeError)


def test_malformed_quoted_csv(tmp_path):
    p = write(tmp_path, "q.csv", 'user,item,timestamp\n"a",b,1\nc,d\re,2\n')
    with pytest.raises(ValueError, match=r"q\.csv: line 3: malformed CSV") as info:
        read_interactions(p)
    assert csv.Error in _causes(info.value)


def test_bad_fields_name_file_and_line(tmp_path):
    head = "userId,movieId,rating,timestamp\n1,2,4,5\n\n"
    cases = {
        "v.csv": (head + "1,3,abc,6\n", r"v\.csv: line 4: value 'abc' is not a number"),
        "t.csv": (head + "1,3,4,later\n", r"t\.csv: line 4: timestamp 'later' is not a number"),
        "f.csv": (head + "1,3,1e300,6\n", r"f\.csv: line 4: value 1e\+300 does not fit float32"),
        "d.csv": ("user,item,date\n1,2,2020-01-01\n1,3,2020-13-01\n", r"d\.csv: line 3: "),
        "u.csv": (head + "nan,3,4,6\n", r"u\.csv: line 4: user has missing"),
    }
    for name, (text, match) in cases.items():
        with pytest.raises(ValueError, match=match):
            read_interactions(write(tmp_path, name, text))
    p = write(
        tmp_path, "c.txt", "customer_id date number_of_cds dollar_value\n1 19970101 1 2\n1 x 1 2\n"
    )
    with pytest.raises(ValueError, match=r"c\.txt: line 3: date 'x' is not a number"):
        read_interactions(p, format="cdnow")
    p = write(
        tmp_path,
        "views.csv",
        "session_id;user_id;item_id;timeframe;eventdate\n1;NA;5;1e30;2016-05-09\n",
    )
    with pytest.raises(ValueError, match=r"views\.csv: line 2: timeframe"):
        read_interactions(p)
    p = write(tmp_path, "obd.csv", "timestamp,item_id,click\n2020-01-01,1,0\n")
    with pytest.raises(ValueError, match=r"obd\.csv: .*'position'"):
        read_interactions(p, format="open-bandit")


def test_error_lines_across_chunks(tmp_path, monkeypatch):
    """Line numbers stay right with small chunks, blank lines and gzip."""
    from chronoscale.data import _io

    monkeypatch.setattr(_io.iter_chunks, "__defaults__", (None, 61))
    lines = ["user,item,timestamp"] + [f"{k % 5},{k},{k}" if k % 7 else "" for k in range(300)]
    lines[250] = "1,2,1e30"
    p = write(tmp_path, "big.csv.gz", "\n".join(lines) + "\n", gz=True)
    with pytest.raises(ValueError, match=r"big\.csv\.gz: line 251: timestamp"):
        read_interactions(p)
    lines[250] = "1,2"
    p = write(tmp_path, "rag.csv", "\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"rag\.csv: line 251 has 2 fields"):
        read_interactions(p)


# ------------------------------------------------------------------------------- tokenizer


def _fields(text, delimiter=","):
    buf = _text.as_buffer(text.encode())
    st, en = _text.table(_text.split_fields(buf, delimiter))
    return buf, st, en


def test_parse_numbers_match_python(rng):
    ints = rng.integers(-(10**17), 10**17, 300)
    floats = np.concatenate([rng.normal(0, 1e4, 200).round(rng.integers(0, 8)), [0.5, -0.0, 7.0]])
    odd = ["1e3", "-2.5E-4", "inf", " 12.25 ", "+3", ".5", "5."]
    text = "\n".join(f"{a},{b:.6f}" for a, b in zip(ints, floats[: len(ints)])) + "\n"
    buf, st, en = _fields(text)
    assert _text.parse_int(buf, st[:, 0], en[:, 0]).tolist() == ints[: len(st)].tolist()
    got = _text.parse_float(buf, st[:, 1], en[:, 1])
    assert got.tolist() == [float(f"{b:.6f}") for b in floats[: len(st)]]  # bit-exact
    buf, st, en = _fields("\n".join(odd) + "\n")
    assert _text.parse_float(buf, st[:, 0], en[:, 0]).tolist() == [float(s) for s in odd]
    assert _text.parse_int(buf, st[:, 0], en[:, 0]) is None
    buf, st, en = _fields("12\nx1\n")
    assert _text.parse_auto(buf, st[:, 0], en[:, 0])[0] == "str"


def test_parse_datetime_matches_numpy(rng):
    secs = rng.integers(0, 2 * 10**9, 200)
    iso = np.datetime_as_string(secs.astype("datetime64[s]"))
    text = (
        "\n".join(
            s.replace("T", " " if k % 2 else "T") + (".123" if k % 3 == 0 else "")
            for k, s in enumerate(iso)
        )
        + "\n"
    )
    buf, st, en = _fields(text)
    assert _text.parse_datetime(buf, st[:, 0], en[:, 0]).tolist() == secs.tolist()
    buf, st, en = _fields("2021-02-29\n")
    assert _text.parse_datetime(buf, st[:, 0], en[:, 0]) is None


def test_parse_int_19_digits_exact_or_none():
    buf, st, en = _fields("9223372036854775807\n-9223372036854775807\n1000000000000000001\n")
    got = _text.parse_int(buf, st[:, 0], en[:, 0]).tolist()
    assert got == [2**63 - 1, -(2**63) + 1, 10**18 + 1]
    for text in ("9223372036854775808\n", "19223372036854775807\n"):  # would overflow int64
        buf, st, en = _fields(text)
        assert _text.parse_int(buf, st[:, 0], en[:, 0]) is None
        assert _text.parse_auto(buf, st[:, 0], en[:, 0])[0] == "float"


def test_long_ids_stay_distinct(tmp_path):
    """Ids of more than 19 digits (beyond int64) are read as text, never as float64, which
    would round neighbouring ids to one value; the same in a session file's tokens."""
    a, b = "12345678901234567890", "12345678901234567891"
    assert float(a) == float(b)  # what a float column would have merged
    x = read_interactions(write(tmp_path, "long.csv", f"user,item,timestamp\n{a},1,5\n{b},1,6\n"))
    assert x.num_users == 2 and sorted(x.user_ids.tolist()) == [a, b]
    y = read_interactions(write(tmp_path, "tok.csv", f"user,item,timestamp\n1,{a},5\n1,{b},6\n"))
    assert y.num_items == 2
    z = read_interactions(write(tmp_path, "Long.txt", f"1 {a}\n1 {b}\n2 {a}\n"))
    assert z.num_items == 2 and z.num_users == 2


def test_missing_ids_and_values_name_the_line(tmp_path):
    """Empty ids, ids spelling NaN / inf, and NaN / inf values raise with the file line (a
    missing user would otherwise become one user named '')."""
    head = "user,item,rating,timestamp\nu1,i1,4,5\n"
    cases = {
        "e.csv": (head + ",i2,4,6\n", r"e\.csv: line 3: user has missing values \(''\)"),
        "n.csv": (head + "u1,NaN,4,6\n", r"n\.csv: line 3: item has missing values \('NaN'\)"),
        "v.csv": (head + "u1,i2,nan,6\n", r"v\.csv: line 3: value has missing or infinite"),
        "w.csv": (head + "u1,i2,-inf,6\n", r"w\.csv: line 3: value has missing or infinite"),
    }
    for name, (text, match) in cases.items():
        with pytest.raises(ValueError, match=match):
            read_interactions(write(tmp_path, name, text))
    ok = read_interactions(write(tmp_path, "ok.csv", head + "nancy,info,4,6\n"))
    assert sorted(ok.user_ids.tolist()) == ["nancy", "u1"]


def test_k_core_and_dedupe_checked_before_reading(tmp_path):
    missing = tmp_path / "never-read.csv"  # the options fail first, not the missing file
    with pytest.raises(TypeError, match="k_core must be an integer"):
        read_interactions(missing, k_core="a")
    with pytest.raises(ValueError, match="dedupe must be one of"):
        read_interactions(missing, dedupe="all")
