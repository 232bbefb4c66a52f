"""std, prod, cumsum, argmax/argmin and the indexing ops against PyTorch 2.13 (CPU).

Every differentiable case compares the value and the gradient of each input under the
same random cotangent, in float64 (to 1e-10) and float32 (to 1e-5), dtypes asserted; the
second-order cases compare the gradient of a random contraction of the first gradient,
``sg.grad(..., create_graph=True)`` against ``torch.autograd.grad(..., create_graph=True)``.
The edges are tested on purpose: prod with 0, 1 and 2 zeros in a slice, std of a constant
slice (PyTorch's gradient 0), ties and NaNs in argmax/argmin, repeated gather indices,
negative shifts and repeated axes of roll. Bad arguments raise one clear error where
PyTorch raises too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy
import pytest

import scratchgan as sg
from parity import assert_parity
from scratchgan.nn import functional as F

pytestmark = [pytest.mark.parity, pytest.mark.usefixtures("kernel_backend")]

DTYPES = (numpy.float64, numpy.float32)
DTYPE_IDS = ["float64", "float32"]


def normal(*shape, seed=0):
    return numpy.random.default_rng(seed).standard_normal(shape)


@dataclass(frozen=True)
class Case:
    name: str
    ours: Callable       # (*scratchgan Tensors) -> Tensor
    theirs: Callable     # (torch, *torch tensors) -> tensor
    inputs: Callable     # () -> list of float64 arrays (cast to the tested dtype)


def compare(torch, ours, theirs, arrays, dtype, what):
    """ours(*Tensors) against theirs(torch, *tensors): the value and every input's gradient."""
    arrays = [numpy.asarray(a, dtype=dtype) for a in arrays]
    sg_inputs = [sg.Tensor(a.copy(), requires_grad=True) for a in arrays]
    torch_inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    sg_out, torch_out = ours(*sg_inputs), theirs(torch, *torch_inputs)
    assert_parity(sg_out, torch_out, dtype, f"{what} value")
    cotangent = numpy.random.default_rng(100).standard_normal(tuple(torch_out.shape)).astype(dtype)
    sg_grads = sg.grad(sg_out, sg_inputs, grad_outputs=sg.Tensor(cotangent))
    torch_grads = torch.autograd.grad(torch_out, torch_inputs, grad_outputs=torch.tensor(cotangent))
    for position, (mine, reference) in enumerate(zip(sg_grads, torch_grads)):
        assert_parity(mine, reference, dtype, f"{what} grad of input {position}")


def with_zeros(shape, zeros_per_row, seed=0):
    """Rows along the last axis with the given numbers of exact zeros (row r: zeros_per_row[r % k])."""
    x = normal(*shape, seed=seed)
    rows = x.reshape(-1, shape[-1])
    for r, row in enumerate(rows):
        count = zeros_per_row[r % len(zeros_per_row)]
        row[numpy.random.default_rng(seed + r).permutation(shape[-1])[:count]] = 0.0
    return rows.reshape(shape)


def _with_a_constant_row():
    x = normal(3, 4)
    x[1] = 0.7  # std 0: PyTorch's gradient there is 0, not 0/0
    return [x]


GATHER_ROWS = numpy.array([[0, 0, 3], [1, 1, 1], [2, 0, 2]])  # repeated indices add their gradients
GATHER_DEEP = numpy.random.default_rng(5).integers(0, 4, size=(2, 3, 6))

CASES = [
    Case("std all (ddof=1, torch's default correction)", lambda x: sg.std(x, ddof=1), lambda torch, x: x.std(),
         lambda: [normal(4, 5)]),
    Case("std dim=1 ddof=0", lambda x: x.std(axis=1), lambda torch, x: x.std(dim=1, correction=0),
         lambda: [normal(4, 5)]),
    Case("std dims (0, 2) keepdims ddof=1", lambda x: sg.std(x, axis=(0, -1), keepdims=True, ddof=1),
         lambda torch, x: torch.std(x, dim=(0, 2), keepdim=True), lambda: [normal(3, 4, 5)]),
    Case("std with a constant row", lambda x: sg.std(x, axis=-1, ddof=1), lambda torch, x: x.std(dim=-1),
         _with_a_constant_row),
    Case("prod all, no zeros", lambda x: sg.prod(x), lambda torch, x: x.prod(), lambda: [normal(3, 4) + 2.0]),
    Case("prod all, one zero", lambda x: sg.prod(x), lambda torch, x: x.prod(),
         lambda: [with_zeros((12,), [1]).reshape(3, 4)]),
    Case("prod all, two zeros", lambda x: sg.prod(x), lambda torch, x: x.prod(),
         lambda: [with_zeros((12,), [2]).reshape(3, 4)]),
    Case("prod dim=1, rows with 0, 1 and 2 zeros", lambda x: x.prod(axis=1), lambda torch, x: x.prod(dim=1),
         lambda: [with_zeros((6, 5), [0, 1, 2])]),
    Case("prod dim=-2 keepdims with zeros", lambda x: sg.prod(x, axis=-2, keepdims=True),
         lambda torch, x: x.prod(dim=-2, keepdim=True),
         lambda: [with_zeros((2, 5, 3), [0, 1, 2]).swapaxes(-1, -2).copy()]),
    Case("cumsum dim=0", lambda x: sg.cumsum(x, 0), lambda torch, x: x.cumsum(0), lambda: [normal(4, 3)]),
    Case("cumsum dim=-1", lambda x: x.cumsum(-1), lambda torch, x: torch.cumsum(x, dim=-1),
         lambda: [normal(2, 3, 5)]),
    Case("gather dim=1 repeated indices", lambda x: x.gather(1, GATHER_ROWS),
         lambda torch, x: x.gather(1, torch.tensor(GATHER_ROWS)), lambda: [normal(3, 4)]),
    Case("gather dim=0 smaller index", lambda x: sg.gather(x, 0, GATHER_ROWS[:2, :2] % 3),
         lambda torch, x: torch.gather(x, 0, torch.tensor(GATHER_ROWS[:2, :2] % 3)), lambda: [normal(3, 4)]),
    Case("gather dim=-1 3-d, longer than x", lambda x: sg.gather(x, -1, GATHER_DEEP),
         lambda torch, x: torch.gather(x, -1, torch.tensor(GATHER_DEEP)), lambda: [normal(2, 3, 4)]),
    Case("flip dims (0, 2)", lambda x: sg.flip(x, (0, 2)), lambda torch, x: x.flip((0, 2)),
         lambda: [normal(2, 3, 4)]),
    Case("flip -1 as varargs", lambda x: x.flip(-1, 0), lambda torch, x: x.flip(-1, 0), lambda: [normal(3, 4)]),
    Case("roll -2 along 1", lambda x: sg.roll(x, -2, 1), lambda torch, x: torch.roll(x, -2, 1),
         lambda: [normal(3, 5)]),
    Case("roll (1, -7) along (0, -1)", lambda x: x.roll((1, -7), (0, -1)),
         lambda torch, x: x.roll((1, -7), (0, -1)), lambda: [normal(3, 4, 5)]),
    Case("roll of the flattened tensor", lambda x: sg.roll(x, -5), lambda torch, x: torch.roll(x, -5),
         lambda: [normal(3, 4)]),
    Case("roll a repeated axis", lambda x: sg.roll(x, (1, 2), (1, -1)), lambda torch, x: torch.roll(x, (1, 2), (1, -1)),
         lambda: [normal(3, 4)]),
    Case("repeat with a leading size", lambda x: x.repeat(2, 1, 3), lambda torch, x: x.repeat(2, 1, 3),
         lambda: [normal(3, 2)]),
    Case("repeat a tuple with a zero", lambda x: sg.repeat(x, (2, 0)), lambda torch, x: x.repeat((2, 0)),
         lambda: [normal(3, 2)]),
    Case("tril batched", lambda x: sg.tril(x), lambda torch, x: torch.tril(x), lambda: [normal(2, 3, 4)]),
    Case("tril diagonal=1", lambda x: x.tril(1), lambda torch, x: x.tril(1), lambda: [normal(4, 3)]),
    Case("triu diagonal=-1", lambda x: sg.triu(x, -1), lambda torch, x: torch.triu(x, -1), lambda: [normal(3, 4)]),
    Case("triu diagonal=2 batched", lambda x: x.triu(2), lambda torch, x: x.triu(2), lambda: [normal(2, 4, 5)]),
]


def _second_order(case: Case) -> Case:
    """<g, u> + <g * g, x> with g = d<v, f(x)>/dx: its gradient holds the Hessian of <v, f> times
    u and 2 x g (a linear op's Hessian is 0; the second term keeps x in the graph)."""

    def ours(x):
        y = case.ours(x)
        v = sg.Tensor(numpy.random.default_rng(7).standard_normal(y.shape).astype(x.dtype))
        (gx,) = sg.grad(y, x, grad_outputs=v, create_graph=True)
        u = sg.Tensor(numpy.random.default_rng(8).standard_normal(x.shape).astype(x.dtype))
        return (gx * u).sum() + (gx * gx * x).sum()

    def theirs(torch, x):
        y = case.theirs(torch, x)
        dtype = x.detach().numpy().dtype
        v = torch.tensor(numpy.random.default_rng(7).standard_normal(tuple(y.shape)).astype(dtype))
        (gx,) = torch.autograd.grad(y, x, grad_outputs=v, create_graph=True)
        u = torch.tensor(numpy.random.default_rng(8).standard_normal(tuple(x.shape)).astype(dtype))
        return (gx * u).sum() + (gx * gx * x).sum()

    return Case(f"second order of {case.name}", ours, theirs, case.inputs)


SECOND_ORDER_CASES = [_second_order(case) for case in CASES]


def _case_id(case):
    return case.name


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_value_and_gradients_match_torch(torch, case, dtype):
    compare(torch, case.ours, case.theirs, case.inputs(), dtype, case.name)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", SECOND_ORDER_CASES, ids=_case_id)
def test_gradient_of_a_first_order_gradient_matches_torch_create_graph(torch, case, dtype):
    compare(torch, case.ours, case.theirs, case.inputs(), dtype, case.name)


@pytest.mark.parametrize("zeros", [0, 1, 2, 3])
def test_prod_hessian_with_zeros_is_torchs_double_backward(torch, zeros):
    """d^2 prod/dx_i dx_j = prod of all elements but i and j, zeros included: the full Hessian."""
    x = with_zeros((5,), [zeros], seed=3) + 0.0
    sg_x, torch_x = sg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (sg_g,) = sg.grad(sg.prod(sg_x), sg_x, create_graph=True)
    (torch_g,) = torch.autograd.grad(torch_x.prod(), torch_x, create_graph=True)
    for i in range(5):
        (sg_row,) = sg.grad(sg_g[i], sg_x, retain_graph=True)
        (torch_row,) = torch.autograd.grad(torch_g[i], torch_x, retain_graph=True)
        assert_parity(sg_row, torch_row, numpy.float64, f"Hessian row {i} with {zeros} zeros")


# -- argmax, argmin --------------------------------------------------------------------------
def _ties():
    x = numpy.round(normal(3, 4, 5), 0)  # integers: ties everywhere
    x[0, 0, :3] = x.max() + 1.0           # a three-way tie at the top
    x[1, 2, 2:] = x.min() - 1.0           # and at the bottom
    return x


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, -3])
@pytest.mark.parametrize("keepdims", [False, True], ids=["", "keepdims"])
def test_argmax_and_argmin_take_the_first_of_tied_elements_as_torch(torch, op, axis, keepdims):
    x = _ties()
    ours = getattr(sg, op)(sg.Tensor(x, requires_grad=True), axis=axis, keepdims=keepdims)
    theirs = getattr(torch, op)(torch.tensor(x), dim=axis, keepdim=keepdims)
    assert ours.dtype == numpy.int64 and not ours.requires_grad
    numpy.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert ours.shape == tuple(theirs.shape)


@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_and_argmin_of_nans_and_integers_as_torch(torch, op):
    x = numpy.array([[1.0, numpy.nan, 3.0, numpy.nan], [2.0, 2.0, -1.0, -1.0]], dtype=numpy.float32)
    for data in (x, numpy.array([[3, 7, 7, -2], [0, 0, 5, 5]], dtype=numpy.int32)):
        for axis in (None, 1):
            ours = getattr(sg.Tensor(data), op)(axis)
            theirs = getattr(torch.tensor(data), op)(axis)
            numpy.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert sg.argmax(sg.Tensor(numpy.float32(3.0)), axis=0).numpy() == 0


# -- integer and float32 dtypes ----------------------------------------------------------------
@pytest.mark.parametrize("dtype", [numpy.int32, numpy.int64, numpy.bool_, numpy.float32])
def test_prod_and_cumsum_dtypes_are_torchs(torch, dtype):
    data = (numpy.arange(1, 7).reshape(2, 3) % 3).astype(dtype)
    for ours, theirs in ((sg.prod(sg.Tensor(data)), torch.prod(torch.tensor(data))),
                         (sg.prod(sg.Tensor(data), axis=1), torch.prod(torch.tensor(data), dim=1)),
                         (sg.cumsum(sg.Tensor(data), 1), torch.cumsum(torch.tensor(data), 1))):
        expected = theirs.numpy()
        assert ours.dtype == expected.dtype
        numpy.testing.assert_array_equal(ours.numpy(), expected)


def test_std_of_float32_stays_float32():
    x = sg.Tensor(normal(3, 4).astype(numpy.float32), requires_grad=True)
    y = x.std(axis=0, ddof=1)
    (g,) = sg.grad(y.sum(), x)
    assert y.dtype == numpy.float32 and g.dtype == numpy.float32


# -- one_hot ---------------------------------------------------------------------------------
@pytest.mark.parametrize("num_classes", [-1, 4, 7])
def test_one_hot_is_torchs_int64_one_hot(torch, num_classes):
    labels = numpy.array([[0, 3, 1], [3, 3, 2]])
    ours = F.one_hot(sg.Tensor(labels), num_classes)
    theirs = torch.nn.functional.one_hot(torch.tensor(labels), num_classes)
    assert ours.dtype == numpy.int64 and ours.shape == tuple(theirs.shape)
    numpy.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_one_hot_of_empty_labels_with_num_classes_is_empty(torch):
    ours = sg.one_hot(numpy.zeros((2, 0), dtype=numpy.int64), 3)
    assert ours.shape == tuple(torch.nn.functional.one_hot(torch.zeros(2, 0, dtype=torch.long), 3).shape)


# -- errors: where PyTorch raises, scratchgan raises one clear error -----------------------------
X = normal(3, 4)
INDEX = numpy.array([[0, 1], [2, 0]])

ERROR_CASES = [
    ("one_hot negative", lambda sg_x: sg.one_hot([0, -1, 2]),
     lambda torch, x: torch.nn.functional.one_hot(torch.tensor([0, -1, 2])), ValueError, "non-negative"),
    ("one_hot too large", lambda sg_x: F.one_hot(sg.Tensor([0, 3]), 3),
     lambda torch, x: torch.nn.functional.one_hot(torch.tensor([0, 3]), 3), ValueError, "smaller than num_classes=3"),
    ("one_hot of floats", lambda sg_x: sg.one_hot(sg_x),
     lambda torch, x: torch.nn.functional.one_hot(x), TypeError, "integer class indices"),
    ("one_hot of empty labels without num_classes", lambda sg_x: sg.one_hot(numpy.zeros(0, dtype=int)),
     lambda torch, x: torch.nn.functional.one_hot(torch.zeros(0, dtype=torch.long)), ValueError, "cannot infer"),
    ("gather index ndim", lambda sg_x: sg.gather(sg_x, 0, INDEX[0]),
     lambda torch, x: torch.gather(x, 0, torch.tensor(INDEX[0])), ValueError, "as many dimensions"),
    ("gather index too wide", lambda sg_x: sg.gather(sg_x, 0, numpy.zeros((1, 5), dtype=int)),
     lambda torch, x: torch.gather(x, 0, torch.zeros(1, 5, dtype=torch.long)), ValueError, "larger than x"),
    ("gather index out of bounds", lambda sg_x: sg.gather(sg_x, 0, INDEX + 1),
     lambda torch, x: torch.gather(x, 0, torch.tensor(INDEX + 1)), IndexError, "index 3 is out of bounds"),
    ("gather negative index", lambda sg_x: sg.gather(sg_x, 1, -INDEX),
     lambda torch, x: torch.gather(x, 1, torch.tensor(-INDEX)), IndexError, "index -2 is out of bounds"),
    ("gather float index", lambda sg_x: sg.gather(sg_x, 1, INDEX * 1.0),
     lambda torch, x: torch.gather(x, 1, torch.tensor(INDEX * 1.0)), TypeError, "must hold integers"),
    ("gather axis out of range", lambda sg_x: sg.gather(sg_x, 2, INDEX),
     lambda torch, x: torch.gather(x, 2, torch.tensor(INDEX)), IndexError, "out of range"),
    ("flip repeated axis", lambda sg_x: sg.flip(sg_x, (0, -2)),
     lambda torch, x: torch.flip(x, (0, -2)), ValueError, "repeated axis"),
    ("flip axis out of range", lambda sg_x: sg_x.flip(2),
     lambda torch, x: x.flip(2), IndexError, "out of range"),
    ("roll shifts without axes", lambda sg_x: sg.roll(sg_x, (1, 2)),
     lambda torch, x: torch.roll(x, (1, 2)), ValueError, "one shift"),
    ("roll shifts and axes differ", lambda sg_x: sg.roll(sg_x, (1, 2), (0,)),
     lambda torch, x: torch.roll(x, (1, 2), (0,)), ValueError, "one shift per axis"),
    ("roll axis out of range", lambda sg_x: sg.roll(sg_x, 1, 2),
     lambda torch, x: torch.roll(x, 1, 2), IndexError, "out of range"),
    ("roll a 0-d tensor along an axis", lambda sg_x: sg.roll(sg_x.sum(), 1, 0),
     lambda torch, x: torch.roll(x.sum(), 1, 0), IndexError, "0-d tensor"),
    ("repeat fewer sizes than axes", lambda sg_x: sg_x.repeat(2),
     lambda torch, x: x.repeat(2), ValueError, "at least one size per axis"),
    ("repeat negative size", lambda sg_x: sg_x.repeat(-1, 2),
     lambda torch, x: x.repeat(-1, 2), ValueError, "non-negative"),
    ("repeat without sizes", lambda sg_x: sg_x.repeat(),
     lambda torch, x: x.repeat(), TypeError, "expected the repeat counts"),
    ("tril of a 1-d tensor", lambda sg_x: sg.tril(sg_x[0]),
     lambda torch, x: torch.tril(x[0]), ValueError, "at least 2 dimensions"),
    ("triu float diagonal", lambda sg_x: sg.triu(sg_x, 1.5),
     lambda torch, x: torch.triu(x, 1.5), TypeError, "diagonal must be an int"),
    ("cumsum axis out of range", lambda sg_x: sg.cumsum(sg_x, -3),
     lambda torch, x: torch.cumsum(x, -3), IndexError, "out of range"),
    ("prod axis out of range", lambda sg_x: sg.prod(sg_x, 2),
     lambda torch, x: torch.prod(x, 2), IndexError, "out of range"),
    ("argmax of an empty tensor", lambda sg_x: sg.argmax(sg_x[:0]),
     lambda torch, x: torch.argmax(x[:0]), IndexError, "empty tensor"),
    ("argmin along an empty axis", lambda sg_x: sg.argmin(sg_x[:0], axis=0),
     lambda torch, x: torch.argmin(x[:0], dim=0), IndexError, "is empty"),
    ("argmax of bools", lambda sg_x: sg.argmax(sg_x > 0),
     lambda torch, x: torch.argmax(x > 0), TypeError, "bool input"),
    ("std of integers", lambda sg_x: sg.std(sg.Tensor(INDEX)),
     lambda torch, x: torch.std(torch.tensor(INDEX)), TypeError, "floating-point"),
]


@pytest.mark.parametrize("case", ERROR_CASES, ids=[case[0] for case in ERROR_CASES])
def test_a_bad_argument_raises_one_clear_error_where_torch_raises(torch, case):
    _, ours, theirs, error, match = case
    with pytest.raises((RuntimeError, TypeError, IndexError, ValueError)):
        theirs(torch, torch.tensor(X))
    with pytest.raises(error, match=match):
        ours(sg.Tensor(X))
