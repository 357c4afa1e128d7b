"""read_interactions on small files written here: every format, detection, gzip, column mapping,
header handling, frames, errors; and the vectorised tokenizer against Python's own parsing."""

from __future__ import annotations

import gzip
import json
import sys

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
