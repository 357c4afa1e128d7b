"""The next-item recommendation task behind ``chronoscale train/evaluate/recommend``: splits,
the multi-scale recommender, the baselines and full-ranking evaluation.

Protocols (``[split] protocol``):

* ``leave-one-out`` (default): per user the last event is the test target, the one before the
  validation target (SASRec / S3-Rec). History items are removed from the ranking (never the
  target).
* ``temporal``: a global cut at the ``quantile`` of all timestamps; ``targets = "first"`` (each
  user's first event after the cut) or ``"all"``; with ``valid_quantile`` the window between the
  two cuts gives the validation targets and training ends at it (models and baselines alike).
* ``session``: a separate test file (``[data] test_path``, e.g. session-rec's ``_test``) in the
  training file's item space (unknown items dropped); every event of a test session with at
  least ``min_history`` earlier events is a target, its history the session prefix. History
  items are not removed (repeat clicks count), as in session-rec's Recall@20 / MRR@20.

Histories given to any model are the target's earlier events only (most recent ``max_len``).
"""

from __future__ import annotations

import numpy as np

from ..baselines import LastItemTransition, MostPopular
from ..data import (
    EvalTargets,
    align_items,
    leave_one_out,
    next_event_targets,
    padded_histories,
    temporal_split,
)
from ..metrics import evaluate_recommender

PROTOCOLS = ("leave-one-out", "temporal", "session")


def recommender_class():
    """``chronoscale.models.MultiScaleRecommender``, or None in a build without it."""
    from .. import models

    return getattr(models, "MultiScaleRecommender", None)


def protocol(cfg: dict, test_log=None) -> str:
    """``split.protocol``, or its default: session with a test file, else leave-one-out."""
    p = cfg["split"]["protocol"]
    if p is None:
        p = "session" if test_log is not None else "leave-one-out"
    if p not in PROTOCOLS:
        raise ValueError(f"split.protocol must be one of {PROTOCOLS}, got {p!r}")
    return p


def split(cfg: dict, x, test_log=None):
    """``(train Interactions, valid EvalTargets, test EvalTargets, label dict)``."""
    s = cfg["split"]
    protocol_ = protocol(cfg, test_log)
    if protocol_ == "session":
        if test_log is None:
            raise ValueError("split.protocol 'session' needs data.test_path (the test sessions)")
        aligned = align_items(test_log, x)
        test = next_event_targets(aligned, min_history=s["min_history"])
        valid = EvalTargets(x, np.zeros(0, np.int64), "valid")
        label = {"protocol": "session", "test_sessions": int(aligned.num_users),
                 "unknown_items_dropped": int(aligned.meta.get("unknown_items_dropped", 0)),
                 "min_history": s["min_history"], "train_events": len(x),
                 "test_targets": len(test)}
        train = x
    elif protocol_ == "leave-one-out":
        sp = leave_one_out(x, short_users=s["short_users"])
        train, valid, test, label = sp.train, sp.valid, sp.test, sp.label()
    else:
        sp = temporal_split(x, quantile=s["quantile"], valid_quantile=s["valid_quantile"],
                            targets=s["targets"], min_history=s["min_history"])
        train, valid, test, label = sp.train, sp.valid, sp.test, sp.label()
    if s["max_test"] is not None and len(test) > s["max_test"]:
        keep = np.sort(np.random.default_rng(cfg["seed"]).choice(len(test), s["max_test"],
                                                                 replace=False))
        test = test.take(keep)
        label["test_targets_sampled"] = int(s["max_test"])
    return train, valid, test, label


def exclude_history(cfg: dict, label: dict) -> bool:
    e = cfg["eval"]["exclude_history"]
    return (label["protocol"] != "session") if e is None else bool(e)


def ks(cfg: dict) -> list[int]:
    k = cfg["eval"]["k"]
    return [10, 20] if k is None else ([k] if isinstance(k, int) else list(k))


def train_histories(train, max_len: int, use_time: bool) -> dict:
    """Every training user with an event, as padded histories (a dict the model accepts)."""
    users = np.flatnonzero(train.counts > 0)
    b = padded_histories(train, users, max_len)
    d = {"items": b.items, "lengths": b.lengths}
    if use_time:
        d["timestamps"] = b.timestamps
    return d


def target_histories(targets: EvalTargets, max_len: int, use_time: bool) -> dict:
    b = targets.histories(max_len)
    d = {"items": b.items, "lengths": b.lengths}
    if use_time:
        d["timestamps"] = b.timestamps
    return d


def make_model(cfg: dict, num_items: int, synthetic_time: bool):
    cls = recommender_class()
    if cls is None:
        raise RuntimeError("MultiScaleRecommender is not in this build of chronoscale")
    m = cfg["model"]
    scales = m["scales"] if m["scales"] is not None else ["1", "4", "16"]
    scales = [scales] if isinstance(scales, str) else [str(s) for s in scales]
    if synthetic_time and any(is_time_scale(s) for s in scales):
        raise ValueError(f"the data has no timestamps (order only): use count scales, got "
                         f"{scales}")
    opt = {k: m[k] for k in ("count_feature", "weight_decay", "clipnorm", "dropout")
           if m[k] is not None}
    cell = "gru" if m["cell"] is None else m["cell"]
    lr = 1e-3 if m["learning_rate"] is None else m["learning_rate"]
    return cls(num_items=int(num_items), dim=m["dim"], scales=scales, cell=cell,
               units=m["units"], pool=m["pool"], max_len=m["max_len"],
               learning_rate=lr, random_state=cfg["seed"], **opt)


def uses_time(model) -> bool:
    scales = model.scales if not isinstance(model.scales, str) else [model.scales]
    return any(is_time_scale(s) for s in scales)


def is_time_scale(spec) -> bool:
    """Whether a scale spec is a wall-clock window ("1h"; not "4" or "16/4"). A spec that is
    neither counts as time here; the model's own parse reports it."""
    from ..ops import Scale

    try:
        return Scale.parse(spec).kind == "time"
    except ValueError:
        return True


def fit_model(model, cfg, train, valid, verbose: int = 1):
    m = cfg["model"]
    use_time = uses_time(model)
    data = train_histories(train, m["max_len"], use_time)
    val = None
    if len(valid):
        vq = valid
        cap = cfg["eval"]["max_queries"]
        cap = 5000 if cap is None else cap
        if len(vq) > cap:
            vq = vq.take(np.sort(np.random.default_rng(cfg["seed"] + 1).choice(
                len(vq), cap, replace=False)))
        vh = target_histories(vq, m["max_len"], use_time)
        ok = vh["lengths"] >= 1
        if ok.any():
            val = ({k: v[ok] for k, v in vh.items()}, vq.items[ok])
    model.fit(data, epochs=m["epochs"], batch_size=64 if m["batch_size"] is None else
              m["batch_size"], loss="full" if m["loss"] is None else m["loss"],
              num_negatives=m["num_negatives"],
              validation_data=val, patience=m["patience"], verbose=verbose,
              monitor=m["monitor"])
    return model


def baselines(train) -> dict:
    return {"most-popular": MostPopular().fit(train),
            "last-item": LastItemTransition().fit(train)}


def evaluate(models: dict, targets: EvalTargets, cfg: dict, label: dict, progress=None,
             verbose: int = 1) -> dict:
    """Full-ranking reports (``chronoscale.metrics.evaluate_recommender``: the numbers the
    Python API gives) of every named model on ``targets``, those without an earlier event left
    out; a model is a baseline (``score(items, lengths)``) or a fitted recommender.
    ``progress``: called with each model's name when done; ``verbose`` 0: no progress bars."""
    valid = targets.history_lengths > 0
    if not valid.all():
        targets = targets.take(np.flatnonzero(valid))
    out = {}
    for name, model in models.items():
        rep = evaluate_recommender(model, targets, ks(cfg), max_len=cfg["model"]["max_len"],
                                   exclude_history=exclude_history(cfg, label), batch_size=512,
                                   progress=None if verbose else False)
        rep["model"] = name
        rep["split"] = {**label, "targets": targets.name}
        out[name] = rep
        if progress is not None:
            progress(name)
    return out
