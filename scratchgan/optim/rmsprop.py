"""RMSprop (the original WGAN optimizer), PyTorch's variant with centering and momentum."""

from __future__ import annotations

from scratchgan.autograd.grad_mode import no_grad
from scratchgan.ops import elementwise
from scratchgan.optim.optimizer import ARRAY, COUNT, Optimizer, require_finite_non_negative


class RMSprop(Optimizer):
    """s <- a s + (1 - a) g^2;  (centered: c <- a c + (1 - a) g, s_eff = s - c^2);
    d = sqrt(s_eff) + eps;  p <- p - lr g / d  (momentum: b <- mu b + g / d, p <- p - lr b)."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _check_hyperparameters(self, group):
        require_finite_non_negative("RMSprop", group, "lr", "alpha", "eps", "weight_decay", "momentum")

    def _state_keys(self, group):
        keys = {"step": COUNT, "square_avg": ARRAY}
        if group["momentum"] > 0:
            keys["momentum_buffer"] = ARRAY
        if group["centered"]:
            keys["grad_avg"] = ARRAY
        return keys

    @no_grad()
    def step(self):
        for group in self.param_groups:
            alpha, eps, mu = group["alpha"], group["eps"], group["momentum"]
            for param, grad, state in self._params_with_grad(group):
                xp = param.xp
                if group["maximize"]:
                    grad = -grad
                if group["weight_decay"]:
                    grad = grad + group["weight_decay"] * param.data
                if not state:
                    state["step"] = 0
                    state["square_avg"] = xp.zeros_like(param.data)
                    if mu > 0:
                        state["momentum_buffer"] = xp.zeros_like(param.data)
                    if group["centered"]:
                        state["grad_avg"] = xp.zeros_like(param.data)
                state["step"] += 1
                state["square_avg"] = state["square_avg"] * alpha + (1 - alpha) * grad * grad
                if group["centered"]:
                    state["grad_avg"] = state["grad_avg"] + (1 - alpha) * (grad - state["grad_avg"])
                    average = xp.sqrt(state["square_avg"] - state["grad_avg"] * state["grad_avg"]) + eps
                else:
                    average = xp.sqrt(state["square_avg"]) + eps
                if mu > 0:
                    state["momentum_buffer"] = state["momentum_buffer"] * mu + grad / average
                    param.data = param.data - group["lr"] * state["momentum_buffer"]
                else:
                    param.data = param.data - group["lr"] * (grad / average)

    def differentiable_step(self, param, value, grad, slots=None):
        """``step``'s rule on Tensors (no maximize): slots = (s, c, b), the square average, the
        gradient average (centered) and the momentum buffer, from this optimizer's state of
        ``param`` when None."""
        group = self._differentiable_group(param)
        alpha, eps, mu = group["alpha"], group["eps"], group["momentum"]
        if slots is None:
            slots = (self._slot(param, "square_avg", value), self._slot(param, "grad_avg", value),
                     self._slot(param, "momentum_buffer", value))
        square_avg, grad_avg, buffer = slots
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * value
        square_avg = square_avg * alpha + (1 - alpha) * grad * grad
        if group["centered"]:
            grad_avg = grad_avg + (1 - alpha) * (grad - grad_avg)
            average = elementwise.sqrt(square_avg - grad_avg * grad_avg) + eps
        else:
            average = elementwise.sqrt(square_avg) + eps
        if mu > 0:
            buffer = buffer * mu + grad / average
            return value - group["lr"] * buffer, (square_avg, grad_avg, buffer)
        return value - group["lr"] * (grad / average), (square_avg, grad_avg, buffer)
