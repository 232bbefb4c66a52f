"""Grouped, depthwise and 1-d convolutions: first and second derivatives agree with finite
differences, in float64, and a grouped convolution is its groups' convolutions side by side
(computed either way: the kernel set once per group, or the batched grouped references).

Geometries come from ``strategies.grouped_conv_geometries``: 1-3 groups of 1-2 channels (or
depthwise), kernel 1-3, stride 1-3, padding 0-2, dilation 1-2, every output_padding below
the stride, inputs in drawn memory layouts. Each test runs at both orders (``ORDERS``) and on
each CPU kernel set.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchgan as sg
from scratchgan.ops import conv
from strategies import arrays, grouped_conv_geometries, leaves

# every test here runs on each CPU kernel set (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("kernel_backend")

ORDERS = pytest.mark.parametrize(
    "check", [sg.gradcheck, sg.gradgradcheck], ids=["first_order", "second_order"],
)
# Each example perturbs every input element, at second order through a double backward:
# half the active profile's examples (6 under ``ci``), as for the 2-d convolutions.
HALF_THE_EXAMPLES = settings(max_examples=max(1, settings().max_examples // 2))


def _leaves(data, *shapes):
    return tuple(data.draw(leaves(shape)) for shape in shapes)


# -- the grouped primitives -------------------------------------------------------------------
@ORDERS
@HALF_THE_EXAMPLES
@given(geometry=grouped_conv_geometries(), data=st.data())
def test_grouped_conv2d_in_input_weight_and_bias_matches_finite_differences(check, geometry, data):
    x, weight, bias = _leaves(data, geometry.input_shape, geometry.weight_shape,
                              (geometry.out_channels,))
    check(lambda x, weight, bias: sg.conv2d(x, weight, bias, **geometry.conv_options), (x, weight, bias))


@ORDERS
@HALF_THE_EXAMPLES
@given(geometry=grouped_conv_geometries(), data=st.data())
def test_grouped_conv_transpose2d_in_input_and_weight_matches_finite_differences(check, geometry, data):
    y, weight = _leaves(data, geometry.output_shape, geometry.weight_shape)
    check(lambda y, weight: sg.conv_transpose2d(y, weight, **geometry.transpose_options), (y, weight))


@ORDERS
@HALF_THE_EXAMPLES
@given(geometry=grouped_conv_geometries(), data=st.data())
def test_grouped_conv2d_weight_in_input_and_grad_output_matches_finite_differences(check, geometry, data):
    x, y = _leaves(data, geometry.input_shape, geometry.output_shape)
    options = geometry.conv_options
    check(lambda x, y: sg.conv2d_weight(x, y, geometry.kernel_size, **options), (x, y))


# -- 1-d ----------------------------------------------------------------------------------------
@ORDERS
@HALF_THE_EXAMPLES
@given(geometry=grouped_conv_geometries(spatial=1), data=st.data())
def test_conv1d_in_input_weight_and_bias_matches_finite_differences(check, geometry, data):
    x, weight, bias = _leaves(data, geometry.input_shape, geometry.weight_shape,
                              (geometry.out_channels,))
    check(lambda x, weight, bias: sg.conv1d(x, weight, bias, **geometry.conv_options), (x, weight, bias))


@ORDERS
@HALF_THE_EXAMPLES
@given(geometry=grouped_conv_geometries(spatial=1), data=st.data())
def test_conv_transpose1d_in_input_and_weight_matches_finite_differences(check, geometry, data):
    y, weight = _leaves(data, geometry.output_shape, geometry.weight_shape)
    check(lambda y, weight: sg.conv_transpose1d(y, weight, **geometry.transpose_options), (y, weight))


# -- padding "same" and output_padding past the stride (built from pad and getitem) -------------
@ORDERS
@HALF_THE_EXAMPLES
@given(kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)), dilation=st.integers(1, 2),
       groups=st.integers(1, 2), data=st.data())
def test_conv2d_with_same_padding_matches_finite_differences(check, kernel, dilation, groups, data):
    x, weight = _leaves(data, (2, 2 * groups, 4, 5), (groups, 2) + kernel)
    check(lambda x, weight: sg.conv2d(x, weight, padding="same", dilation=dilation, groups=groups), (x, weight))


@ORDERS
@HALF_THE_EXAMPLES
@given(stride=st.integers(1, 2), padding=st.integers(0, 2), groups=st.integers(1, 2), data=st.data())
def test_conv_transpose2d_with_output_padding_past_the_stride_matches_finite_differences(
        check, stride, padding, groups, data):
    # dilation 3 allows output_padding 2 >= stride (PyTorch: below the stride or the dilation)
    options = dict(stride=stride, padding=padding, output_padding=2, dilation=3, groups=groups)
    y, weight, bias = _leaves(data, (2, 2 * groups, 3, 2), (2 * groups, 1, 2, 2), (groups,))
    check(lambda y, weight, bias: sg.conv_transpose2d(y, weight, bias, **options), (y, weight, bias))


# -- what groups mean ---------------------------------------------------------------------------
@given(geometry=grouped_conv_geometries(), data=st.data())
def test_grouped_conv2d_is_each_groups_convolution_side_by_side(geometry, data):
    x = data.draw(arrays(geometry.input_shape))
    weight = data.draw(arrays(geometry.weight_shape))
    options = dict(geometry.conv_options)
    groups = options.pop("groups")
    in_block, out_block = geometry.in_channels // groups, geometry.out_channels // groups
    per_group = [
        sg.conv2d(sg.Tensor(x[:, g * in_block:(g + 1) * in_block]),
                  sg.Tensor(weight[g * out_block:(g + 1) * out_block]), **options).numpy()
        for g in range(groups)
    ]
    grouped = sg.conv2d(sg.Tensor(x), sg.Tensor(weight), groups=groups, **options).numpy()
    numpy.testing.assert_allclose(grouped, numpy.concatenate(per_group, axis=1), rtol=1e-12, atol=1e-12)


@given(geometry=grouped_conv_geometries(), data=st.data())
def test_grouped_conv2d_conv_transpose2d_and_conv2d_weight_are_adjoint(geometry, data):
    normal = dict(avoid=(0.0,), margin=1e-3)  # no product underflows to a subnormal
    x = sg.Tensor(data.draw(arrays(geometry.input_shape, **normal)))
    weight = sg.Tensor(data.draw(arrays(geometry.weight_shape, **normal)))
    y = sg.Tensor(data.draw(arrays(geometry.output_shape, **normal)))
    conv = sg.conv2d(x, weight, **geometry.conv_options)
    transposed = sg.conv_transpose2d(y, weight, **geometry.transpose_options)
    weight_grad = sg.conv2d_weight(x, y, geometry.kernel_size, **geometry.conv_options)
    assert transposed.shape == x.shape and weight_grad.shape == weight.shape
    via_output = numpy.vdot(conv.numpy(), y.numpy())  # <conv2d(x, w), y>
    magnitudes = sg.conv2d(sg.abs(x), sg.abs(weight), **geometry.conv_options)
    scale = numpy.vdot(magnitudes.numpy(), numpy.abs(y.numpy()))
    numpy.testing.assert_allclose(numpy.vdot(x.numpy(), transposed.numpy()), via_output,
                                  rtol=1e-10, atol=1e-10 * scale)
    numpy.testing.assert_allclose(numpy.vdot(weight.numpy(), weight_grad.numpy()), via_output,
                                  rtol=1e-10, atol=1e-10 * scale)


@contextmanager
def every_group_run_by_the_kernel_set():
    """Wide groups run the set's kernel once per group (``conv.WIDE_GROUP``); here, all of them."""
    previous, conv.WIDE_GROUP = conv.WIDE_GROUP, 1
    try:
        yield
    finally:
        conv.WIDE_GROUP = previous


@given(geometry=grouped_conv_geometries(), data=st.data())
def test_group_by_group_kernels_equal_the_batched_grouped_references(geometry, data):
    x, weight, y = (sg.Tensor(data.draw(arrays(shape))) for shape in
                    (geometry.input_shape, geometry.weight_shape, geometry.output_shape))

    def all_three():
        return (sg.conv2d(x, weight, **geometry.conv_options).numpy(),
                sg.conv_transpose2d(y, weight, **geometry.transpose_options).numpy(),
                sg.conv2d_weight(x, y, geometry.kernel_size, **geometry.conv_options).numpy())

    batched = all_three()
    with every_group_run_by_the_kernel_set():
        group_by_group = all_three()
    for ours, reference in zip(group_by_group, batched):
        numpy.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-12)
