"""Bad arguments to the class and binary losses and to AdamW raise one clear error that names
the op, what was expected and what was received."""

import re

import numpy
import pytest

import scratchgan as sg
from scratchgan.nn import functional as F

LOGITS = sg.Tensor(numpy.zeros((3, 4)), requires_grad=True)
LABELS = numpy.array([0, 3, 1])


def raises_clearly(error_type, call, match):
    """``call()`` raises ``error_type`` itself (not chained to a library error) matching ``match``."""
    with pytest.raises(error_type, match=match) as info:
        call()
    assert info.value.__cause__ is None and (info.value.__context__ is None or info.value.__suppress_context__)


# -- cross_entropy and nll_loss -----------------------------------------------------------------------
def test_cross_entropy_with_a_float_target_of_the_wrong_shape_names_both_target_kinds():
    raises_clearly(ValueError, lambda: F.cross_entropy(LOGITS, numpy.zeros((3, 5))),
                   r"cross_entropy: expected integer class indices of shape \(3,\) or floating class "
                   r"probabilities of shape \(3, 4\) .* got a target of shape \(3, 5\) and dtype float64")


def test_cross_entropy_with_integer_labels_of_the_wrong_length_names_the_shapes():
    raises_clearly(ValueError, lambda: F.cross_entropy(LOGITS, numpy.array([0, 1])),
                   r"cross_entropy: expected integer class indices of shape \(3,\).*shape \(2,\) and dtype int64")


def test_cross_entropy_with_an_integer_target_of_the_logits_shape_asks_for_floats():
    raises_clearly(ValueError, lambda: F.cross_entropy(LOGITS, numpy.zeros((3, 4), dtype=numpy.int64)),
                   r"cross_entropy: a target of the input's shape \(3, 4\) holds class probabilities and "
                   r"must be floating, got dtype int64")


def test_spatial_cross_entropy_with_labels_missing_a_spatial_axis_names_the_expected_shape():
    logits = sg.Tensor(numpy.zeros((2, 4, 3, 5)))
    raises_clearly(ValueError, lambda: F.cross_entropy(logits, numpy.zeros((2, 3), dtype=int)),
                   r"expected integer class indices of shape \(2, 3, 5\)")


@pytest.mark.parametrize("label_smoothing", [1.5, -0.1, float("nan"), "0.1"])
def test_label_smoothing_outside_0_1_is_refused(label_smoothing):
    raises_clearly(ValueError, lambda: F.cross_entropy(LOGITS, LABELS, label_smoothing=label_smoothing),
                   r"cross_entropy: label_smoothing must be a number in \[0, 1\], got")


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("weight", [numpy.ones(3), numpy.ones((1, 4)), numpy.ones(5)], ids=["3", "1x4", "5"])
def test_class_weight_of_the_wrong_length_names_the_class_count(loss, weight):
    raises_clearly(ValueError, lambda: getattr(F, loss)(LOGITS, LABELS, weight=weight),
                   re.escape(f"{loss}: weight must have shape (4,), one value per class, got shape {weight.shape}"))


def test_class_weight_of_the_wrong_length_with_probabilities_is_refused_too():
    raises_clearly(ValueError, lambda: F.cross_entropy(LOGITS, numpy.full((3, 4), 0.25), weight=numpy.ones(2)),
                   r"weight must have shape \(4,\)")


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
def test_a_reduction_passed_where_the_weight_now_sits_says_to_pass_it_by_keyword(loss):
    raises_clearly(TypeError, lambda: getattr(F, loss)(LOGITS, LABELS, "sum"),
                   r"weight must be an array of shape \(4,\), got the string 'sum'; pass reduction= by keyword")


def test_ignore_index_with_probability_targets_is_refused_as_torch():
    raises_clearly(ValueError, lambda: F.cross_entropy(LOGITS, numpy.full((3, 4), 0.25), ignore_index=1),
                   r"cross_entropy: ignore_index is not supported with class-probability targets, got ignore_index=1")


def test_labels_out_of_range_name_the_range_and_the_ignore_index():
    raises_clearly(ValueError, lambda: F.nll_loss(LOGITS, numpy.array([0, 4, -100])),
                   r"nll_loss: labels must lie in \[0, 4\) or equal ignore_index \(-100\), got values in \[0, 4\]")


def test_a_label_equal_to_a_custom_ignore_index_may_lie_outside_the_classes():
    loss = F.cross_entropy(LOGITS, numpy.array([0, 7, 1]), ignore_index=7)
    numpy.testing.assert_allclose(loss.numpy(), numpy.log(4.0))


def test_a_negative_label_other_than_ignore_index_is_refused():
    raises_clearly(ValueError, lambda: F.cross_entropy(LOGITS, numpy.array([0, -1, 1])),
                   r"labels must lie in \[0, 4\) or equal ignore_index \(-100\), got values in \[-1, 1\]")


def test_a_0d_input_is_refused_with_the_layouts_expected():
    raises_clearly(ValueError, lambda: F.cross_entropy(sg.Tensor(1.0), numpy.array(0)),
                   r"cross_entropy: expected an input of shape \(C,\), \(N, C\) or \(N, C, d1, ...\), got a 0-d")


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
def test_an_unknown_reduction_is_refused(loss):
    raises_clearly(ValueError, lambda: getattr(F, loss)(LOGITS, LABELS, reduction="avg"),
                   rf"{loss}: reduction must be 'mean', 'sum' or 'none', got 'avg'")


# -- binary_cross_entropy_with_logits ------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3,), (2, 4), (2, 3, 4)])
def test_pos_weight_that_does_not_broadcast_to_the_target_names_both_shapes(shape):
    raises_clearly(ValueError, lambda: F.binary_cross_entropy_with_logits(
        LOGITS, numpy.zeros((3, 4)), pos_weight=numpy.ones(shape)),
        re.escape(f"binary_cross_entropy_with_logits: pos_weight of shape {shape} does not broadcast to the "
                  f"target's shape (3, 4)"))


def test_weight_that_would_enlarge_the_loss_is_refused():
    raises_clearly(ValueError, lambda: F.binary_cross_entropy_with_logits(
        LOGITS, numpy.zeros((3, 4)), weight=numpy.ones((2, 3, 4))),
        r"weight of shape \(2, 3, 4\) does not broadcast to the target's shape \(3, 4\)")


# -- AdamW -----------------------------------------------------------------------------------------
def _params():
    return [sg.nn.Parameter(numpy.zeros(3))]


@pytest.mark.parametrize("weight_decay", [-0.1, float("nan"), float("inf")])
def test_adamw_refuses_a_negative_or_non_finite_weight_decay(weight_decay):
    raises_clearly(ValueError, lambda: sg.optim.AdamW(_params(), weight_decay=weight_decay),
                   r"AdamW: weight_decay must be a finite number >= 0, got")


def test_adamw_names_itself_for_bad_betas_and_learning_rates():
    raises_clearly(ValueError, lambda: sg.optim.AdamW(_params(), betas=(0.9, 1.0)),
                   r"AdamW: betas\[1\] must be a number in \[0, 1\)")
    raises_clearly(ValueError, lambda: sg.optim.AdamW(_params(), lr=-1e-3), r"AdamW: lr must be a finite number >= 0")


def test_adamw_refuses_a_saved_group_with_negative_weight_decay_before_changing_anything():
    optimizer = sg.optim.AdamW(_params())
    saved = optimizer.state_dict()
    saved["param_groups"][0]["weight_decay"] = -1.0
    raises_clearly(ValueError, lambda: optimizer.load_state_dict(saved),
                   r"AdamW.load_state_dict: saved parameter group 0: AdamW: weight_decay must be")
    assert optimizer.param_groups[0]["weight_decay"] == 1e-2
