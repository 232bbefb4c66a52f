"""Layer, group and instance normalisation layers with PyTorch's signatures, names and repr.

Each normalises with statistics of the example it sees (never of the batch, unlike
BatchNorm), through the functional forms in ``scratchgan.ops.norm``: ``F.layer_norm``,
``F.group_norm``, ``F.instance_norm``. Their formulas and derivatives are in the atlas
(docs/atlas/batchnorm.md, "Layer, group and instance norm").
"""

from __future__ import annotations

import warnings

from scratchgan.nn import functional as F
from scratchgan.nn.layers import _register_affine, register_running_stats
from scratchgan.nn.module import Module
from scratchgan.ops.norm import _as_shape


def _drop_bias(module, affine, bias):
    """PyTorch's keyword ``bias=False``: the scale stays, the shift is None."""
    if affine and not bias:
        module.register_parameter("bias", None)


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last len(normalized_shape)
    axes of each example (Ba, Kiros and Hinton 2016); weight (ones) and bias (zeros) of shape
    ``normalized_shape``. The same in training and evaluation."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=None):
        super().__init__()
        self.normalized_shape = _as_shape(normalized_shape, "LayerNorm")
        self.eps, self.elementwise_affine = eps, elementwise_affine
        _register_affine(self, self.normalized_shape, elementwise_affine, dtype)
        _drop_bias(self, elementwise_affine, bias)

    def forward(self, x):
        k = len(self.normalized_shape)
        if x.ndim < k or x.shape[x.ndim - k:] != self.normalized_shape:
            raise ValueError(
                f"{self.signature()}: expected an input of shape "
                f"(*, {', '.join(map(str, self.normalized_shape))}), got shape {x.shape}")
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def signature(self):
        return f"LayerNorm({self.normalized_shape})"

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    """y = (x - mean_g) / sqrt(var_g + eps) * weight[c] + bias[c] for x (N, C, *), statistics of
    each example's group of C / num_groups channels (Wu and He 2018); weight (ones) and bias
    (zeros) of shape (C,). The same in training and evaluation.

    As PyTorch, an input whose channel count differs from ``num_channels`` is an error when
    affine (the weight has C values); without affine PyTorch normalises it silently, and this
    layer does too, with a warning as PyTorch's InstanceNorm gives.
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, dtype=None, *, bias=True):
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups}), a positive int")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        _register_affine(self, num_channels, affine, dtype)
        _drop_bias(self, affine, bias)

    def forward(self, x):
        if x.ndim < 2:
            raise ValueError(f"{self.signature()}: expected an input (N, C, *) with at least 2 "
                             f"dimensions, got shape {x.shape}")
        if x.shape[1] != self.num_channels:
            message = (f"{self.signature()}: input has {x.shape[1]} channels on axis 1 (shape "
                       f"{x.shape}), expected {self.num_channels}")
            if self.affine:
                raise ValueError(message)
            warnings.warn(message + " (num_channels is not used because affine=False)", stacklevel=3)
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def signature(self):
        return f"GroupNorm({self.num_groups}, {self.num_channels})"

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class _InstanceNorm(Module):
    """Shared code of InstanceNorm1d/2d: batched (N, C, *) or unbatched (C, *) input."""

    batched_ndim: int = 0  # 3 for InstanceNorm1d (N, C, L), 4 for InstanceNorm2d

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False,
                 track_running_stats=False, dtype=None, *, bias=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        _register_affine(self, num_features, affine, dtype)
        _drop_bias(self, affine, bias)
        # num_batches_tracked is in the state dict as PyTorch's, which never counts for instance norm
        register_running_stats(self, num_features, track_running_stats, dtype)

    def forward(self, x):
        self._check_input(x)
        unbatched = x.ndim == self.batched_ndim - 1
        if unbatched:
            x = x.unsqueeze(0)
        # PyTorch's rule: momentum=None passes 0.0, so the running statistics do not move
        momentum = 0.0 if self.momentum is None else self.momentum
        y = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            use_input_stats=self.training or not self.track_running_stats,
                            momentum=momentum, eps=self.eps)
        return y.squeeze(0) if unbatched else y

    def _check_input(self, x):
        if x.ndim not in (self.batched_ndim - 1, self.batched_ndim):
            raise ValueError(
                f"{self.signature()}: expected a {self.batched_ndim - 1}-d (unbatched) or "
                f"{self.batched_ndim}-d input, got shape {x.shape}")
        channels = x.shape[x.ndim - self.batched_ndim + 1]
        if channels != self.num_features:
            message = (f"{self.signature()}: input has {channels} channels (shape {x.shape}), "
                       f"expected {self.num_features}")
            if self.affine or self.track_running_stats:
                raise ValueError(message)
            warnings.warn(message + " (num_features is not used because affine=False)", stacklevel=4)

    def signature(self):
        return f"{type(self).__name__}({self.num_features})"

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Instance norm of (N, C, L) or unbatched (C, L) inputs; see ``InstanceNorm2d``."""

    batched_ndim = 3


class InstanceNorm2d(_InstanceNorm):
    """y = (x - mean_nc) / sqrt(var_nc + eps) * weight[c] + bias[c] for x (N, C, H, W) or
    unbatched (C, H, W): statistics of each example's channel over H, W (Ulyanov, Vedaldi
    and Lempitsky 2016), biased variance; weight and bias only with ``affine=True``.

    As PyTorch: instance statistics in training and evaluation, unless
    ``track_running_stats=True``, which keeps running_mean and running_var (the batch average
    of the instance mean and unbiased variance, with ``momentum``) in training and normalises
    with them in evaluation. ``momentum=None`` leaves them at their initial values (PyTorch
    passes 0.0; ``num_batches_tracked`` is kept for its state dict and stays 0). An input
    whose channel count differs from ``num_features`` is an error with affine or running
    statistics, and otherwise a warning (it is normalised all the same).
    """

    batched_ndim = 4

