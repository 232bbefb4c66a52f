"""Losses: the stable binary cross-entropy on logits (a primitive) and the derived ones."""

from __future__ import annotations

import numpy

from scratchgan import backend
from scratchgan.autograd.function import Function
from scratchgan.ops import elementwise as ew
from scratchgan.ops import reduce as reduce_ops
from scratchgan.ops import shape as shape_ops
from scratchgan.ops._common import as_tensor


class BCEWithLogits(Function):
    """l(x, t) = max(x, 0) - x t + log(1 + e^-|x|)  (= -t log s(x) - (1-t) log(1 - s(x)));
    dl/dx = s(x) - t,  dl/dt = -x.  Finite for any finite logit, 1e4 included."""

    def forward(self, x, t):
        xp = self.xp_of(x)
        return xp.maximum(x, 0) - x * t + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, g):
        x, t = self.inputs
        grad_x = g * (ew.sigmoid(x) - t) if self.needs_input_grad[0] else None
        grad_t = -g * x if self.needs_input_grad[1] else None
        return grad_x, grad_t


def _reduce(loss, reduction, op):
    if reduction == "mean":
        return reduce_ops.mean(loss)
    if reduction == "sum":
        return reduce_ops.sum_(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_same_shape(op, x, target):
    if x.shape != target.shape:
        raise ValueError(f"{op}: input has shape {x.shape} but target has shape {target.shape}")


def binary_cross_entropy_with_logits(logits, target, weight=None, reduction="mean"):
    """PyTorch's F.binary_cross_entropy_with_logits (without pos_weight)."""
    target = as_tensor(target, logits)
    _check_same_shape("binary_cross_entropy_with_logits", logits, target)
    loss = BCEWithLogits.apply(logits, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def binary_cross_entropy(probs, target, weight=None, reduction="mean"):
    """-(t log p + (1 - t) log(1 - p)), each log clamped at -100 as PyTorch does."""
    target = as_tensor(target, probs)
    _check_same_shape("binary_cross_entropy", probs, target)
    log_p = ew.clip(probs.log(), low=-100.0)
    log_1mp = ew.clip((1 - probs).log(), low=-100.0)
    loss = -(target * log_p + (1 - target) * log_1mp)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def mse_loss(x, target, reduction="mean"):
    """(x - t)^2."""
    target = as_tensor(target, x)
    _check_same_shape("mse_loss", x, target)
    diff = x - target
    return _reduce(diff * diff, reduction, "mse_loss")


def l1_loss(x, target, reduction="mean"):
    """|x - t|."""
    target = as_tensor(target, x)
    _check_same_shape("l1_loss", x, target)
    return _reduce((x - target).abs(), reduction, "l1_loss")


def nll_loss(log_probs, labels, reduction="mean"):
    """-log_probs[n, labels[n]] for log_probs (N, C) and integer labels (N,)."""
    from scratchgan.autograd.tensor import Tensor

    labels = labels.data if isinstance(labels, Tensor) else labels
    xp = log_probs.xp
    # labels on the host are range-checked there; labels already on the GPU are not, as a
    # check would read them back (a synchronisation) on every call
    on_host = backend.get_array_module(labels) is numpy
    labels = numpy.asarray(labels) if on_host else labels
    if log_probs.ndim != 2 or labels.shape != (log_probs.shape[0],) or labels.dtype.kind not in "iu":
        raise ValueError(
            f"nll_loss: expected log_probs (N, C) and integer labels (N,), got {log_probs.shape} "
            f"and {labels.shape} of dtype {labels.dtype}"
        )
    if on_host and labels.size and (labels.min() < 0 or labels.max() >= log_probs.shape[1]):
        raise ValueError(
            f"nll_loss: labels must lie in [0, {log_probs.shape[1]}), got values in "
            f"[{labels.min()}, {labels.max()}]"
        )
    labels = xp.asarray(labels)
    picked = shape_ops.getitem(log_probs, (xp.arange(labels.shape[0]), labels))
    return _reduce(-picked, reduction, "nll_loss")


def cross_entropy(logits, labels, reduction="mean"):
    """nll_loss(log_softmax(logits)) for integer class labels."""
    return nll_loss(reduce_ops.log_softmax(logits, axis=1), labels, reduction=reduction)
