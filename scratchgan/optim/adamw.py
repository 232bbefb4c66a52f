"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019, "Decoupled Weight Decay
Regularization", arXiv:1711.05101), PyTorch's rule and defaults."""

from __future__ import annotations

from scratchgan.optim.adam import Adam


class AdamW(Adam):
    """p <- p (1 - lr wd);  then Adam's step with the undecayed gradient g:
    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2  (v_max <- max(v_max, v) with AMSGrad);
    p <- p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps).

    The decay shrinks the parameter instead of entering the moments, so it is not rescaled by
    1 / sqrt(v) (Adam's L2 decay is). State, state dicts and checks are Adam's."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)

    def _apply_weight_decay(self, group, param, grad):
        """Decoupled decay, before the Adam step (as PyTorch: param.mul_(1 - lr * weight_decay));
        the gradient is left as it is, so the fused adam_update kernel serves AdamW unchanged."""
        param.data = param.data * (1 - group["lr"] * group["weight_decay"])
        return grad

    def _decay_tensors(self, group, value, grad):
        """The decoupled decay on Tensors, for ``differentiable_step``: (value (1 - lr wd), g)."""
        return value * (1 - group["lr"] * group["weight_decay"]), grad
