"""Functional forms of the layers, with PyTorch's names and signatures (``dim=``, not ``axis=``).

Everything here is a composition of the primitives in ``scratchgan.ops``; pooling and
upsampling are written with convolution and reshape/broadcast, so their derivatives of
every order come from those primitives.
"""

from __future__ import annotations

import math
import numbers

import numpy

from scratchgan import backend, random
from scratchgan.autograd import factories
from scratchgan.autograd.tensor import Tensor
from scratchgan.ops import conv as conv_ops
from scratchgan.ops import elementwise as ew
from scratchgan.ops import linalg, loss, norm
from scratchgan.ops import reduce as reduce_ops
from scratchgan.ops import shape as shape_ops
from scratchgan.ops._common import pair

linear = linalg.linear
conv2d = conv_ops.conv2d
conv_transpose2d = conv_ops.conv_transpose2d
batch_norm = norm.batch_norm
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


def leaky_relu(x, negative_slope=0.01):
    """x if x > 0 else negative_slope x."""
    return ew.leaky_relu(x, negative_slope)


def softplus(x, beta=1.0):
    """log(1 + e^(beta x)) / beta (PyTorch's threshold shortcut is not needed: this form is exact)."""
    if beta == 1.0:
        return ew.softplus(x)
    return ew.softplus(x * beta) * (1.0 / beta)


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


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over each window (count_include_pad=True): a conv of every channel with 1/(kh kw)."""
    op = "avg_pool2d"
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-d input (N, C, H, W), got shape {x.shape}")
    kernel_size = pair(kernel_size, "kernel_size", op)
    stride = kernel_size if stride is None else pair(stride, "stride", op)
    padding = pair(padding, "padding", op)
    if any(2 * p > k for p, k in zip(padding, kernel_size)):
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel {kernel_size}")
    n, c, h, w = x.shape
    kh, kw = kernel_size
    window = Tensor(x.xp.full((1, 1, kh, kw), 1.0 / (kh * kw), dtype=x.dtype))
    pooled = conv_ops.conv2d(x.reshape(n * c, 1, h, w), window, stride=stride, padding=padding)
    return pooled.reshape(n, c, pooled.shape[2], pooled.shape[3])


def upsample_nearest(x, scale_factor):
    """Repeat every pixel scale_factor times along H and W: reshape, broadcast, reshape."""
    sh, sw = pair(scale_factor, "scale_factor", "upsample_nearest")
    if sh < 1 or sw < 1:
        raise ValueError(f"upsample_nearest: scale_factor must be positive integers, got {(sh, sw)}")
    n, c, h, w = x.shape
    x = x.reshape(n, c, h, 1, w, 1).broadcast_to((n, c, h, sh, w, sw))
    return x.reshape(n, c, h * sh, w * sw)


def interpolate(x, scale_factor, mode="nearest"):
    """PyTorch's F.interpolate for mode='nearest' with integer scale factors."""
    if mode != "nearest":
        raise ValueError(f"interpolate: mode {mode!r} is not available; expected 'nearest'")
    if x.ndim != 4:
        raise ValueError(f"interpolate: expected a 4-d input (N, C, H, W), got shape {x.shape}")
    factors = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * 2
    if any(float(f) != int(f) for f in factors):
        raise ValueError(f"interpolate: scale_factor must be integers, got {scale_factor}")
    return upsample_nearest(x, tuple(int(f) for f in factors))


def pad(x, padding, value=0.0):
    """PyTorch's F.pad (constant): ``padding`` = (left, right, top, bottom, ...) from the last axis."""
    if len(padding) % 2 or len(padding) // 2 > x.ndim:
        raise ValueError(f"pad: padding must have an even length of at most 2*{x.ndim}, got {padding}")
    width = [(0, 0)] * x.ndim
    for i in range(len(padding) // 2):
        width[x.ndim - 1 - i] = (padding[2 * i], padding[2 * i + 1])
    return shape_ops.pad(x, tuple(width), value=value)


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
