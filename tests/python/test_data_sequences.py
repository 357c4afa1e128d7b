"""Sequences: padded histories, next-item training targets (no leakage), histories before a
target, regular per-user series; each against a per-user Python loop."""

from __future__ import annotations

import numpy as np
import pytest

from chronoscale.data import (
    from_columns,
    histories_before,
    iter_batches,
    next_item_sequences,
    padded_histories,
    period_seconds,
    user_series,
)


def random_log(rng, n=500, users=25, items=60):
    u = rng.integers(0, users, n)
    u[:3] = users + 1  # a user with exactly 3 events... plus more below
    u[3] = users + 2  # a user with exactly one event
    return from_columns(u, rng.integers(0, items, n), rng.integers(0, 10**6, n), rng.normal(size=n))


def per_user(x):
    return [np.arange(x.offsets[k], x.offsets[k + 1]) for k in range(x.num_users)]


@pytest.mark.parametrize("max_len", [None, 1, 7])
def test_padded_histories_against_loop(rng, max_len):
    x = random_log(rng)
    b = padded_histories(x, max_len=max_len, item_offset=1)
    for k, rows in enumerate(per_user(x)):
        keep = rows if max_len is None else rows[-max_len:]
        L = len(keep)
        assert b.lengths[k] == L and b.users[k] == k
        assert b.items[k, :L].tolist() == (x.item[keep] + 1).tolist()
        assert b.timestamps[k, :L].tolist() == x.timestamp[keep].tolist()
        assert np.array_equal(b.values[k, :L], x.value[keep])
        assert not b.items[k, L:].any() and not b.timestamps[k, L:].any()
    items, ts, vals, lengths = x.to_padded(max_len)  # the container's shortcut agrees
    plain = padded_histories(x, max_len=max_len)
    assert np.array_equal(items, plain.items) and np.array_equal(lengths, plain.lengths)
    assert np.array_equal(ts, plain.timestamps) and np.array_equal(vals, plain.values)
    valid = np.arange(items.shape[1]) < lengths[:, None]
    assert np.array_equal(b.items, np.where(valid, items + 1, 0))
    sub = padded_histories(x, users=[3, 0], max_len=max_len)
    assert sub.users.tolist() == [3, 0] and sub.lengths[1] == b.lengths[0]


@pytest.mark.parametrize("max_len", [None, 1, 5])
def test_next_item_targets_against_loop(rng, max_len):
    x = random_log(rng)
    nb = next_item_sequences(x, max_len=max_len)
    users = [k for k, rows in enumerate(per_user(x)) if len(rows) >= 2]
    assert nb.inputs.users.tolist() == users
    for b, k in enumerate(users):
        rows = per_user(x)[k]
        L = len(rows) - 1 if max_len is None else min(len(rows) - 1, max_len)
        inp, tgt = rows[len(rows) - 1 - L : -1], rows[len(rows) - L :]
        assert nb.inputs.lengths[b] == L
        assert nb.inputs.items[b, :L].tolist() == x.item[inp].tolist()
        assert nb.targets[b, :L].tolist() == x.item[tgt].tolist()
        assert nb.target_timestamps[b, :L].tolist() == x.timestamp[tgt].tolist()
        # causality: every input at or before position t precedes the target at t
        for t in range(L):
            assert (inp[: t + 1] < tgt[t]).all()
        assert not nb.targets[b, L:].any()


def test_next_item_no_leakage_by_perturbing_the_future(rng):
    """Changing a user's event j changes no input used for targets at or before j."""
    x = random_log(rng, n=300, users=10)
    base = next_item_sequences(x)
    for b in range(len(base)):
        k = base.inputs.users[b]
        lo, hi = x.offsets[k], x.offsets[k + 1]
        j = rng.integers(lo + 1, hi)  # an event that is some position's target
        item = x.item.copy()
        item[j] = (item[j] + 1) % x.num_items
        ts = x.timestamp.copy()
        ts[j:hi] += 10**7  # move it and everything after it further into the future
        y = from_columns(x.user, item, ts, x.value)
        got = next_item_sequences(y)
        t_j = j - lo - 1  # the position whose target is event j
        assert got.targets[b, t_j] != base.targets[b, t_j]
        assert np.array_equal(got.inputs.items[b, : t_j + 1], base.inputs.items[b, : t_j + 1])
        assert np.array_equal(got.targets[b, :t_j], base.targets[b, :t_j])


def test_histories_before(rng):
    x = random_log(rng)
    rows = rng.integers(0, len(x), 40)
    b = histories_before(x, rows, max_len=6)
    for q, r in enumerate(rows):
        k = x.user[r]
        prev = np.arange(x.offsets[k], r)[-6:]
        assert b.users[q] == k and b.lengths[q] == len(prev)
        assert b.items[q, : len(prev)].tolist() == x.item[prev].tolist()
    assert histories_before(x, [x.offsets[2]]).lengths.tolist() == [0]
    with pytest.raises(ValueError, match="rows"):
        histories_before(x, [len(x)])
    with pytest.raises(ValueError, match="max_len"):
        padded_histories(x, max_len=0)


def test_user_series_against_loop(rng):
    x = from_columns(
        rng.integers(0, 6, 200),
        np.zeros(200, int),
        rng.integers(0, 30 * 86400, 200),
        rng.uniform(1, 10, 200),
    )
    s, starts = user_series(x, "7d")
    want = np.zeros_like(s)
    for u, t, v in zip(x.user, x.timestamp, x.value):
        want[u, (t - starts[0]) // (7 * 86400)] += v
    np.testing.assert_allclose(s, want, rtol=1e-12)
    c, _ = user_series(x, "1d", what="count")
    assert c.sum() == 200 and c.shape[1] == -(-(x.timestamp.max() + 1) // 86400)
    assert (
        period_seconds("6h") == 21600 and period_seconds("30min") == 1800 and period_seconds(5) == 5
    )
    assert period_seconds("30m") == period_seconds("30min") == 1800  # as in scale specs
    with pytest.raises(ValueError, match="period"):
        period_seconds("1fortnight")
    with pytest.raises(ValueError, match="months have no fixed length"):
        period_seconds("1M")
    with pytest.raises(ValueError, match="synthetic"):
        user_series(from_columns([1, 1], [1, 2]), "1d")


def test_iter_batches_cover_once():
    got = np.concatenate(list(iter_batches(10, 3, shuffle=True, seed=1)))
    assert sorted(got.tolist()) == list(range(10))
    assert [len(b) for b in iter_batches(10, 4)] == [4, 4, 2]


# ------------------------------------------------------------------- argument checks (fuzz finds)
def small_log():
    return from_columns(
        [1, 1, 1, 2, 2, 3], [5, 6, 7, 5, 8, 9], [10, 20, 30, 5, 15, 25], extra={"w": np.arange(6.0)}
    )


@pytest.mark.parametrize(
    "call, exc, fragment",
    [
        (lambda x: padded_histories(x, users=[1.9]), TypeError, "users must hold integers"),
        (lambda x: histories_before(x, rows=[3.9]), TypeError, "rows must hold integers"),
        (lambda x: padded_histories(x, item_offset=0.5), TypeError, "item_offset must be an"),
        (lambda x: padded_histories(x, item_offset=-5), ValueError, "item_offset must be >= 0"),
        (lambda x: padded_histories(x, item_offset=2**63 - 2), ValueError, "item_offset must be"),
        (lambda x: next_item_sequences(x, users=[-1]), ValueError, r"users must be codes in \["),
        (lambda x: next_item_sequences(x, users=[100]), ValueError, "users must be codes"),
        (lambda x: x.to_padded(2.7), TypeError, "max_len must be an integer, got 2.7"),
        (lambda x: x.to_padded(True), TypeError, "max_len must be an integer, got True"),
        (lambda x: padded_histories(np.zeros(3)), TypeError, "x must be an Interactions"),
    ],
)
def test_sequence_arguments_are_checked(call, exc, fragment):
    with pytest.raises(exc, match=fragment):
        call(small_log())


def test_period_and_batches_refuse_non_integers():
    assert small_log().to_padded(np.int64(2))[3].tolist() == [2, 2, 1]
    with pytest.raises(TypeError, match="period must be seconds"):
        period_seconds(True)
    with pytest.raises(TypeError, match="period must be seconds"):
        period_seconds(2.5)
    with pytest.raises(ValueError, match="period must be below 2"):
        period_seconds("99999999999999999999w")
    with pytest.raises(TypeError, match="batch_size must be an integer, got 2.5"):
        iter_batches(10, 2.5)  # at the call, not at the first batch
    with pytest.raises(ValueError, match="n must be >= 0"):
        iter_batches(-1, 2)


def test_user_series_arguments_are_checked():
    x = small_log()
    s, _ = user_series(x, 10, extra="w", start=0, end=40)
    assert s.tolist() == [[0, 0, 1, 2], [3, 4, 0, 0], [0, 0, 5, 0]]
    with pytest.raises(ValueError, match=r"extra must name one of the extra columns \['w'\]"):
        user_series(x, 1, extra="nope")
    with pytest.raises(ValueError, match="3 users x 1000000000000 periods"):
        user_series(x, 1, end=10**12)
    with pytest.raises(TypeError, match="start must be an integer, got 1.5"):
        user_series(x, 1, start=1.5)
    with pytest.raises(ValueError, match="end must fit int64"):
        user_series(x, 1, end=2**63)
    with pytest.raises(ValueError, match="end - start must be below 2"):
        user_series(x, "99999w", start=-(2**62), end=2**62)


def test_user_series_end_before_start_is_refused():
    log = from_columns(np.array([0, 0, 1]), np.array([1, 2, 1]),
                       np.array([0, 7200, 3600], np.int64))
    with pytest.raises(ValueError, match="end must be >= start"):
        user_series(log, "1h", start=5000, end=0)
