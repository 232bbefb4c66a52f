"""The class and binary losses' options agree with finite differences, first and second order.

``cross_entropy`` with class weights, ignore_index and label smoothing on (N, C) and
(N, C, d) logits; with class-probability targets, differentiated in the logits, the target
and the class weights; ``nll_loss`` with weights and ignore_index; and
``binary_cross_entropy_with_logits`` with pos_weight, differentiated in the logits, the target
and pos_weight (which scratchgan differentiates; PyTorch refuses a pos_weight that requires
grad). Each runs at both orders (``sg.gradcheck``, ``sg.gradgradcheck``) in float64, on
Hypothesis inputs in drawn memory layouts; every drawn batch counts at least one target, so
a weighted mean never divides by zero.
"""

from __future__ import annotations

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchgan as sg
from strategies import leaves, shapes

# every test here runs on each CPU kernel set (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("kernel_backend")

ORDERS = pytest.mark.parametrize(
    "check", [sg.gradcheck, sg.gradgradcheck], ids=["first_order", "second_order"],
)
REDUCTIONS = st.sampled_from(["mean", "sum", "none"])
SMOOTHING = st.sampled_from([0.0, 0.1, 0.5, 1.0])


@st.composite
def class_problems(draw):
    """Logits (N, C) or (N, C, d) as a leaf, integer targets (N,) or (N, d) holding some
    ignore_index entries (never the first), the ignore_index (-100 or a real class) and the
    class weights (positive, or None)."""
    batch, classes = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    extra = tuple(draw(st.lists(st.integers(1, 3), max_size=1)))
    ignore_index = draw(st.sampled_from([-100] if classes == 1 else [-100, classes - 1]))
    choices = sorted(set(range(classes)) | {ignore_index})
    target = draw(hnp.arrays(numpy.int64, (batch, *extra), elements=st.sampled_from(choices)))
    target.flat[0] = 0  # counted: 0 is a class and never the ignore_index drawn here
    weight = draw(st.none() | hnp.arrays(numpy.float64, classes, elements=st.floats(0.5, 2.0)))
    logits = draw(leaves((batch, classes, *extra), low=-4.0, high=4.0))
    return logits, target, ignore_index, weight


@st.composite
def probability_problems(draw):
    """Logits, probability targets (positive, rows summing to 1 along axis 1) and class weights,
    all three leaves, of shape (C,), (N, C) or (N, C, d)."""
    shape = draw(st.sampled_from([(3,), (2, 3), (3, 2), (2, 3, 2), (1, 4, 3)]))
    logits = draw(leaves(shape, low=-4.0, high=4.0))
    raw = draw(leaves(shape, low=0.2, high=1.0)).numpy()
    axis = 0 if len(shape) == 1 else 1
    target = sg.Tensor(raw / raw.sum(axis=axis, keepdims=True), requires_grad=True)
    weight = draw(leaves((shape[axis],), low=0.5, high=2.0))
    return logits, target, weight


@ORDERS
@given(problem=class_problems(), label_smoothing=SMOOTHING, reduction=REDUCTIONS)
def test_cross_entropy_with_weight_ignore_index_and_smoothing_matches_finite_differences(
        check, problem, label_smoothing, reduction):
    logits, target, ignore_index, weight = problem
    check(lambda x: sg.cross_entropy(x, target, weight=weight, ignore_index=ignore_index,
                                     reduction=reduction, label_smoothing=label_smoothing), logits)


@ORDERS
@given(problem=probability_problems(), label_smoothing=SMOOTHING, reduction=REDUCTIONS)
def test_cross_entropy_with_probabilities_in_logits_target_and_weight_matches_finite_differences(
        check, problem, label_smoothing, reduction):
    check(lambda x, t, w: sg.cross_entropy(x, t, weight=w, reduction=reduction, label_smoothing=label_smoothing),
          problem)


@ORDERS
@given(problem=class_problems(), reduction=REDUCTIONS)
def test_nll_loss_with_weight_and_ignore_index_matches_finite_differences(check, problem, reduction):
    log_probs, target, ignore_index, weight = problem
    check(lambda x: sg.nll_loss(x, target, weight=weight, ignore_index=ignore_index, reduction=reduction),
          log_probs)


@st.composite
def pos_weighted_problems(draw):
    """Logits and targets of one shape (at least 1-d) and a pos_weight broadcasting to it: one per
    class (the last axis) or another broadcast shape; all three leaves."""
    shape = draw(shapes(min_dims=1))
    pos_weight_shape = draw(st.sampled_from([shape[-1:], (1,) * (len(shape) - 1) + shape[-1:], shape,
                                             shape[:1] + (1,) * (len(shape) - 1)]))
    logits = draw(leaves(shape, low=-6.0, high=6.0))
    target = draw(leaves(shape, low=0.0, high=1.0))
    pos_weight = draw(leaves(pos_weight_shape, low=0.2, high=3.0))
    return logits, target, pos_weight


@ORDERS
@given(problem=pos_weighted_problems(), reduction=REDUCTIONS)
def test_bce_with_logits_and_pos_weight_in_all_three_matches_finite_differences(check, problem, reduction):
    check(lambda x, t, p: sg.binary_cross_entropy_with_logits(x, t, reduction=reduction, pos_weight=p), problem)


@given(problem=pos_weighted_problems())
def test_bce_with_pos_weight_of_ones_equals_the_unweighted_loss_and_gradients(problem):
    logits, target, pos_weight = problem
    ones = numpy.ones(pos_weight.shape)
    weighted = sg.binary_cross_entropy_with_logits(logits, target, reduction="none", pos_weight=ones)
    plain = sg.binary_cross_entropy_with_logits(logits, target, reduction="none")
    numpy.testing.assert_allclose(weighted.numpy(), plain.numpy(), rtol=1e-14, atol=1e-14)
    cotangent = sg.Tensor(numpy.random.default_rng(0).standard_normal(plain.shape))
    for mine, reference in zip(sg.grad(weighted, (logits, target), grad_outputs=cotangent),
                               sg.grad(plain, (logits, target), grad_outputs=cotangent)):
        numpy.testing.assert_allclose(mine.numpy(), reference.numpy(), rtol=1e-13, atol=1e-13)
