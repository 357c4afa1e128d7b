"""Saving and loading models and checkpoints: one versioned, documented file format (``.csm``).

No pickle: a file holds a JSON header and raw arrays, so loading an untrusted file can at worst
fail with ``ValueError`` (only chronoscale's own registered model classes are instantiated, from
JSON values). The layout is simple enough to read from C or C++ without Python (see
``docs/FORMAT.md``).

File layout, format version 1 (all integers little-endian)::

    offset  size  field
    0       8     magic            b"\\x89CSM\\r\\n\\x1a\\n"
    8       4     format_version   uint32, currently 1
    12      4     flags            uint32, 0 (reserved)
    16      8     header_size      uint64, bytes of the JSON header (<= 64 MiB)
    24      4     header_crc32     uint32, zlib CRC-32 of the header bytes
    28      4     reserved         uint32, 0
    32      H     header           UTF-8 JSON object (below)
    32+H    pad   zero bytes up to data_start = round_up(32 + H, 64)
    data_start    data section: each tensor's bytes at data_start + offset

Header (JSON object)::

    {"format": "chronoscale", "format_version": 1, "library_version": "0.1.0",
     "kind": "model" | "layer" | "checkpoint" | "tensors",
     "class": "SeedForecaster",          # model class (kind "model"), else null
     "config": {...},                    # constructor arguments of the class (JSON values)
     "meta": {...},                      # free-form JSON (fit state, history, ...)
     "data_size": 12345,                 # bytes in the data section (file = data_start + this)
     "tensors": [{"name": "net.0.weight", "dtype": "float32", "shape": [64, 5, 3],
                  "offset": 0, "nbytes": 3840, "crc32": 123456789}, ...]}

Tensors are C-order (row-major) arrays, little-endian; dtypes are ``float32``, ``float64``,
``int32``, ``int64``, ``uint8``; offsets are multiples of 64 from ``data_start`` (so a reader can
map the file and use the arrays in place); ``nbytes == prod(shape) * itemsize``. A reader must
reject an unknown magic, a newer format version, a header or tensor outside the file, and a CRC
mismatch. :func:`load` (and ``fit(resume=...)``) also require every tensor to have exactly the
dtype and shape of the parameter it loads into: a valid-looking file whose ``dtype`` was
relabelled (say ``float32`` -> ``int32``) is refused, never reinterpreted or cast.
"""

from __future__ import annotations

import json
import os
import stat
import struct
import zlib
from pathlib import Path

import numpy as np

MAGIC = b"\x89CSM\r\n\x1a\n"
FORMAT_VERSION = 1
ALIGN = 64
MAX_HEADER = 64 << 20
_PREAMBLE = struct.Struct("<8sIIQII")  # magic, version, flags, header_size, header_crc, reserved
_DTYPES = {"float32": "<f4", "float64": "<f8", "int32": "<i4", "int64": "<i8", "uint8": "u1"}

KINDS = ("model", "layer", "checkpoint", "tensors")

_MODELS: dict[str, type] = {}


def register(cls):
    """Class decorator: make a model class loadable by :func:`load` under its ``__name__``.

    The class must implement ``_save_state() -> (config: dict, tensors: dict, meta: dict)`` and
    the classmethod ``_from_saved(config, tensors, meta, device=None, path=...)`` (which checks
    the tensors with :func:`check_tensor_types` before loading them).
    """
    _MODELS[cls.__name__] = cls
    return cls


def _round_up(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _check_path(path, name: str = "path"):
    """``path`` when it is a ``str`` or ``os.PathLike`` (an int would open a file descriptor);
    TypeError naming ``name`` otherwise."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike file path, got "
                        f"{type(path).__name__}")
    return path


def _version() -> str:
    from . import __version__

    return __version__


def write_file(path, tensors: dict, *, kind: str = "tensors", cls: str | None = None,
               config: dict | None = None, meta: dict | None = None) -> None:
    """Write ``tensors`` (``{name: array}``) and a JSON header to ``path`` atomically.

    ``kind`` is one of ``KINDS``; ``cls`` a class name or None; ``config`` / ``meta`` dicts of
    JSON values (None: empty); NaN / inf floats in ``meta`` (a diverged run's history) are
    written as null, which JSON has.

    Raises:
        TypeError: ``path`` not a str / ``os.PathLike``, ``tensors`` not a dict, ``kind`` /
            ``cls`` not strings, ``config`` / ``meta`` not dicts, a tensor with an unsupported
            dtype, or config/meta that JSON cannot encode.
        ValueError: an unknown ``kind``; ``path`` names something other than a regular file
            (a device such as ``/dev/null``, a folder: the file is renamed into place, which
            would replace it).
        OSError: the file cannot be written.
    """
    _check_path(path)
    if not isinstance(tensors, dict):
        raise TypeError(f"tensors must be a dict of name -> array, got {type(tensors).__name__}")
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a str, one of {', '.join(KINDS)}; got {kind!r:.50}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r:.50}")
    if cls is not None and not isinstance(cls, str):
        raise TypeError(f"cls must be a class name (str) or None, got {type(cls).__name__}")
    for arg, value in (("config", config), ("meta", meta)):
        if value is not None and not isinstance(value, dict):
            raise TypeError(f"{arg} must be a dict or None, got {type(value).__name__}")
    table, blobs, offset = [], [], 0
    for name, arr in tensors.items():
        arr = np.asarray(arr)
        if arr.dtype.name not in _DTYPES:
            raise TypeError(f"tensor {name!r}: dtype {arr.dtype} cannot be saved "
                            f"(supported: {', '.join(_DTYPES)})")
        data = np.ascontiguousarray(arr, dtype=_DTYPES[arr.dtype.name]).tobytes()
        table.append({"name": str(name), "dtype": arr.dtype.name, "shape": list(arr.shape),
                      "offset": offset, "nbytes": len(data), "crc32": zlib.crc32(data)})
        blobs.append((offset, data))
        offset = _round_up(offset + len(data))
    data_size = blobs[-1][0] + len(blobs[-1][1]) if blobs else 0
    header = {"format": "chronoscale", "format_version": FORMAT_VERSION,
              "library_version": _version(), "kind": kind, "class": cls,
              "config": config or {}, "meta": _finite(meta or {}), "data_size": data_size,
              "tensors": table}
    try:
        hbytes = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise TypeError(f"config/meta must be plain JSON values: {exc}") from None
    data_start = _round_up(_PREAMBLE.size + len(hbytes))
    path = Path(path)
    try:  # the file is renamed into place: it must never replace a device, pipe or folder
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        raise ValueError(f"{path}: it is {file_kind(mode)}, not a regular file; cannot write "
                         "a chronoscale file there")
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(_PREAMBLE.pack(MAGIC, FORMAT_VERSION, 0, len(hbytes), zlib.crc32(hbytes),
                                   0))
            f.write(hbytes)
            f.write(b"\0" * (data_start - _PREAMBLE.size - len(hbytes)))
            pos = 0
            for off, data in blobs:
                f.write(b"\0" * (off - pos))
                f.write(data)
                pos = off + len(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # e.g. path is a directory: leave no stray .tmp behind
        raise


def _bad(path, why: str):
    return ValueError(f"{path}: not a valid chronoscale file: {why}")


def _check_entry(path, e, data_size):
    if not isinstance(e, dict):
        raise _bad(path, "tensor table entry is not an object")
    name = e.get("name")
    if not isinstance(name, str):
        raise _bad(path, "tensor without a name")
    dtype = e.get("dtype")
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise _bad(path, f"tensor {name!r} has unsupported dtype {dtype!r:.50}")
    shape, off, nbytes = e.get("shape"), e.get("offset"), e.get("nbytes")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise _bad(path, f"tensor {name!r} has a bad shape {shape!r}")
    if type(off) is not int or type(nbytes) is not int or off < 0 or off % ALIGN:
        raise _bad(path, f"tensor {name!r} has a bad offset/nbytes")
    itemsize = np.dtype(_DTYPES[e["dtype"]]).itemsize
    if nbytes != int(np.prod(shape, dtype=object)) * itemsize:
        raise _bad(path, f"tensor {name!r}: nbytes {nbytes} does not match shape {shape}")
    if off + nbytes > data_size:
        raise _bad(path, f"tensor {name!r} lies outside the data section")


def check_tensor_types(path, tensors: dict, expected: dict) -> None:
    """Require each tensor of ``tensors`` that ``expected`` names to have exactly the dtype and
    shape of ``expected[name]`` (the array it loads into: NumPy or CuPy). Names ``expected``
    lacks are left to the caller (it reports unexpected names).

    Raises:
        ValueError: a dtype or shape mismatch; the message names the tensor.
    """
    for name, arr in tensors.items():
        want = expected.get(name)
        if want is None:
            continue
        if arr.dtype != want.dtype:
            raise ValueError(f"{path}: tensor {name!r} has dtype {arr.dtype}, the model's "
                             f"parameter is {want.dtype}")
        if tuple(arr.shape) != tuple(want.shape):
            raise ValueError(f"{path}: tensor {name!r} has shape {list(arr.shape)}, the model's "
                             f"parameter has {list(want.shape)}")


def _json_type(value) -> str:
    """The JSON name of ``value``'s type, for messages about a header field."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def file_kind(mode: int) -> str:
    """What a path whose ``st_mode`` is ``mode`` is ("a file", "a directory", "a character
    device", ...), for messages that refuse it (also data readers' and the CLI's)."""
    return next((w for test, w in ((stat.S_ISREG, "a file"), (stat.S_ISDIR, "a directory"),
                                   (stat.S_ISCHR, "a character device"),
                                   (stat.S_ISBLK, "a block device"),
                                   (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))
                 if test(mode)), "something else")


def _finite(value):
    """``value`` (JSON data) with every NaN / inf float as None: JSON has no such numbers, and
    a diverged run's history holds them (readers take a null in a history list as NaN)."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def nan_for_null(history: dict) -> dict:
    """A saved history (``{key: list}``) with each null read back as NaN: the inverse of what
    ``write_file`` does to a NaN / inf in ``meta`` (a diverged run's loss)."""
    return {k: [np.nan if v is None else v for v in vs] for k, vs in history.items()}


def _not_regular(path, mode: int) -> ValueError:
    """ValueError for ``path``, which is not a regular file (``mode``: its ``st_mode``)."""
    return _bad(path, f"it is {file_kind(mode)}, not a regular file")


def _open_regular(path):
    """``(file, size)``: ``path`` opened for binary reading, and its size in bytes.

    Only a regular file is opened: a directory, device (``/dev/zero`` never ends), FIFO (opening
    one blocks) or socket raises ValueError before anything is read.
    """
    mode = os.stat(path).st_mode  # (before open: opening a FIFO would block)
    if not stat.S_ISREG(mode):
        raise _not_regular(path, mode)
    f = open(path, "rb")  # noqa: SIM115 - the caller closes it
    try:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):  # replaced since the stat above
            raise _not_regular(path, st.st_mode)
    except BaseException:
        f.close()
        raise
    return f, st.st_size


def _read_exactly(f, path, n: int, what: str) -> bytes:
    """``n`` bytes from ``f`` (the file shrank when fewer come: ValueError naming ``what``)."""
    data = f.read(n)
    if len(data) != n:
        raise _bad(path, f"truncated {what} (the file changed while it was read)")
    return data


def _check_header(path, header) -> None:
    """The header's structure: the required fields, and the JSON type of every known field
    (``kind``, ``class``, ``format_version``, ``library_version`` may be absent; ``class`` may
    be null). ValueError naming the field and what it holds."""
    if not isinstance(header, dict) or header.get("format") != "chronoscale":
        raise _bad(path, "header is not a chronoscale header")
    table, data_size = header.get("tensors"), header.get("data_size")
    if not isinstance(table, list) or type(data_size) is not int or data_size < 0:
        raise _bad(path, "header lacks the tensor table or data_size")
    for key in ("config", "meta"):
        if not isinstance(header.get(key), dict):
            raise _bad(path, f"header field {key!r} is not an object (got "
                             f"{_json_type(header.get(key))})")
    for key, want, what in (("kind", str, "a string"), ("class", str, "a string or null"),
                            ("format_version", int, "an integer"),
                            ("library_version", str, "a string")):
        value = header.get(key)
        if value is not None and type(value) is not want:
            raise _bad(path, f"header field {key!r} must be {what}, got {_json_type(value)}")


def read_file(path):
    """Read a file written by :func:`write_file`.

    Reads the fixed-size preamble first and then exactly the header and data sizes it declares,
    after checking them against the file's size (a huge or endless input is never read in
    full).

    Returns:
        ``(header: dict, tensors: dict[str, np.ndarray])`` (arrays are writable copies, native
        byte order).

    Raises:
        ValueError: not a chronoscale file (also: not a regular file, such as a directory or
            ``/dev/zero``), an unsupported (newer) format version, a truncated or corrupt file,
            a header field of the wrong JSON type (the message says what is wrong).
        OSError: the file cannot be opened (FileNotFoundError: it does not exist).
        TypeError: ``path`` not a str / ``os.PathLike``.
    """
    _check_path(path)
    f, size = _open_regular(path)
    with f:
        if size < _PREAMBLE.size:
            raise _bad(path, f"truncated ({size} bytes, the preamble alone is {_PREAMBLE.size})")
        pre = _read_exactly(f, path, _PREAMBLE.size, "preamble")
        magic, version, _flags, hsize, hcrc, _ = _PREAMBLE.unpack(pre)
        if magic != MAGIC:
            raise _bad(path, "wrong magic bytes")
        if version < 1 or version > FORMAT_VERSION:
            raise ValueError(f"{path}: format version {version} is not supported by this "
                             f"chronoscale (reads versions 1..{FORMAT_VERSION}); upgrade "
                             "chronoscale")
        if hsize > MAX_HEADER or _PREAMBLE.size + hsize > size:
            raise _bad(path, "truncated header")
        hbytes = _read_exactly(f, path, hsize, "header")
        if zlib.crc32(hbytes) != hcrc:
            raise _bad(path, "header checksum mismatch (corrupt file)")
        try:
            header = json.loads(hbytes.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _bad(path, f"header is not JSON ({exc})") from None
        _check_header(path, header)
        table, data_size = header["tensors"], header["data_size"]
        data_start = _round_up(_PREAMBLE.size + hsize)
        if data_start + data_size > size:
            raise _bad(path, f"truncated data ({size} bytes, expected {data_start + data_size})")
        names = set()
        for e in table:
            _check_entry(path, e, data_size)
            if e["name"] in names:
                raise _bad(path, f"duplicate tensor {e['name']!r}")
            names.add(e["name"])
        f.seek(data_start)
        data = _read_exactly(f, path, data_size, "data")
    tensors, view = {}, memoryview(data)
    for e in table:
        blob = view[e["offset"]:e["offset"] + e["nbytes"]]
        if zlib.crc32(blob) != e.get("crc32"):
            raise _bad(path, f"tensor {e['name']!r} checksum mismatch (corrupt file)")
        arr = np.frombuffer(blob, dtype=_DTYPES[e["dtype"]]).reshape(e["shape"])
        tensors[e["name"]] = arr.astype(arr.dtype.newbyteorder("="), copy=True)
    return header, tensors


def save(model, path) -> None:
    """Save a chronoscale model (``model.save(path)`` does the same) or a built
    :class:`chronoscale.nn.Layer` (e.g. a ``Sequential``: kind ``"layer"``, config = its
    ``get_config()``, tensors = its ``state_dict()``).

    Raises:
        TypeError: ``model`` is neither a registered chronoscale model nor a built layer;
            ``path`` not a str / ``os.PathLike``.
        OSError: the file cannot be written.
    """
    from .nn.layer import Layer

    _check_path(path)
    if isinstance(model, Layer):
        if not model.built:
            raise TypeError("cannot save an unbuilt layer: build it or run it once first")
        write_file(path, model.state_dict(), kind="layer", cls=type(model).__name__,
                   config=model.get_config())
        return
    if type(model).__name__ not in _MODELS or not hasattr(model, "_save_state"):
        raise TypeError(f"cannot save a {type(model).__name__}: not a chronoscale model")
    config, tensors, meta = model._save_state()
    write_file(path, tensors, kind="model", cls=type(model).__name__, config=config, meta=meta)


def _layer_skeleton(spec):
    """The layer of ``spec`` (a ``get_config()`` tree), built; under ``nn.layer.loading`` no
    initialiser runs and the parameter sizes are checked against the file's tensors.

    A layer built from a shape rather than a channel count (``ScaleFusion``: ``in_features =
    (S, K)``, a JSON list in the file) is built here, since ``nn.layer_from_config`` takes an
    integer ``in_features`` only.
    """
    from .nn.layer import layer_from_config

    in_f = spec.get("in_features") if isinstance(spec, dict) else None
    if not (isinstance(in_f, list) and spec.get("built")):
        return layer_from_config(spec)
    if not (1 <= len(in_f) <= 8 and all(type(v) is int and v >= 0 for v in in_f)):
        raise ValueError(f"in_features must be an integer or a short list of integers, got "
                         f"{in_f!r:.50}")
    layer = layer_from_config({**spec, "built": False})
    layer.build(tuple(in_f), 0, spec.get("dtype", "float32"))
    return layer


def _load_layer(spec, tensors: dict):
    """``nn.layer_from_config(spec, tensors)``, for shape-built layers too."""
    from .nn.layer import loading

    with loading(tensors):
        layer = _layer_skeleton(spec)
    layer.load_state_dict(tensors)
    return layer


def _model_tensors(cls, config: dict, meta: dict) -> dict:
    """``{tensor name: parameter}`` a model of ``cls`` built from ``config`` / ``meta`` holds
    (the ``BaseModel`` contract: ``_build(meta, rng)`` creates ``_net``; names as ``save``
    writes them)."""
    model = cls(**config)
    model._build(meta, None)
    return {f"net.{k}": v for k, v in model._net.state_dict().items()}


def _mismatch(exc, expected, tensors: dict) -> str:
    """What is wrong, from ``exc`` (raised while loading). When the configuration asked for
    more weights than the file holds, the structure is built again with room for twice the
    saved sizes (bounded memory, parameters zero) to name the tensors the file lacks;
    ``expected()`` gives ``{name: parameter}``."""
    msg = str(exc)
    if isinstance(exc, KeyError):  # a config / meta entry the file lacks
        return f"its header lacks the entry {exc.args[0]!r}" if exc.args else msg
    if not isinstance(exc, ValueError) or "larger than the saved tensors" not in msg:
        return msg
    from .nn.layer import loading

    saved = sum(int(v.size) for v in tensors.values())
    room = np.broadcast_to(np.uint8(0), (max(saved, 1 << 20),))  # a size, no memory
    try:
        with loading({**tensors, "\0room": room}):
            want = expected()
    except Exception:  # only a diagnosis: report what is known
        return f"{msg} (the configuration needs more weights than the file holds)"
    missing = [f"{n!r} (shape {list(a.shape)})" for n, a in want.items() if n not in tensors]
    if not missing:
        return msg
    return (f"missing tensor{'s' if len(missing) > 1 else ''} {', '.join(missing)} that its "
            "configuration needs")


def load(path, device=None):
    """Load a model (or layer) saved with :func:`save`; returns an instance of the saved class.

    ``device``: ``"cpu"`` or ``"cuda"`` puts a model there (None: the device it was saved with;
    a layer always loads on the CPU, move it with ``layer.to(device)``).

    Every tensor must have exactly the dtype and shape of the parameter it loads into (no cast).

    Raises:
        TypeError: ``path`` not a str / ``os.PathLike`` (an open file or a file descriptor is
            refused).
        ValueError: not a chronoscale model file (or not a regular file: a directory, a device
            such as ``/dev/zero``), corrupt or truncated, a header field of the wrong JSON type,
            a class this version does not know, or tensors that do not fit the saved
            configuration (missing, unexpected, shapes, dtypes; the message names the tensor),
            bad configuration values (the message names the parameter; values ``fit`` would
            refuse, the optimiser's and the loss included); every message starts with
            ``path``. A ``device`` other than None, "cpu", "cuda".
        RuntimeError: ``device="cuda"`` on a build without CUDA or a machine without a GPU.
        OSError: the file cannot be opened (FileNotFoundError: it does not exist).
    """
    _check_path(path)
    if device is not None:
        from .nn import device as _device

        try:
            _device.check(device)
        except ValueError as exc:
            raise ValueError(f"{exc} (loading {path})") from None
    header, tensors = read_file(path)
    if header.get("kind") == "layer":
        spec = header["config"]
        try:
            layer = _load_layer(spec, tensors)
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            why = _mismatch(exc, lambda: _layer_skeleton(spec).state_dict(), tensors)
            raise ValueError(f"{path}: saved layer does not match its configuration: "
                             f"{why}") from None
        check_tensor_types(path, tensors, layer.state_dict())
        return layer
    if header.get("kind") != "model":
        raise ValueError(f"{path}: holds a {header.get('kind')!r}, not a model")
    name = header.get("class")
    if name not in _MODELS:
        raise ValueError(f"{path}: unknown model class {name!r} "
                         f"(known: {', '.join(sorted(_MODELS))})")
    cls, config, meta = _MODELS[name], header["config"], header["meta"]
    try:
        return cls._from_saved(config, tensors, meta, device, path=path)
    except (TypeError, KeyError, ValueError) as exc:
        if isinstance(exc, ValueError) and str(exc).startswith(f"{path}: "):
            raise  # already says which file
        why = _mismatch(exc, lambda: _model_tensors(cls, config, meta), tensors)
        raise ValueError(f"{path}: saved {name} does not match its configuration: "
                         f"{why}") from None
