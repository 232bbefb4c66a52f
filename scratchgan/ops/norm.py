"""Batch normalisation: one primitive in training mode, a composition of ops in evaluation.

    x_hat = (x - mean_B(x)) / sqrt(var_B(x) + eps),   y = gamma x_hat + beta

Training mode is the primitive ``BatchNormTrain``: its forward computes the batch
statistics and the normalised output in one kernel call, and its first-order backward
is the textbook formula, also one kernel call (sums over every axis but the channel
axis 1, count = values per channel):

    dbeta = sum(g),   dgamma = sum(g x_hat),
    dx = (gamma / sigma) (g - dbeta / count - x_hat dgamma / count)

Higher derivatives (a gradient penalty through a batch-normed critic) need the gradient
as a differentiable expression: then the backward rebuilds the same function from
mean, var and arithmetic ops (``_batch_norm_composite``, the readable definition) and
differentiates that with ``create_graph``. Both paths are tested against each other
and against PyTorch.

Layer, group and instance norm (at the end of the module) are the same primitive applied
to a reshaped view of x whose "channels" are the rows to normalise.
"""

from __future__ import annotations

import math
import numbers

from scratchgan import backend
from scratchgan.autograd import grad_mode
from scratchgan.autograd.function import Function
from scratchgan.autograd.tensor import Tensor
from scratchgan.ops import reduce as reduce_ops


def _param_shape(x):
    """gamma, beta and the statistics broadcast over the channel axis 1."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _reduce_axes(x):
    return (0,) + tuple(range(2, x.ndim))


def batch_norm_train_array(x, weight, bias, eps):
    """Reference forward: (y, mean, var), statistics of shape (C,), var the biased variance."""
    xp = backend.get_array_module(x)
    axes, shape = _reduce_axes(x), _param_shape(x)
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    var = (centered * centered).mean(axis=axes, keepdims=True)
    invstd = 1 / xp.sqrt(var + x.dtype.type(eps))
    y = centered * (invstd * weight.reshape(shape)) + bias.reshape(shape)
    return y, mean.reshape(-1), var.reshape(-1)


def batch_norm_backward_array(g, x, weight, mean, invstd):
    """Reference first-order backward: (dx, dweight, dbias)."""
    axes, shape = _reduce_axes(x), _param_shape(x)
    count = x.size // x.shape[1]
    x_hat = (x - mean.reshape(shape)) * invstd.reshape(shape)
    dbias = g.sum(axis=axes)
    dweight = (g * x_hat).sum(axis=axes)
    scale = (weight * invstd).reshape(shape)
    dx = scale * (g - (dbias / count).reshape(shape) - x_hat * (dweight / count).reshape(shape))
    return dx, dweight, dbias


def _batch_norm_composite(x, weight, bias, eps):
    """The same function as BatchNormTrain, from differentiable ops (for higher derivatives)."""
    axes, shape = _reduce_axes(x), _param_shape(x)
    mean = reduce_ops.mean(x, axis=axes, keepdims=True)
    centered = x - mean
    var = reduce_ops.mean(centered * centered, axis=axes, keepdims=True)
    return centered / (var + eps).sqrt() * weight.reshape(shape) + bias.reshape(shape)


class BatchNormTrain(Function):
    """y = gamma (x - mean) / sqrt(var + eps) + beta with batch statistics (see the module).

    ``statistics``, a dict or None, receives the batch mean and biased variance (for the
    running averages), also when no graph is recorded.
    """

    statistics = None

    def forward(self, x, weight, bias):
        impl = backend.kernel("batch_norm_train", batch_norm_train_array)
        y, self.mean, var = impl(x, weight, bias, self.eps)
        self.invstd = 1 / self.xp_of(var).sqrt(var + var.dtype.type(self.eps))
        if self.statistics is not None:
            self.statistics.update(mean=self.mean, var=var)
        return y

    def backward(self, g):
        x, weight, bias = self.inputs
        if grad_mode.is_grad_enabled():  # create_graph: differentiate the composite definition
            from scratchgan.autograd.engine import grad

            wanted = [t for t, needed in zip((x, weight, bias), self.needs_input_grad) if needed]
            y = _batch_norm_composite(x, weight, bias, self.eps)
            grads = iter(grad([y], wanted, [g], create_graph=True, allow_unused=True))
            return tuple(next(grads) if needed else None for needed in self.needs_input_grad)
        impl = backend.kernel("batch_norm_backward", batch_norm_backward_array)
        dx, dweight, dbias = impl(g.data, x.data, weight.data, self.mean, self.invstd)
        flags = self.needs_input_grad
        return (Tensor(dx) if flags[0] else None, Tensor(dweight) if flags[1] else None,
                Tensor(dbias) if flags[2] else None)


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """PyTorch's F.batch_norm over every axis but the channel axis 1.

    Training: normalise with the batch mean and biased variance, and update the running
    statistics in place: running = (1 - momentum) running + momentum batch_stat, with
    the *unbiased* batch variance n/(n-1) var (PyTorch's rule). momentum=None uses the
    cumulative average, which the caller implements by passing 1/num_batches_tracked.
    Evaluation: normalise with the running statistics.
    """
    shape = _param_shape(x)
    if training:
        count = x.size // x.shape[1]
        if count <= 1:
            raise ValueError(
                f"batch_norm: expected more than 1 value per channel in training, got input "
                f"of shape {x.shape}"
            )
        xp, channels = x.xp, x.shape[1]
        weight = weight if weight is not None else Tensor(xp.ones(channels, dtype=x.dtype))
        bias = bias if bias is not None else Tensor(xp.zeros(channels, dtype=x.dtype))
        statistics = {}
        y = BatchNormTrain.apply(x, weight, bias, eps=eps, statistics=statistics)
        if running_mean is not None:
            m, unbiased = momentum, statistics["var"] * (count / (count - 1))
            running_mean.data = (1 - m) * running_mean.data + m * statistics["mean"]
            running_var.data = (1 - m) * running_var.data + m * unbiased
        return y
    if running_mean is None:
        raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
    std = (running_var.reshape(shape) + eps).sqrt()
    x_hat = (x - running_mean.reshape(shape)) / std
    if weight is not None:
        x_hat = x_hat * weight.reshape(shape)
    if bias is not None:
        x_hat = x_hat + bias.reshape(shape)
    return x_hat


# -- layer, group and instance norm: batch norm's primitive on a view of x -----------------------
# The three normalise x with batch norm's formula over other axes,
#     x_hat = (x - mean(x)) / sqrt(var(x) + eps),   var the biased variance (as PyTorch):
# over the last len(normalized_shape) axes (layer norm), over (C / G, *spatial) for each
# (example, group) (group norm), over *spatial for each (example, channel) (instance norm).
# In each case x, seen as (1, R, M) (R normalised rows of M values each, a reshape), is
# normalised row by row, which is exactly batch norm in training mode with the R rows as
# channels, so the three are derived ops: a reshape, the primitive BatchNormTrain, and for
# layer and group norm the affine gamma x_hat + beta as mul and add. Their derivatives are
# BatchNormTrain's (its fused first-order kernel; under create_graph its composite of mean,
# sub, mul, sqrt and div), so every order is exact. PyTorch computes instance norm the same
# way. Measured (2 cores, numba set, one BLAS thread, float32, forward and backward of
# (64, 64, 16, 16) with affine), the same functions written with mean, sub, mul, sqrt and div
# took 11.8 ms (instance norm) and 14.9 ms (group norm, 32 groups); through BatchNormTrain,
# 1.6 and 7.3 ms (PyTorch: 3.4 and 1.3 ms).


def _normalize_rows(x, rows, row_size, eps, weight=None, bias=None, statistics=None):
    """x normalised over each of ``rows`` rows of ``row_size`` values (x seen as (1, rows,
    row_size)): BatchNormTrain on that view, with a per-row gamma, beta (ones, zeros when None).
    ``statistics``, a dict or None, receives each row's mean and biased variance (rows,)."""
    if x.size == 0:  # nothing to normalise (an empty batch or row); no statistics
        return x * 0.0
    xp = x.xp
    weight = weight if weight is not None else Tensor(xp.ones(rows, dtype=x.dtype))
    bias = bias if bias is not None else Tensor(xp.zeros(rows, dtype=x.dtype))
    view = x.reshape(1, rows, row_size)
    y = BatchNormTrain.apply(view, weight, bias, eps=eps, statistics=statistics)
    return y.reshape(x.shape)


def _affine(x_hat, weight, bias, shape=None):
    """gamma x_hat + beta, each of them optional, reshaped to ``shape`` when it is given."""
    if weight is not None:
        x_hat = x_hat * (weight if shape is None else weight.reshape(shape))
    if bias is not None:
        x_hat = x_hat + (bias if shape is None else bias.reshape(shape))
    return x_hat


def _check_input(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: input must be a floating-point Tensor, got dtype {x.dtype}")


def _check_operand(op, name, value, shape, x, described):
    """weight, bias or a running statistic: None, or a Tensor of ``shape`` and x's dtype."""
    if value is None:
        return
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor or None, got {type(value).__name__}")
    if value.shape != shape:
        raise ValueError(f"{op}: expected {name} of shape {shape} ({described}), got shape {value.shape}")
    if value.dtype != x.dtype:
        raise TypeError(f"{op}: {name} is {value.dtype} but the input is {x.dtype}; expected the same dtype")


def _channel_shape(x):
    """Per-channel operands broadcast over axis 1: (1, C, 1, ...)."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _as_shape(normalized_shape, op):
    """normalized_shape as a non-empty tuple of non-negative ints (an int n means (n,))."""
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
        normalized_shape = (normalized_shape,)
    try:
        shape = tuple(normalized_shape)
    except TypeError:
        shape = None
    if shape is None or not all(isinstance(n, numbers.Integral) and not isinstance(n, bool)
                                and n >= 0 for n in shape):
        raise TypeError(f"{op}: normalized_shape must be an int or a sequence of non-negative ints, "
                        f"got {normalized_shape!r}")
    if not shape:
        raise ValueError(f"{op}: normalized_shape must have at least one element, got {shape}")
    return tuple(int(n) for n in shape)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """PyTorch's F.layer_norm: normalise over the last len(normalized_shape) axes,

        y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias,

    statistics for each index of the leading axes (biased variance), ``weight`` and ``bias``
    of shape ``normalized_shape`` (Ba, Kiros and Hinton 2016, arXiv:1607.06450). Derived:
    x seen as (1, rows, prod(normalized_shape)) through BatchNormTrain, then mul and add
    (see the comment above ``_normalize_rows``). ``normalized_shape`` may also be an int n,
    meaning (n,), as for the layer (PyTorch's functional form wants a sequence).
    """
    op = "layer_norm"
    _check_input(x, op)
    shape = _as_shape(normalized_shape, op)
    if len(shape) > x.ndim or x.shape[x.ndim - len(shape):] != shape:
        raise ValueError(
            f"{op}: normalized_shape {shape} must equal the input's last {len(shape)} axes; "
            f"expected an input of shape (*, {', '.join(map(str, shape))}), got shape {x.shape}")
    for name, value in (("weight", weight), ("bias", bias)):
        _check_operand(op, name, value, shape, x, "normalized_shape")
    row_size = math.prod(shape)
    x_hat = _normalize_rows(x, math.prod(x.shape[:x.ndim - len(shape)]), row_size, eps)
    return _affine(x_hat, weight, bias)


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """PyTorch's F.group_norm: split the channels of x (N, C, *) into ``num_groups`` groups of
    C / G and normalise each (example, group) over its channels and spatial positions,

        y = (x - mean_g(x)) / sqrt(var_g(x) + eps) * weight[c] + bias[c]

    (Wu and He 2018, arXiv:1803.08494), biased variance, ``weight``/``bias`` of shape (C,).
    Derived: x seen as (1, N G, C/G prod(*)) through BatchNormTrain, then mul and add.
    """
    op = "group_norm"
    _check_input(x, op)
    if x.ndim < 2:
        raise ValueError(f"{op}: expected an input (N, C, *) with at least 2 dimensions, got shape {x.shape}")
    if isinstance(num_groups, bool) or not isinstance(num_groups, numbers.Integral):
        raise TypeError(f"{op}: num_groups must be an int, got {num_groups!r}")
    n, channels = x.shape[:2]
    if num_groups <= 0 or channels % num_groups:
        raise ValueError(f"{op}: the input's {channels} channels (shape {x.shape}) must be divisible "
                         f"by num_groups, a positive int; got num_groups={num_groups}")
    for name, value in (("weight", weight), ("bias", bias)):
        _check_operand(op, name, value, (channels,), x, "one value per channel")
    group_size = channels // num_groups * math.prod(x.shape[2:])
    if n * group_size == 1:  # PyTorch's check
        raise ValueError(f"{op}: expected more than 1 value per group in training, got input of shape {x.shape}")
    x_hat = _normalize_rows(x, n * int(num_groups), group_size, eps)
    return _affine(x_hat, weight, bias, _channel_shape(x))


def instance_norm(x, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """PyTorch's F.instance_norm: normalise each (example, channel) of x (N, C, *) over its
    spatial axes *,

        y = (x - mean_nc(x)) / sqrt(var_nc(x) + eps) * weight[c] + bias[c]

    (Ulyanov, Vedaldi and Lempitsky 2016, arXiv:1607.08022), biased variance. With
    ``use_input_stats`` and running statistics given, they are updated in place as PyTorch
    does: running = (1 - momentum) running + momentum stat, stat the instance mean and the
    *unbiased* instance variance averaged over the batch. ``use_input_stats=False``
    normalises with the running statistics instead (mean, sub, add, sqrt, div). ``momentum``
    is a number, as in PyTorch (its layers, and these, pass 0.0 for momentum=None).
    Derived: x seen as (1, N C, prod(*)) through BatchNormTrain, whose per-row gamma and beta
    are weight and bias repeated for each example (broadcast_to).
    """
    op = "instance_norm"
    _check_input(x, op)
    if x.ndim < 2:
        raise ValueError(f"{op}: expected an input (N, C, *) with at least 2 dimensions, got shape {x.shape}")
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: running_mean and running_var must both be None or both be given")
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real):
        raise TypeError(f"{op}: momentum must be a number, got {momentum!r}")
    (n, channels), shape = x.shape[:2], _channel_shape(x)
    for name, value in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                        ("running_var", running_var)):
        _check_operand(op, name, value, (channels,), x, "one value per channel")
    if not use_input_stats:
        if running_mean is None:
            raise ValueError(f"{op}: use_input_stats=False needs running_mean and running_var")
        x_hat = (x - running_mean.reshape(shape)) / (running_var.reshape(shape) + eps).sqrt()
        return _affine(x_hat, weight, bias, shape)
    count = math.prod(x.shape[2:])
    if count == 1:  # PyTorch's check: a lone value would be normalised to 0
        raise ValueError(f"{op}: expected more than 1 spatial element in training, got input of shape {x.shape}")
    per_row = [None if p is None else p.reshape(1, channels).broadcast_to((n, channels)).reshape(n * channels)
               for p in (weight, bias)]
    statistics = {} if running_mean is not None else None
    y = _normalize_rows(x, n * channels, count, eps, *per_row, statistics=statistics)
    if statistics:
        _update_instance_statistics(running_mean, running_var, statistics, count, momentum)
    return y


def _update_instance_statistics(running_mean, running_var, statistics, count, momentum):
    """running = (1 - m) running + m stat, stat the (N C,) row statistics averaged over the
    batch, with the unbiased variance count/(count - 1) var (PyTorch's rule)."""
    channels, dtype = running_mean.shape[0], running_mean.dtype
    batch_mean = statistics["mean"].reshape(-1, channels).mean(axis=0)
    batch_var = (statistics["var"].reshape(-1, channels) * (count / (count - 1))).mean(axis=0)
    running_mean.data = ((1 - momentum) * running_mean.data + momentum * batch_mean).astype(dtype, copy=False)
    running_var.data = ((1 - momentum) * running_var.data + momentum * batch_var).astype(dtype, copy=False)
