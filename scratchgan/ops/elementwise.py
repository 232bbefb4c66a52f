"""Elementwise primitives: arithmetic, exp/log, activations.

Each class: ``forward`` on arrays, ``backward`` on Tensors, and the derivative in its
docstring. Binary ops broadcast like NumPy; their backward sums the gradient back to
each input's shape with the one helper ``unbroadcast``.
"""

from __future__ import annotations

from scratchgan import backend
from scratchgan.autograd.function import Function
from scratchgan.autograd.tensor import DEFAULT_FLOAT
from scratchgan.ops._common import as_tensor, promote
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
    """d(a / b)/da = 1 / b, d(a / b)/db = -(a / b) / b.

    The second is written with the quotient, as PyTorch does: -a / b^2 would overflow b^2 for
    |b| > 1.3e154 (and its own derivative from |b| ~ 1e77) where (a / b) / b is still exact.
    """

    def forward(self, a, b):
        return a / b

    def backward(self, g):
        a, b = self.inputs
        grad_a = unbroadcast(g / b, a.shape) if self.needs_input_grad[0] else None
        grad_b = unbroadcast(-g * (self.output / b), b.shape) if self.needs_input_grad[1] else None
        return grad_a, grad_b


class Pow(Function):
    """d(a^b)/da = b a^(b-1), d(a^b)/db = a^b log(a); at a base of 0, PyTorch's conventions.

    Both derivatives are 0 where the formula has no value but the function a limit: d/da is 0
    at a = 0, b = 0 (a^0 = 1 is constant), and d/db is 0 where a = 0 and b >= 0 (0^b is 1 at
    b = 0 and 0 above). Each formula is evaluated on a base moved to 1 at those positions, so
    no inf or nan is formed there and the derivatives of the derivatives are 0 too. PyTorch's
    double backward differs at two kinds of points (docs/architecture.md): it returns nan at
    some of these, from the masked branch of its ``where``, and it masks d/da wherever b = 0,
    so its d^2/da db there is 0 where the true value, given here, is 1/a.
    """

    def forward(self, a, b):
        return self.xp_of(a).power(a, b)

    def backward(self, g):
        a, b = self.inputs
        grad_a = grad_b = None
        if self.needs_input_grad[0]:
            limit_zero = (b.data == 0) & (a.data == 0)
            base = where(limit_zero, 1, a)
            grad_a = unbroadcast(where(limit_zero, 0, g * b * base ** (b - 1)), a.shape)
        if self.needs_input_grad[1]:
            limit_zero = (a.data == 0) & (b.data >= 0)
            base = where(limit_zero, 1, a)
            grad_b = unbroadcast(where(limit_zero, 0, g * base ** b * log(base)), b.shape)
        return grad_a, grad_b


class PowScalar(Function):
    """x^e for a Python number e:  d x^e/dx = e x^(e-1), and 0 for e = 0 (also at x = 0).

    PyTorch's ``pow(Tensor, Scalar)``: the exponent is a constant of the node, not a Tensor,
    so ``x ** 2`` records one input and its backward is ``PowScalar(x, e - 1)`` again.
    """

    def forward(self, x):
        return x ** self.exponent

    def backward(self, g):
        (x,) = self.inputs
        if self.exponent == 0:
            return (g * 0,)
        return (g * self.exponent * pow(x, self.exponent - 1),)


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


# -- elementwise math: trigonometry, other bases, erf, logaddexp, sign -------------
LN2 = 0.6931471805599453  # log(2), the constant PyTorch's log2 and exp2 derivatives use
LN10 = 2.3025850929940456  # log(10)
TWO_OVER_SQRT_PI = 1.1283791670955126  # 2 / sqrt(pi), erf's slope at 0


class Sin(Function):
    """d sin(x)/dx = cos(x)."""

    def forward(self, x):
        return self.xp_of(x).sin(x)

    def backward(self, g):
        (x,) = self.inputs
        return (g * cos(x),)


class Cos(Function):
    """d cos(x)/dx = -sin(x)."""

    def forward(self, x):
        return self.xp_of(x).cos(x)

    def backward(self, g):
        (x,) = self.inputs
        return (-g * sin(x),)


class Log2(Function):
    """d log2(x)/dx = 1 / (x log 2).

    A primitive, not log(x) / log 2: log2 of a power of two is then exact (log2(8) = 3)."""

    def forward(self, x):
        return self.xp_of(x).log2(x)

    def backward(self, g):
        (x,) = self.inputs
        return (g / (x * LN2),)


class Log10(Function):
    """d log10(x)/dx = 1 / (x log 10)."""

    def forward(self, x):
        return self.xp_of(x).log10(x)

    def backward(self, g):
        (x,) = self.inputs
        return (g / (x * LN10),)


class Exp2(Function):
    """d 2^x/dx = 2^x log 2, from the saved output.

    A primitive, not exp(x log 2): that product's rounding grows with x (2^x is exact for
    integer x here)."""

    def forward(self, x):
        return self.xp_of(x).exp2(x)

    def backward(self, g):
        return (g * (self.output * LN2),)


class Sign(Function):
    """sign(x) = 1 if x > 0, -1 if x < 0, else 0 (also for NaN, as PyTorch);  d sign/dx = 0.

    Piecewise constant: its gradient is a constant zero, as PyTorch's (the jump at 0 has no
    derivative). Written with comparisons, so NaN gives 0 like torch.sign, not NaN like
    numpy.sign."""

    def forward(self, x):
        return (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)

    def backward(self, g):
        return (as_tensor(g.xp.zeros_like(g.data), g),)


def erf_array(x):
    """erf of a NumPy or CuPy array, computed where the array lives: scipy.special.erf on the
    host, cupyx.scipy.special.erf (shipped with CuPy) on the GPU. Keeps float32 float32."""
    xp = backend.get_array_module(x)
    if xp.__name__ == "numpy":
        import scipy.special

        return scipy.special.erf(x)
    try:
        import cupyx.scipy.special
    except ImportError as error:
        raise backend.BackendUnavailableError(
            f"erf: a GPU array needs cupyx.scipy.special.erf, which could not be imported ({error}); "
            f"cupyx comes with CuPy: pip install 'scratchgan[gpu]'"
        ) from error
    return cupyx.scipy.special.erf(x)


class Erf(Function):
    """erf(x) = 2/sqrt(pi) int_0^x e^(-t^2) dt;  d erf(x)/dx = 2/sqrt(pi) e^(-x^2)."""

    def forward(self, x):
        return erf_array(x)

    def backward(self, g):
        (x,) = self.inputs
        return (g * (exp(-(x * x)) * TWO_OVER_SQRT_PI),)


class LogAddExp(Function):
    """log(e^a + e^b);  d/da = s(a - b) = e^a / (e^a + e^b), d/db = s(b - a).

    The forward is the array module's logaddexp, max(a, b) + log1p(e^-|a - b|): no overflow.
    The derivatives are PyTorch's 1 / (1 + e^(b - a)) written as the stable sigmoid."""

    def forward(self, a, b):
        return self.xp_of(a).logaddexp(a, b)

    def backward(self, g):
        a, b = self.inputs
        # each share has the output's shape (a - b broadcasts); s(b - a), not 1 - s(a - b),
        # keeps a tiny share's relative precision
        grad_a = unbroadcast(g * sigmoid(a - b), a.shape) if self.needs_input_grad[0] else None
        grad_b = unbroadcast(g * sigmoid(b - a), b.shape) if self.needs_input_grad[1] else None
        return grad_a, grad_b


def stable_sigmoid(x):
    """1 / (1 + e^-x) without overflow: e^-|x| is at most 1 on both branches."""
    xp = Function.xp_of(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


# -- functional forms -------------------------------------------------------------
def _binary(op, a, b):
    """Apply a binary primitive to Tensors or Python numbers, promoted as PyTorch does
    (``_common.result_dtype``); two Tensors of one dtype go straight through."""
    from scratchgan.autograd.tensor import Tensor

    if not (isinstance(a, Tensor) and isinstance(b, Tensor) and a.dtype == b.dtype):
        a, b = promote(a, b)
    return op.apply(a, b)


def add(a, b):
    return _binary(Add, a, b)


def sub(a, b):
    return _binary(Sub, a, b)


def mul(a, b):
    return _binary(Mul, a, b)


def div(a, b):
    """a / b, true division: integer or bool operands give the default float dtype, as PyTorch."""
    from scratchgan.autograd.tensor import Tensor

    if not (isinstance(a, Tensor) and isinstance(b, Tensor) and a.dtype == b.dtype):
        a, b = promote(a, b)
    if a.dtype.kind in "biu":
        a, b = cast(a, DEFAULT_FLOAT), cast(b, DEFAULT_FLOAT)
    return Div.apply(a, b)


def pow(a, b):  # noqa: A001  (the name of the op)
    """a ** b. A Python-number exponent is a constant of the node (``PowScalar``), as in
    PyTorch; otherwise both operands are promoted and ``Pow`` differentiates in both."""
    import numbers

    from scratchgan.autograd.tensor import Tensor

    if isinstance(a, Tensor) and isinstance(b, numbers.Real) and not isinstance(b, bool):
        a, _ = promote(a, b)
        return PowScalar.apply(a, exponent=b)
    return _binary(Pow, a, b)


def floating(x):
    """``x`` itself if floating, else cast to the default float dtype: PyTorch's floating ops
    (exp, log, sqrt, sigmoid, ...) of an integer or bool tensor give float32, not NumPy's float64."""
    return x if x.dtype.kind in "fc" else cast(x, DEFAULT_FLOAT)


def neg(x):
    return Neg.apply(x)


def exp(x):
    return Exp.apply(floating(x))


def log(x):
    return Log.apply(floating(x))


def log1p(x):
    return Log1p.apply(floating(x))


def sqrt(x):
    return Sqrt.apply(floating(x))


def abs(x):  # noqa: A001
    return Abs.apply(x)


def clip(x, low=None, high=None):
    if low is None and high is None:
        raise ValueError("clip: at least one of low and high must be given")
    return Clip.apply(x, low=low, high=high)


def where(condition, a, b):
    """Elements of ``a`` where ``condition`` is true, else of ``b`` (condition: bool array or
    Tensor); ``a`` and ``b`` are promoted as in the binary ops."""
    from scratchgan.autograd.tensor import Tensor

    if isinstance(condition, Tensor):
        condition = condition.data
    if not (isinstance(a, Tensor) and isinstance(b, Tensor) and a.dtype == b.dtype):
        a, b = promote(a, b)
    return Where.apply(a, b, condition=a.xp.asarray(condition, dtype=bool))


def maximum(a, b):
    return _binary(Maximum, a, b)


def minimum(a, b):
    """min(a, b) = -max(-a, -b): same tie rule as ``maximum``."""
    a, b = promote(a, b)
    return -maximum(-a, -b)


def cast(x, dtype):
    import numpy

    if numpy.dtype(dtype) == x.dtype:
        return x
    return Cast.apply(x, dtype=numpy.dtype(dtype))


def sigmoid(x):
    return Sigmoid.apply(floating(x))


def tanh(x):
    return Tanh.apply(floating(x))


def relu(x):
    return ReLU.apply(x)


def leaky_relu(x, negative_slope=0.01):
    return LeakyReLU.apply(x, slope=float(negative_slope))


def softplus(x):
    return Softplus.apply(floating(x))


def log_sigmoid(x):
    return LogSigmoid.apply(floating(x))


def _require_tensor(x, op):
    """``x`` if it is a Tensor, else the TypeError that names the op (for ops that are not
    one primitive, whose own check would name another op)."""
    from scratchgan.autograd.tensor import Tensor

    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    return x


def sin(x):
    return Sin.apply(x)


def cos(x):
    return Cos.apply(x)


def log2(x):
    return Log2.apply(x)


def log10(x):
    return Log10.apply(x)


def exp2(x):
    return Exp2.apply(x)


def rsqrt(x):
    """1 / sqrt(x), derived (PyTorch's CPU kernel computes the same two roundings):
    d/dx = -1 / (2 x^(3/2))."""
    return 1.0 / sqrt(_require_tensor(x, "rsqrt"))


def sign(x):
    return Sign.apply(x)


def erf(x):
    return Erf.apply(x)


def logaddexp(a, b):
    """log(e^a + e^b) without overflow; a and b broadcast and are promoted as in ``add``."""
    return _binary(LogAddExp, a, b)


def _predicate(x, op):
    """A boolean Tensor of the array module's ``op`` (isnan, ...): no graph, as the comparisons."""
    from scratchgan.autograd.tensor import Tensor

    x = _require_tensor(x, op)
    return Tensor(getattr(x.xp, op)(x.data))


def isnan(x):
    """True where x is NaN (a boolean Tensor, not differentiable)."""
    return _predicate(x, "isnan")


def isinf(x):
    """True where x is +inf or -inf (a boolean Tensor, not differentiable)."""
    return _predicate(x, "isinf")


def isfinite(x):
    """True where x is neither NaN nor infinite (a boolean Tensor, not differentiable)."""
    return _predicate(x, "isfinite")
