"""Layers with PyTorch's constructor signatures, parameter names, layouts and default inits."""

from __future__ import annotations

from collections import OrderedDict
from contextlib import contextmanager

import numpy

from scratchgan.autograd.tensor import DEFAULT_FLOAT, Tensor
from scratchgan.nn import functional as F
from scratchgan.nn import init
from scratchgan.nn.module import Module, Parameter
from scratchgan.ops import pool as pool_ops
from scratchgan.ops._common import check_axis, pair
from scratchgan.ops.conv import single


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
    """What the convolution layers share, as PyTorch's ``_ConvNd``: the checks of groups and
    padding, the weight (out, in / groups, *kernel), or (in, out / groups, *kernel) when
    transposed, and the default init, whose fan_in is the weight's ``shape[1] * prod(kernel)``
    (in / groups, or out / groups when transposed, as PyTorch). Unlike PyTorch, an unbatched
    input is refused and padding_mode is always zeros."""

    spatial = 2  # spatial axes: 1 for (N, C, L), 2 for (N, C, H, W)
    transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, dtype=None, output_padding=0):  # Conv1d/Conv2d's order, PyTorch's
        super().__init__()
        name = type(self).__name__
        as_tuple = single if self.spatial == 1 else pair
        if not isinstance(groups, int) or groups < 1:
            raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
        for what, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
            if channels % groups:
                raise ValueError(f"{name}: {what} ({channels}) must be divisible by groups ({groups})")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = as_tuple(kernel_size, "kernel_size", name)
        self.stride = as_tuple(stride, "stride", name)
        self.padding = self._checked_padding(name, padding, as_tuple)
        self.dilation = as_tuple(dilation, "dilation", name)
        if self.transposed:
            self.output_padding = as_tuple(output_padding, "output_padding", name)
            channels = (in_channels, out_channels // groups)
        else:
            channels = (out_channels, in_channels // groups)
        self.weight = Parameter(_empty(channels + self.kernel_size, dtype))
        self.bias = Parameter(_empty((out_channels,), dtype)) if bias else None
        init.default_layer_init_(self.weight, self.bias)

    def forward(self, x):
        self._check_input(x)
        if self.transposed:
            return self.functional(x, self.weight, self.bias, self.stride, self.padding,
                                   self.output_padding, self.groups, self.dilation)
        return self.functional(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def _checked_padding(self, name, padding, as_tuple):
        """A tuple of ints, or PyTorch's "same"/"valid" for a convolution (kept as the string)."""
        if not isinstance(padding, str):
            return as_tuple(padding, "padding", name)
        if self.transposed:
            raise ValueError(f"{name}: padding must be an int or a tuple of ints, got {padding!r}")
        if padding not in ("same", "valid"):
            raise ValueError(f"{name}: invalid padding string {padding!r}, should be one of 'same', 'valid'")
        if padding == "same" and any(s != 1 for s in self.stride):  # self.stride is set first
            raise ValueError(f"{name}: padding='same' is not supported for strided convolutions (stride {self.stride})")
        return padding

    def _check_input(self, x):
        if x.ndim != self.spatial + 2:
            layout = "(N, C, L)" if self.spatial == 1 else "(N, C, H, W)"
            raise ValueError(f"{self.signature()}: expected a {self.spatial + 2}-d input {layout}, got shape {x.shape}")
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"{self.signature()}: input has {x.shape[1]} channels, expected {self.in_channels}"
            )

    def signature(self):
        kernel = self.kernel_size[0] if len(set(self.kernel_size)) == 1 else self.kernel_size
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels}, {kernel})"

    def extra_repr(self):
        """PyTorch's: the defaults (padding 0, dilation 1, output_padding 0, groups 1, a bias) left out."""
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.spatial:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * self.spatial:
            text += f", dilation={self.dilation}"
        if self.transposed and self.output_padding != (0,) * self.spatial:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Conv2d(_ConvNd):
    """2-d convolution; weight (out_channels, in_channels / groups, kh, kw); padding also
    "same" or "valid"."""

    functional = staticmethod(F.conv2d)


class Conv1d(_ConvNd):
    """1-d convolution of (N, C, L); weight (out_channels, in_channels / groups, k); padding
    also "same" or "valid"."""

    spatial = 1
    functional = staticmethod(F.conv1d)


class _ConvTransposeNd(_ConvNd):
    """The transposed layers' constructor, in PyTorch's argument order."""

    transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         dtype, output_padding)


class ConvTranspose2d(_ConvTransposeNd):
    """2-d transposed convolution; weight (in_channels, out_channels / groups, kh, kw)."""

    functional = staticmethod(F.conv_transpose2d)


class ConvTranspose1d(_ConvTransposeNd):
    """1-d transposed convolution of (N, C, L); weight (in_channels, out_channels / groups, k)."""

    spatial = 1
    functional = staticmethod(F.conv_transpose1d)


def _register_affine(module, num_features, affine, dtype):
    """A normalisation layer's scale ``weight`` (ones) and shift ``bias`` (zeros), or None for both."""
    if affine:
        module.weight = Parameter(numpy.ones(num_features, dtype=_empty((), dtype).dtype))
        module.bias = Parameter(numpy.zeros(num_features, dtype=_empty((), dtype).dtype))
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


def register_running_stats(module, num_features, track_running_stats, dtype):
    """A normalisation layer's ``running_mean`` (zeros), ``running_var`` (ones) and
    ``num_batches_tracked`` buffers, or None for the three, as PyTorch registers them."""
    if track_running_stats:
        module.register_buffer("running_mean", Tensor(_empty((num_features,), dtype)))
        module.register_buffer("running_var", Tensor(_empty((num_features,), dtype) + 1))
        module.register_buffer("num_batches_tracked", Tensor(numpy.array(0, dtype=numpy.int64)))
    else:
        module.register_buffer("running_mean", None)
        module.register_buffer("running_var", None)
        module.register_buffer("num_batches_tracked", None)


class _BatchNorm(Module):
    expected_ndims: tuple = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, dtype=None):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        _register_affine(self, num_features, affine, dtype)
        register_running_stats(self, num_features, track_running_stats, dtype)

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
        dim = check_axis(self.dim, x.ndim, "Unflatten", "dim")
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
    """Mean over each kh x kw window, stride = kernel_size by default; the divisor is the
    window's size in the padded input (count_include_pad), in the input, or divisor_override."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        pool_ops.pool_geometry("AvgPool2d", kernel_size, stride, padding)  # refuse bad values now
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class Upsample(Module):
    """F.interpolate as a layer: mode "nearest" or "bilinear", to ``size`` or by ``scale_factor``
    (stored as floats, as PyTorch). recompute_scale_factor is not available."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None):
        super().__init__()
        pool_ops.check_resample_options("Upsample", size, scale_factor, mode, align_corners)
        self.size, self.mode, self.align_corners = size, mode, align_corners
        if isinstance(scale_factor, tuple):
            self.scale_factor = tuple(float(factor) for factor in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None

    def forward(self, x):
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners)

    def extra_repr(self):
        if self.scale_factor is not None:
            return f"scale_factor={self.scale_factor!r}, mode={self.mode!r}"
        return f"size={self.size!r}, mode={self.mode!r}"


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
