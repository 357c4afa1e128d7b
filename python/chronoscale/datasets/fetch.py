"""``fetch(name)``: download a public dataset once into a cache, verify it, parse it.

Cache: ``cache_dir``, else the ``CHRONOSCALE_DATA`` environment variable, else
``~/.cache/chronoscale``; each dataset in ``<cache>/<name>/``. A file already in the cache is
never downloaded again. Where ``REGISTRY`` has a sha256 the download (and a cached file, the first
time it is used) is checked against it and a mismatch raises; the digest is then remembered in a
``<file>.sha256`` stamp next to it.

Checksums: the MovieLens entries carry the sha256 and size that TensorFlow Datasets records for
the same GroupLens URLs (``tensorflow_datasets/url_checksums/movielens.txt``); they could not be
recomputed here (no network to GroupLens). The Amazon entries have ``sha256=None``: no published
digest was available, so their verification is skipped (a warning says so) and the digest of what
was downloaded is recorded as the dataset version instead.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..data import Interactions, read_interactions
from ..data.interactions import _unchecked

_ML = "https://files.grouplens.org/datasets/movielens"
_AMAZON = "https://snap.stanford.edu/data/amazon/productGraph/categoryFiles"
_ML_TERMS = "GroupLens MovieLens terms: research use, no redistribution without permission"
_AMAZON_TERMS = "Amazon review data (McAuley et al. 2015/2016): research use, cite the source"
_TFDS = "TensorFlow Datasets url_checksums/movielens.txt"
_AMAZON_COLS = {"user": 0, "item": 1, "value": 2, "timestamp": 3}


@dataclass(frozen=True)
class Source:
    """A downloadable dataset: ``url`` saved as ``filename``; ``member`` is the file inside a
    zip to parse (None: the download itself); ``format`` / ``read`` go to ``read_interactions``.
    ``sha256`` / ``size`` are None when unknown (then not verified)."""

    url: str
    filename: str
    format: str
    sha256: str | None = None
    size: int | None = None
    member: str | None = None
    read: dict = field(default_factory=dict)
    checksum_source: str = ""
    license: str = ""
    description: str = ""


REGISTRY: dict[str, Source] = {
    "ml-100k": Source(
        f"{_ML}/ml-100k.zip",
        "ml-100k.zip",
        "udata",
        "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        4924029,
        "ml-100k/u.data",
        checksum_source=_TFDS,
        license=_ML_TERMS,
        description="MovieLens 100K: 100,000 ratings, 943 users, 1,682 movies, 1997-98",
    ),
    "ml-1m": Source(
        f"{_ML}/ml-1m.zip",
        "ml-1m.zip",
        "movielens-dat",
        "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        5917549,
        "ml-1m/ratings.dat",
        checksum_source=_TFDS,
        license=_ML_TERMS,
        description="MovieLens 1M: 1,000,209 ratings, 6,040 users, 3,706 movies, 2000-03",
    ),
    "ml-20m": Source(
        f"{_ML}/ml-20m.zip",
        "ml-20m.zip",
        "movielens-csv",
        "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
        198702078,
        "ml-20m/ratings.csv",
        checksum_source=_TFDS,
        license=_ML_TERMS,
        description="MovieLens 20M: 20,000,263 ratings, 138,493 users, 26,744 movies",
    ),
    "ml-latest-small": Source(
        f"{_ML}/ml-latest-small.zip",
        "ml-latest-small.zip",
        "movielens-csv",
        "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
        978202,
        "ml-latest-small/ratings.csv",
        checksum_source=_TFDS,
        license=_ML_TERMS,
        description="MovieLens latest small (development set; changes over time)",
    ),
    "amazon-beauty": Source(
        f"{_AMAZON}/ratings_Beauty.csv",
        "ratings_Beauty.csv",
        "table",
        read={"columns": _AMAZON_COLS, "header": False, "delimiter": ","},
        license=_AMAZON_TERMS,
        description="Amazon 2014 Beauty ratings (user,item,rating,time)",
    ),
    "amazon-grocery": Source(
        f"{_AMAZON}/ratings_Grocery_and_Gourmet_Food.csv",
        "ratings_Grocery_and_Gourmet_Food.csv",
        "table",
        read={"columns": _AMAZON_COLS, "header": False, "delimiter": ","},
        license=_AMAZON_TERMS,
        description="Amazon 2014 Grocery & Gourmet Food ratings",
    ),
    "amazon-video-games": Source(
        f"{_AMAZON}/ratings_Video_Games.csv",
        "ratings_Video_Games.csv",
        "table",
        read={"columns": _AMAZON_COLS, "header": False, "delimiter": ","},
        license=_AMAZON_TERMS,
        description="Amazon 2014 Video Games ratings",
    ),
}


def cache_root(cache_dir=None) -> Path:
    """``cache_dir``, else ``$CHRONOSCALE_DATA``, else ``~/.cache/chronoscale``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("CHRONOSCALE_DATA")
    return Path(env) if env else Path.home() / ".cache" / "chronoscale"


def download(url: str, dest: Path, progress: bool | None = None) -> None:
    """Save ``url`` to ``dest`` (the default downloader; tests pass their own)."""
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(dest, "wb") as f:
            total = int(r.headers.get("Content-Length") or 0) or None
            bar = None
            if progress is not False:
                from tqdm.auto import tqdm

                bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}")
            for block in iter(lambda: r.read(1 << 20), b""):
                f.write(block)
                if bar is not None:
                    bar.update(len(block))
            if bar is not None:
                bar.close()
    except (urllib.error.URLError, OSError) as err:
        raise RuntimeError(
            f"could not download {url} ({err}); without a network, put the file at {dest} "
            "and call fetch again"
        ) from None


def sha256_of(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _verified_digest(path: Path, src: Source, name: str) -> str:
    """The file's sha256 (from its stamp when the stamp is current), checked against ``src``."""
    stamp = path.with_name(path.name + ".sha256")
    digest = None
    if stamp.is_file() and stamp.stat().st_mtime >= path.stat().st_mtime:
        digest = stamp.read_text().strip() or None
    if digest is None:
        digest = sha256_of(path)
    if src.sha256 is not None and digest != src.sha256:
        raise ValueError(
            f"{name}: {path} has sha256 {digest}, expected {src.sha256} ({src.checksum_source}); "
            "delete it to download again"
        )
    if src.size is not None and path.stat().st_size != src.size:
        raise ValueError(f"{name}: {path} has {path.stat().st_size} bytes, expected {src.size}")
    stamp.write_text(digest + "\n")
    return digest


def _cache_folder(name: str, cache_dir) -> Path:
    """``<cache>/<name>``, created if needed.

    Raises:
        TypeError: ``cache_dir`` not None, a str or an ``os.PathLike``.
        ValueError: the folder cannot be created there (a file in its way, no permission...);
            the message names ``cache_dir`` (or ``$CHRONOSCALE_DATA``) and why.
    """
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir must be a str, os.PathLike or None, got "
                        f"{type(cache_dir).__name__}")
    root = cache_root(cache_dir)
    folder = root / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        from ..report import output_problem

        why = output_problem(root, folder=True)
        if why is None:  # the root is fine: <root>/<name> is not
            why = (f"cannot create the dataset's folder {folder}: "
                   f"{output_problem(folder, folder=True) or err.strerror or err}")
        where = ("cache_dir" if cache_dir is not None else "$CHRONOSCALE_DATA"
                 if os.environ.get("CHRONOSCALE_DATA") else "the default cache")
        raise ValueError(f"{where} {str(root)!r}: {why}") from None
    return folder


def _download_to(tmp: Path, src: Source, name: str, downloader, progress) -> None:
    """Run the downloader into ``tmp``; RuntimeError unless it leaves a regular file there."""
    (downloader or (lambda u, d: download(u, d, progress)))(src.url, tmp)
    try:
        mode = tmp.stat().st_mode
    except FileNotFoundError:
        raise RuntimeError(f"{name}: the download of {src.url} wrote nothing: the downloader "
                           f"returned without creating {tmp}") from None
    if not stat.S_ISREG(mode):
        from ..io import file_kind

        raise RuntimeError(f"{name}: the download of {src.url} left {file_kind(mode)} at "
                           f"{tmp}, not a file; remove it and call fetch again")


def fetch_path(name: str, cache_dir=None, *, downloader=None, progress: bool | None = None):
    """Path of the dataset's data file in the cache, downloading and extracting it first if
    needed; returns ``(path, sha256 of the download)``. ``downloader(url, dest)`` replaces the
    HTTP download (tests copy local files with it) and must leave the file at ``dest``.

    Raises:
        TypeError: ``name`` not a str, ``cache_dir`` not a path.
        KeyError: an unknown ``name``.
        ValueError: a checksum or size mismatch; a ``cache_dir`` (or ``$CHRONOSCALE_DATA``)
            where the dataset's folder cannot be created, e.g. a file.
        RuntimeError: the download fails, or the downloader leaves no file at ``dest``.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a dataset name (a str), one of {sorted(REGISTRY)}; got "
                        f"{type(name).__name__} {name!r:.50}")
    if name not in REGISTRY:
        raise KeyError(f"unknown dataset {name!r}; known: {sorted(REGISTRY)}")
    src = REGISTRY[name]
    folder = _cache_folder(name, cache_dir)
    archive = folder / src.filename
    if not archive.is_file():
        tmp = archive.with_name(archive.name + ".part")
        _download_to(tmp, src, name, downloader, progress)
        try:
            _verified_digest(tmp, src, name)
        except ValueError:
            tmp.unlink(missing_ok=True)
            tmp.with_name(tmp.name + ".sha256").unlink(missing_ok=True)
            raise
        tmp.replace(archive)
        tmp.with_name(tmp.name + ".sha256").replace(archive.with_name(archive.name + ".sha256"))
    digest = _verified_digest(archive, src, name)
    if src.sha256 is None:
        warnings.warn(
            f"{name}: no published sha256 for {src.url}; integrity not verified "
            f"(downloaded file sha256 {digest[:16]}...)",
            stacklevel=2,
        )
    if src.member is None:
        return archive, digest
    target = folder / Path(src.member).name
    if not target.is_file():
        with zipfile.ZipFile(archive) as z:
            try:
                info = z.getinfo(src.member)
            except KeyError:
                raise ValueError(f"{name}: {archive.name} has no member {src.member}") from None
            tmp = target.with_name(target.name + ".part")
            with z.open(info) as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout)
            tmp.replace(target)
    return target, digest


def fetch(
    name: str, cache_dir=None, *, downloader=None, progress: bool | None = None, **read_kwargs
) -> Interactions:
    """Download (once), verify and parse a registered dataset into an ``Interactions``.

    ``name``: a key of ``REGISTRY`` (``ml-100k``, ``ml-1m``, ``ml-20m``, ``ml-latest-small``,
    ``amazon-beauty``, ``amazon-grocery``, ``amazon-video-games``). ``read_kwargs`` go to
    ``read_interactions`` (e.g. ``k_core=5``, ``dedupe="first"``). The result's ``version`` is
    ``sha256:<16 hex>`` of the downloaded file; ``meta`` holds the URL, licence and whether the
    checksum was verified. Raises as ``fetch_path``.
    """
    path, digest = fetch_path(name, cache_dir, downloader=downloader, progress=progress)
    src = REGISTRY[name]
    kw = {**src.read, **read_kwargs}
    kw.setdefault("progress", progress)
    data = read_interactions(path, src.format, name=name, version=f"sha256:{digest[:16]}", **kw)
    meta = dict(data.meta)
    meta.update(url=src.url, license=src.license, sha256=digest, verified=src.sha256 is not None)
    return _unchecked(data, meta=meta)  # the same columns: no second check of them
