"""std, prod, cumsum and the indexing ops: first and second derivatives agree with finite
differences, in float64.

Each test states one property and runs it at both orders, ``sg.gradcheck`` and
``sg.gradgradcheck`` (as tests/test_gradients_ops.py). prod is a polynomial, smooth
everywhere, so its inputs include exact zeros: one and two in a slice, where the
exclusive-product form of its gradient takes over from prod(x) / x_i. std has a kink at a
constant slice, so its slices hold at least two distinct values.
"""

from __future__ import annotations

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchgan as sg
from strategies import arrays, axes, distinct_arrays, leaf, leaves, shapes

# every test here runs on each CPU kernel set (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("kernel_backend")

ORDERS = pytest.mark.parametrize(
    "check", [sg.gradcheck, sg.gradgradcheck], ids=["first_order", "second_order"],
)


def _reduced_count(shape, axis):
    reduced = range(len(shape)) if axis is None else ((axis,) if isinstance(axis, int) else axis)
    return int(numpy.prod([shape[a] for a in reduced], dtype=int))


# -- reductions ---------------------------------------------------------------------------
@ORDERS
@given(shape=shapes(min_dims=1, max_side=3), keepdims=st.booleans(), ddof=st.sampled_from([0, 1]),
       data=st.data())
def test_std_over_axes_of_distinct_values_matches_finite_differences(check, shape, keepdims, ddof, data):
    axis = data.draw(axes(len(shape)).filter(lambda a: _reduced_count(shape, a) > 1))
    (values,) = data.draw(distinct_arrays([shape], spacing=1 / 8, bound=2.0))
    check(lambda x: sg.std(x, axis=axis, keepdims=keepdims, ddof=ddof), leaf(values))


@ORDERS
@given(shape=shapes(max_side=3), keepdims=st.booleans(), data=st.data())
def test_prod_over_axes_without_zeros_matches_finite_differences(check, shape, keepdims, data):
    x, axis = data.draw(leaves(shape, low=-1.5, high=1.5, avoid=(0.0,), margin=0.25)), data.draw(axes(len(shape)))
    check(lambda x: sg.prod(x, axis=axis, keepdims=keepdims), x)


@ORDERS
@pytest.mark.parametrize("zeros", [1, 2, 3], ids=["one_zero", "two_zeros", "three_zeros"])
@given(shape=shapes(min_dims=1, max_side=4).filter(lambda s: s[-1] >= 3), data=st.data())
def test_prod_along_an_axis_with_zeros_in_every_slice_matches_finite_differences(check, zeros, shape, data):
    """One zero: the gradient at it is the product of the others; two or more: zero; the
    second derivatives are the products of all elements but two, zeros included."""
    axis = data.draw(st.sampled_from([-1, len(shape) - 1]))
    values = data.draw(arrays(shape, low=-1.5, high=1.5, avoid=(0.0,), margin=0.1))  # zeros only where set
    values[..., :min(zeros, shape[-1])] = 0.0
    check(lambda x: sg.prod(x, axis=axis), leaf(values))


@ORDERS
@given(shape=shapes(min_dims=1, max_side=3), data=st.data())
def test_prod_over_several_axes_with_scattered_zeros_matches_finite_differences(check, shape, data):
    values = data.draw(arrays(shape, low=-1.5, high=1.5, avoid=(0.0,), margin=0.1))  # zeros only where set
    values[data.draw(arrays(shape, low=0.0, high=1.0)) < 0.4] = 0.0
    axis = data.draw(axes(len(shape)))
    check(lambda x: sg.prod(x, axis=axis), leaf(values))


@ORDERS
@given(shape=shapes(), data=st.data())
def test_cumsum_along_an_axis_matches_finite_differences(check, shape, data):
    axis = data.draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    check(lambda x: sg.cumsum(x, axis), data.draw(leaves(shape)))


# -- gather -------------------------------------------------------------------------------
@ORDERS
@given(shape=shapes(min_dims=1), data=st.data())
def test_gather_with_repeated_indices_matches_finite_differences(check, shape, data):
    """Repeated indices read an element several times: its gradients add up."""
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    index_shape = [data.draw(st.integers(1, n)) for n in shape]  # no larger than x off the axis
    index_shape[axis] = data.draw(st.integers(1, 5))  # along it, any length
    seed = data.draw(st.integers(0, 2**16))
    index = numpy.random.default_rng(seed).integers(0, shape[axis], size=index_shape)
    index.flat[-1] = index.flat[0]
    check(lambda x: sg.gather(x, axis, index), data.draw(leaves(shape)))


# -- flip, roll, repeat ---------------------------------------------------------------------
@ORDERS
@given(shape=shapes(min_dims=1), data=st.data())
def test_flip_over_axes_matches_finite_differences(check, shape, data):
    axis = data.draw(axes(len(shape)).filter(lambda a: a is not None))
    check(lambda x: sg.flip(x, axis), data.draw(leaves(shape)))


@ORDERS
@given(shape=shapes(min_dims=1), data=st.data())
def test_roll_with_negative_shifts_over_several_axes_matches_finite_differences(check, shape, data):
    count = data.draw(st.integers(1, 3))
    roll_axes = tuple(data.draw(st.integers(-len(shape), len(shape) - 1)) for _ in range(count))
    shifts = tuple(data.draw(st.integers(-7, 7)) for _ in range(count))
    check(lambda x: sg.roll(x, shifts, roll_axes), data.draw(leaves(shape)))


@ORDERS
@given(shape=shapes(min_dims=1), shift=st.integers(-9, 9), data=st.data())
def test_roll_of_the_flattened_tensor_matches_finite_differences(check, shape, shift, data):
    check(lambda x: sg.roll(x, shift), data.draw(leaves(shape)))


@ORDERS
@given(shape=shapes(max_dims=2, max_side=3), data=st.data())
def test_repeat_with_extra_leading_sizes_matches_finite_differences(check, shape, data):
    sizes = tuple(data.draw(st.lists(st.integers(0, 3), min_size=len(shape), max_size=len(shape) + 2)))
    check(lambda x: x.repeat(sizes), data.draw(leaves(shape)))


# -- tril, triu -----------------------------------------------------------------------------
@ORDERS
@pytest.mark.parametrize("op", [sg.tril, sg.triu], ids=["tril", "triu"])
@given(shape=shapes(min_dims=2), diagonal=st.integers(-4, 4), data=st.data())
def test_triangle_with_a_diagonal_offset_matches_finite_differences(check, op, shape, diagonal, data):
    check(lambda x: op(x, diagonal), data.draw(leaves(shape)))
