"""Reductions over axes (sum, max; mean, var, min derived) and the softmax family.

``unbroadcast`` lives here because undoing a broadcast is a sum: every binary op's
backward calls it to bring a gradient back to its input's shape.
"""

from __future__ import annotations

from scratchgan.autograd.function import Function
from scratchgan.ops import shape as shape_ops
from scratchgan.ops._common import as_tensor, normalize_axis


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
    """mean(x) = sum(x) / n over the reduced axes."""
    axes = normalize_axis(axis, x.ndim, "mean")
    count = 1
    for a in axes:
        count *= x.shape[a]
    return sum_(x, axis=axes, keepdims=keepdims) * (1.0 / count)


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
    (axis,) = normalize_axis(axis, x.ndim, "softmax")
    return Softmax.apply(x, axis=axis)


def log_softmax(x, axis=-1):
    (axis,) = normalize_axis(axis, x.ndim, "log_softmax")
    return LogSoftmax.apply(x, axis=axis)
