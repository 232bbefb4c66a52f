"""Activation layers with PyTorch's constructor signatures and reprs (``torch.nn.ELU``, ...).

Each layer calls its functional form (``scratchgan.nn.functional``); none has parameters.
``inplace`` is accepted, so PyTorch model code ports unchanged, and ignored: the layer returns
a new Tensor with the values PyTorch's in-place result has, and its input keeps its values.
The repr still shows ``inplace=True`` when it was asked for, as PyTorch's does.
"""

from __future__ import annotations

from scratchgan.nn import functional as F
from scratchgan.nn.module import Module


def _inplace_repr(inplace: bool, after: str = "") -> str:
    """PyTorch's extra_repr tail: ", inplace=True" after other fields, "inplace=True" alone."""
    if not inplace:
        return ""
    return ", inplace=True" if after else "inplace=True"


class ELU(Module):
    """x if x > 0 else alpha (e^x - 1)."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}" + _inplace_repr(self.inplace, after="alpha")


class CELU(Module):
    """max(0, x) + min(0, alpha (e^(x / alpha) - 1))."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x):
        return F.celu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}" + _inplace_repr(self.inplace, after="alpha")


class SELU(Module):
    """scale elu(x, alpha), alpha = 1.6732632..., scale = 1.0507009... (Klambauer et al. 2017)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.selu(x)

    def extra_repr(self):
        return _inplace_repr(self.inplace)


class GELU(Module):
    """x Phi(x); approximate="tanh": x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2.

    An unknown ``approximate`` is refused here, at construction (PyTorch refuses it at the
    first call)."""

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x sigmoid(x)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.silu(x)

    def extra_repr(self):
        return _inplace_repr(self.inplace)


class Mish(Module):
    """x tanh(softplus(x))."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.mish(x)

    def extra_repr(self):
        return _inplace_repr(self.inplace)


class Hardtanh(Module):
    """clip(x, min_val, max_val), gradient 0 at both bounds; PyTorch requires max_val > min_val."""

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__()
        if not max_val > min_val:
            raise ValueError(f"{type(self).__name__}: max_val ({max_val}) must be greater than "
                             f"min_val ({min_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, x):
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}" + _inplace_repr(self.inplace, after="bounds")


class ReLU6(Hardtanh):
    """min(max(x, 0), 6): Hardtanh(0, 6), as in PyTorch."""

    def __init__(self, inplace=False):
        super().__init__(0.0, 6.0, inplace)

    def forward(self, x):
        return F.relu6(x)

    def extra_repr(self):
        return _inplace_repr(self.inplace)


class Softsign(Module):
    """x / (1 + |x|)."""

    def forward(self, x):
        return F.softsign(x)


class Hardsigmoid(Module):
    """relu6(x + 3) / 6."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.hardsigmoid(x)


class Hardswish(Module):
    """x relu6(x + 3) / 6."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.hardswish(x)
