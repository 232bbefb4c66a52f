"""Pooling and resampling: first and second derivatives agree with finite differences, in float64.

Each test states one property and runs it at both orders, ``first_order`` (``sg.gradcheck``)
and ``second_order`` (``sg.gradgradcheck``), as ``test_gradients_ops.py`` does. Geometries
are drawn over kernel, stride, padding (at most half the kernel), dilation and ceil_mode;
max pooling gets values without ties (``distinct_arrays``), so no eps-perturbation moves a
window's maximum. Every op here is piecewise linear in x, so the second order checks that
the gradient's own graph (index_add, conv_transpose2d, matmul) is wired right.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import scratchgan as sg
from scratchgan import nn
from scratchgan.nn import functional as F
from scratchgan.ops import pool as pool_ops
from strategies import distinct_arrays, leaf, leaves

# every test here runs on each CPU kernel set (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("kernel_backend")

ORDERS = pytest.mark.parametrize(
    "check", [sg.gradcheck, sg.gradgradcheck], ids=["first_order", "second_order"],
)
SCALE_FACTORS = st.sampled_from([0.5, 0.75, 1.5, 1.7, 2.0, 2.5, 3.0])


@st.composite
def pool_cases(draw, max_dilation=2, max_side=5):
    """(input shape, kernel, stride, padding, dilation, ceil_mode): kernel 1-3, stride 1-3,
    padding <= kernel // 2, every output size >= 1 and every window reading the input."""
    ceil_mode = draw(st.booleans())
    per_axis = []
    for _ in range(2):
        kernel, stride = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        padding, dilation = draw(st.integers(0, kernel // 2)), draw(st.integers(1, max_dilation))
        smallest = max(1, dilation * (kernel - 1) + 1 - 2 * padding)
        size = draw(st.integers(smallest, max(smallest, max_side)))
        out = pool_ops.pool_output_size(size, kernel, stride, padding, dilation, ceil_mode)
        assume(out >= 1 and pool_ops.first_valid_positions(size, kernel, stride, padding, dilation, out)[1].all())
        per_axis.append((size, kernel, stride, padding, dilation))
    size, kernel, stride, padding, dilation = (tuple(values) for values in zip(*per_axis))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + size
    return shape, kernel, stride, padding, dilation, ceil_mode


@st.composite
def resample_targets(draw):
    """(input shape, size, scale_factor): a target size up or down, or a scale factor."""
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    if draw(st.booleans()):
        return shape, (draw(st.integers(1, 6)), draw(st.integers(1, 6))), None
    scale = (draw(SCALE_FACTORS), draw(SCALE_FACTORS))
    assume(all(int(n * s) >= 1 for n, s in zip(shape[2:], scale)))
    return shape, None, scale


# -- max pooling ---------------------------------------------------------------------------------
@ORDERS
@given(case=pool_cases(), data=st.data())
def test_max_pool2d_of_distinct_values_matches_finite_differences(check, case, data):
    shape, kernel, stride, padding, dilation, ceil_mode = case
    (x,) = data.draw(distinct_arrays([shape]))
    check(lambda x: F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode), leaf(x))


@ORDERS
@given(case=pool_cases(max_dilation=1), data=st.data())
def test_max_pool2d_layer_of_distinct_values_matches_finite_differences(check, case, data):
    shape, kernel, stride, padding, _, ceil_mode = case
    (x,) = data.draw(distinct_arrays([shape]))
    check(nn.MaxPool2d(kernel, stride, padding, ceil_mode=ceil_mode), leaf(x))


# -- average pooling -----------------------------------------------------------------------------
@ORDERS
@given(case=pool_cases(max_dilation=1), count_include_pad=st.booleans(),
       divisor_override=st.one_of(st.none(), st.sampled_from([-2, 1, 3])), data=st.data())
def test_avg_pool2d_with_ceil_mode_and_each_divisor_matches_finite_differences(
        check, case, count_include_pad, divisor_override, data):
    shape, kernel, stride, padding, _, ceil_mode = case
    check(lambda x: F.avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override),
          data.draw(leaves(shape)))


# -- interpolation -------------------------------------------------------------------------------
@ORDERS
@given(target=resample_targets(), data=st.data())
def test_nearest_interpolation_to_any_size_or_scale_matches_finite_differences(check, target, data):
    shape, size, scale_factor = target
    check(lambda x: F.interpolate(x, size, scale_factor, mode="nearest"), data.draw(leaves(shape)))


@ORDERS
@given(target=resample_targets(), align_corners=st.booleans(), data=st.data())
def test_bilinear_interpolation_up_and_down_matches_finite_differences(check, target, align_corners, data):
    shape, size, scale_factor = target
    check(lambda x: F.interpolate(x, size, scale_factor, mode="bilinear", align_corners=align_corners),
          data.draw(leaves(shape)))


@ORDERS
@given(target=resample_targets(), data=st.data())
def test_upsample_layer_in_bilinear_mode_matches_finite_differences(check, target, data):
    shape, size, scale_factor = target
    check(nn.Upsample(size, scale_factor, mode="bilinear"), data.draw(leaves(shape)))


# -- pixel shuffle -------------------------------------------------------------------------------
@st.composite
def shuffle_shapes(draw):
    """(factor r, batch axes of 0-2 dimensions, C, H, W) with small sides."""
    batch = tuple(draw(st.lists(st.integers(1, 2), max_size=2)))
    return draw(st.integers(1, 2)), batch, draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))


@ORDERS
@given(case=shuffle_shapes(), data=st.data())
def test_pixel_shuffle_matches_finite_differences(check, case, data):
    r, batch, channels, h, w = case
    check(lambda x: F.pixel_shuffle(x, r), data.draw(leaves(batch + (channels * r * r, h, w))))


@ORDERS
@given(case=shuffle_shapes(), data=st.data())
def test_pixel_unshuffle_matches_finite_differences(check, case, data):
    r, batch, channels, h, w = case
    check(nn.PixelUnshuffle(r), data.draw(leaves(batch + (channels, h * r, w * r))))


@given(case=shuffle_shapes(), data=st.data())
def test_pixel_unshuffle_inverts_pixel_shuffle(case, data):
    r, batch, channels, h, w = case
    x = data.draw(leaves(batch + (channels * r * r, h, w)))
    assert (F.pixel_unshuffle(F.pixel_shuffle(x, r), r).numpy() == x.numpy()).all()
