"""Datasets: built-in demo data (shipped inside the package, with their licences) and
``fetch`` for public datasets downloaded on demand into a checksummed cache.

``load_otto_sample()`` — 20 real e-commerce sessions from the OTTO dataset (CC BY 4.0, see
``data/OTTO-LICENSE.md``). ``fetch(name)`` — MovieLens and Amazon ratings (see ``REGISTRY``).
``Interactions`` lives in ``chronoscale.data`` and is re-exported here.
"""

from __future__ import annotations

from pathlib import Path

from ..data import Interactions, read_interactions
from .fetch import REGISTRY, fetch, fetch_path

_DATA = Path(__file__).resolve().parent / "data"
EVENT_TYPES = ("clicks", "carts", "orders")

__all__ = ["EVENT_TYPES", "REGISTRY", "Interactions", "fetch", "fetch_path", "load_otto_sample"]


def load_otto_sample() -> Interactions:
    """The OTTO sample: 20 sessions, 862 events, 510 items; ``value`` = event type
    (0 clicks, 1 carts, 2 orders); timestamps converted from milliseconds to int64 seconds
    (floored). Sessions are the users."""
    return read_interactions(
        _DATA / "otto_sample.jsonl.gz", format="otto", name="otto-sample", progress=False
    )
