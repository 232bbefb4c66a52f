"""Layers with PyTorch's constructor signatures, parameter names, layouts and default inits."""

from __future__ import annotations

from collections import OrderedDict
from contextlib import contextmanager

import numpy

from scratchgan.autograd.tensor import DEFAULT_FLOAT, Tensor
from scratchgan.nn import functional as F
from scratchgan.nn import init
from scratchgan.nn.module import Module, Parameter
from scratchgan.ops._common import pair


def _empty(shape, dtype):
    return numpy.zeros(shape, dtype=DEFAULT_FLOAT if dtype is None else dtype)


class Linear(Module):
    """y = x W^T + b;  W: (out_features, in_features)."""

    def __init__(self, in_features, out_features, bias=True, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(_empty((out_features, in_features), dtype))
        self.bias = Parameter(_empty((out_features,), dtype)) if bias else None
        init.default_layer_init_(self.weight, self.bias)

    def forward(self, x):
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"{self.signature()}: input has {x.shape[-1] if x.ndim else 0} features "
                f"(shape {x.shape}), expected {self.in_features}"
            )
        return F.linear(x, self.weight, self.bias)

    def signature(self):
        return f"Linear({self.in_features}, {self.out_features})"

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class _ConvNd(Module):
    def _check_input(self, x):
        if x.ndim != 4:
            raise ValueError(f"{self.signature()}: expected a 4-d input (N, C, H, W), got shape {x.shape}")
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"{self.signature()}: input has {x.shape[1]} channels, expected {self.in_channels}"
            )

    def signature(self):
        kernel = self.kernel_size[0] if self.kernel_size[0] == self.kernel_size[1] else self.kernel_size
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels}, {kernel})"

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class Conv2d(_ConvNd):
    """2-d convolution; weight (out_channels, in_channels, kh, kw)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=True, dtype=None):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = pair(stride, "stride", "Conv2d")
        self.padding = pair(padding, "padding", "Conv2d")
        self.dilation = pair(dilation, "dilation", "Conv2d")
        self.weight = Parameter(_empty((out_channels, in_channels) + self.kernel_size, dtype))
        self.bias = Parameter(_empty((out_channels,), dtype)) if bias else None
        init.default_layer_init_(self.weight, self.bias)

    def forward(self, x):
        self._check_input(x)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)


class ConvTranspose2d(_ConvNd):
    """2-d transposed convolution; weight (in_channels, out_channels, kh, kw)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, bias=True, dilation=1, dtype=None):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = pair(kernel_size, "kernel_size", "ConvTranspose2d")
        self.stride = pair(stride, "stride", "ConvTranspose2d")
        self.padding = pair(padding, "padding", "ConvTranspose2d")
        self.output_padding = pair(output_padding, "output_padding", "ConvTranspose2d")
        self.dilation = pair(dilation, "dilation", "ConvTranspose2d")
        self.weight = Parameter(_empty((in_channels, out_channels) + self.kernel_size, dtype))
        self.bias = Parameter(_empty((out_channels,), dtype)) if bias else None
        init.default_layer_init_(self.weight, self.bias)

    def forward(self, x):
        self._check_input(x)
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.dilation)


def _register_affine(module, num_features, affine, dtype):
    """A normalisation layer's scale ``weight`` (ones) and shift ``bias`` (zeros), or None for both."""
    if affine:
        module.weight = Parameter(numpy.ones(num_features, dtype=_empty((), dtype).dtype))
        module.bias = Parameter(numpy.zeros(num_features, dtype=_empty((), dtype).dtype))
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


class _BatchNorm(Module):
    expected_ndims: tuple = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, dtype=None):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        _register_affine(self, num_features, affine, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(_empty((num_features,), dtype)))
            self.register_buffer("running_var", Tensor(_empty((num_features,), dtype) + 1))
            self.register_buffer("num_batches_tracked", Tensor(numpy.array(0, dtype=numpy.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x):
        if x.ndim not in self.expected_ndims or x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}): expected a "
                f"{' or '.join(f'{n}-d' for n in self.expected_ndims)} input with "
                f"{self.num_features} channels on axis 1, got shape {x.shape}"
            )
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data = self.num_batches_tracked.data + 1
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked.item())
        use_batch_stats = self.training or not self.track_running_stats
        track = self.training and self.track_running_stats
        return F.batch_norm(
            x,
            self.running_mean if track or not use_batch_stats else None,
            self.running_var if track or not use_batch_stats else None,
            self.weight, self.bias, training=use_batch_stats, momentum=momentum, eps=self.eps,
        )

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs."""

    expected_ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs, statistics per channel."""

    expected_ndims = (4,)


class _VirtualBatchNorm(Module):
    """Shared code of VirtualBatchNorm1d/2d: a reference pass, then per-example passes."""

    expected_ndims: tuple = ()

    def __init__(self, num_features, eps=1e-5, affine=True, dtype=None):
        super().__init__()
        self.num_features, self.eps, self.affine = num_features, eps, affine
        _register_affine(self, num_features, affine, dtype)
        # (mean (C,), mean of squares (C,), reference size n): graph Tensors of the last
        # reference pass, deliberately not buffers (nothing of them is saved or loaded)
        self._reference_statistics = None
        self._reference_pass = False  # set by `reference_batch`

    def reference(self, x_ref):
        """Normalise the reference batch with its own statistics and keep them for later calls."""
        with reference_batch(self):
            return self(x_ref)

    def forward(self, x):
        self._check_input(x)
        spatial = tuple(range(2, x.ndim))  # () for (N, C): an example's "spatial mean" is itself
        if self._reference_pass:
            return self._normalize_reference(x, spatial)
        if self._reference_statistics is None:
            raise ValueError(
                f"{self.signature()}: no reference batch yet; call layer.reference(x_ref), or "
                f"forward the reference batch through the model inside "
                f"`with scratchgan.nn.reference_batch(model):`, before normalising other batches"
            )
        ref_mean, ref_meansq, n = self._reference_statistics
        if ref_mean.dtype != x.dtype:
            raise TypeError(
                f"{self.signature()}: the reference statistics are {ref_mean.dtype} but the input "
                f"is {x.dtype}; forward the reference batch again after changing the dtype"
            )
        shape = (1, self.num_features) + (1,) * len(spatial)
        own, others = 1.0 / (n + 1), n / (n + 1)  # x_i counts as one more example of the reference
        mean = ref_mean.reshape(shape) * others + x.mean(axis=spatial, keepdims=True) * own
        meansq = ref_meansq.reshape(shape) * others + (x * x).mean(axis=spatial, keepdims=True) * own
        return self._affine((x - mean) / (meansq - mean * mean + self.eps).sqrt(), shape)

    def _normalize_reference(self, x_ref, spatial):
        count = x_ref.size // self.num_features
        if count <= 1:
            raise ValueError(
                f"{self.signature()}: a reference batch needs more than 1 value per channel, "
                f"got shape {x_ref.shape}"
            )
        axes, shape = (0,) + spatial, (1, self.num_features) + (1,) * len(spatial)
        mean = x_ref.mean(axis=axes)                # (C,)
        meansq = (x_ref * x_ref).mean(axis=axes)    # (C,)
        self._reference_statistics = (mean, meansq, x_ref.shape[0])
        mean, meansq = mean.reshape(shape), meansq.reshape(shape)
        return self._affine((x_ref - mean) / (meansq - mean * mean + self.eps).sqrt(), shape)

    def _affine(self, x_hat, shape):
        if self.weight is not None:
            x_hat = x_hat * self.weight.reshape(shape)
        if self.bias is not None:
            x_hat = x_hat + self.bias.reshape(shape)
        return x_hat

    def _check_input(self, x):
        if x.ndim not in self.expected_ndims or x.shape[1] != self.num_features:
            raise ValueError(
                f"{self.signature()}: expected a "
                f"{' or '.join(f'{n}-d' for n in self.expected_ndims)} input with "
                f"{self.num_features} channels on axis 1, got shape {x.shape}"
            )

    def signature(self):
        return f"{type(self).__name__}({self.num_features})"

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, affine={self.affine}"


class VirtualBatchNorm1d(_VirtualBatchNorm):
    """Virtual batch norm over (N, C) or (N, C, L) inputs; see ``VirtualBatchNorm2d``."""

    expected_ndims = (2, 3)


class VirtualBatchNorm2d(_VirtualBatchNorm):
    """Virtual batch norm over (N, C, H, W) (Salimans et al. 2016, sec. 3.4; seed 000).

    Batch norm makes each output depend on the other examples of its batch (seed 000,
    'Batch Normalization', keeps real and fake batches apart so that samples within a
    batch are less dependent). VBN removes the dependence: each example is normalised
    with the statistics of a fixed reference batch plus itself. Two kinds of call,
    every training step:

    ```python
    with sg.nn.reference_batch(G):   # or layer.reference(x_ref) for one layer
        G(z_ref)                     # the reference batch, normalised by its own statistics
    fake = G(z)                      # each example by the reference statistics and itself
    ```

    Reference pass, per channel over (N_ref, H, W): ``ref_mean = mean(x_ref)``,
    ``ref_meansq = mean(x_ref^2)``, ``y_ref = (x_ref - ref_mean) / sqrt(ref_meansq -
    ref_mean^2 + eps) * gamma + beta`` (batch norm in training mode). Per-example pass,
    with n = N_ref and means over (H, W) of the one example x_i:
    ``mean_i = (n ref_mean + mean(x_i)) / (n + 1)``, ``meansq_i = (n ref_meansq +
    mean(x_i^2)) / (n + 1)``, ``y_i = (x_i - mean_i) / sqrt(meansq_i - mean_i^2 + eps) *
    gamma + beta``, as OpenAI's improved-gan code; gamma is ``weight`` and beta ``bias``.

    Derivatives: the layer is a composition of mean, mul, sub, sqrt and div, and the
    reference statistics are the graph Tensors of the reference pass, so autodiff
    differentiates y_i through x_i (directly and through mean_i, meansq_i) and through
    ref_mean, ref_meansq into x_ref and whatever produced it (G's weights, forwarded on the
    reference batch in the same step, as in the paper); derivatives of every order come
    from those ops. The statistics belong to that step's graph (a backward through them
    frees it, an optimizer step makes them stale): forward the reference batch again
    each step, and after a ``.to()`` / ``.double()``.

    No running statistics (the state dict holds ``weight`` and ``bias`` only), and
    evaluation mode computes exactly what training mode does.
    """

    expected_ndims = (4,)


@contextmanager
def reference_batch(module):
    """Inside the block, every VirtualBatchNorm layer of ``module`` treats its input as the
    reference batch: it normalises it with its own statistics and keeps them (graph
    Tensors) for the per-example calls that follow the block."""
    layers = [m for m in module.modules() if isinstance(m, _VirtualBatchNorm)]
    if not layers:
        raise ValueError(f"reference_batch: {type(module).__name__} has no VirtualBatchNorm1d/2d layer")
    for layer in layers:
        layer._reference_pass = True
    try:
        yield module
    finally:
        for layer in layers:
            layer._reference_pass = False


class LeakyReLU(Module):
    """x if x > 0 else negative_slope x."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x):
        return F.relu(x)


class Tanh(Module):
    """tanh(x) = (e^x - e^-x) / (e^x + e^-x)."""

    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    """1 / (1 + e^-x)."""

    def forward(self, x):
        return F.sigmoid(x)


class Softplus(Module):
    """log(1 + e^(beta x)) / beta."""

    def __init__(self, beta=1.0):
        super().__init__()
        self.beta = beta

    def forward(self, x):
        return F.softplus(x, self.beta)


class Identity(Module):
    """y = x."""

    def forward(self, x):
        return x


class Dropout(Module):
    """Inverted dropout in training mode, identity in evaluation mode."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Embedding(Module):
    """A lookup table (num_embeddings, embedding_dim), initialised N(0, 1) as PyTorch."""

    def __init__(self, num_embeddings, embedding_dim, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(_empty((num_embeddings, embedding_dim), dtype))
        init.normal_(self.weight)

    def forward(self, indices):
        return F.embedding(indices, self.weight)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Flatten(Module):
    """Merge axes start_dim..end_dim into one (by default all but the batch axis)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)


class Unflatten(Module):
    """Split axis ``dim`` into ``unflattened_size``."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        dim = self.dim % x.ndim
        size = 1
        for n in self.unflattened_size:
            size *= n
        if x.shape[dim] != size:
            raise ValueError(
                f"Unflatten({self.dim}, {self.unflattened_size}): axis {dim} has size "
                f"{x.shape[dim]}, expected {size}"
            )
        return x.reshape(x.shape[:dim] + self.unflattened_size + x.shape[dim + 1:])


class AvgPool2d(Module):
    """Mean over each kh x kw window, stride = kernel_size by default (count_include_pad=True)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class Upsample(Module):
    """Nearest-neighbour upsampling by an integer scale factor."""

    def __init__(self, size=None, scale_factor=None, mode="nearest"):
        super().__init__()
        if size is not None or scale_factor is None:
            raise ValueError("Upsample: give scale_factor (an integer); size= is not available")
        if mode != "nearest":
            raise ValueError(f"Upsample: mode {mode!r} is not available; expected 'nearest'")
        self.scale_factor, self.mode = scale_factor, mode

    def forward(self, x):
        return F.interpolate(x, scale_factor=self.scale_factor, mode=self.mode)


class Sequential(Module):
    """Modules applied in order; children are named "0", "1", ... as in PyTorch, or by the
    keys of a single OrderedDict argument."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            named = list(modules[0].items())
        else:
            named = [(str(index), module) for index, module in enumerate(modules)]
        for name, module in named:
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: {name} is a {type(module).__name__}, not a Module")
            self.add_module(name, module)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index):
        if isinstance(index, slice):  # keep the children's names, as PyTorch
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return list(self._modules.values())[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self
