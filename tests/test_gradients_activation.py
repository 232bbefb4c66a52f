"""The activations and the elementwise math match finite differences, first and second order, in float64.

One table row per op: its name, the function, and the domain its inputs come from (bounded,
a margin away from every kink: ELU's 0, the bounds of hardtanh, relu6, hardsigmoid and
hardswish, softsign's 0, where its curvature jumps; positive for the logarithms and rsqrt).
Each row runs at both orders (``ORDERS``) on Hypothesis inputs in drawn memory layouts.
The conventions *at* the kinks are PyTorch's and are tested against it in
tests/test_parity_activation.py. Last, the ops run on a GPU array (``tests/fake_cupy.py``),
erf through cupyx.scipy.special.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import Callable

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchgan as sg
from scratchgan import backend
from scratchgan.nn import functional as F
from scratchgan.ops import elementwise
from strategies import broadcast_leaves, leaves, shapes

# every test here runs on each CPU kernel set (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("kernel_backend")

ORDERS = pytest.mark.parametrize(
    "check", [sg.gradcheck, sg.gradgradcheck], ids=["first_order", "second_order"],
)
SMALL = shapes(max_dims=2)  # gradgradcheck perturbs every element of x and v through a double backward


@dataclass(frozen=True)
class Unary:
    name: str
    function: Callable
    domain: dict = field(default_factory=dict)  # keyword options of strategies.arrays


def domain(low=-2.0, high=2.0, *kinks):
    return dict(low=low, high=high, avoid=kinks, margin=0.05)


ACTIVATIONS = [
    Unary("elu", F.elu, domain(-2, 2, 0.0)),
    Unary("elu alpha=0.5", lambda x: F.elu(x, alpha=0.5), domain(-2, 2, 0.0)),
    Unary("selu", F.selu, domain(-2, 2, 0.0)),
    Unary("celu alpha=2", lambda x: F.celu(x, alpha=2.0), domain(-3, 2, 0.0)),
    Unary("gelu", F.gelu, domain(-3, 3)),
    Unary("gelu tanh", lambda x: F.gelu(x, approximate="tanh"), domain(-3, 3)),
    Unary("silu", F.silu, domain(-3, 3)),
    Unary("mish", F.mish, domain(-3, 3)),
    Unary("hardtanh", F.hardtanh, domain(-2, 2, -1.0, 1.0)),
    Unary("hardtanh (-0.5, 1.5)", lambda x: F.hardtanh(x, -0.5, 1.5), domain(-2, 2, -0.5, 1.5)),
    Unary("relu6", F.relu6, domain(-1, 7, 0.0, 6.0)),
    Unary("softsign", F.softsign, domain(-3, 3, 0.0)),
    Unary("hardsigmoid", F.hardsigmoid, domain(-4, 4, -3.0, 3.0)),
    Unary("hardswish", F.hardswish, domain(-4, 4, -3.0, 3.0)),
]

MATH = [
    Unary("sin", sg.sin, domain(-4, 4)),
    Unary("cos", sg.cos, domain(-4, 4)),
    Unary("log2", sg.log2, domain(0.2, 3)),
    Unary("log10", sg.log10, domain(0.2, 3)),
    Unary("exp2", sg.exp2, domain(-3, 3)),
    Unary("rsqrt", sg.rsqrt, domain(0.2, 3)),
    Unary("sign", sg.sign, domain(-2, 2, 0.0)),
    Unary("erf", sg.erf, domain(-3, 3)),
]


def _name(case):
    return case.name


@ORDERS
@pytest.mark.parametrize("case", ACTIVATIONS, ids=_name)
@given(data=st.data())
def test_activation_matches_finite_differences(check, case, data):
    x = data.draw(leaves(data.draw(SMALL), **case.domain))
    check(case.function, x)


@ORDERS
@pytest.mark.parametrize("case", MATH, ids=_name)
@given(data=st.data())
def test_elementwise_math_matches_finite_differences(check, case, data):
    x = data.draw(leaves(data.draw(SMALL), **case.domain))
    check(case.function, x)


@ORDERS
@given(operands=broadcast_leaves(low=-3.0, high=3.0))
def test_logaddexp_with_broadcasting_matches_finite_differences(check, operands):
    check(sg.logaddexp, operands)


LAYERS = [
    Unary("ELU(0.7)", sg.nn.ELU(0.7), domain(-2, 2, 0.0)),
    Unary("SELU", sg.nn.SELU(), domain(-2, 2, 0.0)),
    Unary("CELU(1.5)", sg.nn.CELU(1.5), domain(-2, 2, 0.0)),
    Unary("GELU", sg.nn.GELU(), domain(-3, 3)),
    Unary("GELU('tanh')", sg.nn.GELU("tanh"), domain(-3, 3)),
    Unary("SiLU", sg.nn.SiLU(), domain(-3, 3)),
    Unary("Mish", sg.nn.Mish(), domain(-3, 3)),
    Unary("Hardtanh(-0.5, 0.5)", sg.nn.Hardtanh(-0.5, 0.5), domain(-1, 1, -0.5, 0.5)),
    Unary("ReLU6", sg.nn.ReLU6(), domain(-1, 7, 0.0, 6.0)),
    Unary("Softsign", sg.nn.Softsign(), domain(-3, 3, 0.0)),
    Unary("Hardsigmoid", sg.nn.Hardsigmoid(), domain(-4, 4, -3.0, 3.0)),
    Unary("Hardswish", sg.nn.Hardswish(), domain(-4, 4, -3.0, 3.0)),
]


@ORDERS
@pytest.mark.parametrize("case", LAYERS, ids=_name)
@given(data=st.data())
def test_layer_matches_finite_differences(check, case, data):
    x = data.draw(leaves(data.draw(SMALL), **case.domain))
    check(case.function, x)


def test_logaddexp_of_large_operands_is_finite_and_its_shares_sum_to_one():
    a = sg.Tensor(numpy.array([1000.0, -1000.0, 0.0]), requires_grad=True)
    b = sg.Tensor(numpy.array([999.0, -1000.0, -800.0]), requires_grad=True)
    y = sg.logaddexp(a, b)
    numpy.testing.assert_allclose(y.numpy(), [1000.0 + numpy.log1p(numpy.exp(-1.0)), -1000.0 + numpy.log(2.0),
                                              numpy.log1p(numpy.exp(-800.0))], rtol=1e-15)
    grad_a, grad_b = sg.grad(y.sum(), (a, b))
    numpy.testing.assert_allclose(grad_a.numpy() + grad_b.numpy(), 1.0, rtol=1e-15)


def test_elu_of_a_large_input_has_a_finite_second_derivative():
    """The exponential of ELU's backward sees min(x, 0): no inf * 0 for a large positive x."""
    x = sg.Tensor(numpy.array([800.0, 100.0], dtype=numpy.float32), requires_grad=True)
    (gx,) = sg.grad(F.elu(x).sum(), x, create_graph=True)
    (gxx,) = sg.grad((gx * gx).sum(), x)
    numpy.testing.assert_array_equal(gx.numpy(), [1.0, 1.0])
    numpy.testing.assert_array_equal(gxx.numpy(), [0.0, 0.0])


# -- on a GPU array (the CuPy emulator of tests/fake_cupy.py) ----------------------------------
@pytest.fixture
def fake_device():
    from tests import fake_cupy

    previous = fake_cupy.install()
    try:
        yield fake_cupy
    finally:
        fake_cupy.uninstall(previous)


@pytest.fixture
def fake_cupyx(monkeypatch, fake_device):
    """cupyx.scipy.special.erf as CuPy has it: device in, device out (scipy on the emulator's
    memory); the calls are counted, to show which implementation ran."""
    import scipy.special

    calls = []

    def erf(x):
        calls.append(x.shape)
        assert type(x).__module__ == "cupy", "cupyx's erf takes device arrays"
        return scipy.special.erf(x.view(numpy.ndarray)).view(type(x))

    special = types.ModuleType("cupyx.scipy.special")
    special.erf = erf
    scipy_package = types.ModuleType("cupyx.scipy")
    scipy_package.special = special
    package = types.ModuleType("cupyx")
    package.scipy = scipy_package
    for name, module in (("cupyx", package), ("cupyx.scipy", scipy_package), ("cupyx.scipy.special", special)):
        monkeypatch.setitem(sys.modules, name, module)
    return calls


DEVICE_CASES = ACTIVATIONS + MATH + [Unary("logaddexp", lambda x: sg.logaddexp(x, x * 0.5))]


@pytest.mark.parametrize("case", DEVICE_CASES, ids=_name)
def test_every_op_runs_on_a_device_array_and_matches_the_host(fake_cupyx, case):
    """Only names CuPy has (the emulator refuses the others), with the host's values and gradients."""
    low, high = case.domain.get("low", 0.3), case.domain.get("high", 2.5)
    x = numpy.random.default_rng(0).uniform(low, high, (3, 4))
    results = {}
    for device in ("cpu", "cuda"):
        tensor = sg.Tensor(x).to(device).requires_grad_()
        value = case.function(tensor)
        (first,) = sg.grad(value.sum(), tensor, create_graph=True)
        second = None  # piecewise linear ops: the gradient is a constant of the graph
        if first.requires_grad:
            (second,) = sg.grad((first * first).sum(), tensor, allow_unused=True)
        assert value.device == first.device == device
        results[device] = [t.numpy() for t in (value, first, second) if t is not None]
    assert len(results["cuda"]) == len(results["cpu"])
    for on_device, on_host in zip(results["cuda"], results["cpu"]):
        numpy.testing.assert_allclose(on_device, on_host, rtol=1e-13, atol=1e-15)


def test_erf_of_a_device_array_runs_cupyx_erf(fake_cupyx):
    x = sg.Tensor(numpy.linspace(-2, 2, 5, dtype=numpy.float32)).to("cuda")
    y = sg.erf(x)
    assert fake_cupyx == [(5,)]
    assert y.device == "cuda" and y.dtype == numpy.float32


@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite"])
def test_a_predicate_of_a_device_array_is_a_boolean_device_tensor(fake_device, name):
    x = numpy.array([numpy.nan, numpy.inf, -1.0])
    on_device = getattr(sg.Tensor(x).to("cuda"), name)()
    assert on_device.device == "cuda" and on_device.dtype == numpy.bool_
    numpy.testing.assert_array_equal(on_device.numpy(), getattr(numpy, name)(x))


def test_erf_of_a_device_array_without_cupyx_says_what_to_install(monkeypatch, fake_device):
    monkeypatch.setitem(sys.modules, "cupyx", None)  # import cupyx raises ImportError
    x = sg.Tensor(numpy.ones(3)).to("cuda")
    with pytest.raises(backend.BackendUnavailableError, match=r"erf: .*cupyx.*pip install 'scratchgan\[gpu\]'"):
        elementwise.erf(x)
