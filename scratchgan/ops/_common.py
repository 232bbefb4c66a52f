"""Helpers shared by the op families: turning constants into Tensors, reading arguments."""

from __future__ import annotations

from scratchgan.autograd.tensor import Tensor


def as_tensor(value, like: Tensor) -> Tensor:
    """``value`` as a Tensor; Python scalars take ``like``'s dtype so float32 stays float32."""
    if isinstance(value, Tensor):
        return value
    xp = like.xp
    if isinstance(value, (bool, int, float)):
        return Tensor(xp.asarray(value, dtype=like.dtype))
    return Tensor(xp.asarray(value))


def normalize_axis(axis, ndim: int, op: str):
    """``axis`` (None, int or tuple) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if ndim == 0:  # as PyTorch: axis 0 or -1 of a scalar names the scalar itself
        if any(a not in (0, -1) for a in axes):
            raise ValueError(f"{op}: axis {axis} is out of range for a 0-d tensor")
        return ()
    result = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
        result.append(a % ndim)
    if len(set(result)) != len(result):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(result))


def pair(value, name: str, op: str) -> tuple[int, int]:
    """An int or a 2-sequence of ints as a pair (PyTorch's ``_pair``)."""
    if isinstance(value, int):
        return (value, value)
    value = tuple(value)
    if len(value) != 2 or not all(isinstance(v, int) for v in value):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value}")
    return value
