"""AdamW against torch.optim.AdamW (PyTorch 2.13, CPU), step for step.

Both start from the same parameters and receive the same gradients; after each of 10 steps
the parameters agree, and after the last every piece of optimizer state: float64 to 1e-10,
float32 to 1e-5, dtypes asserted. Cases: the default weight decay (1e-2), none, a large one,
with AMSGrad (the unfused path) and maximize, per-group settings, a state dict saved and
loaded mid-run, and a small model trained by each framework's own backward.
"""

from __future__ import annotations

import numpy
import pytest

import scratchgan as sg
from parity import assert_parity, torch_dtype

# every test here runs on each CPU kernel set (tests/conftest.py)
pytestmark = [pytest.mark.parity, pytest.mark.usefixtures("kernel_backend")]

DTYPES = (numpy.float64, numpy.float32)
DTYPE_IDS = ["float64", "float32"]
STEPS = 10
PARAM_SHAPES = [(3, 4), (4,), (2, 2, 3)]


def twin_params(torch, dtype, seed=0):
    rng = numpy.random.default_rng(seed)
    arrays = [rng.standard_normal(shape).astype(dtype) for shape in PARAM_SHAPES]
    return ([sg.nn.Parameter(a.copy()) for a in arrays],
            [torch.nn.Parameter(torch.tensor(a.copy())) for a in arrays])


def gradient_sequence(dtype, seed=1):
    """Per step, one gradient per parameter, on a scale that changes from step to step (so
    AMSGrad's running maximum matters)."""
    rng = numpy.random.default_rng(seed)
    return [[(rng.uniform(0.2, 3.0) * rng.standard_normal(shape)).astype(dtype) for shape in PARAM_SHAPES]
            for _ in range(STEPS)]


def apply_gradients(sg_params, torch_params, grads):
    for sg_param, torch_param, grad in zip(sg_params, torch_params, grads):
        sg_param.grad = sg.Tensor(grad.copy())
        torch_param.grad = torch_param.new_tensor(grad)


def assert_state_matches(sg_opt, torch_opt, sg_params, torch_params, dtype):
    for position, (sg_param, torch_param) in enumerate(zip(sg_params, torch_params)):
        ours = sg_opt.state[id(sg_param)]
        theirs = {k: v for k, v in torch_opt.state[torch_param].items() if v is not None}
        assert set(ours) == set(theirs), f"param {position}: state keys {set(ours)} != torch {set(theirs)}"
        for key, value in theirs.items():
            if key == "step":
                assert float(ours[key]) == float(value), f"param {position}: step"
            else:
                assert_parity(ours[key], value, dtype, f"param {position}: state {key}")


CASES = [
    dict(lr=1e-2),                                             # the default weight_decay, 1e-2
    dict(lr=1e-2, weight_decay=0.0),
    dict(lr=2e-2, betas=(0.5, 0.999), weight_decay=0.3),
    dict(lr=1e-2, betas=(0.0, 0.9), eps=1e-4, weight_decay=0.1),
    dict(lr=1e-2, weight_decay=0.2, amsgrad=True),
    dict(lr=1e-2, weight_decay=0.1, maximize=True),
]


def _case_id(options):
    return ", ".join(f"{k}={v}" for k, v in options.items())


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("options", CASES, ids=_case_id)
def test_ten_steps_on_a_fixed_gradient_sequence_match_torch_adamw(torch, options, dtype):
    sg_params, torch_params = twin_params(torch, dtype)
    sg_opt, torch_opt = sg.optim.AdamW(sg_params, **options), torch.optim.AdamW(torch_params, **options)
    for step, grads in enumerate(gradient_sequence(dtype)):
        apply_gradients(sg_params, torch_params, grads)
        sg_opt.step()
        torch_opt.step()
        for position, (ours, theirs) in enumerate(zip(sg_params, torch_params)):
            assert_parity(ours, theirs, dtype, f"step {step}: param {position}")
    assert_state_matches(sg_opt, torch_opt, sg_params, torch_params, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_per_group_weight_decay_and_amsgrad_match_torch_adamw(torch, dtype):
    sg_params, torch_params = twin_params(torch, dtype)
    overrides = dict(lr=5e-2, weight_decay=0.5, amsgrad=True)
    sg_opt = sg.optim.AdamW([{"params": sg_params[:1], **overrides}, {"params": sg_params[1:]}], lr=1e-2)
    torch_opt = torch.optim.AdamW([{"params": torch_params[:1], **overrides}, {"params": torch_params[1:]}], lr=1e-2)
    assert sg_opt.param_groups[1]["weight_decay"] == 1e-2 and sg_opt.param_groups[0]["weight_decay"] == 0.5
    for step, grads in enumerate(gradient_sequence(dtype)):
        apply_gradients(sg_params, torch_params, grads)
        sg_opt.step()
        torch_opt.step()
        for position, (ours, theirs) in enumerate(zip(sg_params, torch_params)):
            assert_parity(ours, theirs, dtype, f"step {step}: param {position}")
    assert_state_matches(sg_opt, torch_opt, sg_params, torch_params, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("amsgrad", [False, True], ids=["adam", "amsgrad"])
def test_state_dict_saved_after_three_steps_resumes_exactly(torch, amsgrad, dtype):
    """Save after 3 steps, load into a fresh AdamW built with other settings over copies of
    the parameters, continue: bit for bit the uninterrupted run, which matches torch."""
    options = dict(lr=1e-2, betas=(0.5, 0.999), weight_decay=0.2, amsgrad=amsgrad)
    grads = gradient_sequence(dtype)
    sg_params, torch_params = twin_params(torch, dtype)
    sg_opt, torch_opt = sg.optim.AdamW(sg_params, **options), torch.optim.AdamW(torch_params, **options)
    for step in range(STEPS):
        apply_gradients(sg_params, torch_params, grads[step])
        sg_opt.step()
        torch_opt.step()
        if step == 2:
            saved = sg_opt.state_dict()
            resumed_params = [sg.nn.Parameter(p.numpy().copy()) for p in sg_params]
    resumed_opt = sg.optim.AdamW(resumed_params, lr=123.0, weight_decay=0.0, amsgrad=not amsgrad)
    resumed_opt.load_state_dict(saved)
    assert resumed_opt.param_groups[0]["weight_decay"] == 0.2 and resumed_opt.param_groups[0]["amsgrad"] == amsgrad
    for step in range(3, STEPS):
        for param, grad in zip(resumed_params, grads[step]):
            param.grad = sg.Tensor(grad.copy())
        resumed_opt.step()
    for position, (resumed, uninterrupted, theirs) in enumerate(zip(resumed_params, sg_params, torch_params)):
        assert resumed.dtype == numpy.dtype(dtype)
        numpy.testing.assert_array_equal(resumed.numpy(), uninterrupted.numpy(), err_msg=f"param {position}")
        assert_parity(resumed, theirs, dtype, f"resumed param {position} vs torch")
    assert_state_matches(resumed_opt, torch_opt, resumed_params, torch_params, dtype)


def test_state_dict_layout_is_adams_with_torchs_keys(torch):
    sg_params, torch_params = twin_params(torch, numpy.float64)
    sg_opt, torch_opt = sg.optim.AdamW(sg_params, amsgrad=True), torch.optim.AdamW(torch_params, amsgrad=True)
    apply_gradients(sg_params, torch_params, gradient_sequence(numpy.float64)[0])
    sg_opt.step()
    torch_opt.step()
    ours, theirs = sg_opt.state_dict(), torch_opt.state_dict()
    assert set(ours["state"]) == set(theirs["state"]) == {0, 1, 2}
    assert set(ours["state"][0]) == set(theirs["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert set(ours["param_groups"][0]) <= set(theirs["param_groups"][0])
    assert ours["param_groups"][0]["weight_decay"] == theirs["param_groups"][0]["weight_decay"] == 1e-2


def test_torchs_adamw_state_dict_loads_and_continues_in_step(torch):
    """A state dict written by torch.optim.AdamW (0-d step tensors, torch tensors, torch's extra
    group keys) loads into scratchgan's AdamW, and both continue identically."""
    grads = gradient_sequence(numpy.float64)
    sg_params, torch_params = twin_params(torch, numpy.float64)
    torch_opt = torch.optim.AdamW(torch_params, lr=1e-2, weight_decay=0.3)
    for step in range(3):
        apply_gradients(sg_params, torch_params, grads[step])
        torch_opt.step()
    for sg_param, torch_param in zip(sg_params, torch_params):
        sg_param.data = torch_param.detach().numpy().copy()
    sg_opt = sg.optim.AdamW(sg_params)
    sg_opt.load_state_dict(torch_opt.state_dict())
    for step in range(3, STEPS):
        apply_gradients(sg_params, torch_params, grads[step])
        sg_opt.step()
        torch_opt.step()
    for position, (ours, theirs) in enumerate(zip(sg_params, torch_params)):
        assert_parity(ours, theirs, numpy.float64, f"param {position}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_training_a_small_model_for_ten_steps_matches_torch_adamw(torch, dtype):
    """Gradients come from each framework's own backward of the same model and loss."""
    rng = numpy.random.default_rng(3)
    x, y = rng.standard_normal((16, 4)).astype(dtype), rng.standard_normal((16, 1)).astype(dtype)

    def build(nn):
        return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))

    torch_model = build(torch.nn).to(torch_dtype(torch, dtype))
    sg_model = build(sg.nn).to(dtype=dtype)
    sg_model.load_state_dict({k: v.detach().numpy() for k, v in torch_model.state_dict().items()})
    options = dict(lr=1e-2, betas=(0.5, 0.999), weight_decay=0.1)
    sg_opt = sg.optim.AdamW(sg_model.parameters(), **options)
    torch_opt = torch.optim.AdamW(torch_model.parameters(), **options)
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


@pytest.mark.parametrize("amsgrad", [False, True], ids=["adam", "amsgrad"])
def test_adamw_without_weight_decay_is_adam_bit_for_bit(torch, amsgrad):
    grads = gradient_sequence(numpy.float32)
    adamw_params, _ = twin_params(torch, numpy.float32)
    adam_params, _ = twin_params(torch, numpy.float32)
    adamw = sg.optim.AdamW(adamw_params, lr=1e-2, weight_decay=0.0, amsgrad=amsgrad)
    adam = sg.optim.Adam(adam_params, lr=1e-2, amsgrad=amsgrad)
    for step_grads in grads:
        for a, b, grad in zip(adamw_params, adam_params, step_grads):
            a.grad, b.grad = sg.Tensor(grad.copy()), sg.Tensor(grad.copy())
        adamw.step()
        adam.step()
    for a, b in zip(adamw_params, adam_params):
        numpy.testing.assert_array_equal(a.numpy(), b.numpy())


def test_decoupled_decay_differs_from_adams_l2_decay(torch):
    """With the same weight_decay, AdamW's decay is not rescaled by the moments: one step from
    zero moments moves p by -lr p wd - lr sign-like(g), Adam's by -lr (g + wd p) / |g + wd p|."""
    params = [sg.nn.Parameter(numpy.array([2.0, -1.0, 0.5])) for _ in range(2)]
    adamw = sg.optim.AdamW([params[0]], lr=0.1, weight_decay=0.5, eps=0.0)
    adam = sg.optim.Adam([params[1]], lr=0.1, weight_decay=0.5, eps=0.0)
    grad = numpy.array([0.3, 0.3, -0.3])
    for param, optimizer in zip(params, (adamw, adam)):
        param.grad = sg.Tensor(grad.copy())
        optimizer.step()
    start = numpy.array([2.0, -1.0, 0.5])
    numpy.testing.assert_allclose(params[0].numpy(), start * (1 - 0.1 * 0.5) - 0.1 * numpy.sign(grad), rtol=1e-14)
    numpy.testing.assert_allclose(params[1].numpy(), start - 0.1 * numpy.sign(grad + 0.5 * start), rtol=1e-14)
