"""The activations and the elementwise math against PyTorch 2.13: values, first and second order.

One table row per op (name, ours, theirs, domain); every row is compared in float64 (to 1e-10)
and float32 (to 1e-5) at three levels: the value, the gradient of a random contraction, and
the second order, the gradient of a random contraction of the first gradient (built with
``create_graph=True`` on both sides). The inputs hold the kinks on purpose, where PyTorch
has a convention: ELU's 0 (slope alpha, curvature 0), hardtanh's and relu6's bounds
(gradient 0), hardsigmoid's and hardswish's -3 and 3, sign's 0 (gradient 0), softsign's 0;
the conventions are also stated one by one below. Then the layers, the predicates and the
errors, each of which PyTorch refuses too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy
import pytest

import scratchgan as sg
from parity import assert_parity
from scratchgan.nn import functional as F

# every test here runs on each CPU kernel set (tests/conftest.py)
pytestmark = [pytest.mark.parity, pytest.mark.usefixtures("kernel_backend")]

DTYPES = (numpy.float64, numpy.float32)
DTYPE_IDS = ["float64", "float32"]


@dataclass(frozen=True)
class Case:
    name: str
    ours: Callable    # (*scratchgan Tensors) -> Tensor
    theirs: Callable  # (torch, *torch tensors) -> tensor
    domain: tuple     # (low, high, kinks): a 4 x 6 uniform draw with the kinks written into it
    second_order: bool = True  # False where torch has no double backward (or no graph) to compare


def tf(name):
    """torch.nn.functional.<name> as a (torch, x) -> tensor function."""
    return lambda torch, *xs: getattr(torch.nn.functional, name)(*xs)


def th(name):
    """torch.<name> as a (torch, *xs) -> tensor function."""
    return lambda torch, *xs: getattr(torch, name)(*xs)


UNARY_CASES = [
    Case("elu", F.elu, tf("elu"), (-3, 3, (0.0,))),
    Case("elu alpha=0.3", lambda x: F.elu(x, 0.3), lambda torch, x: torch.nn.functional.elu(x, 0.3), (-3, 3, (0.0,))),
    Case("selu", F.selu, tf("selu"), (-3, 3, (0.0,))),
    Case("celu alpha=2", lambda x: F.celu(x, 2.0), lambda torch, x: torch.nn.functional.celu(x, 2.0),
         (-4, 3, (0.0,))),
    Case("gelu", F.gelu, tf("gelu"), (-5, 5, (0.0,))),
    Case("gelu tanh", lambda x: F.gelu(x, approximate="tanh"),
         lambda torch, x: torch.nn.functional.gelu(x, approximate="tanh"), (-5, 5, (0.0,))),
    Case("silu", F.silu, tf("silu"), (-8, 8, (0.0,))),
    Case("mish", F.mish, tf("mish"), (-8, 8, (0.0,))),
    Case("hardtanh", F.hardtanh, tf("hardtanh"), (-2, 2, (-1.0, 1.0))),
    Case("hardtanh (-0.5, 2)", lambda x: F.hardtanh(x, -0.5, 2.0),
         lambda torch, x: torch.nn.functional.hardtanh(x, -0.5, 2.0), (-1, 3, (-0.5, 2.0))),
    Case("relu6", F.relu6, tf("relu6"), (-2, 8, (0.0, 6.0))),
    Case("softsign", F.softsign, tf("softsign"), (-4, 4, (0.0,))),
    # torch's float64 hardsigmoid gradient is g * float32(1/6) (a test below): the reference is
    # torch's relu6(x + 3) / 6, the same function with hardsigmoid_backward's conventions
    Case("hardsigmoid", F.hardsigmoid, lambda torch, x: torch.nn.functional.relu6(x + 3) / 6, (-4, 4, (-3.0, 3.0))),
    Case("hardswish", F.hardswish, tf("hardswish"), (-4, 4, (-3.0, 3.0))),
    Case("sin", sg.sin, th("sin"), (-6, 6, (0.0,))),
    Case("cos", sg.cos, th("cos"), (-6, 6, (0.0,))),
    Case("log2", sg.log2, th("log2"), (0.1, 5, (1.0, 2.0, 4.0))),
    Case("log10", sg.log10, th("log10"), (0.1, 5, (1.0,))),
    Case("exp2", sg.exp2, th("exp2"), (-6, 6, (0.0, 3.0))),
    Case("rsqrt", sg.rsqrt, th("rsqrt"), (0.2, 5, (1.0, 4.0))),
    # torch's sign gradient is a constant zero without a graph: nothing to differentiate again
    Case("sign", sg.sign, th("sign"), (-2, 2, (0.0,)), second_order=False),
    Case("erf", sg.erf, th("erf"), (-4, 4, (0.0,))),
]


def sample(low, high, kinks, seed=0):
    """A (4, 6) uniform draw with each kink written at a few positions (and 0 where it lies inside)."""
    x = numpy.random.default_rng(seed).uniform(low, high, (4, 6))
    for position, kink in enumerate(kinks):
        x.flat[position::7] = kink
    return x


def first_order(torch, ours, theirs, x, dtype, what, seed=0):
    """Value and gradient of <v, f(x)> for a random v: returns nothing, asserts parity."""
    sg_x = sg.Tensor(x.astype(dtype), requires_grad=True)
    torch_x = torch.tensor(x.astype(dtype), requires_grad=True)
    sg_y, torch_y = ours(sg_x), theirs(torch, torch_x)
    assert_parity(sg_y, torch_y, dtype, f"{what} value")
    v = numpy.random.default_rng(seed + 1).standard_normal(x.shape).astype(dtype)
    (sg_g,) = sg.grad(sg_y, sg_x, grad_outputs=sg.Tensor(v))
    (torch_g,) = torch.autograd.grad(torch_y, torch_x, grad_outputs=torch.tensor(v))
    assert_parity(sg_g, torch_g, dtype, f"{what} first order")


def second_order(torch, ours, theirs, x, dtype, what, seed=0):
    """Gradients in x and v of <w, d<v, f(x)>/dx> for random v, w (create_graph on both sides)."""
    rng = numpy.random.default_rng(seed + 2)
    v, w = (rng.standard_normal(x.shape).astype(dtype) for _ in range(2))
    sg_x, sg_v = sg.Tensor(x.astype(dtype), requires_grad=True), sg.Tensor(v, requires_grad=True)
    torch_x, torch_v = (torch.tensor(a, requires_grad=True) for a in (x.astype(dtype), v))
    (sg_g,) = sg.grad(ours(sg_x), sg_x, grad_outputs=sg_v, create_graph=True)
    (torch_g,) = torch.autograd.grad(theirs(torch, torch_x), torch_x, grad_outputs=torch_v, create_graph=True)
    sg_second = sg.grad(sg_g, (sg_x, sg_v), grad_outputs=sg.Tensor(w), allow_unused=True)
    torch_second = torch.autograd.grad(torch_g, (torch_x, torch_v), grad_outputs=torch.tensor(w),
                                       allow_unused=True, materialize_grads=True)
    for name, mine, theirs_grad in zip(("x", "v"), sg_second, torch_second):
        mine = numpy.zeros_like(x, dtype=dtype) if mine is None else mine
        assert_parity(mine, theirs_grad, dtype, f"{what} second order in {name}")


def _name(case):
    return case.name


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", UNARY_CASES, ids=_name)
def test_value_and_gradient_match_torch_also_at_the_kinks(torch, case, dtype):
    first_order(torch, case.ours, case.theirs, sample(*case.domain), dtype, case.name)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", [c for c in UNARY_CASES if c.second_order], ids=_name)
def test_second_order_matches_torch_also_at_the_kinks(torch, case, dtype):
    second_order(torch, case.ours, case.theirs, sample(*case.domain), dtype, case.name)


# -- logaddexp: two operands, broadcasting, extremes -----------------------------------------
def _logaddexp_operands():
    a = numpy.random.default_rng(3).uniform(-5, 5, (4, 6))
    b = numpy.random.default_rng(4).uniform(-5, 5, (1, 6))
    a[0] = b[0]  # ties: each operand's share is 1/2
    a[1, :3] = 80.0  # far apart: one share 1, the other e^-80 (a test below goes further)
    return a, b


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_logaddexp_with_broadcasting_matches_torch_at_both_orders(torch, dtype):
    a, b = (o.astype(dtype) for o in _logaddexp_operands())
    sg_a, sg_b = sg.Tensor(a, requires_grad=True), sg.Tensor(b, requires_grad=True)
    torch_a, torch_b = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    sg_y, torch_y = sg.logaddexp(sg_a, sg_b), torch.logaddexp(torch_a, torch_b)
    assert_parity(sg_y, torch_y, dtype, "logaddexp value")
    v = numpy.random.default_rng(5).standard_normal(a.shape).astype(dtype)
    sg_grads = sg.grad(sg_y, (sg_a, sg_b), grad_outputs=sg.Tensor(v), create_graph=True)
    torch_grads = torch.autograd.grad(torch_y, (torch_a, torch_b), grad_outputs=torch.tensor(v), create_graph=True)
    for name, mine, theirs in zip("ab", sg_grads, torch_grads):
        assert_parity(mine, theirs, dtype, f"logaddexp first order in {name}")
    sg_curvature = sg.grad((sg_grads[0] * sg_grads[0]).sum() + sg_grads[1].sum(), (sg_a, sg_b))
    torch_curvature = torch.autograd.grad((torch_grads[0] ** 2).sum() + torch_grads[1].sum(), (torch_a, torch_b))
    for name, mine, theirs in zip("ab", sg_curvature, torch_curvature):
        assert_parity(mine, theirs, dtype, f"logaddexp second order in {name}")


# -- the conventions at the kinks, one by one ---------------------------------------------------
KINKS = [  # (name, ours, theirs, point, first derivative there, second derivative there)
    ("elu at 0: slope alpha, curvature 0", lambda x: F.elu(x, 2.0),
     lambda torch, x: torch.nn.functional.elu(x, 2.0), 0.0, 2.0, 0.0),
    ("selu at 0: slope scale alpha", F.selu, tf("selu"), 0.0, 1.0507009873554805 * 1.6732632423543772, 0.0),
    ("celu at 0: slope 1", lambda x: F.celu(x, 3.0), lambda torch, x: torch.nn.functional.celu(x, 3.0), 0.0, 1.0, 0.0),
    ("hardtanh at -1", F.hardtanh, tf("hardtanh"), -1.0, 0.0, 0.0),
    ("hardtanh at 1", F.hardtanh, tf("hardtanh"), 1.0, 0.0, 0.0),
    ("relu6 at 0", F.relu6, tf("relu6"), 0.0, 0.0, 0.0),
    ("relu6 at 6", F.relu6, tf("relu6"), 6.0, 0.0, 0.0),
    ("hardswish at -3", F.hardswish, tf("hardswish"), -3.0, 0.0, 0.0),
    ("hardswish at 3", F.hardswish, tf("hardswish"), 3.0, 1.0, 0.0),
    ("softsign at 0", F.softsign, tf("softsign"), 0.0, 1.0, 0.0),
    ("sign at 0", sg.sign, th("sign"), 0.0, 0.0, None),
    ("hardsigmoid at -3", F.hardsigmoid, tf("hardsigmoid"), -3.0, 0.0, None),
    ("hardsigmoid at 3", F.hardsigmoid, tf("hardsigmoid"), 3.0, 0.0, None),
]


@pytest.mark.parametrize("name, ours, theirs, point, slope, curvature", KINKS, ids=[k[0] for k in KINKS])
def test_the_derivatives_at_a_kink_are_pytorchs(torch, name, ours, theirs, point, slope, curvature):
    x = sg.Tensor(numpy.array([point]), requires_grad=True)
    (gx,) = sg.grad(ours(x).sum(), x, create_graph=True)
    torch_x = torch.tensor([point], requires_grad=True)
    (torch_gx,) = torch.autograd.grad(theirs(torch, torch_x).sum(), torch_x, create_graph=True)
    numpy.testing.assert_allclose(gx.numpy(), [slope], rtol=1e-15)
    numpy.testing.assert_allclose(torch_gx.detach().numpy(), [slope], rtol=1e-15)
    if curvature is not None:
        (gxx,) = sg.grad(gx.sum(), x, allow_unused=True) if gx.requires_grad else (None,)
        (torch_gxx,) = torch.autograd.grad(torch_gx.sum(), torch_x, materialize_grads=True)
        numpy.testing.assert_array_equal(0.0 if gxx is None else gxx.numpy(), [curvature])
        numpy.testing.assert_array_equal(torch_gxx.numpy(), [curvature])


def test_hardsigmoid_and_sign_have_zero_second_derivatives_where_torch_has_none():
    """torch raises for hardsigmoid's double backward and gives sign's gradient no graph;
    both functions are piecewise linear, and here their second derivatives are 0."""
    x = sg.Tensor(numpy.array([-3.0, -1.0, 0.0, 2.0, 3.0, 5.0]), requires_grad=True)
    for function in (F.hardsigmoid, sg.sign):
        (gx,) = sg.grad(function(x).sum(), x, create_graph=True)
        second = sg.grad(gx.sum(), x, allow_unused=True)[0] if gx.requires_grad else None
        assert second is None or not second.numpy().any()


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_hardsigmoid_equals_torch_up_to_torchs_float32_one_sixth(torch, dtype):
    """Deliberately not followed: ATen's hardsigmoid_backward multiplies by 1.0f / 6.0f, a float32
    constant, also in float64 (3e-8 relative off). Ours is g / 6; values agree to the last bits."""
    x = sample(-4, 4, (-3.0, 3.0)).astype(dtype)
    sg_x, torch_x = sg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    sg_y, torch_y = F.hardsigmoid(sg_x), torch.nn.functional.hardsigmoid(torch_x)
    assert_parity(sg_y, torch_y, dtype, "hardsigmoid value")
    (sg_g,), (torch_g,) = sg.grad(sg_y.sum(), sg_x), torch.autograd.grad(torch_y.sum(), torch_x)
    inside = (x > -3) & (x < 3)
    numpy.testing.assert_array_equal(sg_g.numpy(), numpy.where(inside, numpy.asarray(1, dtype) / 6, 0))
    numpy.testing.assert_array_equal(torch_g.numpy(), numpy.where(inside, numpy.float32(1 / 6), 0).astype(dtype))


def test_logaddexp_far_apart_keeps_a_finite_second_order_in_float32_where_torchs_is_nan(torch):
    """Deliberately not followed: torch's float32 double backward of logaddexp(200, 0) is nan
    (an exp of the gap overflows); ours is s(a - b) s(b - a), 0 in float32, as torch's float64."""
    sg_a, sg_b = (sg.Tensor(numpy.array([v], dtype=numpy.float32), requires_grad=True) for v in (200.0, 0.0))
    torch_a, torch_b = (torch.tensor([v], dtype=torch.float32, requires_grad=True) for v in (200.0, 0.0))
    sg_first = sg.grad(sg.logaddexp(sg_a, sg_b), (sg_a, sg_b), create_graph=True)
    torch_first = torch.autograd.grad(torch.logaddexp(torch_a, torch_b), (torch_a, torch_b), create_graph=True)
    sg_second = sg.grad(sg_first[0] + sg_first[1] * sg_first[1], (sg_a, sg_b))
    torch_second = torch.autograd.grad(torch_first[0] + torch_first[1] ** 2, (torch_a, torch_b))
    assert all(numpy.isnan(t.numpy()).all() for t in torch_second)
    for second in sg_second:
        numpy.testing.assert_array_equal(numpy.abs(second.numpy()), [0.0])


def test_sign_of_nan_is_zero_like_torch(torch):
    x = numpy.array([numpy.nan, -0.0, 0.0, -numpy.inf, numpy.inf, -2.5])
    numpy.testing.assert_array_equal(sg.sign(sg.Tensor(x)).numpy(), torch.sign(torch.tensor(x)).numpy())


# -- layers ------------------------------------------------------------------------------------
HARDSIGMOID = (lambda torch, x: torch.nn.functional.relu6(x + 3) / 6)  # see the test above

LAYERS = [  # (ours, theirs(torch)[, reference]): PyTorch's constructor arguments, positional and keyword
    (lambda: sg.nn.ELU(0.5), lambda torch: torch.nn.ELU(0.5)),
    (lambda: sg.nn.ELU(alpha=1.0, inplace=True), lambda torch: torch.nn.ELU(alpha=1.0, inplace=True)),
    (lambda: sg.nn.SELU(), lambda torch: torch.nn.SELU()),
    (lambda: sg.nn.CELU(2.0, True), lambda torch: torch.nn.CELU(2.0, True)),
    (lambda: sg.nn.GELU(), lambda torch: torch.nn.GELU()),
    (lambda: sg.nn.GELU(approximate="tanh"), lambda torch: torch.nn.GELU(approximate="tanh")),
    (lambda: sg.nn.SiLU(inplace=True), lambda torch: torch.nn.SiLU(inplace=True)),
    (lambda: sg.nn.Mish(), lambda torch: torch.nn.Mish()),
    (lambda: sg.nn.Hardtanh(-2.0, 0.5), lambda torch: torch.nn.Hardtanh(-2.0, 0.5)),
    (lambda: sg.nn.Hardtanh(min_val=-1.0, max_val=1.0, inplace=True),
     lambda torch: torch.nn.Hardtanh(min_val=-1.0, max_val=1.0, inplace=True)),
    (lambda: sg.nn.ReLU6(), lambda torch: torch.nn.ReLU6()),
    (lambda: sg.nn.ReLU6(True), lambda torch: torch.nn.ReLU6(True)),
    (lambda: sg.nn.Softsign(), lambda torch: torch.nn.Softsign()),
    (lambda: sg.nn.Hardsigmoid(), lambda torch: torch.nn.Hardsigmoid(), HARDSIGMOID),
    (lambda: sg.nn.Hardswish(inplace=True), lambda torch: torch.nn.Hardswish(inplace=True)),
]


@pytest.mark.parametrize("layers", LAYERS, ids=[repr(layers[0]()) for layers in LAYERS])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_layer_matches_torch_in_value_gradient_and_repr(torch, layers, dtype):
    layer, torch_layer = layers[0](), layers[1](torch)
    assert repr(layer) == repr(torch_layer)
    reference = layers[2] if len(layers) > 2 else (lambda torch, t: torch_layer(t.clone()))
    x = sample(-7, 7, (0.0, 3.0, -3.0, 6.0, 1.0, -1.0, 0.5, -2.0))
    original = x.astype(dtype)
    sg_x = sg.Tensor(original.copy(), requires_grad=True)
    first_order(torch, lambda t: layer(t), reference, x, dtype, repr(layer))
    layer(sg_x)
    numpy.testing.assert_array_equal(sg_x.numpy(), original)  # inplace=True is ignored: x keeps its values


# -- predicates -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_predicates_equal_torch_and_are_boolean_tensors_without_a_graph(torch, name, dtype):
    x = numpy.array([[numpy.nan, -numpy.inf, 0.0], [numpy.inf, -1.5, 3.0]], dtype=dtype)
    ours = getattr(sg.Tensor(x, requires_grad=True), name)()
    assert ours.dtype == numpy.bool_ and not ours.requires_grad
    numpy.testing.assert_array_equal(ours.numpy(), getattr(torch, name)(torch.tensor(x)).numpy())
    numpy.testing.assert_array_equal(getattr(sg, name)(sg.Tensor(x)).numpy(), ours.numpy())


# -- errors: each one clear error, where PyTorch refuses too -----------------------------------
ERRORS = [  # (ours, theirs, error, match)
    (lambda x: F.gelu(x, approximate="exact"), lambda torch, x: torch.nn.functional.gelu(x, approximate="exact"),
     ValueError, r"gelu: approximate must be 'none' or 'tanh', got 'exact'"),
    (lambda x: F.hardtanh(x, 2.0, 1.0), lambda torch, x: torch.nn.functional.hardtanh(x, 2.0, 1.0),
     ValueError, r"hardtanh: min_val must be at most max_val, got min_val=2.0, max_val=1.0"),
    (lambda x: F.celu(x, 0.0), lambda torch, x: torch.nn.functional.celu(x, 0.0),
     ValueError, r"celu: alpha must be nonzero"),
    (lambda x: sg.nn.Hardtanh(1.0, 1.0), lambda torch, x: torch.nn.Hardtanh(1.0, 1.0),
     ValueError, r"Hardtanh: max_val \(1.0\) must be greater than min_val \(1.0\)"),
    (lambda x: sg.nn.GELU("exact"), lambda torch, x: torch.nn.GELU("exact")(x),
     ValueError, r"GELU: approximate must be 'none' or 'tanh', got 'exact'"),
    (lambda x: F.elu(x, alpha="1"), lambda torch, x: torch.nn.functional.elu(x, alpha="1"),
     TypeError, r"elu: alpha must be a real number, got str"),
]


@pytest.mark.parametrize("ours, theirs, error, match", ERRORS, ids=[e[3][:24] for e in ERRORS])
def test_a_bad_argument_is_one_clear_error_and_torch_refuses_it_too(torch, ours, theirs, error, match):
    with pytest.raises(error, match=match):
        ours(sg.Tensor(numpy.ones(3)))
    with pytest.raises(Exception):
        theirs(torch, torch.ones(3))


FUNCTIONS = ["elu", "selu", "celu", "gelu", "silu", "mish", "hardtanh", "relu6", "softsign",
             "hardsigmoid", "hardswish"]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_functional_form_given_a_list_names_itself(torch, name):
    with pytest.raises(TypeError, match=rf"^{name}: expected a Tensor, got list"):
        getattr(F, name)([1.0, 2.0])
    with pytest.raises((TypeError, AttributeError)):  # torch's softsign: 'list' has no attribute 'abs'
        getattr(torch.nn.functional, name)([1.0, 2.0])


@pytest.mark.parametrize("name", ["rsqrt", "isnan", "isinf", "isfinite"])
def test_a_derived_math_op_given_a_list_names_itself(name):
    with pytest.raises(TypeError, match=rf"^{name}: expected a Tensor, got list"):
        getattr(sg, name)([1.0, 2.0])
