"""Activation functions of modern networks: the ELU family, GELU, SiLU, Mish and the hard ones.

Three primitives, each where a composition would lose precision or PyTorch's conventions:

* ``ELU`` is PyTorch's one ELU kernel, ``scale x`` for x > 0 and ``scale alpha (e^(input_scale
  x) - 1)`` otherwise: ELU, SELU and CELU are its three parameter choices. Its forward needs
  ``expm1`` (e^x - 1 from exp loses all digits near 0), which no primitive offers.
* ``GELU`` needs erf (the exact form) or a tanh polynomial; one node instead of six.
* ``Hardtanh`` is ``clip`` with PyTorch's other convention at the bounds: gradient 0 there
  (torch.clamp, and so ``Clip``, passes 1).

The rest are compositions, exact to every order: SiLU x s(x), Mish x tanh(sp(x)), softsign
x / (1 + |x|), hardsigmoid relu6(x + 3) / 6, hardswish x relu6(x + 3) / 6. Their values at
the kinks follow PyTorch's backward formulas (see docs/atlas/activations.md).
"""

from __future__ import annotations

import math
import numbers

from scratchgan.autograd.function import Function
from scratchgan.ops import elementwise as ew

# PyTorch's SELU constants (Klambauer et al. 2017, arXiv:1706.02515, eq. 14), to the digits
# torch/nn/functional.py and ATen's Activation.cpp write them
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

SQRT1_2 = math.sqrt(0.5)                    # 1 / sqrt(2): erf's argument in GELU
INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)   # the standard normal density at 0
SQRT_2_OVER_PI = math.sqrt(2 / math.pi)     # the tanh approximation's scale
GELU_KAPPA = 0.044715                       # its cubic coefficient (Hendrycks and Gimpel 2016)
GELU_APPROXIMATIONS = ("none", "tanh")


class ELU(Function):
    """elu(x) = scale x if x > 0 else scale alpha (e^(input_scale x) - 1);
    d elu/dx = scale if x > 0 else scale alpha input_scale e^(input_scale x).

    PyTorch's conventions at the kink x = 0: the slope is the second branch's (alpha for ELU,
    as torch's ``x <= 0`` test), and the second derivative there is 0 (torch's double backward
    keeps the curvature for x < 0 only)."""

    def forward(self, x):
        xp = self.xp_of(x)
        # min(x, 0): the unused branch of a large positive x cannot overflow expm1
        negative = xp.expm1(xp.minimum(x, 0) * self.input_scale) * (self.alpha * self.scale)
        return xp.where(x > 0, x * self.scale, negative)

    def backward(self, g):
        (x,) = self.inputs
        # x where x < 0, the constant 0 elsewhere: the exponential is 1 (never inf) for x >= 0,
        # and at x = 0 the slope takes its value but passes no curvature
        strictly_negative = ew.where(x.data < 0, x, 0)
        negative_slope = ew.exp(strictly_negative * self.input_scale) * (
            self.scale * self.alpha * self.input_scale)
        return (ew.where(x.data > 0, g * self.scale, g * negative_slope),)


class GELU(Function):
    """gelu(x) = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2;  d gelu/dx = Phi(x) + x phi(x),
    phi(x) = e^(-x^2 / 2) / sqrt(2 pi).

    approximate="tanh": gelu(x) = x (1 + tanh u) / 2 with u = sqrt(2/pi) (x + 0.044715 x^3);
    d/dx = (1 + tanh u) / 2 + x (1 - tanh^2 u) du/dx / 2, du/dx = sqrt(2/pi) (1 + 3 0.044715 x^2),
    evaluated as s(2u) + 2 x s(2u) s(-2u) du/dx (the same numbers, without cancellation)."""

    def forward(self, x):
        if self.approximate == "tanh":
            inner = (x + x * x * x * GELU_KAPPA) * SQRT_2_OVER_PI
            return x * 0.5 * (1 + self.xp_of(x).tanh(inner))
        return x * 0.5 * (1 + ew.erf_array(x * SQRT1_2))

    def backward(self, g):
        (x,) = self.inputs
        if self.approximate == "tanh":
            # (1 + tanh u) / 2 = s(2u) and (1 - tanh^2 u) / 2 = 2 s(2u) s(-2u): two stable
            # sigmoids, where 1 - t t would cancel for |u| > 3 in float32 (20% off at x = -5 in
            # the second derivative)
            two_u = (x + x * x * x * GELU_KAPPA) * (2 * SQRT_2_OVER_PI)
            inner_slope = (x * x * (3 * GELU_KAPPA) + 1) * SQRT_2_OVER_PI
            upper, lower = ew.sigmoid(two_u), ew.sigmoid(-two_u)
            return (g * (upper + x * upper * lower * inner_slope * 2),)
        cdf = (ew.erf(x * SQRT1_2) + 1) * 0.5
        density = ew.exp(x * x * -0.5) * INV_SQRT_2PI
        return (g * (cdf + x * density),)


class Hardtanh(Function):
    """hardtanh(x) = clip(x, min_val, max_val);  d/dx = 1 if min_val < x < max_val else 0.

    0 at both bounds, PyTorch's hardtanh_backward (torch.clamp, and ``clip``, pass 1 there);
    piecewise linear, so the second derivative is 0."""

    def forward(self, x):
        return self.xp_of(x).clip(x, self.min_val, self.max_val)

    def backward(self, g):
        (x,) = self.inputs
        inside = (x.data > self.min_val) & (x.data < self.max_val)
        return (ew.where(inside, g, 0),)


# -- functional forms -------------------------------------------------------------
def _float(value, name, op):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {type(value).__name__}")
    return float(value)


def elu(x, alpha=1.0):
    """x if x > 0 else alpha (e^x - 1) (Clevert et al. 2015)."""
    ew._require_tensor(x, "elu")
    return ELU.apply(x, alpha=_float(alpha, "alpha", "elu"), scale=1.0, input_scale=1.0)


def selu(x):
    """scale elu(x, alpha) with PyTorch's constants alpha = 1.6732632..., scale = 1.0507009..."""
    ew._require_tensor(x, "selu")
    return ELU.apply(x, alpha=SELU_ALPHA, scale=SELU_SCALE, input_scale=1.0)


def celu(x, alpha=1.0):
    """max(0, x) + min(0, alpha (e^(x / alpha) - 1)) (Barron 2017): ELU with input_scale 1 / alpha."""
    ew._require_tensor(x, "celu")
    alpha = _float(alpha, "alpha", "celu")
    if alpha == 0:
        raise ValueError("celu: alpha must be nonzero (the input is divided by it), got 0")
    return ELU.apply(x, alpha=alpha, scale=1.0, input_scale=1.0 / alpha)


def gelu(x, approximate="none"):
    """x Phi(x), Phi the standard normal CDF; approximate="tanh" for the tanh form."""
    ew._require_tensor(x, "gelu")
    if approximate not in GELU_APPROXIMATIONS:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(x, approximate=approximate)


def silu(x):
    """x s(x), s the logistic sigmoid (also called swish): derived from mul and sigmoid."""
    return ew._require_tensor(x, "silu") * ew.sigmoid(x)


def mish(x):
    """x tanh(softplus(x)): derived from mul, tanh and the stable softplus."""
    return ew._require_tensor(x, "mish") * ew.tanh(ew.softplus(x))


def hardtanh(x, min_val=-1.0, max_val=1.0):
    """clip(x, min_val, max_val), with gradient 0 at both bounds (PyTorch's convention)."""
    ew._require_tensor(x, "hardtanh")
    min_val, max_val = _float(min_val, "min_val", "hardtanh"), _float(max_val, "max_val", "hardtanh")
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val must be at most max_val, got min_val={min_val}, max_val={max_val}")
    return Hardtanh.apply(x, min_val=min_val, max_val=max_val)


def relu6(x):
    """min(max(x, 0), 6) = hardtanh(x, 0, 6): gradient 0 at 0 and at 6, as PyTorch."""
    ew._require_tensor(x, "relu6")
    return Hardtanh.apply(x, min_val=0.0, max_val=6.0)


def softsign(x):
    """x / (1 + |x|): derived from div and abs (PyTorch's own composition)."""
    return ew._require_tensor(x, "softsign") / (ew.abs(x) + 1)


def hardsigmoid(x):
    """relu6(x + 3) / 6: 0 below -3, 1 above 3; gradient 1/6 strictly inside (-3, 3), else 0."""
    return relu6(ew._require_tensor(x, "hardsigmoid") + 3) / 6


def hardswish(x):
    """x relu6(x + 3) / 6 (Howard et al. 2019): gradient x/3 + 1/2 strictly inside (-3, 3),
    0 at and below -3, 1 at and above 3, PyTorch's hardswish_backward."""
    return ew._require_tensor(x, "hardswish") * relu6(x + 3) / 6
