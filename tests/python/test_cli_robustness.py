"""Fuzz round 2 (CLI, report, plot, datasets): paths that are not regular files or cannot be
written, out-of-range threads, self-referencing or huge report values and bad fetch arguments
each give one clear error of the documented type that names the argument (the CLI: one line on
stderr, exit status 2), and a bad output path is refused before any data is read or trained."""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest

import chronoscale
from chronoscale import plot
from chronoscale.cli import main, runs
from chronoscale.cli.ranking import recommender_class
from chronoscale.datasets import fetch
from chronoscale.report import make_report, summary_table, write_report

from helpers import err_line

needs_recommender = pytest.mark.skipif(recommender_class() is None,
                                       reason="MultiScaleRecommender not in this build")




class _Stuck(Exception):
    """Raised by the alarm: the command blocked (e.g. opening a named pipe)."""


@contextlib.contextmanager
def _deadline(seconds: int):
    """Fail (instead of hanging) a command that blocks for more than ``seconds``."""

    def stuck(signum, frame):
        raise _Stuck(f"blocked for {seconds} s")

    old = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _proc_unwritable() -> bool:
    """/proc exists and refuses new files (true even for root)."""
    if not Path("/proc/self").exists():
        return False
    try:
        fd, name = tempfile.mkstemp(dir="/proc")
    except OSError:
        return True
    os.close(fd)
    os.unlink(name)
    return False


proc_only = pytest.mark.skipif(not _proc_unwritable(), reason="needs a /proc that refuses files")


@pytest.fixture
def no_data_reads(monkeypatch):
    """The commands must fail before they read the data (and so before any training)."""

    def refuse(*a, **k):
        raise AssertionError("the data was read before the output path was checked")

    monkeypatch.setattr(runs, "load_data", refuse)


@pytest.fixture
def plainfile(tmp_path) -> Path:
    p = tmp_path / "plainfile"
    p.write_text("not a folder\n")
    return p


@pytest.fixture
def fifo(tmp_path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    p = tmp_path / "pipe"
    os.mkfifo(p)
    return p


def _char_device() -> str | None:
    p = "/dev/zero"
    try:
        return p if stat.S_ISCHR(os.stat(p).st_mode) else None
    except OSError:
        return None


# ----------------------------------------------------------------------------------- --config
def test_config_folder_is_refused_and_a_pipe_is_read(capsys, tmp_path, fifo):
    assert main(["train", "--config", str(tmp_path), "--print-config"]) == 2
    assert f"--config {tmp_path}: it is a directory, not a file" in err_line(capsys)
    # a named pipe (--config <(...), /dev/stdin) is read as a file
    import threading

    writer = threading.Thread(target=lambda: fifo.write_text("[model]\nepochs = 3\n"))
    writer.start()
    with _deadline(20):
        assert main(["train", "--config", str(fifo), "--print-config"]) == 0
    writer.join()
    assert "epochs = 3" in capsys.readouterr().out


@pytest.mark.skipif(_char_device() is None, reason="no /dev/zero character device")
def test_config_dev_zero_stops_at_the_size_cap(capsys, monkeypatch):
    import chronoscale.cli.config as cfgmod

    monkeypatch.setattr(cfgmod, "MAX_CONFIG_BYTES", 1 << 16)  # (the real cap: 16 MiB)
    with _deadline(20):  # /dev/zero was read for ever
        assert main(["train", "--config", "/dev/zero", "--print-config"]) == 2
    assert "--config /dev/zero: more than" in err_line(capsys)


# ---------------------------------------------------------------------------------- threads
@pytest.mark.parametrize("argv", [
    ["train", "--set", "threads=99999999999999999999"],
    ["train", "--threads", "100000"],
    ["evaluate", "--set", "threads=4294967297"],
])
def test_threads_out_of_range_names_threads(capsys, tmp_path, no_data_reads, argv):
    before = chronoscale.get_num_threads()
    assert main([*argv, "--data", str(tmp_path / "log.csv"), "--out", str(tmp_path)]) == 2
    err = err_line(capsys)
    assert f"--threads (threads) must be <= {runs.max_threads()}" in err, err
    assert "incompatible function arguments" not in err
    assert chronoscale.get_num_threads() == before


def test_demo_threads_out_of_range(capsys, tmp_path, no_data_reads):
    assert main(["demo", "--threads", "100000", "--out", str(tmp_path / "d"), "-q"]) == 2
    assert "--threads (threads) must be <=" in err_line(capsys)


# ----------------------------------------------------------------------------------- --model
@pytest.mark.parametrize("command", ["evaluate", "recommend", "forecast"])
def test_model_that_is_not_a_regular_file(capsys, tmp_path, fifo, command):
    cases = [(tmp_path, "a directory"), (fifo, "a named pipe")]
    if _char_device():
        cases.append((_char_device(), "a character device"))
    for path, kind in cases:
        with _deadline(20):
            assert main([command, "--model", str(path)]) == 2, path
        err = err_line(capsys)
        assert f"--model {path}: it is {kind}, not a regular file" in err, err
        assert "no such model file" not in err
    assert main([command, "--model", str(tmp_path / "none.csm")]) == 2
    assert "no such model file" in err_line(capsys)


# ---------------------------------------------------------------- output paths (CLI, early)
def test_train_output_under_a_file_refused_before_reading(capsys, plainfile, no_data_reads):
    data = ["--data", str(plainfile.parent / "log.csv"), "-q"]
    assert main(["train", *data, "-o", str(plainfile / "x.csm")]) == 2
    err = err_line(capsys)
    assert f"-o/--output {plainfile / 'x.csm'}: its folder {plainfile} is a file" in err, err
    assert main(["train", *data, "-o", str(plainfile / "a" / "x.csm")]) == 2
    err = err_line(capsys)
    assert f"cannot create its folder {plainfile / 'a'}: {plainfile} is a file" in err, err
    for command in ("train", "evaluate"):
        assert main([command, *data, "--out", str(plainfile / "run")]) == 2
        err = err_line(capsys)
        assert f"--out (out) {plainfile / 'run'}: cannot create the folder: {plainfile} is a " \
               "file" in err, err


@pytest.mark.skipif(_char_device() is None, reason="no /dev/zero character device")
def test_train_output_device_refused(capsys, tmp_path, no_data_reads):
    # the model is written beside the path and renamed over it: never over a device
    assert main(["train", "--data", str(tmp_path / "log.csv"), "-o", "/dev/zero"]) == 2
    assert "-o/--output /dev/zero: it is a character device" in err_line(capsys)
    assert stat.S_ISCHR(os.stat("/dev/zero").st_mode)


def test_save_model_failure_names_the_users_path(tmp_path, monkeypatch):
    """A write that fails after the early check (e.g. the disk filled up, the folder went
    away) names the flag and the user's path, never the temporary file written first."""

    class Model:
        def _save_state(self):
            return {}, {"w": np.zeros(2, np.float32)}, {}

    def fail(path, *a, **k):
        tmp = str(path) + ".tmp"
        raise FileNotFoundError(2, "No such file or directory", tmp)

    monkeypatch.setattr(runs.io, "write_file", fail)
    target = tmp_path / "m.csm"
    with pytest.raises(OSError) as e:
        runs.save_model(Model(), target, {}, "-o/--output")
    assert str(e.value) == (f"-o/--output {target}: cannot write it (No such file or "
                            "directory); the model is not saved")


@proc_only
def test_output_in_proc_names_the_users_path(capsys, tmp_path, no_data_reads):
    data = ["--data", str(tmp_path / "log.csv"), "-q"]
    assert main(["train", *data, "-o", "/proc/x.csm"]) == 2
    err = err_line(capsys)
    assert "-o/--output /proc/x.csm: cannot create files in its folder /proc" in err, err
    assert ".tmp" not in err and "Errno" not in err
    for command in ("train", "evaluate"):
        assert main([command, *data, "--out", "/proc/xx"]) == 2
        err = err_line(capsys)
        assert "--out (out) /proc/xx: cannot create the folder in /proc" in err, err
        assert "Errno" not in err
    assert main(["demo", "--out", "/proc/xx", "-q"]) == 2
    err = err_line(capsys)
    assert "--out /proc/xx: cannot create the folder in /proc" in err and "Errno" not in err


def test_demo_out_a_file_refused_before_training(capsys, plainfile, no_data_reads):
    assert main(["demo", "--out", str(plainfile), "-q", "--no-plots"]) == 2
    err = err_line(capsys)
    assert f"--out {plainfile}: it is a file, not a folder" in err, err
    assert main(["demo", "--out", str(plainfile / "sub"), "-q"]) == 2
    assert f"cannot create the folder: {plainfile} is a file" in err_line(capsys)


@pytest.fixture(scope="module")
def recommender_file(tmp_path_factory) -> Path:
    """A tiny recommender saved by 'chronoscale train' (well under a second to train)."""
    d = tmp_path_factory.mktemp("rec")
    log = d / "log.csv"
    with open(log, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user_id", "item_id", "timestamp"])
        for u in range(12):
            for j in range(8):
                w.writerow([u, (u * 3 + j * 5) % 17, 1_700_000_000 + 3600 * (u + 7 * j)])
    model = d / "rec.csm"
    argv = ["train", "--data", str(log), "--format", "table", "--task", "recommend",
            "--units", "4", "--dim", "4", "--epochs", "1", "--threads", "1", "-q",
            "-o", str(model)]
    assert main(argv) == 0
    return model


@needs_recommender
def test_recommend_output_paths(capsys, recommender_file, plainfile, no_data_reads):
    capsys.readouterr()
    base = ["recommend", "--model", str(recommender_file)]
    assert main([*base, "-o", str(plainfile / "x.csv")]) == 2
    err = err_line(capsys)
    assert f"-o/--output {plainfile / 'x.csv'}: its folder {plainfile} is a file" in err, err
    if _proc_unwritable():
        assert main([*base, "-o", "/proc/x.csv"]) == 2
        err = err_line(capsys)
        assert "-o/--output /proc/x.csv: cannot create files in its folder /proc" in err
        assert "Errno" not in err


@needs_recommender
def test_recommend_output_in_a_new_folder(capsys, recommender_file, tmp_path):
    out = tmp_path / "new" / "recs.csv"
    assert main(["recommend", "--model", str(recommender_file), "-k", "2", "-o", str(out)]) == 0
    assert out.read_text().startswith("user,rank,item,score")


# ---------------------------------------------------------------------------------- reports
def _args():
    metrics = {"protocol": {}, "dataset": {}, "metrics": {"HR@10": 0.5}}
    return dict(command="evaluate", task="recommend", dataset={}, split={},
                results={"m": metrics}, primary="m")


def test_make_report_self_reference_names_the_argument():
    cfg = {"seed": 0}
    cfg["self"] = cfg
    with pytest.raises(ValueError, match=r"config\['self'\] refers back .* circular"):
        make_report(config=cfg, **_args())
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match=r"training\['h'\]\[0\] refers back"):
        make_report(config={}, training={"h": loop}, **_args())
    shared = [1, 2]  # the same list twice is no cycle
    rep = make_report(config={"a": shared, "b": shared}, **_args())
    assert rep["config"] == {"a": [1, 2], "b": [1, 2]}


def test_summary_table_number_past_float_range():
    with pytest.raises(ValueError, match=r"results\['a'\]\['metrics'\]\['x'\] \(int\) is past "
                                         "the float range"):
        summary_table({"a": {"metrics": {"x": 10**400}}})
    assert "1.0000" in summary_table({"a": {"metrics": {"x": 1}}})


def test_write_report_bad_paths_are_value_errors(tmp_path, plainfile):
    rep = make_report(config={}, **_args())
    with pytest.raises(ValueError, match=r"is a directory: give a file name"):
        write_report(rep, tmp_path)
    with pytest.raises(ValueError, match=r"plainfile/r\.json'?: its folder .*plainfile is a file"):
        write_report(rep, plainfile / "r.json")
    with pytest.raises(ValueError, match=r"cannot create its folder .*plainfile is a file"):
        write_report(rep, plainfile / "a" / "r.json")
    if _proc_unwritable():
        with pytest.raises(ValueError, match=r"'/proc/r\.json': cannot create files in its "
                                             "folder /proc"):
            write_report(rep, "/proc/r.json")
    assert write_report(rep, tmp_path / "new" / "r.json").is_file()


# ------------------------------------------------------------------------------------ plots
def test_plot_bad_paths_are_value_errors(tmp_path, plainfile):
    h = {"loss": [1.0, 0.5]}
    with pytest.raises(ValueError, match=r"plainfile/x\.png'?: its folder .*plainfile is a file"):
        plot.training_curves(h, plainfile / "x.png")
    with pytest.raises(ValueError, match=r"cannot create its folder .*plainfile is a file"):
        plot.scale_weights([0.5, 0.5], ["1", "2"], plainfile / "a" / "w.png")
    if _proc_unwritable():
        with pytest.raises(ValueError, match=r"'/proc/x\.png': cannot create files in its "
                                             "folder /proc"):
            plot.training_curves(h, "/proc/x.png")
    assert plot.training_curves(h, tmp_path / "new" / "x.png").is_file()


# --------------------------------------------------------------------------------- datasets
def test_fetch_name_not_a_str():
    with pytest.raises(TypeError, match=r"name must be a dataset name \(a str\).* got list"):
        fetch(["ml-100k"])


def test_fetch_cache_dir_a_file(tmp_path, plainfile):
    with pytest.raises(ValueError, match=r"cache_dir '.*plainfile': it is a file, not a folder"):
        fetch("ml-100k", cache_dir=plainfile)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "ml-100k").write_text("")
    with pytest.raises(ValueError, match=r"cache_dir .* cannot create the dataset's folder"):
        fetch("ml-100k", cache_dir=tmp_path / "c")
    with pytest.raises(TypeError, match="cache_dir must be"):
        fetch("ml-100k", cache_dir=3)


def test_fetch_downloader_that_writes_nothing(tmp_path):
    with pytest.raises(RuntimeError, match=r"ml-100k: the download of .* wrote nothing"):
        fetch("ml-100k", cache_dir=tmp_path, downloader=lambda url, dest: None)
    with pytest.raises(RuntimeError, match=r"left a directory at .*\.part, not a file"):
        fetch("ml-100k", cache_dir=tmp_path, downloader=lambda url, dest: os.mkdir(dest))


def test_plain_written_outputs_need_a_writable_file_not_folder(tmp_path, monkeypatch):
    """recommend / forecast -o open an existing file and write it as it is: only the file must
    be writable; a file renamed into place (train -o) needs a folder that takes new files."""
    from chronoscale import report

    target = tmp_path / "out.csv"
    target.write_text("old\n")

    def no_new_files(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(report.tempfile, "mkstemp", no_new_files)  # a read-only folder
    assert report.output_problem(target, replaced=False) is None
    assert "Permission denied" in report.output_problem(target, replaced=True)
    assert target.read_text() == "old\n"  # the writability probe changed nothing
