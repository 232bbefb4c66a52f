"""The class and binary losses' options against PyTorch 2.13: values, first and second order.

One table row per option of ``cross_entropy`` (class weights, ignore_index, label smoothing,
class-probability targets, (N, C, d1, d2) and unbatched (C,) inputs), ``nll_loss`` (weights,
ignore_index) and ``binary_cross_entropy_with_logits`` (pos_weight, with weight and with a
broadcast shape); every row runs with each reduction, in float64 (to 1e-10) and float32 (to
1e-5), at three levels: the value, the gradient of a random contraction in every
differentiable input (the logits; the target where it is a probability, and the class weights
there, as PyTorch differentiates them), and the second order, the gradient in the inputs and
the cotangent of a random contraction of the first gradients (``create_graph=True`` on both
sides). Then PyTorch's edge conventions one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy
import pytest

import scratchgan as sg
from parity import assert_parity, torch_dtype
from scratchgan.nn import functional as F

# every test here runs on each CPU kernel set (tests/conftest.py)
pytestmark = [pytest.mark.parity, pytest.mark.usefixtures("kernel_backend")]

DTYPES = (numpy.float64, numpy.float32)
DTYPE_IDS = ["float64", "float32"]
REDUCTIONS = ("mean", "sum", "none")


def _rng(seed):
    return numpy.random.default_rng(seed)


LOGITS = 2.0 * _rng(0).standard_normal((5, 4))                 # 5 samples, 4 classes
LABELS = numpy.array([2, 0, -100, 3, 0])                       # a repeated class, one ignored (-100)
LABELS_IGNORING_1 = numpy.array([2, 1, 0, 3, 1])               # ignore_index=1 drops a real class
CLASS_WEIGHT = _rng(1).uniform(0.5, 2.0, 4)
PROBABILITIES = _rng(2).dirichlet(numpy.ones(4), 5)           # rows sum to 1
SPATIAL_LOGITS = _rng(3).standard_normal((2, 4, 3, 2))         # (N, C, d1, d2)
SPATIAL_LABELS = _rng(4).integers(0, 4, (2, 3, 2))
SPATIAL_LABELS[0, 1, 0] = SPATIAL_LABELS[1, 2, 1] = -100
SPATIAL_PROBABILITIES = numpy.moveaxis(_rng(5).dirichlet(numpy.ones(4), (2, 3, 2)), -1, 1)
BCE_LOGITS = 2.0 * _rng(6).standard_normal((4, 3))
BCE_TARGETS = _rng(7).uniform(0.0, 1.0, (4, 3))
POS_WEIGHT = _rng(8).uniform(0.5, 3.0, 3)                      # one per class (the last axis)
POS_WEIGHT_PER_ROW = _rng(9).uniform(0.5, 3.0, (4, 1))
BCE_WEIGHT = _rng(10).uniform(0.5, 2.0, (4, 3))


@dataclass(frozen=True)
class Case:
    name: str
    ours: Callable    # (reduction, *scratchgan Tensors) -> Tensor
    theirs: Callable  # (torch, reduction, *torch tensors) -> tensor
    inputs: tuple     # float64 arrays, the differentiable inputs (cast to the tested dtype)


def constant(array, like):
    """A constant array in the dtype of ``like`` (a scratchgan or a torch tensor)."""
    if isinstance(like, sg.Tensor):
        return array.astype(like.dtype)
    import torch

    return torch.tensor(array, dtype=like.dtype)


def labels(array):
    import torch

    return torch.tensor(array)


def ce(**options):
    return lambda reduction, x: F.cross_entropy(x, options["target"], reduction=reduction, **_options(options, x))


def torch_ce(**options):
    return lambda torch, reduction, x: torch.nn.functional.cross_entropy(
        x, labels(options["target"]), reduction=reduction, **_options(options, x))


def _options(options, like):
    out = {k: v for k, v in options.items() if k != "target"}
    if "weight" in out:
        out["weight"] = constant(out["weight"], like)
    return out


def nll(**options):
    return lambda reduction, x: F.nll_loss(x, options["target"], reduction=reduction, **_options(options, x))


def torch_nll(**options):
    return lambda torch, reduction, x: torch.nn.functional.nll_loss(
        x, labels(options["target"]), reduction=reduction, **_options(options, x))


CROSS_ENTROPY_CASES = [
    Case("cross_entropy weight", ce(target=LABELS_IGNORING_1, weight=CLASS_WEIGHT),
         torch_ce(target=LABELS_IGNORING_1, weight=CLASS_WEIGHT), (LOGITS,)),
    Case("cross_entropy ignore_index=-100", ce(target=LABELS), torch_ce(target=LABELS), (LOGITS,)),
    Case("cross_entropy ignore_index=1", ce(target=LABELS_IGNORING_1, ignore_index=1),
         torch_ce(target=LABELS_IGNORING_1, ignore_index=1), (LOGITS,)),
    Case("cross_entropy weight ignore_index", ce(target=LABELS, weight=CLASS_WEIGHT),
         torch_ce(target=LABELS, weight=CLASS_WEIGHT), (LOGITS,)),
    Case("cross_entropy label_smoothing=0.2", ce(target=LABELS_IGNORING_1, label_smoothing=0.2),
         torch_ce(target=LABELS_IGNORING_1, label_smoothing=0.2), (LOGITS,)),
    Case("cross_entropy label_smoothing=1", ce(target=LABELS_IGNORING_1, label_smoothing=1.0),
         torch_ce(target=LABELS_IGNORING_1, label_smoothing=1.0), (LOGITS,)),
    Case("cross_entropy label_smoothing ignore_index", ce(target=LABELS, label_smoothing=0.3),
         torch_ce(target=LABELS, label_smoothing=0.3), (LOGITS,)),
    Case("cross_entropy weight label_smoothing ignore_index",
         ce(target=LABELS, weight=CLASS_WEIGHT, label_smoothing=0.25),
         torch_ce(target=LABELS, weight=CLASS_WEIGHT, label_smoothing=0.25), (LOGITS,)),
    Case("cross_entropy (N, C, d1, d2) weight label_smoothing ignore_index",
         ce(target=SPATIAL_LABELS, weight=CLASS_WEIGHT, label_smoothing=0.1),
         torch_ce(target=SPATIAL_LABELS, weight=CLASS_WEIGHT, label_smoothing=0.1), (SPATIAL_LOGITS,)),
    Case("cross_entropy unbatched (C,) weight label_smoothing",
         ce(target=numpy.array(2), weight=CLASS_WEIGHT, label_smoothing=0.1),
         torch_ce(target=numpy.array(2), weight=CLASS_WEIGHT, label_smoothing=0.1), (LOGITS[0],)),
    Case("cross_entropy probabilities",
         lambda r, x, t: F.cross_entropy(x, t, reduction=r),
         lambda torch, r, x, t: torch.nn.functional.cross_entropy(x, t, reduction=r), (LOGITS, PROBABILITIES)),
    Case("cross_entropy probabilities label_smoothing",
         lambda r, x, t: F.cross_entropy(x, t, reduction=r, label_smoothing=0.2),
         lambda torch, r, x, t: torch.nn.functional.cross_entropy(x, t, reduction=r, label_smoothing=0.2),
         (LOGITS, PROBABILITIES)),
    Case("cross_entropy probabilities weight (differentiated) label_smoothing",
         lambda r, x, t, w: F.cross_entropy(x, t, weight=w, reduction=r, label_smoothing=0.2),
         lambda torch, r, x, t, w: torch.nn.functional.cross_entropy(x, t, weight=w, reduction=r,
                                                                     label_smoothing=0.2),
         (LOGITS, PROBABILITIES, CLASS_WEIGHT)),
    Case("cross_entropy (N, C, d1, d2) probabilities weight",
         lambda r, x, t, w: F.cross_entropy(x, t, weight=w, reduction=r),
         lambda torch, r, x, t, w: torch.nn.functional.cross_entropy(x, t, weight=w, reduction=r),
         (SPATIAL_LOGITS, SPATIAL_PROBABILITIES, CLASS_WEIGHT)),
    Case("cross_entropy unbatched (C,) probabilities label_smoothing",
         lambda r, x, t: F.cross_entropy(x, t, reduction=r, label_smoothing=0.3),
         lambda torch, r, x, t: torch.nn.functional.cross_entropy(x, t, reduction=r, label_smoothing=0.3),
         (LOGITS[1], PROBABILITIES[1])),
]

NLL_CASES = [
    Case("nll_loss weight", nll(target=LABELS_IGNORING_1, weight=CLASS_WEIGHT),
         torch_nll(target=LABELS_IGNORING_1, weight=CLASS_WEIGHT), (LOGITS,)),
    Case("nll_loss ignore_index=-100", nll(target=LABELS), torch_nll(target=LABELS), (LOGITS,)),
    Case("nll_loss ignore_index=3", nll(target=LABELS_IGNORING_1, ignore_index=3),
         torch_nll(target=LABELS_IGNORING_1, ignore_index=3), (LOGITS,)),
    Case("nll_loss weight ignore_index", nll(target=LABELS, weight=CLASS_WEIGHT),
         torch_nll(target=LABELS, weight=CLASS_WEIGHT), (LOGITS,)),
    Case("nll_loss (N, C, d1, d2) weight ignore_index", nll(target=SPATIAL_LABELS, weight=CLASS_WEIGHT),
         torch_nll(target=SPATIAL_LABELS, weight=CLASS_WEIGHT), (SPATIAL_LOGITS,)),
    Case("nll_loss unbatched (C,)", nll(target=numpy.array(3)), torch_nll(target=numpy.array(3)), (LOGITS[2],)),
]


def bce(pos_weight, weight=None):
    def ours(reduction, x, t):
        return F.binary_cross_entropy_with_logits(
            x, t, weight=None if weight is None else constant(weight, x), reduction=reduction,
            pos_weight=constant(pos_weight, x))
    return ours


def torch_bce(pos_weight, weight=None):
    def theirs(torch, reduction, x, t):
        return torch.nn.functional.binary_cross_entropy_with_logits(
            x, t, weight=None if weight is None else constant(weight, x), reduction=reduction,
            pos_weight=constant(pos_weight, x))
    return theirs


BCE_CASES = [  # the target is differentiated too (PyTorch has its derivative with pos_weight)
    Case("bce_with_logits pos_weight per class", bce(POS_WEIGHT), torch_bce(POS_WEIGHT), (BCE_LOGITS, BCE_TARGETS)),
    Case("bce_with_logits pos_weight (4, 1)", bce(POS_WEIGHT_PER_ROW), torch_bce(POS_WEIGHT_PER_ROW),
         (BCE_LOGITS, BCE_TARGETS)),
    Case("bce_with_logits pos_weight and weight", bce(POS_WEIGHT, BCE_WEIGHT), torch_bce(POS_WEIGHT, BCE_WEIGHT),
         (BCE_LOGITS, BCE_TARGETS)),
    Case("bce_with_logits pos_weight on (2, 2, 3)", bce(POS_WEIGHT), torch_bce(POS_WEIGHT),
         (BCE_LOGITS.reshape(2, 2, 3), BCE_TARGETS.reshape(2, 2, 3))),
]

CASES = CROSS_ENTROPY_CASES + NLL_CASES + BCE_CASES


def compare_three_orders(torch, case, reduction, dtype):
    """Value; gradient of <v, loss> in every input; gradient in the inputs and in v of
    <w, that gradient> (v a leaf, so the first gradient has a graph even where it is
    linear in v alone: nll_loss)."""
    arrays = [numpy.asarray(a, dtype=dtype) for a in case.inputs]
    sg_inputs = [sg.Tensor(a.copy(), requires_grad=True) for a in arrays]
    torch_inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    sg_loss, torch_loss = case.ours(reduction, *sg_inputs), case.theirs(torch, reduction, *torch_inputs)
    assert_parity(sg_loss, torch_loss, dtype, f"{case.name} {reduction}: value")
    rng = numpy.random.default_rng(17)
    v = rng.standard_normal(tuple(torch_loss.shape)).astype(dtype)
    sg_v, torch_v = sg.Tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
    sg_first = sg.grad(sg_loss, sg_inputs, grad_outputs=sg_v, create_graph=True)
    torch_first = torch.autograd.grad(torch_loss, torch_inputs, grad_outputs=torch_v, create_graph=True)
    for position, (mine, theirs) in enumerate(zip(sg_first, torch_first)):
        assert_parity(mine, theirs, dtype, f"{case.name} {reduction}: first order in input {position}")
    directions = [rng.standard_normal(a.shape).astype(dtype) for a in arrays]
    sg_contraction = sum((g * sg.Tensor(d)).sum() for g, d in zip(sg_first, directions))
    torch_contraction = sum((g * torch.tensor(d)).sum() for g, d in zip(torch_first, directions))
    sg_second = sg.grad(sg_contraction, [*sg_inputs, sg_v], allow_unused=True)
    torch_second = torch.autograd.grad(torch_contraction, [*torch_inputs, torch_v], allow_unused=True,
                                       materialize_grads=True)
    for position, (mine, theirs) in enumerate(zip(sg_second, torch_second)):
        mine = numpy.zeros(tuple(theirs.shape), dtype) if mine is None else mine
        assert_parity(mine, theirs, dtype, f"{case.name} {reduction}: second order in argument {position}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_loss_option_matches_torch_at_value_first_and_second_order(torch, case, reduction, dtype):
    compare_three_orders(torch, case, reduction, dtype)


# -- PyTorch's conventions, one by one -------------------------------------------------------------
@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
def test_mean_over_only_ignored_targets_is_nan_as_torch(torch, loss):
    target = numpy.full(5, -100)
    ours = getattr(F, loss)(sg.Tensor(LOGITS, requires_grad=True), target)
    theirs = getattr(torch.nn.functional, loss)(torch.tensor(LOGITS), torch.tensor(target))
    assert numpy.isnan(ours.numpy()) and numpy.isnan(theirs.item())


def test_ignored_targets_give_zero_loss_and_zero_gradient_with_reduction_none(torch):
    logits = sg.Tensor(LOGITS, requires_grad=True)
    loss = F.cross_entropy(logits, LABELS, weight=CLASS_WEIGHT, label_smoothing=0.3, reduction="none")
    loss.sum().backward()
    assert loss.numpy()[2] == 0.0
    numpy.testing.assert_array_equal(logits.grad.numpy()[2], numpy.zeros(4))


def test_weighted_mean_divides_by_the_weights_of_the_counted_targets_as_torch(torch):
    """sum_n w[y_n] l_n / sum_n w[y_n] over targets != ignore_index, not / N."""
    per_sample = F.cross_entropy(sg.Tensor(LOGITS), LABELS, weight=CLASS_WEIGHT, reduction="none").numpy()
    counted = LABELS != -100
    expected = per_sample.sum() / CLASS_WEIGHT[LABELS[counted]].sum()
    ours = F.cross_entropy(sg.Tensor(LOGITS), LABELS, weight=CLASS_WEIGHT).numpy()
    theirs = torch.nn.functional.cross_entropy(torch.tensor(LOGITS), torch.tensor(LABELS),
                                               weight=torch.tensor(CLASS_WEIGHT))
    numpy.testing.assert_allclose(ours, expected, rtol=1e-14)
    assert_parity(ours, theirs, numpy.float64, "weighted mean")


def test_probability_mean_is_over_samples_not_weights_as_torch(torch):
    total = F.cross_entropy(sg.Tensor(SPATIAL_LOGITS), SPATIAL_PROBABILITIES, weight=CLASS_WEIGHT,
                            reduction="sum").numpy()
    ours = F.cross_entropy(sg.Tensor(SPATIAL_LOGITS), SPATIAL_PROBABILITIES, weight=CLASS_WEIGHT).numpy()
    numpy.testing.assert_allclose(ours, total / (2 * 3 * 2), rtol=1e-14)


def test_one_hot_probabilities_equal_class_indices_with_label_smoothing_as_torch(torch):
    one_hot = numpy.eye(4)[LABELS_IGNORING_1]
    by_probability = F.cross_entropy(sg.Tensor(LOGITS), one_hot, label_smoothing=0.2).numpy()
    by_index = F.cross_entropy(sg.Tensor(LOGITS), LABELS_IGNORING_1, label_smoothing=0.2).numpy()
    numpy.testing.assert_allclose(by_probability, by_index, rtol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_bce_with_pos_weight_at_logits_of_plus_minus_1e4_is_finite_and_equals_torch(torch, dtype):
    logits = numpy.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 30.0]], dtype)
    targets = numpy.array([[1.0, 0.0, 0.5], [1.0, 0.0, 0.25]], dtype)
    pos_weight = numpy.array([2.0, 0.5, 3.0], dtype)
    sg_x, sg_t = sg.Tensor(logits, requires_grad=True), sg.Tensor(targets, requires_grad=True)
    torch_x, torch_t = torch.tensor(logits, requires_grad=True), torch.tensor(targets, requires_grad=True)
    ours = F.binary_cross_entropy_with_logits(sg_x, sg_t, reduction="none", pos_weight=pos_weight)
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(
        torch_x, torch_t, reduction="none", pos_weight=torch.tensor(pos_weight))
    assert numpy.isfinite(ours.numpy()).all()
    assert_parity(ours, theirs, dtype, "bce pos_weight 1e4 value")
    ours.sum().backward()
    theirs.sum().backward()
    assert_parity(sg_x.grad, torch_x.grad, dtype, "bce pos_weight 1e4 grad in x")
    assert_parity(sg_t.grad, torch_t.grad, dtype, "bce pos_weight 1e4 grad in t")


def test_bce_pos_weight_of_another_float_dtype_promotes_as_torch(torch):
    pos_weight = POS_WEIGHT.astype(numpy.float32)
    ours = F.binary_cross_entropy_with_logits(sg.Tensor(BCE_LOGITS), sg.Tensor(BCE_TARGETS),
                                              pos_weight=sg.Tensor(pos_weight))
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(BCE_LOGITS), torch.tensor(BCE_TARGETS), pos_weight=torch.tensor(pos_weight))
    assert ours.dtype == numpy.float64 and theirs.dtype == torch_dtype(torch, numpy.float64)
    assert_parity(ours, theirs, numpy.float64, "bce pos_weight float32 with float64 logits")
