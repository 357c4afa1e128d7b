"""chronoscale.io: the .csm format (layout as documented, alignment, dtypes), save/load of layers,
and clear ValueErrors for corrupt, truncated, hostile or foreign files."""

from __future__ import annotations

import json
import re
import struct
import zlib

import numpy as np
import pytest

import chronoscale
from chronoscale import io, nn

from helpers import rewrite_header


def _read_by_the_spec(raw: bytes):
    """An independent reader written from docs/FORMAT.md (what a C++ reader would do)."""
    magic, version, flags, hsize, hcrc = struct.unpack_from("<8sIIQI", raw, 0)
    assert magic == b"\x89CSM\r\n\x1a\n" and version == 1 and flags == 0
    header_bytes = raw[32:32 + hsize]
    assert zlib.crc32(header_bytes) == hcrc
    header = json.loads(header_bytes)
    data_start = (32 + hsize + 63) // 64 * 64
    assert len(raw) == data_start + header["data_size"]
    out = {}
    for e in header["tensors"]:
        assert e["offset"] % 64 == 0
        start = data_start + e["offset"]
        code = {"float32": "<f4", "float64": "<f8", "int32": "<i4", "int64": "<i8",
                "uint8": "u1"}[e["dtype"]]
        out[e["name"]] = np.frombuffer(raw[start:start + e["nbytes"]], code).reshape(e["shape"])
    return header, out


def test_roundtrip_and_documented_layout(rng, tmp_path):
    tensors = {
        "a": rng.standard_normal((3, 5)).astype(np.float32),
        "b": rng.standard_normal(7),
        "ids": rng.integers(-5, 5, size=(2, 2, 2)),
        "i32": np.arange(3, dtype=np.int32),
        "mask": np.array([1, 0, 1], dtype=np.uint8),
        "empty": np.zeros((0, 4), np.float32),
        "scalar": np.float64(2.5),
    }
    path = tmp_path / "t.csm"
    io.write_file(path, tensors, meta={"note": "hi", "n": [1, 2]}, config={"k": 1})
    header, got = io.read_file(path)
    assert header["meta"] == {"note": "hi", "n": [1, 2]} and header["config"] == {"k": 1}
    assert header["format_version"] == io.FORMAT_VERSION == 1
    assert header["library_version"] == chronoscale.__version__
    for k, v in tensors.items():
        assert got[k].dtype == np.asarray(v).dtype and got[k].flags.writeable
        np.testing.assert_array_equal(got[k], v)
    h2, by_spec = _read_by_the_spec(path.read_bytes())
    assert h2 == header
    for k, v in tensors.items():
        np.testing.assert_array_equal(by_spec[k], v)


def test_save_load_sequential(rng, tmp_path):
    x = rng.standard_normal((4, 9, 3))
    model = nn.Sequential([nn.Conv1d(5, 3, activation="relu"), nn.MaxPool1d(2),
                           nn.GRU(4, return_sequences=True), nn.LSTM(3),
                           nn.Dense(1, activation="sigmoid")]).build(3, rng, "float64")
    path = tmp_path / "m.csm"
    chronoscale.save(model, path)
    loaded = chronoscale.load(path)
    assert isinstance(loaded, nn.Sequential) and loaded.dtype == np.float64
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))
    emb = nn.Sequential([nn.Embedding(11, 4), nn.MultiScale(["1", "3"], 2, cell="gru")])
    ids = rng.integers(0, 11, size=(2, 6))
    y = emb.forward(ids)
    chronoscale.save(emb, path)
    np.testing.assert_array_equal(chronoscale.load(path).forward(ids), y)
    with pytest.raises(TypeError, match="unbuilt"):
        chronoscale.save(nn.Dense(3), path)
    with pytest.raises(TypeError, match="not a chronoscale model"):
        chronoscale.save(object(), path)


def _file(tmp_path, rng):
    path = tmp_path / "c.csm"
    model = nn.Sequential([nn.LSTM(3), nn.Dense(1)]).build(2, rng)
    chronoscale.save(model, path)
    return path, path.read_bytes()


def test_corrupt_and_truncated_files_raise_value_error(rng, tmp_path):
    path, raw = _file(tmp_path, rng)
    bad = tmp_path / "bad.csm"
    for cut in [0, 5, 31, 40, len(raw) // 2, len(raw) - 1]:
        bad.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match="truncated"):
            chronoscale.load(bad)
    bad.write_bytes(b"PK\x03\x04" + raw[4:])
    with pytest.raises(ValueError, match="magic"):
        chronoscale.load(bad)
    flipped = bytearray(raw)
    flipped[40] ^= 0x20
    bad.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="header checksum"):
        chronoscale.load(bad)
    flipped = bytearray(raw)
    flipped[-3] ^= 0x01
    bad.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="checksum mismatch"):
        chronoscale.load(bad)
    newer = bytearray(raw)
    newer[8:12] = struct.pack("<I", 2)
    bad.write_bytes(bytes(newer))
    with pytest.raises(ValueError, match="format version 2"):
        chronoscale.load(bad)
    huge = bytearray(raw)
    huge[16:24] = struct.pack("<Q", 2**62)
    bad.write_bytes(bytes(huge))
    with pytest.raises(ValueError, match="truncated header"):
        chronoscale.load(bad)


@pytest.mark.parametrize("edit,match", [
    (lambda h: h["config"].update({"class": "os.system"}), "unknown layer"),
    (lambda h: h["config"].update({"class": "_Recurrent"}), "unknown layer"),
    (lambda h: h["config"]["config"]["layers"][0]["config"].update({"units": 10**9}),
     "larger than the saved tensors"),
    (lambda h: h["config"]["config"]["layers"][0]["config"].update({"bogus": 1}), "bad config"),
    (lambda h: h["config"]["config"]["layers"][0]["config"].update({"units": 2}), "shape"),
    (lambda h: h["tensors"][0].update({"offset": 10**12}), "outside the data section"),
    (lambda h: h["tensors"][0].update({"offset": 3}), "offset"),
    (lambda h: h["tensors"][0].update({"dtype": "object"}), "unsupported dtype"),
    (lambda h: h["tensors"][0].update({"shape": [-1, 2]}), "bad shape"),
    (lambda h: h["tensors"][0].update({"shape": [1, 1]}), "does not match shape"),
    (lambda h: h["tensors"][1].update({"name": h["tensors"][0]["name"]}), "duplicate"),
    (lambda h: h.update({"kind": "checkpoint"}), "not a model"),
    (lambda h: h.update({"kind": "model", "class": "Pickle"}), "unknown model class"),
    (lambda h: h.update({"format": "npz"}), "not a chronoscale header"),
    (lambda h: h.pop("tensors"), "tensor table"),
])
def test_hostile_headers_raise_value_error(rng, tmp_path, edit, match):
    _, raw = _file(tmp_path, rng)
    bad = tmp_path / "hostile.csm"
    bad.write_bytes(rewrite_header(raw, edit))
    with pytest.raises(ValueError, match=match):
        chronoscale.load(bad)


def test_write_errors(tmp_path):
    with pytest.raises(TypeError, match="cannot be saved"):
        io.write_file(tmp_path / "x.csm", {"c": np.zeros(2, np.complex64)})
    with pytest.raises(TypeError, match="JSON"):
        io.write_file(tmp_path / "x.csm", {}, meta={"f": object()})
    with pytest.raises(TypeError, match="JSON"):  # (meta's NaN is written as null)
        io.write_file(tmp_path / "x.csm", {}, config={"nan": float("nan")})
    assert not (tmp_path / "x.csm").exists() and not (tmp_path / "x.csm.tmp").exists()
    io.write_file(tmp_path / "m.csm", {}, meta={"loss": [1.0, float("nan"), float("-inf")]})
    assert io.read_file(tmp_path / "m.csm")[0]["meta"]["loss"] == [1.0, None, None]


def _relabel(name, **fields):
    """Edit: set ``fields`` (dtype, shape) of tensor ``name`` (``nbytes`` kept: the bytes are
    the same, only what they are said to be changes; the CRCs stay valid)."""
    def edit(h):
        entry = next(e for e in h["tensors"] if e["name"] == name)
        entry.update(fields)
    return edit


@pytest.mark.parametrize("fields,match", [
    ({"dtype": "int32"}, r"tensor '0\.weight_ih' has dtype int32, the model's parameter is "
                         "float32"),
    ({"shape": [2, 12]}, r"0\.weight_ih has shape \(2, 12\), expected \(12, 2\)"),
])
def test_relabelled_layer_tensor_raises_value_error(rng, tmp_path, fields, match):
    _, raw = _file(tmp_path, rng)
    header = json.loads(raw[32:32 + struct.unpack_from("<Q", raw, 16)[0]])
    entry = next(e for e in header["tensors"] if e["name"] == "0.weight_ih")
    assert entry["dtype"] == "float32" and entry["shape"] == [12, 2]  # LSTM(3) on 2 features
    bad = tmp_path / "relabelled.csm"
    bad.write_bytes(rewrite_header(raw, _relabel("0.weight_ih", **fields)))
    with pytest.raises(ValueError, match=match):
        chronoscale.load(bad)


@pytest.mark.parametrize("dtype,wrong", [("float32", "int32"), ("float64", "int64"),
                                         ("float32", "uint8")])
def test_relabelled_model_tensor_raises_value_error(rng, tmp_path, dtype, wrong):
    from chronoscale.models import SeedForecaster

    X = rng.standard_normal((6, 8, 2))
    model = SeedForecaster(filters=2, units=2, dtype=dtype, random_state=0)
    model.fit(X, rng.random(6), epochs=1, verbose=0)
    path = tmp_path / "m.csm"
    model.save(path)
    raw = path.read_bytes()
    np.testing.assert_array_equal(chronoscale.load(path).predict(X), model.predict(X))

    def edit(h):  # same bytes under another dtype: the shape grows by the itemsize ratio
        e = next(e for e in h["tensors"] if e["name"] == "net.0.weight")
        ratio = np.dtype(dtype).itemsize // np.dtype(wrong).itemsize
        e["dtype"], e["shape"] = wrong, [e["shape"][0] * ratio, *e["shape"][1:]]

    bad = tmp_path / "bad.csm"
    bad.write_bytes(rewrite_header(raw, edit))
    with pytest.raises(ValueError, match=f"tensor 'net.0.weight' has dtype {wrong}, the "
                                         f"model's parameter is {dtype}"):
        chronoscale.load(bad)
    bad.write_bytes(rewrite_header(raw, _relabel("net.4.weight", shape=[2, 1])))  # was [1, 2]
    with pytest.raises(ValueError, match=r"tensor 'net.4.weight' has shape \[2, 1\]"):
        chronoscale.load(bad)
    # a hostile config value for an integer hyper-parameter is refused too (never truncated)
    bad.write_bytes(rewrite_header(raw, lambda h: h["config"].update({"units": 2.5})))
    with pytest.raises(ValueError, match="units must be an integer"):
        chronoscale.load(bad)


def test_scale_fusion_round_trip(rng, tmp_path):
    """ScaleFusion is built from a shape (in_features = (S, K), a JSON list in the file)."""
    fusion = nn.ScaleFusion()
    ys = [rng.standard_normal((4, 2)).astype(np.float32) for _ in range(3)]
    fusion.forward(ys)
    fusion.logits.data[...] = rng.standard_normal((3, 2))
    path = tmp_path / "fusion.csm"
    io.save(fusion, path)
    loaded = io.load(path)
    assert isinstance(loaded, nn.ScaleFusion) and tuple(loaded.in_features) == (3, 2)
    np.testing.assert_array_equal(loaded.forward(ys), fusion.forward(ys))
    io.save(loaded, path)  # and again, from the loaded layer
    np.testing.assert_array_equal(io.load(path).forward(ys), fusion.forward(ys))
    bad = tmp_path / "bad.csm"
    bad.write_bytes(rewrite_header(path.read_bytes(),
                                    lambda h: h["config"].update({"in_features": [3, "2"]})))
    with pytest.raises(ValueError, match="in_features must be an integer or a short list"):
        io.load(bad)


@pytest.mark.parametrize("path", [0, 3.5, None, b"x.csm"])
def test_paths_must_be_str_or_pathlike(rng, tmp_path, path):
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        io.load(path)  # 0 would read (and close) stdin
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        io.read_file(path)
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        io.write_file(path, {})
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        io.save(nn.Dense(1).build(2), path)
    io.write_file(str(tmp_path / "s.csm"), {"a": np.zeros(2)})  # str and Path both work
    assert io.read_file(str(tmp_path / "s.csm"))[1]["a"].shape == (2,)


@pytest.mark.parametrize("kwargs,err,match", [
    ({"kind": 5}, TypeError, "kind must be a str"),
    ({"kind": "pickle"}, ValueError, "kind must be one of model, layer, checkpoint, tensors"),
    ({"cls": 3}, TypeError, "cls must be a class name"),
    ({"config": [1]}, TypeError, "config must be a dict"),
    ({"meta": "m"}, TypeError, "meta must be a dict"),
])
def test_write_file_checks_its_arguments(tmp_path, kwargs, err, match):
    with pytest.raises(err, match=match):
        io.write_file(tmp_path / "w.csm", {}, **kwargs)
    with pytest.raises(TypeError, match="tensors must be a dict"):
        io.write_file(tmp_path / "w.csm", [np.zeros(2)])
    assert not list(tmp_path.iterdir())


def test_write_into_a_directory_leaves_no_tmp_file(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(ValueError, match="it is a directory, not a regular file"):
        io.write_file(tmp_path / "d", {"a": np.zeros(2)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def _seed_file(rng, tmp_path):
    from chronoscale.models import SeedForecaster

    model = SeedForecaster(filters=2, units=3, random_state=0)
    model.fit(rng.standard_normal((6, 8, 2)), rng.random(6), epochs=1, verbose=0)
    path = tmp_path / "m.csm"
    model.save(path)
    return path, io.read_file(path)


def _rewrite(path, header, tensors, drop=(), add=None, **config):
    tensors = {k: v for k, v in tensors.items() if k not in drop}
    tensors.update(add or {})
    io.write_file(path, tensors, kind="model", cls=header["class"],
                  config={**header["config"], **config}, meta=header["meta"])
    return path


@pytest.mark.parametrize("name", ["net.0.weight", "net.2.weight_ih", "net.4.bias"])
def test_missing_model_tensor_is_named_with_the_path(rng, tmp_path, name):
    path, (header, tensors) = _seed_file(rng, tmp_path)
    bad = _rewrite(tmp_path / "bad.csm", header, tensors, drop=[name])
    want = f"missing tensor '{name}' (shape {list(tensors[name].shape)})"
    with pytest.raises(ValueError, match=r"bad\.csm: .*" + re.escape(want)) as info:
        io.load(bad)
    assert str(bad) in str(info.value) and "larger than" not in str(info.value)


def test_missing_layer_tensor_is_named_with_the_path(rng, tmp_path):
    path, raw = _file(tmp_path, rng)
    _, tensors = io.read_file(path)
    header = io.read_file(path)[0]
    io.write_file(path, {k: v for k, v in tensors.items() if k != "0.weight_hh"}, kind="layer",
                  cls=header["class"], config=header["config"])
    with pytest.raises(ValueError, match=rf"{path.name}: .*missing tensor '0\.weight_hh'"):
        io.load(path)


@pytest.mark.parametrize("edit,match", [
    ({"units": -3}, "units must be >= 1, got -3"),
    ({"device": "tpu"}, "device must be 'cpu' or 'cuda', got 'tpu'"),
    ({"add": {"net.zzz": np.zeros(3, np.float32)}}, "unexpected.*net.zzz|unexpected.*zzz"),
])
def test_model_errors_carry_the_path(rng, tmp_path, edit, match):
    path, (header, tensors) = _seed_file(rng, tmp_path)
    edit = dict(edit)
    bad = _rewrite(tmp_path / "bad.csm", header, tensors, add=edit.pop("add", None), **edit)
    with pytest.raises(ValueError, match=match) as info:
        io.load(bad)
    assert str(info.value).startswith(f"{bad}: ")
    with pytest.raises(ValueError, match=f"device must be 'cpu' or 'cuda', got 'tpu'.*{path.name}"):
        io.load(path, device="tpu")


def test_a_model_file_without_its_meta_names_the_missing_entry(tmp_path):
    from chronoscale.models import SeedForecaster

    rng = np.random.default_rng(0)
    m = SeedForecaster(filters=2, units=2, random_state=0).fit(
        rng.random((6, 6, 2)), rng.random(6), epochs=1, verbose=0)
    path = tmp_path / "m.csm"
    io.save(m, path)
    header, tensors = io.read_file(path)
    io.write_file(path, tensors, kind=header["kind"], cls=header["class"],
                  config=header["config"], meta={})
    with pytest.raises(ValueError, match=r"m.csm: saved SeedForecaster .* lacks the entry "
                                         r"'n_features'"):
        io.load(path)
