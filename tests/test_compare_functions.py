"""compare_functions: one call finds each common GAN bug in a user's PyTorch code.

The PyTorch functions below are written as a user's framework code, some with a planted
bug; the scratchgan side uses scratchgan.gan.penalties and scratchgan.gan.losses. Each
bug is caught by one ``compare_functions`` call (``assert_close`` fails and the report
says where), and the correct form agrees to rtol 1e-10.
"""

import numpy
import pytest

import scratchgan as sg
from scratchgan.check import compare_functions
from scratchgan.gan import losses, penalties

pytestmark = pytest.mark.parity

LAMBDA = 10.0


# -- critics: the same small network in both frameworks -------------------------------------
def torch_conv_critic(torch):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, stride=2, padding=1), torch.nn.Tanh(),
                               torch.nn.Flatten(), torch.nn.Linear(3 * 2 * 2, 1))


def conv_critic():
    return sg.nn.Sequential(sg.nn.Conv2d(2, 3, 3, stride=2, padding=1, dtype=numpy.float64), sg.nn.Tanh(),
                            sg.nn.Flatten(), sg.nn.Linear(3 * 2 * 2, 1, dtype=numpy.float64))


def linear_critic():
    return sg.nn.Linear(3, 1, dtype=numpy.float64)


@pytest.fixture
def images(rng):
    return {"real": rng.standard_normal((3, 2, 4, 4)), "fake": rng.standard_normal((3, 2, 4, 4))}


# -- a user's WGAN-GP, with the gradient norm over the given axes -----------------------------
def torch_wgan_gp(norm):
    def penalty(critic, real, fake):
        import torch

        alpha = torch.rand(real.shape[0], 1, 1, 1)
        interpolated = (alpha * real + (1 - alpha) * fake).requires_grad_()
        (gradient,) = torch.autograd.grad(critic(interpolated).sum(), interpolated, create_graph=True)
        return ((norm(gradient) - 1) ** 2).mean()
    return penalty


per_sample = lambda g: g.flatten(1).norm(2, dim=1)  # noqa: E731
per_pixel = lambda g: g.norm(2, dim=1)  # noqa: E731  the widely copied bug: channels only
whole_batch = lambda g: g.norm(2)  # noqa: E731  one norm for the whole batch


def our_wgan_gp(critic, real, fake, draws):
    return penalties.gradient_penalty(critic, real, fake, alpha=draws[0])


def compare_wgan_gp(torch, images, norm):
    return compare_functions(torch_wgan_gp(norm), our_wgan_gp, torch_conv_critic(torch), conv_critic(),
                             images, constants=("real", "fake"), capture_random=True)


def test_wgan_gp_with_the_per_sample_norm_agrees(torch, images):
    compare_wgan_gp(torch, images, per_sample).assert_close(1e-10)


def test_wgan_gp_norm_over_the_channel_axis_only_is_caught(torch, images):
    report = compare_wgan_gp(torch, images, per_pixel)
    with pytest.raises(AssertionError, match="rows differ.*value"):
        report.assert_close(1e-10)
    assert report["grad 0.weight"].rel > 1e-2


def test_wgan_gp_one_norm_over_the_whole_batch_is_caught(torch, images):
    report = compare_wgan_gp(torch, images, whole_batch)
    with pytest.raises(AssertionError, match="rows differ.*value"):
        report.assert_close(1e-10)


# -- a user's relativistic generator loss --------------------------------------------------
def torch_relativistic_generator(overwritten):
    def loss(critic, fake, real):
        import torch.nn.functional as F

        fake_out, real_out = critic(fake), critic(real)
        ones, zeros = torch_ones_like(fake_out), torch_ones_like(fake_out) * 0
        g_loss = (F.binary_cross_entropy_with_logits(fake_out - real_out.mean(), ones)
                  + F.binary_cross_entropy_with_logits(real_out - fake_out.mean(), zeros))
        if overwritten:
            g_loss = F.binary_cross_entropy_with_logits(fake_out, ones)  # left from the plain GAN
        return g_loss
    return loss


def torch_ones_like(tensor):
    import torch

    return torch.ones_like(tensor)


def our_relativistic_generator(critic, fake, real):
    return losses.RelativisticAverage().generator(critic(fake), real_out=critic(real))


@pytest.mark.parametrize("overwritten", [False, True], ids=["correct", "overwritten"])
def test_relativistic_generator_loss_overwritten_by_the_plain_one_is_caught(torch, rng, overwritten):
    batch = {"fake": rng.standard_normal((4, 3)), "real": rng.standard_normal((4, 3))}
    torch.manual_seed(0)
    report = compare_functions(torch_relativistic_generator(overwritten), our_relativistic_generator,
                               torch.nn.Linear(3, 1), linear_critic(), batch)
    if not overwritten:
        report.assert_close(1e-10)
        return
    with pytest.raises(AssertionError, match="grad input real"):
        report.assert_close(1e-10)
    assert report["grad input real"].status == "no gradient: theirs"  # the real data went unused


# -- a user's discriminator loss on probabilities ------------------------------------------
def torch_discriminator_loss(on_probabilities):
    def loss(critic, real, fake):
        import torch
        import torch.nn.functional as F

        real_out, fake_out = critic(real), critic(fake)
        if on_probabilities:  # sigmoid(90) is 1.0 in float64: the fake term has no gradient left
            return (F.binary_cross_entropy(torch.sigmoid(real_out), torch.ones_like(real_out))
                    + F.binary_cross_entropy(torch.sigmoid(fake_out), torch.zeros_like(fake_out)))
        return (F.binary_cross_entropy_with_logits(real_out, torch.ones_like(real_out))
                + F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out)))
    return loss


def our_discriminator_loss(critic, real, fake):
    return losses.Minimax().discriminator(critic(real), critic(fake))


@pytest.mark.parametrize("on_probabilities", [False, True], ids=["logits", "probabilities"])
def test_bce_on_a_saturated_sigmoid_loses_the_discriminator_gradient(torch, rng, on_probabilities):
    torch.manual_seed(0)
    their_critic = torch.nn.Linear(3, 1)
    weight, bias = their_critic.weight.detach().numpy()[0], their_critic.bias.item()
    fake = rng.standard_normal((4, 3)) * 0.1
    fake += numpy.outer(90 - bias - fake @ weight, weight) / (weight @ weight)  # every logit is 90
    batch = {"real": rng.standard_normal((4, 3)), "fake": fake}
    report = compare_functions(torch_discriminator_loss(on_probabilities), our_discriminator_loss,
                               their_critic, linear_critic(), batch)
    if not on_probabilities:
        report.assert_close(1e-10)
        return
    with pytest.raises(AssertionError, match="grad input fake"):
        report.assert_close(1e-10)
    assert report["grad input fake"].status == "zero: theirs"


# -- a user's DRAGAN: one-sided per-element perturbation, lambda inside -----------------------
def torch_dragan(lambda_inside):
    def penalty(critic, real):
        import torch

        # the perturbation of the DRAGAN authors' code: 0.5 std(x) U[0, 1) per element
        perturbed = (real + 0.5 * real.std() * torch.rand_like(real)).detach().requires_grad_()
        (gradient,) = torch.autograd.grad(critic(perturbed).sum(), perturbed, create_graph=True)
        value = ((gradient.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
        return LAMBDA * value if lambda_inside else value
    return penalty


def our_dragan(critic, real, draws):
    std = real.numpy().std(ddof=1)  # torch's Tensor.std is the unbiased one
    return penalties.dragan_penalty(critic, real, delta=0.5 * std * draws[0])


@pytest.mark.parametrize("lambda_inside", [False, True], ids=["lambda_outside", "lambda_inside"])
def test_dragan_with_lambda_inside_shows_the_factor(torch, images, lambda_inside):
    report = compare_functions(torch_dragan(lambda_inside), our_dragan, torch_conv_critic(torch), conv_critic(),
                               {"real": images["real"]}, capture_random=True, second_order=True)
    assert report["grad input real"].status == "both zero"  # both sides detach the data
    if not lambda_inside:
        report.assert_close(1e-10)
        return
    with pytest.raises(AssertionError, match="factor 0.100"):
        report.assert_close(1e-10)


# -- the report itself ----------------------------------------------------------------------
def test_a_gradient_none_on_one_side_and_zero_on_the_other_is_both_zero(torch, rng):
    theirs = lambda _, x, y: (x * 2.0).sum() + (0 * y).sum()  # noqa: E731  y's gradient exists, all 0
    ours = lambda _, x, y: (x * 2.0).sum()  # noqa: E731  y is not used: no gradient
    report = compare_functions(theirs, ours, None, None, [rng.standard_normal(3), numpy.full(3, 2.0)])
    assert report["grad input 1"].status == "both zero"
    report.assert_close(1e-10)


def test_a_gradient_zero_to_rounding_on_both_sides_is_both_zero(torch, rng):
    """d/dy of sum(x - mean(x)) * y-free terms: exactly 0 in the maths, a few ulps in float64."""
    x = rng.standard_normal(7) * 1e3
    theirs = lambda _, x, y: ((x - x.mean()) * 3.0).sum() * y.sum() + (x * x).sum()  # noqa: E731
    report = compare_functions(theirs, theirs, None, None, [x, numpy.full(2, 0.5)])
    assert report["grad input 1"].status == "both zero"
    report.assert_close(1e-10)


def test_a_small_gradient_above_rounding_is_compared(torch, rng):
    x = rng.standard_normal(3)
    report = compare_functions(lambda _, x, y: (x * x).sum() + 1e-9 * y.sum(),
                               lambda _, x, y: (x * x).sum() + 2e-9 * y.sum(), None, None, [x, numpy.ones(2)])
    assert report["grad input 1"].status == "compared"
    assert report["grad input 1"].factor == pytest.approx(2.0)


def test_r1_with_gamma_over_two_is_named_as_a_factor_of_one_half(torch, images):
    def torch_r1(critic, real):  # gamma E ||grad||^2, where scratchgan's convention is gamma/2
        import torch

        real = real.detach().requires_grad_()
        (gradient,) = torch.autograd.grad(critic(real).sum(), real, create_graph=True)
        return LAMBDA * gradient.pow(2).sum(dim=(1, 2, 3)).mean()

    report = compare_functions(torch_r1, lambda critic, real: LAMBDA / 2 * penalties.r1_penalty(critic, real),
                               torch_conv_critic(torch), conv_critic(), {"real": images["real"]})
    assert report.common_factor() == pytest.approx(0.5, rel=1e-10)
    assert "all rows: factor 0.500" in str(report)


def test_constants_get_no_gradient_row(torch, images):
    report = compare_wgan_gp(torch, images, per_sample)
    assert not {"grad input real", "grad input fake"} & set(report.rows)
    assert {"value", "grad 0.weight", "grad 3.bias"} <= set(report.rows)


def test_second_order_rows_compare_the_gradient_of_the_input_gradients_squared(torch, rng):
    torch.manual_seed(0)
    x = rng.standard_normal((4, 3))
    apply = lambda critic, x: critic(x).tanh().sum()  # noqa: E731
    report = compare_functions(apply, apply, torch.nn.Linear(3, 1), linear_critic(), [x], second_order=True)
    assert {"grad2 input 0", "grad2 weight", "grad2 bias"} <= set(report.rows)
    assert report["grad2 weight"].status == "compared"
    report.assert_close(1e-10)


def test_a_parameter_torch_leaves_without_gradient_is_a_row(torch, rng):
    class LinearWithoutBias(torch.nn.Module):  # a user's layer that forgets its bias
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.randn(1, 3))
            self.bias = torch.nn.Parameter(torch.randn(1))

        def forward(self, x):
            return x @ self.weight.T

    apply = lambda critic, x: critic(x).sum()  # noqa: E731
    report = compare_functions(apply, apply, LinearWithoutBias(), linear_critic(), [rng.standard_normal((2, 3))])
    assert report["grad bias"].status == "no gradient: theirs"
    with pytest.raises(AssertionError, match="grad bias"):
        report.assert_close(1e-10)


def test_mismatching_parameter_shapes_name_the_parameter(torch):
    with pytest.raises(ValueError, match="'weight' has shape"):
        compare_functions(lambda m: m.weight.sum(), lambda m: m.weight.sum(), torch.nn.Linear(4, 1),
                          linear_critic(), [])


def test_markdown_has_one_row_per_quantity(torch, images):
    report = compare_wgan_gp(torch, images, per_sample)
    table = report.to_markdown().splitlines()
    assert len([line for line in table if line.startswith("| ")]) == len(report.rows) + 2  # header, rule


def test_capture_random_replays_torch_and_numpy_draws_in_call_order_and_restores_them(torch):
    originals = (torch.rand, torch.randn_like, numpy.random.rand, numpy.random.default_rng)

    def theirs(_, x):
        noise = torch.rand(2), torch.randn_like(x), numpy.random.rand(2), numpy.random.default_rng(3).normal(size=4)
        return (x * sum(float(n.sum()) for n in noise)).sum()

    def ours(_, x, draws):
        assert [d.shape for d in draws] == [(2,), (3,), (2,), (4,)]
        return (x * sum(float(d.sum()) for d in draws)).sum()

    compare_functions(theirs, ours, None, None, [numpy.ones(3)], capture_random=True).assert_close(1e-10)
    assert (torch.rand, torch.randn_like, numpy.random.rand, numpy.random.default_rng) == originals


def test_a_constant_that_names_no_input_is_an_error(torch):
    with pytest.raises(ValueError, match=r"constants \['labels'\] name no input"):
        compare_functions(lambda _, x: x.sum(), lambda _, x: x.sum(), None, None, {"x": numpy.ones(2)},
                          constants=("labels",))
