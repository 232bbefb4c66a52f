"""Stochastic gradient descent with momentum, dampening, weight decay and Nesterov (PyTorch's rule)."""

from __future__ import annotations

from scratchgan.autograd.grad_mode import no_grad
from scratchgan.optim.optimizer import Optimizer


class SGD(Optimizer):
    """g <- g + wd p;  b <- mu b + (1 - tau) g (b = g on the first step);
    g <- g + mu b (Nesterov) or b;  p <- p - lr g."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _check_hyperparameters(self, group):
        if group["lr"] < 0 or group["momentum"] < 0 or group["weight_decay"] < 0:
            raise ValueError(f"SGD: lr, momentum and weight_decay must be >= 0, got {group['lr']}, "
                             f"{group['momentum']}, {group['weight_decay']}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires momentum > 0 and dampening = 0")

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
