"""The core library compiles for the baseline x86-64 ISA (no AVX): what a build with
CHRONOSCALE_NATIVE_ARCH=OFF, or a portable wheel, compiles. The SIMD code is written with the
compiler's vector extension and must not assume a 256-bit register (an inline-asm constraint
that did made such builds fail). Every source is compiled at -O0 (code generation is where such
errors show), in about 15 s on two cores, with GCC and, where one is installed, with Clang
(clang 14 and 15 refuse lambdas that capture structured bindings, which GCC accepts); a stamp
under build/portable/, keyed by a hash of the sources, skips the work when nothing changed."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "cpp" / "src"
DEFINES = ['-DCHRONOSCALE_CXX_FLAGS=""', "-DCHRONOSCALE_NATIVE_ARCH=0",
           '-DCHRONOSCALE_CUDA_ARCHS=""']
FLAGS = ["-std=c++20", "-O0", "-march=x86-64", "-Wall", "-Wno-psabi", "-Werror=return-type",
         f"-I{ROOT / 'cpp' / 'include'}", f"-I{SRC}"]


def _sources():
    return sorted([*SRC.glob("*.cpp"), *(SRC / "cpu").glob("*.cpp")])


def _openmp(cxx) -> list:
    """["-fopenmp"] when ``cxx`` has OpenMP's header (clang may come without libomp)."""
    r = subprocess.run([cxx, "-fopenmp", "-x", "c++", "-fsyntax-only", "-"],
                       input="#include <omp.h>\n", capture_output=True, text=True)
    return ["-fopenmp"] if r.returncode == 0 else []


def _compile(cmd, src):
    r = subprocess.run([*cmd, "-c", str(src), "-o", os.devnull], capture_output=True, text=True)
    return src, r.returncode, r.stderr


def _clang():
    for name in ("clang++", *(f"clang++-{v}" for v in range(14, 22))):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="an x86-64 check")
@pytest.mark.parametrize("family", ["gcc", "clang"])
def test_core_compiles_without_avx(family):
    cxx = shutil.which(os.environ.get("CXX", "g++")) if family == "gcc" else _clang()
    if cxx is None:
        pytest.skip(f"no {family} C++ compiler")
    sources = _sources()
    headers = sorted([*(ROOT / "cpp" / "include").rglob("*.h*"), *SRC.rglob("*.hpp")])
    cmd = [cxx, *FLAGS, *_openmp(cxx), *DEFINES]
    digest = hashlib.sha256(" ".join(cmd).encode())
    for f in [*sources, *headers]:
        digest.update(str(f.relative_to(ROOT)).encode() + f.read_bytes())
    stamp = ROOT / "build" / "portable" / f"{digest.hexdigest()[:16]}.ok"
    if stamp.exists():
        return
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        failed = [(s, err) for s, rc, err in pool.map(lambda s: _compile(cmd, s), sources) if rc]
    assert not failed, "\n".join(f"{s.relative_to(ROOT)}:\n{err[-2000:]}" for s, err in failed)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.touch()
