"""bmm, einsum, scaled dot-product attention and SelfAttention2d against PyTorch 2.13 (CPU).

Each case evaluates ours and torch's on the same arrays, backpropagates the same random
cotangent and compares the value and every input's gradient (float64 to 1e-10, float32 to
1e-5, dtypes asserted). Second order: the gradient of a random contraction of the first
gradients, built with ``create_graph=True`` on both sides. SelfAttention2d is compared with a
hand-written torch twin of the paper's formulas (PyTorch has no such layer), weights copied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy
import pytest

import scratchgan as sg
from parity import assert_parity, torch_dtype
from scratchgan.nn import functional as F

pytestmark = [pytest.mark.parity, pytest.mark.usefixtures("kernel_backend")]

DTYPES = pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32], ids=["float64", "float32"])


def normal(*shape, seed=0):
    return numpy.random.default_rng(seed).standard_normal(shape)


@dataclass(frozen=True)
class Case:
    name: str
    ours: Callable    # (*scratchgan Tensors) -> Tensor
    theirs: Callable  # (torch, *torch tensors) -> tensor
    inputs: Callable  # () -> list of float64 arrays, cast to the tested dtype


def _einsum_case(equation, *shapes):
    return Case(f"einsum {equation}", lambda *xs: sg.einsum(equation, *xs),
                lambda torch, *xs: torch.einsum(equation, *xs),
                lambda: [normal(*shape, seed=i) for i, shape in enumerate(shapes)])


def _attention_case(name, shapes, **options):
    mask = options.pop("mask", None)

    def ours(*xs):
        ours_mask = None if mask is None else sg.Tensor(mask if mask.dtype == bool else mask.astype(xs[0].dtype))
        return F.scaled_dot_product_attention(*xs, attn_mask=ours_mask, **options)

    def theirs(torch, *xs):
        torch_mask = None if mask is None else torch.tensor(mask)
        if torch_mask is not None and torch_mask.is_floating_point():
            torch_mask = torch_mask.to(xs[0].dtype)
        return torch.nn.functional.scaled_dot_product_attention(*xs, attn_mask=torch_mask, **options)

    return Case(f"sdpa {name}", ours, theirs, lambda: [normal(*shape, seed=i) for i, shape in enumerate(shapes)])


def _padding_mask():
    """Keys 3 and 4 are padding for the second sequence; query row 1 sees no key at all."""
    mask = numpy.ones((2, 1, 3, 5), dtype=bool)
    mask[1, :, :, 3:] = False
    mask[0, :, 1, :] = False
    return mask


def _float_bias():
    bias = normal(3, 5, seed=9)
    bias[2, 1] = -numpy.inf
    return bias


QKV = [(2, 3, 4), (2, 5, 4), (2, 5, 6)]
QKV_HEADS = [(2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 6)]

CASES = [
    Case("bmm", lambda a, b: sg.bmm(a, b), lambda torch, a, b: torch.bmm(a, b),
         lambda: [normal(3, 2, 4), normal(3, 4, 5, seed=1)]),
    _einsum_case("ij,jk->ik", (3, 4), (4, 2)),
    _einsum_case("bqd,bkd->bqk", (2, 3, 4), (2, 5, 4)),
    _einsum_case("bqk,bkd->bqd", (2, 3, 5), (2, 5, 4)),
    _einsum_case("bhqd,bhkd->bhqk", (2, 2, 3, 4), (2, 2, 5, 4)),
    _einsum_case("ni,ijk->njk", (4, 5), (5, 3, 2)),  # minibatch discrimination's x T
    _einsum_case("iij,jk", (3, 3, 2), (2, 4)),        # a diagonal, implicit output
    _einsum_case("ii->", (4, 4)),                      # a trace
    _einsum_case("ij->j", (3, 4)),                     # a sum
    _einsum_case("ij,kj,k->ik", (2, 3), (4, 3), (4,)),
    _einsum_case("...ij,...jk->...ik", (2, 1, 3, 4), (5, 4, 2)),
    _einsum_case("i...,...->", (4, 2, 3), (3,)),
    _einsum_case("ij,ij->ij", (2, 1), (2, 3)),         # a label of size 1 broadcast
    _attention_case("plain", QKV),
    _attention_case("heads, scale=0.3", QKV_HEADS, scale=0.3),
    _attention_case("causal", QKV, is_causal=True),
    _attention_case("causal, more queries than keys", [(2, 5, 4), (2, 3, 4), (2, 3, 6)], is_causal=True),
    _attention_case("boolean padding mask", QKV_HEADS, mask=_padding_mask()),
    _attention_case("float mask with -inf", QKV, mask=_float_bias()),
    _attention_case("broadcast batch axes", [(2, 2, 3, 4), (1, 2, 5, 4), (2, 1, 5, 6)]),
    _attention_case("grouped-query", [(2, 4, 3, 4), (2, 2, 5, 4), (2, 2, 5, 6)], enable_gqa=True),
    _attention_case("2-d", [(3, 4), (5, 4), (5, 6)]),
]


def _tensors(torch, case, dtype):
    arrays = [numpy.asarray(a, dtype=dtype) for a in case.inputs()]
    return ([sg.Tensor(a.copy(), requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


@DTYPES
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_value_and_gradients_match_torch(torch, case, dtype):
    ours_in, theirs_in = _tensors(torch, case, dtype)
    ours, theirs = case.ours(*ours_in), case.theirs(torch, *theirs_in)
    assert_parity(ours, theirs, dtype, f"{case.name} value")
    cotangent = normal(*theirs.shape, seed=100).astype(dtype)
    ours_grads = sg.grad(ours, ours_in, grad_outputs=sg.Tensor(cotangent))
    theirs_grads = torch.autograd.grad(theirs, theirs_in, grad_outputs=torch.tensor(cotangent))
    for position, (mine, reference) in enumerate(zip(ours_grads, theirs_grads)):
        assert_parity(mine, reference, dtype, f"{case.name} grad of input {position}")


# a one-operand einsum is linear: its second derivative is zero and torch's gradient has no graph
SECOND_ORDER = [case for case in CASES if len(case.inputs()) > 1]


@DTYPES
@pytest.mark.parametrize("case", SECOND_ORDER, ids=lambda case: case.name)
def test_gradient_of_a_first_order_gradient_matches_torch(torch, case, dtype):
    """d/d inputs of sum_k <w_k, (d<v, f>/d x_k)^2>: every mixed second derivative is reached."""
    ours_in, theirs_in = _tensors(torch, case, dtype)
    ours, theirs = case.ours(*ours_in), case.theirs(torch, *theirs_in)
    cotangent = normal(*theirs.shape, seed=100).astype(dtype)
    ours_first = sg.grad(ours, ours_in, grad_outputs=sg.Tensor(cotangent), create_graph=True)
    theirs_first = torch.autograd.grad(theirs, theirs_in, grad_outputs=torch.tensor(cotangent), create_graph=True)
    weights = [normal(*x.shape, seed=200 + i).astype(dtype) for i, x in enumerate(theirs_in)]
    ours_total = sum((g * g * sg.Tensor(w)).sum() for g, w in zip(ours_first, weights))
    theirs_total = sum((g * g * torch.tensor(w)).sum() for g, w in zip(theirs_first, weights))
    ours_second = sg.grad(ours_total, ours_in)
    theirs_second = torch.autograd.grad(theirs_total, theirs_in)
    for position, (mine, reference) in enumerate(zip(ours_second, theirs_second)):
        assert_parity(mine, reference, dtype, f"{case.name} second order, input {position}")


# -- SelfAttention2d against a torch twin of the paper's formulas --------------------------------
def torch_self_attention2d(torch, in_channels, key_channels, value_channels):
    """Section 3 of Zhang et al. (2019) written out: s_ij = f(x_i)^T g(x_j), beta_{j,i} = softmax
    over i, o_j = (v of) sum_i beta_{j,i} h(x_i), y = gamma o + x."""

    class TorchSelfAttention2d(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gamma = torch.nn.Parameter(torch.zeros(1))
            self.f = torch.nn.Conv2d(in_channels, key_channels, 1, bias=False)
            self.g = torch.nn.Conv2d(in_channels, key_channels, 1, bias=False)
            self.h = torch.nn.Conv2d(in_channels, value_channels or in_channels, 1, bias=False)
            self.v = torch.nn.Conv2d(value_channels, in_channels, 1, bias=False) if value_channels else None

        def forward(self, x):
            batch, _, height, width = x.shape
            f, g, h = self.f(x).flatten(2), self.g(x).flatten(2), self.h(x).flatten(2)  # (B, C', N)
            beta = torch.softmax(torch.bmm(f.transpose(1, 2), g), dim=1)  # [b, i, j] = beta_{j,i}
            out = torch.bmm(h, beta).reshape(batch, -1, height, width)
            return self.gamma * (out if self.v is None else self.v(out)) + x

    return TorchSelfAttention2d()


def _self_attention_twins(torch, dtype, value_channels):
    theirs = torch_self_attention2d(torch, 8, 2, value_channels).to(torch_dtype(torch, dtype))
    with torch.no_grad():
        theirs.gamma.fill_(0.7)  # at gamma = 0 the block is the identity and f, g, h get no gradient
    ours = sg.nn.SelfAttention2d(8, 2, value_channels).to(dtype=dtype)
    ours.load_state_dict({name: value.detach().numpy() for name, value in theirs.state_dict().items()})
    return ours, theirs


@DTYPES
@pytest.mark.parametrize("value_channels", [None, 4], ids=["value C", "value C/2 and v"])
def test_self_attention2d_matches_a_torch_twin_with_the_same_weights(torch, dtype, value_channels):
    ours, theirs = _self_attention_twins(torch, dtype, value_channels)
    x = normal(2, 8, 3, 2).astype(dtype)
    ours_x, theirs_x = sg.Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    ours_out, theirs_out = ours(ours_x), theirs(theirs_x)
    assert_parity(ours_out, theirs_out, dtype, "output")
    cotangent = normal(*x.shape, seed=100).astype(dtype)
    ours_out.backward(sg.Tensor(cotangent))
    theirs_out.backward(torch.tensor(cotangent))
    assert_parity(ours_x.grad, theirs_x.grad, dtype, "grad input")
    ours_params = dict(ours.named_parameters())
    assert set(ours_params) == {name for name, _ in theirs.named_parameters()}
    for name, param in theirs.named_parameters():
        assert_parity(ours_params[name].grad, param.grad, dtype, f"grad {name}")


@DTYPES
def test_self_attention2d_gradient_penalty_matches_the_torch_twin(torch, dtype):
    """R1-style ||d<v, y>/dx||^2 differentiated with respect to the block's weights."""
    ours, theirs = _self_attention_twins(torch, dtype, 4)
    x = normal(2, 8, 2, 3).astype(dtype)
    cotangent = normal(*x.shape, seed=100).astype(dtype)
    ours_x, theirs_x = sg.Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    (ours_gx,) = sg.grad(ours(ours_x), ours_x, grad_outputs=sg.Tensor(cotangent), create_graph=True)
    (theirs_gx,) = torch.autograd.grad(theirs(theirs_x), theirs_x, grad_outputs=torch.tensor(cotangent),
                                       create_graph=True)
    ours_params = dict(ours.named_parameters())
    names = [name for name, _ in theirs.named_parameters()]
    ours_second = sg.grad((ours_gx * ours_gx).sum(), [ours_params[name] for name in names])
    theirs_second = torch.autograd.grad((theirs_gx * theirs_gx).sum(), list(theirs.parameters()))
    for name, mine, reference in zip(names, ours_second, theirs_second):
        assert_parity(mine, reference, dtype, f"second order, {name}")
