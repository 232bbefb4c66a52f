"""Tensor constructors: zeros, ones, full, randn, rand, arange, and the ``*_like`` forms.

``device="cuda"`` makes the tensor on the GPU directly; random tensors there are drawn
on the GPU from the device stream (``scratchgan.random``), not drawn on the host and
copied. The ``*_like`` forms follow their argument's device.
"""

from __future__ import annotations

import numpy

from scratchgan import random
from scratchgan.autograd.tensor import DEFAULT_FLOAT, Tensor, array_module_for


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def tensor(data, dtype=None, requires_grad=False, device=None) -> Tensor:
    result = Tensor(data, requires_grad=requires_grad, dtype=dtype)
    return result if device is None else result.to(device=device)


def zeros(*shape, dtype=DEFAULT_FLOAT, requires_grad=False, device="cpu") -> Tensor:
    return Tensor(array_module_for(device).zeros(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype=DEFAULT_FLOAT, requires_grad=False, device="cpu") -> Tensor:
    return Tensor(array_module_for(device).ones(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def full(shape, value, dtype=DEFAULT_FLOAT, requires_grad=False, device="cpu") -> Tensor:
    return Tensor(array_module_for(device).full(tuple(shape), value, dtype=dtype), requires_grad=requires_grad)


def arange(*args, dtype=None, device="cpu") -> Tensor:
    return Tensor(array_module_for(device).arange(*args, dtype=dtype))


def randn(*shape, dtype=DEFAULT_FLOAT, requires_grad=False, device="cpu") -> Tensor:
    """Standard normal samples: on the CPU from the global generator (``manual_seed``), on
    the GPU from the device stream."""
    if array_module_for(device) is not numpy:
        return Tensor(random.device_draw("normal", _shape(shape), dtype), requires_grad=requires_grad)
    data = random.generator().standard_normal(_shape(shape)).astype(dtype, copy=False)
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape, dtype=DEFAULT_FLOAT, requires_grad=False, device="cpu") -> Tensor:
    """Uniform samples on [0, 1): on the CPU from the global generator, on the GPU from the device stream."""
    if array_module_for(device) is not numpy:
        return Tensor(random.device_draw("uniform", _shape(shape), dtype), requires_grad=requires_grad)
    data = random.generator().random(_shape(shape)).astype(dtype, copy=False)
    return Tensor(data, requires_grad=requires_grad)


def randint(low, high, shape, device="cpu") -> Tensor:
    """Integers uniform on [low, high): floor(low + (high - low) u) with u uniform in float64
    on the GPU (a bias below 2^-40 for ranges under 2^13), NumPy's integers on the CPU."""
    if array_module_for(device) is not numpy:
        u = random.device_draw("uniform", tuple(shape), numpy.float64)
        return Tensor(array_module_for(device).floor(low + (high - low) * u).astype(numpy.int64))
    return Tensor(random.generator().integers(low, high, size=tuple(shape), dtype=numpy.int64))


def zeros_like(t: Tensor, requires_grad=False) -> Tensor:
    return Tensor(t.xp.zeros_like(t.data), requires_grad=requires_grad)


def ones_like(t: Tensor, requires_grad=False) -> Tensor:
    return Tensor(t.xp.ones_like(t.data), requires_grad=requires_grad)


def randn_like(t: Tensor) -> Tensor:
    return randn(*t.shape, dtype=t.dtype, device=t.device)
