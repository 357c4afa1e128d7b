"""The network of :class:`~chronoscale.models.MultiScaleRecommender` (forward, losses, backward).

Per event ``t`` of a user's history (ids ``[B, T]``, optional timestamps and side features)::

    e_t = E[item_t]                                         item embedding            [d]
    x_t = [e_t, cos(e_t, e_{t-1}), side_t]                  event input               [d + 1 + F]
    h_t = MultiScaleNext(x)_t                               per-scale states, closed through t
    u_t = W [h_t, x_t] + w0                                 fused user state          [d]
    m_t = mean_{tau <= t} e_tau / |e_tau|                   history direction          [d]
    score(t, v) = u_t . E_v + beta * m_t . E_v / |E_v| + b_v

``m_t . E_v / |E_v|`` is exactly the mean over the history of ``cos(E_v, e_tau)``: the
candidate-vs-history cosine, computed for every item at once as one more product with the
row-normalised table. So every score is ``z_t . F_v`` with ``z_t = [u_t, beta m_t, 1]`` and
``F = [E, E / |E|, b]`` (``[V, 2d + 1]``): GEMMs for the full softmax, one table for the
sampled softmax. The table ``E`` is tied between input and output. Gradients flow back through
both normalisations (NumPy glue per mini-batch; every kernel is native).

Dropout (``dropout > 0``, training only): inverted dropout on ``x`` (what the cells and the
fusion see) and on the fusion input ``[h_t, x_t]``; ``m_t`` and the cosine with the previous
event use the embeddings as they are. Masks come from the seed of :meth:`RecNet.set_seed`
(``train_loss`` sets it from its ``seed``), so the backward and a rerun use the same ones.

Cost (training, ``N`` scored events): only those ``N`` rows of ``[h_t, x_t]`` are gathered and
projected; the full softmax is one native call (``ops.full_softmax_loss``) that runs the rows in
cache-sized blocks (forward GEMM, cross-entropy, both backward GEMMs per block), so the
``[N, V]`` logits and their gradient never exist at once.
"""

from __future__ import annotations

import numpy as np

from .. import nn, ops
from ..nn import device as _device
from ..nn.layer import _as_rng
from ..nn.multiscale_next import MultiScaleNext
from ..nn.parameter import weights_version

_EPS = 1e-8  # the norm floor of the cosine kernels


def _normalize(x):
    """``(x / max(|x|, eps), |x|)`` over the last axis (one native call, ``ops.normalize_*``)."""
    y, norm = ops.normalize_forward(_device.contiguous(x).reshape(-1, x.shape[-1]), _EPS)
    return y.reshape(x.shape), norm.reshape(x.shape[:-1])


def _normalize_backward(dxhat, xhat, norm):
    """Gradient of :func:`_normalize` (the floor is a constant below ``eps``)."""
    d = xhat.shape[-1]
    dx = ops.normalize_backward(_device.contiguous(dxhat).reshape(-1, d),
                                _device.contiguous(xhat).reshape(-1, d),
                                _device.contiguous(norm).reshape(-1), _EPS)
    return dx.reshape(xhat.shape)


class _Events:
    """The events of a padded batch in a time-major packed layout: slot ``off[t] + rank[b]``
    holds event ``(b, t)``, the rows sorted by length (longest first), so the rows still going
    at step ``t`` are the first ``k[t]`` slots of block ``t`` (``k``: the ``batch_sizes`` of
    ``ops.packed_cumsum``). The history running sums then cost one add per event (not per padded
    slot), in one native call on the CPU or a GPU, adding in the same order as a dense ``cumsum``
    over time (the same results bit for bit)."""

    def __init__(self, lengths, T):
        L = np.asarray(lengths, dtype=np.int64)
        self.B, self.T = L.size, int(T)
        order = np.argsort(-L, kind="stable")
        self.rank = np.empty_like(order)
        self.rank[order] = np.arange(L.size)
        self.k = (L[order][None, :] > np.arange(T)[:, None]).sum(axis=1)  # [T] rows at step t
        self.off = np.concatenate([[0], np.cumsum(self.k)])
        self.size = int(self.off[-1])
        t_of = np.repeat(np.arange(T), self.k)
        self.b, self.t = order[np.arange(self.size) - self.off[t_of]], t_of  # slot -> (b, t)

    def index(self, b, t):
        """Slots of the events ``(b[n], t[n])``."""
        return self.off[t] + self.rank[b]

    def cumsum(self, x):
        """Running sums over each history: ``out[slot(b, t)] = sum_{tau <= t} x[slot(b, tau)]``
        for packed ``x [size, d]`` (host or device array)."""
        return ops.packed_cumsum(_device.contiguous(x), self.k)

    def rcumsum(self, g):
        """Reverse running sums: ``out[slot(b, t)] = sum_{tau >= t} g[slot(b, tau)]``."""
        return ops.packed_cumsum(_device.contiguous(g), self.k, reverse=True)


class RecNet(nn.Layer):
    """See the module docstring. ``n_features`` side channels per event (0: none)."""

    def __init__(self, num_items: int, dim: int, scales, units, cell: str, pool: str,
                 count_feature: bool, n_features: int = 0, dropout: float = 0.0):
        super().__init__()
        self.num_items, self.dim, self.n_features = int(num_items), int(dim), int(n_features)
        self.scales, self.cell, self.pool = [str(s) for s in scales], cell, pool
        self.units = units if np.isscalar(units) else [int(u) for u in units]
        self.count_feature = bool(count_feature)
        self.emb = self.add_child("emb", nn.Embedding(self.num_items, self.dim))
        self.cos = self.add_child("cos", nn.CosineFeatures((1,), eps=_EPS))
        self.ms = self.add_child("ms", MultiScaleNext(scales, units, cell=cell, pool=pool,
                                                      count_feature=count_feature))
        self.proj = self.add_child("proj", nn.Dense(self.dim))
        # Training only: on the event inputs x (cells and fusion) and on the fusion input [h, x].
        # In place: x and [h, x] are fresh arrays used only after their dropout, and so are
        # their gradients before it (no 88 MB copies per step at B=256, T=192).
        self.drop_x = self.add_child("drop_x", nn.Dropout(dropout, inplace=True))
        self.drop_f = self.add_child("drop_f", nn.Dropout(dropout, inplace=True))
        self._enc = None  # what backward_rows needs from forward_rows
        self._table = None  # (weights version, E, bias, table) of the scoring calls

    @property
    def dropout(self) -> float:
        """The rate of both dropout layers (set both at once; checked by the model)."""
        return self.drop_x.rate

    @dropout.setter
    def dropout(self, rate) -> None:
        self.drop_x.rate = self.drop_f.rate = float(rate)

    def build(self, in_features=None, rng=None, dtype=None):
        rng = _as_rng(rng)
        if dtype is not None:
            self.dtype = np.dtype(dtype)
        self._params.clear()
        x_dim = self.dim + 1 + self.n_features
        self.emb.build(None, rng, self.dtype)
        self.ms.build(x_dim, rng, self.dtype)
        self.proj.build(sum(self.ms.units) + x_dim, rng, self.dtype)
        # The fusion starts from the first scale alone: the other scales' columns of W start at
        # zero and grow with training, as zero-initialised residual branches do. (On ML-100K,
        # scales 1/4/16, 8 seeds: test NDCG@10 0.0717 -> 0.0786 on average, better at 7 of 8;
        # bench/ACCURACY.md.)
        u0 = self.ms.units[0]
        self.proj.weight.data[:, u0:sum(self.ms.units)] = 0
        self.beta = self.add_param("beta", (1,))
        self.item_bias = self.add_param("item_bias", (self.num_items, 1))
        self.in_features, self.built = x_dim, True
        return self

    @property
    def needs_timestamps(self) -> bool:
        return any(s.kind == "time" for s in self.ms._scales)

    # -- forward pieces --------------------------------------------------------------------
    def forward_rows(self, ids, lengths, b, t, timestamps=None, features=None, training=False):
        """``(u [N, d], m [N, d], z [N, 2d + 1])`` after the events ``(b[n], t[n])`` (``N >= 1``,
        ``t[n] < lengths[b[n]]``; causal: row n uses events ``0..t[n]`` of history ``b[n]``
        only). Only those rows are gathered and projected; keeps what :meth:`backward_rows`
        needs. ``training``: apply the dropout (masks from the seed of :meth:`set_seed`)."""
        dev = self.device
        # host ids also for a GPU table: checked on the host, uploaded without a wait
        e = self.emb.forward(np.ascontiguousarray(ids, dtype=np.int64), lengths=lengths)
        x = self.cos.forward(e, lengths=lengths)
        if self.n_features:
            x = _device.contiguous(_device.xp(x).concatenate(
                [x, _device.to_device(features, dev, x.dtype)], axis=-1))
        x = self.drop_x.forward(x, training)
        self.ms.run(x, lengths, timestamps if self.needs_timestamps else None)
        H = sum(self.ms.units)
        xp = _device.xp(x)
        B, T = e.shape[:2]
        ev = _Events(lengths if lengths is not None else np.full(B, T), T)
        # Row indices, copied to the device once per batch (one copy for all): the scored events
        # (b, t) in [B * T], every event in [B * T] (packed order), the scored events' packed
        # slots, and t (for the history lengths t + 1).
        pos, evpos, slots, t_dev = _device.to_device_many(
            [b * T + t, ev.b * T + ev.t, ev.index(b, t), t], dev)
        f = xp.empty((len(b), H + x.shape[2]), dtype=x.dtype)  # the fusion input [h, x]
        self.ms.gather(b, t, out=f)
        ops.gather_rows(x.reshape(B * T, -1), pos, f, col=H)
        u = self.proj.forward(self.drop_f.forward(f, training))
        ehat, enorm = _normalize(ops.gather_rows(e.reshape(B * T, -1), evpos))  # packed events
        steps = (t_dev + 1).astype(e.dtype)[:, None]
        mm = ops.gather_rows(ev.cumsum(ehat), slots) / steps
        d = self.dim
        z = xp.empty((len(b), 2 * d + 1), dtype=u.dtype)
        z[:, :d] = u
        np.multiply(mm, self.beta.data[0], out=z[:, d:2 * d])
        z[:, 2 * d] = 1
        self._enc = (b, t, mm, ehat, enorm, ev, (B, T), (pos, evpos, slots, steps))
        self._fusion_in = f
        return u, mm, z

    def fusion_inputs(self, ids, lengths, b, t, timestamps=None, features=None):
        """``(f [N, H + C], m [N, d])``: the fusion input ``[h^1..h^S, x_t]`` and the history
        mean of :meth:`forward_rows` for the rows ``(b[n], t[n])`` (for score attributions)."""
        _, mm, _ = self.forward_rows(ids, lengths, b, t, timestamps, features)
        return self._fusion_in, mm

    def table(self, cached: bool = False):
        """``(F [V, 2d + 1], E_hat, |E|)``: every item's scoring vector (see module doc).

        ``cached``: reuse the last table built with ``cached=True`` while the weights are the
        same (``nn.parameter.weights_version``: optimiser steps, ``load_state_dict``, assigning
        a parameter's data; after writing into a parameter's array in place, call
        ``nn.parameter.weights_changed()``), as the model's scoring calls do; do not write into
        the returned arrays. Training always builds a fresh table."""
        E, bias = self.emb.weight.data, self.item_bias.data
        c = self._table
        if cached and c is not None and c[0] == weights_version() and c[1] is E and c[2] is bias:
            return c[3]
        ehat, enorm = _normalize(E)
        out = _device.contiguous(np.concatenate([E, ehat, bias], axis=1)), ehat, enorm
        if cached:
            self._table = (weights_version(), E, bias, out)
        return out

    def last(self, ids, lengths, timestamps=None, features=None):
        """``(u, z)`` after each history's last event (``lengths >= 1``)."""
        b = np.arange(ids.shape[0])
        u, _, z = self.forward_rows(ids, lengths, b, np.asarray(lengths) - 1, timestamps,
                                    features)
        return u, z

    # -- training ------------------------------------------------------------------------------
    def train_loss(self, ids, lengths, timestamps=None, features=None, loss="full",
                   num_negatives=256, seed=0, log_q=None, precision="float32", _mark=None,
                   wait=True):
        """Next-item loss at every event that has a next one (event t predicts item t + 1);
        accumulates every parameter's gradient. Returns ``(mean loss, positions)``, or
        ``(None, 0)`` when no history has two events. ``precision``: of the full softmax's
        products (``ops.full_softmax_loss``). ``_mark``: called after the forward rows, the
        loss and the backward (the benchmarks time the phases with it). ``wait=False``: the
        full softmax's loss on a GPU comes back as a 0-d device array (``float()`` reads it),
        so the call queues the whole step without waiting for the device."""
        mark = _mark or (lambda: None)
        T = ids.shape[1]
        b, t = np.nonzero(np.arange(T)[None, :] < (np.asarray(lengths) - 1)[:, None])
        if b.size == 0:
            return None, 0
        target = np.ascontiguousarray(ids[b, t + 1], dtype=np.int64)
        if self.dropout:
            self.set_seed(seed)
        _, _, z = self.forward_rows(ids, lengths, b, t, timestamps, features, training=True)
        mark()
        F, ehat, enorm = self.table()
        d, W = self.dim, self.emb.weight
        if loss == "full":
            # The loss stays on the device until the backward is queued (no wait here).
            value, dz, dF = ops.full_softmax_loss(z, F, target, precision=precision,
                                                  loss_on_device=True)
            mark()
            dW = dF[:, :d] + _normalize_backward(dF[:, d:2 * d], ehat, enorm)
            self.item_bias.accumulate(dF[:, 2 * d:])
            self.backward_rows(dz, dW)
            W.take(dW)  # (a fresh array: kept without a copy when no gradient is pending)
        else:
            value, dz, rows, drows = ops.sampled_softmax_loss(z, F, target, num_negatives,
                                                              seed, log_q=log_q)
            mark()
            W.accumulate_rows(rows, drows[:, :d] + _normalize_backward(
                drows[:, d:2 * d], ehat[rows], enorm[rows]))
            self.item_bias.accumulate_rows(rows, drows[:, 2 * d:])
            self.backward_rows(dz)
        mark()
        return (float(value) if wait else value), int(b.size)

    def backward_rows(self, dz, dW=None):
        """Backward of :meth:`forward_rows` from ``dz [N, 2d + 1]`` (accumulates the gradients).
        ``dW``: a dense ``[V, d]`` gradient of the table that the embedding's rows are added to
        (the caller accumulates it); None: they go to the table as sparse rows."""
        b, t, mm, ehat, enorm, ev, (B, T), (pos, evpos, slots, steps) = self._enc
        d = self.dim
        beta = self.beta.data[0]
        xp = _device.xp(dz)
        self.beta.take(xp.sum(dz[:, d:2 * d] * mm).reshape(1))
        df = self.drop_f.backward(self.proj.backward(_device.contiguous(dz[:, :d])))  # [N, H+C]
        H = sum(self.ms.units)
        dx = _device.contiguous(self.ms.backward_rows(df, b, t))  # [B, T, C]
        ops.scatter_rows(df, pos, out=dx.reshape(B * T, -1), col=H)  # dx[pos] += df[:, H:]
        dx = self.drop_x.backward(dx)
        dm = xp.zeros((ev.size, d), dtype=dz.dtype)  # packed events
        dm[slots] = beta * dz[:, d:2 * d] / steps
        dehat = ev.rcumsum(dm)  # m_t is the mean over tau <= t
        de = _device.contiguous(self.cos.backward(dx[..., :d + 1]))
        ops.scatter_rows(_normalize_backward(dehat, ehat, enorm), evpos,
                         out=de.reshape(B * T, -1))  # de[evpos] += ...
        if dW is None:
            self.emb.backward(de)
        else:
            dW += ops.embedding_backward(de, self.emb._cache, sparse=False)
