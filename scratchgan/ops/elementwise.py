"""Elementwise primitives: arithmetic, exp/log, activations.

Each class: ``forward`` on arrays, ``backward`` on Tensors, and the derivative in its
docstring. Binary ops broadcast like NumPy; their backward sums the gradient back to
each input's shape with the one helper ``unbroadcast``.
"""

from __future__ import annotations

from scratchgan import backend
from scratchgan.autograd.function import Function
from scratchgan.ops._common import as_tensor
from scratchgan.ops.reduce import unbroadcast


class Add(Function):
    """d(a + b)/da = 1, d(a + b)/db = 1."""

    def forward(self, a, b):
        return a + b

    def backward(self, g):
        a, b = self._inputs  # shapes only: no saved value is read
        return unbroadcast(g, a.shape), unbroadcast(g, b.shape)


class Sub(Function):
    """d(a - b)/da = 1, d(a - b)/db = -1."""

    def forward(self, a, b):
        return a - b

    def backward(self, g):
        a, b = self._inputs
        return unbroadcast(g, a.shape), unbroadcast(-g, b.shape)


class Mul(Function):
    """d(a * b)/da = b, d(a * b)/db = a."""

    def forward(self, a, b):
        return a * b

    def backward(self, g):
        a, b = self.inputs
        grad_a = unbroadcast(g * b, a.shape) if self.needs_input_grad[0] else None
        grad_b = unbroadcast(g * a, b.shape) if self.needs_input_grad[1] else None
        return grad_a, grad_b


class Div(Function):
    """d(a / b)/da = 1 / b, d(a / b)/db = -a / b^2."""

    def forward(self, a, b):
        return a / b

    def backward(self, g):
        a, b = self.inputs
        grad_a = unbroadcast(g / b, a.shape) if self.needs_input_grad[0] else None
        grad_b = unbroadcast(-g * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return grad_a, grad_b


class Pow(Function):
    """d(a^b)/da = b a^(b-1), d(a^b)/db = a^b log(a)."""

    def forward(self, a, b):
        return a ** b

    def backward(self, g):
        a, b = self.inputs
        grad_a = unbroadcast(g * b * a ** (b - 1), a.shape) if self.needs_input_grad[0] else None
        grad_b = None
        if self.needs_input_grad[1]:
            grad_b = unbroadcast(g * self.output * log(a), b.shape)
        return grad_a, grad_b


class Neg(Function):
    """d(-x)/dx = -1."""

    def forward(self, x):
        return -x

    def backward(self, g):
        return (-g,)


class Exp(Function):
    """d exp(x)/dx = exp(x), the output itself."""

    def forward(self, x):
        return self.xp_of(x).exp(x)

    def backward(self, g):
        return (g * self.output,)


class Log(Function):
    """d log(x)/dx = 1 / x."""

    def forward(self, x):
        return self.xp_of(x).log(x)

    def backward(self, g):
        (x,) = self.inputs
        return (g / x,)


class Log1p(Function):
    """d log(1 + x)/dx = 1 / (1 + x)."""

    def forward(self, x):
        return self.xp_of(x).log1p(x)

    def backward(self, g):
        (x,) = self.inputs
        return (g / (x + 1),)


class Sqrt(Function):
    """d sqrt(x)/dx = 1 / (2 sqrt(x))."""

    def forward(self, x):
        return self.xp_of(x).sqrt(x)

    def backward(self, g):
        return (g / (self.output * 2),)


class Abs(Function):
    """d|x|/dx = sign(x) (0 at x = 0, as PyTorch)."""

    def forward(self, x):
        return self.xp_of(x).abs(x)

    def backward(self, g):
        (x,) = self.inputs
        return (g * as_tensor(x.xp.sign(x.data), x),)


class Clip(Function):
    """d clip(x, lo, hi)/dx = 1 where lo <= x <= hi, else 0 (boundaries pass, as torch.clamp)."""

    def forward(self, x):
        return self.xp_of(x).clip(x, self.low, self.high)

    def backward(self, g):
        (x,) = self.inputs
        inside = x.xp.ones_like(x.data, dtype=bool)
        if self.low is not None:
            inside &= x.data >= self.low
        if self.high is not None:
            inside &= x.data <= self.high
        return (g * as_tensor(inside.astype(x.dtype), x),)


class Where(Function):
    """where(c, a, b): d/da = c, d/db = 1 - c; the boolean condition c is a constant."""

    def forward(self, a, b):
        return self.xp_of(a).where(self.condition, a, b)

    def backward(self, g):
        a, b = self._inputs
        zero = as_tensor(0, g)
        grad_a = unbroadcast(where(self.condition, g, zero), a.shape) if self.needs_input_grad[0] else None
        grad_b = unbroadcast(where(self.condition, zero, g), b.shape) if self.needs_input_grad[1] else None
        return grad_a, grad_b


class Maximum(Function):
    """d max(a, b)/da = 1 where a > b, 1/2 where a == b, else 0 (PyTorch's tie rule)."""

    def forward(self, a, b):
        return self.xp_of(a).maximum(a, b)

    def backward(self, g):
        a, b = self.inputs
        share_a = (a.data > b.data) + 0.5 * (a.data == b.data)
        share_a = as_tensor(share_a.astype(g.dtype), g)
        grad_a = unbroadcast(g * share_a, a.shape) if self.needs_input_grad[0] else None
        grad_b = unbroadcast(g * (1 - share_a), b.shape) if self.needs_input_grad[1] else None
        return grad_a, grad_b


class Cast(Function):
    """y = x.astype(dtype);  dy/dx = 1, and the gradient is cast back to the input's dtype."""

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, g):
        (x,) = self._inputs
        return (cast(g, x.dtype),)


# -- activations ----------------------------------------------------------------
class Sigmoid(Function):
    """s(x) = 1 / (1 + e^-x);  ds/dx = s (1 - s)."""

    def forward(self, x):
        return stable_sigmoid(x)

    def backward(self, g):
        s = self.output
        return (g * s * (1 - s),)


class Tanh(Function):
    """d tanh(x)/dx = 1 - tanh(x)^2."""

    def forward(self, x):
        return self.xp_of(x).tanh(x)

    def backward(self, g):
        t = self.output
        return (g * (1 - t * t),)


class ReLU(Function):
    """d relu(x)/dx = 1 if x > 0 else 0."""

    def forward(self, x):
        return self.xp_of(x).maximum(x, 0)

    def backward(self, g):
        (x,) = self.inputs
        return (LeakyReLUGrad.apply(g, x, slope=0.0),)  # relu is leaky_relu with slope 0


def leaky_relu_array(x, slope):
    """Reference forward: x if x > 0 else slope x."""
    slope = x.dtype.type(slope)
    xp = backend.get_array_module(x)
    if 0 <= slope <= 1:  # then max(x, slope x) is the same function, in one pass
        return xp.maximum(x, x * slope)
    return xp.where(x > 0, x, x * slope)


def leaky_relu_grad_array(g, x, slope):
    """Reference gradient: g if x > 0 else slope g."""
    xp = backend.get_array_module(g, x)
    return g * xp.where(x > 0, g.dtype.type(1), g.dtype.type(slope))


class LeakyReLU(Function):
    """d leaky_relu(x)/dx = 1 if x > 0 else slope."""

    def forward(self, x):
        return backend.kernel("leaky_relu", leaky_relu_array)(x, self.slope)

    def backward(self, g):
        (x,) = self.inputs
        return (LeakyReLUGrad.apply(g, x, slope=self.slope),)


class LeakyReLUGrad(Function):
    """The gradient g * leaky_relu'(x) as one primitive (a fused kernel, not a mask and a product).

    It is linear in g with the same mask, and piecewise constant in x:
    d/dg = 1 if x > 0 else slope,  d/dx = 0 (almost everywhere; undefined at the kink x = 0).
    """

    def forward(self, g, x):
        return backend.kernel("leaky_relu_grad", leaky_relu_grad_array)(g, x, self.slope)

    def backward(self, gg):
        _, x = self.inputs
        grad_g = LeakyReLUGrad.apply(gg, x, slope=self.slope) if self.needs_input_grad[0] else None
        return grad_g, None


class Softplus(Function):
    """sp(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|);  d sp/dx = sigmoid(x)."""

    def forward(self, x):
        xp = self.xp_of(x)
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, g):
        (x,) = self.inputs
        return (g * sigmoid(x),)


class LogSigmoid(Function):
    """log s(x) = -softplus(-x);  d/dx = 1 - s(x) = s(-x)."""

    def forward(self, x):
        xp = self.xp_of(x)
        return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, g):
        (x,) = self.inputs
        return (g * sigmoid(-x),)


def stable_sigmoid(x):
    """1 / (1 + e^-x) without overflow: e^-|x| is at most 1 on both branches."""
    xp = Function.xp_of(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


# -- functional forms -------------------------------------------------------------
def _binary(op, a, b):
    from scratchgan.autograd.tensor import Tensor

    if not isinstance(a, Tensor):
        a = as_tensor(a, b)
    if not isinstance(b, Tensor):
        b = as_tensor(b, a)
    return op.apply(a, b)


def add(a, b):
    return _binary(Add, a, b)


def sub(a, b):
    return _binary(Sub, a, b)


def mul(a, b):
    return _binary(Mul, a, b)


def div(a, b):
    return _binary(Div, a, b)


def pow(a, b):  # noqa: A001  (the name of the op)
    return _binary(Pow, a, b)


def neg(x):
    return Neg.apply(x)


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def log1p(x):
    return Log1p.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


def abs(x):  # noqa: A001
    return Abs.apply(x)


def clip(x, low=None, high=None):
    if low is None and high is None:
        raise ValueError("clip: at least one of low and high must be given")
    return Clip.apply(x, low=low, high=high)


def where(condition, a, b):
    """Elements of ``a`` where ``condition`` is true, else of ``b`` (condition: bool array or Tensor)."""
    from scratchgan.autograd.tensor import Tensor

    if isinstance(condition, Tensor):
        condition = condition.data
    if not isinstance(a, Tensor):
        a = as_tensor(a, b)
    if not isinstance(b, Tensor):
        b = as_tensor(b, a)
    return Where.apply(a, b, condition=a.xp.asarray(condition, dtype=bool))


def maximum(a, b):
    return _binary(Maximum, a, b)


def minimum(a, b):
    """min(a, b) = -max(-a, -b): same tie rule as ``maximum``."""
    from scratchgan.autograd.tensor import Tensor

    a = a if isinstance(a, Tensor) else as_tensor(a, b)
    b = b if isinstance(b, Tensor) else as_tensor(b, a)
    return -maximum(-a, -b)


def cast(x, dtype):
    import numpy

    if numpy.dtype(dtype) == x.dtype:
        return x
    return Cast.apply(x, dtype=numpy.dtype(dtype))


def sigmoid(x):
    return Sigmoid.apply(x)


def tanh(x):
    return Tanh.apply(x)


def relu(x):
    return ReLU.apply(x)


def leaky_relu(x, negative_slope=0.01):
    return LeakyReLU.apply(x, slope=float(negative_slope))


def softplus(x):
    return Softplus.apply(x)


def log_sigmoid(x):
    return LogSigmoid.apply(x)
