"""The exact side of demos/wgan_critic_surfaces.py: its optimal-transport W1 and its data.

The demo scores each critic against W1(P, Q) from an exact assignment; these tests pin that
reference down on cases with a known answer, so a wrong cost matrix or a wrong reduction
cannot pass for a well-trained critic.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

DEMO_DIR = Path(__file__).resolve().parents[1] / "demos"
sys.path.insert(0, str(DEMO_DIR))  # the demo imports demos/_demo.py
_spec = importlib.util.spec_from_file_location("wgan_critic_surfaces", DEMO_DIR / "wgan_critic_surfaces.py")
demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo)


def test_transport_cost_of_a_shifted_cloud_is_the_shift():
    points = np.random.default_rng(0).standard_normal((200, 2))
    shift = np.array([0.3, -0.4])  # a translation: every coupling costs at least ||shift||, the identity exactly
    assert demo.transport_cost(points, points + shift) == pytest.approx(0.5, abs=1e-12)


def test_transport_cost_finds_the_permutation():
    p = np.array([[0.0, 0.0], [10.0, 0.0]])
    q = np.array([[10.0, 1.0], [0.0, 1.0]])  # listed in the crossed order: each point moves 1 straight up
    assert demo.transport_cost(p, q) == pytest.approx(1.0, abs=1e-12)


def test_the_data_sets_are_the_toy_codes_scales():
    rng = np.random.default_rng(1)
    ring = demo.DATASETS["8 Gaussians"].sample(4000, rng)
    assert np.median(np.linalg.norm(ring, axis=1)) == pytest.approx(2 / 1.414, abs=0.01)
    grid = demo.DATASETS["25 Gaussians"].sample(4000, rng)
    assert np.abs(grid).max() == pytest.approx(2 * 2 / 2.828, abs=0.1)
    roll = demo.DATASETS["swiss roll"].sample(4000, rng)
    assert np.abs(roll).max() == pytest.approx(4.5 * np.pi / 7.5, abs=0.15)  # scikit-learn's t cos t at t = 4.5 pi, / 7.5
