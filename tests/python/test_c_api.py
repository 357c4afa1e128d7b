"""The C API of libchronoscale.so, called through ctypes: same results and same validation as
the Python API, errors as status codes with a message."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import chronoscale
from chronoscale import ops
from chronoscale._runtime import blas_library_path
from chronoscale.native import get_include, get_library

from helpers import random_lengths

CS_OK, CS_ERR_VALUE, CS_ERR_TYPE = 0, 1, 2
DTYPES = {np.dtype(np.float32): 0, np.dtype(np.float64): 1, np.dtype(np.int64): 2,
          np.dtype(np.int32): 3}


class CsTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("dtype", ctypes.c_int32),
        ("device", ctypes.c_int32),
        ("ndim", ctypes.c_int32),
        ("shape", ctypes.c_int64 * 6),
    ]


def tensor(a):
    if a is None:
        return None
    t = CsTensor()
    t.data = a.ctypes.data
    t.dtype = DTYPES[a.dtype]
    t.device = 0
    t.ndim = a.ndim
    for i, s in enumerate(a.shape):
        t.shape[i] = s
    return ctypes.pointer(t)


@pytest.fixture(scope="module")
def lib():
    path = get_library()
    if path is None:
        pytest.fail("libchronoscale.so is not installed with the package")
    lib = ctypes.CDLL(path)
    lib.chronoscale_version.restype = ctypes.c_char_p
    lib.chronoscale_last_error.restype = ctypes.c_char_p
    lib.chronoscale_build_info.restype = ctypes.c_char_p
    blas = blas_library_path()
    if blas:
        assert lib.chronoscale_load_blas(blas.encode()) == CS_OK
    return lib


def test_header_is_shipped():
    assert os.path.exists(os.path.join(get_include(), "chronoscale", "chronoscale.h"))


def test_native_c_test_program(tmp_path):
    """tests/cpp/test_c_api.c (the ctest of the C API: results against a reference written in
    C, bad input, overflowing shapes, aliased outputs), compiled against the installed header
    and library, as an embedding service would, and run."""
    src = Path(__file__).resolve().parents[1] / "cpp" / "test_c_api.c"
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None or not src.exists():
        pytest.skip("no C compiler" if cc is None else "not a source checkout")
    lib = Path(get_library())
    exe = tmp_path / "test_c_api"
    subprocess.run([cc, "-std=c11", "-O1", f"-I{get_include()}", str(src), str(lib),
                    f"-Wl,-rpath,{lib.parent}", "-lm", "-o", str(exe)], check=True)
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


def test_version_and_build_info(lib):
    assert lib.chronoscale_version().decode() == chronoscale.__version__
    info = json.loads(lib.chronoscale_build_info().decode())
    assert info["version"] == chronoscale.__version__


def test_lstm_forward_backward_match_python(lib, rng):
    B, T, I, H = 3, 6, 4, 5
    x = rng.standard_normal((B, T, I))
    w_ih, w_hh = rng.standard_normal((4 * H, I)) * 0.3, rng.standard_normal((4 * H, H)) * 0.3
    b_ih, b_hh = rng.standard_normal(4 * H) * 0.1, rng.standard_normal(4 * H) * 0.1
    lengths = random_lengths(rng, B, T)
    y, h_n, c_n = np.empty((B, T, H)), np.empty((B, H)), np.empty((B, H))
    gates, hprev, aux = np.empty((B, T, 4 * H)), np.empty((B, T, H)), np.empty((B, T, H))
    args = [
        tensor(a)
        for a in (x, w_ih, w_hh, b_ih, b_hh, None, None, lengths, y, h_n, c_n, gates, hprev, aux)
    ]
    assert lib.chronoscale_recurrent_forward(3, *args, None) == CS_OK, lib.chronoscale_last_error()
    y_ref, h_ref, c_ref, cache = ops.lstm_forward(x, w_ih, w_hh, b_ih, b_hh, lengths=lengths)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(h_n, h_ref)
    np.testing.assert_array_equal(c_n, c_ref)

    dy = rng.standard_normal(y.shape)
    grads = [np.empty_like(a) for a in (x, w_ih, w_hh, b_ih, b_hh)]
    dh0, dc0 = np.empty((B, H)), np.empty((B, H))
    status = lib.chronoscale_recurrent_backward(
        3,
        tensor(dy),
        None,
        None,
        *[tensor(a) for a in (x, w_ih, w_hh, b_ih, b_hh, None, None, lengths, gates, hprev, aux)],
        *[tensor(g) for g in grads],
        tensor(dh0),
        tensor(dc0),
        None,
    )
    assert status == CS_OK, lib.chronoscale_last_error()
    ref = ops.lstm_backward(dy, None, None, cache)
    for ours, theirs in zip(grads + [dh0, dc0], ref):
        np.testing.assert_array_equal(ours, theirs)


def test_errors_are_codes_with_messages(lib, rng):
    x = rng.standard_normal((2, 3, 4))
    w_ih, w_hh = rng.standard_normal((8, 4)), rng.standard_normal((8, 3))  # H mismatch: 8 != 4*3
    out = [
        tensor(np.empty(s)) for s in [(2, 3, 2), (2, 2), (2, 2), (2, 3, 8), (2, 3, 2), (2, 3, 2)]
    ]
    status = lib.chronoscale_recurrent_forward(
        3, tensor(x), tensor(w_ih), tensor(w_hh), None, None, None, None, None, *out, None
    )
    assert status == CS_ERR_VALUE
    assert b"w_hh must have shape" in lib.chronoscale_last_error()
    status = lib.chronoscale_recurrent_forward(
        3,
        tensor(x.astype(np.float32)),
        tensor(w_ih),
        tensor(w_hh),
        None,
        None,
        None,
        None,
        None,
        *out,
        None,
    )
    assert status == CS_ERR_TYPE
    assert b"must have the dtype of x" in lib.chronoscale_last_error()
    assert lib.chronoscale_set_num_threads(0) == CS_ERR_VALUE
    assert lib.chronoscale_set_num_threads(100000) == CS_ERR_VALUE  # never tries to start them
    assert b"must be <=" in lib.chronoscale_last_error()
    assert lib.chronoscale_recurrent_forward(9, *([None] * 15), None) == CS_ERR_VALUE


def test_top_k_matches_python(lib, rng):
    s = rng.standard_normal((7, 300))
    s[:, ::5] = np.round(s[:, ::5])  # ties
    s[0, :4] = -np.inf
    ids, values = np.empty((7, 12), np.int64), np.empty((7, 12))
    lib.chronoscale_top_k.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p,
                                      ctypes.c_void_p, ctypes.c_void_p]
    assert lib.chronoscale_top_k(tensor(s), 12, tensor(ids), tensor(values), None) == CS_OK
    want = ops.top_k(s, 12)
    np.testing.assert_array_equal(ids, want[0])
    np.testing.assert_array_equal(values, want[1])
    assert lib.chronoscale_top_k(tensor(s), 301, tensor(ids), tensor(values), None) == CS_ERR_VALUE
    assert b"k must be in [1, V = 300]" in lib.chronoscale_last_error()
    bad = np.empty((7, 12), np.int32)
    assert lib.chronoscale_top_k(tensor(s), 12, tensor(bad), tensor(values), None) == CS_ERR_TYPE
    assert b"ids must be int64" in lib.chronoscale_last_error()
