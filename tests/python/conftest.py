"""Shared test fixtures: seeded RNG, GPU marker handling, path to ../shared/data."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import pytest

import chronoscale

REQUIRE_GPU = os.environ.get("CHRONOSCALE_REQUIRE_GPU", "") not in ("", "0")
_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("CHRONOSCALE_SHARED_DATA", _ROOT.parent / "shared" / "data"))


def _gpu_ready() -> tuple[bool, str]:
    info = chronoscale.build_info()
    if not info["cuda"]:
        return False, "chronoscale was built without CUDA"
    if not info["cuda_available"]:
        return False, "no CUDA device available"
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False, "CuPy is not installed"
    return True, ""


def pytest_collection_modifyitems(config, items):
    ok, why = _gpu_ready()
    for item in items:
        if "gpu" in item.keywords and not ok:
            if REQUIRE_GPU:
                item.add_marker(pytest.mark.xfail(reason=why, run=False, strict=True))
                raise pytest.UsageError(f"CHRONOSCALE_REQUIRE_GPU=1 but {why}")
            item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture
def rng(request):
    """A NumPy Generator seeded from the test's name (reproducible, different per test)."""
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
