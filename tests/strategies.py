"""Hypothesis strategies for the gradient tests: shapes, bounded float64 arrays, layouts, conv geometries.

Finite differences (eps = 1e-6) are only trustworthy on a smooth piece of a function, so
values are bounded and kept a margin away from kinks and singular points (STYLE pitfall 2):
``arrays(..., avoid=(0.0,))`` for relu/abs, ``distinct_arrays`` (values on a grid, no ties)
for max/min/maximum and batch norm. Every array comes in a drawn memory layout (C order,
permuted strides, a strided view, a view with negative strides), so each op is checked on
non-contiguous inputs too (minitorch's ``tensor_strategies``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchgan as sg
from scratchgan.ops.conv import conv_output_size

MAX_SIDE = 4  # small sides: gradcheck perturbs every element twice
LAYOUTS = ("contiguous", "permuted", "strided", "reversed")


# -- shapes -------------------------------------------------------------------------------
def shapes(min_dims=0, max_dims=3, min_side=1, max_side=MAX_SIDE):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=MAX_SIDE):
    """``num_shapes`` shapes that broadcast together (axes of size 1 or missing), as a tuple."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, max_side=max_side,
    ).map(lambda shapes_and_result: shapes_and_result.input_shapes)


def matmul_shapes(max_batch_dims=2, max_side=3):
    """Operand shapes for matmul: batch axes that broadcast, and 1-d operands (NumPy's signature)."""
    return hnp.mutually_broadcastable_shapes(
        signature="(m?,n),(n,p?)->(m?,p?)", max_dims=max_batch_dims, max_side=max_side,
    ).map(lambda shapes_and_result: shapes_and_result.input_shapes)


@st.composite
def axes(draw, ndim):
    """A reduction's ``axis`` argument: None, one axis (maybe negative) or a tuple of distinct axes."""
    if ndim == 0:
        return draw(st.sampled_from([None, ()]))
    one_axis = st.integers(-ndim, ndim - 1)
    several = st.lists(one_axis, unique_by=lambda a: a % ndim, max_size=ndim).map(tuple)
    return draw(st.one_of(st.none(), one_axis, several))


@st.composite
def reshape_targets(draw, shape):
    """A shape with as many elements as ``shape``, often with one dimension given as -1."""
    remaining = int(numpy.prod(shape, dtype=int))
    target = []
    while remaining > 1 and len(target) < 3 and draw(st.booleans()):
        divisors = [d for d in range(2, remaining + 1) if remaining % d == 0]
        factor = draw(st.sampled_from(divisors))
        target.append(factor)
        remaining //= factor
    target.append(remaining)
    target = draw(st.permutations(target))
    if draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return tuple(target)


# -- values and layouts -----------------------------------------------------------------------
def floats(low=-2.0, high=2.0, avoid=(), margin=0.05):
    """Floats in [low, high], at least ``margin`` away from every point in ``avoid``."""
    values = st.floats(low, high, allow_nan=False, allow_infinity=False)
    if not avoid:
        return values
    return values.filter(lambda v: all(abs(v - point) >= margin for point in avoid))


@st.composite
def laid_out(draw, array):
    """The same values as ``array`` in a drawn memory layout; a view whose writes reach its base."""
    layout = draw(st.sampled_from(LAYOUTS)) if array.ndim else "contiguous"
    if layout == "permuted":  # strides in a drawn order, e.g. Fortran order
        order = draw(st.permutations(range(array.ndim)))
        view = numpy.array(array.transpose(order), order="C").transpose(numpy.argsort(order))
    elif layout == "strided":  # every other element of a buffer twice as long on every axis
        buffer = numpy.zeros(tuple(2 * n for n in array.shape))
        view = buffer[(slice(None, None, 2),) * array.ndim]
        view[...] = array
    elif layout == "reversed":  # negative strides on every axis
        flip = (slice(None, None, -1),) * array.ndim
        view = array[flip].copy()[flip]
    else:
        view = numpy.array(array, order="C")  # (ascontiguousarray would make a 0-d array 1-d)
    note(f"layout {layout}: shape {view.shape}, strides {view.strides}")
    return view


@st.composite
def arrays(draw, shape, low=-2.0, high=2.0, avoid=(), margin=0.05):
    """A float64 array of ``shape`` with values from ``floats(...)``, in a drawn layout."""
    values = draw(hnp.arrays(numpy.float64, shape, elements=floats(low, high, avoid, margin)))
    return draw(laid_out(values))


@st.composite
def distinct_arrays(draw, array_shapes, spacing=1 / 32, bound=4.0):
    """Arrays of ``array_shapes`` whose values, all of them together, differ pairwise by >= ``spacing``.

    No ties within or between the arrays, so max/min/maximum have a unique winner that an
    eps-perturbation cannot change, and batch norm never sees a zero variance.
    """
    sizes = [int(numpy.prod(shape, dtype=int)) for shape in array_shapes]
    grid = int(bound / spacing)
    steps = draw(hnp.arrays(numpy.int64, sum(sizes), elements=st.integers(-grid, grid), unique=True))
    values, start, result = steps * spacing, 0, []
    for shape, size in zip(array_shapes, sizes):
        result.append(draw(laid_out(values[start:start + size].reshape(shape))))
        start += size
    return tuple(result)


def leaf(array) -> sg.Tensor:
    """A float64 leaf that requires grad, sharing memory (and layout) with ``array``."""
    return sg.Tensor(array, requires_grad=True)


def leaves(shape, **value_options):
    """A float64 leaf Tensor of ``shape``; ``value_options`` as for ``arrays``."""
    return arrays(shape, **value_options).map(leaf)


@st.composite
def broadcast_leaves(draw, num_shapes=2, **value_options):
    """``num_shapes`` leaves whose shapes broadcast together."""
    return tuple(draw(leaves(shape, **value_options)) for shape in draw(broadcastable_shapes(num_shapes)))


# -- convolution geometries --------------------------------------------------------------------
@dataclass(frozen=True)
class ConvGeometry:
    """conv2d from ``input_shape`` to ``output_shape``; conv_transpose2d with ``output_padding`` maps back."""

    batch: int
    in_channels: int
    out_channels: int
    size: tuple  # (H, W) of the conv2d input
    kernel_size: tuple
    stride: tuple
    padding: tuple
    dilation: tuple

    @property
    def output_size(self) -> tuple:
        return tuple(conv_output_size(n, k, s, p, d) for n, k, s, p, d in
                     zip(self.size, self.kernel_size, self.stride, self.padding, self.dilation))

    @property
    def output_padding(self) -> tuple:
        """The rows/columns conv2d's floor division drops; 0 <= output_padding < stride."""
        return tuple((n + 2 * p - d * (k - 1) - 1) % s for n, k, s, p, d in
                     zip(self.size, self.kernel_size, self.stride, self.padding, self.dilation))

    @property
    def input_shape(self) -> tuple:  # (N, C, H, W)
        return (self.batch, self.in_channels) + self.size

    @property
    def weight_shape(self) -> tuple:  # (O, C, kh, kw); conv_transpose2d reads it as (in, out, kh, kw)
        return (self.out_channels, self.in_channels) + self.kernel_size

    @property
    def output_shape(self) -> tuple:  # (N, O, Ho, Wo)
        return (self.batch, self.out_channels) + self.output_size

    @property
    def conv_options(self) -> dict:
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation)

    @property
    def transpose_options(self) -> dict:
        return dict(self.conv_options, output_padding=self.output_padding)


@st.composite
def conv_geometries(draw, max_batch=3, max_channels=3, max_side=7):
    """Kernel 1-3, stride 1-3, padding 0-2, dilation 1-2 per axis, and an input at least as big
    as the padded, dilated kernel; every output_padding below the stride comes up through the
    input size (conv_transpose2d geometries are exactly the adjoints of these)."""
    per_axis = []
    for _ in range(2):
        kernel, stride = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        padding, dilation = draw(st.integers(0, 2)), draw(st.integers(1, 2))
        smallest = max(1, dilation * (kernel - 1) + 1 - 2 * padding)
        size = draw(st.integers(smallest, max(smallest, max_side)))
        per_axis.append((size, kernel, stride, padding, dilation))
    size, kernel, stride, padding, dilation = (tuple(values) for values in zip(*per_axis))
    return ConvGeometry(
        batch=draw(st.integers(1, max_batch)), in_channels=draw(st.integers(1, max_channels)),
        out_channels=draw(st.integers(1, max_channels)), size=size, kernel_size=kernel,
        stride=stride, padding=padding, dilation=dilation,
    )


@dataclass(frozen=True)
class GroupedConvGeometry(ConvGeometry):
    """A ConvGeometry with ``groups``: weight (O, C / groups, kh, kw), which conv_transpose2d
    reads as (in = O, out / groups = C / groups), so it maps the output back to the input.
    ``spatial`` = 1 keeps only the last axis: (N, C, L), weight (O, C / groups, k)."""

    groups: int = 1
    spatial: int = 2

    def _axes(self, values: tuple) -> tuple:
        return values if self.spatial == 2 else values[1:]

    @property
    def input_shape(self) -> tuple:
        return (self.batch, self.in_channels) + self._axes(self.size)

    @property
    def weight_shape(self) -> tuple:
        return (self.out_channels, self.in_channels // self.groups) + self._axes(self.kernel_size)

    @property
    def output_shape(self) -> tuple:
        return (self.batch, self.out_channels) + self._axes(self.output_size)

    @property
    def conv_options(self) -> dict:
        return dict(stride=self._axes(self.stride), padding=self._axes(self.padding),
                    dilation=self._axes(self.dilation), groups=self.groups)

    @property
    def transpose_options(self) -> dict:
        return dict(self.conv_options, output_padding=self._axes(self.output_padding))


@st.composite
def grouped_conv_geometries(draw, spatial=2, max_batch=2, max_groups=3, max_side=5):
    """As ``conv_geometries``, with 1-3 groups of 1-2 input and 1-2 output channels each, or
    depthwise (one input channel per group); ``spatial`` = 1 for the 1-d convolutions."""
    per_axis = [(1, 1, 1, 0, 1)] if spatial == 1 else []
    while len(per_axis) < 2:
        kernel, stride = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        padding, dilation = draw(st.integers(0, 2)), draw(st.integers(1, 2))
        smallest = max(1, dilation * (kernel - 1) + 1 - 2 * padding)
        per_axis.append((draw(st.integers(smallest, max(smallest, max_side))), kernel, stride, padding, dilation))
    size, kernel, stride, padding, dilation = (tuple(values) for values in zip(*per_axis))
    groups = draw(st.sampled_from(tuple(range(2, max_groups + 1)) + (1,)))  # simplest draw: 2 groups
    depthwise = draw(st.booleans())
    in_per_group = 1 if depthwise else draw(st.integers(1, 2))
    geometry = GroupedConvGeometry(
        batch=draw(st.integers(1, max_batch)), in_channels=groups * in_per_group,
        out_channels=groups * draw(st.integers(1, 2)), size=size, kernel_size=kernel, stride=stride,
        padding=padding, dilation=dilation, groups=groups, spatial=spatial,
    )
    note(f"{geometry}")
    return geometry
