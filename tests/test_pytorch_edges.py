"""PyTorch's semantics at the edges: type promotion with Python numbers, pow at a base of 0,
division by huge numbers, 0-d tensors and empty axes, and axis bounds.

Each case is compared with PyTorch 2.13 where PyTorch defines the behaviour (values, dtypes,
first and second derivatives in float64); where scratchgan deliberately gives a different
second derivative (pow's, at a few points where PyTorch's is nan or masked), the test states
the value it gives and why, and checks it against finite differences.
"""

from __future__ import annotations

import numpy
import pytest

import scratchgan as sg
from parity import assert_parity

pytestmark = pytest.mark.usefixtures("kernel_backend")


@pytest.fixture
def torch32():
    """PyTorch with its own default dtype (float32): type promotion depends on it."""
    torch = pytest.importorskip("torch")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        yield torch
    finally:
        torch.set_default_dtype(previous)


def _t(array):
    return sg.Tensor(numpy.asarray(array))


# -- type promotion --------------------------------------------------------------------------------
INT = numpy.array([1, 2, 4], dtype=numpy.int64)
INT32 = numpy.array([1, 2, 4], dtype=numpy.int32)
BOOL = numpy.array([True, False, True])
F32 = numpy.array([0.5, 1.5, 2.5], dtype=numpy.float32)
F64_0D = numpy.array(0.25)
F32_0D = numpy.array(0.75, dtype=numpy.float32)

# (name, left, right, op): a left or right that is an ndarray becomes a tensor on both sides
PROMOTION_CASES = [
    ("int + 0.5", INT, 0.5, "add"),
    ("0.5 + int", 0.5, INT, "add"),
    ("int * 2", INT, 2, "mul"),
    ("int32 * 2", INT32, 2, "mul"),
    ("int32 * 2.5", INT32, 2.5, "mul"),
    ("bool + 1", BOOL, 1, "add"),
    ("bool * 1.5", BOOL, 1.5, "mul"),
    ("float32 + 2.0", F32, 2.0, "add"),
    ("2.5 - int", 2.5, INT, "sub"),
    ("int / int", INT, INT, "div"),
    ("int / 2", INT, 2, "div"),
    ("int ** 0.5", INT, 0.5, "pow"),
    ("int ** -1.0", INT, -1.0, "pow"),
    ("int ** 2", INT, 2, "pow"),
    ("0.7 ** int", 0.7, INT, "pow"),
    ("2 ** int", 2, INT, "pow"),
    ("float32 + float64 0-d", F32, F64_0D, "add"),
    ("int + float64 0-d", INT, F64_0D, "add"),
    ("int + float32 0-d", INT, F32_0D, "mul"),
    ("int64 + float32", INT, F32, "add"),
    ("int32 + int64", INT32, INT, "add"),
    ("float64 0-d + 1", F64_0D, 1, "add"),
]


def _apply(op, left, right, module, wrap):
    left = wrap(left) if isinstance(left, numpy.ndarray) else left
    right = wrap(right) if isinstance(right, numpy.ndarray) else right
    return {"add": lambda: left + right, "sub": lambda: left - right, "mul": lambda: left * right,
            "div": lambda: left / right, "pow": lambda: left ** right}[op]()


@pytest.mark.parity
@pytest.mark.parametrize("name,left,right,op", PROMOTION_CASES, ids=[c[0] for c in PROMOTION_CASES])
def test_python_numbers_and_mixed_dtypes_promote_as_in_pytorch(torch32, name, left, right, op):
    torch = torch32
    ours = _apply(op, left, right, sg, lambda a: sg.Tensor(a.copy()))
    theirs = _apply(op, left, right, torch, lambda a: torch.from_numpy(a.copy()))
    theirs = theirs.numpy()
    assert ours.dtype == theirs.dtype, f"{name}: dtype {ours.dtype}, PyTorch {theirs.dtype}"
    numpy.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-6, err_msg=name)


def test_an_integer_tensor_to_a_negative_integer_power_is_refused_as_in_pytorch():
    with pytest.raises(ValueError, match="negative integer powers"):
        _t(INT) ** -1


def test_a_float_exponent_of_an_integer_tensor_has_a_gradient_path_in_float32():
    x = sg.Tensor(F32.copy(), requires_grad=True)
    (gradient,) = sg.grad((x ** 2).sum(), [x])
    assert gradient.dtype == numpy.float32
    numpy.testing.assert_allclose(gradient.numpy(), 2 * F32)


# -- pow at a base of 0 ----------------------------------------------------------------------------
BASES = numpy.array([0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 1.5])
EXPONENTS = numpy.array([0.0, 1.0, 2.0, 3.0, -1.0, 0.0, 0.5])


def _first_derivatives(module, grad, base, exponent):
    value = base ** exponent
    return grad(value.sum(), [base, exponent])


@pytest.mark.parity
def test_pow_first_derivatives_at_a_zero_base_follow_pytorch(torch):
    base, exponent = sg.Tensor(BASES.copy(), requires_grad=True), sg.Tensor(EXPONENTS.copy(), requires_grad=True)
    t_base, t_exponent = torch.tensor(BASES, requires_grad=True), torch.tensor(EXPONENTS, requires_grad=True)
    with numpy.errstate(divide="ignore", invalid="ignore"):
        ours = sg.grad((base ** exponent).sum(), [base, exponent])
    theirs = torch.autograd.grad((t_base ** t_exponent).sum(), [t_base, t_exponent])
    for mine, reference, what in zip(ours, theirs, ("d/d base", "d/d exponent")):
        numpy.testing.assert_array_equal(mine.numpy(), reference.numpy(), err_msg=what)
    # the PyTorch conventions by name: d/dx x^0 at 0 is 0, d/dy 0^y is 0 for y >= 0
    assert ours[0].numpy()[0] == 0 and ours[1].numpy()[:4].tolist() == [0, 0, 0, 0]


@pytest.mark.parity
@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0, 3.0, 0.5])
def test_pow_with_a_number_exponent_at_zero_follows_pytorch_to_second_order(torch, exponent):
    x = sg.Tensor(numpy.array([0.0, 0.5, 2.0]), requires_grad=True)
    t = torch.tensor([0.0, 0.5, 2.0], requires_grad=True)
    with numpy.errstate(divide="ignore", invalid="ignore"):
        (ours,) = sg.grad((x ** exponent).sum(), [x], create_graph=True)
        ours_second = sg.grad(ours.sum(), [x], allow_unused=True)[0] if ours.requires_grad else None
    (theirs,) = torch.autograd.grad((t ** exponent).sum(), [t], create_graph=True)
    numpy.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-14)  # inf at 0 for 0.5
    if theirs.requires_grad:
        (theirs_second,) = torch.autograd.grad(theirs.sum(), [t])
        numpy.testing.assert_allclose(ours_second.numpy(), theirs_second.numpy(), rtol=1e-14)
    else:  # x ** 0: a constant, its gradient a constant zero in both
        assert ours_second is None or not ours_second.numpy().any()


@pytest.mark.parity
def test_a_number_to_a_tensor_power_at_base_zero_follows_pytorch(torch):
    exponents = numpy.array([0.0, 1.0, 2.0])
    x = sg.Tensor(exponents.copy(), requires_grad=True)
    t = torch.tensor(exponents, requires_grad=True)
    (ours,) = sg.grad((0.0 ** x).sum(), [x])
    (theirs,) = torch.autograd.grad((0.0 ** t).sum(), [t])
    numpy.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert not ours.numpy().any()


def test_pow_second_derivatives_at_a_zero_base_are_the_limits_not_nan():
    """Where PyTorch's double backward returns nan (x = 0, y = 0, and d/dy of 0^y), scratchgan
    gives the derivative of the limit convention: the first derivative is 0 on a neighbourhood
    of those points along the masked direction, so its derivative is 0."""
    base, exponent = sg.Tensor(numpy.array([0.0, 0.0]), requires_grad=True), sg.Tensor(
        numpy.array([0.0, 2.0]), requires_grad=True)
    grad_base, grad_exponent = sg.grad((base ** exponent).sum(), [base, exponent], create_graph=True)
    for first in (grad_base, grad_exponent):
        second = sg.grad(first.sum(), [base, exponent], allow_unused=True)
        for gradient in second:
            assert gradient is None or numpy.isfinite(gradient.numpy()).all()


def test_pow_mixed_second_derivative_at_exponent_zero_is_the_true_one():
    """d^2 (a^b)/da db = a^(b-1) (1 + b log a): 1/a at b = 0, a != 0. PyTorch masks d/da wherever
    b = 0 and so returns 0 there; the finite differences side with 1/a."""
    base = sg.Tensor(numpy.array([1.0, 2.0, 0.5]), requires_grad=True)
    exponent = sg.Tensor(numpy.array([0.0, 0.0, 0.0]), requires_grad=True)
    (grad_base,) = sg.grad((base ** exponent).sum(), [base], create_graph=True)
    (mixed,) = sg.grad(grad_base.sum(), [exponent])
    numpy.testing.assert_allclose(mixed.numpy(), 1 / base.numpy(), rtol=1e-12)
    sg.gradgradcheck(sg.pow, (base, exponent))


# -- division by huge numbers ----------------------------------------------------------------------
@pytest.mark.parity
def test_the_logistic_written_as_a_quotient_has_pytorchs_derivatives_at_300(torch):
    """e^x / (1 + e^x) at x = 300: b^2 = e^600 overflows; (a / b) / b does not."""
    x = sg.Tensor(numpy.array(300.0), requires_grad=True)
    t = torch.tensor(300.0, requires_grad=True)
    e = x.exp()
    (first,) = sg.grad(e / (1 + e), [x], create_graph=True)
    (second,) = sg.grad(first, [x])
    te = t.exp()
    (t_first,) = torch.autograd.grad(te / (1 + te), [t], create_graph=True)
    (t_second,) = torch.autograd.grad(t_first, [t])
    assert float(first.numpy()) == float(t_first.detach()) and float(second.numpy()) == float(t_second) == 0.0


@pytest.mark.parity
def test_division_by_numbers_beyond_1e154_keeps_a_finite_gradient(torch):
    numerator, denominator = numpy.array([3.0, -2.0]), numpy.array([1e200, 4e160])
    a, b = sg.Tensor(numerator.copy(), requires_grad=True), sg.Tensor(denominator.copy(), requires_grad=True)
    ta, tb = torch.tensor(numerator, requires_grad=True), torch.tensor(denominator, requires_grad=True)
    ours = sg.grad((a / b).sum(), [a, b])
    theirs = torch.autograd.grad((ta / tb).sum(), [ta, tb])
    for mine, reference in zip(ours, theirs):
        assert numpy.isfinite(mine.numpy()).all()
        assert_parity(mine, reference, numpy.float64, "div gradient")


# -- 0-d tensors and empty axes ----------------------------------------------------------------------
@pytest.mark.parity
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, -1])
def test_softmax_of_a_0d_tensor_is_pytorchs(torch, name, dim):
    x = sg.Tensor(numpy.array(2.0), requires_grad=True)
    t = torch.tensor(2.0, requires_grad=True)
    ours = getattr(sg, name)(x, axis=dim)
    theirs = getattr(torch, name)(t, dim=dim)
    assert ours.shape == () and float(ours.numpy()) == float(theirs.detach())
    (grad,) = sg.grad(ours, [x])
    (t_grad,) = torch.autograd.grad(theirs, [t])
    assert float(grad.numpy()) == float(t_grad) == 0.0


@pytest.mark.parametrize("axis", [0, -1])
def test_squeezing_a_0d_tensor_returns_it(axis):
    x = sg.Tensor(numpy.array(2.0), requires_grad=True)
    squeezed = sg.squeeze(x, axis)
    assert squeezed.shape == () and float(squeezed.numpy()) == 2.0


def test_squeezing_a_0d_tensor_checks_the_axis():
    with pytest.raises(IndexError, match=r"squeeze: axis 1 is out of range for a 0-d tensor"):
        sg.squeeze(sg.Tensor(numpy.array(2.0)), 1)


@pytest.mark.parity
def test_the_mean_over_an_empty_axis_is_nan_as_in_pytorch(torch):
    empty = numpy.zeros((0, 3))
    with numpy.errstate(invalid="ignore"):
        ours = sg.mean(sg.Tensor(empty), axis=0)
    theirs = torch.tensor(empty).mean(dim=0)
    assert ours.shape == tuple(theirs.shape) and numpy.isnan(ours.numpy()).all() and theirs.isnan().all()
    x = sg.Tensor(empty.copy(), requires_grad=True)
    with numpy.errstate(invalid="ignore"):
        (gradient,) = sg.grad(sg.mean(x, axis=0).sum(), [x])
    assert gradient.shape == (0, 3)


# -- axis bounds -----------------------------------------------------------------------------------
def _vector():
    return sg.Tensor(numpy.zeros(3))


OUT_OF_RANGE = [
    ("stack", lambda: sg.stack([_vector(), _vector()], axis=77), r"stack: axis 77 .* \[-2, 1\]"),
    ("stack negative", lambda: sg.stack([_vector(), _vector()], axis=-3), r"stack: axis -3"),
    ("concatenate", lambda: sg.concatenate([_vector(), _vector()], axis=5), r"concatenate: axis 5 .* \[-1, 0\]"),
    ("unsqueeze", lambda: sg.unsqueeze(_vector(), 7), r"unsqueeze: axis 7 .* 1-d tensor .* \[-2, 1\]"),
    ("squeeze", lambda: sg.squeeze(sg.Tensor(numpy.zeros((1, 3))), 2), r"squeeze: axis 2"),
    ("transpose", lambda: sg.transpose(sg.Tensor(numpy.zeros((2, 3))), (0, 2)), r"transpose: axis 2"),
    ("swapaxes", lambda: sg.swapaxes(sg.Tensor(numpy.zeros((2, 3))), 0, -3), r"swapaxes: axis2 -3"),
    ("flatten", lambda: sg.flatten(sg.Tensor(numpy.zeros((2, 3))), 0, 2), r"flatten: end_dim 2"),
    ("softmax", lambda: sg.softmax(_vector(), axis=1), r"softmax: axis 1"),
    ("sum", lambda: sg.sum(_vector(), axis=-2), r"sum: axis -2"),
    ("unflatten", lambda: sg.nn.Unflatten(3, (3, 1))(_vector()), r"Unflatten: dim 3"),
]


@pytest.mark.parametrize("name,call,message", OUT_OF_RANGE, ids=[c[0] for c in OUT_OF_RANGE])
def test_an_axis_out_of_range_is_an_index_error_naming_the_range(name, call, message):
    with pytest.raises(IndexError, match=message) as raised:
        call()
    assert isinstance(raised.value, ValueError)  # also caught as scratchgan's argument errors


@pytest.mark.parity
@pytest.mark.parametrize("axis", [-2, -1, 0, 1])
def test_stack_and_unsqueeze_accept_every_axis_pytorch_accepts(torch, axis):
    vectors = [numpy.arange(3.0), numpy.arange(3.0) + 10]
    ours = sg.stack([sg.Tensor(v) for v in vectors], axis=axis)
    theirs = torch.stack([torch.tensor(v) for v in vectors], dim=axis)
    numpy.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert sg.unsqueeze(sg.Tensor(vectors[0]), axis).shape == tuple(torch.tensor(vectors[0]).unsqueeze(axis).shape)


def test_concatenating_0d_tensors_is_refused_in_one_line():
    with pytest.raises(ValueError, match="0-d tensors cannot be concatenated"):
        sg.concatenate([sg.Tensor(numpy.array(1.0)), sg.Tensor(numpy.array(2.0))])


def test_a_non_integer_axis_is_a_type_error():
    with pytest.raises(TypeError, match="unsqueeze: axis must be an int, got float"):
        sg.unsqueeze(_vector(), 1.0)


@pytest.mark.parity
@pytest.mark.parametrize("name", ["exp", "log", "log1p", "sqrt", "sigmoid", "tanh"])
def test_floating_functions_of_an_integer_tensor_give_the_default_float_dtype(torch32, name):
    ours = getattr(sg, name)(sg.Tensor(INT.copy()))
    theirs = getattr(torch32, name)(torch32.from_numpy(INT.copy())).numpy()
    assert ours.dtype == theirs.dtype == numpy.float32
    numpy.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-6)
