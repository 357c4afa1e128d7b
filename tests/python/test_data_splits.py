"""Splits: leave-one-out (short users per rule) and the global temporal cut; histories never
contain their target or anything after it."""

from __future__ import annotations

import numpy as np
import pytest

from chronoscale.data import (
    align_items,
    from_columns,
    leave_one_out,
    next_event_targets,
    temporal_split,
)


def log(rng, n=400, users=40):
    u = rng.integers(0, users, n)
    u[:2] = users  # a user with 2 events
    u[2] = users + 1  # a user with 1 event
    return from_columns(u, rng.integers(0, 50, n), rng.integers(0, 1000, n))


@pytest.mark.parametrize("rule", ["train", "drop", "test"])
def test_leave_one_out(rng, rule):
    x = log(rng)
    sp = leave_one_out(x, short_users=rule)
    n = x.counts
    full = np.flatnonzero(n >= 3)
    assert sp.valid.users.tolist() == full.tolist()
    assert sp.valid.rows.tolist() == (x.offsets[full + 1] - 2).tolist()
    test_users = full if rule != "test" else np.flatnonzero(n >= 2)
    assert sp.test.users.tolist() == test_users.tolist()
    assert (sp.test.rows == x.offsets[test_users + 1] - 1).all()
    # train: everything else (minus short users for "drop"); the id space is the log's
    expect = len(x) - len(sp.valid) - len(sp.test) - (int(n[n < 3].sum()) if rule == "drop" else 0)
    assert len(sp.train) == expect and sp.train.num_items == x.num_items
    held = np.zeros(len(x), bool)
    held[sp.valid.rows] = held[sp.test.rows] = True
    assert not np.isin(np.flatnonzero(held), _rows_of(x, sp.train)).any()
    # histories: the test history is train + valid events of the user, never the target
    h = sp.test.histories()
    for q, r in enumerate(sp.test.rows):
        k = x.user[r]
        assert h.items[q, : h.lengths[q]].tolist() == x.item[x.offsets[k] : r].tolist()
    assert (sp.valid.history_lengths == n[full] - 2).all()
    assert sp.label()["protocol"] == "leave-one-out" and sp.label()["short_users"] == rule


def _rows_of(x, sub):
    """Row indices of x that sub (a take() of x) kept, matched on (user, time, item, value)."""
    key = lambda d: list(zip(d.user, d.timestamp, d.item, d.value))  # noqa: E731
    kept = set(key(sub))
    return np.array([r for r, k in enumerate(key(x)) if k in kept])


def test_seen_items_are_distinct_history_items(rng):
    x = log(rng)
    sp = leave_one_out(x)
    indptr, items = sp.test.seen_items()
    for q, r in enumerate(sp.test.rows):
        k = x.user[r]
        assert items[indptr[q] : indptr[q + 1]].tolist() == sorted(
            set(x.item[x.offsets[k] : r].tolist())
        )


@pytest.mark.parametrize("targets", ["first", "all"])
def test_temporal_split(rng, targets):
    x = log(rng, n=600)
    sp = temporal_split(x, quantile=0.8, valid_quantile=0.6, targets=targets, min_history=1)
    cut, vcut = sp.info["cut"], sp.info["valid_cut"]
    assert cut in x.timestamp and vcut <= cut
    assert (sp.train.timestamp < vcut).all() and len(sp.train) == int((x.timestamp < vcut).sum())
    assert (sp.test.timestamps >= cut).all()
    assert ((sp.valid.timestamps >= vcut) & (sp.valid.timestamps < cut)).all()
    for ev in (sp.valid, sp.test):
        assert (ev.history_lengths >= 1).all()
        if targets == "first":
            assert len(np.unique(ev.users)) == len(ev)
            prev = ev.rows - 1  # the event just before a first target is before the window
            assert (x.timestamp[prev] < (vcut if ev is sp.valid else cut)).all()
        h = ev.histories()
        assert (
            np.where(
                np.arange(h.timestamps.shape[1]) < h.lengths[:, None],
                h.timestamps <= ev.timestamps[:, None],
                True,
            )
        ).all()
    want = int(((x.timestamp >= cut) & (np.arange(len(x)) > x.offsets[x.user])).sum())
    if targets == "all":
        assert len(sp.test) == want


def test_temporal_split_errors(rng):
    x = log(rng)
    with pytest.raises(ValueError, match="exactly one"):
        temporal_split(x)
    with pytest.raises(ValueError, match="quantile"):
        temporal_split(x, quantile=1.5)
    with pytest.raises(ValueError, match="valid_cut"):
        temporal_split(x, cut=10, valid_cut=20)
    with pytest.raises(ValueError, match="synthetic"):
        temporal_split(from_columns([1, 1, 1], [1, 2, 3]), quantile=0.5)
    with pytest.raises(ValueError, match="short_users"):
        leave_one_out(x, short_users="keep")


def test_align_items_and_next_event_targets():
    train = from_columns([1, 1, 2], ["a", "b", "c"], [0, 1, 2])
    test = from_columns([7, 7, 7, 8, 9, 9], ["b", "zz", "c", "zz", "a", "a"], [5, 6, 7, 8, 9, 10])
    y = align_items(test, train)
    assert y.item_ids is train.item_ids and y.meta["unknown_items_dropped"] == 2
    assert y.user_ids.tolist() == [7, 9]  # session 8 had only an unknown item
    assert train.decode_items(y.item).tolist() == ["b", "c", "a", "a"]
    assert y.timestamp.tolist() == [5, 7, 9, 10]
    with pytest.raises(ValueError, match="not in the reference"):
        align_items(test, train, drop_unknown=False)
    t = next_event_targets(y)
    assert t.rows.tolist() == [1, 3] and t.history_lengths.tolist() == [1, 1]
    assert t.histories().items[:, 0].tolist() == train.encode_items(["b", "a"]).tolist()
    assert len(next_event_targets(y, min_history=0)) == 4


# ------------------------------------------------------------------- argument checks (fuzz finds)
@pytest.mark.parametrize(
    "kwargs, exc, fragment",
    [
        (dict(cut="2020"), TypeError, "cut must be a timestamp in int64 seconds"),
        (dict(cut=True), TypeError, "cut must be a timestamp"),
        (dict(cut=500.7), ValueError, "cut must be a whole number of seconds"),
        (dict(cut=float("nan")), ValueError, "cut must be a finite timestamp"),
        (dict(cut=10**30), ValueError, "cut must fit int64 seconds"),
        (dict(cut=900, valid_cut=1.5), ValueError, "valid_cut must be a whole number"),
        (dict(quantile="a"), TypeError, "quantile must be a number in"),
        (dict(quantile=0.9, valid_quantile=float("nan")), ValueError, r"valid_quantile must be"),
        (dict(cut=500, min_history=1.5), TypeError, "min_history must be an integer, got 1.5"),
        (dict(cut=500, min_history=-1), ValueError, "min_history must be >= 0, got -1"),
    ],
)
def test_temporal_split_arguments_are_checked(rng, kwargs, exc, fragment):
    with pytest.raises(exc, match=fragment):
        temporal_split(log(rng), **kwargs)


def test_whole_float_cut_is_the_integer_cut(rng):
    x = log(rng)
    assert temporal_split(x, cut=500.0).info == temporal_split(x, cut=500).info


def test_splits_need_interactions(rng):
    x = log(rng)
    with pytest.raises(TypeError, match="x must be an Interactions log, got ndarray"):
        leave_one_out(np.zeros(3))
    with pytest.raises(TypeError, match="reference must be an Interactions log, got NoneType"):
        align_items(x, None)
    with pytest.raises(TypeError, match="min_history must be an integer"):
        next_event_targets(x, min_history=1.5)
