"""The Dirac-GAN analysis (Mescheder, Geiger and Nowozin 2018, arXiv:1801.04406, Sections 2-3)
against scratchgan's higher-order autodiff: demos/dirac_gan.py's gradient vector field, its
Jacobian by double backward (triple through the R1 penalty), the closed forms and eigenvalues.

v(theta, psi) = (-dL/dtheta, dL/dpsi - gamma psi) with L = f(psi theta) + f(0),
f(t) = -log(1 + exp(-t)): f'(t) = 1 / (1 + e^t), f''(t) = -e^t / (1 + e^t)^2.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "demos"))  # as when the demo runs as a script
import dirac_gan  # noqa: E402

F_PRIME_0 = 0.5
F_SECOND_0 = -0.25


def f_prime(t):
    return 1.0 / (1.0 + np.exp(t))


def f_second(t):
    return -np.exp(t) / (1.0 + np.exp(t)) ** 2


def closed_form_jacobian(theta, psi, gamma=0.0):
    """d v / d(theta, psi) of v = (-psi f'(psi theta), theta f'(psi theta) - gamma psi)."""
    t = psi * theta
    return np.array([
        [-psi * psi * f_second(t), -f_prime(t) - t * f_second(t)],
        [f_prime(t) + t * f_second(t), theta * theta * f_second(t) - gamma],
    ])


def test_the_derivatives_of_f_at_zero_are_the_constants_the_analysis_uses():
    assert (f_prime(0.0), f_second(0.0)) == (dirac_gan.F_PRIME_0, dirac_gan.F_SECOND_0) == (F_PRIME_0, F_SECOND_0)


def test_unregularised_jacobian_at_the_equilibrium_is_a_rotation_with_eigenvalues_plus_minus_i_f_prime_0():
    computed = dirac_gan.jacobian_at(dirac_gan.Game("gan"), 0.0, 0.0)
    np.testing.assert_allclose(computed, [[0.0, -F_PRIME_0], [F_PRIME_0, 0.0]], rtol=0, atol=1e-12)
    eigenvalues = np.sort_complex(np.linalg.eigvals(computed))
    np.testing.assert_allclose(eigenvalues, [-1j * F_PRIME_0, 1j * F_PRIME_0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("gamma", [0.3, 2.0], ids=["underdamped", "overdamped"])
def test_r1_penalty_adds_minus_gamma_to_the_psi_psi_entry(gamma):
    """Through sg.gan.penalties' r1 (E ||grad_x D||^2, weighted gamma / 2): a third derivative."""
    computed = dirac_gan.jacobian_at(dirac_gan.Game("r1", gamma=gamma), 0.0, 0.0)
    np.testing.assert_allclose(computed, [[0.0, -F_PRIME_0], [F_PRIME_0, -gamma]], rtol=0, atol=1e-12)


@pytest.mark.parametrize("gamma", [0.3, 2.0], ids=["underdamped", "overdamped"])
def test_r1_eigenvalues_are_minus_half_gamma_plus_minus_the_root(gamma):
    computed = dirac_gan.jacobian_at(dirac_gan.Game("r1", gamma=gamma), 0.0, 0.0)
    root = np.sqrt(complex(gamma * gamma / 4 - F_PRIME_0 ** 2))
    derived = np.sort_complex(np.array([-gamma / 2 - root, -gamma / 2 + root]))
    np.testing.assert_allclose(np.sort_complex(np.linalg.eigvals(computed)), derived, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.sort_complex(dirac_gan.Game("r1", gamma=gamma).eigenvalues()), derived,
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("point", [(0.7, -0.4), (-1.3, 0.9)])
@pytest.mark.parametrize("gamma", [0.0, 0.3])
def test_jacobian_away_from_the_equilibrium_matches_the_closed_form(point, gamma):
    """Off (0, 0) every second-order term of f enters (psi^2 f'', theta^2 f'', t f'')."""
    computed = dirac_gan.jacobian_at(dirac_gan.Game("game", gamma=gamma), *point)
    np.testing.assert_allclose(computed, closed_form_jacobian(*point, gamma), rtol=0, atol=1e-12)


def test_instance_noise_jacobian_is_f_second_0_times_the_draws_second_moments():
    """At psi = 0, d^2 L / dpsi^2 = f''(0) (mean (theta + e)^2 + mean e'^2) for the draw used."""
    game = dirac_gan.Game("noise", sigma=0.8)
    noise = game.draw_noise(np.random.default_rng(3), samples=256)
    computed = dirac_gan.jacobian_at(game, 0.0, 0.0, noise=noise)
    own = F_SECOND_0 * sum(np.mean(draw * draw) for draw in noise)
    np.testing.assert_allclose(computed, [[0.0, -F_PRIME_0], [F_PRIME_0, own]], rtol=0, atol=1e-12)


def test_instance_noise_jacobian_averages_to_two_sigma_squared_f_second_0():
    game = dirac_gan.Game("noise", sigma=0.8)
    noise = game.draw_noise(np.random.default_rng(4), samples=20000)
    computed = dirac_gan.jacobian_at(game, 0.0, 0.0, noise=noise)
    # mean e^2 over 10000 independent pairs has relative standard deviation sqrt(2 / 10000) / sqrt(2) = 1%
    assert computed[1, 1] == pytest.approx(2 * 0.8 ** 2 * F_SECOND_0, rel=0.04)
    np.testing.assert_allclose(game.jacobian(), [[0.0, -F_PRIME_0], [F_PRIME_0, 2 * 0.8 ** 2 * F_SECOND_0]])


@pytest.mark.parametrize("sigma", [1.0, 2.5], ids=["underdamped", "overdamped"])
def test_instance_noise_eigenvalues_are_f_second_0_sigma_squared_plus_minus_the_root(sigma):
    root = np.sqrt(complex(F_SECOND_0 ** 2 * sigma ** 4 - F_PRIME_0 ** 2))
    derived = np.sort_complex(np.array([F_SECOND_0 * sigma ** 2 - root, F_SECOND_0 * sigma ** 2 + root]))
    np.testing.assert_allclose(np.sort_complex(dirac_gan.Game("noise", sigma=sigma).eigenvalues()), derived,
                               rtol=0, atol=1e-12)


def test_wgan_jacobian_is_the_bilinear_rotation():
    computed = dirac_gan.jacobian_at(dirac_gan.Game("wgan", clip=0.3), 0.0, 0.0)
    np.testing.assert_allclose(computed, [[0.0, -1.0], [1.0, 0.0]], rtol=0, atol=1e-12)


@pytest.mark.parametrize("alternating", [False, True], ids=["simultaneous", "alternating"])
def test_one_optimizer_step_near_the_equilibrium_is_the_linearised_step_map(alternating):
    """The map whose eigenvalues give the demo's log|mu| is what SGD does to a small offset."""
    game = dirac_gan.Game("r1", gamma=0.3, alternating=alternating, lr=0.1)
    start = np.array([1e-6, -2e-6])
    stepped = dirac_gan.train(game, 1, start=tuple(start))[-1]
    np.testing.assert_allclose(stepped, game.step_map() @ start, rtol=1e-10, atol=0)
