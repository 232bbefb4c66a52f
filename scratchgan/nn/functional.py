"""Functional forms of the layers, with PyTorch's names and signatures (``dim=``, not ``axis=``).

Everything here is a composition of the primitives in ``scratchgan.ops``; pooling and
resampling are written with convolution, gather (getitem), matmul and reshape/broadcast
(their index and weight rules are in ``scratchgan.ops.pool``), so their derivatives of
every order come from those primitives.
"""

from __future__ import annotations

import math
import numbers

import numpy

from scratchgan import backend, random
from scratchgan.autograd import factories
from scratchgan.autograd.tensor import Tensor
from scratchgan.ops import activation
from scratchgan.ops import attention as attention_ops
from scratchgan.ops import conv as conv_ops
from scratchgan.ops import elementwise as ew
from scratchgan.ops import indexing as indexing_ops
from scratchgan.ops import linalg, loss, norm
from scratchgan.ops import padding as padding_ops
from scratchgan.ops import pool as pool_ops
from scratchgan.ops import reduce as reduce_ops
from scratchgan.ops import shape as shape_ops
from scratchgan.ops._common import pair

linear = linalg.linear
conv1d = conv_ops.conv1d
conv2d = conv_ops.conv2d
conv_transpose1d = conv_ops.conv_transpose1d
conv_transpose2d = conv_ops.conv_transpose2d
batch_norm = norm.batch_norm
layer_norm = norm.layer_norm
group_norm = norm.group_norm
instance_norm = norm.instance_norm
relu = ew.relu
tanh = ew.tanh
sigmoid = ew.sigmoid
logsigmoid = ew.log_sigmoid
binary_cross_entropy_with_logits = loss.binary_cross_entropy_with_logits
binary_cross_entropy = loss.binary_cross_entropy
mse_loss = loss.mse_loss
l1_loss = loss.l1_loss
nll_loss = loss.nll_loss
cross_entropy = loss.cross_entropy
scaled_dot_product_attention = attention_ops.scaled_dot_product_attention


def leaky_relu(x, negative_slope=0.01):
    """x if x > 0 else negative_slope x."""
    return ew.leaky_relu(x, negative_slope)


def softplus(x, beta=1.0):
    """log(1 + e^(beta x)) / beta (PyTorch's threshold shortcut is not needed: this form is exact)."""
    if beta == 1.0:
        return ew.softplus(x)
    return ew.softplus(x * beta) * (1.0 / beta)


# ``inplace`` is accepted, for PyTorch's signatures, and ignored: the result is a new Tensor
# holding what PyTorch's in-place result holds, and the input keeps its values (an in-place
# write would change a Tensor the graph may still read).
def elu(x, alpha=1.0, inplace=False):
    """x if x > 0 else alpha (e^x - 1); ``inplace`` is ignored (see above)."""
    return activation.elu(x, alpha)


def selu(x, inplace=False):
    """scale elu(x, alpha), alpha = 1.6732632..., scale = 1.0507009...; ``inplace`` is ignored."""
    return activation.selu(x)


def celu(x, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha (e^(x / alpha) - 1)); ``inplace`` is ignored."""
    return activation.celu(x, alpha)


def gelu(x, approximate="none"):
    """x Phi(x), or its tanh approximation with approximate="tanh"."""
    return activation.gelu(x, approximate)


def silu(x, inplace=False):
    """x sigmoid(x); ``inplace`` is ignored."""
    return activation.silu(x)


def mish(x, inplace=False):
    """x tanh(softplus(x)); ``inplace`` is ignored."""
    return activation.mish(x)


def hardtanh(x, min_val=-1.0, max_val=1.0, inplace=False):
    """clip(x, min_val, max_val), gradient 0 at the bounds; ``inplace`` is ignored."""
    return activation.hardtanh(x, min_val, max_val)


def relu6(x, inplace=False):
    """min(max(x, 0), 6); ``inplace`` is ignored."""
    return activation.relu6(x)


def softsign(x):
    """x / (1 + |x|)."""
    return activation.softsign(x)


def hardsigmoid(x, inplace=False):
    """relu6(x + 3) / 6; ``inplace`` is ignored."""
    return activation.hardsigmoid(x)


def hardswish(x, inplace=False):
    """x relu6(x + 3) / 6; ``inplace`` is ignored."""
    return activation.hardswish(x)


def softmax(x, dim=-1):
    """e^x / sum e^x along ``dim``."""
    return reduce_ops.softmax(x, axis=dim)


def log_softmax(x, dim=-1):
    """x - logsumexp(x) along ``dim``."""
    return reduce_ops.log_softmax(x, axis=dim)


def dropout(x, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1/(1-p) (inverted dropout)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = random.generator().random(x.shape) >= p
    scale = x.xp.asarray(keep, dtype=x.dtype) * x.dtype.type(1.0 / (1.0 - p))
    return x * Tensor(scale)


def one_hot(tensor, num_classes=-1):
    """int64 one-hot rows of the class indices ``tensor``: shape tensor.shape + (num_classes,),
    num_classes=-1 for max(tensor) + 1 (``scratchgan.ops.indexing.one_hot``)."""
    return indexing_ops.one_hot(tensor, num_classes)


def embedding(indices, weight):
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ``indices`` of any shape."""
    indices = indices.data if isinstance(indices, Tensor) else weight.xp.asarray(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= weight.shape[0]):
        raise IndexError(
            f"embedding: indices must lie in [0, {weight.shape[0]}), got values in "
            f"[{indices.min()}, {indices.max()}]"
        )
    return shape_ops.getitem(weight, indices)


def _as_batch(x, op):
    """x as (N, C, H, W), and whether a batch axis was added: pooling takes (C, H, W) too, as PyTorch."""
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 3-d (C, H, W) or 4-d (N, C, H, W) input, got shape {x.shape}")
    if min(x.shape[-3:]) == 0:
        raise ValueError(f"{op}: expected non-empty C, H and W, got shape {x.shape}")
    return (x, False) if x.ndim == 4 else (shape_ops.unsqueeze(x, 0), True)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """The maximum of each window (padding is -inf): a gather of x at the window maxima,

        y[n, c, i, j] = x[n, c, argmax of window (i, j)],

    the argmax found on arrays by PyTorch's CPU rule (ties go to the first maximum in
    row-major window order; a NaN wins). The gradient goes to that one element per window
    (index_add, the adjoint of the gather), and the second derivative is zero.
    ``return_indices=True`` also returns the argmax as PyTorch does: a (N, C, Ho, Wo) int64
    Tensor of flat positions h * W + w in each (H, W) plane.

    Deliberately refused: a window that reads only padding (dilation can make its taps step
    over the whole input, e.g. kernel 2, dilation 3, padding 1 on a side of 2). PyTorch returns
    -inf there with an index outside the input, through which its backward writes out of bounds.
    """
    op = "max_pool2d"
    geometry = pool_ops.pool_geometry(op, kernel_size, stride, padding, dilation)
    batch, added = _as_batch(x, op)
    n, c, h, w = batch.shape
    out_size = pool_ops.pool_output_shape(op, (h, w), geometry, ceil_mode)
    for axis, size, k, s, p, d, o in zip("HW", (h, w), *geometry, out_size):
        if not pool_ops.first_valid_positions(size, k, s, p, d, o)[1].all():
            raise ValueError(
                f"{op}: along {axis} some windows read only padding (input size {size}, kernel_size {k}, "
                f"stride {s}, padding {p}, dilation {d}); PyTorch gives -inf there and an index outside the input")
    indices = pool_ops.max_pool2d_indices(batch.data, *geometry, out_size)  # (N, C, Ho, Wo)
    planes = x.xp.arange(n * c, dtype=numpy.int64).reshape(n, c, 1, 1) * (h * w)
    pooled = shape_ops.getitem(batch.reshape(-1), planes + indices)
    if added:
        pooled, indices = shape_ops.squeeze(pooled, 0), indices[0]
    return (pooled, Tensor(indices)) if return_indices else pooled


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """The mean of each window: its sum (a conv2d of every channel with a window of ones) over

        divisor = divisor_override, or the window's element count: inside the zero-padded
                  input (count_include_pad=True), or inside the input itself (False),

    PyTorch's CPU rule; with ceil_mode a last window may run past the padded input, and counts
    only what lies within it. When every divisor is the same the window holds 1 / divisor.
    """
    op = "avg_pool2d"
    geometry = pool_ops.pool_geometry(op, kernel_size, stride, padding)
    if divisor_override is not None:
        if not isinstance(divisor_override, numbers.Integral) or isinstance(divisor_override, bool):
            raise TypeError(f"{op}: divisor_override must be None or an int, got {divisor_override!r}")
        if divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must not be zero")
    batch, added = _as_batch(x, op)
    n, c, h, w = batch.shape
    kernel, stride, padding, _ = geometry
    out_size = pool_ops.pool_output_shape(op, (h, w), geometry, ceil_mode)
    divisors = pool_ops.avg_pool2d_divisors((h, w), kernel, stride, padding, out_size, count_include_pad,
                                            divisor_override)
    planes = batch.reshape(n * c, 1, h, w)
    beyond = tuple(max(0, (o - 1) * s + k - (size + 2 * p))  # ceil_mode: zeros so conv2d reaches the last windows
                   for size, k, s, p, o in zip((h, w), kernel, stride, padding, out_size))
    if any(beyond):
        planes = shape_ops.pad(planes, ((0, 0), (0, 0), (0, beyond[0]), (0, beyond[1])))
    uniform = divisors.min() == divisors.max()
    window = Tensor(x.xp.full((1, 1) + kernel, 1.0 / divisors.flat[0] if uniform else 1.0, dtype=x.dtype))
    pooled = conv_ops.conv2d(planes, window, stride=stride, padding=padding)
    if not uniform:
        pooled = pooled / Tensor(x.xp.asarray(divisors, dtype=x.dtype))
    pooled = pooled.reshape((n, c) + out_size)
    return shape_ops.squeeze(pooled, 0) if added else pooled


def upsample_nearest(x, scale_factor):
    """Repeat every pixel scale_factor times along H and W: reshape, broadcast, reshape."""
    sh, sw = pair(scale_factor, "scale_factor", "upsample_nearest")
    if sh < 1 or sw < 1:
        raise ValueError(f"upsample_nearest: scale_factor must be positive integers, got {(sh, sw)}")
    n, c, h, w = x.shape
    x = x.reshape(n, c, h, 1, w, 1).broadcast_to((n, c, h, sh, w, sw))
    return x.reshape(n, c, h * sh, w * sw)


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """PyTorch's F.interpolate of a 4-d input, mode "nearest" or "bilinear".

    ``size`` (Ho, Wo), or ``scale_factor``: Ho = int(H * scale), and the source index then uses
    1 / scale as PyTorch does (not H / Ho). nearest: src = min(floor(dst * r), H - 1) in float32
    (``pool.nearest_source_indices``), a repeat for integer factors, else a slice or a gather.
    bilinear: along W then H, y = M x with two weights a row (``pool.linear_source_weights``;
    align_corners=None means False), a product with a constant matrix, so all derivatives exist.

    Not available: recompute_scale_factor and antialias (their defaults are what this computes),
    the other modes, and 3-d or 5-d inputs. A NaN or inf in a row spreads along the matrix
    product of bilinear mode to that whole output row (0 * inf), where PyTorch reads two pixels.
    """
    op = "interpolate"
    align_corners = pool_ops.check_resample_options(op, size, scale_factor, mode, align_corners)
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-d input (N, C, H, W), got shape {x.shape} "
                         f"(3-d and 5-d inputs are not available)")
    out_size, scales = pool_ops.resample_output_size(op, x.shape[2:], size, scale_factor)
    if mode == "nearest":
        return _interpolate_nearest(x, out_size, scales)
    return _interpolate_bilinear(x, out_size, scales, align_corners)


def _interpolate_nearest(x, out_size, scales):
    """x at PyTorch's nearest source rows and columns: one repeat (reshape + broadcast) when both
    are integer factors, else along each axis a copy, a basic slice or a gather."""
    sources = [pool_ops.nearest_source_indices(n, o, s) for n, o, s in zip(x.shape[2:], out_size, scales)]
    factors = tuple(o // n for n, o in zip(x.shape[2:], out_size))
    if all(o == f * n and (index == numpy.arange(o) // f).all()
           for n, o, f, index in zip(x.shape[2:], out_size, factors, sources)):
        return upsample_nearest(x, factors)
    for axis, index in zip((2, 3), sources):
        x = _take_along(x, axis, index)
    return x


def _take_along(x, axis, index):
    """x[..., index, ...] along ``axis``: x itself for every row in order, a basic slice for evenly
    spaced rows (its backward assigns, never adds), else a gather of the integer array."""
    if len(index) == x.shape[axis] and (index == numpy.arange(len(index))).all():
        return x
    steps = numpy.diff(index)
    if len(index) == 1 or (steps[0] > 0 and (steps == steps[0]).all()):
        step = int(steps[0]) if len(index) > 1 else 1
        part = slice(int(index[0]), int(index[-1]) + 1, step)
    else:
        part = x.xp.asarray(index)
    return shape_ops.getitem(x, (slice(None),) * axis + (part,))


def _interpolate_bilinear(x, out_size, scales, align_corners):
    """Linear interpolation along W, then along H (ATen's order): y = M_h x M_w^T, each M an
    (out, in) matrix with two weights a row; an axis whose size does not change is copied."""
    (h, w), (ho, wo) = x.shape[2:], out_size
    if wo != w:
        along_w = pool_ops.linear_resample_matrix(w, wo, align_corners, scales[1], x.dtype)
        x = linalg.matmul(x, Tensor(x.xp.asarray(along_w.T)))  # (N, C, H, W) @ (W, Wo)
    if ho != h:
        along_h = pool_ops.linear_resample_matrix(h, ho, align_corners, scales[0], x.dtype)
        x = linalg.matmul(Tensor(x.xp.asarray(along_h)), x)  # (Ho, H) @ (N, C, H, Wo)
    return x


def _shuffle_factor(value, name, op):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be a positive int, got {value!r}")
    if value <= 0:
        raise ValueError(f"{op}: {name} must be a positive int, got {value}")
    return int(value)


def pixel_shuffle(x, upscale_factor):
    """(*, C r^2, H, W) -> (*, C, H r, W r):  y[..., c, h r + i, w r + j] = x[..., c r^2 + i r + j, h, w]
    (Shi et al. 2016, sub-pixel convolution): reshape, permute, reshape."""
    op = "pixel_shuffle"
    r = _shuffle_factor(upscale_factor, "upscale_factor", op)
    if x.ndim < 3:
        raise ValueError(f"{op}: expected an input of at least 3 dimensions (*, C, H, W), got shape {x.shape}")
    *batch, channels, h, w = x.shape
    if channels % (r * r):
        raise ValueError(f"{op}: the channel axis (size {channels}) must be divisible by upscale_factor^2 = "
                         f"{r * r}, got shape {x.shape}")
    batch, k = tuple(batch), len(batch)
    y = x.reshape(batch + (channels // (r * r), r, r, h, w))
    y = shape_ops.permute(y, tuple(range(k + 1)) + (k + 3, k + 1, k + 4, k + 2))  # (*, C, H, r, W, r)
    return y.reshape(batch + (channels // (r * r), h * r, w * r))


def pixel_unshuffle(x, downscale_factor):
    """(*, C, H r, W r) -> (*, C r^2, H, W), the inverse of pixel_shuffle:
    y[..., c r^2 + i r + j, h, w] = x[..., c, h r + i, w r + j]: reshape, permute, reshape."""
    op = "pixel_unshuffle"
    r = _shuffle_factor(downscale_factor, "downscale_factor", op)
    if x.ndim < 3:
        raise ValueError(f"{op}: expected an input of at least 3 dimensions (*, C, H, W), got shape {x.shape}")
    *batch, channels, h, w = x.shape
    if h % r or w % r:
        raise ValueError(f"{op}: height and width must be divisible by downscale_factor {r}, got shape {x.shape}")
    batch, k = tuple(batch), len(batch)
    y = x.reshape(batch + (channels, h // r, r, w // r, r))
    y = shape_ops.permute(y, tuple(range(k + 1)) + (k + 2, k + 4, k + 1, k + 3))  # (*, C, r, r, H, W)
    return y.reshape(batch + (channels * r * r, h // r, w // r))


def pad(x, pad, mode="constant", value=None):
    """PyTorch's F.pad: ``pad = (left, right, top, bottom, front, back)`` from the last axis,
    ``mode`` "constant" (filled with ``value``, default 0), "reflect", "replicate" or
    "circular"; a negative pad crops. The rules and errors are those of
    ``scratchgan.ops.padding.pad``."""
    return padding_ops.pad(x, pad, mode=mode, value=value)


def gumbel_softmax(logits, tau=1.0, hard=False, dim=-1, noise=None):
    """A relaxed sample of Categorical(softmax(logits)) along ``dim``: PyTorch's F.gumbel_softmax
    (the Concrete distribution, seed 001 'The Gumbel-Softmax aka Concrete Distribution'),

        y_soft = softmax((logits + g) / tau),   g = -log E, E ~ Exponential(1): g ~ Gumbel(0, 1) i.i.d.;

    ``hard=True`` returns the one-hot of argmax y_soft (an exact categorical sample, the
    Gumbel-max trick) used straight through: one_hot - detach(y_soft) + y_soft, whose value is
    exactly the one-hot. d y_soft/d logits = (diag(y_soft) - y_soft y_soft^T) / tau (the softmax
    Jacobian over tau); hard passes that gradient through unchanged.

    ``noise``: the Gumbel draws g to use (an array or Tensor of logits' shape, a constant; this
    is how a PyTorch computation is replayed); by default they are drawn from the global
    generator on logits' device (``sg.manual_seed``).
    """
    op = "gumbel_softmax"
    if not isinstance(logits, Tensor):
        raise TypeError(f"{op}: logits must be a Tensor, got {type(logits).__name__}")
    if isinstance(tau, bool) or not isinstance(tau, numbers.Real):
        raise TypeError(f"{op}: tau must be a positive finite number, got {tau!r}")
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"{op}: tau must be a positive finite number, got {tau!r}")
    axis = _category_axis(logits, dim, op)
    gumbels = _gumbel_noise(logits, noise, op)
    y_soft = reduce_ops.softmax((logits + gumbels) / float(tau), axis=axis)
    if not hard:
        return y_soft
    xp = logits.xp
    winner = xp.expand_dims(xp.argmax(y_soft.data, axis=axis), axis)
    categories = xp.arange(logits.shape[axis]).reshape([-1 if a == axis else 1 for a in range(logits.ndim)])
    one_hot = Tensor((categories == winner).astype(logits.dtype))
    # PyTorch's order; for y in [0, 1], (1 - y) + y and (0 - y) + y round to exactly 1 and 0
    return one_hot - y_soft.detach() + y_soft


def _category_axis(logits, axis, op):
    """Axis ``axis`` (the ``dim`` argument) of ``logits`` as a non-negative int, checked: an int in [-ndim, ndim) naming a
    non-empty axis (the categories)."""
    if logits.ndim == 0:
        raise ValueError(f"{op}: logits must have at least one dimension (the categories), got a 0-d tensor")
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{op}: dim must be an int, got {axis!r}")
    if not -logits.ndim <= axis < logits.ndim:
        raise ValueError(f"{op}: dim {axis} is out of range for logits of shape {logits.shape}; "
                         f"expected an int in [{-logits.ndim}, {logits.ndim - 1}]")
    axis = int(axis) % logits.ndim
    if logits.shape[axis] == 0:
        raise ValueError(f"{op}: dim {axis} of logits {logits.shape} is empty; "
                         f"expected at least one category")
    return axis


def _gumbel_noise(logits, noise, op):
    """Gumbel(0, 1) draws of logits' shape, dtype and device, as a constant Tensor: ``noise``
    itself when given, else g = -log(-log U), U ~ Uniform(0, 1) from the global generator
    (-log U is Exponential(1)); U is drawn in float64 and kept above 0, so g is finite."""
    xp = logits.xp
    if noise is None:
        uniform = factories.rand(*logits.shape, dtype=numpy.float64, device=logits.device).data
        uniform = xp.clip(uniform, numpy.finfo(numpy.float64).tiny, 1.0)
        return Tensor((-xp.log(-xp.log(uniform))).astype(logits.dtype, copy=False))
    data = noise.data if isinstance(noise, Tensor) else noise
    if xp is numpy and backend.get_array_module(data) is not numpy:  # (host noise uploads to the GPU)
        raise ValueError(f"{op}: noise is on the GPU and logits on the CPU; expected noise on the CPU")
    data = xp.asarray(data, dtype=logits.dtype)
    if data.shape != logits.shape:
        raise ValueError(f"{op}: noise must have logits' shape {logits.shape}, got {data.shape}")
    return Tensor(data)
