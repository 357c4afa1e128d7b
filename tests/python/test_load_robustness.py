"""chronoscale.load and the data readers on hostile input: a corrupted header whose CRC is still
valid, configuration values ``fit`` would refuse, and paths that are not regular files (a
directory, ``/dev/zero``, a named pipe, a file far larger than its header declares). Each gives a
ValueError naming the file and what is wrong (FileNotFoundError only for a missing path), never
an AttributeError / TypeError from deep inside, a hang, or a read of the whole input."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chronoscale
from chronoscale import data, io
from chronoscale.models import MultiScaleForecaster, SeedForecaster

from helpers import rewrite_header


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """``{"seed": bytes, "multiscale": bytes}``: small fitted models as saved files."""
    rng = np.random.default_rng(0)
    X, y = rng.random((6, 8, 2)), rng.random(6)
    d = tmp_path_factory.mktemp("saved")
    out = {}
    for key, model in (
            ("seed", SeedForecaster(filters=2, units=3, random_state=0)),
            ("multiscale", MultiScaleForecaster(scales=("1", "2"), units=3, random_state=0))):
        model.fit(X, y, epochs=2, verbose=0)
        model.save(d / f"{key}.csm")
        out[key] = (d / f"{key}.csm").read_bytes()
    return out


def _set(*keys, value):
    """``edit(header)`` setting ``header[k0][k1]... = value``."""
    def edit(h):
        for k in keys[:-1]:
            h = h[k]
        h[keys[-1]] = value
    return edit


def _load_edited(tmp_path, raw, edit):
    bad = tmp_path / "bad.csm"
    bad.write_bytes(rewrite_header(raw, edit))
    return bad


# ------------------------------------------------------------------ header fields of the wrong type
@pytest.mark.parametrize("edit,match", [
    (_set("meta", "history_state", value="x"), "meta field 'history_state' must be an object, "
                                               "got 'x'"),
    (_set("meta", "history_state", value=3), "'history_state' must be an object, got 3"),
    (_set("meta", "history_state", value=[1]), "'history_state' must be an object, got \\[1\\]"),
    (_set("meta", "history_state", value=True), "'history_state' must be an object, got True"),
    (_set("meta", "history_state", "best", value="x"),
     "'history_state.best' must be a number or null, got 'x'"),
    (_set("meta", "history_state", "best_epoch", value=1.5),
     "'history_state.best_epoch' must be an integer or null, got 1.5"),
    (_set("meta", "history_state", "stopped_epoch", value=[2]),
     "'history_state.stopped_epoch' must be an integer or null"),
    (_set("meta", "history", value="x"), "meta field 'history' must be an object"),
    (_set("meta", "history", value=[1, 2]), "meta field 'history' must be an object"),
    (_set("meta", "history", "loss", value=3), "'history.loss' must be a list of numbers, got 3"),
    (_set("meta", "history", "loss", value=["a"]), "'history.loss' must be a list of numbers"),
    (_set("class", value=["SeedForecaster"]), "header field 'class' must be a string or null, "
                                              "got an array"),
    (_set("class", value={}), "header field 'class' must be a string or null, got an object"),
    (_set("kind", value=["model"]), "header field 'kind' must be a string, got an array"),
    (_set("format_version", value="1"), "header field 'format_version' must be an integer"),
    (_set("library_version", value=1), "header field 'library_version' must be a string"),
    (_set("tensors", 0, "dtype", value={}), "tensor 'net.0.weight' has unsupported dtype \\{\\}"),
    (_set("tensors", 0, "dtype", value=["float32"]), "unsupported dtype \\['float32'\\]"),
])
def test_header_field_of_the_wrong_type_raises_value_error_naming_it(saved, tmp_path, edit,
                                                                      match):
    bad = _load_edited(tmp_path, saved["seed"], edit)
    with pytest.raises(ValueError, match=match) as info:
        chronoscale.load(bad)
    assert str(info.value).startswith(f"{bad}: not a valid chronoscale file: ")


def test_wrong_types_are_refused_by_read_file_too(saved, tmp_path):
    """``io.read_file`` (checkpoints, the CLI) checks the header's types, not only ``load``."""
    bad = _load_edited(tmp_path, saved["seed"], _set("class", value={"a": 1}))
    with pytest.raises(ValueError, match="header field 'class'"):
        io.read_file(bad)
    bad = _load_edited(tmp_path, saved["seed"], _set("tensors", 0, "dtype", value={}))
    with pytest.raises(ValueError, match="unsupported dtype"):
        io.read_file(bad)


def test_history_round_trips_and_older_files_without_history_state_load(tmp_path):
    rng = np.random.default_rng(1)
    X, y = rng.random((6, 8, 2)), rng.random(6)
    m = SeedForecaster(filters=2, units=3, random_state=0).fit(
        X, y, epochs=3, verbose=0, monitor="loss", patience=1)
    path = tmp_path / "m.csm"
    m.save(path)
    back = chronoscale.load(path)
    assert dict(back.history_) == dict(m.history_)
    for k in ("best", "best_epoch", "stopped_epoch"):
        assert getattr(back.history_, k) == getattr(m.history_, k)
    assert m.history_.best_epoch is not None
    old = _load_edited(tmp_path, path.read_bytes(), lambda h: h["meta"].pop("history_state"))
    back = chronoscale.load(old)
    assert dict(back.history_) == dict(m.history_) and back.history_.best_epoch is None
    # null is allowed for each state attribute (a run that never improved)
    nulls = _load_edited(tmp_path, path.read_bytes(), _set("meta", "history_state", value={
        "best": None, "best_epoch": None, "stopped_epoch": None, "unknown": "ignored"}))
    assert chronoscale.load(nulls).history_.best is None


# ----------------------------------------------------------- hyper-parameters fit would refuse
@pytest.mark.parametrize("key,value,match", [
    ("seed", ("epsilon", "x"), "epsilon must be a real number, got 'x'"),
    ("seed", ("epsilon", 0), "epsilon must be a finite number > 0, got 0"),
    ("seed", ("beta_1", -1), r"beta_1 must be in \[0, 1\), got -1"),
    ("seed", ("beta_2", 1.0), r"beta_2 must be in \[0, 1\), got 1.0"),
    ("seed", ("beta_1", [0.9]), "beta_1 must be"),
    ("multiscale", ("loss", "x"), "unknown loss 'x'"),
    ("multiscale", ("loss", 3), "loss must be a name"),
    ("multiscale", ("epsilon", {}), "epsilon must be"),
])
def test_config_value_fit_would_refuse_is_refused_at_load(saved, tmp_path, key, value, match):
    bad = _load_edited(tmp_path, saved[key], _set("config", value[0], value=value[1]))
    cls = {"seed": "SeedForecaster", "multiscale": "MultiScaleForecaster"}[key]
    with pytest.raises(ValueError, match=match) as info:
        chronoscale.load(bad)
    assert str(info.value).startswith(f"{bad}: saved {cls} has a bad configuration value: ")


def test_the_models_parameter_check_runs_at_load(saved, tmp_path):
    """``_check_params`` (integers never truncated, ``check_hyper``) refuses the file with the
    parameter's name, and the message says the configuration is bad (not a tensor mismatch)."""
    for field, value, match in (("filters", 2.0, "filters must be an integer, got 2.0"),
                                ("learning_rate", -1, "learning_rate must be"),
                                ("warm_start", "no", "warm_start must be True or False")):
        bad = _load_edited(tmp_path, saved["seed"], _set("config", field, value=value))
        with pytest.raises(ValueError, match=f"bad configuration value: {match}"):
            chronoscale.load(bad)


def test_valid_files_still_load(saved, tmp_path):
    for key, raw in saved.items():
        path = tmp_path / f"{key}.csm"
        path.write_bytes(raw)
        assert chronoscale.load(path).is_fitted


# ------------------------------------------------------------------- paths that are not files
def test_load_refuses_a_directory_with_value_error(tmp_path):
    with pytest.raises(ValueError, match="it is a directory, not a regular file") as info:
        chronoscale.load(tmp_path)
    assert str(info.value).startswith(f"{tmp_path}: ")
    with pytest.raises(FileNotFoundError):
        chronoscale.load(tmp_path / "missing.csm")


def _child_env() -> dict:
    root = str(Path(chronoscale.__file__).resolve().parents[1])
    old = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + old if old else "")}


# Loads argv[1] with the address space capped at its size + 1 GiB: reading an endless or huge
# input in full fails fast (MemoryError) rather than exhausting the machine.
_CHILD = """
import resource, sys
import chronoscale
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
with open("/proc/self/statm") as f:
    cap = int(f.read().split()[0]) * resource.getpagesize() + (1 << 30)
resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY
                                        else min(cap, hard), hard))
try:
    m = chronoscale.load(sys.argv[1])
    print("loaded", type(m).__name__)
except Exception as e:
    print(type(e).__name__, str(e)[:300])
"""


def _load_in_child(path) -> str:
    """``chronoscale.load(path)``'s outcome in a memory-capped child with a timeout (a read
    that never ends, or an open that blocks, fails the test rather than hanging it)."""
    r = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True,
                       text=True, env=_child_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


needs_linux = pytest.mark.skipif(sys.platform != "linux", reason="needs Linux (RLIMIT_AS, /proc)")


@needs_linux
@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_load_dev_zero_is_refused_without_reading_it():
    out = _load_in_child("/dev/zero")
    assert out.startswith("ValueError /dev/zero: not a valid chronoscale file: it is a character "
                          "device, not a regular file"), out


@needs_linux
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_load_named_pipe_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "pipe.csm"
    os.mkfifo(fifo)
    out = _load_in_child(fifo)
    assert out.startswith(f"ValueError {fifo}: not a valid chronoscale file: it is a named "
                          "pipe"), out


@needs_linux
def test_load_reads_only_the_sizes_the_preamble_declares(saved, tmp_path):
    """A valid file followed by 8 GiB (sparse, so no disk) loads: only the preamble, header and
    data section are read, never the whole file."""
    path = tmp_path / "padded.csm"
    path.write_bytes(saved["seed"])
    with open(path, "r+b") as f:
        f.truncate(len(saved["seed"]) + (8 << 30))
    assert _load_in_child(path) == "loaded SeedForecaster"


def test_declared_sizes_past_the_end_of_the_file_are_refused(saved, tmp_path):
    raw = saved["seed"]
    bad = tmp_path / "bad.csm"
    big = bytearray(raw)
    big[16:24] = struct.pack("<Q", 60 << 20)  # a header (<= 64 MiB) longer than the file
    bad.write_bytes(bytes(big))
    with pytest.raises(ValueError, match="truncated header"):
        chronoscale.load(bad)
    bad.write_bytes(rewrite_header(raw, _set("data_size", value=1 << 40)))
    size = bad.stat().st_size
    with pytest.raises(ValueError, match=rf"truncated data \({size} bytes, expected "):
        chronoscale.load(bad)


# ------------------------------------------------------------------------ read_interactions
@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_read_interactions_dev_zero_is_not_a_regular_file():
    with pytest.raises(ValueError, match="/dev/zero: it is a character device, not a regular "
                                         "file"):
        data.read_interactions("/dev/zero")


def test_read_interactions_directory_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="it is a directory, not a regular file"):
        data.read_interactions(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        data.read_interactions(tmp_path / "missing.csv")
    with pytest.raises(FileNotFoundError, match="no such file"):
        data.read_interactions(tmp_path / "missing" / "x.csv")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_read_interactions_named_pipe_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "log.csv"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="it is a named pipe, not a regular file"):
        data.read_interactions(fifo)


def test_file_version_and_detect_format_refuse_a_directory(tmp_path):
    for fn in (data.file_version, data.detect_format):
        with pytest.raises(ValueError, match="it is a directory, not a regular file"):
            fn(tmp_path)
        with pytest.raises(FileNotFoundError, match="no such file"):
            fn(tmp_path / "missing.csv")


def test_read_interactions_still_reads_a_regular_file(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("user,item,timestamp\n1,1,1\n1,2,2\n2,1,3\n")
    assert len(data.read_interactions(p)) == 3


def test_diverged_history_saves_and_loads(tmp_path):
    """A history holding NaN / inf (a diverged run) saves (JSON has no such numbers: they are
    written as null) and reads back as NaN, for a model file and a training checkpoint."""
    rng = np.random.default_rng(0)
    X, y = rng.random((8, 10, 3)).astype(np.float32), rng.random(8).astype(np.float32)
    m = SeedForecaster(filters=4, units=3, random_state=0).fit(X, y, epochs=2, verbose=0)
    m.history_["loss"] = [float("nan"), float("inf")]
    chronoscale.save(m, tmp_path / "m.csm")
    back = chronoscale.load(tmp_path / "m.csm")
    assert np.isnan(back.history_["loss"]).all() and back.history_["epoch"] == [1, 2]
    from chronoscale import nn
    from chronoscale.nn import training

    net = nn.Sequential([nn.Dense(1)]).build(3, np.random.default_rng(0), "float32")
    opt = nn.Adam(net.parameters())
    hist = training.History({"epoch": [1], "loss": [float("nan")]})
    state = {"epoch": 1, "seed": 0, "wait": 0, "best_weights": None}
    training._save_checkpoint(str(tmp_path / "ckpt-00001.csm"), net, opt, hist, state)
    hist2, state2 = training.History(), dict(state)
    training._load_checkpoint(str(tmp_path / "ckpt-00001.csm"), net, opt, hist2, state2)
    assert np.isnan(hist2["loss"][0]) and hist2["epoch"] == [1]


def test_save_never_replaces_a_device_or_folder(tmp_path):
    """write_file renames a temporary file into place: onto /dev/null (as root) that replaced
    the device node with a regular file; it is refused, as a folder is."""
    rng = np.random.default_rng(0)
    X, y = rng.random((8, 10, 3)).astype(np.float32), rng.random(8).astype(np.float32)
    m = SeedForecaster(filters=4, units=3, random_state=0).fit(X, y, epochs=1, verbose=0)
    targets = [tmp_path]
    if Path("/dev/null").exists() and not Path("/dev/null").is_file():
        targets.append(Path("/dev/null"))
    for target in targets:
        with pytest.raises(ValueError, match="not a regular file"):
            chronoscale.save(m, target)
    assert not Path("/dev/null").exists() or not Path("/dev/null").is_file()
