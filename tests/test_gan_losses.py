"""Adversarial losses: values on hand-computed cases, gradients, registry."""

import math

import numpy
import pytest

import scratchgan as sg
from scratchgan.gan import losses

R = numpy.array([[0.5], [-1.0], [2.0]])
F = numpy.array([[-0.3], [1.5], [0.0]])


def sp(v):
    return numpy.log1p(numpy.exp(v))


def sig(v):
    return 1 / (1 + numpy.exp(-v))


# (name, params, expected discriminator loss, expected generator loss), written from the formulas
EXPECTED = [
    ("minimax", {}, sp(-R).mean() + sp(F).mean(), -sp(F).mean()),
    ("nonsaturating", {}, sp(-R).mean() + sp(F).mean(), sp(-F).mean()),
    ("maximum_likelihood", {}, sp(-R).mean() + sp(F).mean(), -numpy.exp(F).mean()),
    ("wasserstein", {}, F.mean() - R.mean(), -F.mean()),
    ("least_squares", {}, 0.5 * ((R - 1) ** 2).mean() + 0.5 * (F ** 2).mean(), 0.5 * ((F - 1) ** 2).mean()),
    ("least_squares", {"preset": "pearson"},
     0.5 * ((R - 1) ** 2).mean() + 0.5 * ((F + 1) ** 2).mean(), 0.5 * (F ** 2).mean()),
    ("hinge", {}, numpy.maximum(0, 1 - R).mean() + numpy.maximum(0, 1 + F).mean(), -F.mean()),
    ("relativistic_average", {}, sp(-(R - F.mean())).mean() + sp(F - R.mean()).mean(),
     sp(-(F - R.mean())).mean() + sp(R - F.mean()).mean()),
    ("relativistic_average_ls", {}, ((R - F.mean() - 1) ** 2).mean() + ((F - R.mean() + 1) ** 2).mean(),
     ((F - R.mean() - 1) ** 2).mean() + ((R - F.mean() + 1) ** 2).mean()),
    ("energy_based", {"margin": 1.0}, R.mean() + numpy.maximum(0, 1.0 - F).mean(), F.mean()),
    ("f_kl", {}, -(R.mean() - numpy.exp(F - 1).mean()), -numpy.exp(F - 1).mean()),
    ("f_reverse_kl", {}, -((-numpy.exp(-R)).mean() - (F - 1).mean()), -(F - 1).mean()),
    ("f_pearson", {}, -(R.mean() - (F ** 2 / 4 + F).mean()), -(F ** 2 / 4 + F).mean()),
    ("f_hellinger", {}, -((1 - numpy.exp(-R)).mean() - (numpy.exp(F) - 1).mean()), -(numpy.exp(F) - 1).mean()),
    ("f_js", {}, -((math.log(2) - sp(-R)).mean() - (sp(F) - math.log(2)).mean()), -(sp(F) - math.log(2)).mean()),
]


@pytest.mark.parametrize("name, params, d_expected, g_expected", EXPECTED,
                         ids=[f"{e[0]}-{e[1]}" for e in EXPECTED])
def test_loss_values_match_the_formulas(name, params, d_expected, g_expected):
    loss = losses.get(name, **params)
    real, fake = sg.Tensor(R), sg.Tensor(F)
    assert loss.discriminator(real, fake).item() == pytest.approx(d_expected, rel=1e-12, abs=1e-12)
    assert loss.generator(fake, real_out=real).item() == pytest.approx(g_expected, rel=1e-12, abs=1e-12)


def test_every_registered_loss_has_a_value_test():
    assert {e[0] for e in EXPECTED} == set(losses.names())


def test_minimax_logit_form_equals_the_seed_probability_form():
    d_real, d_fake = sig(R), sig(F)
    seed_j_d = -numpy.log(d_real).mean() - numpy.log(1 - d_fake).mean()  # seed 000 without the 1/2
    loss = losses.get("minimax")
    assert loss.discriminator(sg.Tensor(R), sg.Tensor(F)).item() == pytest.approx(seed_j_d, rel=1e-12)
    assert loss.generator(sg.Tensor(F)).item() == pytest.approx(numpy.log(1 - d_fake).mean(), rel=1e-12)


def test_f_js_discriminator_is_the_gan_loss_minus_two_log_two():
    gan = losses.get("minimax").discriminator(sg.Tensor(R), sg.Tensor(F)).item()
    js = losses.get("f_js").discriminator(sg.Tensor(R), sg.Tensor(F)).item()
    assert js == pytest.approx(gan - 2 * math.log(2), rel=1e-12)


@pytest.mark.parametrize("name", losses.names())
def test_loss_gradients_match_finite_differences(name):
    loss = losses.get(name)
    real = sg.Tensor(R.copy(), requires_grad=True)
    fake = sg.Tensor(F.copy(), requires_grad=True)
    sg.gradcheck(lambda r, f: loss.discriminator(r, f), (real, fake))
    sg.gradcheck(lambda r, f: loss.generator(f, real_out=r), (real, fake))
    sg.gradgradcheck(lambda r, f: loss.discriminator(r, f) + loss.generator(f, real_out=r), (real, fake))


@pytest.mark.parametrize("name", ["minimax", "nonsaturating", "relativistic_average", "f_js"])
def test_logit_losses_are_finite_at_extreme_logits(name):
    loss = losses.get(name)
    real = sg.Tensor(numpy.array([[1e4], [-1e4]], dtype=numpy.float32), requires_grad=True)
    fake = sg.Tensor(numpy.array([[-1e4], [1e4]], dtype=numpy.float32), requires_grad=True)
    total = loss.discriminator(real, fake) + loss.generator(fake, real_out=real)
    total.backward()
    assert numpy.isfinite(total.item())
    assert numpy.isfinite(real.grad.numpy()).all() and numpy.isfinite(fake.grad.numpy()).all()
    assert real.grad.dtype == numpy.float32


def test_nonsaturating_generator_gradient_does_not_vanish_where_minimax_does():
    # seed 000: when D confidently rejects fakes (D(G(z)) -> 0), the saturating cost's gradient -> 0
    confident_rejection = sg.Tensor(numpy.array([[-8.0]]), requires_grad=True)
    (saturating,) = sg.grad(losses.get("minimax").generator(confident_rejection), confident_rejection)
    (non_saturating,) = sg.grad(losses.get("nonsaturating").generator(confident_rejection), confident_rejection)
    assert abs(saturating.item()) < 1e-3 < abs(non_saturating.item())


def test_unknown_loss_lists_the_valid_names():
    with pytest.raises(ValueError, match="expected one of: minimax, nonsaturating"):
        losses.get("vanilla")


def test_bad_loss_parameters_are_reported():
    with pytest.raises(ValueError, match="bad parameters"):
        losses.get("hinge", margin=2)
    with pytest.raises(ValueError, match="unknown preset"):
        losses.get("least_squares", preset="chi")


def test_relativistic_generator_requires_real_outputs():
    with pytest.raises(ValueError, match="needs real_out"):
        losses.get("relativistic_average").generator(sg.Tensor(F))
