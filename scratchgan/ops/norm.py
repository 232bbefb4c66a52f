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
"""

from __future__ import annotations

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
