"""Helpers shared by the op families: turning constants into Tensors (with PyTorch's type
promotion), checking axis arguments, reading arguments."""

from __future__ import annotations

import numbers

import numpy

from scratchgan.autograd.tensor import DEFAULT_FLOAT, Tensor


class AxisError(IndexError, ValueError):
    """An axis argument out of range. An ``IndexError``, as PyTorch's "Dimension out of range",
    and a ``ValueError``, as scratchgan's other argument errors."""


# -- type promotion -------------------------------------------------------------------------------
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}  # bool < integer < floating < complex


def _category(dtype) -> int:
    return _CATEGORY[numpy.dtype(dtype).kind]


def _promote_pair(higher, lower):
    """Two dtypes: the one of the higher category, or NumPy's promotion within one category
    (int64 with float32 is float32 in PyTorch, where NumPy would give float64)."""
    if higher is None or lower is None:
        return higher if lower is None else lower
    if _category(higher) != _category(lower):
        return higher if _category(higher) > _category(lower) else lower
    return numpy.promote_types(higher, lower)


def _scalar_dtype(value):
    """The dtype PyTorch gives a Python number in an expression: bool, int64, the default float."""
    if isinstance(value, (bool, numpy.bool_)):
        return numpy.dtype(bool)
    if isinstance(value, numbers.Integral):
        return numpy.dtype(numpy.int64)
    if isinstance(value, numbers.Real):
        return numpy.dtype(DEFAULT_FLOAT)
    raise TypeError(f"expected a Tensor or a real Python number, got {type(value).__name__}")


def result_dtype(*operands):
    """The dtype of an elementwise op's result under PyTorch's type promotion.

    Operands rank by priority: tensors with dimensions, then 0-d tensors, then Python numbers.
    The dtype is set by the highest-priority operands (promoted among themselves); a
    lower-priority operand matters only when it is of a higher category (bool < integer <
    floating): ``int_tensor + 0.5`` is float32 (the default float dtype), ``float32_tensor +
    float64_0d_tensor`` stays float32, and ``float32 + 2.0`` stays float32.
    """
    dimensioned = zero_dim = scalars = None
    for value in operands:
        if isinstance(value, numbers.Number):  # Python numbers, and NumPy's scalars with them
            scalars = _promote_pair(scalars, _scalar_dtype(value))
        elif isinstance(value, Tensor) or hasattr(value, "__array__"):  # Tensors and arrays
            dtype = value.dtype if hasattr(value, "dtype") else numpy.asarray(value).dtype
            if numpy.ndim(value.data if isinstance(value, Tensor) else value):
                dimensioned = _promote_pair(dimensioned, dtype)
            else:
                zero_dim = _promote_pair(zero_dim, dtype)
        else:
            raise TypeError(f"expected a Tensor, an array or a real number, got {type(value).__name__}")
    return numpy.dtype(_combine(dimensioned, _combine(zero_dim, scalars)))


def _combine(higher, lower):
    """PyTorch's ``combine_categories``: ``higher`` (the higher-priority operands' dtype) unless
    ``lower`` is floating over an integer or bool ``higher``, or ``higher`` is bool."""
    if higher is None:
        return lower
    if lower is None or _category(higher) >= 2:
        return higher
    if _category(higher) == 0 or _category(lower) >= 2:
        return _promote_pair(higher, lower)
    return higher


def as_tensor(value, like: Tensor) -> Tensor:
    """``value`` as a Tensor; a Python number takes ``like``'s dtype where PyTorch's promotion
    keeps it (float32 stays float32) and the promoted dtype otherwise (a float with integers)."""
    if isinstance(value, Tensor):
        return value
    xp = like.xp
    if isinstance(value, numbers.Number) and not isinstance(value, numpy.ndarray):
        return Tensor(xp.asarray(value, dtype=result_dtype(like, value)))
    return Tensor(xp.asarray(value))


def promote(a, b):
    """Two operands (Tensors or Python numbers) as Tensors of their promoted dtype."""
    from scratchgan.ops.elementwise import cast

    dtype = result_dtype(a, b)
    like = a if isinstance(a, Tensor) else b
    a = cast(a, dtype) if isinstance(a, Tensor) else Tensor(like.xp.asarray(a, dtype=dtype))
    b = cast(b, dtype) if isinstance(b, Tensor) else Tensor(like.xp.asarray(b, dtype=dtype))
    return a, b



# -- axes -----------------------------------------------------------------------------------------
def check_axis(axis, ndim: int, op: str, name: str = "axis", new_axis: bool = False) -> int:
    """One axis of an ``ndim``-d tensor as a non-negative int, or an AxisError naming the range:
    [-ndim, ndim), or [-ndim - 1, ndim] with ``new_axis`` (an op that inserts one: stack,
    unsqueeze). PyTorch's ``maybe_wrap_dim``; a 0-d tensor accepts 0 and -1."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an int, got {type(axis).__name__}")
    bound = max(ndim + new_axis, 1)
    if not -bound <= axis < bound:
        raise AxisError(f"{op}: {name} {axis} is out of range for a {ndim}-d tensor "
                        f"(expected one in [{-bound}, {bound - 1}])")
    return int(axis) % bound


def normalize_axis(axis, ndim: int, op: str):
    """``axis`` (None, int or tuple) as a sorted tuple of non-negative axes, each checked by
    ``check_axis``; a 0-d tensor's axis 0 or -1 names the scalar itself (the empty tuple)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    result = [check_axis(a, ndim, op) for a in axes]
    if len(set(result)) != len(result):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return () if ndim == 0 else tuple(sorted(result))


def pair(value, name: str, op: str) -> tuple[int, int]:
    """An int or a 2-sequence of ints as a pair (PyTorch's ``_pair``)."""
    if isinstance(value, int):
        return (value, value)
    value = tuple(value)
    if len(value) != 2 or not all(isinstance(v, int) for v in value):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value}")
    return value
