"""chronoscale.nn layers: float64 finite-difference gradients of every layer (inputs and
parameters), forward semantics against NumPy references, initialisation, state dicts, errors."""

from __future__ import annotations

import numpy as np
import pytest

from chronoscale import nn

from helpers import numeric_grad, random_lengths, rel_error


def _check_grads(layer, x, rng, lengths=None, fwd_kwargs=None, x_grad=True, seed_each=None):
    """sum(y * r) as the loss; compare backward with central differences for x and params."""
    fwd_kwargs = fwd_kwargs or {}

    def run():
        if seed_each is not None:
            layer.set_seed(seed_each)
        return layer.forward(x, training=True, lengths=lengths, **fwd_kwargs)

    y = run()
    r = rng.standard_normal(np.shape(y))
    layer.zero_grad()
    dx = layer.backward(r.astype(y.dtype))

    def loss():
        return float(np.sum(run() * r))

    if x_grad:
        assert rel_error(dx, numeric_grad(loss, x)) < 1e-6
    for name, p in layer.named_parameters():
        g = p.grad
        if g is None and p.rows is not None:
            g = np.zeros_like(p.data)
            g[p.rows] = p.grad_rows
        assert g is not None, name
        assert rel_error(g, numeric_grad(loss, p.data)) < 1e-6, name
    return y, dx


def test_conv1d_relu_grads_and_lengths(rng):
    B, T, C = 4, 9, 3
    x = rng.standard_normal((B, T, C))
    lengths = random_lengths(rng, B, T)
    lengths[1] = 3  # at least one valid output
    layer = nn.Conv1d(5, 3, activation="relu").build(C, rng, "float64")
    layer.bias.data[:] = rng.standard_normal(5) * 0.1
    y, _ = _check_grads(layer, x, rng, lengths)
    assert y.shape == (B, T - 2, 5)
    np.testing.assert_array_equal(layer.out_lengths, np.maximum(lengths - 2, 0))
    ref = np.zeros_like(y)
    for t in range(T - 2):
        ref[:, t] = np.einsum("bck,ock->bo", x[:, t:t + 3].transpose(0, 2, 1), layer.weight.data)
    ref = np.maximum(ref + layer.bias.data, 0)
    for b in range(B):
        n = max(lengths[b] - 2, 0)
        np.testing.assert_allclose(y[b, :n], ref[b, :n], atol=1e-12)
        assert not y[b, n:].any()


def test_maxpool_matches_reference_and_grads(rng):
    B, T, C = 3, 9, 4
    x = rng.standard_normal((B, T, C))
    layer = nn.MaxPool1d(2)
    y, _ = _check_grads(layer, x, rng)
    assert y.shape == (B, 4, C)
    np.testing.assert_array_equal(y, x[:, :8].reshape(B, 4, 2, C).max(axis=2))
    assert layer.out_lengths is None
    layer.forward(x, lengths=np.array([9, 5, 1]))
    np.testing.assert_array_equal(layer.out_lengths, [4, 2, 0])


@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "tanh"])
def test_dense_forward_and_grads(rng, activation):
    x = rng.standard_normal((3, 4, 6))
    layer = nn.Dense(5, activation=activation).build(6, rng, "float64")
    layer.bias.data[:] = rng.standard_normal(5)
    y, _ = _check_grads(layer, x, rng)
    z = x @ layer.weight.data.T + layer.bias.data
    ref = {None: z, "relu": np.maximum(z, 0), "sigmoid": 1 / (1 + np.exp(-z)),
           "tanh": np.tanh(z)}[activation]
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_recurrent_layers_grads(rng, cls, return_sequences):
    B, T, n_in, H = 4, 6, 3, 5
    x = rng.standard_normal((B, T, n_in))
    lengths = random_lengths(rng, B, T)
    layer = cls(H, return_sequences=return_sequences).build(n_in, rng, "float64")
    for p in layer.parameters():  # nonzero biases too
        p.data += rng.standard_normal(p.shape) * 0.1
    y, _ = _check_grads(layer, x, rng, lengths)
    assert y.shape == ((B, T, H) if return_sequences else (B, H))
    if return_sequences:
        np.testing.assert_array_equal(layer.out_lengths, lengths)
        assert not y[1, 1:].any()  # length 1: zeros afterwards
    else:
        assert layer.out_lengths is None


def test_lstm_layer_is_the_native_lstm_with_one_bias(rng):
    from chronoscale import ops

    x = rng.standard_normal((2, 5, 3))
    layer = nn.LSTM(4, return_sequences=True).build(3, rng, "float64")
    y = layer.forward(x)
    ref, _, _, _ = ops.lstm_forward(x, layer.w_ih.data, layer.w_hh.data, layer.b.data, None)
    np.testing.assert_array_equal(y, ref)


def test_keras_initialisation(rng):
    layer = nn.LSTM(50).build(64, rng)
    H = 50
    w_hh = layer.w_hh.data.astype(np.float64).T  # Keras recurrent_kernel [H, 4H]
    np.testing.assert_allclose(w_hh @ w_hh.T, np.eye(H), atol=1e-5)  # orthonormal rows
    limit = np.sqrt(6 / (64 + 4 * H))
    assert np.abs(layer.w_ih.data).max() <= limit and np.abs(layer.w_ih.data).max() > 0.9 * limit
    b = layer.b.data
    assert not b[:H].any() and (b[H:2 * H] == 1).all() and not b[2 * H:].any()
    conv = nn.Conv1d(64, 3).build(5, rng)
    lim = np.sqrt(6 / (3 * 5 + 3 * 64))
    assert np.abs(conv.weight.data).max() <= lim and not conv.bias.data.any()
    gru = nn.GRU(7).build(3, rng)
    assert not gru.b.data.any() and not gru.b_hh.data.any()
    # same seed, same weights
    again = nn.LSTM(50).build(64, np.random.default_rng(3))
    other = nn.LSTM(50).build(64, np.random.default_rng(3))
    np.testing.assert_array_equal(again.w_hh.data, other.w_hh.data)


@pytest.mark.parametrize("output", ["last", "causal"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_multiscale_grads(rng, output, cell):
    B, T, C = 3, 8, 2
    x = rng.standard_normal((B, T, C))
    lengths = random_lengths(rng, B, T)
    ts = np.cumsum(rng.integers(0, 4000, size=(B, T)), axis=1).astype(np.int64)
    layer = nn.MultiScale(["1", "3", "1h"], units=[3, 2, 2], cell=cell, output=output,
                          count_feature=True).build(C, rng, "float64")
    y, _ = _check_grads(layer, x, rng, lengths, fwd_kwargs={"timestamps": ts})
    assert y.shape == ((B, 7) if output == "last" else (B, T, 7))
    layer.merge = None
    ys = layer.forward(x, lengths=lengths, timestamps=ts)
    np.testing.assert_array_equal(np.concatenate(ys, axis=-1), y)


def test_multiscale_causal_ignores_the_future(rng):
    B, T, C = 2, 10, 3
    x = rng.standard_normal((B, T, C))
    layer = nn.MultiScale(["1", "4"], units=4, output="causal").build(C, rng, "float64")
    y = layer.forward(x)
    x2 = x.copy()
    x2[:, 6:] = rng.standard_normal((B, 4, C))
    y2 = layer.forward(x2)
    np.testing.assert_array_equal(y[:, :7], y2[:, :7])  # position t sees events < t only
    assert np.abs(y[:, 8:] - y2[:, 8:]).max() > 0


def test_cosine_layers_grads(rng):
    B, T, D = 3, 6, 4
    x = rng.standard_normal((B, T, D))
    lengths = random_lengths(rng, B, T)
    layer = nn.CosineFeatures(lags=(1, 2))
    y, _ = _check_grads(layer, x, rng, lengths)
    assert y.shape == (B, T, D + 2)
    t, b = 3, 0
    ref = x[b, t] @ x[b, t - 2] / np.linalg.norm(x[b, t]) / np.linalg.norm(x[b, t - 2])
    assert abs(y[b, t, D + 1] - ref) < 1e-12

    q = rng.standard_normal((B, D))
    cq = nn.CosineQuery()
    out = cq.forward((q, x), lengths=lengths)
    r = rng.standard_normal(out.shape)
    dq, dx = cq.backward(r)

    def loss():
        return float(np.sum(cq.forward((q, x), lengths=lengths) * r))

    assert rel_error(dq, numeric_grad(loss, q)) < 1e-6
    assert rel_error(dx, numeric_grad(loss, x)) < 1e-6


@pytest.mark.parametrize("sparse", [True, False])
def test_embedding_grads(rng, sparse):
    V, D, B, T = 7, 3, 3, 5
    ids = rng.integers(0, V, size=(B, T))
    lengths = random_lengths(rng, B, T)
    layer = nn.Embedding(V, D, sparse=sparse).build(None, rng, "float64")
    y = layer.forward(ids, lengths=lengths)
    np.testing.assert_array_equal(y[0], layer.weight.data[ids[0]])
    r = rng.standard_normal(y.shape)
    assert layer.backward(r) is None
    p = layer.weight
    assert p.is_sparse == sparse
    dense = np.zeros_like(p.data)
    if sparse:
        dense[p.rows] = p.grad_rows
        used = {int(i) for b in range(B) for i in ids[b, : lengths[b]]}
        assert set(p.rows.tolist()) == used
    else:
        dense = p.grad

    def loss():
        return float(np.sum(layer.forward(ids, lengths=lengths) * r))

    assert rel_error(dense, numeric_grad(loss, p.data)) < 1e-6


def test_dropout_grads_and_reproducibility(rng):
    x = rng.standard_normal((4, 5, 6))
    layer = nn.Dropout(0.5)
    _check_grads(layer, x, rng, seed_each=11)
    layer.set_seed(11)
    a = layer.forward(x, training=True)
    b = layer.forward(x, training=True)
    layer.set_seed(11)
    np.testing.assert_array_equal(a, layer.forward(x, training=True))
    assert not np.array_equal(a, b)  # the counter gives each call a fresh mask
    zeros = np.mean(a == 0)
    assert 0.3 < zeros < 0.7
    np.testing.assert_allclose(a[a != 0], 2 * x[a != 0])
    assert layer.forward(x, training=False) is x


def test_sequential_grads_state_dict_and_config(rng):
    B, T, F = 3, 10, 2
    x = rng.standard_normal((B, T, F))
    lengths = np.array([10, 7, 6])
    model = nn.Sequential([nn.Conv1d(4, 3, activation="relu"), nn.MaxPool1d(2),
                           nn.GRU(3, return_sequences=True), nn.LSTM(3),
                           nn.Dense(2, activation="tanh")]).build(F, rng, "float64")
    y, _ = _check_grads(model, x, rng, lengths)
    assert y.shape == (B, 2)
    names = [n for n, _ in model.named_parameters()]
    assert names[:2] == ["0.weight", "0.bias"] and "3.weight_hh" in names

    clone = nn.layer_from_config(model.get_config())
    with pytest.raises(AssertionError):
        np.testing.assert_array_equal(clone.forward(x, lengths=lengths), y)
    clone.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(clone.forward(x, lengths=lengths), y)

    model.astype(np.float32)
    y32 = model.forward(x.astype(np.float32), lengths=lengths)
    assert y32.dtype == np.float32 and rel_error(y32, y) < 1e-5


def test_parameter_accumulation_dense_and_sparse(rng):
    p = nn.Parameter(np.zeros((5, 2)))
    p.accumulate_rows(np.array([1, 3]), np.ones((2, 2)))
    p.accumulate_rows(np.array([0, 3]), np.full((2, 2), 2.0))
    assert p.is_sparse
    np.testing.assert_array_equal(p.rows, [0, 1, 3])
    np.testing.assert_array_equal(p.grad_rows[:, 0], [2, 1, 3])
    p.accumulate(np.ones((5, 2)))
    assert not p.is_sparse
    np.testing.assert_array_equal(p.grad[:, 1], [3, 2, 1, 4, 1])
    p.accumulate_rows(np.array([4]), np.ones((1, 2)))
    assert p.grad[4, 0] == 2
    p.zero_grad()
    assert not p.has_grad
    with pytest.raises(ValueError, match="grad"):
        p.accumulate(np.ones(3))
    with pytest.raises(TypeError, match="float32 or float64"):
        nn.Parameter(np.zeros(3, dtype=np.int64))


def test_bad_input_errors(rng):
    with pytest.raises(ValueError, match="activation"):
        nn.Dense(3, activation="gelu")
    with pytest.raises(ValueError, match="activation"):
        nn.Conv1d(3, 2, activation="tanh")
    with pytest.raises(ValueError, match="rate"):
        nn.Dropout(1.0)
    with pytest.raises(ValueError, match="cell"):
        nn.MultiScale(["1"], 3, cell="transformer")
    with pytest.raises(ValueError, match="units"):
        nn.MultiScale(["1", "4"], [3])
    with pytest.raises(ValueError, match="scale spec"):
        nn.MultiScale(["1x"], 3)
    with pytest.raises(ValueError, match="lags"):
        nn.CosineFeatures(lags=(0,))
    with pytest.raises(RuntimeError, match="before forward"):
        nn.Dense(2).build(3).backward(np.zeros((1, 2), np.float32))
    layer = nn.Dense(2).build(3, rng)
    with pytest.raises(ValueError, match="shape"):
        layer.load_state_dict({"weight": np.zeros((3, 3)), "bias": np.zeros(2)})
    with pytest.raises(ValueError, match="missing"):
        layer.load_state_dict({"weight": np.zeros((2, 3))})
    with pytest.raises(ValueError, match="build"):
        nn.Dense(2).load_state_dict({})
    with pytest.raises(TypeError, match="dtype"):
        layer.forward(np.zeros((2, 3)))  # float64 input into a float32 layer
    with pytest.raises(ValueError, match="unknown layer"):
        nn.layer_from_config({"class": "os.system"})
