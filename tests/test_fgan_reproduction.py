"""The exact side of demos/fgan_gaussian_fit.py: its quadrature of D_f(P || Q), its minimiser,
and its f's pairing with the conjugates of scratchgan's f-GAN losses.

The demo compares trained f-GANs with the exact minimiser of D_f(P || Q) = integral q f(p/q)
over Gaussians Q; these tests pin that reference down: closed forms where they exist
(KL between Gaussians; moment matching for KL(P || Q)), and f* = sup_u (u t - f(u)) computed
numerically against sg.gan.losses' f*(g_f(v)), so the f in the demo and the loss it is
compared with describe the same divergence in the same direction.
"""

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize

import scratchgan as sg

DEMO_DIR = Path(__file__).resolve().parents[1] / "demos"
sys.path.insert(0, str(DEMO_DIR))  # the demo imports demos/_demo.py
_spec = importlib.util.spec_from_file_location("fgan_gaussian_fit", DEMO_DIR / "fgan_gaussian_fit.py")
demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo)


def gaussian_kl(m1, s1, m2, s2):
    """KL(N(m1, s1^2) || N(m2, s2^2)) in closed form."""
    return math.log(s2 / s1) + (s1 * s1 + (m1 - m2) ** 2) / (2 * s2 * s2) - 0.5


GAUSSIAN_PAIRS = [((0.3, 1.1), (-0.4, 0.8)), ((0.0, 0.6), (1.5, 1.7)), ((-2.0, 1.0), (-2.0, 1.0))]


@pytest.mark.parametrize("p_params, q_params", GAUSSIAN_PAIRS)
def test_quadrature_kl_between_gaussians_matches_closed_form(p_params, q_params):
    (m1, s1), (m2, s2) = p_params, q_params
    p = demo.Mixture(weights=(1.0,), means=(m1,), stds=(s1,))
    kl = demo.f_divergence(demo.F_FUNCTIONS["f_kl"][1], p, m2, s2)
    assert kl == pytest.approx(gaussian_kl(m1, s1, m2, s2), abs=1e-8)


@pytest.mark.parametrize("p_params, q_params", GAUSSIAN_PAIRS)
def test_quadrature_reverse_kl_is_kl_of_q_from_p(p_params, q_params):
    (m1, s1), (m2, s2) = p_params, q_params
    p = demo.Mixture(weights=(1.0,), means=(m1,), stds=(s1,))
    reverse_kl = demo.f_divergence(demo.F_FUNCTIONS["f_reverse_kl"][1], p, m2, s2)
    assert reverse_kl == pytest.approx(gaussian_kl(m2, s2, m1, s1), abs=1e-8)


@pytest.mark.parametrize("name", list(demo.F_FUNCTIONS))
def test_divergence_of_p_from_itself_is_zero(name):
    p = demo.Mixture(weights=(1.0,), means=(0.7,), stds=(1.3,))
    assert demo.f_divergence(demo.F_FUNCTIONS[name][1], p, 0.7, 1.3) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("mixture", [
    demo.MIXTURE,
    demo.Mixture(weights=(0.5, 0.3, 0.2), means=(-1.0, 0.5, 2.5), stds=(0.4, 0.8, 0.5)),
], ids=["demo mixture", "three modes"])
def test_exact_kl_minimiser_is_moment_matching(mixture):
    mu, sigma, _ = demo.exact_minimiser(demo.F_FUNCTIONS["f_kl"][1], mixture, demo.minimiser_starts(mixture))
    assert mu == pytest.approx(mixture.mean(), abs=1e-4)
    assert sigma == pytest.approx(mixture.std(), abs=1e-4)


def test_reverse_kl_minimiser_is_narrower_than_kl_and_on_the_heavy_mode():
    kl_mu, kl_sigma, _ = demo.exact_minimiser(demo.F_FUNCTIONS["f_kl"][1], demo.MIXTURE,
                                              demo.minimiser_starts(demo.MIXTURE))
    reverse_mu, reverse_sigma, _ = demo.exact_minimiser(demo.F_FUNCTIONS["f_reverse_kl"][1], demo.MIXTURE,
                                                        demo.minimiser_starts(demo.MIXTURE))
    heavy = int(np.argmax(demo.MIXTURE.weights))
    assert reverse_sigma < 0.7 * kl_sigma
    assert abs(reverse_mu - demo.MIXTURE.means[heavy]) < demo.MIXTURE.stds[heavy]


def numerical_conjugate(f, t):
    """f*(t) = sup_{u > 0} (u t - f(u)), maximised over log u."""
    result = optimize.minimize_scalar(lambda log_u: -(math.exp(log_u) * t - f(math.exp(log_u))),
                                      bounds=(-25.0, 25.0), method="bounded", options=dict(xatol=1e-10))
    return -result.fun


@pytest.mark.parametrize("name", list(demo.F_FUNCTIONS))
def test_demo_f_is_the_conjugate_pair_of_the_loss(name):
    """Where the supremum is attained at some u > 0 (Pearson's f* = t^2/4 + t needs t > -2),
    sup_u (u g_f(v) - f(u)) equals the loss's f*(g_f(v))."""
    f = demo.F_FUNCTIONS[name][1]
    loss = sg.gan.losses.get(name)
    v = np.linspace(-1.5, 2.0, 8)
    with sg.no_grad():
        t = loss.activation(sg.Tensor(v)).numpy()
        conjugate = loss.conjugate_of_activation(sg.Tensor(v)).numpy()
    numerical = [numerical_conjugate(lambda u: float(f(np.float64(u))), float(ti)) for ti in t]
    np.testing.assert_allclose(conjugate, numerical, rtol=1e-7, atol=1e-8)
