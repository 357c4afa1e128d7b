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


# ------------------------------------------------------------------- argument checks (fuzz finds)
def small_log():
    return from_columns([1, 1, 1, 2, 2, 3], [5, 6, 7, 5, 8, 9], [10, 20, 30, 5, 15, 25])


def columns(x):
    return x.user, x.item, x.timestamp, x.value, x.user_ids, x.item_ids


def test_constructor_sorts_unsorted_rows():
    x = small_log()
    u, i, t, v, uid, iid = columns(x)
    y = Interactions(u[::-1], i[::-1], t[::-1], v[::-1], uid, iid, extra={"w": np.arange(6)[::-1]})
    assert y.user.tolist() == x.user.tolist() and y.timestamp.tolist() == x.timestamp.tolist()
    assert y.extra["w"].tolist() == list(range(6))
    assert np.array_equal(y.to_padded()[0], x.to_padded()[0])


@pytest.mark.parametrize(
    "change, exc, fragment",
    [
        (lambda c: (c[0] + 5, *c[1:]), ValueError, r"user must be codes in \[0, 3\)"),
        (lambda c: (c[0], c[1] - 1, *c[2:]), ValueError, r"item must be codes in \[0, 5\)"),
        (lambda c: (c[0], c[1][:3], *c[2:]), ValueError, "item has 3 rows, user has 6"),
        (lambda c: (c[0].astype(float), *c[1:]), TypeError, "user must hold integers"),
        (lambda c: (*c[:2], c[2] + 0.5, *c[3:]), TypeError, "timestamp must hold integers"),
        (lambda c: (*c[:3], c[3][:2], *c[4:]), ValueError, r"value must have shape \(6,\)"),
        (lambda c: (*c[:4], c[4][::-1], c[5]), ValueError, "user_ids must be sorted"),
    ],
)
def test_constructor_checks_columns(change, exc, fragment):
    with pytest.raises(exc, match=fragment):
        Interactions(*change(columns(small_log())))


def test_constructor_checks_mappings():
    with pytest.raises(TypeError, match="extra must be a mapping"):
        Interactions(*columns(small_log()), extra=[np.arange(6)])
    with pytest.raises(ValueError, match="extra column 'w' must have 6 rows"):
        Interactions(*columns(small_log()), extra={"w": np.arange(2)})


def test_decode_refuses_negative_and_float_codes():
    x = small_log()
    assert x.decode_items([[0, 4]]).tolist() == [[5, 9]] and len(x.decode_users([])) == 0
    with pytest.raises(ValueError, match=r"codes must be item codes in \[0, 5\), got -1"):
        x.decode_items([-1])
    with pytest.raises(TypeError, match="codes must hold integers"):
        x.decode_items([1.9])
    with pytest.raises(ValueError, match=r"codes must be user codes in \[0, 3\)"):
        x.decode_users([3])


def test_take_needs_increasing_rows():
    x = small_log()
    assert x.take([0, 3, 5]).user.tolist() == [0, 1, 2] and len(x.take([])) == 0
    with pytest.raises(ValueError, match=r"rows must be row indices in \[0, 6\)"):
        x.take([-1])
    with pytest.raises(ValueError, match="rows must be increasing"):
        x.take([5, 0, 3])
    with pytest.raises(ValueError, match="rows must be increasing"):
        x.take([1, 1])
    with pytest.raises(TypeError, match="rows must hold integers"):
        x.take([1.0])


@pytest.mark.parametrize(
    "k, exc, fragment",
    [
        (2.5, TypeError, "k_core must be an integer, got 2.5"),
        (True, TypeError, "k_core must be an integer"),
        ("a", TypeError, "k_core must be an integer"),
        ((None, 1), TypeError, r"k_core\[0\] must be an integer"),
        ((1, 2, 3), ValueError, "k_core must be an integer k or a pair"),
        ((1, -2), ValueError, r"k_core\[1\] must be >= 0, got -2"),
    ],
)
def test_k_core_must_be_integers(k, exc, fragment):
    with pytest.raises(exc, match=fragment):
        from_columns([1, 1, 2], [1, 2, 1], k_core=k)
    with pytest.raises(exc, match=fragment):
        filter_k_core(small_log(), k)


def test_extra_must_be_a_mapping():
    with pytest.raises(TypeError, match="extra must be a mapping"):
        from_columns([1], [1], extra=[np.arange(1)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constructor_refuses_non_finite_values_of_any_dtype(dtype):
    """A float32 value column is checked too (it used to skip the finite check)."""
    args = (np.array([0, 0]), np.array([0, 1]), np.array([0, 1]))
    ids = (np.array([0]), np.array([0, 1]))
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="missing or infinite values"):
            Interactions(*args, np.array([bad, 1.0], dtype), *ids)
