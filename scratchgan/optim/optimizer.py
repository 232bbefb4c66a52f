"""The Optimizer base: parameter groups, per-parameter state, zero_grad and state dicts.

Updates are written on arrays under ``no_grad`` (an update is not part of any graph)
and assigned through ``param.data = ...``, which bumps the parameter's version so a
graph built before the step refuses to backward through the stale value.
"""

from __future__ import annotations

import copy

import numpy

from scratchgan.autograd.tensor import Tensor


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
        for position, param in enumerate(group["params"]):
            if not isinstance(param, Tensor) or not param.is_leaf or not param.requires_grad:
                raise ValueError(
                    f"{type(self).__name__}: parameter {position} must be a leaf Tensor that "
                    f"requires grad"
                )
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in existing for p in group["params"]):
            raise ValueError(f"{type(self).__name__}: a parameter appears in more than one group")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_hyperparameters(group)
        self.param_groups.append(group)

    def _check_hyperparameters(self, group: dict):
        """Subclasses raise ValueError on an invalid learning rate, beta, ..."""

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
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
            len(saved["params"]) != len(own["params"]) for saved, own in zip(groups, self.param_groups)
        ):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: the saved groups have "
                f"{[len(g['params']) for g in groups]} parameters, this optimizer has "
                f"{[len(g['params']) for g in self.param_groups]}"
            )
        self.state = {}
        for saved, own in zip(groups, self.param_groups):
            for key, value in saved.items():
                if key != "params":
                    own[key] = value
            for number, param in zip(saved["params"], own["params"]):
                if number in state_dict["state"] or str(number) in state_dict["state"]:
                    entry = state_dict["state"].get(number, state_dict["state"].get(str(number)))
                    self.state[id(param)] = {k: _restore(v, param) for k, v in entry.items()}


def _copy(value):
    return value.copy() if hasattr(value, "copy") and not numpy.isscalar(value) else value


def _restore(value, param):
    if isinstance(value, numpy.ndarray) and value.shape == param.shape:
        return param.xp.asarray(value, dtype=param.dtype).copy()
    return copy.deepcopy(value)

