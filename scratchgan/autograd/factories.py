"""Tensor constructors: zeros, ones, full, randn, rand, arange, and the ``*_like`` forms."""

from __future__ import annotations

import numpy

from scratchgan import random
from scratchgan.autograd.tensor import DEFAULT_FLOAT, Tensor


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def tensor(data, dtype=None, requires_grad=False) -> Tensor:
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def zeros(*shape, dtype=DEFAULT_FLOAT, requires_grad=False) -> Tensor:
    return Tensor(numpy.zeros(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype=DEFAULT_FLOAT, requires_grad=False) -> Tensor:
    return Tensor(numpy.ones(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def full(shape, value, dtype=DEFAULT_FLOAT, requires_grad=False) -> Tensor:
    return Tensor(numpy.full(tuple(shape), value, dtype=dtype), requires_grad=requires_grad)


def arange(*args, dtype=None) -> Tensor:
    return Tensor(numpy.arange(*args, dtype=dtype))


def randn(*shape, dtype=DEFAULT_FLOAT, requires_grad=False) -> Tensor:
    """Standard normal samples from the global generator (``manual_seed``)."""
    data = random.generator().standard_normal(_shape(shape)).astype(dtype, copy=False)
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape, dtype=DEFAULT_FLOAT, requires_grad=False) -> Tensor:
    """Uniform samples on [0, 1) from the global generator."""
    data = random.generator().random(_shape(shape)).astype(dtype, copy=False)
    return Tensor(data, requires_grad=requires_grad)


def randint(low, high, shape) -> Tensor:
    return Tensor(random.generator().integers(low, high, size=tuple(shape), dtype=numpy.int64))


def zeros_like(t: Tensor, requires_grad=False) -> Tensor:
    return Tensor(t.xp.zeros_like(t.data), requires_grad=requires_grad)


def ones_like(t: Tensor, requires_grad=False) -> Tensor:
    return Tensor(t.xp.ones_like(t.data), requires_grad=requires_grad)


def randn_like(t: Tensor) -> Tensor:
    return randn(*t.shape, dtype=t.dtype)
