"""Losses: the stable binary cross-entropy on logits (a primitive) and the derived ones."""

from __future__ import annotations

import numbers

import numpy

from scratchgan import backend
from scratchgan.autograd.function import Function
from scratchgan.autograd.tensor import Tensor
from scratchgan.ops import elementwise as ew
from scratchgan.ops import reduce as reduce_ops
from scratchgan.ops import shape as shape_ops
from scratchgan.ops._common import as_tensor


class BCEWithLogits(Function):
    """l(x, t) = max(x, 0) - x t + log(1 + e^-|x|)  (= -t log s(x) - (1-t) log(1 - s(x)));
    dl/dx = s(x) - t,  dl/dt = -x.

    With a positive-class weight p (a third input, broadcast against t, as PyTorch's
    ``pos_weight``): l = (1 - t) x - (1 + (p - 1) t) log s(x);
    dl/dx = (1 + (p - 1) t) s(x) - p t,  dl/dt = -x - (p - 1) log s(x),  dl/dp = -t log s(x).
    Both forms are finite for any finite logit, 1e4 included."""

    def forward(self, x, t, p=None):
        xp = self.xp_of(x)
        if p is None:  # the common case, one pass fewer
            return xp.maximum(x, 0) - x * t + xp.log1p(xp.exp(-xp.abs(x)))
        minus_log_sigmoid = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))  # softplus(-x)
        return (1 - t) * x + (1 + (p - 1) * t) * minus_log_sigmoid

    def backward(self, g):
        if len(self._inputs) == 2:
            x, t = self.inputs
            grad_x = g * (ew.sigmoid(x) - t) if self.needs_input_grad[0] else None
            grad_t = -g * x if self.needs_input_grad[1] else None
            return grad_x, grad_t
        x, t, p = self.inputs
        log_sigmoid = ew.log_sigmoid(x)
        grad_x = g * ((1 + (p - 1) * t) * ew.sigmoid(x) - p * t) if self.needs_input_grad[0] else None
        grad_t = -g * (x + (p - 1) * log_sigmoid) if self.needs_input_grad[1] else None
        grad_p = (reduce_ops.unbroadcast(-g * t * log_sigmoid, p.shape)
                  if self.needs_input_grad[2] else None)
        return grad_x, grad_t, grad_p


def _reduce(loss, reduction, op):
    if reduction == "mean":
        return reduce_ops.mean(loss)
    if reduction == "sum":
        return reduce_ops.sum_(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_reduction(reduction, op):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_same_shape(op, x, target):
    if x.shape != target.shape:
        raise ValueError(f"{op}: input has shape {x.shape} but target has shape {target.shape}")


def _check_broadcasts_to(op, name, value, shape):
    """``value`` multiplies the per-element loss, whose shape it must not change (PyTorch
    multiplies in place and refuses it too)."""
    value_shape = tuple(getattr(value, "shape", numpy.shape(value)))
    try:
        fits = numpy.broadcast_shapes(value_shape, shape) == tuple(shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{op}: {name} of shape {value_shape} does not broadcast to the target's shape "
            f"{tuple(shape)} (e.g. one value per class along the last axis: shape {tuple(shape)[-1:]})"
        )


def binary_cross_entropy_with_logits(logits, target, weight=None, reduction="mean", pos_weight=None):
    """PyTorch's F.binary_cross_entropy_with_logits: the per-element loss times ``weight``,
    with ``pos_weight`` p scaling the positive term, l = -(p t log s(x) + (1 - t) log(1 - s(x))),
    both broadcast against the target (p usually one value per class, the last axis)."""
    op = "binary_cross_entropy_with_logits"
    _check_reduction(reduction, op)
    target = as_tensor(target, logits)
    _check_same_shape(op, logits, target)
    if pos_weight is None:
        loss = BCEWithLogits.apply(logits, target)
    else:
        _check_broadcasts_to(op, "pos_weight", pos_weight, target.shape)
        if isinstance(pos_weight, (list, tuple, numbers.Number)):  # as torch.tensor: the logits' float
            pos_weight = Tensor(logits.xp.asarray(pos_weight, dtype=logits.dtype))
        pos_weight = as_tensor(pos_weight, logits)  # an array or a Tensor keeps its dtype (promotion)
        loss = BCEWithLogits.apply(logits, target, pos_weight)
    if weight is not None:
        _check_broadcasts_to(op, "weight", weight, target.shape)
        loss = loss * weight
    return _reduce(loss, reduction, op)


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


# -- negative log-likelihood and cross-entropy over classes ----------------------------------------
def _class_axis(op, scores):
    """Axis 1 of (N, C) and (N, C, d1, ...), axis 0 of one unbatched sample (C,), as PyTorch."""
    if scores.ndim == 0:
        raise ValueError(f"{op}: expected an input of shape (C,), (N, C) or (N, C, d1, ...), got a 0-d tensor")
    return 0 if scores.ndim == 1 else 1


def _as_rows(scores):
    """scores (C,), (N, C) or (N, C, d1, ...) as rows (M, C), one per sample and position,
    in the order of the class-index target's elements."""
    if scores.ndim == 2:
        return scores
    classes = scores.shape[0 if scores.ndim == 1 else 1]
    if scores.ndim > 2:  # classes last: (N, d1, ..., C)
        scores = shape_ops.transpose(scores, (0,) + tuple(range(2, scores.ndim)) + (1,))
    return shape_ops.reshape(scores, (-1, classes))


def _class_indices(op, target, scores, ignore_index, probabilities_too=False):
    """The class-index target as a flat integer array on ``scores``' device, checked, and whether
    every label is known to count (host labels, none equal to ignore_index). Host labels are
    range-checked (those equal to ignore_index excepted); labels already on the GPU are not, as
    a check would read them back (a synchronisation) on every call."""
    target = target.data if isinstance(target, Tensor) else target
    on_host = backend.get_array_module(target) is numpy
    target = numpy.asarray(target) if on_host else target
    expected = () if scores.ndim == 1 else scores.shape[:1] + scores.shape[2:]
    if target.shape != expected or target.dtype.kind not in "iu":
        alternative = f" or floating class probabilities of shape {scores.shape}" if probabilities_too else ""
        raise ValueError(
            f"{op}: expected integer class indices of shape {expected}{alternative} for an input of "
            f"shape {scores.shape}, got a target of shape {target.shape} and dtype {target.dtype}"
        )
    classes = scores.shape[_class_axis(op, scores)]
    if on_host and target.size:
        counted = target[target != ignore_index]
        if counted.size and (counted.min() < 0 or counted.max() >= classes):
            raise ValueError(
                f"{op}: labels must lie in [0, {classes}) or equal ignore_index ({ignore_index}), "
                f"got values in [{counted.min()}, {counted.max()}]"
            )
    every_label_counts = on_host and not bool((target == ignore_index).any())
    return scores.xp.asarray(target).reshape(-1), every_label_counts


def _class_weight(op, weight, scores):
    """``weight`` as a Tensor of shape (C,) and the scores' dtype, or None."""
    if weight is None:
        return None
    classes = scores.shape[_class_axis(op, scores)]
    if isinstance(weight, str):  # an old positional reduction: cross_entropy(x, y, "sum")
        raise TypeError(f"{op}: weight must be an array of shape ({classes},), got the string "
                        f"{weight!r}; pass reduction= by keyword")
    weight = as_tensor(weight, scores)
    if weight.shape != (classes,):
        raise ValueError(f"{op}: weight must have shape ({classes},), one value per class, got "
                         f"shape {weight.shape}")
    return ew.cast(weight, scores.dtype)


def _check_label_smoothing(op, label_smoothing):
    if not (isinstance(label_smoothing, numbers.Real) and 0.0 <= label_smoothing <= 1.0):  # NaN fails
        raise ValueError(f"{op}: label_smoothing must be a number in [0, 1], got {label_smoothing!r}")


def _nll_of_rows(op, rows, labels, every_label_counts, weight, ignore_index, reduction, label_smoothing, shape):
    """The class-index loss of log-probability rows (M, C) against labels (M,): PyTorch's
    -w[y] log p[y], mean over sum(w[y]) of the counted rows, plus its label-smoothing term."""
    xp = rows.xp
    positions = xp.arange(rows.shape[0])
    if weight is None and not label_smoothing and every_label_counts:
        loss = -shape_ops.getitem(rows, (positions, labels))  # every row counts once
        return _reduce(loss if reduction != "none" else shape_ops.reshape(loss, shape), reduction, op)
    ignored = labels == ignore_index
    safe_labels = xp.where(ignored, 0, labels)  # a valid index for the ignored rows, weighted 0
    counted = xp.logical_not(ignored).astype(rows.dtype)
    weight = None if weight is None else weight.detach()  # a constant here, as PyTorch's nll_loss
    sample_weight = Tensor(counted if weight is None else counted * weight.data[safe_labels])
    loss = -shape_ops.getitem(rows, (positions, safe_labels)) * sample_weight
    if label_smoothing:  # PyTorch: (1 - e) nll + (e / C) sum_c -w_c log p_c, same denominator
        spread = -reduce_ops.sum_(rows if weight is None else rows * weight, axis=1) * Tensor(counted)
        loss = (1 - label_smoothing) * loss + (label_smoothing / rows.shape[1]) * spread
    if reduction == "mean":
        with numpy.errstate(divide="ignore", invalid="ignore"):  # nothing counted: 0/0 = nan, as PyTorch
            return reduce_ops.sum_(loss) / reduce_ops.sum_(sample_weight)
    return _reduce(loss if reduction != "none" else shape_ops.reshape(loss, shape), reduction, op)


def nll_loss(log_probs, target, weight=None, ignore_index=-100, reduction="mean"):
    """-w[y] log_probs[y] per sample, for log_probs (C,), (N, C) or (N, C, d1, ...) and integer
    targets (), (N,) or (N, d1, ...); targets equal to ignore_index count 0 and "mean" divides
    by the sum of w[y] over the others (their number without ``weight``), as PyTorch."""
    op = "nll_loss"
    _check_reduction(reduction, op)
    _class_axis(op, log_probs)
    weight = _class_weight(op, weight, log_probs)
    labels, every_label_counts = _class_indices(op, target, log_probs, ignore_index)
    shape = () if log_probs.ndim == 1 else log_probs.shape[:1] + log_probs.shape[2:]
    return _nll_of_rows(op, _as_rows(log_probs), labels, every_label_counts, weight, ignore_index,
                        reduction, 0.0, shape)


def _cross_entropy_probabilities(logits, target, weight, ignore_index, reduction, label_smoothing):
    """-sum_c w_c t_c log softmax(x)_c per sample, t smoothed to t (1 - e) + e / C; "mean" is
    over the samples (PyTorch's numel / C), not over the weights."""
    op = "cross_entropy"
    if ignore_index >= 0:
        raise ValueError(f"cross_entropy: ignore_index is not supported with class-probability targets, "
                         f"got ignore_index={ignore_index} (a negative value means none)")
    target = as_tensor(target, logits)
    if target.dtype.kind != "f":
        raise ValueError(f"cross_entropy: a target of the input's shape {logits.shape} holds class "
                         f"probabilities and must be floating, got dtype {target.dtype}")
    target = ew.cast(target, logits.dtype)
    axis = _class_axis(op, logits)
    classes = logits.shape[axis]
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    products = reduce_ops.log_softmax(logits, axis=axis) * target
    if weight is not None:  # along the class axis: (C, 1, ..., 1)
        products = products * shape_ops.reshape(weight, (classes,) + (1,) * (logits.ndim - axis - 1))
    return _reduce(-reduce_ops.sum_(products, axis=axis), reduction, op)


def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """nll_loss(log_softmax(logits), target) over the class axis (1; 0 for one sample (C,)), with
    PyTorch's weight, ignore_index and label smoothing e: (1 - e) nll + (e / C) sum_c -w_c log p_c.
    A floating target of the logits' shape holds class probabilities: -sum_c w_c t_c log p_c.

    Unlike PyTorch, a negative label_smoothing is refused (PyTorch treats it as 0)."""
    op = "cross_entropy"
    _check_reduction(reduction, op)
    _check_label_smoothing(op, label_smoothing)
    _class_axis(op, logits)
    weight = _class_weight(op, weight, logits)
    if tuple(getattr(target, "shape", numpy.shape(target))) == logits.shape:
        return _cross_entropy_probabilities(logits, target, weight, ignore_index, reduction, label_smoothing)
    labels, every_label_counts = _class_indices(op, target, logits, ignore_index, probabilities_too=True)
    shape = () if logits.ndim == 1 else logits.shape[:1] + logits.shape[2:]
    rows = reduce_ops.log_softmax(_as_rows(logits), axis=1)
    return _nll_of_rows(op, rows, labels, every_label_counts, weight, ignore_index, reduction, label_smoothing,
                        shape)
