"""Build and load a CPU-emulator harness (tests/cuda_emu): CUDA sources compiled by the host C++
compiler against the emulated runtime (tests/cuda_emu/include), loaded with ctypes. The shared
library is cached in build/cuda_emu/ under a hash of every file it may read, so the first run
for given sources compiles it and later runs reuse it (about a minute for all harnesses on two
cores). The tests that use it run by default, where there is no GPU too: they are what checks
the CUDA kernels' logic on every machine. CHRONOSCALE_TEST_EMU=0 skips them; without a C++
compiler, or with one that cannot build the emulator (C++20 and POSIX ucontext, probed once),
they are skipped; a harness that fails to build on a suitable compiler fails its tests."""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EMU = ROOT / "tests" / "cuda_emu"
CUDA = ROOT / "cuda"
INCLUDES = [EMU / "include", CUDA, ROOT / "cpp" / "include", ROOT / "cpp" / "src"]
FLAGS = ["-std=c++20", "-O1", "-shared", "-fPIC", "-Wno-unknown-pragmas"]


def _headers():
    """Headers any harness may include: the emulator's, cuda/, the public and internal ones."""
    files = [*sorted(EMU.glob("*.hpp")), *sorted((EMU / "include").glob("*.h"))]
    files += sorted(CUDA.glob("*.cuh"))
    files += sorted((ROOT / "cpp" / "include" / "chronoscale").glob("*.hpp"))
    for d in (ROOT / "cpp" / "src", ROOT / "cpp" / "src" / "cpu"):
        files += sorted(d.glob("*.hpp"))
    return files


def require_emu():
    if os.environ.get("CHRONOSCALE_TEST_EMU", "") == "0":
        pytest.skip("CHRONOSCALE_TEST_EMU=0: the CUDA kernels' emulator tests are off")


_PROBE = """#include <ucontext.h>
#include <concepts>
static ucontext_t a;
extern "C" int probe() { return getcontext(&a) + std::same_as<int, int>; }
"""
_SUITABLE: dict = {}


def _unsuitable(cxx) -> str:
    """Why ``cxx`` cannot build the emulator ('' when it can): it needs C++20 and POSIX
    ucontext, which a tiny probe compiled with the harnesses' flags shows (once per run)."""
    if cxx not in _SUITABLE:
        out = ROOT / "build" / "cuda_emu" / f"probe.{os.getpid()}.so"
        out.parent.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([cxx, *FLAGS, "-x", "c++", "-", "-o", str(out)], input=_PROBE,
                           capture_output=True, text=True)
        out.unlink(missing_ok=True)
        _SUITABLE[cxx] = "" if r.returncode == 0 else (r.stderr.strip().splitlines() or ["?"])[-1]
    return _SUITABLE[cxx]


def load_harness(name, sources, included=(), flags=()) -> ctypes.CDLL:
    """Compile ``sources`` (paths, compiled and linked together) into
    build/cuda_emu/<name>-<hash>.so and load it. ``included``: further files the sources
    #include that are not headers (the cuda/*.cu files), hashed with them; ``flags``: extra
    compiler flags (e.g. -fopenmp)."""
    require_emu()
    digest = hashlib.sha256(" ".join(flags).encode())
    for f in [*sources, *included, *_headers()]:
        digest.update(Path(f).read_bytes())
    lib = ROOT / "build" / "cuda_emu" / f"{name}-{digest.hexdigest()[:16]}.so"
    if not lib.exists():
        cxx = shutil.which(os.environ.get("CXX", "g++"))
        if cxx is None:
            pytest.skip("no C++ compiler")
        why = _unsuitable(cxx)
        if why:  # (a harness that fails to build on a suitable compiler is a test failure)
            pytest.skip(f"the C++ compiler cannot build the CUDA emulator: {why}")
        lib.parent.mkdir(parents=True, exist_ok=True)
        tmp = lib.with_suffix(f".{os.getpid()}.tmp")
        cmd = [cxx, *FLAGS, *flags, *[f"-I{d}" for d in INCLUDES], *[str(s) for s in sources]]
        subprocess.run([*cmd, "-o", str(tmp)], check=True)
        tmp.rename(lib)
    return ctypes.CDLL(str(lib))


def load_row_glue() -> ctypes.CDLL:
    """The harness of the models' row glue (tests/cuda_emu/harness_rows.cpp: rows, normalize,
    packed, fusion, top_k), its entry points typed; ``emu_rows_error()`` gives the last error."""
    h = load_harness("rows", [EMU / "harness_rows.cpp"],
                     [CUDA / f for f in ("rows.cu", "normalize.cu", "packed.cu", "fusion.cu",
                                         "top_k.cu")])
    P, I32, I64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64
    U32, F64 = ctypes.c_uint32, ctypes.c_double
    h.emu_rows_error.restype = ctypes.c_char_p
    for f in (h.emu_gather_rows, h.emu_scatter_rows):
        f.argtypes = [I32, I64, I64, I64, I64, I64, P, P, P, U32]
    h.emu_window_rows.argtypes = [I64, P, P, *[I64] * 5, P, P, P, P, U32]
    h.emu_normalize.argtypes = [I32, I64, I64, F64, P, P, P, P, P, U32]
    h.emu_packed_cumsum.argtypes = [I32, I64, I64, P, I64, I32, P, P, U32]
    h.emu_scale_fusion.argtypes = [I32, I64, I64, I64, P, P, P, P, P, P, P, U32]
    h.emu_top_k.argtypes = [I32, I64, I64, I64, P, P, P, I64, U32]
    return h
