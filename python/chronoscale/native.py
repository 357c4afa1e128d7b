"""Where the embeddable native library lives, for C / C++ programs that use chronoscale without
Python (see ``include/chronoscale/chronoscale.h``)."""

from __future__ import annotations

import os
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def get_include() -> str:
    """Folder with ``chronoscale/chronoscale.h`` (C API) and the C++ headers."""
    installed = _HERE / "include"
    if installed.is_dir():
        return str(installed)
    return str(_HERE.parents[1] / "cpp" / "include")  # source checkout


def get_library() -> str | None:
    """Path of ``libchronoscale.so`` (C API), or None when this build has none.

    ``$CHRONOSCALE_NATIVE_LIB`` overrides the location (development builds).
    """
    env = os.environ.get("CHRONOSCALE_NATIVE_LIB")
    if env:
        return env
    lib = _HERE / "lib" / "libchronoscale.so"
    return str(lib) if lib.exists() else None
