"""Layer, group and instance norm: first and second derivatives agree with finite differences.

Each test states one property, "<op> matches finite differences", at both orders
(``sg.gradcheck`` and ``sg.gradgradcheck``, float64), in the input and in the affine
weight and bias. Inputs hold distinct values (``distinct_arrays``): no normalised row has
zero variance, where the normalisation is steep. The layers are these functional forms
with their parameters (tests/test_parity_norm_layers.py compares them with PyTorch).
"""

from __future__ import annotations

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchgan as sg
from scratchgan.nn import functional as F
from strategies import arrays, distinct_arrays, leaf, leaves

# every test here runs on each CPU kernel set (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("kernel_backend")

ORDERS = pytest.mark.parametrize(
    "check", [sg.gradcheck, sg.gradgradcheck], ids=["first_order", "second_order"],
)


def _distinct_leaf(draw, shape):
    (x,) = draw(distinct_arrays([shape]))
    return leaf(x)


@st.composite
def layer_norm_inputs(draw):
    """x with distinct values, normalized_shape its last k axes, weight and bias of that shape."""
    shape = draw(st.sampled_from([(3, 4), (2, 3, 2), (2, 2, 3), (4,)]))
    k = draw(st.integers(1, len(shape)))
    normalized_shape = shape[len(shape) - k:]
    return (_distinct_leaf(draw, shape), normalized_shape, draw(leaves(normalized_shape)),
            draw(leaves(normalized_shape)))


@st.composite
def group_norm_inputs(draw):
    """x (N, C, *) with distinct values, a number of groups dividing C, weight and bias (C,)."""
    shape = draw(st.sampled_from([(2, 4), (2, 4, 3), (1, 4, 2, 2), (3, 6, 2), (2, 2, 3)]))
    channels = shape[1]
    num_groups = draw(st.sampled_from([g for g in range(1, channels + 1) if channels % g == 0]))
    return (_distinct_leaf(draw, shape), num_groups, draw(leaves((channels,))),
            draw(leaves((channels,))))


@st.composite
def instance_norm_inputs(draw):
    """x (N, C, *) with at least 2 spatial values, weight and bias (C,)."""
    shape = draw(st.sampled_from([(2, 3, 3), (1, 2, 2, 2), (2, 2, 4), (3, 1, 2)]))
    channels = shape[1]
    return _distinct_leaf(draw, shape), draw(leaves((channels,))), draw(leaves((channels,)))


# -- layer norm ---------------------------------------------------------------------------------
@ORDERS
@given(inputs=layer_norm_inputs())
def test_layer_norm_in_input_weight_and_bias_matches_finite_differences(check, inputs):
    x, normalized_shape, weight, bias = inputs
    check(lambda x, weight, bias: F.layer_norm(x, normalized_shape, weight, bias), (x, weight, bias))


@ORDERS
@given(inputs=layer_norm_inputs())
def test_layer_norm_without_affine_matches_finite_differences(check, inputs):
    x, normalized_shape, _, _ = inputs
    check(lambda x: F.layer_norm(x, normalized_shape), (x,))


# -- group norm ---------------------------------------------------------------------------------
@ORDERS
@given(inputs=group_norm_inputs())
def test_group_norm_in_input_weight_and_bias_matches_finite_differences(check, inputs):
    x, num_groups, weight, bias = inputs
    check(lambda x, weight, bias: F.group_norm(x, num_groups, weight, bias), (x, weight, bias))


@ORDERS
@given(inputs=group_norm_inputs())
def test_group_norm_without_affine_matches_finite_differences(check, inputs):
    x, num_groups, _, _ = inputs
    check(lambda x: F.group_norm(x, num_groups), (x,))


# -- instance norm ------------------------------------------------------------------------------
@ORDERS
@given(inputs=instance_norm_inputs())
def test_instance_norm_with_input_statistics_in_input_weight_and_bias_matches_finite_differences(
        check, inputs):
    x, weight, bias = inputs
    channels = x.shape[1]
    running_mean = sg.zeros(channels, dtype=numpy.float64)  # updated in place; no effect on the output
    running_var = sg.ones(channels, dtype=numpy.float64)
    check(lambda x, weight, bias: F.instance_norm(x, running_mean, running_var, weight, bias), (x, weight, bias))


@ORDERS
@given(inputs=instance_norm_inputs(), data=st.data())
def test_instance_norm_with_running_statistics_in_input_weight_and_bias_matches_finite_differences(
        check, inputs, data):
    x, weight, bias = inputs
    channels = x.shape[1]
    running_mean = sg.Tensor(data.draw(arrays((channels,))))
    running_var = sg.Tensor(data.draw(arrays((channels,), low=0.2, high=2.0)))
    check(lambda x, weight, bias: F.instance_norm(x, running_mean, running_var, weight, bias,
                                                  use_input_stats=False), (x, weight, bias))
