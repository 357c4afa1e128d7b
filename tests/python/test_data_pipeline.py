"""from_columns: id remapping, stable (user, time) sort, de-duplication and k-core filtering,
each checked against a plain-Python version on random logs."""

from __future__ import annotations

import numpy as np
import pytest

from chronoscale.data import Interactions, deduplicate, filter_k_core, from_columns
from chronoscale.datasets import Interactions as ReExported


def random_log(rng, n=400, users=30, items=40, tmax=50):
    u = rng.choice([f"u{k}" for k in range(users)], n)
    i = rng.integers(100, 100 + items, n)
    t = rng.integers(0, tmax, n)  # many ties on purpose
    v = rng.normal(size=n).astype(np.float32)
    return u, i, t, v


def as_tuples(x: Interactions):
    return list(
        zip(
            x.decode_users(x.user).tolist(),
            x.decode_items(x.item).tolist(),
            x.timestamp.tolist(),
            x.value.tolist(),
        )
    )


def test_reexport():
    assert ReExported is Interactions


def test_sort_is_stable_and_ids_decode(rng):
    u, i, t, v = random_log(rng)
    x = from_columns(u, i, t, v)
    rows = sorted(range(len(u)), key=lambda r: (u[r], t[r], r))  # python sort is stable
    assert as_tuples(x) == [(u[r], int(i[r]), int(t[r]), float(v[r])) for r in rows]
    assert x.user_ids.tolist() == sorted(set(u.tolist()))
    assert x.item_ids.tolist() == sorted(set(i.tolist()))
    assert x.encode_items(x.item_ids).tolist() == list(range(x.num_items))
    assert x.encode_items([-5, 100]).tolist()[0] == -1
    assert x.encode_users(["u3", "nobody"]).tolist() == [x.user_ids.tolist().index("u3"), -1]
    assert (x.offsets[1:] - x.offsets[:-1]).tolist() == x.counts.tolist()


def test_wide_integer_ids_use_sort_path(rng):
    u = rng.integers(0, 2**60, 50)
    u[10:20] = u[0]
    t = rng.integers(0, 5, 50)
    x = from_columns(u, u % 7, t)
    assert x.user_ids.tolist() == sorted(set(u.tolist()))
    rows = sorted(range(50), key=lambda r: (u[r], t[r], r))
    assert x.decode_users(x.user).tolist() == [int(u[r]) for r in rows]
    assert x.timestamp.tolist() == [int(t[r]) for r in rows]


def _dedupe_ref(tuples, rule):
    seen = {}
    for k, (u, i, t, _) in enumerate(tuples):
        key = (u, i, t) if rule == "exact" else (u, i)
        if rule == "last":
            seen[key] = k
        elif key not in seen:
            seen[key] = k
    keep = sorted(seen.values())
    return [tuples[k] for k in keep]


@pytest.mark.parametrize("rule", ["exact", "first", "last"])
def test_dedupe_against_python(rng, rule):
    u, i, t, v = random_log(rng, n=300, users=5, items=6, tmax=4)
    x = from_columns(u, i, t, v)
    got = as_tuples(from_columns(u, i, t, v, dedupe=rule))
    assert got == _dedupe_ref(as_tuples(x), rule)
    assert as_tuples(deduplicate(x, rule)) == got


def _k_core_ref(tuples, ku, ki):
    rows = list(tuples)
    while True:
        uc, ic = {}, {}
        for u, i, _, _ in rows:
            uc[u] = uc.get(u, 0) + 1
            ic[i] = ic.get(i, 0) + 1
        new = [r for r in rows if uc[r[0]] >= ku and ic[r[1]] >= ki]
        if len(new) == len(rows):
            return new
        rows = new


@pytest.mark.parametrize("k", [3, (5, 2), (1, 12)])
def test_k_core_against_python(rng, k):
    u, i, t, v = random_log(rng, n=300, users=60, items=50)
    x = from_columns(u, i, t, v)
    ku, ki = (k, k) if np.isscalar(k) else k
    want = _k_core_ref(as_tuples(x), ku, ki)
    got = from_columns(u, i, t, v, k_core=k)
    assert as_tuples(got) == want
    assert as_tuples(filter_k_core(x, k)) == want
    if len(got):  # codes re-encoded, contiguous
        assert got.user.max() == got.num_users - 1 and np.bincount(got.item).min() >= ki
        assert np.bincount(got.user).min() >= ku


def test_synthetic_time_is_position_in_file_order():
    x = from_columns(["b", "a", "b", "a", "a"], [1, 2, 3, 4, 5])
    assert x.synthetic_time
    assert as_tuples(x) == [
        ("a", 2, 0, 1.0),
        ("a", 4, 1, 1.0),
        ("a", 5, 2, 1.0),
        ("b", 1, 0, 1.0),
        ("b", 3, 1, 1.0),
    ]


def test_take_keeps_id_space_unless_compact(rng):
    u, i, t, v = random_log(rng)
    x = from_columns(u, i, t, v, extra={"w": np.arange(len(u))})
    sub = x.take(x.user == 0)
    assert sub.num_items == x.num_items and sub.num_users == x.num_users
    assert (sub.extra["w"] == x.extra["w"][x.user == 0]).all()
    c = x.take(x.user == 0, compact=True)
    assert c.num_users == 1 and c.num_items == len(np.unique(sub.item))
    assert (c.decode_items(c.item) == sub.decode_items(sub.item)).all()


def test_bad_input():
    with pytest.raises(ValueError, match="item"):
        from_columns([1, 2], [1])
    with pytest.raises(ValueError, match="timestamp"):
        from_columns([1, 2], [1, 2], [1])
    with pytest.raises(ValueError, match="user"):
        from_columns(np.array([1.0, np.nan]), [1, 2])
    with pytest.raises(ValueError, match="dedupe"):
        from_columns([1], [1], dedupe="all")
    with pytest.raises(ValueError, match="k_core"):
        from_columns([1], [1], k_core=-1)
    with pytest.raises(ValueError, match="extra"):
        from_columns([1], [1], extra={"w": [1, 2]})
    with pytest.raises(ValueError, match="rows"):
        from_columns([1], [1]).take(np.ones(3, bool))
