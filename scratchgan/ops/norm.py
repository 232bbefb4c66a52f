"""Batch normalisation, written as differentiable ops so every derivative order works.

    x_hat = (x - mean_B(x)) / sqrt(var_B(x) + eps),   y = gamma x_hat + beta

The backward of this composition is the textbook formula
dx = (gamma / sigma) (g - mean(g) - x_hat mean(g x_hat)), produced by the engine from
the mean, var and arithmetic ops; a fused kernel may replace it later without
changing the calculus.
"""

from __future__ import annotations

from scratchgan.autograd import grad_mode
from scratchgan.ops import reduce as reduce_ops


def _param_shape(x):
    """gamma, beta and the statistics broadcast over the channel axis 1."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """PyTorch's F.batch_norm over every axis but the channel axis 1.

    Training: normalise with the batch mean and biased variance, and update the running
    statistics in place: running = (1 - momentum) running + momentum batch_stat, with
    the *unbiased* batch variance n/(n-1) var (PyTorch's rule). momentum=None uses the
    cumulative average, which the caller implements by passing 1/num_batches_tracked.
    Evaluation: normalise with the running statistics.
    """
    axes = (0,) + tuple(range(2, x.ndim))
    shape = _param_shape(x)
    if training:
        count = x.size // x.shape[1]
        if count <= 1:
            raise ValueError(
                f"batch_norm: expected more than 1 value per channel in training, got input "
                f"of shape {x.shape}"
            )
        mean = reduce_ops.mean(x, axis=axes, keepdims=True)
        centered = x - mean
        var = reduce_ops.mean(centered * centered, axis=axes, keepdims=True)
        if running_mean is not None:
            with grad_mode.no_grad():
                m = momentum
                running_mean.data = (1 - m) * running_mean.data + m * mean.data.reshape(-1)
                unbiased = var.data.reshape(-1) * (count / (count - 1))
                running_var.data = (1 - m) * running_var.data + m * unbiased
        x_hat = centered / (var + eps).sqrt()
    else:
        if running_mean is None:
            raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
        std = (running_var.reshape(shape) + eps).sqrt()
        x_hat = (x - running_mean.reshape(shape)) / std
    if weight is not None:
        x_hat = x_hat * weight.reshape(shape)
    if bias is not None:
        x_hat = x_hat + bias.reshape(shape)
    return x_hat
