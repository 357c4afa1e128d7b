"""datasets.fetch: download once into the cache, verify, extract, parse. No network: the
downloader is replaced by one that copies a local archive built from ../shared/data."""

from __future__ import annotations

import gzip
import hashlib
import zipfile
from dataclasses import replace

import pytest

from chronoscale.datasets import REGISTRY, fetch, fetch_path
from chronoscale.datasets import fetch as _unused  # noqa: F401  (the function is exported)

pytestmark = pytest.mark.data


class CopyDownloader:
    """Serves local files for URLs; counts calls."""

    def __init__(self, files: dict):
        self.files, self.calls = files, []

    def __call__(self, url, dest):
        self.calls.append(url)
        dest.write_bytes(self.files[url].read_bytes())


def _zip_with(tmp_path, name, member, data: bytes):
    z = tmp_path / name
    with zipfile.ZipFile(z, "w") as f:
        f.writestr(member, data)
    return z


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def ml100k_zip(shared_data, tmp_path):
    """An ml-100k.zip whose u.data (tab, no header) holds the shared ML-100K ratings."""
    lines = gzip.decompress((shared_data / "movielens-100k/ml-100k.inter.gz").read_bytes())
    body = b"\n".join(lines.split(b"\n")[1:])  # drop the typed header
    return _zip_with(tmp_path, "ml-100k.zip", "ml-100k/u.data", body)


def test_fetch_parses_and_caches(ml100k_zip, tmp_path, monkeypatch):
    src = REGISTRY["ml-100k"]
    monkeypatch.setitem(
        REGISTRY, "ml-100k", replace(src, sha256=_sha(ml100k_zip), size=ml100k_zip.stat().st_size)
    )
    dl = CopyDownloader({src.url: ml100k_zip})
    cache = tmp_path / "cache"
    x = fetch("ml-100k", cache, downloader=dl)
    assert (len(x), x.num_users, x.num_items) == (100_000, 943, 1_682)
    assert x.name == "ml-100k" and x.version == "sha256:" + _sha(ml100k_zip)[:16]
    assert x.meta["verified"] and x.meta["url"] == src.url
    assert (cache / "ml-100k" / "u.data").is_file() and (
        cache / "ml-100k" / "ml-100k.zip"
    ).is_file()
    # cached: never downloaded again, also via the environment variable
    monkeypatch.setenv("CHRONOSCALE_DATA", str(cache))
    y = fetch("ml-100k", downloader=dl, k_core=30)
    assert len(dl.calls) == 1 and y.counts.min() >= 30


def test_checksum_mismatch_raises_and_keeps_nothing(ml100k_zip, tmp_path):
    dl = CopyDownloader({REGISTRY["ml-100k"].url: ml100k_zip})  # not GroupLens' real zip
    with pytest.raises(ValueError, match="sha256"):
        fetch_path("ml-100k", tmp_path, downloader=dl)
    assert list((tmp_path / "ml-100k").iterdir()) == []


def test_corrupted_cache_is_detected(ml100k_zip, tmp_path, monkeypatch):
    src = REGISTRY["ml-100k"]
    monkeypatch.setitem(REGISTRY, "ml-100k", replace(src, sha256=_sha(ml100k_zip), size=None))
    fetch_path("ml-100k", tmp_path, downloader=CopyDownloader({src.url: ml100k_zip}))
    archive = tmp_path / "ml-100k" / "ml-100k.zip"
    archive.write_bytes(archive.read_bytes() + b"x")  # newer than its stamp
    with pytest.raises(ValueError, match="delete it"):
        fetch_path("ml-100k", tmp_path, downloader=None)


def test_unverified_entry_warns_and_parses(shared_data, tmp_path):
    """Amazon entries have no published checksum: a warning, then the ratings CSV is parsed."""
    rows = gzip.decompress((shared_data / "amazon-grocery-rechorus/train.csv.gz").read_bytes())
    body = [ln.split(b"\t") for ln in rows.split(b"\n")[1:] if ln]
    csv = tmp_path / "ratings.csv"
    csv.write_bytes(b"".join(b"A%s,B%s,5.0,%s\n" % (u, i, t) for u, i, t in body))
    src = REGISTRY["amazon-grocery"]
    assert src.sha256 is None
    with pytest.warns(UserWarning, match="not verified"):
        x = fetch("amazon-grocery", tmp_path, downloader=CopyDownloader({src.url: csv}))
    assert (len(x), x.num_users, x.num_items) == (121_892, 14_681, 8_687)
    assert not x.meta["verified"] and x.user_ids[0].startswith("A")


def test_ml1m_and_ml20m_formats(shared_data, tmp_path, monkeypatch):
    dat = gzip.decompress(
        (shared_data / "movielens-1m-sample/sample_movielens_rating.dat.gz").read_bytes()
    )
    csv = gzip.decompress((shared_data / "movielens-latest-small/ratings.csv.gz").read_bytes())
    for name, member, data, n in [
        ("ml-1m", "ml-1m/ratings.dat", dat, 100_000),
        ("ml-20m", "ml-20m/ratings.csv", csv, 100_836),
    ]:
        z = _zip_with(tmp_path, f"{name}.zip", member, data)
        src = REGISTRY[name]
        monkeypatch.setitem(REGISTRY, name, replace(src, sha256=_sha(z), size=None))
        assert len(fetch(name, tmp_path / "c", downloader=CopyDownloader({src.url: z}))) == n


def test_registry_and_errors(tmp_path):
    with pytest.raises(KeyError, match="unknown dataset"):
        fetch("ml-7", tmp_path)
    for name, src in REGISTRY.items():
        assert src.url.startswith("https://") and src.format
        assert src.sha256 is None or (len(src.sha256) == 64 and src.checksum_source), name
    assert {"ml-100k", "ml-1m", "ml-20m"} <= set(REGISTRY)
    assert sum(n.startswith("amazon-") for n in REGISTRY) >= 2

    def offline(url, dest):
        raise RuntimeError("no network")

    with pytest.raises(RuntimeError, match="no network"):
        fetch_path("ml-1m", tmp_path, downloader=offline)
