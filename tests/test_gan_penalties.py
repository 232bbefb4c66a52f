"""Penalties: values against independent references, double backward, PyTorch parity, spectral norm."""

import numpy
import pytest

import scratchgan as sg
from scratchgan.gan import penalties


class QuadraticCritic(sg.nn.Module):
    """D(x) = sum_j a_j x_j^2 / 2 + <w, x> per sample: grad_x D = a x + w, known in closed form."""

    def __init__(self, shape, rng):
        super().__init__()
        self.a = sg.nn.Parameter(rng.standard_normal(shape))
        self.w = sg.nn.Parameter(rng.standard_normal(shape))

    def forward(self, x):
        axes = tuple(range(1, x.ndim))
        return (0.5 * self.a * x * x + self.w * x).sum(axis=axes)

    def input_gradient(self, x):
        return self.a.numpy() * x + self.w.numpy()


def closed_form_norms(critic, x):
    gradient = critic.input_gradient(x)
    return numpy.sqrt((gradient ** 2).reshape(len(x), -1).sum(axis=1))


@pytest.fixture
def setup(rng):
    critic = QuadraticCritic((2, 3, 3), rng)
    real = rng.standard_normal((4, 2, 3, 3))
    fake = rng.standard_normal((4, 2, 3, 3))
    alpha = rng.random((4, 1, 1, 1))
    return critic, real, fake, alpha


def test_gradient_penalty_matches_the_closed_form_over_the_whole_sample(setup):
    critic, real, fake, alpha = setup
    x_hat = alpha * real + (1 - alpha) * fake
    expected = ((closed_form_norms(critic, x_hat) - 1) ** 2).mean()
    value = penalties.gradient_penalty(critic, sg.Tensor(real), sg.Tensor(fake), alpha=alpha)
    assert value.item() == pytest.approx(expected, rel=1e-12)


def test_gradient_penalty_is_not_the_one_axis_norm(setup):
    critic, real, fake, alpha = setup
    x_hat = alpha * real + (1 - alpha) * fake
    wrong_axis_norm = numpy.sqrt((critic.input_gradient(x_hat) ** 2).sum(axis=1))  # the copied bug
    wrong = ((wrong_axis_norm - 1) ** 2).mean()
    value = penalties.gradient_penalty(critic, sg.Tensor(real), sg.Tensor(fake), alpha=alpha).item()
    assert abs(value - wrong) > 1e-3


def test_one_sided_penalty_ignores_norms_below_the_center(setup):
    critic, real, fake, alpha = setup
    x_hat = alpha * real + (1 - alpha) * fake
    norms = closed_form_norms(critic, x_hat)
    center = float(numpy.median(norms))
    expected = (numpy.maximum(norms - center, 0) ** 2).mean()
    value = penalties.gradient_penalty(critic, sg.Tensor(real), sg.Tensor(fake), alpha=alpha,
                                       center=center, one_sided=True)
    assert value.item() == pytest.approx(expected, rel=1e-12)


def test_dragan_penalty_matches_the_closed_form(setup):
    critic, real, _, _ = setup
    delta = numpy.full(real.shape, 0.1)
    expected = ((closed_form_norms(critic, real + delta) - 0.5) ** 2).mean()
    value = penalties.dragan_penalty(critic, sg.Tensor(real), k=0.5, delta=delta)
    assert value.item() == pytest.approx(expected, rel=1e-12)


def test_r1_and_r2_match_the_closed_form(setup):
    critic, real, fake, _ = setup
    assert penalties.r1_penalty(critic, sg.Tensor(real)).item() == pytest.approx(
        (closed_form_norms(critic, real) ** 2).mean(), rel=1e-12)
    assert penalties.r2_penalty(critic, sg.Tensor(fake)).item() == pytest.approx(
        (closed_form_norms(critic, fake) ** 2).mean(), rel=1e-12)


@pytest.mark.parametrize("name", ["gradient_penalty", "dragan", "r1"])
def test_penalty_gradient_wrt_critic_parameters_matches_finite_differences(setup, name):
    critic, real, fake, alpha = setup
    calls = {
        "gradient_penalty": lambda: penalties.gradient_penalty(critic, sg.Tensor(real), sg.Tensor(fake), alpha=alpha),
        "dragan": lambda: penalties.dragan_penalty(critic, sg.Tensor(real), delta=numpy.full(real.shape, 0.2)),
        "r1": lambda: penalties.r1_penalty(critic, sg.Tensor(real)),
    }

    def penalty_of(a, w):
        critic.a, critic.w = a, w
        return calls[name]()

    a = sg.nn.Parameter(critic.a.numpy().copy())
    w = sg.nn.Parameter(critic.w.numpy().copy())
    assert sg.gradcheck(penalty_of, (a, w))


def test_penalty_of_a_zero_gradient_is_finite():
    flat = sg.nn.Linear(3, 1, dtype=numpy.float64)
    sg.nn.init.zeros_(flat.weight)
    value = penalties.gradient_penalty(flat, sg.randn(4, 3, dtype=numpy.float64), sg.randn(4, 3, dtype=numpy.float64))
    value.backward()
    assert value.item() == pytest.approx(1.0)
    assert numpy.isfinite(flat.weight.grad.numpy()).all()


def test_weight_clipping_bounds_every_parameter():
    model = sg.nn.Sequential(sg.nn.Linear(3, 5), sg.nn.Linear(5, 1))
    penalties.clip_weights(model, 0.01)
    assert all(numpy.abs(p.numpy()).max() <= 0.01 for p in model.parameters())


def _conv_critic_pair(torch, dtype):
    tm = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, stride=2, padding=1), torch.nn.LeakyReLU(0.2),
                             torch.nn.Flatten(), torch.nn.Linear(3 * 3 * 3, 1)).to(dtype)
    sm = sg.nn.Sequential(sg.nn.Conv2d(1, 3, 3, stride=2, padding=1), sg.nn.LeakyReLU(0.2),
                          sg.nn.Flatten(), sg.nn.Linear(3 * 3 * 3, 1))
    sm.to(dtype=numpy.float64 if dtype == torch.float64 else numpy.float32)
    sm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return tm, sm


def _parameter_grads(sm, tm):
    """(name, ours, theirs) per parameter; a gradient left None (the bias: it does not move
    grad_x D, so the penalty does not depend on it) counts as zeros, as PyTorch fills it."""
    ours = dict(sm.named_parameters())
    for name, parameter in tm.named_parameters():
        mine = ours[name]
        mine_grad = mine.grad.numpy() if mine.grad is not None else numpy.zeros(mine.shape, mine.dtype)
        theirs = parameter.grad.numpy() if parameter.grad is not None else numpy.zeros(mine.shape)
        yield name, mine_grad, theirs


def test_gradient_penalty_parity_with_torch_double_backward(torch, rng):
    tm, sm = _conv_critic_pair(torch, torch.float64)
    real, fake = rng.standard_normal((5, 1, 6, 6)), rng.standard_normal((5, 1, 6, 6))
    alpha = rng.random((5, 1, 1, 1))
    x_hat = torch.tensor(alpha * real + (1 - alpha) * fake, requires_grad=True)
    (gradient,) = torch.autograd.grad(tm(x_hat).sum(), x_hat, create_graph=True)
    expected = ((gradient.flatten(1).norm(dim=1) - 1) ** 2).mean()
    expected.backward()
    value = penalties.gradient_penalty(sm, sg.Tensor(real), sg.Tensor(fake), alpha=alpha)
    value.backward()
    assert value.item() == pytest.approx(expected.item(), rel=1e-10)
    for name, ours, theirs in _parameter_grads(sm, tm):
        numpy.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12, err_msg=name)


def test_r1_parity_with_torch_double_backward_float32(torch, rng):
    tm, sm = _conv_critic_pair(torch, torch.float32)
    real = rng.standard_normal((5, 1, 6, 6)).astype(numpy.float32)
    x = torch.tensor(real, requires_grad=True)
    (gradient,) = torch.autograd.grad(tm(x).sum(), x, create_graph=True)
    expected = gradient.pow(2).flatten(1).sum(1).mean()
    expected.backward()
    value = penalties.r1_penalty(sm, sg.Tensor(real))
    value.backward()
    assert value.dtype == numpy.float32
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    for name, ours, theirs in _parameter_grads(sm, tm):
        assert ours.dtype == numpy.float32
        numpy.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("layer", ["linear", "conv", "conv_transpose"])
def test_spectral_norm_matches_torch_over_training_steps(torch, rng, layer):
    make = {
        "linear": (lambda: torch.nn.Linear(5, 3), lambda: sg.nn.Linear(5, 3, dtype=numpy.float64), (4, 5)),
        "conv": (lambda: torch.nn.Conv2d(2, 3, 3), lambda: sg.nn.Conv2d(2, 3, 3, dtype=numpy.float64), (2, 2, 5, 5)),
        "conv_transpose": (lambda: torch.nn.ConvTranspose2d(2, 3, 3),
                           lambda: sg.nn.ConvTranspose2d(2, 3, 3, dtype=numpy.float64), (2, 2, 5, 5)),
    }[layer]
    tm = torch.nn.utils.spectral_norm(make[0]())
    sm = sg.nn.utils.spectral_norm(make[1]())
    assert list(sm.state_dict()) == list(tm.state_dict())
    sm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal(make[2])
    for _ in range(3):  # each training forward runs one power iteration on both sides
        report = sg.check.compare_with_torch(tm, sm, [x], loss_fn=lambda y: (y * y).sum(), copy_weights=False)
        assert report.max_abs < 1e-10, str(report)
        numpy.testing.assert_allclose(sm.weight_u.numpy(), tm.weight_u.numpy(), atol=1e-12)


def test_spectral_norm_makes_the_largest_singular_value_one(rng):
    layer = sg.nn.utils.spectral_norm(sg.nn.Linear(6, 4, dtype=numpy.float64), n_power_iterations=500)
    layer(sg.Tensor(rng.standard_normal((2, 6))))
    assert numpy.linalg.svd(layer.weight.numpy(), compute_uv=False)[0] == pytest.approx(1.0, rel=1e-6)
