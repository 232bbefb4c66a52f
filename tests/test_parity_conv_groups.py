"""Grouped, depthwise and 1-d convolutions against PyTorch 2.13 (CPU): values, first and
second derivatives, the layers with copied weights, their init and repr, and the errors.

float64 is compared to 1e-10 and float32 to 1e-5 (``parity.assert_parity``, dtypes
asserted). Second order: the gradient of a random contraction of the first gradient, built
with ``create_graph=True`` in both frameworks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy
import pytest

import scratchgan as sg
from parity import assert_parity
from scratchgan.nn import functional as F
from scratchgan.nn import init
from test_parity_layers import LayerCase, layer_parity_pairs

# every test here runs on each CPU kernel set (tests/conftest.py); torch warns that its
# padding="same" with an even kernel copies the input, which is what it is compared for
pytestmark = [pytest.mark.parity, pytest.mark.usefixtures("kernel_backend"),
              pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")]

DTYPES = (numpy.float64, numpy.float32)
DTYPE_IDS = ["float64", "float32"]


@dataclass(frozen=True)
class Case:
    name: str
    op: str             # the same name in scratchgan.nn.functional and torch.nn.functional
    shapes: tuple       # of the differentiable inputs (input, weight[, bias])
    options: dict


CASES = [
    Case("conv2d groups=2 with bias", "conv2d", ((2, 4, 6, 5), (6, 2, 3, 2), (6,)), dict(groups=2)),
    Case("conv2d groups=2 s2 p1 d(1,2)", "conv2d", ((2, 4, 7, 7), (4, 2, 3, 3)),
         dict(stride=2, padding=1, dilation=(1, 2), groups=2)),
    Case("conv2d depthwise p1", "conv2d", ((2, 3, 5, 5), (3, 1, 3, 3), (3,)), dict(padding=1, groups=3)),
    Case("conv2d depthwise x2 s(2,1) p(0,2) d2", "conv2d", ((2, 3, 6, 6), (6, 1, 2, 3)),
         dict(stride=(2, 1), padding=(0, 2), dilation=2, groups=3)),
    Case("conv2d padding same, even kernel", "conv2d", ((2, 2, 5, 6), (3, 2, 2, 4), (3,)), dict(padding="same")),
    Case("conv2d padding same d2 groups=2", "conv2d", ((2, 4, 5, 5), (4, 2, 3, 2)),
         dict(padding="same", dilation=2, groups=2)),
    Case("conv2d padding valid", "conv2d", ((2, 2, 5, 5), (3, 2, 3, 3)), dict(padding="valid")),
    Case("conv_transpose2d groups=2 with bias", "conv_transpose2d", ((2, 4, 3, 4), (4, 3, 3, 2), (6,)),
         dict(groups=2)),
    Case("conv_transpose2d groups=2 s2 p1 op1", "conv_transpose2d", ((2, 4, 3, 3), (4, 1, 3, 3)),
         dict(stride=2, padding=1, output_padding=1, groups=2)),
    Case("conv_transpose2d depthwise s2 op(1,0) d(1,2)", "conv_transpose2d", ((2, 3, 3, 4), (3, 1, 3, 2), (3,)),
         dict(stride=2, output_padding=(1, 0), dilation=(1, 2), groups=3)),
    Case("conv_transpose2d op2 >= stride 1, < dilation 3", "conv_transpose2d", ((2, 2, 3, 3), (2, 2, 2, 2), (2,)),
         dict(padding=1, output_padding=2, dilation=3)),
    Case("conv_transpose2d op(2,1) s2 d(3,1) groups=2", "conv_transpose2d", ((2, 4, 3, 3), (4, 1, 2, 3), (2,)),
         dict(stride=2, output_padding=(2, 1), dilation=(3, 1), groups=2)),
    # 16 channels per group (conv.WIDE_GROUP): the kernel set's forwards, once per group
    Case("conv2d groups=2 of 16 channels s2 p1", "conv2d", ((2, 32, 5, 5), (4, 16, 3, 3), (4,)),
         dict(stride=2, padding=1, groups=2)),
    Case("conv_transpose2d groups=2 of 16 channels s2 op1", "conv_transpose2d", ((2, 32, 3, 3), (32, 2, 3, 3)),
         dict(stride=2, output_padding=1, groups=2)),
    Case("conv1d with bias", "conv1d", ((2, 3, 7), (4, 3, 3), (4,)), dict()),
    Case("conv1d groups=2 s2 p1 d2", "conv1d", ((2, 4, 9), (6, 2, 3)), dict(stride=2, padding=1, dilation=2, groups=2)),
    Case("conv1d depthwise padding same", "conv1d", ((2, 3, 6), (3, 1, 4), (3,)), dict(padding="same", groups=3)),
    Case("conv1d padding valid", "conv1d", ((2, 2, 6), (3, 2, 3)), dict(padding="valid")),
    Case("conv_transpose1d with bias", "conv_transpose1d", ((2, 3, 5), (3, 2, 3), (2,)), dict()),
    Case("conv_transpose1d groups=3 s2 p1 op1 d2", "conv_transpose1d", ((2, 3, 4), (3, 2, 3), (6,)),
         dict(stride=2, padding=1, output_padding=1, groups=3, dilation=2)),
    Case("conv_transpose1d op1 >= stride 1, < dilation 2", "conv_transpose1d", ((2, 2, 4), (2, 3, 2)),
         dict(output_padding=1, dilation=2)),
]


def _arrays(case, dtype):
    rng = numpy.random.default_rng(7)
    return [rng.standard_normal(shape).astype(dtype) for shape in case.shapes]


def _run_both(torch, case, dtype):
    """(sg inputs, sg output, torch inputs, torch output) on the same arrays."""
    arrays = _arrays(case, dtype)
    sg_inputs = [sg.Tensor(a.copy(), requires_grad=True) for a in arrays]
    torch_inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    sg_out = getattr(F, case.op)(*sg_inputs, **case.options)
    torch_out = getattr(torch.nn.functional, case.op)(*torch_inputs, **case.options)
    return sg_inputs, sg_out, torch_inputs, torch_out


def _cotangent(shape, dtype, seed):
    return numpy.random.default_rng(seed).standard_normal(tuple(shape)).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_value_and_gradients_match_torch(torch, case, dtype):
    sg_inputs, sg_out, torch_inputs, torch_out = _run_both(torch, case, dtype)
    assert_parity(sg_out, torch_out, dtype, f"{case.name}: value")
    v = _cotangent(torch_out.shape, dtype, seed=1)
    sg_grads = sg.grad(sg_out, sg_inputs, grad_outputs=sg.Tensor(v))
    torch_grads = torch.autograd.grad(torch_out, torch_inputs, grad_outputs=torch.tensor(v))
    for position, (ours, theirs) in enumerate(zip(sg_grads, torch_grads)):
        assert_parity(ours, theirs, dtype, f"{case.name}: grad of input {position}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_second_order_matches_torch(torch, case, dtype):
    """d/d inputs of <u, d<v, op(inputs)>/d inputs>: what a gradient penalty differentiates."""
    sg_inputs, sg_out, torch_inputs, torch_out = _run_both(torch, case, dtype)
    v = _cotangent(torch_out.shape, dtype, seed=1)
    sg_grads = sg.grad(sg_out, sg_inputs, grad_outputs=sg.Tensor(v), create_graph=True)
    torch_grads = torch.autograd.grad(torch_out, torch_inputs, grad_outputs=torch.tensor(v), create_graph=True)
    directions = [_cotangent(g.shape, dtype, seed=2 + i) for i, g in enumerate(sg_grads)]
    sg_total = sum((g * sg.Tensor(u)).sum() for g, u in zip(sg_grads, directions))
    torch_total = sum((g * torch.tensor(u)).sum() for g, u in zip(torch_grads, directions))
    sg_second = sg.grad(sg_total, sg_inputs, allow_unused=True)
    torch_second = torch.autograd.grad(torch_total, torch_inputs, allow_unused=True)
    for position, (ours, theirs, x) in enumerate(zip(sg_second, torch_second, torch_inputs)):
        ours = numpy.zeros(x.shape, dtype) if ours is None else ours  # the bias: linear, no second order
        theirs = torch.zeros_like(x) if theirs is None else theirs
        assert_parity(ours, theirs, dtype, f"{case.name}: second order in input {position}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_grouped_conv2d_weight_matches_torch_nn_grad(torch, dtype):
    x, grad_output = _arrays(Case("", "", ((2, 4, 5, 5), (2, 6, 3, 3)), {}), dtype)
    ours = sg.conv2d_weight(sg.Tensor(x), sg.Tensor(grad_output), 3, stride=2, padding=1, groups=2)
    theirs = torch.nn.grad.conv2d_weight(torch.tensor(x), (6, 2, 3, 3), torch.tensor(grad_output),
                                         stride=2, padding=1, groups=2)
    assert_parity(ours, theirs, dtype, "conv2d_weight groups=2")


# -- layers, weights copied from the torch twin -------------------------------------------------
LAYER_CASES = [
    LayerCase("Conv2d groups=2", lambda nn: nn.Conv2d(4, 6, 3, groups=2), (2, 4, 6, 6)),
    LayerCase("Conv2d depthwise x2 s2 p1 no bias",
              lambda nn: nn.Conv2d(3, 6, 3, stride=2, padding=1, groups=3, bias=False), (2, 3, 7, 7)),
    LayerCase("Conv2d padding same d(2,1)", lambda nn: nn.Conv2d(2, 3, (2, 3), padding="same", dilation=(2, 1)),
              (2, 2, 5, 6)),
    LayerCase("Conv2d padding valid", lambda nn: nn.Conv2d(2, 3, 3, padding="valid"), (2, 2, 5, 5)),
    LayerCase("ConvTranspose2d groups=2 s2 p1 op1",
              lambda nn: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2), (2, 4, 3, 3)),
    LayerCase("ConvTranspose2d depthwise k4 s2 p1", lambda nn: nn.ConvTranspose2d(3, 3, 4, 2, 1, groups=3),
              (2, 3, 4, 4)),
    LayerCase("ConvTranspose2d op1 >= stride, < dilation 2",
              lambda nn: nn.ConvTranspose2d(2, 2, 2, output_padding=1, dilation=2), (2, 2, 3, 3)),
    LayerCase("Conv2d groups=2 of 16 channels", lambda nn: nn.Conv2d(32, 4, 3, groups=2), (2, 32, 5, 5)),
    LayerCase("Conv1d", lambda nn: nn.Conv1d(3, 4, 3), (2, 3, 8)),
    LayerCase("Conv1d groups=2 s2 p1 d2", lambda nn: nn.Conv1d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2),
              (2, 4, 9)),
    LayerCase("Conv1d depthwise padding same", lambda nn: nn.Conv1d(3, 3, 4, padding="same", groups=3), (2, 3, 6)),
    LayerCase("ConvTranspose1d", lambda nn: nn.ConvTranspose1d(3, 2, 3), (2, 3, 5)),
    LayerCase("ConvTranspose1d groups=2 s2 p1 op1 d2",
              lambda nn: nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=2),
              (2, 4, 4)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", LAYER_CASES, ids=[c.name for c in LAYER_CASES])
def test_layer_output_and_gradients_match_torch(torch, case, dtype):
    for what, ours, theirs in layer_parity_pairs(torch, case, dtype):
        assert ours is not None, f"{case.name}: scratchgan has no {what}"
        assert_parity(ours, theirs, dtype, f"{case.name}: {what}")


GROUPED_LAYERS = [
    lambda nn: nn.Conv2d(8, 8, 3, groups=4), lambda nn: nn.ConvTranspose2d(8, 8, 3, groups=4),
    lambda nn: nn.Conv1d(8, 8, 5, groups=4), lambda nn: nn.ConvTranspose1d(8, 8, 5, groups=4),
]


@pytest.mark.parametrize("build", GROUPED_LAYERS, ids=["Conv2d", "ConvTranspose2d", "Conv1d", "ConvTranspose1d"])
def test_grouped_layer_init_uses_torchs_fan_in_of_channels_per_group(torch, build):
    """kaiming_uniform(a=sqrt(5)) and U(+-1/sqrt(fan_in)) bias, fan_in = weight.shape[1] * kernel
    area (C / groups, or O / groups transposed): a bound 2x too small (fan_in over all channels)
    would leave every weight below half of it."""
    sg.manual_seed(0)
    ours, theirs = build(sg.nn), build(torch.nn)
    assert ours.weight.shape == tuple(theirs.weight.shape)
    fan_in = torch.nn.init._calculate_fan_in_and_fan_out(theirs.weight)[0]
    assert init.fan_in_and_fan_out(ours.weight)[0] == fan_in
    bound = 1 / math.sqrt(fan_in)
    weight, bias = numpy.abs(ours.weight.numpy()), numpy.abs(ours.bias.numpy())
    assert weight.max() <= bound and bias.max() <= bound
    assert weight.max() >= 0.8 * bound
    assert ours.weight.dtype == ours.bias.dtype == numpy.float32


REPR_LAYERS = [
    lambda nn: nn.Conv2d(4, 6, 3, padding="same", dilation=2, groups=2, bias=False),
    lambda nn: nn.Conv2d(3, 4, (3, 2), stride=2, padding=1),
    lambda nn: nn.ConvTranspose2d(4, 6, 3, stride=2, output_padding=1, groups=2),
    lambda nn: nn.Conv1d(4, 6, 3, padding="valid"),
    lambda nn: nn.ConvTranspose1d(4, 6, 3, stride=2, output_padding=1, groups=2),
]


@pytest.mark.parametrize("build", REPR_LAYERS, ids=["Conv2d same", "Conv2d", "ConvTranspose2d", "Conv1d",
                                                    "ConvTranspose1d"])
def test_layer_repr_matches_torch(torch, build):
    assert repr(build(sg.nn)) == repr(build(torch.nn))


# -- errors: each bad argument is refused, as by PyTorch, with one clear message ---------------
def _zeros(*shape):
    return numpy.zeros(shape)


ERRORS = [  # (id, op, (input shape, weight shape), options, message)
    ("channels not divisible by groups", "conv2d", ((1, 3, 5, 5), (4, 1, 3, 3)), dict(groups=2),
     r"conv2d: input has 3 channels .* not divisible by groups=2"),
    ("weight channels != C / groups", "conv2d", ((1, 4, 5, 5), (4, 1, 3, 3)), dict(groups=2),
     r"conv2d: input has 4 channels .* weight of shape \(4, 1, 3, 3\) expects 2 \(1 per group, groups=2\)"),
    ("output channels not divisible by groups", "conv2d", ((1, 4, 5, 5), (3, 2, 3, 3)), dict(groups=2),
     r"conv2d: the weight of shape \(3, 2, 3, 3\) has 3 output channels, not divisible by groups=2"),
    ("groups 0", "conv2d", ((1, 4, 5, 5), (4, 4, 3, 3)), dict(groups=0),
     r"conv2d: groups must be a positive int, got 0"),
    ("transposed: channels not divisible by groups", "conv_transpose2d", ((1, 3, 4, 4), (3, 2, 3, 3)),
     dict(groups=2), r"conv_transpose2d: input has 3 channels .* not divisible by groups=2"),
    ("transposed: weight in-channels != C", "conv_transpose2d", ((1, 4, 4, 4), (2, 2, 3, 3)), dict(groups=2),
     r"conv_transpose2d: input has 4 channels .* weight of shape \(2, 2, 3, 3\) expects 2"),
    ("conv1d of a 4-d input", "conv1d", ((1, 2, 5, 5), (3, 2, 3)), {},
     r"conv1d: expected a 3-d input \(N, C, L\), got shape \(1, 2, 5, 5\)"),
    ("conv1d with a 4-d weight", "conv1d", ((1, 2, 5), (3, 2, 3, 3)), {}, r"conv1d: expected a 3-d weight"),
    ("conv2d with a 3-d weight", "conv2d", ((1, 2, 5, 5), (3, 2, 3)), {}, r"conv2d: expected a 4-d weight"),
    ("conv_transpose1d of a 4-d input", "conv_transpose1d", ((1, 2, 5, 5), (2, 3, 3)), {},
     r"conv_transpose1d: expected a 3-d input \(N, C, L\)"),
    ("output_padding not below stride or dilation", "conv_transpose2d", ((1, 2, 3, 3), (2, 3, 3, 3)),
     dict(stride=2, dilation=2, output_padding=2),
     r"conv_transpose2d: output_padding \(2, 2\) must be .* smaller than the stride \(2, 2\) or the dilation \(2, 2\)"),
    ("1-d output_padding not below stride or dilation", "conv_transpose1d", ((1, 2, 3), (2, 3, 3)),
     dict(output_padding=1),
     r"conv_transpose1d: output_padding \(1,\) must be .* stride \(1,\) or the dilation \(1,\)"),
    ("padding same with stride 2", "conv2d", ((1, 2, 5, 5), (3, 2, 3, 3)), dict(padding="same", stride=2),
     r"conv2d: padding='same' is not supported for strided convolutions"),
    ("conv1d padding same with stride 2", "conv1d", ((1, 2, 5), (3, 2, 3)), dict(padding="same", stride=2),
     r"conv1d: padding='same' is not supported for strided convolutions"),
    ("an unknown padding string", "conv2d", ((1, 2, 5, 5), (3, 2, 3, 3)), dict(padding="full"),
     r"conv2d: padding must be 'same', 'valid', an int or a tuple of ints, got 'full'"),
]


@pytest.mark.parametrize("op, shapes, options, message", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_bad_arguments_are_refused_like_torch(torch, op, shapes, options, message):
    arrays = [_zeros(*shape) for shape in shapes]
    with pytest.raises((RuntimeError, ValueError)):
        getattr(torch.nn.functional, op)(*(torch.tensor(a) for a in arrays), **options)
    with pytest.raises(ValueError, match=message):
        getattr(F, op)(*(sg.Tensor(a) for a in arrays), **options)


LAYER_ERRORS = [  # (id, build, message)
    ("in_channels not divisible by groups", lambda nn: nn.Conv2d(3, 4, 3, groups=2),
     r"Conv2d: in_channels \(3\) must be divisible by groups \(2\)"),
    ("out_channels not divisible by groups", lambda nn: nn.ConvTranspose1d(4, 3, 3, groups=2),
     r"ConvTranspose1d: out_channels \(3\) must be divisible by groups \(2\)"),
    ("groups 0", lambda nn: nn.Conv1d(4, 4, 3, groups=0), r"Conv1d: groups must be a positive int, got 0"),
    ("padding same with stride 2", lambda nn: nn.Conv2d(2, 3, 3, stride=2, padding="same"),
     r"Conv2d: padding='same' is not supported for strided convolutions"),
    ("an unknown padding string", lambda nn: nn.Conv1d(2, 3, 3, padding="full"),
     r"Conv1d: invalid padding string 'full', should be one of 'same', 'valid'"),
]


@pytest.mark.parametrize("build, message", [e[1:] for e in LAYER_ERRORS], ids=[e[0] for e in LAYER_ERRORS])
def test_bad_layer_arguments_are_refused_like_torch(torch, build, message):
    with pytest.raises(ValueError):
        build(torch.nn)
    with pytest.raises(ValueError, match=message):
        build(sg.nn)


def test_transposed_layer_refuses_string_padding_at_construction():
    """PyTorch builds ConvTranspose2d(padding="same") and fails only when called; refused here at once."""
    with pytest.raises(ValueError, match=r"ConvTranspose2d: padding must be an int or a tuple of ints, got 'same'"):
        sg.nn.ConvTranspose2d(2, 3, 3, padding="same")


def test_conv1d_layer_of_a_4d_input_names_the_layout():
    with pytest.raises(ValueError, match=r"Conv1d\(2, 3, 3\): expected a 3-d input \(N, C, L\), got shape"):
        sg.nn.Conv1d(2, 3, 3)(sg.zeros(1, 2, 4, 4))
