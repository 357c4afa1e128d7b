"""Test utilities: random lengths, finite differences, relative errors, fake CUDA arrays."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np


def random_lengths(rng, B: int, T: int) -> np.ndarray:
    """Random lengths in [1, T] that always include 1 and T when B >= 2."""
    lengths = rng.integers(1, T + 1, size=B).astype(np.int64)
    if B >= 2:
        lengths[0] = T
        lengths[1] = 1
    return lengths


def bf16_round(a) -> np.ndarray:
    """float32 values rounded to bfloat16 (round to nearest even), as float32 (no NaN)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return u.astype(np.uint32).view(np.float32)


def bf16_full_softmax_reference(user, items, target, ignore_index=-1):
    """ops.full_softmax_loss(precision="bfloat16") in float64: the logits from bfloat16-rounded
    user and items, the float32 gradient of the logits rounded to bfloat16 for both backward
    products. Returns ``(loss, d_user, d_items)``."""
    u, e = bf16_round(user).astype(np.float64), bf16_round(items).astype(np.float64)
    logits = u @ e.T
    keep = target != ignore_index
    K = max(int(keep.sum()), 1)
    m = logits.max(axis=1, keepdims=True)
    p = np.exp(logits - m)
    s = p.sum(axis=1, keepdims=True)
    rows = np.nonzero(keep)[0]
    loss = float(np.sum(np.log(s[rows, 0]) + m[rows, 0] - logits[rows, target[rows]])) / K
    d = p / s / K
    d[rows, target[rows]] -= 1.0 / K
    d[~keep] = 0.0
    d = bf16_round(d.astype(np.float32)).astype(np.float64)
    return loss, d @ e, d.T @ u


def rel_error(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    denom = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0), 1e-12)
    return float(np.abs(a - b).max(initial=0.0) / denom)


def numeric_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite differences of the scalar function f() w.r.t. x (modified in place)."""
    g = np.zeros_like(x)
    flat = x.reshape(-1)
    gflat = g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return g


def recurrent_forward(cell, p, lengths):
    """Run ``chronoscale.ops`` forward for ``cell`` ("lstm", "gru", "rnn_<act>") on the dict ``p``
    of x, w_ih, w_hh, b_ih, b_hh, h0 (and c0 for LSTM); returns ``(y, h_n, c_n or None, cache)``."""
    from chronoscale import ops

    args = (p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], p["h0"])
    if cell == "lstm":
        return ops.lstm_forward(*args, p["c0"], lengths)
    if cell == "gru":
        y, h, cache = ops.gru_forward(*args, lengths)
        return y, h, None, cache
    y, h, cache = ops.rnn_forward(*args, lengths, activation=cell[4:])
    return y, h, None, cache


def recurrent_backward(cell, dy, dh, dc, cache):
    """The matching backward: ``(dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0 or None)``."""
    from chronoscale import ops

    if cell == "lstm":
        return ops.lstm_backward(dy, dh, dc, cache)
    fn = ops.gru_backward if cell == "gru" else ops.rnn_backward
    return fn(dy, dh, cache) + (None,)


class FakeCudaArray:
    """Claims to be a CUDA array (``__cuda_array_interface__`` with a null pointer): for the
    checks that a build or machine without CUDA raises a clear error; the pointer is never read.
    ``reads`` counts the accesses of the interface (CuPy builds its dict anew at each one)."""

    def __init__(self, shape, typestr="<f4"):
        self.shape = shape
        self.typestr = typestr
        self.strides = None  # C-contiguous
        self.reads = 0

    @property
    def __cuda_array_interface__(self):
        self.reads += 1
        return {
            "shape": self.shape,
            "typestr": self.typestr,
            "data": (0, False),
            "version": 3,
            "strides": self.strides,
        }


def skip_if_cuda_device():
    """Skip the calling test where a CUDA device is available (it checks the error without one)."""
    import pytest

    import chronoscale

    if chronoscale.build_info()["cuda_available"]:
        pytest.skip("a CUDA device is available")


def rewrite_header(raw: bytes, edit) -> bytes:
    """The chronoscale file ``raw`` with its JSON header changed by ``edit(header)`` and the
    header's CRC-32 recomputed as ``io.write_file`` does, the data section kept as it is: a
    well-formed file (valid checksums) with hostile header content."""
    from chronoscale import io

    hsize = struct.unpack_from("<Q", raw, 16)[0]
    header = json.loads(raw[32:32 + hsize])
    old_start = (32 + hsize + 63) // 64 * 64
    edit(header)
    hb = json.dumps(header).encode()
    start = (32 + len(hb) + 63) // 64 * 64
    pre = struct.pack("<8sIIQII", io.MAGIC, 1, 0, len(hb), zlib.crc32(hb), 0)
    return pre + hb + b"\0" * (start - 32 - len(hb)) + raw[old_start:]


def err_line(capsys) -> str:
    """The one line a CLI command printed on stderr (an assertion error for more)."""
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, f"expected one line on stderr, got:\n{err}"
    return err
