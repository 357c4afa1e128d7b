"""Ops that write into a caller's array (``out=`` of gather_rows / scatter_rows / dropout, the
optimisers' in-place state): a read-only array is refused before any write (a read-only memory
map used to crash the process, a read-only array was silently overwritten), an ``out`` that
aliases the input of a row gather / scatter is refused (its rows would be read after being
written), and window_rows checks its host lengths and the size of ``B * W``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from chronoscale import ops

F = np.float32


def _read_only(shape, tmp_path=None):
    if tmp_path is None:
        a = np.zeros(shape, F)
        a.setflags(write=False)
        return a
    np.save(tmp_path / "ro.npy", np.zeros(shape, F))
    return np.load(tmp_path / "ro.npy", mmap_mode="r")


@pytest.mark.parametrize("mapped", [False, True])
def test_read_only_outputs_are_refused(rng, tmp_path, mapped):
    src = rng.standard_normal((4, 3)).astype(F)
    idx = np.array([1, 2])
    cases = {
        "gather_rows": lambda out: ops.gather_rows(src, idx, out=out),
        "scatter_rows": lambda out: ops.scatter_rows(src[:2], idx, out=out),
        "dropout_forward": lambda out: ops.dropout_forward(src[:2], 0.5, 1, out=out),
        "dropout_backward": lambda out: ops.dropout_backward(
            src[:2], ops.dropout_forward(src[:2], 0.5, 1)[1], out=out),
    }
    for name, call in cases.items():
        out = _read_only((2, 3), tmp_path if mapped else None)
        with pytest.raises(ValueError, match="out must be writable"):
            call(out)
        assert not np.asarray(out).any(), name  # nothing was written


def test_read_only_input_dropped_in_place_is_refused(rng):
    x = rng.standard_normal((2, 5)).astype(F)
    x.setflags(write=False)
    before = x.copy()
    with pytest.raises(ValueError, match="out must be writable"):
        ops.dropout_forward(x, 0.5, 1, out=x)
    np.testing.assert_array_equal(x, before)


def test_read_only_memory_map_does_not_crash_the_process(tmp_path):
    """The reproducer of the crash, in a child process: it must end with the ValueError."""
    code = (
        "import numpy as np, sys\n"
        "from chronoscale import ops\n"
        f"np.save({str(tmp_path / 'm.npy')!r}, np.zeros((2, 3), np.float32))\n"
        f"out = np.load({str(tmp_path / 'm.npy')!r}, mmap_mode='r')\n"
        "try:\n"
        "    ops.gather_rows(np.ones((4, 3), np.float32), np.array([1, 2]), out=out)\n"
        "except ValueError as e:\n"
        "    print('refused:', e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "refused: out must be writable" in r.stdout, r.stderr


def test_outputs_aliasing_the_input_are_refused(rng):
    src = np.arange(12, dtype=F).reshape(4, 3)
    idx = np.array([1, 2, 3, 0])
    with pytest.raises(ValueError, match="out and src must be different arrays"):
        ops.gather_rows(src, idx, out=src)
    wide = np.zeros((4, 6), F)  # a view of the same buffer as out
    with pytest.raises(ValueError, match="out and src must be different arrays"):
        ops.gather_rows(wide.reshape(8, 3), idx, out=wide)
    g = np.arange(12, dtype=F).reshape(4, 3)
    before = g.copy()
    with pytest.raises(ValueError, match="out and g must be different arrays"):
        ops.scatter_rows(g, idx, out=g)
    np.testing.assert_array_equal(g, before)
    # separate arrays still work, and give the reference values
    out = ops.gather_rows(src, idx, out=np.empty_like(src))
    np.testing.assert_array_equal(out, src[idx])
    acc = np.zeros_like(g)
    np.add.at(acc, idx, g)
    np.testing.assert_array_equal(ops.scatter_rows(g, idx, out=np.zeros_like(g)), acc)


def test_scatter_rows_huge_col_is_named():
    g = np.ones((2, 3), F)
    with pytest.raises(ValueError, match=r"columns \[4611686018427387904, "):
        ops.scatter_rows(g, np.array([0, 1]), out=np.zeros((2, 3), F), col=2**62)


def test_window_rows_checks_host_lengths_and_the_row_count():
    scale = ops.Scale.parse("2")
    b, t = np.array([0, 1, 2]), np.array([5, 5, 5])
    ok = ops.window_rows(scale, b, t, (3, 6), 3, out_lengths=np.array([3, 3, 3]))
    np.testing.assert_array_equal(ok, [2, 5, 8])
    with pytest.raises(ValueError, match="B \\* W .* must fit in int64"):
        ops.window_rows(scale, b, t, (3, 6), 2**62, out_lengths=np.array([3, 3, 3]))
    with pytest.raises(ValueError, match=r"lengths\[2\] = 99 is outside \[0, T\] with T = 6"):
        ops.window_rows(scale, b, t, (3, 6), 3, lengths=np.array([6, 6, 99]),
                        out_lengths=np.array([3, 3, 3]))
    with pytest.raises(ValueError, match=r"out_lengths\[0\] = -3 is outside \[0, W\] with W = 3"):
        ops.window_rows(scale, b, t, (3, 6), 3, out_lengths=np.array([-3, 3, 3]))
    with pytest.raises(ValueError, match=r"out_lengths\[2\] = 70 is outside \[0, W\]"):
        ops.window_rows(scale, b, t, (3, 6), 3, out_lengths=np.array([3, 3, 70]))
