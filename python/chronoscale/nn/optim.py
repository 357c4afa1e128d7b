"""Optimisers over :class:`~chronoscale.nn.Parameter` lists, wrapping the fused native steps.

Each ``step()`` applies one update to every trainable parameter that has a gradient: dense
gradients with ``adam_step`` / ``sgd_step``; sparse row gradients (embeddings) with
``adam_step_rows`` / ``sgd_step_rows`` so that only the touched rows (and their moments) move.
Gradient clipping by global norm (like ``torch.nn.utils.clip_grad_norm_``) runs first when
``clipnorm`` is set. State (moments, step counts) is exposed by ``state_dict`` for checkpoints.

Adam's ``eps`` is added to ``sqrt(v_hat)`` (PyTorch's placement); Keras adds
``eps * sqrt(1 - beta2^t)`` instead, which differs by at most ``eps``-sized amounts.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..ops._common import as_bool, check_int, check_real
from . import device as _device
from .parameter import Parameter, check_values, weights_changed

_core_adam_many = ops.adam_step_many


def _check_params(params) -> list:
    """``params`` as a list of distinct :class:`Parameter` objects (TypeError / ValueError)."""
    if params is None or isinstance(params, (str, bytes, dict, Parameter)) or \
            not hasattr(params, "__iter__"):
        raise TypeError(f"params must be a list of Parameters (e.g. model.parameters()), got "
                        f"{type(params).__name__}")
    params = list(params)
    seen = {}
    for i, p in enumerate(params):
        if not isinstance(p, Parameter):
            raise TypeError(f"params[{i}] must be a Parameter, got {type(p).__name__}")
        if id(p) in seen:  # it would be updated twice per step
            raise ValueError(f"params[{i}] is the same Parameter as params[{seen[id(p)]}]: "
                             "each parameter may appear once")
        seen[id(p)] = i
    return params


def clip_grad_norm(params, max_norm: float, return_norm: bool = True) -> float | None:
    """Scale all pending gradients in place so that their global L2 norm is at most
    ``max_norm``; returns the norm before clipping (None with ``return_norm=False``, which on
    the GPU does not wait for the device).

    Raises:
        TypeError: ``params`` not Parameters, ``max_norm`` not a number.
        ValueError: ``max_norm`` not a finite number > 0.
    """
    params = _check_params(params)
    max_norm = check_real(max_norm, "max_norm", 0.0, low_open=True)
    grads = [g for p in params if p.trainable for g in p.grad_arrays()]
    if not grads:
        return 0.0 if return_norm else None
    return ops.clip_grad_norm(grads, max_norm, as_bool(return_norm, "return_norm"))


class Optimizer:
    """Base class. ``params``: list of distinct Parameters (e.g. ``model.parameters()``);
    ``lr`` a finite number >= 0, ``clipnorm`` None or a finite number > 0.

    Raises:
        TypeError: ``params`` not Parameters, a hyper-parameter that is not a number (strings
            are refused) or, for flags such as ``nesterov``, not True / False.
        ValueError: no parameters, one listed twice, a hyper-parameter out of range (betas
            and ``momentum`` in ``[0, 1)``, ``eps > 0``, ``weight_decay >= 0``).
    """

    _slots: tuple = ()

    def __init__(self, params, lr: float, clipnorm=None):
        self.params = _check_params(params)
        if not self.params:
            raise ValueError("params: the optimizer got no parameters")
        self.lr = check_real(lr, "lr", 0.0)
        self.clipnorm = None if clipnorm is None else check_real(clipnorm, "clipnorm", 0.0,
                                                                low_open=True)
        self.iterations = 0
        self.state: list[dict] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.zero_grad()

    def _slot(self, i, name):
        st = self.state[i]
        if name not in st:
            st[name] = np.zeros_like(self.params[i].data)
        return st[name]

    def step(self) -> None:
        """Apply one update (then the gradients are left as they are; call zero_grad)."""
        if self.clipnorm is not None:
            clip_grad_norm(self.params, self.clipnorm, return_norm=False)
        self.iterations += 1
        dense = []
        for i, p in enumerate(self.params):
            if not p.trainable or not p.has_grad:
                continue
            st = self.state[i]
            step = st["step"] = st.get("step", 0) + 1
            if p.is_sparse:
                self._update_rows(i, p, p.rows, p.grad_rows, step)
            else:
                dense.append((i, p, _device.contiguous(p.grad, p.data.dtype), step))
        if dense:
            self._update_many(dense)
        weights_changed()

    def _update_many(self, items) -> None:
        """Dense updates of ``[(index, param, grad, step)]`` (one call each by default)."""
        for i, p, g, step in items:
            self._update(i, p, g, step)

    def state_dict(self) -> dict:
        """``{"iterations": int, "steps": [..], "<i>.<slot>": array}`` (live arrays)."""
        out = {"iterations": self.iterations, "steps": [st.get("step", 0) for st in self.state]}
        for i, st in enumerate(self.state):
            for name, arr in st.items():
                if name != "step":
                    out[f"{i}.{name}"] = arr
        return out

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()``'s ``iterations``, ``steps`` and slot arrays.

        Raises:
            TypeError: ``state`` not a dict, non-numeric arrays, non-integer counts.
            ValueError: missing ``iterations`` / ``steps``, unexpected keys, missing slots of a
                parameter that has taken steps, a parameter count, shape or value (NaN / inf,
                negative counts or second moments) that does not fit.
        """
        if not isinstance(state, dict):
            raise TypeError(f"optimizer state must be a dict, got {type(state).__name__}")
        missing = [k for k in ("iterations", "steps") if k not in state]
        if missing:
            raise ValueError(f"optimizer state is missing {missing} (expected the keys of "
                             "state_dict())")
        slots = {f"{i}.{name}" for i in range(len(self.params)) for name in self._slots}
        extra = [k for k in state if k not in ("iterations", "steps") and k not in slots]
        if extra:
            raise ValueError(f"optimizer state has unexpected keys {extra[:5]} (a "
                             f"{type(self).__name__} over {len(self.params)} parameters has "
                             f"slots {list(self._slots)})")
        if isinstance(state["steps"], (str, bytes)) or not hasattr(state["steps"], "__len__"):
            raise TypeError(f"optimizer state steps must be a list of integers, got "
                            f"{type(state['steps']).__name__}")
        steps = [check_int(v, f"optimizer state steps[{i}]", 0)
                 for i, v in enumerate(state["steps"])]
        if len(steps) != len(self.params):
            raise ValueError(f"optimizer state has {len(steps)} parameters, expected "
                             f"{len(self.params)}")
        iterations = check_int(state["iterations"], "optimizer state iterations", 0)
        lost = [f"{i}.{name}" for i in range(len(self.params)) if steps[i]
                for name in self._slots if f"{i}.{name}" not in state]
        if lost:  # a parameter's first step creates all its slots
            raise ValueError(f"optimizer state is missing {lost[:5]}: those parameters have "
                             "taken steps, so their slots must be there (a truncated state?)")
        loaded = [{} for _ in self.params]
        for i, p in enumerate(self.params):
            if steps[i]:
                loaded[i]["step"] = steps[i]
            for name in self._slots:
                key = f"{i}.{name}"
                if key in state:
                    arr = state[key]
                    if not _device.is_device_array(arr):
                        arr = np.asarray(arr)
                    if arr.shape != p.data.shape:
                        raise ValueError(f"optimizer state {key} has shape {arr.shape}, "
                                         f"expected {p.data.shape}")
                    check_values(arr, p.data.dtype, f"optimizer state {key}")
                    if name == "v" and bool((arr < 0).any()):
                        raise ValueError(f"optimizer state {key} (second moments) must be "
                                         ">= 0, got a negative value")
                    loaded[i][name] = _device.xp(p.data).array(
                        _device.to_device(arr, _device.device_of(p.data)), dtype=p.data.dtype,
                        order="C")
        self.iterations, self.state = iterations, loaded

    def get_config(self) -> dict:
        return {"class": type(self).__name__, "lr": self.lr, "clipnorm": self.clipnorm}


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; ``weight_decay`` is L2 added to the gradient
    (``decoupled=False``) — see :class:`AdamW` for decoupled decay. Defaults are Keras'
    (``eps=1e-7``)."""

    _slots = ("m", "v")
    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-7, weight_decay: float = 0.0, clipnorm=None):
        super().__init__(params, lr, clipnorm)
        self.beta1 = check_real(beta1, "beta1", 0.0, 1.0)
        self.beta2 = check_real(beta2, "beta2", 0.0, 1.0)
        self.eps = check_real(eps, "eps", 0.0, low_open=True)
        self.weight_decay = check_real(weight_decay, "weight_decay", 0.0)

    def _hyper(self):
        return dict(beta1=self.beta1, beta2=self.beta2, eps=self.eps,
                    weight_decay=self.weight_decay, decoupled=self._decoupled)

    def _update(self, i, p, g, step):
        ops.adam_step(p.data, g, self._slot(i, "m"), self._slot(i, "v"), step, self.lr,
                      **self._hyper())

    def _update_many(self, items):
        # One native call for the whole model, when every parameter shares a dtype.
        if len({p.data.dtype for _, p, _, _ in items}) != 1:
            return super()._update_many(items)
        slot = self._slot
        _core_adam_many([p.data for _, p, _, _ in items], [g for _, _, g, _ in items],
                        [slot(i, "m") for i, _, _, _ in items],
                        [slot(i, "v") for i, _, _, _ in items],
                        [step for _, _, _, step in items], self.lr, self.beta1, self.beta2,
                        self.eps, self.weight_decay, self._decoupled)

    def _update_rows(self, i, p, rows, grad_rows, step):
        ops.adam_step_rows(p.data, rows, grad_rows, self._slot(i, "m"), self._slot(i, "v"),
                           step, self.lr, **self._hyper())

    def get_config(self) -> dict:
        return {**super().get_config(), **self._hyper()}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), default ``weight_decay=0.01``."""

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-7, weight_decay: float = 0.01, clipnorm=None):
        super().__init__(params, lr, beta1, beta2, eps, weight_decay, clipnorm)


class SGD(Optimizer):
    """SGD with optional (Nesterov) momentum and L2 weight decay (torch.optim.SGD semantics)."""

    _slots = ("buf",)

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, clipnorm=None):
        super().__init__(params, lr, clipnorm)
        self.momentum = check_real(momentum, "momentum", 0.0, 1.0)
        self.nesterov = as_bool(nesterov, "nesterov")
        if self.nesterov and self.momentum <= 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.weight_decay = check_real(weight_decay, "weight_decay", 0.0)

    def _hyper(self):
        return dict(momentum=self.momentum, weight_decay=self.weight_decay,
                    nesterov=self.nesterov)

    def _update(self, i, p, g, step):
        ops.sgd_step(p.data, g, self._slot(i, "buf"), self.lr, **self._hyper())

    def _update_rows(self, i, p, rows, grad_rows, step):
        ops.sgd_step_rows(p.data, rows, grad_rows, self._slot(i, "buf"), self.lr,
                          **self._hyper())

    def get_config(self) -> dict:
        return {**super().get_config(), **self._hyper()}
