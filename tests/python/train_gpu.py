"""Helpers of the GPU tests (test_*_cuda.py): every CUDA result is compared with the CPU kernels'
result on the same random inputs."""

from __future__ import annotations

import numpy as np

from helpers import rel_error

TOL = {np.float32: 1e-4, np.float64: 1e-10}


def cp():
    import cupy

    return cupy


def to_gpu(*arrays):
    c = cp()
    out = tuple(None if a is None else c.asarray(a) for a in arrays)
    return out if len(out) > 1 else out[0]


def check(gpu, cpu, tol, what):
    """gpu is a CuPy array with cpu's dtype and shape, all finite, within rel. error tol."""
    c = cp()
    assert isinstance(gpu, c.ndarray), f"{what}: expected a CuPy array, got {type(gpu).__name__}"
    g = c.asnumpy(gpu)
    assert g.dtype == cpu.dtype and g.shape == cpu.shape, what
    assert np.all(np.isfinite(g)), f"{what}: non-finite (unwritten?) entries"
    assert rel_error(g, cpu) < tol, f"{what}: rel. error {rel_error(g, cpu):.2e}"


def check_nan(gpu, cpu, tol, what):
    """gpu is a CuPy array with NaN exactly where cpu has NaN (inputs holding NaN), the rest
    within rel. error tol."""
    c = cp()
    assert isinstance(gpu, c.ndarray), f"{what}: expected a CuPy array, got {type(gpu).__name__}"
    g = c.asnumpy(gpu)
    assert g.dtype == cpu.dtype and g.shape == cpu.shape, what
    np.testing.assert_array_equal(np.isnan(g), np.isnan(cpu), err_msg=f"{what}: NaN positions")
    assert rel_error(np.nan_to_num(g), np.nan_to_num(cpu)) < tol, what


def check_pair(gpu, cpu, dtype, what, tol=None):
    """check() at ``tol`` (default TOL[dtype]); cpu None (an absent output) requires gpu None."""
    if cpu is None:
        assert gpu is None, what
        return
    check(gpu, cpu, TOL[dtype] if tol is None else tol, what)


def poison(shapes, dtype):
    """Fill CuPy's pool with NaN blocks of these shapes, so that an output element the kernels
    never write stays NaN (CuPy hands freed blocks back for the same sizes)."""
    c = cp()
    blocks = [c.full(s, np.nan, dtype=dtype) for s in shapes for _ in range(2)]
    del blocks
