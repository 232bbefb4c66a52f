"""Reductions over axes (sum, max; mean, var, min derived) and the softmax family.

``unbroadcast`` lives here because undoing a broadcast is a sum: every binary op's
backward calls it to bring a gradient back to its input's shape.
"""

from __future__ import annotations

from scratchgan.autograd.function import Function
from scratchgan.ops import shape as shape_ops
from scratchgan.ops._common import as_tensor, check_axis, normalize_axis


def _kept_shape(shape, axes):
    """The shape a reduction over ``axes`` has with keepdims=True."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    """d sum(x)/dx = 1: the gradient is broadcast back over the reduced axes."""

    def forward(self, x):
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, g):
        (x,) = self._inputs
        g = shape_ops.reshape(g, _kept_shape(x.shape, self.axes))
        return (shape_ops.broadcast_to(g, x.shape),)


class Max(Function):
    """d max(x)/dx = 1/k at the k elements equal to the max, 0 elsewhere (torch.amax's rule)."""

    def forward(self, x):
        return x.max(axis=self.axes, keepdims=self.keepdims)

    def backward(self, g):
        (x,) = self.inputs
        kept = _kept_shape(x.shape, self.axes)
        is_max = x.data == self.output.data.reshape(kept)
        share = is_max / is_max.sum(axis=self.axes, keepdims=True)
        g = shape_ops.broadcast_to(shape_ops.reshape(g, kept), x.shape)
        return (g * as_tensor(share.astype(x.dtype), x),)


def unbroadcast(gradient, shape):
    """Sum ``gradient`` over the axes that broadcasting added or stretched, to get ``shape``."""
    if gradient.shape == tuple(shape):
        return gradient
    extra = gradient.ndim - len(shape)
    stretched = tuple(i + extra for i, n in enumerate(shape) if n == 1 and gradient.shape[i + extra] != 1)
    summed = sum_(gradient, axis=tuple(range(extra)) + stretched, keepdims=True)
    return shape_ops.reshape(summed, tuple(shape))


# -- functional forms --------------------------------------------------------------
def sum_(x, axis=None, keepdims=False):
    axes = normalize_axis(axis, x.ndim, "sum")
    return Sum.apply(x, axes=axes, keepdims=keepdims)


def max_(x, axis=None, keepdims=False):
    if x.size == 0:
        raise ValueError(f"max: cannot reduce an empty tensor of shape {x.shape}")
    axes = normalize_axis(axis, x.ndim, "max")
    return Max.apply(x, axes=axes, keepdims=keepdims)


def min_(x, axis=None, keepdims=False):
    """min(x) = -max(-x)."""
    return -max_(-x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """mean(x) = sum(x) / n over the reduced axes; nan over an empty axis (n = 0), as PyTorch."""
    axes = normalize_axis(axis, x.ndim, "mean")
    count = 1
    for a in axes:
        count *= x.shape[a]
    return sum_(x, axis=axes, keepdims=keepdims) * (1.0 / count if count else float("nan"))


def var(x, axis=None, keepdims=False, ddof=0):
    """var(x) = sum((x - mean(x))^2) / (n - ddof); NumPy's ddof=0 by default."""
    axes = normalize_axis(axis, x.ndim, "var")
    count = 1
    for a in axes:
        count *= x.shape[a]
    if count - ddof <= 0:
        raise ValueError(f"var: {count} elements with ddof={ddof} leave no degrees of freedom")
    centered = x - mean(x, axis=axes, keepdims=True)
    return sum_(centered * centered, axis=axes, keepdims=keepdims) * (1.0 / (count - ddof))


class LogSumExp(Function):
    """lse(x) = m + log sum e^(x - m), m = max x;  d lse/dx = softmax(x) = e^(x - lse)."""

    def forward(self, x):
        xp = self.xp_of(x)
        m = x.max(axis=self.axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        out = xp.log(xp.exp(x - m).sum(axis=self.axes, keepdims=True)) + m
        return out if self.keepdims else out.squeeze(axis=self.axes)

    def backward(self, g):
        (x,) = self.inputs
        kept = _kept_shape(x.shape, self.axes)
        lse = shape_ops.reshape(self.output, kept)
        g = shape_ops.reshape(g, kept)
        return (g * (x - lse).exp(),)


class Softmax(Function):
    """y = e^x / sum e^x;  the VJP is y * (g - sum(g * y))."""

    def forward(self, x):
        xp = self.xp_of(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        return e / e.sum(axis=self.axis, keepdims=True)

    def backward(self, g):
        y = self.output
        return (y * (g - sum_(g * y, axis=self.axis, keepdims=True)),)


class LogSoftmax(Function):
    """y = x - lse(x);  the VJP is g - softmax(x) * sum(g) = g - e^y sum(g)."""

    def forward(self, x):
        xp = self.xp_of(x)
        shifted = x - x.max(axis=self.axis, keepdims=True)
        return shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))

    def backward(self, g):
        y = self.output
        return (g - y.exp() * sum_(g, axis=self.axis, keepdims=True),)


def logsumexp(x, axis=None, keepdims=False):
    axes = normalize_axis(axis, x.ndim, "logsumexp")
    return LogSumExp.apply(x, axes=axes, keepdims=keepdims)


def softmax(x, axis=-1):
    """e^x / sum e^x along ``axis``; of a 0-d tensor, 1 (a softmax over one element), as PyTorch."""
    if x.ndim == 0:
        check_axis(axis, 0, "softmax")
        return shape_ops.reshape(Softmax.apply(shape_ops.reshape(x, 1), axis=0), ())
    return Softmax.apply(x, axis=check_axis(axis, x.ndim, "softmax"))


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along ``axis``; of a 0-d tensor, 0, as PyTorch."""
    if x.ndim == 0:
        check_axis(axis, 0, "log_softmax")
        return shape_ops.reshape(LogSoftmax.apply(shape_ops.reshape(x, 1), axis=0), ())
    return LogSoftmax.apply(x, axis=check_axis(axis, x.ndim, "log_softmax"))


# -- std, prod, cumsum, argmax, argmin ------------------------------------------------------------
class EmptyReductionError(IndexError, ValueError):
    """A reduction that needs an element (argmax, argmin) asked of an empty slice: an
    ``IndexError``, as PyTorch's, and a ``ValueError``, as scratchgan's other argument errors."""


def _reduced_count(shape, axes) -> int:
    count = 1
    for a in axes:
        count *= shape[a]
    return count


def _reversed(t, axis):
    """``t`` with the order along ``axis`` reversed: a basic slice with step -1 (its own adjoint)."""
    return shape_ops.getitem(t, (slice(None),) * axis + (slice(None, None, -1),))


class Std(Function):
    """std(x) = sqrt(var(x));  d std/dx = (x - mean(x)) / ((n - ddof) std), and 0 where std = 0.

    The 0 at a constant slice (where std has a kink and (x - mean) / std is 0/0) is
    PyTorch's rule (``std_backward`` masks ``g / (2 std)`` where std = 0). The divisor
    there is set to 1, so no inf or nan is formed and the second derivative is 0 too.
    """

    def forward(self, x):
        xp = self.xp_of(x)
        return xp.sqrt(xp.var(x, axis=self.axes, keepdims=self.keepdims, ddof=self.ddof))

    def backward(self, g):
        (x,) = self.inputs
        kept = _kept_shape(x.shape, self.axes)
        std = shape_ops.reshape(self.output, kept)
        at_zero = std.data == 0
        safe_std = std + as_tensor(at_zero.astype(x.dtype), x)
        g = shape_ops.reshape(g, kept) * as_tensor((~at_zero).astype(x.dtype), x)
        centered = x - mean(x, axis=self.axes, keepdims=True)
        return ((2.0 / (self.count - self.ddof)) * (g / (2 * safe_std)) * centered,)


class Prod(Function):
    """prod(x) = x_1 x_2 ... x_n;  d prod/dx_i = prod_{j != i} x_j, exact with zeros.

    Without zeros, prod_{j != i} x_j = prod(x) / x_i (PyTorch's formula). With a zero in x
    the quotient is 0/0, so the exclusive products are formed as PyTorch's
    ``prod_safe_zeros_backward`` forms them: the product of the elements before i times
    the product of those after it. With one zero in a slice the gradient at it is the
    product of the others and 0 elsewhere; with two or more it is 0 everywhere. Both
    forms are products of the inputs (polynomials), so every order is exact: the second
    derivative d^2 prod/dx_i dx_j = prod_{k != i, j} x_k is the same as PyTorch's
    double backward, also with zeros.
    """

    def forward(self, x):
        xp = self.xp_of(x)
        dtype = xp.int64 if x.dtype.kind in "biu" else None  # integers and bools: int64, as torch
        return xp.prod(x, axis=self.axes, keepdims=self.keepdims, dtype=dtype)

    def backward(self, g):
        (x,) = self.inputs
        kept = _kept_shape(x.shape, self.axes)
        g = shape_ops.broadcast_to(shape_ops.reshape(g, kept), x.shape)
        if not self.axes:  # a product over no axis is x itself
            return (g,)
        if not (x.data == 0).any():
            product = shape_ops.broadcast_to(shape_ops.reshape(self.output, kept), x.shape)
            return (g * (product / x),)
        return (g * _exclusive_products(x, self.axes),)


def _exclusive_products(x, axes):
    """e_i = prod_{j != i} x_j over each slice of ``axes`` (the reduced axes moved last and
    flattened): the exclusive cumulative product from the front times the one from the back."""
    kept_axes = tuple(a for a in range(x.ndim) if a not in axes)
    order = kept_axes + tuple(axes)
    moved = shape_ops.transpose(x, order)
    rows = shape_ops.reshape(moved, moved.shape[:len(kept_axes)] + (-1,))
    last = rows.ndim - 1
    before = _exclusive_cumprod(rows)
    after = _reversed(_exclusive_cumprod(_reversed(rows, last)), last)
    products = shape_ops.reshape(before * after, moved.shape)
    return shape_ops.transpose(products, tuple(order.index(a) for a in range(x.ndim)))


def _exclusive_cumprod(rows):
    """out_i = x_1 ... x_{i-1} along the last axis (1 at i = 1): the inclusive scan of
    (1, x_1, ..., x_{n-1})."""
    n = rows.shape[-1]
    before = ((0, 0),) * (rows.ndim - 1)
    shifted = shape_ops.pad(rows[..., :n - 1], before + ((1, 0),), value=1.0)
    return _inclusive_cumprod(shifted)


def _inclusive_cumprod(rows):
    """out_i = x_1 ... x_i along the last axis, by Hillis and Steele's scan (1986, "Data
    Parallel Algorithms"): after the step with offset s each element holds the product of
    the 2s elements ending at it, so ceil(log2 n) multiplications of shifted copies do it.
    Made of mul, pad and slices only, it is differentiable to every order, zeros included."""
    n = rows.shape[-1]
    before = ((0, 0),) * (rows.ndim - 1)
    step = 1
    while step < n:
        rows = rows * shape_ops.pad(rows[..., :n - step], before + ((step, 0),), value=1.0)
        step *= 2
    return rows


class Cumsum(Function):
    """y_i = x_1 + ... + x_i along ``axis``;  the VJP is the reverse cumulative sum,
    dx_j = sum_{i >= j} g_i = flip(cumsum(flip(g)))."""

    def forward(self, x):
        xp = self.xp_of(x)
        dtype = xp.int64 if x.dtype.kind in "biu" else None  # integers and bools: int64, as torch
        return xp.cumsum(x, axis=self.axis, dtype=dtype)

    def backward(self, g):
        return (_reversed(Cumsum.apply(_reversed(g, self.axis), axis=self.axis), self.axis),)


def std(x, axis=None, keepdims=False, ddof=0):
    """sqrt(sum((x - mean(x))^2) / (n - ddof)), the square root of ``var``: NumPy's ``ddof=0``
    (the biased estimate) by default, where ``torch.std`` defaults to ``correction=1``;
    ``torch.std(x, dim, correction=c)`` is ``std(x, axis, ddof=c)``. Too few elements for
    ``ddof`` raise a ValueError, as ``var`` does (PyTorch returns nan)."""
    if x.dtype.kind not in "fc":
        raise TypeError(f"std: expected a floating-point tensor, got dtype {x.dtype}")
    axes = normalize_axis(axis, x.ndim, "std")
    count = _reduced_count(x.shape, axes)
    if count - ddof <= 0:
        raise ValueError(f"std: {count} elements with ddof={ddof} leave no degrees of freedom")
    return Std.apply(x, axes=axes, keepdims=keepdims, ddof=ddof, count=count)


def prod(x, axis=None, keepdims=False):
    """The product over ``axis`` (None: all axes; an int; or a tuple of axes, as NumPy, where
    ``torch.prod`` takes one dim); 1 over an empty axis; integers and bools give int64."""
    axes = normalize_axis(axis, x.ndim, "prod")
    return Prod.apply(x, axes=axes, keepdims=keepdims)


def cumsum(x, axis):
    """The cumulative sum along ``axis`` (torch.cumsum's ``dim``, required as there); integers
    and bools give int64; of a 0-d tensor, the tensor, as PyTorch."""
    axis = check_axis(axis, x.ndim, "cumsum")
    if x.ndim == 0:
        return shape_ops.reshape(Cumsum.apply(shape_ops.reshape(x, 1), axis=0), ())
    return Cumsum.apply(x, axis=axis)


def argmax(x, axis=None, keepdims=False):
    """The index of the largest element along ``axis`` (of the flattened tensor when None), an
    int64 Tensor without a graph; the first one on ties and a NaN counts as the largest, as
    ``torch.argmax``."""
    return _arg_extremum(x, axis, keepdims, "argmax")


def argmin(x, axis=None, keepdims=False):
    """The index of the smallest element, as ``argmax``: the first one on ties, a NaN counts as
    the smallest, as ``torch.argmin``."""
    return _arg_extremum(x, axis, keepdims, "argmin")


def _arg_extremum(x, axis, keepdims, op):
    from scratchgan.autograd.tensor import Tensor

    if x.dtype == bool:
        raise TypeError(f"{op}: bool input is not supported (as in PyTorch); cast it to an integer dtype")
    xp, find = x.xp, getattr(x.xp, op)
    if axis is None:
        if x.size == 0:
            raise EmptyReductionError(f"{op}: cannot reduce an empty tensor of shape {x.shape}; name an axis")
        index = xp.asarray(find(x.data), dtype=xp.int64)
        return Tensor(index.reshape((1,) * x.ndim if keepdims else ()))
    axis = check_axis(axis, x.ndim, op)
    if x.ndim == 0:
        return Tensor(xp.zeros((), dtype=xp.int64))
    if x.shape[axis] == 0:
        raise EmptyReductionError(f"{op}: axis {axis} of shape {x.shape} is empty; expected at least one element")
    index = find(x.data, axis=axis)
    if keepdims:
        index = xp.expand_dims(index, axis)
    return Tensor(index.astype(xp.int64, copy=False))
