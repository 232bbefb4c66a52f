"""The penalty registry: every entry against an independent PyTorch formula, errors, variants.

Each registry entry is called through ``penalties.get(name, **params)`` with its one signature
``(D, real, fake=None, *, alpha=None, delta=None)`` and compared in float64 with the formula
written here in torch ops, in one ``check.compare_functions`` call (weights copied): the value
(which differentiates D once, in x), the gradient of the value with respect to every critic
parameter (for the input-gradient penalties, a double backward through D) and, second order,
the gradients of the sum of squares of those. Draws are replayed by passing ``alpha`` and
``delta`` explicitly, or by reseeding scratchgan's generator.
"""

from __future__ import annotations

import math

import numpy
import pytest

import scratchgan as sg
from scratchgan.check import compare_functions
from scratchgan.gan import penalties

BATCH = 3
FLAT_SHAPE = (BATCH, 5)
IMAGE_SHAPE = (BATCH, 2, 4, 4)


# -- critics and inputs ----------------------------------------------------------------------------
def mlp_critic(nn):
    """(N, 5) -> (N, 1), smooth (tanh, softplus) so the penalty has curvature in x and W."""
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 6), nn.Softplus(), nn.Linear(6, 1))


def conv_critic(nn):
    """(N, 2, 4, 4) -> (N, 1)."""
    return nn.Sequential(nn.Conv2d(2, 3, 3, stride=2, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(12, 1))


def batches(shape, seed=0):
    """real, fake, per-sample alpha (N, 1, ...), a per-element delta, all float64."""
    rng = numpy.random.default_rng(seed)
    alpha = rng.uniform(0.1, 0.9, (shape[0],) + (1,) * (len(shape) - 1))
    return rng.standard_normal(shape), 0.5 * rng.standard_normal(shape) + 0.3, alpha, rng.standard_normal(shape)


# -- the formulas, in torch ------------------------------------------------------------------------
def torch_input_gradient(torch, critic, x):
    x = x.detach().requires_grad_()
    (gradient,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return gradient


def torch_norms(gradient, dim=None):
    return gradient.flatten(1).norm(dim=1) if dim is None else gradient.norm(2, dim=dim)


def torch_gradient_penalty(torch, critic, real, fake, alpha, delta, center=1.0, one_sided=False, dim=None,
                           reduce="mean"):
    excess = torch_norms(torch_input_gradient(torch, critic, alpha * real + (1 - alpha) * fake), dim) - center
    squared = (excess.clamp(min=0) if one_sided else excess) ** 2
    return squared.mean() if reduce == "mean" else squared.max()


def torch_dragan_paper(torch, critic, real, fake, alpha, delta, k=1.0):
    return ((torch_norms(torch_input_gradient(torch, critic, real + delta)) - k) ** 2).mean()


def torch_dragan_authors_code(torch, critic, real, fake, alpha, delta):
    perturbed = real + delta  # the code's X_p
    return ((torch_norms(torch_input_gradient(torch, critic, real + alpha * (perturbed - real))) - 1) ** 2).mean()


def torch_r1(torch, critic, real, fake, alpha, delta):
    return torch_input_gradient(torch, critic, real).pow(2).flatten(1).sum(1).mean()


def torch_r2(torch, critic, real, fake, alpha, delta):
    return torch_input_gradient(torch, critic, fake).pow(2).flatten(1).sum(1).mean()


def torch_wgan_div(torch, critic, real, fake, alpha, delta, k=2.0, p=6.0):
    gradient = torch_input_gradient(torch, critic, alpha * real + (1 - alpha) * fake)
    return k * (torch_norms(gradient) ** p).mean()


ANCHOR_REAL, ANCHOR_FAKE = 0.4, -0.2


def torch_lecam(torch, critic, real, fake, alpha, delta, one_sided=False):
    real_gap, fake_gap = critic(real) - ANCHOR_FAKE, ANCHOR_REAL - critic(fake)
    if one_sided:
        real_gap, fake_gap = real_gap.clamp(min=0), fake_gap.clamp(min=0)
    return (real_gap ** 2).mean() + (fake_gap ** 2).mean()


def fixed_anchors():
    anchors = penalties.LeCamAnchors()
    anchors.real, anchors.fake = ANCHOR_REAL, ANCHOR_FAKE
    return anchors


# (id, name, params, which call-time arguments it takes, the torch formula and its keywords, the critic)
CASES = [
    ("gp", "gradient_penalty", {}, ("alpha",), (torch_gradient_penalty, {}), "mlp"),
    ("gp-one-sided", "gradient_penalty", {"center": 0.068, "one_sided": True}, ("alpha",),  # norms 0.062-0.072
     (torch_gradient_penalty, {"center": 0.068, "one_sided": True}), "mlp"),
    ("gp-max", "gradient_penalty", {"reduce": "max"}, ("alpha",), (torch_gradient_penalty, {"reduce": "max"}),
     "mlp"),
    ("gp-image", "gradient_penalty", {}, ("alpha",), (torch_gradient_penalty, {}), "conv"),
    ("gp-norm-dim-1", "gradient_penalty", {"norm_axes": 1}, ("alpha",), (torch_gradient_penalty, {"dim": 1}),
     "conv"),
    ("gp-norm-dim-1-max", "gradient_penalty", {"norm_axes": (1,), "reduce": "max"}, ("alpha",),
     (torch_gradient_penalty, {"dim": 1, "reduce": "max"}), "conv"),
    ("max-gp", "max_gradient_penalty", {"center": 0.0}, ("alpha",),
     (torch_gradient_penalty, {"center": 0.0, "reduce": "max"}), "mlp"),
    ("dragan-paper", "dragan", {"k": 0.5}, ("delta",), (torch_dragan_paper, {"k": 0.5}), "mlp"),
    ("dragan-authors", "dragan", {"perturbation": "authors_code"}, ("alpha", "delta"),
     (torch_dragan_authors_code, {}), "conv"),
    ("r1", "r1", {}, (), (torch_r1, {}), "mlp"),
    ("r2", "r2", {}, (), (torch_r2, {}), "mlp"),
    ("wgan-div", "wgan_div", {}, ("alpha",), (torch_wgan_div, {}), "mlp"),
    ("wgan-div-p2", "wgan_div", {"k": 0.5, "p": 2.0}, ("alpha",), (torch_wgan_div, {"k": 0.5, "p": 2.0}), "conv"),
    ("lecam", "lecam", {"update": False}, (), (torch_lecam, {}), "mlp"),
    ("lecam-one-sided", "lecam", {"update": False, "one_sided": True}, (), (torch_lecam, {"one_sided": True}),
     "mlp"),
]
CRITICS = {"mlp": (mlp_critic, FLAT_SHAPE), "conv": (conv_critic, IMAGE_SHAPE)}


def test_every_registry_entry_has_a_parity_case():
    assert {case[1] for case in CASES} == set(penalties.names())


@pytest.mark.parity
@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_registry_entry_matches_the_torch_formula_to_second_order_in_one_call(torch, case):
    """The value, every critic parameter's gradient and the gradients of their sum of squares
    (a third derivative of D for the input-gradient penalties), one compare_functions call."""
    _, name, params, takes, (formula, formula_params), critic = case
    build, shape = CRITICS[critic]
    real, fake, alpha, delta = batches(shape)
    if name == "dragan" and params.get("perturbation") == "authors_code":
        delta = 0.5 * real.std() * numpy.random.default_rng(1).random(shape)  # the code's one-sided draw
    if name == "lecam":
        params = {**params, "anchors": fixed_anchors()}
    penalty = penalties.get(name, **params)

    def theirs(critic, real, fake, alpha, delta):
        return formula(torch, critic, real, fake, alpha, delta, **formula_params)

    def ours(critic, real, fake, alpha, delta):
        given = {"alpha": alpha, "delta": delta}
        return penalty(critic, real, fake, **{key: given[key] for key in takes})

    report = compare_functions(theirs, ours, build(torch.nn).to(torch.float64), build(sg.nn).to(dtype=numpy.float64),
                               {"real": real, "fake": fake, "alpha": alpha, "delta": delta},
                               constants=("real", "fake", "alpha", "delta"), second_order=True)
    report.assert_close(1e-10)
    assert any(row.startswith("grad2 ") and report[row].status == "compared" for row in report.rows)


# -- registry errors -------------------------------------------------------------------------------
def test_an_unknown_name_is_a_value_error_listing_the_known_names():
    with pytest.raises(ValueError, match="unknown penalty 'gp'; expected one of: gradient_penalty, "
                                         "max_gradient_penalty, dragan"):
        penalties.get("gp")


def test_an_unknown_parameter_is_a_type_error_naming_it_and_the_expected_ones():
    with pytest.raises(TypeError, match=r"penalty 'dragan': unknown parameter\(s\) lam; expected: k, c, perturbation"):
        penalties.get("dragan", lam=10.0)


def test_a_call_time_argument_the_penalty_does_not_use_is_refused():
    critic = mlp_critic(sg.nn).to(dtype=numpy.float64)
    real, fake, alpha, delta = (sg.Tensor(v) for v in batches(FLAT_SHAPE))
    with pytest.raises(TypeError, match="penalty 'r1' takes no alpha"):
        penalties.get("r1")(critic, real, fake, alpha=alpha)
    with pytest.raises(TypeError, match="penalty 'gradient_penalty' takes no delta"):
        penalties.get("gradient_penalty")(critic, real, fake, delta=delta)
    with pytest.raises(TypeError, match="alpha is only used with perturbation='authors_code'"):
        penalties.get("dragan")(critic, real, alpha=alpha)


def test_a_penalty_on_fakes_without_fakes_is_a_value_error():
    critic = mlp_critic(sg.nn).to(dtype=numpy.float64)
    with pytest.raises(ValueError, match="penalty 'r2' needs the fake batch"):
        penalties.get("r2")(critic, sg.Tensor(batches(FLAT_SHAPE)[0]))


def test_bad_choices_are_value_errors_at_get():
    with pytest.raises(ValueError, match="reduce must be one of 'mean', 'max', got 'sum'"):
        penalties.get("gradient_penalty", reduce="sum")
    with pytest.raises(ValueError, match="perturbation must be one of 'paper', 'authors_code', got 'code'"):
        penalties.get("dragan", perturbation="code")


@pytest.mark.parametrize("norm_axes", [0, (), (1, 4)])
def test_norm_axes_must_be_non_batch_axes_of_the_gradient(norm_axes):
    critic = conv_critic(sg.nn).to(dtype=numpy.float64)
    real, fake, _, _ = (sg.Tensor(v) for v in batches(IMAGE_SHAPE))
    with pytest.raises(ValueError, match="gradient_penalty: norm_axes must be non-empty non-batch axes"):
        penalties.gradient_penalty(critic, real, fake, norm_axes=norm_axes)


def test_names_lists_every_entry_and_get_returns_its_defaults():
    assert penalties.names() == ["gradient_penalty", "max_gradient_penalty", "dragan", "r1", "r2", "wgan_div",
                                 "lecam"]
    assert penalties.get("wgan_div").params == {"k": 2.0, "p": 6.0}
    assert penalties.get("r2").reads == "fake"


# -- the variants and the draws --------------------------------------------------------------------
def test_norm_axes_over_every_non_batch_axis_is_the_default():
    critic = conv_critic(sg.nn).to(dtype=numpy.float64)
    real, fake, alpha, _ = (sg.Tensor(v) for v in batches(IMAGE_SHAPE))
    default = penalties.gradient_penalty(critic, real, fake, alpha=alpha).item()
    explicit = penalties.gradient_penalty(critic, real, fake, alpha=alpha, norm_axes=(1, 2, -1)).item()
    per_pixel = penalties.gradient_penalty(critic, real, fake, alpha=alpha, norm_axes=1).item()
    assert explicit == default
    assert abs(per_pixel - default) > 1e-3


def test_max_gradient_penalty_is_the_gradient_penalty_with_reduce_max():
    critic = mlp_critic(sg.nn).to(dtype=numpy.float64)
    real, fake, alpha, _ = (sg.Tensor(v) for v in batches(FLAT_SHAPE))
    named = penalties.get("max_gradient_penalty")(critic, real, fake, alpha=alpha).item()
    assert named == penalties.gradient_penalty(critic, real, fake, alpha=alpha, reduce="max").item()
    assert named >= penalties.gradient_penalty(critic, real, fake, alpha=alpha).item()


def test_dragan_paper_default_draws_delta_from_normal_with_variance_c():
    critic = mlp_critic(sg.nn).to(dtype=numpy.float64)
    real = sg.Tensor(batches(FLAT_SHAPE)[0])
    sg.random.manual_seed(7)
    drawn = penalties.dragan_penalty(critic, real, c=4.0).item()
    sg.random.manual_seed(7)
    delta = sg.random.generator().standard_normal(FLAT_SHAPE) * 2.0  # sqrt(c) * N(0, 1)
    assert drawn == pytest.approx(penalties.dragan_penalty(critic, real, delta=delta).item(), rel=1e-12)


def test_dragan_authors_code_draws_half_std_uniform_then_alpha_per_sample():
    critic = mlp_critic(sg.nn).to(dtype=numpy.float64)
    real = batches(FLAT_SHAPE)[0]
    sg.random.manual_seed(11)
    drawn = penalties.dragan_penalty(critic, sg.Tensor(real), perturbation="authors_code").item()
    sg.random.manual_seed(11)
    delta = 0.5 * real.std() * sg.random.generator().random(FLAT_SHAPE)  # drawn first
    alpha = sg.random.generator().random((BATCH, 1))
    replayed = penalties.dragan_penalty(critic, sg.Tensor(real), perturbation="authors_code", delta=delta,
                                        alpha=alpha).item()
    assert drawn == pytest.approx(replayed, rel=1e-12)


# -- LeCam's anchors -------------------------------------------------------------------------------
def test_lecam_anchors_take_an_explicit_ema_step_of_the_batch_means():
    anchors = penalties.LeCamAnchors(decay=0.9, init=1.0)
    anchors.update(sg.Tensor(numpy.array([[1.0], [3.0]])), sg.Tensor(numpy.array([[-2.0], [0.0]])))
    assert (anchors.real, anchors.fake) == (pytest.approx(0.9 + 0.1 * 2.0), pytest.approx(0.9 - 0.1 * 1.0))


def test_the_lecam_entry_updates_its_anchors_before_regularising():
    critic = mlp_critic(sg.nn).to(dtype=numpy.float64)
    real, fake, _, _ = (sg.Tensor(v) for v in batches(FLAT_SHAPE))
    anchors = penalties.LeCamAnchors(decay=0.5)
    value = penalties.get("lecam", anchors=anchors)(critic, real, fake).item()
    real_out, fake_out = critic(real), critic(fake)
    assert anchors.real == pytest.approx(0.5 * real_out.mean().item())
    assert value == pytest.approx(penalties.lecam_regularizer(real_out, fake_out, anchors).item(), rel=1e-12)


# -- EBGAN's pulling-away term and BEGAN -----------------------------------------------------------
def test_pulling_away_term_on_a_hand_computed_batch():
    # cosines: (e1, e2) 0, (e1, e1 + e2) and (e2, e1 + e2) 1/sqrt(2); 2 (0 + 1/2 + 1/2) / (3 * 2)
    embeddings = sg.Tensor(numpy.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    assert penalties.pulling_away_term(embeddings).item() == pytest.approx(1 / 3, rel=1e-12)


def test_pulling_away_term_ignores_scale_and_is_zero_for_orthogonal_codes():
    orthogonal = sg.Tensor(numpy.array([[2.0, 0.0, 0.0], [0.0, -3.0, 0.0]]))
    assert penalties.pulling_away_term(orthogonal).item() == 0.0
    parallel = sg.Tensor(numpy.array([[1.0, 2.0], [-3.0, -6.0]]))
    assert penalties.pulling_away_term(parallel).item() == pytest.approx(1.0, rel=1e-12)


def test_pulling_away_term_needs_two_embeddings():
    with pytest.raises(ValueError, match="pulling_away_term: expected a batch of at least 2 embeddings"):
        penalties.pulling_away_term(sg.Tensor(numpy.ones((1, 3))))


def test_began_losses_are_l_real_minus_k_l_fake_and_l_fake():
    d_loss, g_loss = penalties.began_losses(sg.Tensor(2.0), sg.Tensor(0.5), 0.2)
    assert (d_loss.item(), g_loss.item()) == (pytest.approx(1.9), 0.5)


def test_began_reconstruction_loss_is_the_mean_absolute_or_squared_residual():
    x = sg.Tensor(numpy.array([[1.0, -2.0], [3.0, 0.5]]))
    doubling = lambda v: 2.0 * v  # noqa: E731  (an autoencoder whose residual is -x)
    assert penalties.began_reconstruction_loss(doubling, x).item() == pytest.approx(6.5 / 4)
    assert penalties.began_reconstruction_loss(doubling, x, eta=2).item() == pytest.approx(14.25 / 4)


def test_began_controller_steps_k_by_lambda_k_times_the_balance():
    controller = penalties.BEGANController(gamma=0.5, lambda_k=0.1)
    k, convergence = controller.update(2.0, 0.5)  # balance 0.5 * 2 - 0.5 = 0.5
    assert (k, convergence) == (pytest.approx(0.05), pytest.approx(2.5))
    k, convergence = controller.update(sg.Tensor(1.0), sg.Tensor(1.5))  # balance -1: 0.05 - 0.1, clipped
    assert (k, convergence) == (0.0, pytest.approx(2.0))


def test_began_controller_clips_k_at_one():
    controller = penalties.BEGANController(gamma=1.0, lambda_k=1.0, k=0.9)
    assert controller.update(3.0, 1.0)[0] == 1.0


def test_began_controller_refuses_a_gamma_outside_zero_one():
    with pytest.raises(ValueError, match=r"BEGANController: gamma must be in \(0, 1\], got 1.5"):
        penalties.BEGANController(gamma=1.5)


def test_wgan_div_refuses_a_non_positive_power():
    critic = mlp_critic(sg.nn).to(dtype=numpy.float64)
    real, fake, _, _ = (sg.Tensor(v) for v in batches(FLAT_SHAPE))
    with pytest.raises(ValueError, match="wgan_div_penalty: p must be positive, got 0"):
        penalties.wgan_div_penalty(critic, real, fake, p=0)
    assert math.isfinite(penalties.wgan_div_penalty(critic, real, fake).item())
