"""Padding layers with PyTorch's constructor signatures and reprs (``torch.nn.ReflectionPad2d``, ...).

Each layer calls ``F.pad`` with its mode; none has parameters. ``padding`` is an int (the
same on every side) or a tuple ``(left, right)`` for the 1d layers, ``(left, right, top,
bottom)`` for the 2d ones; a negative pad crops. A CycleGAN-style ResNet block pads with
``ReflectionPad2d(1)`` before each ``Conv2d(kernel_size=3)``, so the border of the image is
convolved with its mirror image rather than with zeros.

Deliberately stricter than PyTorch, which keeps a tuple of any length and pads as many dims
as it has: a tuple of the wrong length is an error here (``ReflectionPad2d((1, 2))``).
"""

from __future__ import annotations

import numbers

from scratchgan.nn import functional as F
from scratchgan.nn.module import Module


def _padding(padding, count: int, layer: str) -> tuple:
    """An int repeated ``count`` times, or a tuple of ``count`` ints (PyTorch's ``_ntuple``)."""
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        return (int(padding),) * count
    padding = tuple(padding)
    if len(padding) != count or not all(isinstance(p, numbers.Integral) and not isinstance(p, bool) for p in padding):
        raise ValueError(f"{layer}: padding must be an int or a tuple of {count} ints, got {padding}")
    return tuple(int(p) for p in padding)


class _PadNd(Module):
    """F.pad(x, padding, mode); the repr ``(1, 1, 1, 1)``, as PyTorch's."""

    mode = "constant"
    sides = 2  # pad values: 2 for the 1d layers, 4 for the 2d ones

    def __init__(self, padding):
        super().__init__()
        self.padding = _padding(padding, self.sides, type(self).__name__)

    def forward(self, x):
        return F.pad(x, self.padding, self.mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ReflectionPadNd(_PadNd):
    mode = "reflect"


class ReflectionPad1d(_ReflectionPadNd):
    """Reflect the last dim about its edge elements: ``x[2], x[1] | x[0] ... x[n-1] | x[n-2]``
    (pads smaller than the dim); a 2-d or 3-d input."""


class ReflectionPad2d(_ReflectionPadNd):
    """Reflect the last two dims about their edges, ``(left, right, top, bottom)``; a 3-d or 4-d
    input."""

    sides = 4


class _ReplicationPadNd(_PadNd):
    mode = "replicate"


class ReplicationPad1d(_ReplicationPadNd):
    """Repeat the edge elements of the last dim: ``x[0], x[0] | x[0] ... x[n-1] | x[n-1]``; a
    2-d or 3-d input."""


class ReplicationPad2d(_ReplicationPadNd):
    """Repeat the edge elements of the last two dims, ``(left, right, top, bottom)``; a 3-d or
    4-d input."""

    sides = 4


class _CircularPadNd(_PadNd):
    """Checks the input's rank first, with PyTorch's condition."""

    mode = "circular"

    def forward(self, x):
        ranks = (self.sides // 2 + 1, self.sides // 2 + 2)
        if x.ndim not in ranks:
            raise ValueError(
                f"{type(self).__name__}: expected a {ranks[0]}-d or {ranks[1]}-d input, got shape {tuple(x.shape)}")
        return super().forward(x)


class CircularPad1d(_CircularPadNd):
    """Wrap the last dim around: ``x[n-2], x[n-1] | x[0] ... x[n-1] | x[0], x[1]`` (pads at
    most the dim); a 2-d or 3-d input."""


class CircularPad2d(_CircularPadNd):
    """Wrap the last two dims around, ``(left, right, top, bottom)``; a 3-d or 4-d input."""

    sides = 4


class _ConstantPadNd(_PadNd):
    """F.pad(x, padding, "constant", value); the repr ``padding=(1, 1), value=0.5``."""

    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, x):
        return F.pad(x, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with ``value``: ``v, v | x[0] ... x[n-1] | v, v``."""


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dims with ``value``, ``(left, right, top, bottom)``."""

    sides = 4


class ZeroPad2d(ConstantPad2d):
    """Pad the last two dims with zeros, ``(left, right, top, bottom)``."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"
