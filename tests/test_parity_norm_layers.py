"""Layer, group and instance norm against PyTorch 2.13 (CPU): functional forms and layers.

Values, first-order gradients (a random cotangent) and second-order gradients (the
gradient of a random contraction of the first gradients, built with create_graph=True
in both) are compared with dtypes asserted, float64 to 1e-10 and float32 to 1e-5
(tests/parity.py). Layers are built by the same call in ``torch.nn`` and ``scratchgan.nn``
and the torch module's state dict is loaded into the scratchgan twin. Instance norm's
running statistics are compared after three training steps, and evaluation mode after
them. Bad arguments give one clear error where PyTorch also refuses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy
import pytest

import scratchgan as sg
from parity import assert_parity, to_numpy, torch_dtype

# every test here runs on each CPU kernel set (tests/conftest.py)
pytestmark = [pytest.mark.parity, pytest.mark.usefixtures("kernel_backend")]

DTYPES = (numpy.float64, numpy.float32)
DTYPE_IDS = ["float64", "float32"]


def _rng(seed):
    return numpy.random.default_rng(seed)


# -- functional forms ---------------------------------------------------------------------------
@dataclass(frozen=True)
class FunctionalCase:
    name: str
    call: Callable         # (F, x, weight, bias, constants) -> output; F is either framework's functional
    x_shape: tuple
    affine_shape: tuple = None  # weight and bias of this shape (None: no affine)
    constants: Callable = None  # (rng) -> list of float64 arrays passed as non-differentiable tensors


def _running_statistics(channels):
    return lambda rng: [rng.normal(0.0, 0.5, channels), rng.uniform(0.5, 1.5, channels)]


FUNCTIONAL_CASES = [
    FunctionalCase("layer_norm over the last axis", lambda F, x, w, b, c: F.layer_norm(x, (5,), w, b),
                   (3, 5), (5,)),
    FunctionalCase("layer_norm over the last two axes", lambda F, x, w, b, c: F.layer_norm(x, (3, 4), w, b),
                   (2, 3, 4), (3, 4)),
    FunctionalCase("layer_norm over (C, H, W)", lambda F, x, w, b, c: F.layer_norm(x, (2, 3, 3), w, b),
                   (2, 2, 3, 3), (2, 3, 3)),
    FunctionalCase("layer_norm without affine", lambda F, x, w, b, c: F.layer_norm(x, [4], eps=1e-3),
                   (2, 3, 4)),
    FunctionalCase("group_norm, 3 groups of 2 channels", lambda F, x, w, b, c: F.group_norm(x, 3, w, b),
                   (2, 6, 3, 3), (6,)),
    FunctionalCase("group_norm, 1 group, no affine", lambda F, x, w, b, c: F.group_norm(x, 1),
                   (2, 4, 5)),
    FunctionalCase("group_norm, a group per channel", lambda F, x, w, b, c: F.group_norm(x, 4, w, b),
                   (3, 4, 2, 2), (4,)),
    FunctionalCase("group_norm of (N, C)", lambda F, x, w, b, c: F.group_norm(x, 2, w, b, eps=1e-3),
                   (3, 8), (8,)),  # (groups of 2 values: float32 loses 1e-5 there, in torch more than here)
    FunctionalCase("instance_norm of (N, C, H, W)",
                   lambda F, x, w, b, c: F.instance_norm(x, weight=w, bias=b), (2, 3, 4, 4), (3,)),
    FunctionalCase("instance_norm of (N, C, L), no affine", lambda F, x, w, b, c: F.instance_norm(x),
                   (3, 2, 5)),
    FunctionalCase("instance_norm with running statistics (use_input_stats=False)",
                   lambda F, x, w, b, c: F.instance_norm(x, c[0], c[1], w, b, use_input_stats=False),
                   (2, 3, 2, 2), (3,), _running_statistics(3)),
]


def functional_inputs(case, seed=0):
    """float64 arrays: x (a per-row offset and scale: not already normalised), weight, bias, constants."""
    rng = _rng(seed)
    x = 1.5 * rng.standard_normal(case.x_shape) + rng.standard_normal(case.x_shape[:1] + (1,) * (len(case.x_shape) - 1))
    affine = [] if case.affine_shape is None else [rng.uniform(0.5, 1.5, case.affine_shape),
                                                    rng.normal(0.0, 0.5, case.affine_shape)]
    constants = case.constants(rng) if case.constants else []
    return x, affine, constants


def functional_parity_pairs(torch, case, dtype, seed=0):
    """[(quantity, ours, theirs)]: the value, each input's first-order gradient, and the
    gradients of <u, first-order gradients> in x and weight (bias's gradient is constant)."""
    x, affine, constants = functional_inputs(case, seed)
    rng = _rng(seed + 100)
    arrays = [a.astype(dtype) for a in [x] + affine]
    frameworks = {
        "ours": (sg.nn.functional, lambda a, grad: sg.Tensor(a.copy(), requires_grad=grad)),
        "theirs": (torch.nn.functional, lambda a, grad: torch.tensor(a, requires_grad=grad)),
    }
    cotangent = direction = None
    results = {}
    for who, (functional, make) in frameworks.items():
        inputs = [make(a, True) for a in arrays]
        fixed = [make(c.astype(dtype), False) for c in constants]
        weight, bias = (inputs[1], inputs[2]) if affine else (None, None)
        out = case.call(functional, inputs[0], weight, bias, fixed)
        if cotangent is None:
            cotangent = rng.standard_normal(tuple(out.shape)).astype(dtype)
            direction = [rng.standard_normal(a.shape).astype(dtype) for a in arrays]
        results[who] = _first_and_second_order(who, torch, out, inputs, cotangent, direction, make)
    names = ["x", "weight", "bias"][:len(arrays)]
    pairs = [("value", results["ours"][0], results["theirs"][0])]
    pairs += [(f"grad {n}", o, t) for n, o, t in zip(names, results["ours"][1], results["theirs"][1])]
    pairs += [(f"second order {n}", o, t) for n, o, t in zip(names[:2], results["ours"][2], results["theirs"][2])]
    return pairs


def _first_and_second_order(who, torch, out, inputs, cotangent, direction, make):
    """(out, d<v, out>/d inputs, d<u, d<v, out>/d inputs>/d (x, weight)) in one framework."""
    grad = sg.grad if who == "ours" else torch.autograd.grad
    v = make(cotangent, False)
    firsts = grad(out, inputs, grad_outputs=v, create_graph=True)
    contraction = sum((g * make(u, False)).sum() for g, u in zip(firsts, direction))
    seconds = grad(contraction, inputs[:2])
    return out, firsts, seconds


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", FUNCTIONAL_CASES, ids=[c.name for c in FUNCTIONAL_CASES])
def test_functional_value_first_and_second_order_gradients_match_torch(torch, case, dtype):
    for what, ours, theirs in functional_parity_pairs(torch, case, dtype):
        assert_parity(ours, theirs, dtype, f"{case.name}: {what}")


# -- layers -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerCase:
    name: str
    build: Callable  # nn namespace (torch.nn or scratchgan.nn) -> module
    input_shape: tuple


LAYER_CASES = [
    LayerCase("LayerNorm(5)", lambda nn: nn.LayerNorm(5), (4, 5)),
    LayerCase("LayerNorm((3, 4))", lambda nn: nn.LayerNorm((3, 4)), (2, 3, 4)),
    LayerCase("LayerNorm(4, bias=False)", lambda nn: nn.LayerNorm(4, bias=False), (2, 3, 4)),
    LayerCase("LayerNorm(4, elementwise_affine=False)", lambda nn: nn.LayerNorm([4], elementwise_affine=False),
              (3, 4)),
    LayerCase("GroupNorm(2, 4)", lambda nn: nn.GroupNorm(2, 4), (3, 4, 3, 3)),
    LayerCase("GroupNorm(3, 6, affine=False)", lambda nn: nn.GroupNorm(3, 6, affine=False), (2, 6, 5)),
    LayerCase("GroupNorm(1, 4, eps=1e-3) of (N, C)", lambda nn: nn.GroupNorm(1, 4, eps=1e-3), (2, 4)),
    LayerCase("InstanceNorm2d(3, affine=True)", lambda nn: nn.InstanceNorm2d(3, affine=True), (2, 3, 4, 4)),
    LayerCase("InstanceNorm2d(3)", lambda nn: nn.InstanceNorm2d(3), (2, 3, 4, 4)),
    LayerCase("InstanceNorm2d(3, affine=True) unbatched", lambda nn: nn.InstanceNorm2d(3, affine=True),
              (3, 4, 4)),
    LayerCase("InstanceNorm1d(4, affine=True)", lambda nn: nn.InstanceNorm1d(4, affine=True), (2, 4, 5)),
    LayerCase("InstanceNorm1d(4) unbatched", lambda nn: nn.InstanceNorm1d(4), (4, 5)),
]


def make_twins(torch, build, dtype):
    """(torch module, scratchgan module): same call, torch's random affine loaded into ours."""
    torch_module = build(torch.nn).to(torch_dtype(torch, dtype))
    with torch.no_grad():
        for name, parameter in torch_module.named_parameters():
            parameter.uniform_(0.5, 1.5) if name.endswith("weight") else parameter.uniform_(-0.5, 0.5)
    sg_module = build(sg.nn).to(dtype=dtype)
    sg_module.load_state_dict({k: v.detach().numpy() for k, v in torch_module.state_dict().items()})
    return torch_module, sg_module


def forward_backward_pairs(torch, torch_module, sg_module, x, cotangent):
    """[(quantity, ours, theirs)]: the output, the input's gradient, each parameter's gradient."""
    torch_x, sg_x = torch.tensor(x, requires_grad=True), sg.Tensor(x.copy(), requires_grad=True)
    torch_module.zero_grad()
    sg_module.zero_grad()
    torch_out, sg_out = torch_module(torch_x), sg_module(sg_x)
    torch_out.backward(torch.tensor(cotangent))
    sg_out.backward(sg.Tensor(cotangent))
    pairs = [("output", sg_out, torch_out), ("grad input", sg_x.grad, torch_x.grad)]
    sg_params = dict(sg_module.named_parameters())
    assert list(sg_params) == [name for name, _ in torch_module.named_parameters()], "parameter names differ"
    pairs += [(f"grad {name}", sg_params[name].grad, p.grad) for name, p in torch_module.named_parameters()]
    return pairs


def _input_and_cotangent(shape, dtype, rng):
    x = 2.0 * rng.standard_normal(shape) + 0.5
    return x.astype(dtype), rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", LAYER_CASES, ids=[c.name for c in LAYER_CASES])
def test_layer_output_and_gradients_match_torch(torch, case, dtype):
    twins = make_twins(torch, case.build, dtype)
    x, cotangent = _input_and_cotangent(case.input_shape, dtype, _rng(1))
    for what, ours, theirs in forward_backward_pairs(torch, *twins, x, cotangent):
        assert ours is not None, f"{case.name}: scratchgan has no {what}"
        assert_parity(ours, theirs, dtype, f"{case.name}: {what}")


@pytest.mark.parametrize("case", LAYER_CASES, ids=[c.name for c in LAYER_CASES])
def test_layer_repr_and_state_dict_match_torch(torch, case):
    torch_module, sg_module = case.build(torch.nn), case.build(sg.nn)
    assert repr(sg_module) == repr(torch_module)
    theirs = torch_module.state_dict()
    ours = sg_module.state_dict()
    assert list(ours) == list(theirs)
    for key, value in theirs.items():  # (torch's dtypes are float64 here: the fixture's default)
        assert ours[key].dtype == (numpy.float32 if value.is_floating_point() else numpy.int64), key
        numpy.testing.assert_array_equal(ours[key], value.numpy(), err_msg=key)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", LAYER_CASES, ids=[c.name for c in LAYER_CASES])
def test_layer_in_eval_mode_without_running_statistics_matches_torch(torch, case, dtype):
    torch_module, sg_module = make_twins(torch, case.build, dtype)
    torch_module.eval()
    sg_module.eval()
    x, cotangent = _input_and_cotangent(case.input_shape, dtype, _rng(2))
    for what, ours, theirs in forward_backward_pairs(torch, torch_module, sg_module, x, cotangent):
        assert_parity(ours, theirs, dtype, f"{case.name} eval: {what}")


# -- instance norm's running statistics -------------------------------------------------------------
TRACKING = [("InstanceNorm2d", (3, 5, 3, 3)), ("InstanceNorm1d", (4, 5, 6))]
TRACKING_IDS = ["2d", "1d"]


def train_tracking_twins(torch, kind, shape, momentum, dtype, steps=3):
    """Three training steps of InstanceNorm(5, affine, track_running_stats) on both frameworks;
    returns the twins and each step's compared pairs."""
    build = lambda nn: getattr(nn, kind)(5, momentum=momentum, affine=True, track_running_stats=True)
    torch_module, sg_module = make_twins(torch, build, dtype)
    rng, step_pairs = _rng(3), []
    offsets = rng.standard_normal((1, 5) + (1,) * (len(shape) - 2))
    for _ in range(steps):
        x = (1.5 * rng.standard_normal(shape) + offsets).astype(dtype)
        cotangent = rng.standard_normal(shape).astype(dtype)
        step_pairs.append(forward_backward_pairs(torch, torch_module, sg_module, x, cotangent))
    return torch_module, sg_module, step_pairs


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("momentum", [0.1, None], ids=["momentum0.1", "momentum_none"])
@pytest.mark.parametrize("kind, shape", TRACKING, ids=TRACKING_IDS)
def test_instance_norm_training_steps_match_torch(torch, kind, shape, momentum, dtype):
    _, _, step_pairs = train_tracking_twins(torch, kind, shape, momentum, dtype)
    for step, pairs in enumerate(step_pairs):
        for what, ours, theirs in pairs:
            assert_parity(ours, theirs, dtype, f"{kind} step {step}: {what}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("momentum", [0.1, None], ids=["momentum0.1", "momentum_none"])
@pytest.mark.parametrize("kind, shape", TRACKING, ids=TRACKING_IDS)
def test_instance_norm_running_stats_match_torch_after_three_steps(torch, kind, shape, momentum, dtype):
    torch_module, sg_module, _ = train_tracking_twins(torch, kind, shape, momentum, dtype)
    assert_parity(sg_module.running_mean, torch_module.running_mean, dtype, "running_mean")
    assert_parity(sg_module.running_var, torch_module.running_var, dtype, "running_var")
    assert int(sg_module.num_batches_tracked.numpy()) == int(torch_module.num_batches_tracked) == 0


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("momentum", [0.1, None], ids=["momentum0.1", "momentum_none"])
@pytest.mark.parametrize("kind, shape", TRACKING, ids=TRACKING_IDS)
def test_instance_norm_eval_mode_uses_the_running_stats_like_torch(torch, kind, shape, momentum, dtype):
    torch_module, sg_module, _ = train_tracking_twins(torch, kind, shape, momentum, dtype)
    torch_module.eval()
    sg_module.eval()
    x, cotangent = _input_and_cotangent(shape, dtype, _rng(4))
    for what, ours, theirs in forward_backward_pairs(torch, torch_module, sg_module, x, cotangent):
        assert_parity(ours, theirs, dtype, f"{kind} eval: {what}")


# -- second order through a normalised critic: a gradient penalty ---------------------------------------
def group_normed_critic(nn):
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.LeakyReLU(0.2),
                         nn.Flatten(), nn.Linear(64, 1))


def layer_normed_critic(nn):
    return nn.Sequential(nn.Linear(5, 6), nn.LayerNorm(6), nn.Tanh(), nn.Linear(6, 1))


def instance_normed_critic(nn):
    # (no conv bias: instance norm removes it, its gradient is 0 up to rounding)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, bias=False), nn.InstanceNorm2d(3, affine=True), nn.Tanh(),
                         nn.Flatten(), nn.Linear(48, 1))


CRITICS = [(group_normed_critic, (2, 1, 4, 4)), (layer_normed_critic, (3, 5)), (instance_normed_critic, (2, 1, 4, 4))]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("build, shape", CRITICS, ids=["GroupNorm", "LayerNorm", "InstanceNorm2d"])
def test_gradient_penalty_through_a_normalised_critic_matches_torch(torch, build, shape, dtype):
    """||d D(x) / dx||^2 summed over the batch and its gradient in every weight of D."""
    torch_d, sg_d = make_twins(torch, build, dtype)
    x = _rng(5).standard_normal(shape).astype(dtype)
    torch_x, sg_x = torch.tensor(x, requires_grad=True), sg.Tensor(x.copy(), requires_grad=True)
    (torch_gx,) = torch.autograd.grad(torch_d(torch_x).sum(), torch_x, create_graph=True)
    (sg_gx,) = sg.grad(sg_d(sg_x).sum(), sg_x, create_graph=True)
    torch_penalty, sg_penalty = (torch_gx * torch_gx).sum(), (sg_gx * sg_gx).sum()
    torch_penalty.backward()
    sg_penalty.backward()
    assert_parity(sg_penalty, torch_penalty.detach(), dtype, "penalty")
    sg_params = dict(sg_d.named_parameters())
    for name, parameter in torch_d.named_parameters():
        # None: the penalty does not depend on it (the last bias; under LeakyReLU, whose second
        # derivative is 0, the biases of the norm). Either framework may say None or zeros.
        ours, theirs = sg_params[name].grad, parameter.grad
        if ours is None or theirs is None:
            for grad in (ours, theirs):
                assert grad is None or not to_numpy(grad).any(), f"grad {name}: {grad}"
            continue
        assert_parity(ours, theirs, dtype, f"grad {name}")


# -- errors: one clear error for each input PyTorch also refuses -----------------------------------------
@dataclass(frozen=True)
class ErrorCase:
    name: str
    call: Callable  # (nn, make) -> anything; make(*shape, dtype=float64) is a random tensor of that framework
    error: type
    match: str


def _f(nn):
    return nn.functional


ERROR_CASES = [
    ErrorCase("layer_norm: normalized_shape is not the trailing shape",
              lambda nn, make: _f(nn).layer_norm(make(2, 3, 4), (3,)), ValueError,
              r"layer_norm: normalized_shape \(3,\) must equal the input's last 1 axes; "
              r"expected an input of shape \(\*, 3\), got shape \(2, 3, 4\)"),
    ErrorCase("layer_norm: normalized_shape longer than the input",
              lambda nn, make: _f(nn).layer_norm(make(2, 3), (1, 2, 3)), ValueError,
              r"layer_norm: normalized_shape \(1, 2, 3\) must equal the input's last 3 axes"),
    ErrorCase("layer_norm: empty normalized_shape",
              lambda nn, make: _f(nn).layer_norm(make(2, 3), ()), ValueError,
              r"layer_norm: normalized_shape must have at least one element"),
    ErrorCase("layer_norm: weight of another shape",
              lambda nn, make: _f(nn).layer_norm(make(2, 3, 4), (3, 4), weight=make(12)), ValueError,
              r"layer_norm: expected weight of shape \(3, 4\) \(normalized_shape\), got shape \(12,\)"),
    ErrorCase("layer_norm: bias of another shape",
              lambda nn, make: _f(nn).layer_norm(make(2, 4), (4,), bias=make(1, 4)), ValueError,
              r"layer_norm: expected bias of shape \(4,\) \(normalized_shape\), got shape \(1, 4\)"),
    ErrorCase("layer_norm: a float64 weight on a float32 input",
              lambda nn, make: _f(nn).layer_norm(make(2, 4, dtype=numpy.float32), (4,), weight=make(4)),
              TypeError, r"layer_norm: weight is float64 but the input is float32; expected the same dtype"),
    ErrorCase("group_norm: channels not divisible by num_groups",
              lambda nn, make: _f(nn).group_norm(make(2, 4, 3), 3), ValueError,
              r"group_norm: the input's 4 channels \(shape \(2, 4, 3\)\) must be divisible by num_groups"),
    ErrorCase("group_norm: a 1-d input",
              lambda nn, make: _f(nn).group_norm(make(4), 2), ValueError,
              r"group_norm: expected an input \(N, C, \*\) with at least 2 dimensions, got shape \(4,\)"),
    ErrorCase("group_norm: a non-integer num_groups",
              lambda nn, make: _f(nn).group_norm(make(2, 4, 3), 2.0), TypeError,
              r"group_norm: num_groups must be an int, got 2.0"),
    ErrorCase("group_norm: weight of another shape",
              lambda nn, make: _f(nn).group_norm(make(2, 4, 3), 2, weight=make(2)), ValueError,
              r"group_norm: expected weight of shape \(4,\) \(one value per channel\), got shape \(2,\)"),
    ErrorCase("group_norm: one value in all",
              lambda nn, make: _f(nn).group_norm(make(1, 2), 2), ValueError,
              r"group_norm: expected more than 1 value per group in training, got input of shape \(1, 2\)"),
    ErrorCase("instance_norm: one spatial element",
              lambda nn, make: _f(nn).instance_norm(make(2, 3)), ValueError,
              r"instance_norm: expected more than 1 spatial element in training, got input of shape \(2, 3\)"),
    ErrorCase("instance_norm: running_mean without running_var",
              lambda nn, make: _f(nn).instance_norm(make(2, 3, 4), make(3), None), ValueError,
              r"instance_norm: running_mean and running_var must both be None or both be given"),
    ErrorCase("instance_norm: use_input_stats=False without running statistics",
              lambda nn, make: _f(nn).instance_norm(make(2, 3, 4), use_input_stats=False), ValueError,
              r"instance_norm: use_input_stats=False needs running_mean and running_var"),
    ErrorCase("instance_norm: running_mean of another shape",
              lambda nn, make: _f(nn).instance_norm(make(2, 3, 4), make(2), make(2)), ValueError,
              r"instance_norm: expected running_mean of shape \(3,\) \(one value per channel\), got shape \(2,\)"),
    ErrorCase("instance_norm: weight of another shape",
              lambda nn, make: _f(nn).instance_norm(make(2, 3, 4), weight=make(6)), ValueError,
              r"instance_norm: expected weight of shape \(3,\) \(one value per channel\), got shape \(6,\)"),
    ErrorCase("instance_norm: momentum=None",
              lambda nn, make: _f(nn).instance_norm(make(2, 3, 4), make(3), make(3), momentum=None), TypeError,
              r"instance_norm: momentum must be a number, got None"),
    ErrorCase("LayerNorm: input of another trailing shape",
              lambda nn, make: nn.LayerNorm(4)(make(2, 3)), ValueError,
              r"LayerNorm\(\(4,\)\): expected an input of shape \(\*, 4\), got shape \(2, 3\)"),
    ErrorCase("GroupNorm: num_channels not divisible by num_groups",
              lambda nn, make: nn.GroupNorm(3, 4), ValueError,
              r"GroupNorm: num_channels \(4\) must be divisible by num_groups \(3\)"),
    ErrorCase("GroupNorm: an input with other channels",
              lambda nn, make: nn.GroupNorm(2, 4)(make(2, 6, 3)), ValueError,
              r"GroupNorm\(2, 4\): input has 6 channels on axis 1 \(shape \(2, 6, 3\)\), expected 4"),
    ErrorCase("GroupNorm: a 1-d input",
              lambda nn, make: nn.GroupNorm(2, 4)(make(4)), ValueError,
              r"GroupNorm\(2, 4\): expected an input \(N, C, \*\) with at least 2 dimensions, got shape \(4,\)"),
    ErrorCase("InstanceNorm2d: a 5-d input",
              lambda nn, make: nn.InstanceNorm2d(3)(make(1, 3, 4, 4, 1)), ValueError,
              r"InstanceNorm2d\(3\): expected a 3-d \(unbatched\) or 4-d input, got shape \(1, 3, 4, 4, 1\)"),
    ErrorCase("InstanceNorm1d: a 4-d input",
              lambda nn, make: nn.InstanceNorm1d(3)(make(2, 3, 4, 4)), ValueError,
              r"InstanceNorm1d\(3\): expected a 2-d \(unbatched\) or 3-d input, got shape \(2, 3, 4, 4\)"),
    ErrorCase("InstanceNorm2d(affine=True): an input with other channels",
              lambda nn, make: nn.InstanceNorm2d(3, affine=True)(make(2, 5, 4, 4)), ValueError,
              r"InstanceNorm2d\(3\): input has 5 channels \(shape \(2, 5, 4, 4\)\), expected 3"),
]


def _maker(framework_tensor, seed=6):
    rng = _rng(seed)
    return lambda *shape, dtype=numpy.float64: framework_tensor(rng.standard_normal(shape).astype(dtype))


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c.name for c in ERROR_CASES])
def test_bad_argument_gives_one_clear_error_where_torch_also_refuses_it(torch, case):
    with pytest.raises(case.error, match=case.match):
        case.call(sg.nn, _maker(sg.Tensor))
    with pytest.raises((RuntimeError, ValueError, TypeError)):
        case.call(torch.nn, _maker(torch.tensor))


def test_instance_norm_without_affine_warns_on_other_channels_and_normalises_like_torch(torch):
    x = _rng(7).standard_normal((2, 5, 3, 3))
    with pytest.warns(UserWarning, match=r"InstanceNorm2d\(3\): input has 5 channels"):
        ours = sg.nn.InstanceNorm2d(3)(sg.Tensor(x))
    with pytest.warns(UserWarning):
        theirs = torch.nn.InstanceNorm2d(3)(torch.tensor(x))
    assert_parity(ours, theirs, numpy.float64, "output")
