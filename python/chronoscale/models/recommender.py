"""``MultiScaleRecommender``: next-item recommendation from per-user event sequences."""

from __future__ import annotations

import time

import numpy as np

from .. import _progress, io, nn, ops
from ..nn import device as _device
from ..nn.layer import mix_seed
from ..nn.training import History, _add_losses, _read_due, check_stopping
from ..ops._common import as_bool
from ..ops.dropout import check_rate
from ..ops.loss import _PRECISIONS
from . import _recdata as rd
from ._base import (
    BaseModel,
    check_hyper,
    check_int,
    check_seed,
    check_units,
    kept_on_error,
    warn_long_spans,
)
from ._recnet import RecNet, _normalize

_MONITORS = {"loss": "min", "val_loss": "min", "val_ndcg@10": "max", "val_hr@10": "max"}
# An inferred catalogue (num_items=None: max id + 1) may hold at most max(_INFER_FLOOR,
# _INFER_PER_EVENT * events) items, never more than _INFER_MAX: ids must be dense 0..V-1.
_INFER_FLOOR = 1 << 20
_INFER_PER_EVENT = 16
_INFER_MAX = 2**31 - 1


def _item_targets(targets, n: int, num_items: int, name: str = "targets"):
    """``targets [n]`` (or ``[n, 1]``) as int64 item ids in ``[0, num_items)``. Integer dtypes,
    or floats holding whole numbers (e.g. ids that went through pandas); never truncated.

    Raises:
        TypeError: not numeric (or bool). ValueError: shape, non-integral, outside the range.
    """
    t = np.asarray(_device.to_host(targets))
    if t.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold integer item ids, got dtype {t.dtype}")
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.shape != (n,):
        raise ValueError(f"{name} must have shape [{n}], got {list(t.shape)}")
    if t.dtype.kind == "f":
        whole = np.isfinite(t) & (t == np.floor(t))
        if not whole.all():
            raise ValueError(f"{name} must hold whole item ids, got {t[~whole][0].item()!r}")
    if n and (t.min() < 0 or t.max() >= num_items):
        raise ValueError(f"{name} must lie in [0, num_items={num_items}), got "
                         f"[{t.min()}, {t.max()}]")
    return np.ascontiguousarray(t, dtype=np.int64)


@io.register
class MultiScaleRecommender(BaseModel):
    """Multi-time-scale recurrent next-item recommender with tied item embeddings.

    Model (details in :mod:`chronoscale.models._recnet`): each event's input is its item
    embedding ``e_t = E[item]``, the cosine with the previous event's embedding and optional side
    features; one recurrent ``cell`` per scale (count windows ``"1"``, ``"4"``, ``"16"`` and/or
    wall-clock windows ``"1h"``, ``"1d"``, ``"7d"``) runs over the windows' pools. The **fused
    user state** is ``u_t = W [h^1_t, ..., h^S_t, x_t] + w0`` -- the per-scale states and the
    event's own input concatenated and projected to ``dim`` (chosen over softmax weights over
    scales: it learns any mix of scales per direction, and the event input lets the newest event
    count even when only coarse or wall-clock scales are listed). ``W`` starts from the first
    listed scale alone: the other scales' columns start at zero and grow with training (list
    the finest scale first). Scores over all items are

        ``score(v) = u . E_v + beta * mean_tau cos(E_v, e_tau) + b_v``

    with the output table tied to the input one, the mean candidate-vs-history cosine weighted
    by a learned ``beta`` and a per-item bias ``b``.

    Causality: the state after event ``t`` uses a scale's window only once it is closed after
    event ``t`` (a count window when its last event is ``<= t``; a wall-clock window when it
    ended at or before ``timestamps[t]``, never by looking at the next event's time), and the
    cosine features use events ``<= t`` only. Training predicts item ``t + 1`` from that state at
    every event ``t`` of every history, so no position sees later events.

    Streaming (served natively by a later issue): the per-user state is, per scale, the cell
    state ``(h[, c])`` after the last closed window, the open window's running pool and count (a
    count window also its position, a wall-clock window its index); plus the last event's
    embedding (for the consecutive cosine), the running sum of normalised embeddings and the
    event count (for the history cosine), and the seen items (for exclusion). One event costs
    O(1) per scale: a wall-clock scale first closes the windows that ended by the event's time
    (stepping its cell, with empty windows in between stepped as empty, capped), the event joins
    every open pool, a count window that reaches its size closes and steps its cell; then
    ``u`` is one projection and ``recommend`` one product with the table. Replaying a history
    one event at a time gives exactly the state :meth:`embed_users` computes for the whole
    history (the tests check that every training position equals the model run on its prefix).

    Cost: a count scale steps its cell ``T / size`` times per history; a wall-clock scale once
    per window between the history's first and last event, empty ones included, so pick windows
    that suit the data's time span (``"1h"`` over a year of history is 8,760 steps).

    Inputs (``histories`` everywhere): item ids ``[B, T]`` (integers in ``[0, num_items)``) with
    keyword ``lengths [B]`` (``1 <= len <= T``; None: all T), ``timestamps [B, T]`` int64
    seconds (sorted per history; required for wall-clock scales, else unused) and ``features
    [B, T, F]``; or a dict with keys ``items``, ``lengths``, ``timestamps``, ``features``; or a
    :class:`chronoscale.datasets.Interactions` log (its ``to_padded(max_len)``; ``value`` becomes
    the one side feature when ``use_values``; exclusion uses the user's whole log).

    Args:
        num_items: catalogue size V, an integer >= 1 (None: from the data at ``fit``; an
            Interactions log gives its ``num_items``, arrays ``max id + 1``, which may be at
            most ``max(2**20, 16 * events)`` and below ``2**31``, else ValueError: ids are
            dense ``0..V-1``; remap raw ids with :func:`chronoscale.data.from_columns` /
            :func:`~chronoscale.data.read_interactions`, or pass ``num_items``).
        dim: embedding and user-state size d. units: cell size per scale (int or list);
            ``num_items``, ``dim``, ``units``, ``max_len`` are integers >= 1 (floats are
            refused, never truncated).
        scales: scale specs (:meth:`chronoscale.ops.Scale.parse`). cell: "gru", "lstm", "rnn".
        pool: "mean", "max" or "sum" over a window's events. count_feature: append
            ``log1p(events in the window)`` to each pooled step.
        use_values: with an Interactions input, use its ``value`` column as a side feature.
        max_len: most recent events kept per user from an Interactions log (None: all).
        learning_rate, weight_decay, clipnorm: Adam (L2 ``weight_decay``; global-norm clipping).
        dropout: inverted-dropout rate in ``[0, 1)`` while training (identity when scoring) on
            each event's input ``x_t`` (before the cells and the fusion) and on the fusion
            input ``[h^1_t, ..., h^S_t, x_t]``; 0 (default) turns it off. Masks come from the
            training seed, so a seeded run is reproducible. Trained to convergence (early
            stopping), 0.5 lifted NDCG@10 by 0.004-0.011 on sparse Amazon logs, 0.007 on
            ML-100K and 0.047 on Yoochoose, but cost 0.046 in a 6-epoch Yoochoose run
            (bench/ACCURACY.md): it needs longer training.
        dtype: "float32" (default) or "float64". random_state: int seed >= 0 (or None) for
            initialisation, shuffling and negative sampling (same seed and data -> identical
            weights on the CPU).
        warm_start: True continues training the fitted weights at the next ``fit``.
        device: "cpu" (default) or "cuda": weights, optimiser state and the training and
            scoring passes on the GPU (CuPy arrays, CUDA kernels). Histories stay NumPy on the
            host; each mini-batch's ids are copied to the GPU, and results come back as NumPy.
    """

    def __init__(self, num_items=None, dim: int = 64, scales=("1", "4", "16"), cell: str = "gru",
                 units=64, pool: str = "mean", count_feature: bool = True,
                 use_values: bool = False, max_len: int = 200, learning_rate: float = 1e-3,
                 weight_decay: float = 0.0, clipnorm=5.0, dropout: float = 0.0,
                 dtype: str = "float32", random_state=None, warm_start: bool = False,
                 device: str = "cpu"):
        self.num_items = num_items
        self.dim = dim
        self.scales = scales
        self.cell = cell
        self.units = units
        self.pool = pool
        self.count_feature = count_feature
        self.use_values = use_values
        self.max_len = max_len
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.dropout = dropout
        self.dtype = dtype
        self.random_state = random_state
        self.warm_start = warm_start
        self.device = device

    # -- network -------------------------------------------------------------------------------
    def _meta(self) -> dict:
        return {"num_items": self.num_items_, "n_features": self.n_features_in_}

    def _check_params(self):
        """The integer hyper-parameters (TypeError / ValueError naming them); checked units."""
        if self.num_items is not None:
            check_int(self.num_items, "num_items")
        check_int(self.dim, "dim")
        if self.max_len is not None:
            check_int(self.max_len, "max_len")
        check_seed(self.random_state)
        check_rate(self.dropout, "dropout")
        check_hyper(self)
        return check_units(self.units)

    def _build(self, meta, rng) -> None:
        units = self._check_params()
        V, nf = meta["num_items"], meta["n_features"]
        if type(V) is not int or V < 1 or type(nf) is not int or nf < 0:
            raise ValueError(f"num_items must be a positive integer and n_features >= 0, got "
                             f"{V!r}, {nf!r}")
        scales = [self.scales] if isinstance(self.scales, str) else list(self.scales)
        self._net = RecNet(V, int(self.dim), scales, units, self.cell, self.pool,
                           bool(self.count_feature), nf, float(self.dropout)
                           ).build(None, rng, self.dtype)
        self._place()
        self.num_items_, self.n_features_in_ = V, nf
        self.optimizer_ = None

    @property
    def net(self) -> RecNet:
        self._check_fitted()
        return self._net

    def _read(self, X, lengths, timestamps, features):
        data = rd.read_histories(X, lengths, timestamps, features, max_len=self.max_len,
                                 use_values=self.use_values)
        if self._net is not None:
            self._check_data(data)
        return data

    def _check_data(self, data):
        net = self._net
        # "seen" holds the ids at valid positions (and a log's events before max_len too)
        top = int(data["seen"][1].max(initial=0))
        if top >= net.num_items:
            raise ValueError(f"items: ids must be < num_items = {net.num_items}, got {top}")
        f = data["features"]
        nf = 0 if f is None else f.shape[2]
        if nf != net.n_features:
            raise ValueError(f"features: the model has {net.n_features} side features, got {nf}")
        big = max(f.max(), -f.min()) if nf and np.dtype(net.dtype) != np.float64 else 0.0
        if big > np.finfo(net.dtype).max:  # (features are float64 here)
            raise ValueError(f"features: values up to {big:.3g} overflow the model's "
                             f"{np.dtype(net.dtype).name}")
        if net.needs_timestamps and data["timestamps"] is None:
            raise ValueError("timestamps are required: a scale is a wall-clock window")
        warn_long_spans(data["timestamps"], data["lengths"], net.ms._scales, "histories")
        if net.needs_timestamps and data.get("synthetic_time"):
            raise ValueError("histories: this Interactions log has no timestamps (its times are "
                             "event positions, synthetic_time=True), so wall-clock scales such "
                             "as '1h' cannot use it; build the log with timestamps or use count "
                             "scales")

    def _batches(self, data, batch_size, progress=False, desc=""):
        """``(idx, batch)`` per slice of ``batch_size`` histories; ``progress`` (None / True /
        False, see ``_progress.bar``): a bar over the histories named ``desc``."""
        n = len(data["lengths"])
        with _progress.bar(n, progress, desc, "history", batch_size) as bar:
            for i in range(0, n, batch_size):
                idx = np.arange(i, min(i + batch_size, n))
                yield idx, rd.take(data, idx, self._net.dtype)
                bar.update(len(idx))

    # -- training ------------------------------------------------------------------------------
    def fit(self, sequences, epochs: int = 10, batch_size: int = 64, *, lengths=None,
            timestamps=None, features=None, loss: str = "full", num_negatives: int = 256,
            validation_data=None, monitor=None, patience=None, min_delta: float = 0.0,
            restore_best: bool = True, verbose: int = 1, seed=None,
            softmax_precision: str = "float32"):
        """Train next-item prediction at every event of every history.

        Event ``t`` predicts item ``t + 1`` (histories with one event add no target). ``loss``:
        "full" -- softmax cross-entropy over all items (small catalogues; a ``[positions, V]``
        logits block per batch); "sampled" -- sampled softmax with ``num_negatives`` negatives
        per batch drawn from ``q ~ count + 1`` (item popularity in ``sequences``) with the log-Q
        correction (large catalogues: work and memory ``O(positions * num_negatives + V d)``).

        ``validation_data``: ``(histories, targets [N])`` or histories alone (their last event
        is the target); evaluated after every epoch (``val_loss`` full cross-entropy,
        ``val_ndcg@10``, ``val_hr@10``; full ranking, seen items excluded). ``monitor`` (default
        "val_ndcg@10" with validation data, else "loss") drives ``patience`` early stopping and
        ``restore_best``; with few validation targets (about a thousand) NDCG@10 is noisy
        enough to stop training early, and "val_loss" is the steadier choice (bench/ACCURACY.md:
        ML-100K). ``verbose``: 0 silent, 1 tqdm bar, 2 a line per epoch. ``seed``
        (default ``random_state``) fixes shuffling and negatives. ``softmax_precision``:
        "bfloat16" runs the full softmax's three GEMMs on bfloat16 copies with float32
        accumulation, "tfloat32" on the float32 operands rounded to TF32, "tf32x3" as three
        TF32 products of TF32 pairs (float32-accurate)
        (``ops.full_softmax_loss(precision=...)``; ``device="cuda"``, float32, ``loss="full"``
        only): the GEMM-bound part of a GPU step on tensor cores. Returns self (``history_``).

        Raises:
            TypeError: a non-integer ``epochs``, ``batch_size``, ``num_negatives``, ``seed`` or
                integer hyper-parameter (floats are refused, never truncated); non-integer
                validation targets.
            ValueError: bad inputs (see the class docstring), an unknown ``loss`` / ``monitor``,
                ``epochs``, ``batch_size`` or ``num_negatives`` < 1, a negative seed, an
                inferred catalogue too large for dense ids (see ``num_items``), validation
                targets not ``[N]`` in ``[0, num_items)``, no history with 2 events.
            RuntimeError: ``device="cuda"`` on a build without CUDA or without a GPU.
        """
        if loss not in ("full", "sampled"):
            raise ValueError(f"loss must be 'full' or 'sampled', got {loss!r}")
        if softmax_precision not in _PRECISIONS:
            raise ValueError(f"softmax_precision must be one of {_PRECISIONS}, "
                             f"got {softmax_precision!r}")
        if softmax_precision != "float32" and (self.device != "cuda" or loss != "full"
                                               or np.dtype(self.dtype) != np.float32):
            raise ValueError(f"softmax_precision={softmax_precision!r} needs device='cuda', "
                             "dtype='float32' and loss='full'")
        epochs, batch_size = check_int(epochs, "epochs"), check_int(batch_size, "batch_size")
        num_negatives = check_int(num_negatives, "num_negatives")
        seed = check_seed(seed, "seed")
        patience, min_delta, restore_best, verbose = check_stopping(patience, min_delta,
                                                                    restore_best, verbose)
        self._check_params()
        monitor = monitor or ("val_ndcg@10" if validation_data is not None else "loss")
        if monitor not in _MONITORS or (monitor.startswith("val_") and validation_data is None):
            raise ValueError(f"monitor must be one of {sorted(_MONITORS)} (val_* need "
                             f"validation_data), got {monitor!r}")
        data = rd.read_histories(sequences, lengths, timestamps, features,
                                 max_len=self.max_len, use_values=self.use_values,
                                 drop_empty=True)
        with kept_on_error(self):  # a refused fit leaves a fitted model as it was
            if not (self.warm_start and self._net is not None):
                V = self.num_items or data["num_items"] or self._infer_num_items(data)
                nf = 0 if data["features"] is None else int(data["features"].shape[2])
                self._build({"num_items": int(V), "n_features": nf},
                            np.random.default_rng(self.random_state))
                self._check_data(data)  # (before the bias: its bincount needs ids < V)
                counts = np.bincount(data["seen"][1], minlength=int(V)) + 1.0
                bias = self._net.item_bias.data
                bias[:, 0] = _device.to_device(np.log(counts / counts.sum()), self._net.device,
                                               bias.dtype)
            else:
                self._check_data(data)
            if loss == "sampled" and num_negatives > self._net.num_items:
                raise ValueError(f"num_negatives must be <= num_items = {self._net.num_items}, "
                                 f"got {num_negatives} (for a catalogue this small use "
                                 "loss='full')")
            if not (data["lengths"] > 1).any():
                raise ValueError("sequences: no history has two events (nothing to predict)")
            val = self._validation(validation_data)
        net = self._net
        net.dropout = self.dropout  # warm starts too
        log_q = None
        if loss == "sampled":
            counts = np.bincount(data["seen"][1], minlength=net.num_items)
            log_q = np.log(counts + 1.0).astype(net.dtype)
        if self.optimizer_ is None:
            self.optimizer_ = nn.Adam(net.parameters(), lr=self.learning_rate,
                                      weight_decay=self.weight_decay, clipnorm=self.clipnorm)
        seed = self.random_state if seed is None else seed
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        self.history_ = self._train(data, val, epochs, batch_size, loss, num_negatives, log_q,
                                    monitor, patience, min_delta, restore_best, verbose,
                                    int(seed), softmax_precision)
        return self

    @staticmethod
    def _infer_num_items(data) -> int:
        """``max id + 1`` of arrays without ``num_items``, refused when it is too large for a
        dense catalogue (each item gets a ``dim``-row of the table and of Adam's state)."""
        items = data["seen"][1]
        V = int(items.max()) + 1
        bound = min(max(_INFER_FLOOR, _INFER_PER_EVENT * len(items)), _INFER_MAX)
        if V > bound:
            raise ValueError(
                f"items: the largest id is {V - 1}, so num_items=None would infer a catalogue "
                f"of {V} items for {len(items)} events (at most {bound}): item ids must be "
                "dense 0..V-1. Remap raw ids, e.g. with chronoscale.data.from_columns(user, "
                "item, timestamp) (its Interactions log can be passed to fit), or pass "
                "num_items explicitly")
        return V

    def _validation(self, validation_data):
        if validation_data is None:
            return None
        if isinstance(validation_data, tuple) and len(validation_data) != 2:
            raise ValueError(f"validation_data must be histories or a (histories, targets) "
                             f"pair, got a tuple of {len(validation_data)}")
        if isinstance(validation_data, tuple):
            hist, targets = validation_data
            data = self._read(hist, None, None, None)
            return data, _item_targets(targets, len(data["lengths"]), self._net.num_items,
                                       "validation_data targets")
        data = self._read(validation_data, None, None, None)
        L = data["lengths"]
        if L.min() < 2:
            raise ValueError("validation_data: every history needs 2 events (the last is the "
                             "target)")
        targets = data["ids"][np.arange(len(L)), L - 1].copy()
        data["lengths"] = L - 1
        data["seen"] = rd._seen_from_padded(data["ids"], data["lengths"])
        return data, targets

    def _train(self, data, val, epochs, batch_size, loss, num_negatives, log_q, monitor,
               patience, min_delta, restore_best, verbose, seed,
               softmax_precision="float32") -> History:
        from tqdm.auto import tqdm

        net, opt, n = self._net, self.optimizer_, len(data["lengths"])
        hist, best_weights, wait = History(), None, 0
        n_batches = (n + batch_size - 1) // batch_size
        for epoch in range(1, epochs + 1):
            order = np.random.default_rng([seed, epoch]).permutation(n)
            bar = tqdm(total=n_batches, desc=f"Epoch {epoch}/{epochs}", unit="batch",
                       disable=verbose != 1)
            t0, total, positions = time.perf_counter(), 0.0, 0
            # On a GPU the batches' losses stay on the device (no wait per step: the host
            # queues the next batch while the device works) and are read for the progress bar
            # at most twice a second, after at most _MAX_PENDING batches and at the end of the
            # epoch, in one copy each time; they are added one by one in batch order, so the
            # epoch's loss does not depend on when they were read.
            pending, read_at = [], t0
            for i in range(n_batches):
                batch = rd.take(data, order[i * batch_size:(i + 1) * batch_size], net.dtype)
                opt.zero_grad()
                value, count = net.train_loss(batch["ids"], batch["lengths"],
                                              batch["timestamps"], batch["features"], loss,
                                              num_negatives, mix_seed(seed, epoch, i), log_q,
                                              softmax_precision, wait=False)
                if count:
                    opt.step()
                    pending.append((value, count))
                    positions += count
                now = time.perf_counter()
                if _read_due(pending, i, n_batches, verbose, now, read_at):
                    total = _add_losses(total, *zip(*pending))
                    pending, read_at = [], now
                    bar.set_postfix({"loss": f"{total / max(positions, 1):.4g}"}, refresh=False)
                bar.update(1)
            row = {"epoch": epoch, "loss": total / max(positions, 1),
                   "seqs_per_s": n / max(time.perf_counter() - t0, 1e-9)}
            if val is not None:
                row.update({f"val_{k}": v for k, v in self._evaluate(*val).items()})
            for k, v in row.items():
                hist.setdefault(k, []).append(v if k == "epoch" else float(v))
            bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k != "epoch"})
            bar.close()
            if verbose == 2:
                print(f"Epoch {epoch}/{epochs} " + " ".join(
                    f"{k}={v:.4g}" for k, v in row.items() if k != "epoch"), flush=True)
            value = row[monitor]
            better = _MONITORS[monitor] == "max"
            if hist.best is None or (value > hist.best + min_delta if better
                                     else value < hist.best - min_delta):
                hist.best, hist.best_epoch, wait = float(value), epoch, 0
                if patience is not None and restore_best:
                    best_weights = {k: v.copy() for k, v in net.state_dict().items()}
            else:
                wait += 1
            if patience is not None and wait >= patience:
                hist.stopped_epoch = epoch
                break
        if best_weights is not None:
            net.load_state_dict(best_weights)
        return hist

    # -- inference -----------------------------------------------------------------------------
    def _user_states(self, data, batch_size, progress=False, desc=""):
        """Per batch: ``(idx, u [n, d], z [n, 2d + 1])`` after each history's last event."""
        for idx, b in self._batches(data, batch_size, progress, desc):
            u, z = self._net.last(b["ids"], b["lengths"], b["timestamps"], b["features"])
            yield idx, u, z

    def _all_scores(self, z, F, data, idx, exclude_seen):
        """Scores ``[n, V]`` over the catalogue, on ``z``'s device (seen items ``-inf``)."""
        scores = ops.linear_forward(z, F)[0]
        if exclude_seen:
            rows, items = rd.seen_pairs(data, idx)
            if _device.is_device_array(scores):
                dev = _device.device_of(scores)
                rows, items = _device.to_device_many([rows, items], dev)  # one copy
            scores[rows, items] = -np.inf
        return scores

    @staticmethod
    def _top_k(scores, k):
        """``(ids [n, k], scores [n, k])`` on the host, best first, ties by item id (ops.top_k on
        the scores' device: only the top ``k`` come back from a GPU)."""
        ids, vals = ops.top_k(scores, k)
        return _device.to_host(ids), _device.to_host(vals)

    def recommend(self, histories, k: int = 10, exclude_seen: bool = True, *, lengths=None,
                  timestamps=None, features=None, exclude=None, batch_size: int = 256,
                  progress=None):
        """Top-``k`` items for each history, by score over the whole catalogue.

        Returns ``(item_ids [N, k] int64, scores [N, k])``, best first (ties by item id);
        with ``exclude_seen`` the items of the history score ``-inf`` (they come last, only
        when fewer than ``k`` items remain). ``k`` is capped at ``num_items``. For an
        Interactions log the history is the whole log of the user, also the events before the
        ``max_len`` most recent ones that are scored.

        ``exclude``: further items to leave out, one sequence of item ids per history (e.g.
        items bought before the history starts, or out of stock); they score ``-inf`` like
        seen ones, with or without ``exclude_seen``.

        The items' scoring table (the embeddings, their unit rows and the biases side by side)
        is built once and reused by later calls (``recommend``, ``evaluate``,
        ``position_scores``) until the weights change: ``fit``, ``load``, any optimiser step or
        ``load_state_dict`` on ``net`` (after writing into a parameter's array in place, call
        ``nn.parameter.weights_changed()``).

        ``progress``: a bar over the histories (None: once the call has run 2 s; True /
        False); likewise in :meth:`score`, :meth:`explain` and :meth:`embed_users`.

        Raises:
            RuntimeError: not fitted. TypeError: a non-integer ``k`` or ``batch_size``, an
                ``exclude_seen`` or ``progress`` other than True / False (None for
                ``progress``).
            ValueError: ``k`` or ``batch_size`` < 1, bad histories, an ``exclude`` without
                one list per history or with ids outside ``[0, num_items)`` (TypeError: not
                integer ids).
        """
        self._check_fitted()
        k, batch_size = check_int(k, "k"), check_int(batch_size, "batch_size")
        exclude_seen = as_bool(exclude_seen, "exclude_seen")
        progress = _progress.check(progress)
        data = self._read(histories, lengths, timestamps, features)
        if exclude is not None:
            extra = rd.exclusion_lists(exclude, len(data["lengths"]), self._net.num_items)
            data = {**data, "seen": (rd.merge_lists(data["seen"], extra) if exclude_seen
                                     else extra)}
            exclude_seen = True
        F = self._net.table(cached=True)[0]
        k = min(k, self._net.num_items)
        out_ids, out_scores = [], []
        for idx, _, z in self._user_states(data, batch_size, progress, "recommend"):
            top, vals = self._top_k(self._all_scores(z, F, data, idx, exclude_seen), k)
            out_ids.append(top)
            out_scores.append(vals)
        return np.concatenate(out_ids), np.concatenate(out_scores)

    def score(self, histories, candidates=None, *, lengths=None, timestamps=None,
              features=None, batch_size: int = 256, progress=None):
        """Scores of items after each of the ``N`` histories, the values :meth:`recommend`
        ranks (``u . E_c + beta * mean cos(E_c, history) + b_c``), of the model's dtype:

        - ``candidates [N, C]`` (``[N]``: one per history): ``[N, C]``, row ``n`` scoring
          ``candidates[n]`` (sampled-ranking evaluation, re-ranking a shortlist);
        - ``candidates=None``: every item, ``[N, num_items]`` (full-ranking evaluation, custom
          filters; ``N * num_items`` values, so score a large set of users in slices). Seen items
          are not excluded here: set them to ``-inf`` before ranking if they must not come back.

        Raises:
            RuntimeError: not fitted. TypeError: non-integer candidates. ValueError: candidates
                not ``[N, C]`` or outside ``[0, num_items)``, bad histories.
        """
        self._check_fitted()
        batch_size = check_int(batch_size, "batch_size")
        progress = _progress.check(progress)
        data = self._read(histories, lengths, timestamps, features)
        if candidates is None:  # filled batch by batch: one [N, V] array at the peak
            F = self._net.table(cached=True)[0]
            out = np.empty((len(data["lengths"]), self._net.num_items), np.dtype(self._net.dtype))
            for idx, _, z in self._user_states(data, batch_size, progress, "score"):
                out[idx] = _device.to_host(ops.linear_forward(z, F)[0])
            return out
        cand = np.asarray(candidates)
        if cand.dtype.kind not in "iu":
            raise TypeError(f"candidates must hold integer item ids, got dtype {cand.dtype}")
        if cand.ndim == 1:
            cand = cand[:, None]
        if cand.ndim != 2 or cand.shape[0] != len(data["lengths"]):
            raise ValueError(f"candidates must have shape [N={len(data['lengths'])}, C], got "
                             f"{cand.shape}")
        if cand.size and (cand.min() < 0 or cand.max() >= self._net.num_items):
            raise ValueError(f"candidates must lie in [0, {self._net.num_items})")
        E, b = self._net.emb.weight.data, self._net.item_bias.data[:, 0]
        d, out = self._net.dim, []
        for idx, _, z in self._user_states(data, batch_size, progress, "score"):
            c = cand[idx]
            Ec = E[c]
            out.append(_device.to_host(
                np.einsum("nd,ncd->nc", z[:, :d], Ec)
                + np.einsum("nd,ncd->nc", z[:, d:2 * d], _normalize(Ec)[0]) + b[c]))
        return np.concatenate(out)

    def explain(self, histories, items, *, lengths=None, timestamps=None, features=None,
                batch_size: int = 256, progress=None):
        """Split each history's score of one item into additive parts, float64 on the host:
        one per scale (its state's share of the fused user state, ``(W_s h_s) . E_v``), the
        newest event's own input (``(W_x x_t) . E_v``), and the rest (the projection's bias,
        the history-cosine term and the item's bias).

        ``items``: ``[N]`` (or ``[N, 1]``) item ids, one per history (e.g. the held-out next
        item); integers, or floats holding whole numbers.
        Returns ``(parts [N, S + 2], names)``; each row sums to :meth:`score` of that item
        (within float rounding of the model's dtype).

        Raises:
            RuntimeError: not fitted. TypeError: non-numeric ``items``. ValueError: ``items``
                not ``[N]`` / ``[N, 1]``, not whole or outside ``[0, num_items)``; bad histories.
        """
        self._check_fitted()
        batch_size = check_int(batch_size, "batch_size")
        progress = _progress.check(progress)
        data = self._read(histories, lengths, timestamps, features)
        items = _item_targets(items, len(data["lengths"]), self._net.num_items, "items")
        net, host = self._net, _device.to_host
        W = host(net.proj.weight.data).astype(np.float64)
        bias = (host(net.proj.bias.data).astype(np.float64) if net.proj.bias is not None
                else 0.0)
        beta, E_all = float(host(net.beta.data)[0]), host(net.emb.weight.data)
        item_bias = host(net.item_bias.data)[:, 0].astype(np.float64)
        edges = np.concatenate([[0], np.cumsum(net.ms.units)]).astype(int)
        out = np.empty((len(items), len(edges) + 1))
        for idx, b in self._batches(data, batch_size, progress, "explain"):
            r, t = np.arange(len(idx)), b["lengths"] - 1
            f, m = net.fusion_inputs(b["ids"], b["lengths"], r, t, b["timestamps"],
                                     b["features"])
            f, m = host(f).astype(np.float64), host(m).astype(np.float64)
            v = items[idx]
            E = E_all[v].astype(np.float64)
            cuts = [*zip(edges, edges[1:]), (edges[-1], f.shape[1])]  # scales, newest event
            for j, (lo, hi) in enumerate(cuts):
                out[idx, j] = ((f[:, lo:hi] @ W[:, lo:hi].T) * E).sum(1)
            ehat = _normalize(E)[0]  # the unit rows the model scores with (its norm floor)
            out[idx, -1] = (E * bias).sum(1) + beta * (m * ehat).sum(1) + item_bias[v]
        names = [f"scale {s}" for s in net.scales] + ["newest event", "bias + history cosine"]
        return out, names

    def embed_users(self, histories, *, lengths=None, timestamps=None, features=None,
                    batch_size: int = 256, progress=None):
        """Fused user states ``u [N, d]`` after each history's last event (the scores are
        ``u . E^T`` plus the history-cosine and bias terms, see :meth:`score`)."""
        self._check_fitted()
        batch_size = check_int(batch_size, "batch_size")
        progress = _progress.check(progress)
        data = self._read(histories, lengths, timestamps, features)
        return np.concatenate([_device.to_host(u) for _, u, _ in
                               self._user_states(data, batch_size, progress, "embed_users")])

    def position_scores(self, histories, *, lengths=None, timestamps=None, features=None):
        """Scores ``[B, T, V]`` of every item after every event (row ``t`` is what the model
        predicts for event ``t + 1``; zeros past the lengths). For analysis and tests on small
        catalogues: it allocates the whole block."""
        self._check_fitted()
        data = self._read(histories, lengths, timestamps, features)
        b = rd.take(data, np.arange(len(data["lengths"])), self._net.dtype)
        B, T = b["ids"].shape
        rows, cols = np.nonzero(np.arange(T)[None, :] < b["lengths"][:, None])
        z = self._net.forward_rows(b["ids"], b["lengths"], rows, cols, b["timestamps"],
                                   b["features"])[2]
        out = np.zeros((B, data["ids"].shape[1], self._net.num_items), dtype=z.dtype)
        out[rows, cols] = _device.to_host(ops.linear_forward(z, self._net.table(cached=True)[0])[0])
        return out

    def evaluate(self, histories, targets, k: int = 10, exclude_seen: bool = True, *,
                 lengths=None, timestamps=None, features=None, batch_size: int = 256) -> dict:
        """Next-item metrics with full ranking: ``{"loss": cross-entropy, "ndcg@k", "hr@k"}``
        for ``targets [N]`` (a target among the excluded history items counts as a miss).

        ``targets``: item ids in ``[0, num_items)``, an integer array (floats only when they
        hold whole numbers; never truncated), shape ``[N]`` or ``[N, 1]``.

        Raises:
            RuntimeError: not fitted. TypeError: non-numeric ``targets``, a non-integer ``k``
                or ``batch_size``. ValueError: ``targets`` of another shape, non-integral or
                outside ``[0, num_items)``; ``k`` or ``batch_size`` < 1; bad histories.
        """
        self._check_fitted()
        k, batch_size = check_int(k, "k"), check_int(batch_size, "batch_size")
        exclude_seen = as_bool(exclude_seen, "exclude_seen")
        data = self._read(histories, lengths, timestamps, features)
        targets = _item_targets(targets, len(data["lengths"]), self._net.num_items)
        return self._evaluate(data, targets, k, exclude_seen, batch_size)

    def _evaluate(self, data, targets, k=10, exclude_seen=True, batch_size=256) -> dict:
        F = self._net.table(cached=True)[0]
        ranks, nll = [], 0.0
        for idx, _, z in self._user_states(data, batch_size):
            scores = _device.to_host(ops.linear_forward(z, F)[0]).astype(np.float64)
            t = targets[idx]
            mx = scores.max(axis=1)
            lse = mx + np.log(np.exp(scores - mx[:, None]).sum(axis=1))
            nll += float((lse - scores[np.arange(len(idx)), t]).sum())
            if exclude_seen:
                rows, items = rd.seen_pairs(data, idx)
                scores[rows, items] = -np.inf
            ranks.append(rd.target_ranks(scores, t))
        ranks = np.concatenate(ranks)
        return {"loss": nll / len(targets), f"ndcg@{k}": rd.ndcg_at_k(ranks, k),
                f"hr@{k}": rd.hit_rate_at_k(ranks, k)}
