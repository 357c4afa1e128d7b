"""``fit``: the mini-batch training engine every chronoscale model uses.

Per mini-batch it runs the model's native forward, the fused native loss, the native backward and
the fused optimiser step; Python only slices batches. Features: seeded shuffling, validation
data, metrics, early stopping on a chosen metric (patience, restore best weights), a tqdm
progress bar (loss, metric, sequences/s), per-epoch history, bit-reproducible CPU training for a
given ``seed``, checkpoints every N epochs and ``resume``.

Reproducibility: epoch ``e`` shuffles with ``default_rng([seed, e])`` and batch ``i`` of epoch
``e`` seeds the model's randomness (dropout) with ``mix_seed(seed, e, i)``, so a resumed
run draws exactly what an uninterrupted run draws, and the native kernels are deterministic on
the CPU: the same seed, data and initial weights give bit-identical weights.
"""

from __future__ import annotations

import functools
import glob
import os
import time
import warnings

import numpy as np

from .. import _progress, io
from ..ops._common import as_array, as_bool, check_int, check_real
from . import device as _device
from . import losses as _losses
from . import metrics as _metrics
from .layer import mix_seed
from .optim import Optimizer

_CKPT = "ckpt-{:05d}.csm"
_HOST_KEYS = ("lengths", "timestamps")  # index metadata: stays in NumPy on every device


class History(dict):
    """Per-epoch lists keyed ``"loss"``, ``"val_loss"``, ``"<metric>"``, ``"val_<metric>"``,
    ``"seqs_per_s"``, ``"epoch"`` (1-based). Attributes: ``best_epoch``, ``best`` (monitored
    value), ``stopped_epoch`` (early stop, else None)."""

    best_epoch = None
    best = None
    stopped_epoch = None


def check_sample_weight(sample_weight, n: int):
    """``sample_weight`` (``[N]`` or target-shaped) checked: numeric, ``N`` rows, finite, ``>= 0``
    and not all zero (the losses are ``mean(w * loss)``: all-zero weights train nothing). Arrays
    pass through as they are (NumPy or CuPy); other sequences and tensors become NumPy arrays
    (CuPy ones for CUDA tensors).

    Raises:
        TypeError: not numeric. ValueError: rows other than ``N``, NaN / inf, a negative weight,
            all weights zero.
    """
    w = sample_weight
    if not (isinstance(w, np.ndarray) or _device.is_device_array(w)):  # lists, torch tensors
        w = _array_of(w, "sample_weight")
    xp = _device.xp(w)
    if w.dtype.kind not in "fiub":
        raise TypeError(f"sample_weight must be numeric, got dtype {w.dtype}")
    if w.ndim == 0 or len(w) != n:
        raise ValueError(f"sample_weight has {len(w) if w.ndim else 'no'} rows, x has {n}")
    if not bool(xp.isfinite(w).all()):
        raise ValueError("sample_weight contains NaN or inf")
    if bool((w < 0).any()):
        raise ValueError("sample_weight must be >= 0, got a negative weight")
    if not bool(w.any()):
        raise ValueError("sample_weight is all zeros: nothing would be trained")
    return w


def _n_items(data) -> int:
    if isinstance(data, dict):
        return len(next(v for v in data.values() if v is not None))
    return len(data)


def _array_of(a, name: str | None = None):
    """``a`` (a tensor, list, ...) as a NumPy array, or a CuPy one for a CUDA array
    (``__cuda_array_interface__``); ragged nested lists name ``name``."""
    if callable(getattr(a, "detach", None)):  # a torch tensor that may require grad
        a = a.detach()
    try:
        if hasattr(a, "__cuda_array_interface__"):
            return _device.xp_for("cuda").asarray(a)
        return as_array(a, name, " of numbers")
    except TypeError as exc:  # e.g. a bfloat16 tensor NumPy cannot hold
        raise TypeError(f"{name or 'the array'} must be a numeric array NumPy / CuPy can hold "
                        f"({exc})") from None


def _as_array(a, name: str, dtype=None):
    """``a`` as an array with at least one axis: NumPy / CuPy arrays as they are, sequences
    (lists, tuples) converted to NumPy (floats in ``dtype`` when given). TypeError for None and
    non-numeric data, ValueError for a 0-d array."""
    if a is None:
        raise TypeError(f"{name} must be an array, got None")
    if hasattr(a, "dtype") and not (isinstance(a, np.ndarray) or _device.is_device_array(a)):
        a = _array_of(a, name)  # a tensor (torch, ...): its values as NumPy / CuPy
    if not hasattr(a, "dtype") or not hasattr(a, "shape"):
        if isinstance(a, (str, bytes, dict, set)) or not hasattr(a, "__len__"):
            raise TypeError(f"{name} must be an array, got {type(a).__name__}")
        try:
            a = np.asarray(a)
        except ValueError as exc:  # ragged nested lists
            raise ValueError(f"{name}: not a rectangular array ({exc})") from None
        if dtype is not None and a.dtype.kind == "f":
            a = a.astype(dtype)
    if np.dtype(a.dtype).kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
    if a.ndim == 0:
        raise ValueError(f"{name} must have a rows axis, got a 0-d array")
    return a


def _check_finite(a, name: str) -> None:
    if np.dtype(a.dtype).kind == "f" and not bool(_device.xp(a).isfinite(a).all()):
        raise ValueError(f"{name} contains NaN or inf")


def check_data(x, y, name: str = "", dtype=None, finite: bool = True, has_y: bool = True):
    """``(x, y, n)``: ``x`` an array or a non-empty dict of arrays (None values allowed) with the
    same number of rows ``n >= 1``, ``y`` an array of ``n`` rows (``has_y=False``: no ``y``, it
    is returned as it is); lists are converted to NumPy (floats in ``dtype``). With ``finite``,
    float arrays must hold no NaN / inf (they would poison every weight). ``name`` prefixes the
    argument names in the messages (e.g. ``"validation_data "``).

    Raises:
        TypeError: None, non-numeric data, a dict with a non-string key.
        ValueError: an empty dict or data set, rows that differ, NaN / inf.
    """
    if isinstance(x, dict):
        if not x:
            raise ValueError(f"{name}x: an empty dict (no input arrays)")
        out = {}
        for k, v in x.items():
            if not isinstance(k, str):
                raise TypeError(f"{name}x: dict keys must be strings, got {k!r:.50}")
            out[k] = None if v is None else _as_array(
                v, f"{name}x[{k!r}]", None if k in _HOST_KEYS else dtype)
        rows = {k: len(v) for k, v in out.items() if v is not None}
        if not rows:
            raise ValueError(f"{name}x: every array of the dict is None")
        if len(set(rows.values())) > 1:
            raise ValueError(f"{name}x: the dict's arrays must have the same number of rows, "
                             f"got {rows}")
        x = out
        if finite:
            for k, v in x.items():
                if v is not None:
                    _check_finite(v, f"{name}x[{k!r}]")
    else:
        x = _as_array(x, f"{name}x", dtype)
        if finite:
            _check_finite(x, f"{name}x")
    n = _n_items(x)
    if n == 0:
        what = "validation" if name else ("training" if has_y else "input")
        raise ValueError(f"{name}x: no {what} sequences (an empty data set)")
    if has_y:
        y = _as_array(y, f"{name}y", dtype)
        if len(y) != n:
            raise ValueError(f"{name}y has {len(y)} rows, x has {n}")
        if finite:
            _check_finite(y, f"{name}y")
    return x, y, n


def _take(data, idx, device="cpu"):
    """Rows ``idx`` of an array or of each array of a dict, C-contiguous, on ``device``.
    ``lengths`` and ``timestamps`` stay on the host (the ops read them there)."""
    if data is None:
        return None
    if isinstance(data, dict):
        return {k: (None if v is None else _device.to_device(
            v[idx], "cpu" if k in _HOST_KEYS else device)) for k, v in data.items()}
    return _device.to_device(data[idx], device)


def _forward(model, batch, training):
    if isinstance(batch, dict):
        return model.forward(**batch, training=training)
    return model.forward(batch, training=training)


def predict_batches(model, x, batch_size: int = 256, progress=False):
    """Forward ``x`` (array or dict of arrays) in inference mode, batch by batch; concatenated.
    ``progress``: a bar over the rows (None: once the call has run 2 s; True / False).

    Raises:
        TypeError: ``model`` without ``forward``, ``x`` None or not numeric, ``batch_size`` not
            an integer.
        ValueError: ``x`` empty or a dict whose arrays' rows differ, ``batch_size < 1``.
    """
    if not callable(getattr(model, "forward", None)):
        raise TypeError(f"model must have forward(x, training) (e.g. a chronoscale.nn layer), "
                        f"got {type(model).__name__}")
    batch_size = check_int(batch_size, "batch_size")
    progress = _progress.check(progress)
    x, _, n = check_data(x, None, "", getattr(model, "dtype", None), False, has_y=False)
    device = getattr(model, "device", "cpu")
    outs = []
    with _progress.bar(n, progress, "predict", "row", batch_size) as bar:
        for i in range(0, n, batch_size):
            outs.append(_forward(model, _take(x, slice(i, i + batch_size), device), False))
            bar.update(min(batch_size, n - i))
    return _device.xp_for(device).concatenate(outs, axis=0)


# At most this many batches wait on a GPU to be read (their losses, and the predictions and
# targets the metrics read): a read every few hundred batches costs nothing, and the device
# memory they hold stays bounded whatever the epoch's length.
_MAX_PENDING = 256


def _read_losses(values) -> list:
    """The batches' losses as floats: device ones (0-d arrays) stacked and read in one copy;
    floats (CPU, a custom loss) as they are."""
    if len(values) > 1 and all(_device.is_device_array(v) for v in values):
        return [float(v) for v in _device.to_host(_device.xp(values[0]).stack(values))]
    return [float(v) for v in values]


def _read_due(pending, i, n_batches, verbose, now, read_at) -> bool:
    """Whether the losses waiting in ``pending`` are read after batch ``i``: at the epoch's
    end, when _MAX_PENDING wait, and at most twice a second for a shown progress bar."""
    return bool(pending) and (i == n_batches - 1 or len(pending) >= _MAX_PENDING
                              or (verbose == 1 and now - read_at >= 0.5))


def _add_losses(total: float, values, counts) -> float:
    """``total`` plus each batch's loss times its count, added one by one in batch order (so a
    sum does not depend on when the losses were read), the losses read in one copy."""
    for v, c in zip(_read_losses(values), counts):
        total += v * c
    return total


def _loss_pair(out):
    """The ``(loss, dpred)`` a loss function returned (TypeError for anything else)."""
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"loss must return (loss, dpred), got {type(out).__name__}")
    return out


def _batch_seed(seed, epoch, i) -> int:
    return mix_seed(seed, epoch, i)


def _state_copy(model) -> dict:
    return {k: _device.xp(v).array(v, copy=True) for k, v in model.state_dict().items()}


def _mode(monitor, mode):
    if mode in ("min", "max"):
        return mode
    if mode != "auto":
        raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
    return "max" if monitor.split("val_")[-1] in _metrics.GREATER_IS_BETTER else "min"


def _latest_checkpoint(directory):
    files = sorted(glob.glob(os.path.join(str(directory), "ckpt-*.csm")))
    return files[-1] if files else None


def _save_checkpoint(path, model, optimizer, hist, state):
    host = _device.to_host
    tensors = {f"model/{k}": host(v) for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    tensors.update({f"optim/{k}": host(v) for k, v in opt.items()
                    if isinstance(v, np.ndarray) or _device.is_device_array(v)})
    if state["best_weights"] is not None:
        tensors.update({f"best/{k}": host(v) for k, v in state["best_weights"].items()})
    meta = {"epoch": state["epoch"], "seed": state["seed"], "history": dict(hist),
            "best": hist.best, "best_epoch": hist.best_epoch, "wait": state["wait"],
            "optimizer": {"iterations": opt["iterations"], "steps": opt["steps"],
                          "config": optimizer.get_config()}}
    io.write_file(path, tensors, kind="checkpoint", meta=meta)


def _expected_checkpoint_tensors(model, optimizer) -> dict:
    """``{file tensor name: array of the dtype and shape it loads into}`` for a checkpoint."""
    live = model.state_dict()
    expected = {f"model/{k}": v for k, v in live.items()}
    expected.update({f"best/{k}": v for k, v in live.items()})
    for i, p in enumerate(optimizer.params):
        for slot in getattr(optimizer, "_slots", ()):
            expected[f"optim/{i}.{slot}"] = p.data
    return expected


def _load_checkpoint(path, model, optimizer, hist, state):
    header, tensors = io.read_file(path)
    if header.get("kind") != "checkpoint":
        raise ValueError(f"{path}: not a training checkpoint")
    meta = header.get("meta")
    need = ("epoch", "seed", "wait", "best", "best_epoch", "history", "optimizer")
    lacking = [k for k in need if k not in meta] if isinstance(meta, dict) else list(need)
    if lacking or not isinstance(meta.get("optimizer"), dict) or \
            not isinstance(meta.get("history"), dict):
        raise ValueError(f"{path}: not a complete training checkpoint (its meta lacks or "
                         f"garbles {lacking or ['optimizer / history']})")
    saved = (meta.get("optimizer") or {}).get("config")
    if isinstance(saved, dict) and saved.get("class", type(optimizer).__name__) != \
            type(optimizer).__name__:
        raise ValueError(f"{path}: the checkpoint was written with a {saved['class']} "
                         f"optimizer, this run uses {type(optimizer).__name__}")
    io.check_tensor_types(path, tensors, _expected_checkpoint_tensors(model, optimizer))
    split = {"model": {}, "optim": {}, "best": {}}
    for name, arr in tensors.items():
        group, _, key = name.partition("/")
        split.setdefault(group, {})[key] = arr
    opt = dict(split["optim"])
    opt.update({k: meta["optimizer"][k] for k in ("iterations", "steps")
                if k in meta["optimizer"]})  # (load_state_dict names what is missing)
    optimizer.load_state_dict(opt)  # first: it refuses a truncated state before any change
    model.load_state_dict(split["model"])
    hist.clear()
    hist.update(io.nan_for_null(meta["history"]))
    hist.best, hist.best_epoch = meta["best"], meta["best_epoch"]
    state.update(epoch=int(meta["epoch"]), seed=int(meta["seed"]), wait=int(meta["wait"]),
                 best_weights=split["best"] or None)


def _without_input_grad(fn):
    """Run ``fn(model, ...)`` with ``model.input_grad = False`` (training never uses the
    gradient w.r.t. the data, so a first conv layer skips it), restored afterwards."""

    @functools.wraps(fn)
    def run(model, *args, **kwargs):
        had = "input_grad" in getattr(model, "__dict__", {})
        before = getattr(model, "input_grad", True)
        try:
            model.input_grad = False
        except AttributeError:  # an object that does not take attributes: nothing to skip
            return fn(model, *args, **kwargs)
        try:
            return fn(model, *args, **kwargs)
        finally:
            if had:
                model.input_grad = before
            else:
                del model.input_grad

    return run


def unpack_validation(validation_data, sizes=(2,), form: str = "(X, y)") -> tuple:
    """``validation_data`` as a tuple of one of ``sizes`` (ValueError naming the form
    otherwise: a list or tuple of another length, a bare array)."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in sizes:
        got = (f"a {type(validation_data).__name__} of {len(validation_data)}"
               if isinstance(validation_data, (tuple, list)) else type(validation_data).__name__)
        raise ValueError(f"validation_data must be {form}, got {got}")
    return tuple(validation_data)


def check_stopping(patience, min_delta, restore_best, verbose):
    """The early-stopping and progress options of ``fit`` (TypeError / ValueError naming them):
    ``patience`` None or an integer >= 1, ``min_delta`` a finite number >= 0, ``restore_best``
    True / False, ``verbose`` 0, 1 or 2. Returns them normalised."""
    if patience is not None:
        patience = check_int(patience, "patience")
    delta = check_real(min_delta, "min_delta", 0.0)
    verbose = check_int(verbose, "verbose", 0)
    if verbose > 2:
        raise ValueError(f"verbose must be 0, 1 or 2, got {verbose}")
    return patience, delta, as_bool(restore_best, "restore_best"), verbose


@_without_input_grad
def fit(model, x, y, *, optimizer: Optimizer, loss="mse", epochs: int = 10,
        batch_size: int = 32, validation_data=None, shuffle: bool = True, seed=None,
        metrics=(), sample_weight=None, monitor=None, mode: str = "auto", patience=None,
        min_delta: float = 0.0, restore_best: bool = True, verbose: int = 1,
        checkpoint_dir=None, checkpoint_every: int = 1, resume=False) -> History:
    """Train ``model`` on ``(x, y)`` with mini-batches.

    Args:
        model: has ``forward(x, training)`` (or ``forward(**x, training)`` for a dict ``x``),
            ``backward(dpred)``, ``state_dict()``, ``load_state_dict()`` and ``set_seed(int)``
            (e.g. a :class:`~chronoscale.nn.Sequential`).
        x: ``[N, ...]`` array, or a dict of ``[N, ...]`` arrays passed as keyword arguments
            (e.g. ``{"x": X, "lengths": L}``). y: ``[N, ...]`` targets, the prediction's shape
            (or ``[N]`` for ``[N, 1]``). Lists are converted to NumPy (floats in the model's
            dtype); float arrays must be finite.
        optimizer: an :class:`~chronoscale.nn.Optimizer` over ``model``'s parameters.
        loss: name ("mse", "mae", "huber", "bce_with_logits") or ``f(pred, target, weights=None)
            -> (loss, dpred)``.
        validation_data: ``(x_val, y_val)`` evaluated after every epoch, or None.
        shuffle: reshuffle the training set every epoch. seed: int for reproducible shuffling
            and dropout (None: drawn from the OS and recorded in checkpoints).
        metrics: names from :mod:`chronoscale.nn.metrics` ("mse", "mae", "rmse", "r2") or a dict
            ``{name: f(pred, target) -> float}``; reported on train batches and validation data.
        sample_weight: ``[N]`` or target-shaped per-element loss weights (finite, ``>= 0``,
            not all zero: the loss is ``mean(w * loss)``, so all-zero weights would train
            nothing), or None.
        monitor: what early stopping / best weights follow ("val_loss" with validation data,
            else "loss"; or e.g. "val_mae"). mode: "min", "max" or "auto" (max for r2).
        patience: stop after this many epochs without an improvement larger than ``min_delta``;
            None trains all epochs. restore_best: with ``patience``, load the best epoch's
            weights at the end.
        verbose: 0 silent, 1 a tqdm bar per epoch, 2 one line per epoch. On a GPU the
            batches' losses (and the predictions the metrics need) stay on the device and are
            read back in one copy at most twice a second for the bar, after at most 256
            batches and at the end of the epoch, so the host queues the next batch while the
            device works.
        checkpoint_dir, checkpoint_every: write ``ckpt-<epoch>.csm``, the epoch in five
            digits (``ckpt-00002.csm``: weights, optimiser state, history, early-stopping
            state), every ``checkpoint_every >= 1`` epochs.
        resume: True resumes from the latest checkpoint in ``checkpoint_dir`` (if any), a path
            resumes from that file; training continues up to ``epochs`` in total.

    Returns:
        :class:`History`.

    Raises:
        TypeError: ``epochs``, ``batch_size``, ``checkpoint_every`` or ``seed`` not an integer
            (a float such as 2.5 is refused, never truncated); a non-numeric ``sample_weight``;
            ``x`` / ``y`` None or not numeric; ``optimizer`` not an Optimizer; ``shuffle`` not
            a bool; ``checkpoint_dir`` not a path; a metric that is not callable; a loss
            callable that does not return ``(loss, dpred)``.
        ValueError: NaN / inf in the float arrays of ``x``, ``y`` or ``validation_data``
            (they would turn every weight into NaN); ``validation_data`` not ``(x, y)`` or
            empty; a dict ``x`` that is empty or whose arrays' rows differ; an optimizer over
            none of the model's parameters; ``resume=True`` without ``checkpoint_dir``, a
            checkpoint written with another optimizer class;
            mismatched lengths of x and y, empty data, ``epochs``, ``batch_size``,
            ``checkpoint_every`` or ``patience`` < 1, a negative or non-finite ``min_delta``,
            ``verbose`` not 0 / 1 / 2 (TypeError when not an integer, ``restore_best`` when not
            a bool), a negative ``seed``, a ``sample_weight`` that is
            negative, NaN / inf or all zero, ``bce_with_logits`` targets outside ``[0, 1]``
            (checked once up front), ``validation_data`` the model or the loss cannot take
            (a few rows go through both before training; the message starts
            "validation_data:"; TypeError for a dtype), a ``checkpoint_dir`` that cannot be
            created, unknown monitor, a checkpoint that does not match
            the model (names, shapes or dtypes).
    """
    lacks = [m for m in ("forward", "backward", "state_dict", "load_state_dict", "set_seed")
             if not callable(getattr(model, m, None))]
    if lacks:
        raise TypeError(f"model must be a chronoscale.nn layer (e.g. nn.Sequential); a "
                        f"{type(model).__name__} has no {', '.join(lacks)}")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a chronoscale.nn.Optimizer (e.g. nn.Adam(model."
                        f"parameters())), got {type(optimizer).__name__}")
    params = getattr(model, "parameters", None)
    if callable(params):
        own = {id(p) for p in params()}
        if own and not any(id(p) in own for p in optimizer.params):
            raise ValueError("optimizer holds none of the model's parameters (build it from "
                             "model.parameters()): nothing would be trained")
    loss_fn, step_loss = _losses.get(loss), _losses.for_fit(loss)
    metric_fns = _metrics.resolve(metrics)
    dtype = getattr(model, "dtype", None)
    x, y, n = check_data(x, y, "", dtype)
    if validation_data is not None:
        validation_data = check_data(*unpack_validation(validation_data, form="(x, y)"),
                                     "validation_data ", dtype)[:2]
    if isinstance(loss, str) and loss == "bce_with_logits":
        # once here (the batches' losses do not check again), in the model's dtype as the
        # losses see them
        for t in (y, None if validation_data is None else validation_data[1]):
            if t is not None:
                _losses.check_probabilities(t if dtype is None else t.astype(dtype, copy=False))
    shuffle = as_bool(shuffle, "shuffle")
    if checkpoint_dir is not None and not isinstance(checkpoint_dir, (str, os.PathLike)):
        raise TypeError(f"checkpoint_dir must be a path (str or os.PathLike) or None, got "
                        f"{type(checkpoint_dir).__name__}")
    if not isinstance(resume, (str, os.PathLike)):
        if not isinstance(resume, (bool, np.bool_)):
            raise TypeError(f"resume must be True, False or a checkpoint path, got "
                            f"{type(resume).__name__}")
        resume = bool(resume)
    if checkpoint_dir is not None and os.path.exists(checkpoint_dir) and \
            not os.path.isdir(checkpoint_dir):
        raise ValueError(f"checkpoint_dir {str(checkpoint_dir)!r} is a file, not a folder")
    if resume is True and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir (the folder of the checkpoints); "
                         "pass resume=<path> to resume from one file")
    epochs = check_int(epochs, "epochs")
    batch_size = check_int(batch_size, "batch_size")
    checkpoint_every = check_int(checkpoint_every, "checkpoint_every")
    patience, min_delta, restore_best, verbose = check_stopping(patience, min_delta,
                                                                restore_best, verbose)
    if seed is not None:
        seed = check_int(seed, "seed", 0)
    if sample_weight is not None:
        sample_weight = check_sample_weight(sample_weight, n)
    monitor = monitor or ("val_loss" if validation_data is not None else "loss")
    known = ["loss", *metric_fns] + (["val_loss", *(f"val_{m}" for m in metric_fns)]
                                     if validation_data is not None else [])
    if monitor not in known:
        raise ValueError(f"monitor {monitor!r} is not computed; choose one of {known}")
    better = _mode(monitor, mode)
    device = getattr(model, "device", "cpu")
    if validation_data is not None:  # a few rows through the model and the loss now: data the
        # model cannot take is refused before anything changes, not after an epoch of steps
        rows = np.arange(min(2, _n_items(validation_data[0])))
        try:
            _loss_pair(loss_fn(_forward(model, _take(validation_data[0], rows, device), False),
                               _take(validation_data[1], rows, device)))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"validation_data: {exc}") from None
    if checkpoint_dir is not None:  # now, not after an epoch of training
        try:
            os.makedirs(checkpoint_dir, exist_ok=True)
        except (FileExistsError, NotADirectoryError, PermissionError, FileNotFoundError) as exc:
            raise ValueError(f"checkpoint_dir {str(checkpoint_dir)!r} cannot be created: "
                             f"{exc.strerror or exc}") from None

    hist = History()
    state = {"epoch": 0, "seed": seed, "wait": 0, "best_weights": None}
    if state["seed"] is None:
        state["seed"] = int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(resume, (str, os.PathLike)):
        _load_checkpoint(resume, model, optimizer, hist, state)
    elif resume:
        path = _latest_checkpoint(checkpoint_dir)
        if path is not None:  # an empty folder: a fresh start
            _load_checkpoint(path, model, optimizer, hist, state)
    seed = state["seed"]

    from tqdm.auto import tqdm

    n_batches = (n + batch_size - 1) // batch_size
    if validation_data is not None:
        validation_data = (validation_data[0], _device.to_device(validation_data[1], device))
    for epoch in range(state["epoch"] + 1, epochs + 1):
        order = (np.random.default_rng([seed, epoch]).permutation(n) if shuffle
                 else np.arange(n))
        bar = tqdm(total=n_batches, desc=f"Epoch {epoch}/{epochs}", unit="batch",
                   disable=verbose != 1, leave=True)
        t0 = time.perf_counter()
        tot_loss, tot_metrics, seen = 0.0, dict.fromkeys(metric_fns, 0.0), 0
        # On a GPU the batches' losses (and the predictions the metrics need) stay on the device
        # and are read at most twice a second for the progress bar, and at the end of the
        # epoch: no wait per batch, the host queues the next batch while the device works.
        pending, read_at = [], t0
        for i in range(n_batches):
            idx = order[i * batch_size:(i + 1) * batch_size]
            xb, yb = _take(x, idx, device), _take(y, idx, device)
            model.set_seed(_batch_seed(seed, epoch, i))
            pred = _forward(model, xb, True)
            wb = _take(sample_weight, idx, device)
            value, dpred = _loss_pair(step_loss(pred, yb) if wb is None
                                      else step_loss(pred, yb, weights=wb))
            optimizer.zero_grad()
            model.backward(dpred)
            optimizer.step()
            if metric_fns and device != "cpu":  # read later: a copy the next batch cannot touch
                pred = _device.xp(pred).array(pred, copy=True)
            # (the prediction and target only when a metric reads them)
            pending.append((value, pred if metric_fns else None, yb if metric_fns else None,
                            len(idx)))
            seen += len(idx)
            now = time.perf_counter()
            if device == "cpu" or _read_due(pending, i, n_batches, verbose, now, read_at):
                tot_loss = _add_losses(tot_loss, [v for v, *_ in pending],
                                       [c for *_, c in pending])
                for _, p, t, count in pending:
                    for name, f in metric_fns.items():
                        tot_metrics[name] += f(p, t) * count
                pending, read_at = [], now
                post = {"loss": f"{tot_loss / seen:.4g}",
                        "seq/s": f"{seen / max(now - t0, 1e-9):.0f}"}
                post.update({k: f"{v / seen:.4g}" for k, v in tot_metrics.items()})
                bar.set_postfix(post, refresh=False)
            bar.update(1)
        elapsed = time.perf_counter() - t0
        row = {"epoch": epoch, "loss": tot_loss / seen, "seqs_per_s": seen / max(elapsed, 1e-9)}
        row.update({k: v / seen for k, v in tot_metrics.items()})
        if validation_data is not None:
            xv, yv = validation_data
            pv = predict_batches(model, xv, max(batch_size, 256))
            row["val_loss"] = _loss_pair(loss_fn(pv, yv))[0]
            row.update({f"val_{k}": f(pv, yv) for k, f in metric_fns.items()})
        for k, v in row.items():
            hist.setdefault(k, []).append(float(v) if k != "epoch" else v)
        if not np.isfinite(row["loss"]) and not state.get("warned"):
            state["warned"] = True
            warnings.warn(f"training diverged: the loss is {row['loss']} in epoch {epoch} "
                          "(lower the learning rate, clip gradients or check the data)",
                          RuntimeWarning, stacklevel=2)
        bar.set_postfix({("seq/s" if k == "seqs_per_s" else k): f"{v:.4g}"
                         for k, v in row.items() if k != "epoch"}, refresh=True)
        bar.close()
        if verbose == 2:
            print(f"Epoch {epoch}/{epochs} " + " ".join(
                f"{k}={v:.4g}" for k, v in row.items() if k != "epoch"), flush=True)

        value = row[monitor]  # NaN / inf (a diverged run) is never an improvement
        improved = bool(np.isfinite(value)) and (hist.best is None or (
            value < hist.best - min_delta if better == "min" else value > hist.best + min_delta))
        if improved:
            hist.best, hist.best_epoch, state["wait"] = float(value), epoch, 0
            if patience is not None and restore_best:
                state["best_weights"] = _state_copy(model)
        else:
            state["wait"] += 1
        state["epoch"] = epoch
        stop = patience is not None and state["wait"] >= patience
        if checkpoint_dir is not None and (epoch % checkpoint_every == 0 or stop
                                           or epoch == epochs):
            os.makedirs(checkpoint_dir, exist_ok=True)
            _save_checkpoint(os.path.join(str(checkpoint_dir), _CKPT.format(epoch)),
                             model, optimizer, hist, state)
        if stop:
            hist.stopped_epoch = epoch
            break
    if patience is not None and restore_best and state["best_weights"] is not None:
        model.load_state_dict(state["best_weights"])
    return hist
