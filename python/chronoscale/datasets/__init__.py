"""Built-in demo data (shipped inside the package, with their licences) and loaders.

``load_otto_sample()`` — 20 real e-commerce sessions from the OTTO dataset (CC BY 4.0, see
``data/OTTO-LICENSE.md``).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_DATA = Path(__file__).resolve().parent / "data"
EVENT_TYPES = ("clicks", "carts", "orders")


@dataclass(frozen=True)
class Interactions:
    """A flat interaction log sorted by (user, time), stable for ties.

    Attributes (all ``[N]``): ``user`` int64 (0-based, contiguous), ``item`` int64 (0-based,
    contiguous), ``timestamp`` int64 seconds, ``value`` float32 (event type code or rating).
    ``item_ids`` / ``user_ids`` map the 0-based codes back to the original ids.
    """

    user: np.ndarray
    item: np.ndarray
    timestamp: np.ndarray
    value: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    name: str = ""

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.user)

    def to_padded(self, max_len: int | None = None):
        """Per-user padded sequences, most recent ``max_len`` events kept (vectorised).

        Returns ``(items [U, T] int64, timestamps [U, T] int64, values [U, T] float32,
        lengths [U] int64)`` with ``T = min(max_len, longest history)``; padding is 0.
        """
        counts = np.bincount(self.user, minlength=self.num_users)
        T = int(counts.max(initial=0))
        if max_len is not None:
            if max_len < 1:
                raise ValueError(f"max_len must be >= 1, got {max_len}")
            T = min(T, max_len)
        lengths = np.minimum(counts, T).astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        pos = np.arange(len(self.user)) - starts[self.user]  # index within the user's history
        keep_from = counts[self.user] - lengths[self.user]
        mask = pos >= keep_from
        row, col = self.user[mask], (pos - keep_from)[mask]
        items = np.zeros((self.num_users, T), np.int64)
        ts = np.zeros((self.num_users, T), np.int64)
        values = np.zeros((self.num_users, T), np.float32)
        items[row, col] = self.item[mask]
        ts[row, col] = self.timestamp[mask]
        values[row, col] = self.value[mask]
        return items, ts, values, lengths


def load_otto_sample() -> Interactions:
    """The OTTO sample: 20 sessions, 862 events, 510 items; ``value`` = event type
    (0 clicks, 1 carts, 2 orders); timestamps converted from milliseconds to int64 seconds."""
    sessions, aids, ts, types = [], [], [], []
    with gzip.open(_DATA / "otto_sample.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            for ev in rec["events"]:
                sessions.append(rec["session"])
                aids.append(ev["aid"])
                ts.append(ev["ts"] // 1000)
                types.append(EVENT_TYPES.index(ev["type"]))
    return _from_columns(
        np.array(sessions),
        np.array(aids),
        np.array(ts, dtype=np.int64),
        np.array(types, dtype=np.float32),
        "otto-sample",
    )


def _from_columns(user, item, ts, value, name) -> Interactions:
    user_ids, u = np.unique(user, return_inverse=True)
    item_ids, i = np.unique(item, return_inverse=True)
    order = np.lexsort((ts, u))  # by user, then time; lexsort is stable for ties
    return Interactions(
        u[order].astype(np.int64),
        i[order].astype(np.int64),
        ts[order],
        value[order],
        user_ids,
        item_ids,
        name,
    )
