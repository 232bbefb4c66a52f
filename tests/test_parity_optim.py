"""Optimizer parity with PyTorch 2.13 (CPU): SGD, Adam and RMSprop, step for step.

Both frameworks start from the same parameters and receive the same sequence of gradients
(or compute them from the same small model); after each of 10 steps the parameters, and
after the last one every piece of optimizer state, agree: float64 to 1e-10, float32 to 1e-5
(relative, with the array's scale as a floor), dtypes asserted.
"""

from __future__ import annotations

import numpy
import pytest

import scratchgan as sg
from parity import assert_parity

# every test here runs on each CPU kernel set (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("kernel_backend")

DTYPES = (numpy.float64, numpy.float32)
DTYPE_IDS = ["float64", "float32"]
STEPS = 10
PARAM_SHAPES = [(3, 4), (4,), (2, 2, 3)]


def initial_params(dtype, seed=0):
    rng = numpy.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for shape in PARAM_SHAPES]


def gradient_sequence(dtype, steps=STEPS, seed=1):
    """Per step, one gradient per parameter; the scale changes from step to step so that
    AMSGrad's running maximum and RMSprop's centering both matter."""
    rng = numpy.random.default_rng(seed)
    return [[(rng.uniform(0.2, 3.0) * rng.standard_normal(shape)).astype(dtype) for shape in PARAM_SHAPES]
            for _ in range(steps)]


def twin_params(torch, dtype, seed=0):
    arrays = initial_params(dtype, seed)
    return ([sg.nn.Parameter(a.copy()) for a in arrays],
            [torch.nn.Parameter(torch.tensor(a.copy())) for a in arrays])


def apply_gradients(sg_params, torch_params, grads):
    for sg_param, torch_param, grad in zip(sg_params, torch_params, grads):
        sg_param.grad = sg.Tensor(grad.copy())
        torch_param.grad = torch_param.new_tensor(grad)


def assert_state_matches(sg_opt, torch_opt, sg_params, torch_params, dtype):
    """Every tensor of PyTorch's per-parameter state has an equal twin, and no extra entries."""
    for position, (sg_param, torch_param) in enumerate(zip(sg_params, torch_params)):
        ours = sg_opt.state[id(sg_param)]
        theirs = {k: v for k, v in torch_opt.state[torch_param].items() if v is not None}
        assert set(ours) == set(theirs), f"param {position}: state keys {set(ours)} != torch {set(theirs)}"
        for key, value in theirs.items():
            if key == "step":
                assert float(ours[key]) == float(value), f"param {position}: step"
            else:
                assert_parity(ours[key], value, dtype, f"param {position}: state {key}")


OPTIMIZER_CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.5, weight_decay=0.1, nesterov=True)),
    ("Adam", dict(lr=1e-2)),
    ("Adam", dict(lr=2e-2, betas=(0.5, 0.999))),           # DCGAN
    ("Adam", dict(lr=1e-2, betas=(0.0, 0.9))),             # WGAN-GP
    ("Adam", dict(lr=1e-2, eps=1e-3)),
    ("Adam", dict(lr=1e-2, weight_decay=0.1)),
    ("Adam", dict(lr=1e-2, amsgrad=True)),
    ("Adam", dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=0.05, amsgrad=True)),
    ("RMSprop", dict(lr=1e-2)),
    ("RMSprop", dict(lr=5e-3, alpha=0.9)),
    ("RMSprop", dict(lr=1e-2, momentum=0.9)),
    ("RMSprop", dict(lr=1e-2, centered=True)),
    ("RMSprop", dict(lr=1e-2, weight_decay=0.1)),
    ("RMSprop", dict(lr=1e-2, alpha=0.95, eps=1e-4, momentum=0.5, centered=True, weight_decay=0.01)),
]


def _case_id(case):
    name, options = case
    return name + "(" + ", ".join(f"{k}={v}" for k, v in options.items()) + ")"


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", OPTIMIZER_CASES, ids=[_case_id(c) for c in OPTIMIZER_CASES])
def test_ten_steps_on_a_fixed_gradient_sequence_match_torch(torch, case, dtype):
    name, options = case
    sg_params, torch_params = twin_params(torch, dtype)
    sg_opt = getattr(sg.optim, name)(sg_params, **options)
    torch_opt = getattr(torch.optim, name)(torch_params, **options)
    for step, grads in enumerate(gradient_sequence(dtype)):
        apply_gradients(sg_params, torch_params, grads)
        sg_opt.step()
        torch_opt.step()
        for position, (ours, theirs) in enumerate(zip(sg_params, torch_params)):
            assert_parity(ours, theirs, dtype, f"step {step}: param {position}")
    assert_state_matches(sg_opt, torch_opt, sg_params, torch_params, dtype)


GROUP_CASES = [
    ("SGD", dict(lr=0.01, momentum=0.9), dict(lr=0.2, momentum=0.5, nesterov=True)),
    ("Adam", dict(lr=1e-3), dict(lr=5e-2, betas=(0.5, 0.999), amsgrad=True)),
    ("RMSprop", dict(lr=1e-3), dict(lr=2e-2, momentum=0.9, centered=True)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name, defaults, overrides", GROUP_CASES, ids=[c[0] for c in GROUP_CASES])
def test_per_group_learning_rates_and_options_match_torch(torch, name, defaults, overrides, dtype):
    sg_params, torch_params = twin_params(torch, dtype)
    sg_opt = getattr(sg.optim, name)(
        [{"params": sg_params[:1], **overrides}, {"params": sg_params[1:]}], **defaults)
    torch_opt = getattr(torch.optim, name)(
        [{"params": torch_params[:1], **overrides}, {"params": torch_params[1:]}], **defaults)
    assert sg_opt.param_groups[0]["lr"] == overrides["lr"] and sg_opt.param_groups[1]["lr"] == defaults["lr"]
    for step, grads in enumerate(gradient_sequence(dtype)):
        apply_gradients(sg_params, torch_params, grads)
        sg_opt.step()
        torch_opt.step()
        for position, (ours, theirs) in enumerate(zip(sg_params, torch_params)):
            assert_parity(ours, theirs, dtype, f"step {step}: param {position}")
    assert_state_matches(sg_opt, torch_opt, sg_params, torch_params, dtype)


ROUND_TRIP_CASES = [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=1e-2, betas=(0.5, 0.999), amsgrad=True)),
    ("RMSprop", dict(lr=1e-2, momentum=0.5, centered=True)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", ROUND_TRIP_CASES, ids=[c[0] for c in ROUND_TRIP_CASES])
def test_state_dict_saved_after_three_steps_resumes_exactly(torch, case, dtype):
    """Save after 3 steps, load into a fresh optimizer (built with other hyper-parameters) over
    copies of the parameters, continue: bit-for-bit the uninterrupted run, which matches torch."""
    name, options = case
    grads = gradient_sequence(dtype)
    sg_params, torch_params = twin_params(torch, dtype)
    sg_opt = getattr(sg.optim, name)(sg_params, **options)
    torch_opt = getattr(torch.optim, name)(torch_params, **options)
    saved = None
    for step in range(STEPS):
        apply_gradients(sg_params, torch_params, grads[step])
        sg_opt.step()
        torch_opt.step()
        if step == 2:
            saved = sg_opt.state_dict()
            resumed_params = [sg.nn.Parameter(p.numpy().copy()) for p in sg_params]
    resumed_opt = getattr(sg.optim, name)(resumed_params, lr=123.0)
    resumed_opt.load_state_dict(saved)
    assert resumed_opt.param_groups[0]["lr"] == options["lr"]
    for step in range(3, STEPS):
        for param, grad in zip(resumed_params, grads[step]):
            param.grad = sg.Tensor(grad.copy())
        resumed_opt.step()
    for position, (resumed, uninterrupted, theirs) in enumerate(zip(resumed_params, sg_params, torch_params)):
        assert resumed.dtype == numpy.dtype(dtype)
        numpy.testing.assert_array_equal(resumed.numpy(), uninterrupted.numpy(), err_msg=f"param {position}")
        assert_parity(resumed, theirs, dtype, f"resumed param {position} vs torch")
    assert_state_matches(resumed_opt, torch_opt, resumed_params, torch_params, dtype)


MODEL_CASES = [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("Adam", dict(lr=1e-2, betas=(0.5, 0.999), amsgrad=True)),
    ("RMSprop", dict(lr=5e-3, momentum=0.5, centered=True)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_training_a_small_model_for_ten_steps_matches_torch(torch, case, dtype):
    """Gradients come from each framework's own backward of the same model and loss."""
    name, options = case
    rng = numpy.random.default_rng(3)
    x = rng.standard_normal((16, 4)).astype(dtype)
    y = rng.standard_normal((16, 1)).astype(dtype)

    def build(nn):
        return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))

    torch_model = build(torch.nn).to(dict(float64=torch.float64, float32=torch.float32)[numpy.dtype(dtype).name])
    sg_model = build(sg.nn).to(dtype=dtype)
    sg_model.load_state_dict({k: v.detach().numpy() for k, v in torch_model.state_dict().items()})
    sg_opt = getattr(sg.optim, name)(sg_model.parameters(), **options)
    torch_opt = getattr(torch.optim, name)(torch_model.parameters(), **options)
    for step in range(STEPS):
        sg_opt.zero_grad()
        torch_opt.zero_grad()
        sg_loss = sg.nn.functional.mse_loss(sg_model(sg.Tensor(x)), sg.Tensor(y))
        torch_loss = torch.nn.functional.mse_loss(torch_model(torch.tensor(x)), torch.tensor(y))
        assert_parity(sg_loss, torch_loss, dtype, f"step {step}: loss")
        sg_loss.backward()
        torch_loss.backward()
        sg_opt.step()
        torch_opt.step()
    sg_named = dict(sg_model.named_parameters())
    for key, theirs in torch_model.named_parameters():
        assert_parity(sg_named[key], theirs, dtype, f"after {STEPS} steps: {key}")
