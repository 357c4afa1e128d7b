"""The core library compiles for the baseline x86-64 ISA (no AVX): what a build with
CHRONOSCALE_NATIVE_ARCH=OFF, or a portable wheel, compiles. The SIMD code is written with the
compiler's vector extension and must not assume a 256-bit register (an inline-asm constraint
that did made such builds fail). Every source is compiled at -O0 (code generation is where such
errors show), in about 15 s on two cores; a stamp under build/portable/, keyed by a hash of the
sources, skips the work when nothing changed."""

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
FLAGS = ["-std=c++20", "-O0", "-march=x86-64", "-fopenmp", "-Wall", "-Wno-psabi",
         "-Werror=return-type", f"-I{ROOT / 'cpp' / 'include'}", f"-I{SRC}"]


def _sources():
    return sorted([*SRC.glob("*.cpp"), *(SRC / "cpu").glob("*.cpp")])


def _compile(cxx, src):
    r = subprocess.run([cxx, *FLAGS, *DEFINES, "-c", str(src), "-o", os.devnull],
                       capture_output=True, text=True)
    return src, r.returncode, r.stderr


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="an x86-64 check")
def test_core_compiles_without_avx():
    cxx = shutil.which(os.environ.get("CXX", "g++"))
    if cxx is None:
        pytest.skip("no C++ compiler")
    sources = _sources()
    headers = sorted([*(ROOT / "cpp" / "include").rglob("*.h*"), *SRC.rglob("*.hpp")])
    digest = hashlib.sha256(" ".join([cxx, *FLAGS]).encode())
    for f in [*sources, *headers]:
        digest.update(str(f.relative_to(ROOT)).encode() + f.read_bytes())
    stamp = ROOT / "build" / "portable" / f"{digest.hexdigest()[:16]}.ok"
    if stamp.exists():
        return
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        failed = [(s, err) for s, rc, err in pool.map(lambda s: _compile(cxx, s), sources) if rc]
    assert not failed, "\n".join(f"{s.relative_to(ROOT)}:\n{err[-2000:]}" for s, err in failed)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.touch()
