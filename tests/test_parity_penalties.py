"""Gradient-penalty parity with PyTorch 2.13 (CPU): double backward through a critic.

Each penalty is written twice, once with scratchgan ops and ``sg.grad(..., create_graph=True)``
and once with torch ops and ``torch.autograd.grad(..., create_graph=True)``, on critics with
identical weights and identical inputs. The penalty value and its gradient with respect to
every critic parameter must agree to 1e-10 in float64 (float32: 1e-5).

    WGAN-GP (Gulrajani et al. 2017): E[(||grad_x D(x_hat)||_2 - 1)^2], x_hat = a real + (1 - a) fake
    R1 (Mescheder et al. 2018):       E[||grad_x D(real)||_2^2]
    DRAGAN (Kodali et al. 2017):      E[(||grad_x D(real + delta)||_2 - 1)^2], delta fixed noise

The norm is over ALL non-batch axes of the sample (pitfall 6 of STYLE.md: a widely copied
WGAN-GP took it over axis 1 only); ``test_norm_over_axis_1_only_is_a_different_penalty``
shows the tests here would catch that mistake.
"""

from __future__ import annotations

import numpy
import pytest

import scratchgan as sg
from parity import assert_parity, to_numpy

# every test here runs on each CPU kernel set (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("kernel_backend")

DTYPES = (numpy.float64, numpy.float32)
DTYPE_IDS = ["float64", "float32"]
BATCH = 4


# -- critics -----------------------------------------------------------------------------------
def conv_critic(nn):
    """(N, 2, 8, 8) -> (N, 1): conv, LeakyReLU, conv, LeakyReLU, linear."""
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(6 * 2 * 2, 1),
    )


def mlp_critic(nn):
    """(N, 6) -> (N, 1); tanh and softplus give the penalty curvature in the input too."""
    return nn.Sequential(
        nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.LeakyReLU(0.2),
        nn.Linear(16, 8), nn.Softplus(), nn.Linear(8, 1),
    )


CRITICS = {"conv": (conv_critic, (BATCH, 2, 8, 8)), "mlp": (mlp_critic, (BATCH, 6))}


def twin_critics(torch, build, dtype):
    torch_critic = build(torch.nn).to({numpy.dtype(numpy.float64): torch.float64,
                                       numpy.dtype(numpy.float32): torch.float32}[numpy.dtype(dtype)])
    sg_critic = build(sg.nn).to(dtype=dtype)
    sg_critic.load_state_dict({k: v.detach().numpy() for k, v in torch_critic.state_dict().items()})
    return torch_critic, sg_critic


def batch_shape_of(x):
    return (x.shape[0],) + (1,) * (len(x.shape) - 1)


# -- the penalties, written once per framework --------------------------------------------------
def sg_input_gradient(critic, x):
    x = sg.Tensor(x, requires_grad=True)
    (grad,) = sg.grad(critic(x).sum(), x, create_graph=True)
    return grad


def torch_input_gradient(torch, critic, x):
    x = torch.tensor(x, requires_grad=True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return grad


def sg_norms(grad, axes):
    return (grad * grad).sum(axis=axes).sqrt()


def torch_norms(grad, axes):
    return (grad * grad).sum(dim=axes).sqrt()


def non_batch_axes(x):
    return tuple(range(1, len(x.shape)))


def sg_unit_norm_penalty(critic, x, axes=None):
    """E[(||grad_x D(x)|| - 1)^2], the norm over ``axes`` (default: all non-batch axes)."""
    grad = sg_input_gradient(critic, x)
    norms = sg_norms(grad, non_batch_axes(x) if axes is None else axes)
    return ((norms - 1.0) ** 2).mean()


def torch_unit_norm_penalty(torch, critic, x, axes=None):
    grad = torch_input_gradient(torch, critic, x)
    norms = torch_norms(grad, non_batch_axes(x) if axes is None else axes)
    return ((norms - 1.0) ** 2).mean()


def sg_r1_penalty(critic, real):
    grad = sg_input_gradient(critic, real)
    return (grad * grad).sum(axis=non_batch_axes(real)).mean()


def torch_r1_penalty(torch, critic, real):
    grad = torch_input_gradient(torch, critic, real)
    return (grad * grad).sum(dim=non_batch_axes(real)).mean()


def samples(shape, dtype, seed=0):
    """real, fake, the interpolation weights a (N, 1, ...) and DRAGAN's fixed perturbation."""
    rng = numpy.random.default_rng(seed)
    real = rng.standard_normal(shape)
    fake = 0.5 * rng.standard_normal(shape) + 0.3
    a = rng.uniform(0, 1, batch_shape_of(real))
    delta = 0.5 * real.std() * rng.uniform(0, 1, shape)  # DRAGAN: x + 0.5 std(x) U(0, 1)
    return (real.astype(dtype), fake.astype(dtype), a.astype(dtype), delta.astype(dtype))


def penalty_inputs(kind, shape, dtype):
    real, fake, a, delta = samples(shape, dtype)
    if kind == "wgan-gp":
        return a * real + (1 - a) * fake
    if kind == "dragan":
        return real + delta
    return real


def compute_both(torch, kind, torch_critic, sg_critic, x):
    if kind == "r1":
        return sg_r1_penalty(sg_critic, x), torch_r1_penalty(torch, torch_critic, x)
    return sg_unit_norm_penalty(sg_critic, x), torch_unit_norm_penalty(torch, torch_critic, x)


def parameter_gradients(torch, sg_critic, torch_critic, sg_penalty, torch_penalty):
    """[(name, ours, theirs)] for every critic parameter, None read as zeros.

    A bias whose only effect on grad_x D goes through a LeakyReLU's (piecewise constant)
    slope has a zero gradient: scratchgan's graph does not reach it (None), PyTorch's reaches
    it through leaky_relu_backward and returns zeros; the last layer's bias is unreachable in
    both. ``allow_unused=True`` on both sides, and zeros for None, compare the mathematics.
    """
    names = [name for name, _ in torch_critic.named_parameters()]
    sg_named = dict(sg_critic.named_parameters())
    sg_grads = sg.grad(sg_penalty, [sg_named[n] for n in names], allow_unused=True)
    torch_grads = torch.autograd.grad(torch_penalty, list(torch_critic.parameters()), allow_unused=True,
                                      materialize_grads=True)
    pairs = []
    for name, ours, theirs in zip(names, sg_grads, torch_grads):
        ours = numpy.zeros(tuple(theirs.shape), to_numpy(theirs).dtype) if ours is None else ours
        pairs.append((name, ours, theirs))
    return pairs


def assert_penalty_and_parameter_gradients_match(torch, sg_critic, torch_critic, sg_penalty,
                                                 torch_penalty, dtype, what):
    assert_parity(sg_penalty, torch_penalty, dtype, f"{what}: penalty")
    pairs = parameter_gradients(torch, sg_critic, torch_critic, sg_penalty, torch_penalty)
    weights = [theirs for name, _, theirs in pairs if name.endswith("weight")]
    assert all(float(numpy.abs(to_numpy(w)).max()) > 0 for w in weights), f"{what}: a zero weight gradient"
    for name, ours, theirs in pairs:
        assert_parity(ours, theirs, dtype, f"{what}: d penalty / d {name}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("critic", list(CRITICS))
@pytest.mark.parametrize("kind", ["wgan-gp", "r1", "dragan"])
def test_penalty_and_its_critic_gradients_match_torch(torch, kind, critic, dtype):
    build, shape = CRITICS[critic]
    torch_critic, sg_critic = twin_critics(torch, build, dtype)
    x = penalty_inputs(kind, shape, dtype)
    sg_penalty, torch_penalty = compute_both(torch, kind, torch_critic, sg_critic, x)
    assert_penalty_and_parameter_gradients_match(torch, sg_critic, torch_critic, sg_penalty,
                                                 torch_penalty, dtype, f"{kind} {critic}")


@pytest.mark.parametrize("critic", list(CRITICS))
def test_wgan_gp_input_gradient_norms_match_torch(torch, critic):
    """The intermediate quantity itself: ||grad_x D(x_hat)|| per sample, float64."""
    build, shape = CRITICS[critic]
    torch_critic, sg_critic = twin_critics(torch, build, numpy.float64)
    x = penalty_inputs("wgan-gp", shape, numpy.float64)
    ours = sg_norms(sg_input_gradient(sg_critic, x), non_batch_axes(x))
    theirs = torch_norms(torch_input_gradient(torch, torch_critic, x), non_batch_axes(x))
    assert ours.shape == (BATCH,)
    assert_parity(ours, theirs, numpy.float64, "per-sample gradient norms")


def test_wgan_gp_gradient_with_respect_to_fake_samples_matches_torch(torch):
    """The penalty also reaches the generator through x_hat = a real + (1 - a) fake. (The MLP
    critic: with LeakyReLU alone grad_x D is piecewise constant in x and this gradient is 0.)"""
    torch_critic, sg_critic = twin_critics(torch, mlp_critic, numpy.float64)
    real, fake, a, _ = samples(CRITICS["mlp"][1], numpy.float64)
    sg_fake, torch_fake = sg.Tensor(fake, requires_grad=True), torch.tensor(fake, requires_grad=True)
    sg_x_hat = sg.Tensor(a) * sg.Tensor(real) + sg.Tensor(1 - a) * sg_fake
    torch_x_hat = torch.tensor(a) * torch.tensor(real) + torch.tensor(1 - a) * torch_fake
    (sg_grad,) = sg.grad(sg_critic(sg_x_hat).sum(), sg_x_hat, create_graph=True)
    (torch_grad,) = torch.autograd.grad(torch_critic(torch_x_hat).sum(), torch_x_hat, create_graph=True)
    sg_penalty = ((sg_norms(sg_grad, 1) - 1.0) ** 2).mean()
    torch_penalty = ((torch_norms(torch_grad, 1) - 1.0) ** 2).mean()
    (ours,) = sg.grad(sg_penalty, sg_fake)
    (theirs,) = torch.autograd.grad(torch_penalty, torch_fake)
    assert_parity(sg_penalty, torch_penalty, numpy.float64, "penalty")
    assert numpy.abs(theirs.numpy()).max() > 0
    assert_parity(ours, theirs, numpy.float64, "d penalty / d fake")


def test_norm_over_axis_1_only_is_a_different_penalty(torch):
    """The widely copied bug: ||grad||_2 over dim=1 only (here the channel axis of (N, 2, 8, 8)).
    Its value and its parameter gradients are far from the correct penalty's, so the parity
    test above (against the all-axes reference) would fail on such an implementation."""
    torch_critic, sg_critic = twin_critics(torch, conv_critic, numpy.float64)
    x = penalty_inputs("wgan-gp", CRITICS["conv"][1], numpy.float64)
    correct = torch_unit_norm_penalty(torch, torch_critic, x)
    wrong = sg_unit_norm_penalty(sg_critic, x, axes=1)
    wrong_reference = torch_unit_norm_penalty(torch, torch_critic, x, axes=1)
    assert_parity(wrong, wrong_reference, numpy.float64, "axis-1 penalty, both frameworks")  # same formula
    relative_gap = abs(wrong.item() - correct.item()) / abs(correct.item())
    assert relative_gap > 1e-2, f"the axis-1 penalty is within {relative_gap:.1e} of the correct one"
    gaps = []
    for (_, wrong_grad, _), (_, _, correct_grad) in zip(
            parameter_gradients(torch, sg_critic, torch_critic, wrong, wrong_reference),
            parameter_gradients(torch, sg_critic, torch_critic, sg_unit_norm_penalty(sg_critic, x), correct)):
        scale = numpy.abs(to_numpy(correct_grad)).max()
        if scale > 0:
            gaps.append(numpy.abs(to_numpy(wrong_grad) - to_numpy(correct_grad)).max() / scale)
    assert max(gaps) > 1e-2, f"parameter gradients of the axis-1 penalty within {max(gaps):.1e}"
    with pytest.raises(AssertionError):
        assert_parity(wrong, correct, numpy.float64, "axis-1 penalty against the correct one")
