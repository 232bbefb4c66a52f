"""Indexing ops with PyTorch's semantics: one_hot, gather, flip, roll, repeat, tril, triu.

Every differentiable one is derived, so its derivatives of every order come from the shape
primitives' adjoint pairs (``ops/shape.py``): gather is ``getitem`` with an advanced index
(its VJP the scatter-add ``IndexAdd``), flip a basic slice with step -1, roll two basic
slices concatenated, repeat a reshape and a broadcast (its VJP a sum), and tril and triu a
``where`` with a constant mask. ``one_hot`` gives integers and has no gradient.
"""

from __future__ import annotations

import numbers

from scratchgan import backend
from scratchgan.autograd.tensor import Tensor
from scratchgan.ops import elementwise as ew
from scratchgan.ops import shape as shape_ops
from scratchgan.ops._common import AxisError, check_axis, normalize_axis


class IndexOutOfBoundsError(IndexError, ValueError):
    """An index value outside its axis: an ``IndexError``, as NumPy's and Python's, and a
    ``ValueError``, as scratchgan's other argument errors."""


def _integer_array(value, xp, op, name):
    """``value`` (a Tensor, an array or a nested list of ints) as an integer array of ``xp``."""
    data = value.data if isinstance(value, Tensor) else xp.asarray(value)
    if data.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name} must hold integers, got dtype {data.dtype}")
    return data


def _int_tuple(value, op, name):
    """An int or a sequence of ints as a tuple of ints."""
    values = (value,) if isinstance(value, numbers.Integral) else tuple(value)
    if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in values):
        raise TypeError(f"{op}: {name} must be an int or a sequence of ints, got {value!r}")
    return tuple(int(v) for v in values)


# -- one_hot ------------------------------------------------------------------------------
def one_hot(labels, num_classes=-1):
    """out[..., c] = 1 if labels[...] == c else 0, an int64 Tensor of shape
    ``labels.shape + (num_classes,)`` without a graph (torch.nn.functional.one_hot);
    ``num_classes=-1`` takes max(labels) + 1. Labels of any integer dtype are accepted, where
    PyTorch asks for int64: the result is the same."""
    op = "one_hot"
    data = labels.data if isinstance(labels, Tensor) else Tensor(labels).data
    if data.dtype.kind not in "iu":
        raise TypeError(f"{op}: labels must be integer class indices, got dtype {data.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
        raise TypeError(f"{op}: num_classes must be an int, got {num_classes!r}")
    if num_classes < -1:
        raise ValueError(f"{op}: num_classes must be -1 (inferred) or at least 0, got {num_classes}")
    if data.size and int(data.min()) < 0:
        raise ValueError(f"{op}: class values must be non-negative, got {int(data.min())}")
    if data.size == 0 and num_classes <= 0:  # PyTorch refuses num_classes=0 here too
        raise ValueError(f"{op}: cannot infer num_classes from empty labels of shape {data.shape}; "
                         f"pass a positive num_classes, got {num_classes}")
    if num_classes == -1:
        num_classes = int(data.max()) + 1
    if data.size and int(data.max()) >= num_classes:
        raise ValueError(f"{op}: class values must be smaller than num_classes={num_classes}, "
                         f"got {int(data.max())}")
    xp = backend.get_array_module(data)
    return Tensor((data[..., None] == xp.arange(num_classes)).astype(xp.int64))


# -- gather -------------------------------------------------------------------------------
def gather(x, axis, index):
    """``out[i][j][k] = x[index[i][j][k]][j][k]`` for axis 0 (and so on), torch.gather: ``index``
    has x's number of dimensions, index.shape[d] <= x.shape[d] for d != axis, values in
    [0, x.shape[axis]), and out has index's shape. ``x[rows, index, cols]`` with ``arange``
    arrays on the other axes, so the VJP is IndexAdd: g scatter-added into zeros (repeated
    indices add up). An empty index is not checked, as in PyTorch."""
    op = "gather"
    axis = check_axis(axis, x.ndim, op)
    index = _integer_array(index, x.xp, op, "index")
    if index.size == 0:
        empty = x.xp.zeros(0, dtype=x.xp.int64)
        return shape_ops.reshape(shape_ops.getitem(shape_ops.reshape(x, -1), empty), index.shape)
    if x.ndim == 0:  # a 0-d x is read as one element along axis 0, as PyTorch
        if index.ndim > 1:
            raise ValueError(f"{op}: index must have as many dimensions as x (0 or 1 for a 0-d x), "
                             f"got shape {index.shape}")
        picked = gather(shape_ops.reshape(x, 1), 0, index.reshape(-1))
        return shape_ops.reshape(picked, index.shape)
    _check_gather_index(x.shape, axis, index, op)
    xp = x.xp
    parts = tuple(index if d == axis else
                  xp.arange(n).reshape(tuple(-1 if e == d else 1 for e in range(index.ndim)))
                  for d, n in enumerate(index.shape))
    return shape_ops.getitem(x, parts)


def _check_gather_index(shape, axis, index, op):
    if index.ndim != len(shape):
        raise ValueError(f"{op}: index must have as many dimensions as x ({len(shape)}), got shape {index.shape}")
    for d, (n, m) in enumerate(zip(index.shape, shape)):
        if d != axis and n > m:
            raise ValueError(f"{op}: index of shape {index.shape} is larger than x {shape} at "
                             f"dimension {d}; expected index.shape[d] <= x.shape[d] except at axis {axis}")
    low, high = int(index.min()), int(index.max())
    if low < 0 or high >= shape[axis]:
        raise IndexOutOfBoundsError(f"{op}: index {low if low < 0 else high} is out of bounds for axis "
                                    f"{axis} of size {shape[axis]}; expected values in [0, {shape[axis]})")


# -- flip, roll, repeat --------------------------------------------------------------------
def flip(x, axes, *more_axes):
    """x[..., ::-1, ...] along each of ``axes`` (an int, a tuple, or several ints: torch.flip);
    a basic slice with step -1, so the VJP flips the gradient back."""
    if more_axes:
        axes = (axes,) + more_axes
    axes = normalize_axis(axes, x.ndim, "flip")
    if not axes:
        return x
    return shape_ops.getitem(x, tuple(slice(None, None, -1) if d in axes else slice(None)
                                      for d in range(x.ndim)))


def roll(x, shifts, axes=None):
    """torch.roll: out[(i + shift) mod n] = x[i] along each axis, elements pushed past the end
    coming back at the start; negative shifts roll the other way, shifts on a repeated axis
    add up, and ``axes=None`` rolls the flattened tensor and restores the shape. Each axis is
    two basic slices concatenated, so the VJP rolls the gradient back."""
    op = "roll"
    shifts = _int_tuple(shifts, op, "shifts")
    if axes is None:
        if len(shifts) != 1:
            raise ValueError(f"{op}: without axes the flattened tensor is rolled by one shift, got shifts {shifts}")
        return shape_ops.reshape(_roll_axis(shape_ops.reshape(x, -1), shifts[0], 0), x.shape)
    axes = _int_tuple(axes, op, "axes")
    if len(shifts) != len(axes) or not axes:
        raise ValueError(f"{op}: expected one shift per axis, got shifts {shifts} and axes {axes}")
    if x.ndim == 0:
        raise AxisError(f"{op}: axes {axes} given for a 0-d tensor, which has none (as PyTorch)")
    total = {}
    for shift, axis in zip(shifts, axes):
        axis = check_axis(axis, x.ndim, op)
        total[axis] = total.get(axis, 0) + shift
    for axis, shift in total.items():
        x = _roll_axis(x, shift, axis)
    return x


def _roll_axis(x, shift, axis):
    """x rolled by ``shift`` along one axis: its last k = shift mod n elements, then the rest."""
    n = x.shape[axis]
    if n == 0 or shift % n == 0:
        return x
    start = n - shift % n
    before = (slice(None),) * axis
    tail = shape_ops.getitem(x, before + (slice(start, None),))
    head = shape_ops.getitem(x, before + (slice(0, start),))
    return shape_ops.concatenate([tail, head], axis=axis)


def repeat(x, *sizes):
    """torch.Tensor.repeat: x tiled ``sizes[d]`` times along each axis (NumPy's ``tile``, not
    NumPy's ``repeat``, which repeats each element in place); sizes beyond x's dimensions add
    leading axes. x is reshaped to (1, n_1, 1, n_2, ...), broadcast to (r_1, n_1, r_2, n_2, ...)
    and reshaped to (r_1 n_1, r_2 n_2, ...), so the VJP is a sum over the copies."""
    op = "repeat"
    if not sizes:
        raise TypeError(f"{op}: expected the repeat counts, one per axis of x {x.shape} or more")
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    sizes = _int_tuple(sizes, op, "sizes")
    if len(sizes) < x.ndim:
        raise ValueError(f"{op}: expected at least one size per axis of x {x.shape}, got sizes {sizes}")
    if any(r < 0 for r in sizes):
        raise ValueError(f"{op}: sizes must be non-negative, got {sizes}")
    shape = (1,) * (len(sizes) - x.ndim) + tuple(x.shape)
    spread = shape_ops.reshape(x, tuple(v for n in shape for v in (1, n)))
    copies = shape_ops.broadcast_to(spread, tuple(v for r, n in zip(sizes, shape) for v in (r, n)))
    return shape_ops.reshape(copies, tuple(r * n for r, n in zip(sizes, shape)))


# -- tril, triu ----------------------------------------------------------------------------
def tril(x, diagonal=0):
    """out[..., i, j] = x[..., i, j] if j - i <= diagonal else 0 over the last two axes
    (torch.tril); ``where`` with a constant mask, so the VJP is g under the same mask."""
    return _triangle(x, diagonal, "tril")


def triu(x, diagonal=0):
    """out[..., i, j] = x[..., i, j] if j - i >= diagonal else 0 (torch.triu), as ``tril``."""
    return _triangle(x, diagonal, "triu")


def _triangle(x, diagonal, op):
    if isinstance(diagonal, bool) or not isinstance(diagonal, numbers.Integral):
        raise TypeError(f"{op}: diagonal must be an int, got {diagonal!r}")
    if x.ndim < 2:
        raise ValueError(f"{op}: expected a tensor with at least 2 dimensions, got shape {x.shape}")
    rows, cols = x.shape[-2:]
    diagonal = max(-rows - 1, min(cols + 1, int(diagonal)))  # beyond the matrix, all or nothing
    xp = x.xp
    lower = xp.tri(rows, cols, k=diagonal if op == "tril" else diagonal - 1, dtype=bool)
    keep = lower if op == "tril" else ~lower
    return ew.where(keep, x, Tensor(xp.zeros((), dtype=x.dtype)))
