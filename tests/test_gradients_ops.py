"""Every op's first and second derivatives agree with finite differences, in float64.

Each test states one property, "<op> matches finite differences", and runs it at both
orders: ``first_order`` with ``sg.gradcheck`` (every element of the gradient of a random
contraction <v, op(inputs)>) and ``second_order`` with ``sg.gradgradcheck`` (the same for
the function inputs, v -> d<v, op(inputs)>/d inputs, built with create_graph=True).
Inputs come from ``strategies``: bounded, away from kinks, in non-contiguous layouts.
"""

from __future__ import annotations

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchgan as sg
from strategies import (
    arrays, axes, broadcast_leaves, broadcastable_shapes, conv_geometries, distinct_arrays, leaf,
    leaves, matmul_shapes, reshape_targets, shapes,
)

# every test here runs on each CPU kernel set (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("kernel_backend")

ORDERS = pytest.mark.parametrize(
    "check", [sg.gradcheck, sg.gradgradcheck], ids=["first_order", "second_order"],
)
REDUCTIONS = st.sampled_from(["mean", "sum", "none"])
# Convolutions perturb hundreds of elements, each through a double backward at second
# order: half the active profile's examples (6 under ``ci``).
HALF_THE_EXAMPLES = settings(max_examples=max(1, settings().max_examples // 2))


# -- arithmetic with broadcasting --------------------------------------------------------------
@ORDERS
@given(operands=broadcast_leaves())
def test_add_with_broadcasting_matches_finite_differences(check, operands):
    check(sg.add, operands)


@ORDERS
@given(operands=broadcast_leaves())
def test_sub_with_broadcasting_matches_finite_differences(check, operands):
    check(sg.sub, operands)


@ORDERS
@given(operands=broadcast_leaves())
def test_mul_with_broadcasting_matches_finite_differences(check, operands):
    check(sg.mul, operands)


@ORDERS
@given(operand_shapes=broadcastable_shapes(), data=st.data())
def test_div_with_broadcasting_matches_finite_differences(check, operand_shapes, data):
    numerator = data.draw(leaves(operand_shapes[0]))
    denominator = data.draw(leaves(operand_shapes[1], avoid=(0.0,), margin=0.5))  # |b| >= 0.5
    check(sg.div, (numerator, denominator))


@ORDERS
@given(operand_shapes=broadcastable_shapes(), data=st.data())
def test_pow_tensor_to_tensor_with_positive_base_matches_finite_differences(check, operand_shapes, data):
    base = data.draw(leaves(operand_shapes[0], low=0.5, high=2.0))
    exponent = data.draw(leaves(operand_shapes[1]))
    check(sg.pow, (base, exponent))


@ORDERS
@given(shape=shapes(), exponent=st.sampled_from([2, 3, -1, 0.5, -1.5, 2.5]), data=st.data())
def test_pow_tensor_to_scalar_matches_finite_differences(check, shape, exponent, data):
    if isinstance(exponent, int) and exponent > 0:  # any sign of base
        base = data.draw(leaves(shape))
    else:  # a^-1 is singular at 0 and a^0.5 undefined below it
        base = data.draw(leaves(shape, low=0.5, high=2.0))
    check(lambda a: a ** exponent, base)


@ORDERS
@given(x=leaves(shapes(), low=0.5, high=2.0))
def test_scalar_on_the_left_operators_match_finite_differences(check, x):
    check(lambda x: (1.5 - x) + 2.0 / x + 2.0 ** x + 3.0 * x, x)


# -- unary functions ---------------------------------------------------------------------------
@ORDERS
@given(x=leaves(shapes()))
def test_neg_matches_finite_differences(check, x):
    check(sg.neg, x)


@ORDERS
@given(x=leaves(shapes()))
def test_exp_matches_finite_differences(check, x):
    check(sg.exp, x)


@ORDERS
@given(x=leaves(shapes(), low=0.2, high=3.0))
def test_log_matches_finite_differences(check, x):
    check(sg.log, x)


@ORDERS
@given(x=leaves(shapes(), low=-0.8, high=3.0))
def test_log1p_matches_finite_differences(check, x):
    check(sg.log1p, x)


@ORDERS
@given(x=leaves(shapes(), low=0.2, high=3.0))
def test_sqrt_matches_finite_differences(check, x):
    check(sg.sqrt, x)


@ORDERS
@given(x=leaves(shapes(), avoid=(0.0,)))
def test_abs_matches_finite_differences(check, x):
    check(sg.abs, x)


@ORDERS
@given(bounds=st.sampled_from([(-1.0, 1.0), (None, 0.5), (-0.5, None)]), data=st.data())
def test_clip_matches_finite_differences(check, bounds, data):
    low, high = bounds
    x = data.draw(leaves(shapes(), avoid=tuple(b for b in bounds if b is not None)))
    check(lambda x: sg.clip(x, low, high), x)


@ORDERS
@given(operand_shapes=broadcastable_shapes(num_shapes=3), data=st.data())
def test_where_with_broadcasting_matches_finite_differences(check, operand_shapes, data):
    condition = data.draw(hnp.arrays(bool, operand_shapes[0]))
    a, b = data.draw(leaves(operand_shapes[1])), data.draw(leaves(operand_shapes[2]))
    check(lambda a, b: sg.where(condition, a, b), (a, b))


@ORDERS
@given(operand_shapes=broadcastable_shapes(), data=st.data())
def test_maximum_without_ties_matches_finite_differences(check, operand_shapes, data):
    a, b = data.draw(distinct_arrays(operand_shapes))
    check(sg.maximum, (leaf(a), leaf(b)))


@ORDERS
@given(operand_shapes=broadcastable_shapes(), data=st.data())
def test_minimum_without_ties_matches_finite_differences(check, operand_shapes, data):
    a, b = data.draw(distinct_arrays(operand_shapes))
    check(sg.minimum, (leaf(a), leaf(b)))


@ORDERS
@given(x=leaves(shapes(), low=-6.0, high=6.0))
def test_sigmoid_matches_finite_differences(check, x):
    check(sg.sigmoid, x)


@ORDERS
@given(x=leaves(shapes(), low=-3.0, high=3.0))
def test_tanh_matches_finite_differences(check, x):
    check(sg.tanh, x)


@ORDERS
@given(x=leaves(shapes(), avoid=(0.0,)))
def test_relu_away_from_zero_matches_finite_differences(check, x):
    check(sg.relu, x)  # second order: the derivative is piecewise constant, so zero


@ORDERS
@given(x=leaves(shapes(), avoid=(0.0,)), slope=st.floats(0.01, 0.3))
def test_leaky_relu_away_from_zero_matches_finite_differences(check, x, slope):
    check(lambda x: sg.leaky_relu(x, slope), x)


@ORDERS
@given(x=leaves(shapes(), low=-6.0, high=6.0))
def test_softplus_matches_finite_differences(check, x):
    check(sg.softplus, x)


@ORDERS
@given(x=leaves(shapes(), low=-6.0, high=6.0))
def test_log_sigmoid_matches_finite_differences(check, x):
    check(sg.log_sigmoid, x)


@ORDERS
@given(x=leaves(shapes()))
def test_astype_float32_round_trip_matches_finite_differences(check, x):
    # The round trip is the identity up to float32 rounding (~1e-7): a step of 0.1 makes
    # that error negligible, and a linear function has no truncation error at any step.
    check(lambda x: x.astype(numpy.float32).astype(numpy.float64), x, eps=0.1)


@given(x=leaves(shapes(min_dims=1)))
def test_astype_float32_round_trip_gradient_is_float64_ones(x):
    through_float32 = x.astype(numpy.float32)
    assert through_float32.dtype == numpy.float32
    (gradient,) = sg.grad(through_float32.astype(numpy.float64).sum(), x)
    assert gradient.dtype == numpy.float64
    numpy.testing.assert_array_equal(gradient.numpy(), numpy.ones(x.shape))


# -- reductions -------------------------------------------------------------------------------
@ORDERS
@given(shape=shapes(), keepdims=st.booleans(), data=st.data())
def test_sum_over_axes_matches_finite_differences(check, shape, keepdims, data):
    x, axis = data.draw(leaves(shape)), data.draw(axes(len(shape)))
    check(lambda x: sg.sum(x, axis=axis, keepdims=keepdims), x)


@ORDERS
@given(shape=shapes(), keepdims=st.booleans(), data=st.data())
def test_mean_over_axes_matches_finite_differences(check, shape, keepdims, data):
    x, axis = data.draw(leaves(shape)), data.draw(axes(len(shape)))
    check(lambda x: sg.mean(x, axis=axis, keepdims=keepdims), x)


@ORDERS
@given(shape=shapes(), keepdims=st.booleans(), data=st.data())
def test_var_over_axes_matches_finite_differences(check, shape, keepdims, data):
    x, axis = data.draw(leaves(shape)), data.draw(axes(len(shape)))
    check(lambda x: sg.var(x, axis=axis, keepdims=keepdims), x)


@ORDERS
@given(shape=shapes(), keepdims=st.booleans(), data=st.data())
def test_max_over_axes_of_distinct_values_matches_finite_differences(check, shape, keepdims, data):
    (values,), axis = data.draw(distinct_arrays([shape])), data.draw(axes(len(shape)))
    check(lambda x: sg.max(x, axis=axis, keepdims=keepdims), leaf(values))


@ORDERS
@given(shape=shapes(), keepdims=st.booleans(), data=st.data())
def test_min_over_axes_of_distinct_values_matches_finite_differences(check, shape, keepdims, data):
    (values,), axis = data.draw(distinct_arrays([shape])), data.draw(axes(len(shape)))
    check(lambda x: sg.min(x, axis=axis, keepdims=keepdims), leaf(values))


@ORDERS
@given(shape=shapes(), keepdims=st.booleans(), data=st.data())
def test_logsumexp_over_axes_matches_finite_differences(check, shape, keepdims, data):
    x, axis = data.draw(leaves(shape, low=-4.0, high=4.0)), data.draw(axes(len(shape)))
    check(lambda x: sg.logsumexp(x, axis=axis, keepdims=keepdims), x)


@ORDERS
@given(shape=shapes(min_dims=1), data=st.data())
def test_softmax_along_an_axis_matches_finite_differences(check, shape, data):
    x, axis = data.draw(leaves(shape, low=-4.0, high=4.0)), data.draw(st.integers(-len(shape), len(shape) - 1))
    check(lambda x: sg.softmax(x, axis=axis), x)


@ORDERS
@given(shape=shapes(min_dims=1), data=st.data())
def test_log_softmax_along_an_axis_matches_finite_differences(check, shape, data):
    x, axis = data.draw(leaves(shape, low=-4.0, high=4.0)), data.draw(st.integers(-len(shape), len(shape) - 1))
    check(lambda x: sg.log_softmax(x, axis=axis), x)


# -- shape ops ---------------------------------------------------------------------------------
@ORDERS
@given(shape=shapes(), data=st.data())
def test_reshape_with_minus_one_matches_finite_differences(check, shape, data):
    x, target = data.draw(leaves(shape)), data.draw(reshape_targets(shape))
    check(lambda x: x.reshape(target), x)


@ORDERS
@given(shape=shapes(min_dims=1), data=st.data())
def test_transpose_by_a_permutation_matches_finite_differences(check, shape, data):
    x, order = data.draw(leaves(shape)), data.draw(st.permutations(range(len(shape))))
    check(lambda x: x.transpose(*order), x)


@st.composite
def broadcast_targets(draw, shape):
    """A shape that ``shape`` broadcasts to: leading axes added, axes of size 1 stretched."""
    leading = draw(shapes(max_dims=2, max_side=3))
    return leading + tuple(draw(st.integers(1, 3)) if n == 1 else n for n in shape)


@ORDERS
@given(shape=shapes(max_side=2), data=st.data())
def test_broadcast_to_matches_finite_differences(check, shape, data):
    x, target = data.draw(leaves(shape)), data.draw(broadcast_targets(shape))
    check(lambda x: sg.broadcast_to(x, target), x)


@ORDERS
@given(shape=shapes(max_side=2), data=st.data())
def test_expand_with_minus_one_for_kept_axes_matches_finite_differences(check, shape, data):
    x, target = data.draw(leaves(shape)), data.draw(broadcast_targets(shape))
    added = len(target) - len(shape)
    target = target[:added] + tuple(-1 if n == own and data.draw(st.booleans()) else n
                                    for n, own in zip(target[added:], shape))
    check(lambda x: x.expand(*target), x)


@ORDERS
@given(shape=shapes(min_dims=1), data=st.data())
def test_flatten_a_range_of_axes_matches_finite_differences(check, shape, data):
    x = data.draw(leaves(shape))
    start = data.draw(st.integers(0, len(shape) - 1))
    end = data.draw(st.integers(start, len(shape) - 1))
    end = data.draw(st.sampled_from([end, end - len(shape)]))  # also counted from the back
    check(lambda x: x.flatten(start, end), x)


@ORDERS
@given(shape=shapes(max_side=2), data=st.data())
def test_squeeze_matches_finite_differences(check, shape, data):
    ones = [i for i, n in enumerate(shape) if n == 1]
    axis = data.draw(st.one_of(st.none(), st.lists(st.sampled_from(ones), unique=True).map(tuple))
                     if ones else st.none())
    check(lambda x: x.squeeze(axis), data.draw(leaves(shape)))


@ORDERS
@given(shape=shapes(), data=st.data())
def test_unsqueeze_matches_finite_differences(check, shape, data):
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    check(lambda x: x.unsqueeze(axis), data.draw(leaves(shape)))


@ORDERS
@given(shape=shapes(min_dims=1), data=st.data())
def test_getitem_with_slices_and_negative_steps_matches_finite_differences(check, shape, data):
    index = data.draw(hnp.basic_indices(shape, allow_ellipsis=True))
    check(lambda x: x[index], data.draw(leaves(shape)))


@ORDERS
@given(shape=shapes(min_dims=1), data=st.data())
def test_getitem_with_repeated_integer_indices_on_an_axis_matches_finite_differences(check, shape, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    size = shape[axis]
    picks = data.draw(st.lists(st.integers(-size, size - 1), min_size=1, max_size=5))
    picks = numpy.array(picks + picks[:1])  # at least one index repeats: its gradients must add up
    index = (slice(None),) * axis + (picks,)  # x[:, ..., picks]: slices before the integer array
    check(lambda x: x[index], data.draw(leaves(shape)))


@ORDERS
@given(shape=shapes(min_dims=2), data=st.data())
def test_getitem_with_integer_arrays_on_several_axes_matches_finite_differences(check, shape, data):
    index = data.draw(hnp.integer_array_indices(shape[:2], result_shape=shapes(max_dims=2, max_side=3)))
    check(lambda x: x[index], data.draw(leaves(shape)))


@ORDERS
@given(shape=shapes(min_dims=1), data=st.data())
def test_getitem_with_a_boolean_mask_matches_finite_differences(check, shape, data):
    mask = data.draw(hnp.arrays(bool, shape[:data.draw(st.integers(1, len(shape)))]))
    check(lambda x: x[mask], data.draw(leaves(shape)))


@ORDERS
@given(shape=shapes(min_dims=1), count=st.integers(1, 3), data=st.data())
def test_concatenate_matches_finite_differences(check, shape, count, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    parts = []
    for _ in range(count):
        own = list(shape)
        own[axis] = data.draw(st.integers(1, 3))
        parts.append(data.draw(leaves(tuple(own))))
    check(lambda *parts: sg.concatenate(parts, axis=axis), tuple(parts))


@ORDERS
@given(shape=shapes(), count=st.integers(1, 3), data=st.data())
def test_stack_matches_finite_differences(check, shape, count, data):
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    parts = tuple(data.draw(leaves(shape)) for _ in range(count))
    check(lambda *parts: sg.stack(parts, axis=axis), parts)


@ORDERS
@given(shape=shapes(min_dims=1), value=st.floats(-1.0, 1.0), data=st.data())
def test_pad_matches_finite_differences(check, shape, value, data):
    width = tuple(data.draw(st.tuples(st.integers(0, 2), st.integers(0, 2))) for _ in shape)
    check(lambda x: sg.pad(x, width, value=value), data.draw(leaves(shape)))


# -- linear algebra -------------------------------------------------------------------------------
@ORDERS
@given(operand_shapes=matmul_shapes(), data=st.data())
def test_matmul_batched_broadcasting_and_1d_matches_finite_differences(check, operand_shapes, data):
    a, b = data.draw(leaves(operand_shapes[0])), data.draw(leaves(operand_shapes[1]))
    check(sg.matmul, (a, b))


@given(batch=hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3), rows=st.integers(1, 5),
       columns=st.integers(1, 5), dtype=st.sampled_from([numpy.float32, numpy.float64]),
       seed=st.integers(0, 2**16))
def test_a_matmul_over_one_term_is_numpys_matmul_exactly(batch, rows, columns, dtype, seed):
    """matmul_array computes (..., M, 1) @ (1, N) as a broadcast product: the same numbers."""
    from scratchgan.ops.linalg import matmul_array

    rng = numpy.random.default_rng(seed)
    a = rng.standard_normal(batch + (rows, 1)).astype(dtype)
    b = rng.standard_normal((1, columns)).astype(dtype)
    for left, right in ((a, b), (b.T, a.swapaxes(-1, -2))):  # batched on either side
        expected = numpy.matmul(left, right)
        actual = matmul_array(left, right)
        assert actual.dtype == expected.dtype and actual.shape == expected.shape
        numpy.testing.assert_array_equal(actual, expected)


@ORDERS
@given(batch=shapes(max_dims=2, max_side=3), features=st.integers(1, 3), outputs=st.integers(1, 3),
       with_bias=st.booleans(), data=st.data())
def test_linear_matches_finite_differences(check, batch, features, outputs, with_bias, data):
    x = data.draw(leaves(batch + (features,)))
    weight = data.draw(leaves((outputs, features)))
    if with_bias:
        check(sg.linear, (x, weight, data.draw(leaves((outputs,)))))
    else:
        check(sg.linear, (x, weight))


# -- convolution ----------------------------------------------------------------------------------
@ORDERS
@HALF_THE_EXAMPLES
@given(geometry=conv_geometries(), data=st.data())
def test_conv2d_in_input_and_weight_matches_finite_differences(check, geometry, data):
    x, weight = data.draw(leaves(geometry.input_shape)), data.draw(leaves(geometry.weight_shape))
    check(lambda x, weight: sg.conv2d(x, weight, **geometry.conv_options), (x, weight))


@ORDERS
@HALF_THE_EXAMPLES
@given(geometry=conv_geometries(), data=st.data())
def test_conv_transpose2d_in_input_and_weight_matches_finite_differences(check, geometry, data):
    y, weight = data.draw(leaves(geometry.output_shape)), data.draw(leaves(geometry.weight_shape))
    check(lambda y, weight: sg.conv_transpose2d(y, weight, **geometry.transpose_options), (y, weight))


@ORDERS
@HALF_THE_EXAMPLES
@given(geometry=conv_geometries(), data=st.data())
def test_conv2d_weight_in_input_and_grad_output_matches_finite_differences(check, geometry, data):
    x, y = data.draw(leaves(geometry.input_shape)), data.draw(leaves(geometry.output_shape))
    check(lambda x, y: sg.conv2d_weight(x, y, geometry.kernel_size, **geometry.conv_options), (x, y))


@given(geometry=conv_geometries(), data=st.data())
def test_conv2d_conv_transpose2d_and_conv2d_weight_are_adjoint(geometry, data):
    # |values| >= 1e-3: no product underflows to a subnormal, whose rounding error is
    # absolute (~5e-324) and would break any relative tolerance.
    normal = dict(avoid=(0.0,), margin=1e-3)
    x = sg.Tensor(data.draw(arrays(geometry.input_shape, **normal)))
    weight = sg.Tensor(data.draw(arrays(geometry.weight_shape, **normal)))
    y = sg.Tensor(data.draw(arrays(geometry.output_shape, **normal)))
    conv = sg.conv2d(x, weight, **geometry.conv_options)
    transposed = sg.conv_transpose2d(y, weight, **geometry.transpose_options)
    weight_grad = sg.conv2d_weight(x, y, geometry.kernel_size, **geometry.conv_options)
    assert transposed.shape == x.shape and weight_grad.shape == weight.shape
    via_output = numpy.vdot(conv.numpy(), y.numpy())  # <conv2d(x, w), y>
    # All three sum the same products x w y in different orders: their rounding errors are
    # bounded relative to the sum of the products' magnitudes, <conv2d(|x|, |w|), |y|>.
    magnitudes = sg.conv2d(sg.abs(x), sg.abs(weight), **geometry.conv_options)
    scale = numpy.vdot(magnitudes.numpy(), numpy.abs(y.numpy()))
    numpy.testing.assert_allclose(numpy.vdot(x.numpy(), transposed.numpy()), via_output,
                                  rtol=1e-10, atol=1e-10 * scale)
    numpy.testing.assert_allclose(numpy.vdot(weight.numpy(), weight_grad.numpy()), via_output,
                                  rtol=1e-10, atol=1e-10 * scale)


# -- losses ---------------------------------------------------------------------------------------
@ORDERS
@given(shape=shapes(), reduction=REDUCTIONS, data=st.data())
def test_bce_with_logits_in_logits_and_target_matches_finite_differences(check, shape, reduction, data):
    logits = data.draw(leaves(shape, low=-6.0, high=6.0))
    target = data.draw(leaves(shape, low=0.0, high=1.0))
    check(lambda logits, target: sg.binary_cross_entropy_with_logits(logits, target, reduction=reduction),
          (logits, target))


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_bce_with_logits_is_finite_with_finite_gradients_at_logits_of_1e4(dtype):
    logits = sg.Tensor(numpy.array([1e4, -1e4, 1e4, -1e4], dtype=dtype), requires_grad=True)
    target = sg.Tensor(numpy.array([1.0, 0.0, 0.0, 1.0], dtype=dtype), requires_grad=True)
    loss = sg.binary_cross_entropy_with_logits(logits, target, reduction="none")
    numpy.testing.assert_allclose(loss.numpy(), [0.0, 0.0, 1e4, 1e4])
    loss.sum().backward()
    assert loss.dtype == logits.grad.dtype == target.grad.dtype == dtype
    numpy.testing.assert_array_equal(logits.grad.numpy(), [0.0, 0.0, 1.0, -1.0])  # sigmoid(x) - t
    numpy.testing.assert_array_equal(target.grad.numpy(), [-1e4, 1e4, -1e4, 1e4])  # -x


@ORDERS
@given(shape=shapes(), reduction=REDUCTIONS, data=st.data())
def test_mse_loss_matches_finite_differences(check, shape, reduction, data):
    x, target = data.draw(leaves(shape)), data.draw(leaves(shape))
    check(lambda x, target: sg.mse_loss(x, target, reduction=reduction), (x, target))


@ORDERS
@given(shape=shapes(), reduction=REDUCTIONS, data=st.data())
def test_l1_loss_away_from_the_kink_matches_finite_differences(check, shape, reduction, data):
    target = data.draw(arrays(shape))
    difference = data.draw(arrays(shape, avoid=(0.0,)))  # |x - target| >= 0.05
    x, target = leaf(target + difference), leaf(target)
    check(lambda x, target: sg.l1_loss(x, target, reduction=reduction), (x, target))


@st.composite
def labelled_scores(draw, low=-4.0, high=4.0):
    """Scores (N, C) as a leaf and integer labels (N,), classes repeating."""
    batch, classes = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    labels = draw(hnp.arrays(numpy.int64, batch, elements=st.integers(0, classes - 1)))
    return draw(leaves((batch, classes), low=low, high=high)), labels


@ORDERS
@given(scores=labelled_scores(), reduction=REDUCTIONS)
def test_cross_entropy_matches_finite_differences(check, scores, reduction):
    logits, labels = scores
    check(lambda logits: sg.cross_entropy(logits, labels, reduction=reduction), logits)


@ORDERS
@given(scores=labelled_scores(), reduction=REDUCTIONS)
def test_nll_loss_matches_finite_differences(check, scores, reduction):
    log_probs, labels = scores
    check(lambda log_probs: sg.nll_loss(log_probs, labels, reduction=reduction), log_probs)


# -- batch norm -----------------------------------------------------------------------------------
@st.composite
def batch_norm_inputs(draw):
    """x (N, C, ...) with distinct values (no zero variance), weight (C,) and bias (C,)."""
    shape = draw(st.sampled_from([(3, 2), (2, 2, 3), (2, 2, 2, 2), (1, 3, 2, 2), (4, 1)]))
    (x,) = draw(distinct_arrays([shape]))
    return leaf(x), draw(leaves(shape[1:2])), draw(leaves(shape[1:2]))


@ORDERS
@given(inputs=batch_norm_inputs())
def test_batch_norm_training_in_input_weight_and_bias_matches_finite_differences(check, inputs):
    channels = inputs[0].shape[1]
    running_mean = sg.zeros(channels, dtype=numpy.float64)  # updated in place; no effect on the output
    running_var = sg.ones(channels, dtype=numpy.float64)
    check(lambda x, weight, bias: sg.batch_norm(x, running_mean, running_var, weight, bias, training=True),
          inputs)


@ORDERS
@given(inputs=batch_norm_inputs(), data=st.data())
def test_batch_norm_evaluation_in_input_weight_and_bias_matches_finite_differences(check, inputs, data):
    channels = inputs[0].shape[1]
    running_mean = sg.Tensor(data.draw(arrays((channels,))))
    running_var = sg.Tensor(data.draw(arrays((channels,), low=0.2, high=2.0)))
    check(lambda x, weight, bias: sg.batch_norm(x, running_mean, running_var, weight, bias, training=False),
          inputs)
