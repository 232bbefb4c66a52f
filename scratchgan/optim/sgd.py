"""Stochastic gradient descent with momentum, dampening, weight decay and Nesterov (PyTorch's rule)."""

from __future__ import annotations

import math

from scratchgan.autograd.grad_mode import no_grad
from scratchgan.autograd.tensor import Tensor
from scratchgan.optim.optimizer import ARRAY, Optimizer, require_finite_non_negative


class SGD(Optimizer):
    """g <- g + wd p;  b <- mu b + (1 - tau) g (b = g on the first step);
    g <- g + mu b (Nesterov) or b;  p <- p - lr g."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _check_hyperparameters(self, group):
        require_finite_non_negative("SGD", group, "lr", "momentum", "weight_decay")
        if not math.isfinite(group["dampening"]):  # PyTorch gives it no range; NaN poisons the buffer
            raise ValueError(f"SGD: dampening must be a finite number, got {group['dampening']}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires momentum > 0 and dampening = 0")

    def _state_keys(self, group):
        return {"momentum_buffer": ARRAY} if group["momentum"] else {}

    @no_grad()
    def step(self):
        for group in self.param_groups:
            lr, mu, tau = group["lr"], group["momentum"], group["dampening"]
            for param, grad, state in self._params_with_grad(group):
                if group["maximize"]:
                    grad = -grad
                if group["weight_decay"]:
                    grad = grad + group["weight_decay"] * param.data
                if mu:
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = grad.copy()
                    else:
                        state["momentum_buffer"] = mu * state["momentum_buffer"] + (1 - tau) * grad
                    buffer = state["momentum_buffer"]
                    grad = grad + mu * buffer if group["nesterov"] else buffer
                param.data = param.data - lr * grad

    def differentiable_step(self, param, value, grad, slots=None):
        """``step``'s rule on Tensors (no maximize): slots = (momentum buffer or None,), from
        this optimizer's state of ``param`` when None (the buffer starts as the first gradient)."""
        group = self._differentiable_group(param)
        lr, mu, tau = group["lr"], group["momentum"], group["dampening"]
        if slots is None:
            state = self.state.get(id(param), {})
            slots = (Tensor(state["momentum_buffer"]) if "momentum_buffer" in state else None,)
        (buffer,) = slots
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * value
        if mu:
            buffer = grad if buffer is None else mu * buffer + (1 - tau) * grad
            grad = grad + mu * buffer if group["nesterov"] else buffer
        return value - lr * grad, (buffer,)
