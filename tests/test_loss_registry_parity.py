"""Every loss of the registry against an independent PyTorch formula, one call each.

The formulas below are written the way the papers state them, in probabilities and with the
f-GAN output activation g_f and conjugate f* applied one after the other, not in the logit
closed forms of scratchgan.gan.losses. Each side of each loss (the discriminator's and the
generator's) is one ``check.compare_functions`` call on a smooth critic with copied weights:
the value, the gradients of the real and fake batches and of every critic parameter, and,
second order, the gradients of the sum of squared input gradients (what a gradient-penalty
update differentiates) to 1e-10 in float64.
"""

from __future__ import annotations

import math

import numpy
import pytest

import scratchgan as sg
from scratchgan.check import compare_functions
from scratchgan.gan import losses

pytestmark = pytest.mark.parity

LOG2 = math.log(2.0)


def critic(nn):
    return nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 1))


# -- the formulas, in torch: (discriminator(torch, r, f), generator(torch, f, r)) ------------------
def bce_pair(generator):
    def discriminator(torch, r, f):
        return -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean()
    return discriminator, generator


def relativistic(torch, a, b, target):  # BCE(sigmoid(a - E b), target), in logits
    return torch.nn.functional.binary_cross_entropy_with_logits(a - b.mean(), torch.full_like(a, target))


def f_gan(activation, conjugate, heuristic=False):
    """-F(T) for D and the generator's term of F, F = E_P g_f(r) - E_Q f*(g_f(f)) (Nowozin et al.)."""
    def discriminator(torch, r, f):
        return -(activation(torch, r).mean() - conjugate(torch, activation(torch, f)).mean())

    def generator(torch, f, r):
        if heuristic:
            return -activation(torch, f).mean()
        return -conjugate(torch, activation(torch, f)).mean()
    return discriminator, generator


FORMULAS = {
    "minimax": bce_pair(lambda torch, f, r: torch.log(1 - torch.sigmoid(f)).mean()),
    "nonsaturating": bce_pair(lambda torch, f, r: -torch.log(torch.sigmoid(f)).mean()),
    # exp(logit) = D / (1 - D)
    "maximum_likelihood": bce_pair(lambda torch, f, r: -(torch.sigmoid(f) / (1 - torch.sigmoid(f))).mean()),
    "wasserstein": (lambda torch, r, f: f.mean() - r.mean(), lambda torch, f, r: -f.mean()),
    "least_squares": (lambda torch, r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f ** 2).mean(),
                      lambda torch, f, r: 0.5 * ((f - 1) ** 2).mean()),
    "least_squares/pearson": (lambda torch, r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * ((f + 1) ** 2).mean(),
                              lambda torch, f, r: 0.5 * (f ** 2).mean()),
    "hinge": (lambda torch, r, f: torch.relu(1 - r).mean() + torch.relu(1 + f).mean(), lambda torch, f, r: -f.mean()),
    "relativistic_average": (
        lambda torch, r, f: relativistic(torch, r, f, 1.0) + relativistic(torch, f, r, 0.0),
        lambda torch, f, r: relativistic(torch, f, r, 1.0) + relativistic(torch, r, f, 0.0)),
    "relativistic_average_ls": (
        lambda torch, r, f: ((r - f.mean() - 1) ** 2).mean() + ((f - r.mean() + 1) ** 2).mean(),
        lambda torch, f, r: ((f - r.mean() - 1) ** 2).mean() + ((r - f.mean() + 1) ** 2).mean()),
    "energy_based": (lambda torch, r, f: r.mean() + torch.relu(1.0 - f).mean(), lambda torch, f, r: f.mean()),
    "energy_based/margin_2": (lambda torch, r, f: r.mean() + torch.relu(2.0 - f).mean(),
                              lambda torch, f, r: f.mean()),
    "f_kl": f_gan(lambda torch, v: v, lambda torch, t: torch.exp(t - 1)),
    "f_kl/heuristic": f_gan(lambda torch, v: v, lambda torch, t: torch.exp(t - 1), heuristic=True),
    "f_reverse_kl": f_gan(lambda torch, v: -torch.exp(-v), lambda torch, t: -1 - torch.log(-t)),
    "f_pearson": f_gan(lambda torch, v: v, lambda torch, t: t * t / 4 + t),
    "f_hellinger": f_gan(lambda torch, v: 1 - torch.exp(-v), lambda torch, t: t / (1 - t)),
    "f_js": f_gan(lambda torch, v: LOG2 - torch.log1p(torch.exp(-v)), lambda torch, t: -torch.log(2 - torch.exp(t))),
    "f_js/heuristic": f_gan(lambda torch, v: LOG2 - torch.log1p(torch.exp(-v)),
                            lambda torch, t: -torch.log(2 - torch.exp(t)), heuristic=True),
}
PARAMS = {"least_squares/pearson": {"preset": "pearson"}, "energy_based/margin_2": {"margin": 2.0},
          "f_kl/heuristic": {"heuristic": True}, "f_js/heuristic": {"heuristic": True}}


def test_every_registered_loss_has_an_independent_formula():
    assert {case.split("/")[0] for case in FORMULAS} == set(losses.names())


def batch():
    rng = numpy.random.default_rng(7)
    return {"real": rng.standard_normal((5, 3)), "fake": 0.7 * rng.standard_normal((5, 3)) + 0.4}


@pytest.mark.parametrize("side", ["discriminator", "generator"])
@pytest.mark.parametrize("case", list(FORMULAS))
def test_registered_loss_matches_its_formula_to_second_order_in_one_call(torch, case, side):
    loss = losses.get(case.split("/")[0], **PARAMS.get(case, {}))
    discriminator_formula, generator_formula = FORMULAS[case]

    def theirs(critic, real, fake):
        if side == "discriminator":
            return discriminator_formula(torch, critic(real), critic(fake))
        return generator_formula(torch, critic(fake), critic(real))

    def ours(critic, real, fake):
        if side == "discriminator":
            return loss.discriminator(critic(real), critic(fake))
        return loss.generator(critic(fake), real_out=critic(real) if loss.generator_needs_real else None)

    report = compare_functions(theirs, ours, critic(torch.nn).to(torch.float64),
                               critic(sg.nn).to(dtype=numpy.float64), batch(), second_order=True)
    report.assert_close(1e-10)
    assert report["grad2 input fake"].status == "compared"  # the loss reaches the fakes to second order
