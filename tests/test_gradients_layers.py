"""Every layer's first and second derivatives, in its input and in its parameters, match finite differences.

A layer is put in float64 (``module.double()``) and its parameters get drawn values; the
Parameter objects themselves are passed to ``sg.gradcheck`` / ``sg.gradgradcheck``, which
perturb them in place, so ``lambda x, *parameters: layer(x)`` differentiates the layer in
its input and in every parameter at once. ``first_order`` and ``second_order`` are the
two orders of the same property, as in ``test_gradients_ops.py``.
"""

from __future__ import annotations

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchgan as sg
from scratchgan import nn
from strategies import arrays, conv_geometries, distinct_arrays, leaf, leaves, shapes

# every test here runs on each CPU kernel set (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("kernel_backend")

ORDERS = pytest.mark.parametrize(
    "check", [sg.gradcheck, sg.gradgradcheck], ids=["first_order", "second_order"],
)
SEEDS = st.integers(0, 2**32 - 1)
# Convolutions and whole models perturb hundreds of elements, each through a double
# backward at second order: a half or a third of the active profile's examples.
HALF_THE_EXAMPLES = settings(max_examples=max(1, settings().max_examples // 2))
A_THIRD_OF_THE_EXAMPLES = settings(max_examples=max(1, settings().max_examples // 3))


def with_drawn_parameters(layer, data):
    """``layer`` in float64 with drawn values (in drawn layouts) for its parameters; returns them."""
    layer.double()
    for name, parameter in layer.named_parameters():
        parameter.data = data.draw(arrays(parameter.shape), label=name)
    return tuple(layer.parameters())


def with_gaussian_parameters(model, rng):
    """``model`` in float64 with standard normal parameters; returns them.

    For stacks with ReLU: generic values keep every pre-activation off the kink, where
    drawn values (zeros, repeats) can land exactly on it.
    """
    model.double()
    for parameter in model.parameters():
        parameter.data = rng.standard_normal(parameter.shape)
    return tuple(model.parameters())


def check_in_input_and_parameters(check, layer, x, parameters):
    check(lambda x, *parameters: layer(x), (x,) + parameters)


# -- affine layers ---------------------------------------------------------------------------------
@ORDERS
@given(batch=shapes(max_dims=2, max_side=3), features=st.integers(1, 3), outputs=st.integers(1, 3),
       bias=st.booleans(), data=st.data())
def test_linear_in_input_and_parameters_matches_finite_differences(check, batch, features, outputs, bias, data):
    layer = nn.Linear(features, outputs, bias=bias)
    parameters = with_drawn_parameters(layer, data)
    check_in_input_and_parameters(check, layer, data.draw(leaves(batch + (features,))), parameters)


@ORDERS
@HALF_THE_EXAMPLES
@given(geometry=conv_geometries(max_batch=2), bias=st.booleans(), data=st.data())
def test_conv2d_in_input_and_parameters_matches_finite_differences(check, geometry, bias, data):
    layer = nn.Conv2d(geometry.in_channels, geometry.out_channels, geometry.kernel_size,
                      bias=bias, **geometry.conv_options)
    parameters = with_drawn_parameters(layer, data)
    check_in_input_and_parameters(check, layer, data.draw(leaves(geometry.input_shape)), parameters)


@ORDERS
@HALF_THE_EXAMPLES
@given(geometry=conv_geometries(max_batch=2), bias=st.booleans(), data=st.data())
def test_conv_transpose2d_in_input_and_parameters_matches_finite_differences(check, geometry, bias, data):
    # The adjoint of the geometry's conv2d: from its output shape back to its input shape.
    layer = nn.ConvTranspose2d(geometry.out_channels, geometry.in_channels, geometry.kernel_size,
                               bias=bias, **geometry.transpose_options)
    parameters = with_drawn_parameters(layer, data)
    x = data.draw(leaves(geometry.output_shape))
    assert layer(x).shape == geometry.input_shape
    check_in_input_and_parameters(check, layer, x, parameters)


# -- batch norm in training mode ----------------------------------------------------------------------
@ORDERS
@given(shape=st.sampled_from([(3, 2), (2, 3), (4, 1), (2, 2, 3), (3, 1, 2)]), data=st.data())
def test_batch_norm_1d_training_in_input_and_parameters_matches_finite_differences(check, shape, data):
    layer = nn.BatchNorm1d(shape[1]).train()
    parameters = with_drawn_parameters(layer, data)
    (x,) = data.draw(distinct_arrays([shape]))  # no zero variance
    check_in_input_and_parameters(check, layer, leaf(x), parameters)


@ORDERS
@given(shape=st.sampled_from([(2, 2, 2, 2), (1, 3, 2, 2), (3, 1, 1, 2), (2, 2, 3, 1)]), data=st.data())
def test_batch_norm_2d_training_in_input_and_parameters_matches_finite_differences(check, shape, data):
    layer = nn.BatchNorm2d(shape[1]).train()
    parameters = with_drawn_parameters(layer, data)
    (x,) = data.draw(distinct_arrays([shape]))
    check_in_input_and_parameters(check, layer, leaf(x), parameters)


# -- activations ---------------------------------------------------------------------------------------
@ORDERS
@given(x=leaves(shapes(), avoid=(0.0,)), slope=st.floats(0.01, 0.3))
def test_leaky_relu_layer_away_from_zero_matches_finite_differences(check, x, slope):
    check(nn.LeakyReLU(slope), x)


@ORDERS
@given(x=leaves(shapes(), avoid=(0.0,)))
def test_relu_layer_away_from_zero_matches_finite_differences(check, x):
    check(nn.ReLU(), x)


@ORDERS
@given(x=leaves(shapes(), low=-3.0, high=3.0))
def test_tanh_layer_matches_finite_differences(check, x):
    check(nn.Tanh(), x)


@ORDERS
@given(x=leaves(shapes(), low=-6.0, high=6.0))
def test_sigmoid_layer_matches_finite_differences(check, x):
    check(nn.Sigmoid(), x)


# -- lookup and shape layers ------------------------------------------------------------------------
@ORDERS
@given(rows=st.integers(1, 4), dim=st.integers(1, 3), index_shape=shapes(max_dims=2), data=st.data())
def test_embedding_in_weight_with_repeated_indices_matches_finite_differences(check, rows, dim, index_shape, data):
    layer = nn.Embedding(rows, dim)
    (weight,) = with_drawn_parameters(layer, data)
    indices = data.draw(hnp.arrays(numpy.int64, index_shape, elements=st.integers(0, rows - 1)))
    check(lambda weight: layer(indices), weight)


@ORDERS
@given(shape=shapes(min_dims=2), data=st.data())
def test_flatten_layer_matches_finite_differences(check, shape, data):
    start = data.draw(st.integers(0, len(shape) - 1))
    end = data.draw(st.integers(start, len(shape) - 1))
    check(nn.Flatten(start, end - len(shape)), data.draw(leaves(shape)))


@ORDERS
@given(outer=shapes(min_dims=1, max_dims=2, max_side=3), sizes=shapes(min_dims=1, max_dims=3, max_side=2),
       data=st.data())
def test_unflatten_layer_matches_finite_differences(check, outer, sizes, data):
    dim = data.draw(st.integers(0, len(outer) - 1))
    shape = outer[:dim] + (int(numpy.prod(sizes)),) + outer[dim + 1:]
    layer = nn.Unflatten(dim, sizes)
    x = data.draw(leaves(shape))
    assert layer(x).shape == outer[:dim] + sizes + outer[dim + 1:]
    check(layer, x)


@st.composite
def pooling_cases(draw):
    """(layer, input shape) for AvgPool2d: kernel 1-3, stride default or 1-3, padding <= kernel / 2."""
    kernel = draw(st.integers(1, 3))
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))
    padding = draw(st.integers(0, kernel // 2))
    size = tuple(draw(st.integers(max(1, kernel - 2 * padding), 5)) for _ in range(2))
    batch, channels = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    return nn.AvgPool2d(kernel, stride, padding), (batch, channels) + size


@ORDERS
@given(case=pooling_cases(), data=st.data())
def test_avg_pool2d_layer_matches_finite_differences(check, case, data):
    layer, shape = case
    check(layer, data.draw(leaves(shape)))


@ORDERS
@given(shape=shapes(min_dims=4, max_dims=4, max_side=3),
       scale=st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))), data=st.data())
def test_upsample_nearest_layer_matches_finite_differences(check, shape, scale, data):
    check(nn.Upsample(scale_factor=scale), data.draw(leaves(shape)))


# -- models -------------------------------------------------------------------------------------------
@ORDERS
@A_THIRD_OF_THE_EXAMPLES
@given(seed=SEEDS)
def test_dcgan_like_sequential_in_input_and_parameters_matches_finite_differences(check, seed):
    rng = numpy.random.default_rng(seed)
    model = nn.Sequential(
        nn.ConvTranspose2d(2, 3, 3),                 # (N, 2, 1, 1) -> (N, 3, 3, 3)
        nn.BatchNorm2d(3), nn.ReLU(),
        nn.Upsample(scale_factor=2),                 # -> (N, 3, 6, 6)
        nn.Conv2d(3, 2, 3, stride=2, padding=1),     # -> (N, 2, 3, 3)
        nn.LeakyReLU(0.2), nn.AvgPool2d(2, stride=1),  # -> (N, 2, 2, 2)
        nn.Flatten(), nn.Linear(8, 1), nn.Tanh(),
    )
    parameters = with_gaussian_parameters(model, rng)
    noise = leaf(rng.standard_normal((2, 2, 1, 1)))
    check_in_input_and_parameters(check, model, noise, parameters)


@HALF_THE_EXAMPLES
@given(seed=SEEDS)
def test_wgan_gp_penalty_gradient_in_critic_parameters_matches_finite_differences(seed):
    rng = numpy.random.default_rng(seed)
    critic = nn.Sequential(
        nn.Conv2d(1, 2, 3, stride=2, padding=1),     # (N, 1, 4, 4) -> (N, 2, 2, 2)
        nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(8, 1),
    )
    parameters = with_gaussian_parameters(critic, rng)
    samples = leaf(rng.standard_normal((3, 1, 4, 4)))  # not checked: only differentiated through

    def gradient_penalty(*parameters):
        """mean_n (||d critic(x_n) / d x_n|| - 1)^2, the norm over each whole sample (C, H, W)."""
        (input_grad,) = sg.grad(critic(samples).sum(), samples, create_graph=True)  # (N, 1, 4, 4)
        norms = (input_grad.reshape(input_grad.shape[0], -1) ** 2).sum(axis=1).sqrt()
        return ((norms - 1) ** 2).mean()

    sg.gradcheck(gradient_penalty, parameters)
