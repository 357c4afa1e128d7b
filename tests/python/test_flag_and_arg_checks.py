"""Flags and arguments that used to be read loosely (fuzz findings 3 and 8 a-c, e-h, j, k):

* True / False flags of the ops, metrics and data take only True / False (or NumPy bools): a
  string such as "False" or "no", bytes, a list, None or an int raise TypeError naming the flag
  instead of being read by their truthiness; True / False and NumPy bools give the same results;
* sequences of arrays (adam_step_many, clip_grad_norm, multiscale_backward) that are not
  sequences raise TypeError naming the argument (not pybind11's "incompatible function
  arguments" or "'NoneType' object is not iterable");
* an unhashable mode / cell / choice gives the usual "must be one of" ValueError;
* ragged nested lists as integer arrays raise ValueError naming the argument;
* absurd sizes raise ValueError naming the argument before anything is allocated (no C++ /
  NumPy allocation message, no OverflowError), valid sizes keep working;
* arguments that were ignored when ``scores`` is an array are checked;
* an empty list is an empty ``batch_sizes``;
* a cache changed after the forward (an unknown mode / cell) raises ValueError naming the field.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from chronoscale import data, metrics, ops

F = np.float32
BAD_FLAGS = ["False", "no", b"0", [0], None, 0, 1, -7, 0.0, np.array(True)]


def _x(shape=(2, 5, 3), seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _log():
    rng = np.random.default_rng(1)
    n = 40
    return data.from_columns(rng.integers(0, 5, n), rng.integers(0, 8, n),
                             rng.integers(0, 10**5, n))


# --------------------------------------------------------------------------------- A: flags
# name -> call(flag) returning something comparable (arrays, tuples of arrays, floats, ...)


def _conv(flag):
    return ops.conv1d_forward(_x(), _x((2, 3, 2), 1), relu=flag)[0]


def _conv_back(flag):
    _, _, cache = ops.conv1d_forward(_x(), _x((2, 3, 2), 1))
    return ops.conv1d_backward(_x((2, 4, 2), 2), cache, input_grad=flag)


def _emb_back(flag):
    ids = np.array([[0, 3, 3], [1, 0, 2]])
    _, cache = ops.embedding_forward(ids, _x((4, 2), 3))
    return ops.embedding_backward(_x((2, 3, 2), 4), cache, sparse=flag)


def _adam_args():
    p, g = _x((4, 3), 5), _x((4, 3), 6)
    return p, g, np.zeros_like(p), np.abs(_x((4, 3), 7))


def _adam(flag):
    p, g, m, v = _adam_args()
    ops.adam_step(p, g, m, v, 3, 0.1, weight_decay=0.5, decoupled=flag)
    return p, m, v


def _adam_many(flag):
    p, g, m, v = _adam_args()
    ops.adam_step_many([p], [g], [m], [v], [3], 0.1, weight_decay=0.5, decoupled=flag)
    return p, m, v


def _adam_rows(flag):
    p, _, m, v = _adam_args()
    ops.adam_step_rows(p, [2, 0], _x((2, 3), 8), m, v, 3, 0.1, weight_decay=0.5, decoupled=flag)
    return p, m, v


def _sgd(flag):
    p, g, buf, _ = _adam_args()
    buf += 0.5
    ops.sgd_step(p, g, buf, 0.1, momentum=0.9, nesterov=flag)
    return p, buf


def _sgd_rows(flag):
    p, _, buf, _ = _adam_args()
    buf += 0.5
    ops.sgd_step_rows(p, [1, 3], _x((2, 3), 9), buf, 0.1, momentum=0.9, nesterov=flag)
    return p, buf


def _point_loss(fn):
    return lambda flag: fn(_x((3, 4)), np.abs(_x((3, 4), 1)) % 1, loss_on_device=flag)


def _full_softmax(flag):
    return ops.full_softmax_loss(_x((3, 2)), _x((5, 2), 1), [0, 4, 2], loss_on_device=flag)


def _sampled(flag):
    return ops.sampled_softmax_loss(_x((3, 2)), _x((5, 2), 1), [0, 4, 2], 20, 7,
                                    remove_accidental_hits=flag)


def _ms_weights(count_feature):
    C, H = 3, 2
    i = C + 1 if count_feature is True or count_feature is np.True_ else C
    return [(_x((4 * H, i), 10), _x((4 * H, H), 11))]


def _multiscale(flag):
    outs, _ = ops.multiscale_forward(_x(), ["2"], _ms_weights(flag), count_feature=flag)
    return outs[0].y, outs[0].h_n


def _packed(flag):
    return ops.packed_cumsum(_x((5, 2)), [2, 2, 1], reverse=flag)


def _clip(flag):
    g = _x((3, 2))
    return ops.clip_grad_norm([g], 0.5, return_norm=flag), g


def _eval_sampled(flag):
    scores = _x((4, 9))
    ex = [np.array([1, 2]), np.array([3]), np.array([], np.int64), np.array([5, 6, 7])]
    rep = metrics.evaluate_sampled(scores, [0, 1, 2, 3], 3, num_negatives=4, exclude=ex,
                                   exclude_history=flag, seed=3)
    return rep["negatives"]["exclude_history"], rep["metrics"]


def _eval_recommender(flag):
    from chronoscale.baselines import MostPopular

    sp = data.leave_one_out(_log())
    rep = metrics.evaluate_recommender(MostPopular().fit(sp.train), sp.test, k=3,
                                       exclude_history=flag)
    return rep["exclusion"], rep["metrics"]


def _iter_batches(flag):
    return list(data.iter_batches(7, 3, shuffle=flag, seed=4))


def _take(flag):
    x = _log()
    return x.take(x.user == 1, compact=flag).num_items


def _align(flag):
    x = _log()
    ref = x.take(x.item < 5, compact=True)
    try:
        return len(data.align_items(x, ref, drop_unknown=flag))
    except ValueError as e:  # drop_unknown=False: the unknown items raise
        if "items not in the reference" not in str(e):
            raise
        return "raised"


FLAGS = {
    "count_pool_forward(partial)": lambda f: ops.count_pool_forward(_x(), 2, partial=f)[0],
    "Scale.count(partial)": lambda f: ops.Scale.count(2, partial=f).partial,
    "Scale(partial)": lambda f: ops.Scale("count", size=2, stride=2, partial=f).partial,
    "conv1d_forward(relu)": _conv,
    "conv1d_backward(input_grad)": _conv_back,
    "embedding_backward(sparse)": _emb_back,
    "adam_step(decoupled)": _adam,
    "adam_step_many(decoupled)": _adam_many,
    "adam_step_rows(decoupled)": _adam_rows,
    "sgd_step(nesterov)": _sgd,
    "sgd_step_rows(nesterov)": _sgd_rows,
    "mse_loss(loss_on_device)": _point_loss(ops.mse_loss),
    "mae_loss(loss_on_device)": _point_loss(ops.mae_loss),
    "huber_loss(loss_on_device)": _point_loss(ops.huber_loss),
    "bce_with_logits_loss(loss_on_device)": _point_loss(ops.bce_with_logits_loss),
    "full_softmax_loss(loss_on_device)": _full_softmax,
    "sampled_softmax_loss(remove_accidental_hits)": _sampled,
    "multiscale_forward(count_feature)": _multiscale,
    "packed_cumsum(reverse)": _packed,
    "clip_grad_norm(return_norm)": _clip,
    "evaluate_sampled(exclude_history)": _eval_sampled,
    "evaluate_recommender(exclude_history)": _eval_recommender,
    "iter_batches(shuffle)": _iter_batches,
    "Interactions.take(compact)": _take,
    "align_items(drop_unknown)": _align,
}


def _flag_name(label):
    return label[label.index("(") + 1 : -1]


def _same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, (tuple, list)):
        return (isinstance(b, (tuple, list)) and len(a) == len(b)
                and all(_same(u, v) for u, v in zip(a, b)))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and np.isnan(a):
        return isinstance(b, float) and np.isnan(b)
    return a == b


@pytest.mark.parametrize("bad", BAD_FLAGS, ids=repr)
@pytest.mark.parametrize("label", sorted(FLAGS))
def test_flag_takes_only_true_or_false(label, bad):
    with pytest.raises(TypeError, match=f"{_flag_name(label)} must be True or False, got"):
        FLAGS[label](bad)


@pytest.mark.parametrize("label", sorted(FLAGS))
def test_flag_true_false_and_numpy_bools_agree(label):
    call = FLAGS[label]
    on, off = call(True), call(False)
    assert _same(call(np.True_), on)
    assert _same(call(np.False_), off)
    if "loss_on_device" not in label:  # (only CUDA arrays can stay on the device)
        assert not _same(on, off), "the flag changes nothing here: the test does not test it"


def test_flags_keep_their_meaning():
    x = _x((1, 5, 2))
    assert ops.count_pool_forward(x, 2, partial=True)[0].shape == (1, 3, 2)
    assert ops.count_pool_forward(x, 2, partial=False)[0].shape == (1, 2, 2)
    assert (_conv(True) >= 0).all() and (_conv(False) < 0).any()
    assert _conv_back(False)[0] is None and _conv_back(True)[0] is not None
    rows, _ = _emb_back(True)
    assert rows.tolist() == [0, 1, 2, 3] and _emb_back(False).shape == (4, 2)
    assert _clip(False)[0] is None and isinstance(_clip(True)[0], float)
    assert [b.tolist() for b in _iter_batches(False)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert _eval_sampled(True)[0] is True and _eval_sampled(False)[0] is False
    x = _x((5, 2))
    np.testing.assert_allclose(_packed(False), x.copy()[[0, 1, 2, 3, 4]] + np.array(
        [[0, 0], [0, 0], x[0], x[1], x[2] + x[0]]))


def test_packed_cumsum_reverse_refuses_ints():
    x = _x((3, 2))
    with pytest.raises(TypeError, match="reverse must be True or False, got -7"):
        ops.packed_cumsum(x, [2, 1], reverse=-7)


# ----------------------------------------------------------------- B: sequences of arrays


def _many(**change):
    p, g, m, v = _adam_args()
    args = dict(params=[p], grads=[g], m=[m], v=[v], steps=[1])
    args.update(change)
    return lambda: ops.adam_step_many(**args, lr=0.1)


@pytest.mark.parametrize("name", ["params", "grads", "m", "v"])
@pytest.mark.parametrize("bad", [None, 3, {"a": 1}, "abc", "gen", np.zeros((1, 4, 3))],
                         ids=["None", "int", "dict", "str", "generator", "ndarray"])
def test_adam_step_many_lists_are_named(name, bad):
    if isinstance(bad, str) and bad == "gen":
        bad = (a for a in [np.zeros((4, 3))])
    with pytest.raises(TypeError, match=f"^{name} must be a list or tuple of arrays, got "):
        _many(**{name: bad})()


@pytest.mark.parametrize("bad", [None, "12", {"a": 1}, 2.5, np.zeros((1, 1), np.int64)],
                         ids=["None", "str", "dict", "float", "2-D"])
def test_adam_step_many_steps_is_named(bad):
    with pytest.raises(TypeError, match="steps must be an integer or a list of integers"):
        _many(steps=bad)()


def test_adam_step_many_sequences_still_work():
    p, g, m, v = _adam_args()
    want = [a.copy() for a in (p, m, v)]
    ops.adam_step(*want[:1], g, *want[1:], 2, 0.1)
    ops.adam_step_many((p,), (g,), (m,), (v,), np.array([2]), 0.1)  # tuples, array of steps
    for got, ref in zip((p, m, v), want):
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("bad", [None, 3, "abc", {"a": np.zeros(2)}], ids=repr)
def test_clip_grad_norm_grads_is_named(bad):
    with pytest.raises(TypeError, match="grads must be a list of arrays, got "):
        ops.clip_grad_norm(bad, 1.0)


def test_clip_grad_norm_takes_any_iterable():
    g = np.full(4, 3.0)
    assert ops.clip_grad_norm((a for a in [g]), 1.0) == 6.0  # a generator, as before


def _ms_cache(cell="lstm"):
    G = {"lstm": 4, "gru": 3}[cell]
    w = [(_x((G * 2, 3), 10), _x((G * 2, 2), 11))]
    return ops.multiscale_forward(_x(), ["2"], w, cell=cell)


@pytest.mark.parametrize("name", ["dys", "dh_ns", "dc_ns"])
@pytest.mark.parametrize("bad", [3, "ab", {"a": 1}], ids=repr)
def test_multiscale_backward_lists_are_named(name, bad):
    outs, cache = _ms_cache()
    grads = dict(dys=[np.ones_like(outs[0].y)], dh_ns=None, dc_ns=None)
    grads[name] = bad
    with pytest.raises(TypeError, match=f"{name} must be None or a list"):
        ops.multiscale_backward(grads["dys"], grads["dh_ns"], grads["dc_ns"], cache)


# ------------------------------------------------------------------- C: unhashable choices


CHOICES = {
    "count_pool_forward(mode)": lambda v: ops.count_pool_forward(_x(), 2, mode=v),
    "time_pool_forward(mode)": lambda v: ops.time_pool_forward(
        _x(), np.tile(np.arange(5), (2, 1)), 2, mode=v),
    "Scale.count(mode)": lambda v: ops.Scale.count(2, mode=v),
    "multiscale_forward(cell)": lambda v: ops.multiscale_forward(
        _x(), ["2"], [(_x((8, 3)), _x((8, 2)))], cell=v),
    "rnn_forward(activation)": lambda v: ops.rnn_forward(_x(), _x((2, 3)), _x((2, 2)),
                                                         activation=v),
    "full_softmax_loss(precision)": lambda v: ops.full_softmax_loss(
        _x((3, 2)), _x((5, 2), 1), [0, 4, 2], precision=v),
    "evaluate_full(ties)": lambda v: metrics.evaluate_full(_x((2, 4)), [0, 1], ties=v),
    "evaluate_sampled(strategy)": lambda v: metrics.evaluate_sampled(
        _x((2, 6)), [0, 1], 1, num_negatives=2, strategy=v),
    "as_seconds(time_unit)": lambda v: data.as_seconds([1, 2], time_unit=v),
    "from_columns(dedupe)": lambda v: data.from_columns([0], [1], [1], dedupe=v),
    "deduplicate(rule)": lambda v: data.deduplicate(_log(), rule=v),
    "leave_one_out(short_users)": lambda v: data.leave_one_out(_log(), short_users=v),
    "temporal_split(targets)": lambda v: data.temporal_split(_log(), targets=v),
    "user_series(what)": lambda v: data.user_series(_log(), "1d", what=v),
}


@pytest.mark.parametrize("bad", [["max"], np.array("lstm"), np.array(["s", "ms"]), {"a": 1}],
                         ids=["list", "0-d array", "array", "dict"])
@pytest.mark.parametrize("label", sorted(CHOICES))
def test_unhashable_choice_gives_the_usual_error(label, bad):
    with pytest.raises(ValueError, match=f"{_flag_name(label)} must be "):
        CHOICES[label](bad)


def test_string_choices_still_work():
    y_max = ops.count_pool_forward(_x(), 2, mode=np.str_("max"))[0]
    np.testing.assert_array_equal(y_max, ops.count_pool_forward(_x(), 2, mode="max")[0])
    assert ops.Scale.count(2, mode="sum").mode == "sum"
    ops.rnn_forward(_x(), _x((2, 3)), _x((2, 2)), activation="relu")
    assert data.from_columns([0], [1], [1], dedupe=None).num_users == 1


# ------------------------------------------------------------------ D: ragged integer arrays

RAGGED = [[1, 2], [3]]


def _lstm(lengths):
    return ops.lstm_forward(_x(), _x((8, 3)), _x((8, 2)), lengths=lengths)


RAGGED_CALLS = {
    "lengths": _lstm,
    "ids": lambda v: ops.embedding_forward(v, _x((4, 2))),
    "index": lambda v: ops.gather_rows(_x((4, 2)), v),
    "rows": lambda v: ops.adam_step_rows(*_adam_args()[:1], v, _x((2, 3)),
                                         *_adam_args()[2:], 1, 0.1),
    "target": lambda v: ops.softmax_cross_entropy(_x((2, 4)), v),
    "timestamps": lambda v: ops.time_pool_forward(_x(), v, 2),
    "batch_sizes": lambda v: ops.packed_cumsum(_x((3, 2)), v),
    "b": lambda v: ops.window_rows(ops.Scale.count(2), v, [0, 1], (2, 5), 3,
                                   out_lengths=[2, 2]),
    "targets": lambda v: metrics.evaluate_full(_x((2, 4)), v),
    "topk": lambda v: metrics.evaluate_topk(v, [0, 1], 1),
    "greater": lambda v: metrics.per_query(v, [0, 0], 1),
    "negatives": lambda v: metrics.evaluate_sampled(_x((2, 6)), [0, 1], 1, negatives=v),
}


@pytest.mark.parametrize("name", sorted(RAGGED_CALLS))
def test_ragged_integer_arrays_are_named(name):
    what = "seconds" if name == "timestamps" else "integers"
    with pytest.raises(ValueError, match=f"^{name} must be a rectangular array of {what}, got "
                                         "nested sequences of different lengths"):
        RAGGED_CALLS[name](RAGGED)


def test_ragged_data_indices_are_named():
    log = data.from_columns([0, 0, 1, 1], [0, 1, 1, 2], [1, 2, 3, 4])
    with pytest.raises(ValueError, match="^rows must be a rectangular array of integers"):
        log.take(RAGGED)
    with pytest.raises(ValueError, match="^users must be a rectangular array of integers"):
        data.padded_histories(log, RAGGED)


def test_ragged_target_ranks_and_metrics_targets():
    with pytest.raises(ValueError, match="^targets must be a rectangular array of integers"):
        metrics.target_ranks(_x((2, 4)), RAGGED)
    with pytest.raises(ValueError, match="^targets must be a rectangular array of integers"):
        metrics.evaluate_sampled(_x((2, 4)), RAGGED, 1, num_negatives=1)
    with pytest.raises(ValueError, match="^scores must be a rectangular array of numbers"):
        metrics.evaluate_full([[0.1, 0.2], [0.3]], [0, 1])


def test_rectangular_lists_still_work():
    y, _, _, _ = _lstm([5, 3])
    np.testing.assert_array_equal(y, _lstm(np.array([5, 3]))[0])


# ------------------------------------------------------------------------- E: huge sizes


def test_sampled_softmax_num_samples_bound():
    u, E = _x((3, 2)), _x((5, 2), 1)
    for big in (2**31, 2**62):
        with pytest.raises(ValueError, match=r"num_samples must be <= 2147483647 \(2\*\*31 - 1"):
            ops.sampled_softmax_loss(u, E, [0, 1, 2], big, 1)
        with pytest.raises(ValueError, match="num_samples must be <= 2147483647"):
            ops.sampled_softmax_negatives(10, big, 1)
    assert ops.sampled_softmax_negatives(10, 6, 1).shape == (6,)
    assert np.isfinite(ops.sampled_softmax_loss(u, E, [0, 1, 2], 6, 1)[0])


def test_scatter_rows_huge_size_and_col_are_named():
    g, i = _x((3, 4)), np.array([0, 2, -1])
    for size in (2**40, 2**62):
        with pytest.raises(ValueError, match="^size is too large: a new"):
            ops.scatter_rows(g, i, size=size)
    with pytest.raises(ValueError, match=r"^col must be in \[0, W\] with W = 4 .* got 46116860"):
        ops.scatter_rows(g, i, size=4, col=2**62)
    with pytest.raises(ValueError, match=r"^col must be in \[0, W\]"):
        ops.scatter_rows(g, i, size=4, col=5)
    with pytest.raises(ValueError, match=r"^width must be <= W - col = 3 .* got 2147483648"):
        ops.scatter_rows(g, i, size=4, col=1, width=2**31)
    with pytest.raises(ValueError, match=r"^width must be <= W - col = 3 .* got 4"):
        ops.scatter_rows(g, i, size=4, col=1, width=4)
    want = np.zeros((4, 2))
    want[[0, 2]] = g[:2, 1:3]
    np.testing.assert_array_equal(ops.scatter_rows(g, i, size=4, col=1, width=2), want)
    assert ops.scatter_rows(g, i, size=4, col=4).shape == (4, 0)  # col = W: no columns


def test_gather_causal_backward_huge_w_is_named():
    dg = _x((2, 3, 2))
    cb = np.array([[0, 1, 1], [0, 0, 1]])
    for W in (2**40, 2**62):
        with pytest.raises(ValueError, match="^W is too large"):
            ops.gather_causal_backward(dg, cb, W)
    dy = ops.gather_causal_backward(dg, cb, 2)
    np.testing.assert_array_equal(dy[0, 0], dg[0, 1] + dg[0, 2])


def test_iter_batches_huge_n():
    first = next(iter(data.iter_batches(2**62, 3)))  # built batch by batch, nothing huge
    assert first.tolist() == [0, 1, 2] and first.dtype == np.int64
    with pytest.raises(ValueError, match="^n is too large: the shuffled order"):
        data.iter_batches(2**62, 3, shuffle=True)
    with pytest.raises(ValueError, match="^n must be <= 9223372036854775807"):
        data.iter_batches(2**64, 3)


def test_sample_negatives_huge_sizes_are_named():
    t = np.array([0, 1])
    with pytest.raises(ValueError, match="^num_items is too large"):
        metrics.sample_negatives(t, 2**62, 3)
    with pytest.raises(ValueError, match="^num_negatives is too large"):
        metrics.sample_negatives(t, 2**35, 2**40)
    with pytest.raises(ValueError, match="^num_items is too large"):
        metrics.evaluate_sampled(lambda r, c: np.zeros(c.shape), t, 1, num_items=2**62)
    neg = metrics.sample_negatives(t, 10, 3, seed=1)
    assert neg.shape == (2, 3) and (neg != t[:, None]).all()


@pytest.mark.parametrize("fn", [data.padded_histories, data.next_item_sequences])
def test_max_len_past_int64_keeps_everything(fn):
    x = _log()
    got, want = fn(x, max_len=2**70), fn(x)
    inputs = (lambda b: b) if fn is data.padded_histories else (lambda b: b.inputs)
    for a in ("items", "timestamps", "lengths", "users"):
        np.testing.assert_array_equal(getattr(inputs(got), a), getattr(inputs(want), a))


def test_evaluate_forecast_horizons_must_be_a_list():
    y = _x((4, 2))
    for bad in (3, "ab", 2.5):
        with pytest.raises(TypeError, match="horizons must be None or a list of 2 labels"):
            metrics.evaluate_forecast(y, y, horizons=bad)
    assert metrics.evaluate_forecast(y, y, horizons=("a", "b"))["horizons"] == ["a", "b"]


def test_iter_batches_seed():
    want = [b.tolist() for b in data.iter_batches(4, 2, shuffle=True, seed=3)]
    for seed in (np.array(3), np.int64(3)):
        assert [b.tolist() for b in data.iter_batches(4, 2, shuffle=True, seed=seed)] == want
    gen = data.iter_batches(4, 2, shuffle=True, seed=np.random.default_rng(3))
    assert [b.tolist() for b in gen] == want
    for bad in ("x", 1.5, True, np.array(1.5)):
        with pytest.raises(TypeError, match="seed must be"):
            data.iter_batches(4, 2, shuffle=True, seed=bad)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        data.iter_batches(4, 2, shuffle=True, seed=-1)


# ------------------------------------------------------- F: arguments checked with an array


@pytest.mark.parametrize("bad, err", [("x", TypeError), (None, TypeError), (np.nan, TypeError),
                                      (2.5, TypeError), (-1, ValueError), (0, ValueError)],
                         ids=repr)
def test_evaluate_full_batch_size_is_checked_with_an_array(bad, err):
    with pytest.raises(err, match="batch_size must be"):
        metrics.evaluate_full(_x((3, 5)), [0, 1, 2], batch_size=bad)


@pytest.mark.parametrize("name", ["evaluate_full", "evaluate_sampled"])
def test_num_items_is_checked_with_an_array(name):
    fn, kw = getattr(metrics, name), {"num_negatives": 2} if name == "evaluate_sampled" else {}
    for bad in ("x", 2.5, True):
        with pytest.raises(TypeError, match="num_items must be an integer"):
            fn(_x((3, 5)), [0, 1, 2], 1, num_items=bad, **kw)
    with pytest.raises(ValueError, match="num_items must be >= 1"):
        fn(_x((3, 5)), [0, 1, 2], 1, num_items=0, **kw)
    assert _same(fn(_x((3, 5)), [0, 1, 2], 1, num_items=None, **kw),
                 fn(_x((3, 5)), [0, 1, 2], 1, **kw))


def test_evaluate_sampled_checks_unused_args_with_given_negatives():
    s, t, neg = _x((2, 6)), [0, 1], [[2, 3], [4, 5]]
    with pytest.raises(TypeError, match="num_negatives must be an integer"):
        metrics.evaluate_sampled(s, t, 1, negatives=neg, num_negatives="x")
    with pytest.raises(TypeError, match="seed must be an integer"):
        metrics.evaluate_sampled(s, t, 1, negatives=neg, seed="x")
    with pytest.raises(ValueError, match="strategy must be one of"):
        metrics.evaluate_sampled(s, t, 1, negatives=neg, strategy="hard")
    assert metrics.evaluate_sampled(s, t, 1, negatives=neg)["negatives"]["strategy"] == "given"


def test_evaluate_recommender_checks_sampled_args_for_full():
    from chronoscale.baselines import MostPopular

    sp = data.leave_one_out(_log())
    m = MostPopular().fit(sp.train)
    with pytest.raises(TypeError, match="num_negatives must be an integer"):
        metrics.evaluate_recommender(m, sp.test, num_negatives="x")
    with pytest.raises(TypeError, match="seed must be an integer"):
        metrics.evaluate_recommender(m, sp.test, seed=1.5)


# -------------------------------------------------------------- G: empty batch_sizes list


def test_packed_cumsum_empty_batch_sizes_list():
    for bs in ([], np.array([])):
        out = ops.packed_cumsum(np.zeros((0, 2), F), bs)
        assert out.shape == (0, 2) and out.dtype == F
    with pytest.raises(TypeError, match="batch_sizes must hold integers"):
        ops.packed_cumsum(np.zeros((2, 2), F), [1.0, 1.0])


# ------------------------------------------------------------------- H: a tampered cache


def test_pool_cache_with_an_unknown_mode():
    x = _x()
    y, _, _, cache = ops.count_pool_forward(x, 2, mode="mean")
    for bad in ("bogus", ["max"]):
        with pytest.raises(ValueError, match="cache.mode must be 'max', 'mean' or 'sum'"):
            ops.count_pool_backward(y, dataclasses.replace(cache, mode=bad))
    with pytest.raises(TypeError, match="cache.partial must be True or False"):
        ops.count_pool_backward(y, dataclasses.replace(cache, partial="no"))
    ts = np.tile(np.arange(5), (2, 1))
    y, _, _, _, cache = ops.time_pool_forward(x, ts, 2)
    with pytest.raises(ValueError, match="cache.mode must be 'max', 'mean' or 'sum'"):
        ops.time_pool_backward(y, dataclasses.replace(cache, mode="bogus"))
    ops.time_pool_backward(y, cache)  # untouched: fine


def test_multiscale_and_recurrent_cache_with_an_unknown_cell():
    outs, cache = _ms_cache()
    dys = [np.ones_like(outs[0].y)]
    with pytest.raises(ValueError, match="cache.cell must be one of"):
        ops.multiscale_backward(dys, None, None, dataclasses.replace(cache, cell="bogus"))
    ops.multiscale_backward(dys, None, None, cache)
    y, _, cache = ops.rnn_forward(_x(), _x((2, 3)), _x((2, 2)))
    for bad in ("rnn_bogus", "bogus", None):
        with pytest.raises(ValueError, match="cache.cell must be one of"):
            ops.rnn_backward(y, None, dataclasses.replace(cache, cell=bad))
