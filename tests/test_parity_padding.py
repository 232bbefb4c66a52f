"""Padding against PyTorch 2.13: F.pad in its four modes, the padding layers and their errors.

Every case is compared in float64 (to 1e-10) and float32 (to 1e-5) at three levels: the
value, the gradient of a random contraction, and the second order, the gradient in x and in
the cotangent v of a random contraction of the first gradient (``create_graph=True`` on both
sides). The cases cover each mode on 3-d and 4-d inputs (and the 2-d and 5-d forms),
asymmetric pads, crops and a fill value. Then the layers (values, gradients and reprs), the
accepted and refused pads of a whole grid, and each error, which PyTorch raises too.
"""

from __future__ import annotations

import itertools

import numpy
import pytest

import scratchgan as sg
from parity import assert_parity
from scratchgan import nn
from scratchgan.nn import functional as F

# every test here runs on each CPU kernel set (tests/conftest.py)
pytestmark = [pytest.mark.parity, pytest.mark.usefixtures("kernel_backend")]

DTYPES = pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32], ids=["float64", "float32"])

# (mode, input shape, pad, value)
CASES = [
    ("constant", (2, 3, 5), (1, 2), None),
    ("constant", (2, 3, 4, 5), (2, 0, 1, 3), 1.5),
    ("constant", (2, 3, 4, 5), (-1, 2, 3, -2), -0.5),
    ("constant", (3, 4, 5), (1, 1, 1, 1, 1, 1), None),
    ("reflect", (2, 3, 5), (2, 4), None),
    ("reflect", (2, 3, 4, 5), (1, 1, 1, 1), None),
    ("reflect", (2, 3, 4, 5), (4, 2, 0, 3), None),
    ("reflect", (2, 3, 4, 5), (-2, 3, 1, -3), None),
    ("reflect", (3, 4, 5), (3, 1, 2, 2), 0.0),
    ("reflect", (3, 5), (-3, 4), None),
    ("reflect", (1, 2, 3, 4, 5), (1, 2, 2, 0, 1, 2), None),
    ("replicate", (2, 3, 5), (3, 1), None),
    ("replicate", (2, 3, 4, 5), (1, 1, 1, 1), None),
    ("replicate", (2, 3, 4, 5), (6, 2, 0, 5), None),
    ("replicate", (2, 3, 4, 5), (-4, 4, 2, -1), None),
    ("replicate", (2, 3, 4), (2, 3), None),
    ("replicate", (1, 2, 3, 4, 5), (2, 1, 0, 3, 1, 1), None),
    ("circular", (2, 3, 5), (2, 5), None),
    ("circular", (2, 3, 4, 5), (1, 1, 1, 1), None),
    ("circular", (2, 3, 4, 5), (5, 3, 4, 0), None),
    ("circular", (2, 3, 4, 5), (-1, 2, 2, -2), None),
    ("circular", (3, 4, 5), (2, -1, -1, 3), None),
    ("circular", (1, 2, 3, 4, 5), (1, 2, 3, 0, 2, 1), None),
]


def _case_id(case):
    mode, shape, pad, value = case
    return f"{mode}-{len(shape)}d-{pad}" + ("" if value is None else f"-value={value}")


def _inputs(shape, dtype, seed=0):
    rng = numpy.random.default_rng(seed)
    return rng.standard_normal(shape).astype(dtype)


@DTYPES
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_value_and_gradient_match_torch(torch, case, dtype):
    mode, shape, pad, value = case
    x = _inputs(shape, dtype)
    sg_x, torch_x = sg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    sg_y = F.pad(sg_x, pad, mode=mode, value=value)
    torch_y = torch.nn.functional.pad(torch_x, pad, mode=mode, value=value)
    assert_parity(sg_y, torch_y, dtype, f"{case} value")
    v = numpy.random.default_rng(1).standard_normal(sg_y.shape).astype(dtype)
    (sg_g,) = sg.grad(sg_y, sg_x, grad_outputs=sg.Tensor(v))
    (torch_g,) = torch.autograd.grad(torch_y, torch_x, grad_outputs=torch.tensor(v))
    assert_parity(sg_g, torch_g, dtype, f"{case} first order")


@DTYPES
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_second_order_matches_torch(torch, case, dtype):
    mode, shape, pad, value = case
    x = _inputs(shape, dtype)
    sg_x, torch_x = sg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    sg_y = F.pad(sg_x, pad, mode=mode, value=value)
    torch_y = torch.nn.functional.pad(torch_x, pad, mode=mode, value=value)
    rng = numpy.random.default_rng(2)
    v, w = rng.standard_normal(sg_y.shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    sg_v, torch_v = sg.Tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
    (sg_g,) = sg.grad(sg_y, sg_x, grad_outputs=sg_v, create_graph=True)
    (torch_g,) = torch.autograd.grad(torch_y, torch_x, grad_outputs=torch_v, create_graph=True)
    sg_second = sg.grad(sg_g, (sg_x, sg_v), grad_outputs=sg.Tensor(w), allow_unused=True)
    torch_second = torch.autograd.grad(torch_g, (torch_x, torch_v), grad_outputs=torch.tensor(w),
                                       allow_unused=True, materialize_grads=True)
    for name, mine, theirs, like in zip(("x", "v"), sg_second, torch_second, (x, v)):
        mine = numpy.zeros_like(like) if mine is None else mine  # linear in x: no second derivative
        assert_parity(mine, theirs, dtype, f"{case} second order in {name}")


# -- layers ----------------------------------------------------------------------------------------
LAYERS = [
    ("ReflectionPad1d", (2,), (2, 3, 5)),
    ("ReflectionPad1d", ((3, 1),), (3, 5)),
    ("ReflectionPad2d", (1,), (2, 3, 4, 5)),
    ("ReflectionPad2d", ((1, 2, 3, 0),), (3, 4, 5)),
    ("ReplicationPad1d", ((4, 1),), (2, 3, 5)),
    ("ReplicationPad2d", ((2, 1, -1, 3),), (2, 3, 4, 5)),
    ("ZeroPad2d", (2,), (2, 3, 4, 5)),
    ("ZeroPad2d", ((1, 0, -1, 2),), (2, 3, 4, 5)),
    ("ConstantPad1d", ((2, 1), 0.5), (2, 3, 5)),
    ("ConstantPad2d", (1, -2.0), (2, 3, 4, 5)),
    ("CircularPad1d", ((3, 2),), (2, 3, 5)),
    ("CircularPad2d", ((1, 2, 3, -1),), (2, 3, 4, 5)),
]


@DTYPES
@pytest.mark.parametrize("name, args, shape", LAYERS, ids=lambda v: v if isinstance(v, str) else str(v))
def test_layers_match_torch(torch, name, args, shape, dtype):
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs)
    x = _inputs(shape, dtype)
    sg_x, torch_x = sg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    sg_y, torch_y = ours(sg_x), theirs(torch_x)
    assert_parity(sg_y, torch_y, dtype, f"{name}{args} value")
    v = numpy.random.default_rng(1).standard_normal(sg_y.shape).astype(dtype)
    (sg_g,) = sg.grad(sg_y, sg_x, grad_outputs=sg.Tensor(v))
    (torch_g,) = torch.autograd.grad(torch_y, torch_x, grad_outputs=torch.tensor(v))
    assert_parity(sg_g, torch_g, dtype, f"{name}{args} first order")


def test_a_cyclegan_resnet_block_matches_torch(torch):
    """x + IN(conv(pad(relu(IN(conv(pad(x))))))), with ReflectionPad2d(1) and 3x3 convolutions,
    here without the norms: the weights copied, value and input gradient compared."""
    rng = numpy.random.default_rng(3)
    weights = [rng.standard_normal((3, 3, 3, 3)) * 0.3 for _ in range(2)]
    ours = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(3, 3, 3, bias=False, dtype=numpy.float64), nn.ReLU(),
                         nn.ReflectionPad2d(1), nn.Conv2d(3, 3, 3, bias=False, dtype=numpy.float64))
    theirs = torch.nn.Sequential(torch.nn.ReflectionPad2d(1), torch.nn.Conv2d(3, 3, 3, bias=False), torch.nn.ReLU(),
                                 torch.nn.ReflectionPad2d(1), torch.nn.Conv2d(3, 3, 3, bias=False))
    ours.load_state_dict({"1.weight": weights[0], "4.weight": weights[1]})
    theirs.load_state_dict({"1.weight": torch.tensor(weights[0]), "4.weight": torch.tensor(weights[1])})
    x = rng.standard_normal((2, 3, 5, 6))
    sg_x, torch_x = sg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    sg_y, torch_y = sg_x + ours(sg_x), torch_x + theirs(torch_x)
    assert_parity(sg_y, torch_y, numpy.float64, "resnet block value")
    (sg_g,) = sg.grad(sg_y.sum(), sg_x)
    (torch_g,) = torch.autograd.grad(torch_y.sum(), torch_x)
    assert_parity(sg_g, torch_g, numpy.float64, "resnet block gradient")


# -- which pads are accepted -----------------------------------------------------------------------
def _outcome(function):
    """The output array, or None for an error."""
    try:
        return numpy.asarray(function())
    except (ValueError, RuntimeError, NotImplementedError):
        return None


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate"])
def test_pads_are_accepted_and_refused_where_torch_accepts_and_refuses_them(torch, mode):
    """Every pad in -5..5 on the last dim of sizes 1-4, and in -3..3 on both dims of a (3, 2)
    plane: the same outputs, and errors for the same pads."""
    grids = [((2, 3, size), itertools.product(range(-5, 6), repeat=2)) for size in range(1, 5)]
    grids.append(((1, 2, 3, 2), itertools.product(range(-3, 4), repeat=4)))
    for shape, pads in grids:
        x = _inputs(shape, numpy.float64)
        for pad in pads:
            ours = _outcome(lambda: F.pad(sg.Tensor(x), pad, mode=mode).numpy())
            theirs = _outcome(lambda: torch.nn.functional.pad(torch.tensor(x), pad, mode=mode).numpy())
            assert (ours is None) == (theirs is None), f"{mode} {shape} {pad}: ours {ours}, torch {theirs}"
            if ours is not None:
                numpy.testing.assert_array_equal(ours, theirs, err_msg=f"{mode} {shape} {pad}")


def test_circular_pads_are_accepted_where_torch_computes_them(torch):
    """Circular padding refuses what torch refuses, and also a pad larger than what the crops
    leave, where torch reads uninitialised memory or raises an error about overlapping memory."""
    for size in range(1, 5):
        x = _inputs((2, 3, size), numpy.float64)
        for pad in itertools.product(range(-5, 6), repeat=2):
            ours = _outcome(lambda: F.pad(sg.Tensor(x), pad, mode="circular").numpy())
            theirs = _outcome(lambda: torch.nn.functional.pad(torch.tensor(x), pad, mode="circular").numpy())
            kept = size - max(-pad[0], 0) - max(-pad[1], 0)
            if kept >= 0 and max(pad) <= kept:
                numpy.testing.assert_array_equal(ours, theirs, err_msg=f"circular {size} {pad}")
            else:
                assert ours is None, f"circular {size} {pad}"


# -- errors ----------------------------------------------------------------------------------------
ERRORS = [
    # (what, shape, pad, mode, value, our message)
    ("an odd pad length", (2, 3, 4), (1, 2, 3), "constant", None, "even length"),
    ("more pads than dims", (3, 4), (1, 1, 1, 1, 1, 1), "constant", None, r"6 pad values pad 3 dims, more than the 2"),
    ("an unknown mode", (2, 3, 4), (1, 1), "zeros", None, "mode must be one of 'constant', 'reflect'"),
    ("a value with reflect", (2, 3, 4), (1, 1), "reflect", 1.0, "mode 'reflect' takes no value"),
    ("a value with circular", (2, 3, 4), (1, 1), "circular", 2.0, "mode 'circular' takes no value"),
    ("a reflect pad equal to the dim", (2, 3, 4), (4, 0), "reflect", None,
     "reflect padding must be smaller than the dim"),
    ("a reflect pad beyond the dim", (2, 3, 4, 5), (1, 1, 0, 5), "reflect", None,
     r"smaller than the dim it pads: dim 2 of size 4 padded by \(0, 5\)"),
    ("a circular pad beyond the dim", (2, 3, 4), (5, 0), "circular", None, "circular padding must be at most the size"),
    ("a reflect crop leaving nothing", (2, 3, 5), (-3, -2), "reflect", None, "must leave an element"),
    ("a replicate crop leaving nothing", (2, 3, 5), (-3, -2), "replicate", None, "must leave an element"),
    ("a constant crop beyond the dim", (2, 3, 5), (-3, -3), "constant", None, "crop more elements than the dim has"),
    ("a circular crop beyond the dim", (2, 3, 5), (-3, -3), "circular", None, "crop more elements than the dim has"),
    ("a replicate crop below zero", (1, 1, 3, 3), (0, 0, -4, 0), "replicate", None, "crop more elements than the dim"),
    ("reflect of a 1-d input", (4,), (1, 1), "reflect", None, r"needs a 2-d or 3-d \(batched\) input"),
    ("replicate of the last 2 dims of a 5-d input", (1, 2, 3, 4, 5), (1, 1, 1, 1), "replicate", None,
     "needs a 3-d or 4-d"),
    ("circular of 4 dims", (1, 2, 3, 4, 5, 6), (1,) * 8, "circular", None, "pads the last 1, 2 or 3 dims"),
    ("reflect of an empty channel dim", (2, 0, 5), (1, 1), "reflect", None, "needs non-empty dims"),
]


@pytest.mark.parametrize("what, shape, pad, mode, value, message", ERRORS, ids=[e[0] for e in ERRORS])
def test_each_bad_pad_raises_one_clear_error_where_torch_refuses_too(torch, what, shape, pad, mode, value, message):
    with pytest.raises(ValueError, match=message):
        F.pad(sg.Tensor(numpy.zeros(shape)), pad, mode=mode, value=value)
    with pytest.raises((RuntimeError, NotImplementedError)):
        torch.nn.functional.pad(torch.zeros(shape), pad, mode=mode, value=value)


def test_a_circular_pad_wrapping_around_the_kept_elements_twice_is_refused(torch):
    """(-1, 4) on a dim of 4 keeps 3 elements; torch raises about overlapping memory here (and on
    other shapes returns uninitialised memory), scratchgan one clear error."""
    with pytest.raises(ValueError, match="at most the 3 elements that the negative pads leave"):
        F.pad(sg.Tensor(numpy.zeros((1, 1, 4))), (-1, 4), mode="circular")


@pytest.mark.parametrize("pad", [(1.0, 1), (True, 1), 1])
def test_pads_that_are_not_a_tuple_of_ints_are_a_type_error_as_in_torch(torch, pad):
    with pytest.raises(TypeError, match="pad must be a tuple of ints"):
        F.pad(sg.Tensor(numpy.zeros((2, 3, 4))), pad)
    with pytest.raises(TypeError):
        torch.nn.functional.pad(torch.zeros(2, 3, 4), pad)


def test_a_circular_layer_checks_its_input_rank_as_torch(torch):
    with pytest.raises(ValueError, match="CircularPad2d: expected a 3-d or 4-d input"):
        nn.CircularPad2d(1)(sg.Tensor(numpy.zeros((1, 2, 3, 4, 5))))
    with pytest.raises(ValueError):
        torch.nn.CircularPad2d(1)(torch.zeros(1, 2, 3, 4, 5))


def test_a_layer_padding_tuple_of_the_wrong_length_is_refused():
    """Deliberately stricter than torch, which keeps any tuple and pads as many dims as it has."""
    with pytest.raises(ValueError, match=r"ReflectionPad2d: padding must be an int or a tuple of 4 ints"):
        nn.ReflectionPad2d((1, 2))
