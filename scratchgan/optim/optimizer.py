"""The Optimizer base: parameter groups, per-parameter state, zero_grad and state dicts.

Updates are written on arrays under ``no_grad`` (an update is not part of any graph)
and assigned through ``param.data = ...``, which bumps the parameter's version so a
graph built before the step refuses to backward through the stale value.

Each optimizer declares what it checks and keeps: ``_check_hyperparameters(group)`` and
``_state_keys(group)`` (the per-parameter state its step reads, for those settings), so
``load_state_dict`` can refuse a state dict the step could not use, before changing anything.
"""

from __future__ import annotations

import math
import numbers

import numpy

from scratchgan import backend
from scratchgan.autograd.tensor import Tensor

ARRAY = "array"  # a state entry with the parameter's shape and a floating dtype (a moment, a buffer)
COUNT = "count"  # a state entry that is a finite number >= 0 (the step counter)


class Optimizer:
    """Holds ``param_groups`` (dicts with "params" and hyper-parameters) and ``state`` per parameter."""

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict = {}  # id(param) -> dict of arrays and counters
        self.param_groups: list[dict] = []
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    def add_param_group(self, group: dict):
        group = dict(group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        seen = {}
        for position, param in enumerate(group["params"]):
            if not isinstance(param, Tensor) or not param.is_leaf or not param.requires_grad:
                raise ValueError(
                    f"{type(self).__name__}: parameter {position} must be a leaf Tensor that "
                    f"requires grad"
                )
            if id(param) in seen:  # it would be stepped twice per step (PyTorch only warns)
                raise ValueError(
                    f"{type(self).__name__}: parameter {position} of the group is the same tensor "
                    f"as parameter {seen[id(param)]}; expected each parameter once"
                )
            seen[id(param)] = position
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in existing for p in group["params"]):
            raise ValueError(f"{type(self).__name__}: a parameter appears in more than one group")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_hyperparameters(group)
        self.param_groups.append(group)

    def _check_hyperparameters(self, group: dict):
        """Subclasses raise ValueError on an invalid learning rate, beta, ..."""

    def _state_keys(self, group: dict) -> dict:
        """{key: ARRAY or COUNT}: the per-parameter state that ``step`` keeps under the settings
        of ``group``. Subclasses with state declare it; ``load_state_dict`` accepts nothing else."""
        return {}

    def zero_grad(self, set_to_none: bool = True):
        for group in self.param_groups:
            for param in group["params"]:
                if set_to_none or param.grad is None:
                    param.grad = None
                else:
                    param.grad = Tensor(param.xp.zeros_like(param.grad.data))

    def _params_with_grad(self, group):
        for param in group["params"]:
            if param.grad is not None:
                yield param, param.grad.data, self.state.setdefault(id(param), {})

    def step(self):
        raise NotImplementedError(f"{type(self).__name__} does not define step")

    # -- the step as a differentiable function (unrolled GANs) ------------------------------------
    def group_of(self, param) -> dict:
        """The parameter group that holds ``param``."""
        for group in self.param_groups:
            if any(p is param for p in group["params"]):
                return group
        raise ValueError(f"{type(self).__name__}: the tensor of shape {tuple(param.shape)} is not one of "
                         f"this optimizer's parameters")

    def differentiable_step(self, param, value, grad, slots=None):
        """One step of this rule in Tensor ops, so the graph through it is kept: Metz et al.
        (2017) differentiate G's loss through D's own optimizer. ``value`` and ``grad`` are
        Tensors standing for ``param`` and its gradient (usually non-leaf results of earlier
        unrolled steps); ``slots`` is the rule's state returned by the previous call, or None to
        start from this optimizer's state of ``param``. Returns (new value, new slots); neither
        the optimizer nor ``param`` changes. Subclasses with a differentiable rule define it."""
        raise ValueError(f"{type(self).__name__} has no differentiable step; unrolling supports "
                         f"SGD, Adam, AdamW and RMSprop")

    def _differentiable_group(self, param, unsupported=("maximize",)) -> dict:
        """``param``'s group, refusing the settings ``differentiable_step`` does not write out."""
        group = self.group_of(param)
        for key in unsupported:
            if group.get(key):
                raise ValueError(f"{type(self).__name__}: the differentiable step does not support "
                                 f"{key}={group[key]!r}; expected it off")
        return group

    def _slot(self, param, key, value):
        """This optimizer's state ``key`` of ``param`` as a constant Tensor like ``value`` (zeros
        before the first step)."""
        state = self.state.get(id(param), {})
        array = state[key] if key in state else value.xp.zeros(value.shape, dtype=value.dtype)
        return Tensor(array)

    # -- state dicts: PyTorch's layout, with parameters numbered in group order --------------
    def state_dict(self) -> dict:
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for param in group["params"]:
                index.setdefault(id(param), len(index))
                packed["params"].append(index[id(param)])
            groups.append(packed)
        state = {index[key]: {k: _copy(v) for k, v in value.items()}
                 for key, value in self.state.items() if key in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict):
        """Load hyper-parameters and state saved by ``state_dict``, all or nothing: the groups,
        every hyper-parameter and every state entry are checked before anything changes."""
        owner = f"{type(self).__name__}.load_state_dict"
        groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if len(groups) != len(self.param_groups) or any(
            len(saved["params"]) != len(own["params"]) for saved, own in zip(groups, self.param_groups)
        ):
            raise ValueError(
                f"{owner}: the saved groups have "
                f"{[len(g['params']) for g in groups]} parameters, this optimizer has "
                f"{[len(g['params']) for g in self.param_groups]}"
            )
        new_groups, new_state = [], {}
        for index, (saved, own) in enumerate(zip(groups, self.param_groups)):
            group = {**own, **{k: v for k, v in saved.items() if k != "params"}}
            try:
                self._check_hyperparameters(group)
            except (TypeError, ValueError) as error:
                raise type(error)(f"{owner}: saved parameter group {index}: {error}") from None
            layout = self._state_keys(group)
            for number, param in zip(saved["params"], own["params"]):
                key = number if number in saved_state else str(number)
                if key in saved_state:
                    new_state[id(param)] = _restored_entry(owner, number, saved_state[key], layout, param)
            new_groups.append(group)
        for own, group in zip(self.param_groups, new_groups):
            own.update(group)  # the same dicts: a learning-rate schedule may hold them
        self.state = new_state


def require_finite_non_negative(owner: str, group: dict, *keys: str):
    """Refuse a hyper-parameter that is not a finite number >= 0. Written so that NaN fails
    (every comparison with NaN is False)."""
    for key in keys:
        value = group[key]
        if not isinstance(value, numbers.Real):
            raise TypeError(f"{owner}: {key} must be a number, got {type(value).__name__} {value!r}")
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{owner}: {key} must be a finite number >= 0, got {value}")


def _copy(value):
    return value.copy() if hasattr(value, "copy") and not numpy.isscalar(value) else value


def _restored_entry(owner: str, number, entry: dict, layout: dict, param: Tensor) -> dict:
    """One parameter's saved state, checked against ``layout`` and copied onto the parameter's
    device and dtype. An empty entry is a parameter not stepped yet (its step starts it)."""
    entry = {k: v for k, v in entry.items() if v is not None}  # PyTorch's SGD saves buffer None
    if not entry:
        return {}
    missing = [key for key in layout if key not in entry]
    unexpected = [key for key in entry if key not in layout]
    if missing or unexpected:
        raise ValueError(
            f"{owner}: state[{number}] has keys {list(entry)}, expected {list(layout)} for these "
            f"settings (missing {missing}, unexpected {unexpected})"
        )
    restored = {}
    for key, kind in layout.items():
        where = f"state[{number}][{key!r}]"
        restored[key] = (_restored_array(owner, where, entry[key], param) if kind == ARRAY
                         else _restored_count(owner, where, entry[key]))
    return restored


def _restored_array(owner: str, where: str, value, param: Tensor):
    """A copy of a saved moment or buffer, of exactly the parameter's shape (a kernel that
    trusts the shapes would otherwise read and write past the end of it)."""
    if isinstance(value, Tensor):
        value = value.data
    elif hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch.Tensor
        value = value.detach().cpu().numpy()
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is None or not hasattr(dtype, "kind"):
        raise ValueError(
            f"{owner}: {where} must be an array of shape {param.shape}, got {type(value).__name__}"
        )
    if tuple(shape) != param.shape:
        raise ValueError(f"{owner}: {where} has shape {tuple(shape)}, expected {param.shape}")
    if dtype.kind != "f":
        raise ValueError(f"{owner}: {where} has dtype {dtype}, expected a floating dtype")
    if param.xp is numpy:
        return numpy.array(backend.to_numpy(value), dtype=param.dtype, order="C")
    return param.xp.array(value, dtype=param.dtype, order="C")


def _restored_count(owner: str, where: str, value):
    """A saved counter as a Python number (PyTorch saves ``step`` as a 0-d tensor)."""
    if isinstance(value, Tensor):
        value = value.data
    elif hasattr(value, "detach") and hasattr(value, "numpy"):
        value = value.detach().cpu().numpy()
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        value = value.item()
    if not isinstance(value, numbers.Real) or not (math.isfinite(value) and value >= 0):
        shown = f"an array of shape {value.shape}" if hasattr(value, "shape") else repr(value)
        raise ValueError(f"{owner}: {where} must be a finite number >= 0, got {shown}")
    return value
