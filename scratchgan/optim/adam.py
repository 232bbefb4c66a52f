"""Adam (Kingma & Ba 2015) with PyTorch's arithmetic, L2 weight decay and AMSGrad."""

from __future__ import annotations

import math
import numbers

from scratchgan import backend
from scratchgan.autograd.grad_mode import no_grad
from scratchgan.ops import elementwise
from scratchgan.optim.optimizer import ARRAY, COUNT, Optimizer, require_finite_non_negative


def adam_update_array(param, grad, exp_avg, exp_avg_sq, beta1, beta2, step_size,
                      bias_correction2_sqrt, eps):
    """Reference Adam update (no AMSGrad, weight decay or maximize), PyTorch's operation order:
    returns (param, exp_avg, exp_avg_sq), new arrays."""
    xp = backend.get_array_module(param)
    exp_avg = exp_avg + (1 - beta1) * (grad - exp_avg)  # lerp form, as PyTorch
    exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * grad * grad
    denominator = xp.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps
    return param - step_size * (exp_avg / denominator), exp_avg, exp_avg_sq


class Adam(Optimizer):
    """m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2  (v_max <- max(v_max, v) with AMSGrad);
    p <- p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, maximize=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    def _check_hyperparameters(self, group):
        owner = type(self).__name__  # Adam, or AdamW sharing these checks
        require_finite_non_negative(owner, group, "lr", "eps", "weight_decay")
        betas = tuple(group["betas"])
        if len(betas) != 2:
            raise ValueError(f"{owner}: betas must be a pair (beta1, beta2), got {group['betas']}")
        for index, beta in enumerate(betas):
            if not (isinstance(beta, numbers.Real) and 0.0 <= beta < 1.0):  # NaN fails too
                raise ValueError(f"{owner}: betas[{index}] must be a number in [0, 1), got betas={betas}")

    def _apply_weight_decay(self, group, param, grad):
        """Adam's L2 decay: the gradient becomes g + wd p (AdamW overrides this with decoupled decay)."""
        return grad + group["weight_decay"] * param.data

    def _decay_tensors(self, group, value, grad):
        """``_apply_weight_decay`` on Tensors, for ``differentiable_step``: (value, g + wd value)."""
        return value, grad + group["weight_decay"] * value

    def _state_keys(self, group):
        keys = {"step": COUNT, "exp_avg": ARRAY, "exp_avg_sq": ARRAY}
        return {**keys, "max_exp_avg_sq": ARRAY} if group["amsgrad"] else keys

    @no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param, grad, state in self._params_with_grad(group):
                xp = param.xp
                if group["maximize"]:
                    grad = -grad
                if group["weight_decay"]:
                    grad = self._apply_weight_decay(group, param, grad)
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = xp.zeros_like(param.data)
                    state["exp_avg_sq"] = xp.zeros_like(param.data)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = xp.zeros_like(param.data)
                state["step"] += 1
                step = state["step"]
                bias_correction1 = 1 - beta1 ** step
                bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
                step_size = group["lr"] / bias_correction1
                if not group["amsgrad"]:  # the common case: one fused pass where a kernel exists
                    update = backend.kernel("adam_update", adam_update_array)
                    param.data, state["exp_avg"], state["exp_avg_sq"] = update(
                        param.data, grad, state["exp_avg"], state["exp_avg_sq"], beta1, beta2,
                        step_size, bias_correction2_sqrt, group["eps"])
                    continue
                # lerp form, as PyTorch: m + (1 - b1)(g - m) == b1 m + (1 - b1) g up to rounding
                state["exp_avg"] = state["exp_avg"] + (1 - beta1) * (grad - state["exp_avg"])
                state["exp_avg_sq"] = state["exp_avg_sq"] * beta2 + (1 - beta2) * grad * grad
                state["max_exp_avg_sq"] = xp.maximum(state["max_exp_avg_sq"], state["exp_avg_sq"])
                denominator = xp.sqrt(state["max_exp_avg_sq"]) / bias_correction2_sqrt + group["eps"]
                param.data = param.data - step_size * (state["exp_avg"] / denominator)

    def differentiable_step(self, param, value, grad, slots=None):
        """``step``'s rule on Tensors (no AMSGrad or maximize): slots = (m, v, t), from this
        optimizer's state of ``param`` when None. The same operation order as ``step``, so with
        detached values K calls give K steps' parameters to rounding. The decay is
        ``_decay_tensors``'s: L2 decay (Adam) enters the gradient, AdamW's shrinks the value."""
        group = self._differentiable_group(param, ("maximize", "amsgrad"))
        beta1, beta2 = group["betas"]
        if slots is None:
            step = self.state.get(id(param), {}).get("step", 0)
            slots = (self._slot(param, "exp_avg", value), self._slot(param, "exp_avg_sq", value), step)
        exp_avg, exp_avg_sq, step = slots
        if group["weight_decay"]:
            value, grad = self._decay_tensors(group, value, grad)
        step += 1
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
        step_size = group["lr"] / (1 - beta1 ** step)
        exp_avg = exp_avg + (1 - beta1) * (grad - exp_avg)
        exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * grad * grad
        denominator = elementwise.sqrt(exp_avg_sq) / bias_correction2_sqrt + group["eps"]
        return value - step_size * (exp_avg / denominator), (exp_avg, exp_avg_sq, step)
