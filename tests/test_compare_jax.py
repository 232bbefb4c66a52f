"""compare_functions against JAX code: the same bug patterns as tests/test_compare_functions.py,
written as a JAX user writes them (pure functions of a parameter tree, jax.random keys).

The critics' parameter trees are Equinox-style (PyTorch's layout, named as scratchgan's
Sequential names its layers) or Flax-style (kernels in (in, out) and HWIO layout, mapped with
``parameter_map`` and ``check.from_flax_kernel``). Marked ``parity``: under CI a skip (JAX
missing) is a failure, so CI proves the extra installs.
"""

import numpy
import pytest

import scratchgan as sg
from scratchgan.check import compare_functions, from_flax_kernel
from scratchgan.gan import losses, penalties

pytestmark = pytest.mark.parity

LAMBDA = 10.0


@pytest.fixture
def jax():
    return pytest.importorskip("jax", reason="JAX is not installed (pip install 'scratchgan[jax]')")


@pytest.fixture
def images(rng):
    return {"real": rng.standard_normal((3, 2, 4, 4)), "fake": rng.standard_normal((3, 2, 4, 4))}


# -- critics: a JAX function of a parameter tree, and scratchgan's twin ------------------------
def conv_critic_tree(rng):
    return {"0": {"weight": rng.standard_normal((3, 2, 3, 3)) * 0.3, "bias": rng.standard_normal(3) * 0.1},
            "3": {"weight": rng.standard_normal((1, 12)) * 0.3, "bias": rng.standard_normal(1) * 0.1}}


def jax_conv_critic(params, x):
    import jax
    import jax.numpy as jnp

    y = jax.lax.conv_general_dilated(x, params["0"]["weight"], (2, 2), ((1, 1), (1, 1)),
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
    y = jnp.tanh(y + params["0"]["bias"][None, :, None, None]).reshape(x.shape[0], -1)
    return y @ params["3"]["weight"].T + params["3"]["bias"]


def conv_critic():
    return sg.nn.Sequential(sg.nn.Conv2d(2, 3, 3, stride=2, padding=1, dtype=numpy.float64), sg.nn.Tanh(),
                            sg.nn.Flatten(), sg.nn.Linear(3 * 2 * 2, 1, dtype=numpy.float64))


def jax_tree(jax, tree):
    return jax.tree_util.tree_map(jax.numpy.asarray, tree)


def dense_tree(rng):  # Flax-style: {"params": {"Dense_0": {"kernel": (in, out), "bias": (out,)}}}
    return {"params": {"Dense_0": {"kernel": rng.standard_normal((3, 1)), "bias": rng.standard_normal(1)}}}


def jax_dense_critic(params, x):
    dense = params["params"]["Dense_0"]
    return x @ dense["kernel"] + dense["bias"]


DENSE_MAP = {"weight": ("params.Dense_0.kernel", from_flax_kernel), "bias": "params.Dense_0.bias"}


def linear_critic():
    return sg.nn.Linear(3, 1, dtype=numpy.float64)


# -- WGAN-GP with the gradient norm over the given axes ------------------------------------------
def jax_wgan_gp(norm):
    def penalty(params, real, fake):
        import jax
        import jax.numpy as jnp

        alpha = jax.random.uniform(jax.random.key(0), (real.shape[0], 1, 1, 1), dtype=real.dtype)
        interpolated = alpha * real + (1 - alpha) * fake
        gradient = jax.grad(lambda x: jax_conv_critic(params, x).sum())(interpolated)
        return jnp.mean((norm(jnp, gradient) - 1) ** 2)
    return penalty


per_sample = lambda jnp, g: jnp.sqrt((g.reshape(g.shape[0], -1) ** 2).sum(axis=1))  # noqa: E731
per_pixel = lambda jnp, g: jnp.sqrt((g ** 2).sum(axis=1))  # noqa: E731  channels only
whole_batch = lambda jnp, g: jnp.sqrt((g ** 2).sum())  # noqa: E731


def our_wgan_gp(critic, real, fake, draws):
    return penalties.gradient_penalty(critic, real, fake, alpha=draws[0])


def compare_wgan_gp(jax, rng, images, norm, second_order=False):
    return compare_functions(jax_wgan_gp(norm), our_wgan_gp, jax_tree(jax, conv_critic_tree(rng)), conv_critic(),
                             images, constants=("real", "fake"), capture_random=True, second_order=second_order)


def test_wgan_gp_with_the_per_sample_norm_agrees_to_second_order(jax, rng, images):
    report = compare_wgan_gp(jax, rng, images, per_sample, second_order=True)
    report.assert_close(1e-10)
    assert "grad2 0.weight" in report.rows


@pytest.mark.parametrize("norm", [per_pixel, whole_batch], ids=["channel_axis_only", "whole_batch"])
def test_wgan_gp_with_the_wrong_norm_axes_is_caught(jax, rng, images, norm):
    report = compare_wgan_gp(jax, rng, images, norm)
    with pytest.raises(AssertionError, match="rows differ.*value"):
        report.assert_close(1e-10)


# -- a relativistic generator loss overwritten by the plain one ---------------------------------
def jax_relativistic_generator(overwritten):
    def loss(params, fake, real):
        import jax
        import jax.numpy as jnp

        bce = lambda logits, target: jnp.mean(  # noqa: E731  optax's sigmoid_binary_cross_entropy
            jnp.maximum(logits, 0) - logits * target + jnp.log1p(jnp.exp(-jnp.abs(logits))))
        fake_out, real_out = jax_dense_critic(params, fake), jax_dense_critic(params, real)
        g_loss = bce(fake_out - real_out.mean(), 1.0) + bce(real_out - fake_out.mean(), 0.0)
        if overwritten:
            g_loss = bce(fake_out, 1.0)
        return g_loss + 0 * jax.numpy.sum(fake_out)
    return loss


def our_relativistic_generator(critic, fake, real):
    return losses.RelativisticAverage().generator(critic(fake), real_out=critic(real))


@pytest.mark.parametrize("overwritten", [False, True], ids=["correct", "overwritten"])
def test_relativistic_generator_loss_overwritten_by_the_plain_one_is_caught(jax, rng, overwritten):
    batch = {"fake": rng.standard_normal((4, 3)), "real": rng.standard_normal((4, 3))}
    report = compare_functions(jax_relativistic_generator(overwritten), our_relativistic_generator,
                               jax_tree(jax, dense_tree(rng)), linear_critic(), batch, parameter_map=DENSE_MAP)
    if not overwritten:
        report.assert_close(1e-10)
        return
    with pytest.raises(AssertionError, match="grad input real"):
        report.assert_close(1e-10)
    assert report["grad input real"].status == "zero: theirs"  # jax.grad gives zeros, never None


# -- BCE on a saturated sigmoid, probabilities clipped as JAX code does --------------------------
def jax_discriminator_loss(on_probabilities):
    def loss(params, real, fake):
        import jax
        import jax.numpy as jnp

        real_out, fake_out = jax_dense_critic(params, real), jax_dense_critic(params, fake)
        if on_probabilities:
            clip = lambda p: jnp.clip(p, 1e-7, 1 - 1e-7)  # noqa: E731
            return (-jnp.mean(jnp.log(clip(jax.nn.sigmoid(real_out))))
                    - jnp.mean(jnp.log(1 - clip(jax.nn.sigmoid(fake_out)))))
        return jnp.mean(jax.nn.softplus(-real_out)) + jnp.mean(jax.nn.softplus(fake_out))
    return loss


def our_discriminator_loss(critic, real, fake):
    return losses.Minimax().discriminator(critic(real), critic(fake))


@pytest.mark.parametrize("on_probabilities", [False, True], ids=["logits", "probabilities"])
def test_bce_on_a_saturated_sigmoid_loses_the_discriminator_gradient(jax, rng, on_probabilities):
    tree = dense_tree(rng)
    weight, bias = tree["params"]["Dense_0"]["kernel"][:, 0], tree["params"]["Dense_0"]["bias"][0]
    fake = rng.standard_normal((4, 3)) * 0.1
    fake += numpy.outer(90 - bias - fake @ weight, weight) / (weight @ weight)  # every logit is 90
    batch = {"real": rng.standard_normal((4, 3)), "fake": fake}
    report = compare_functions(jax_discriminator_loss(on_probabilities), our_discriminator_loss,
                               jax_tree(jax, tree), linear_critic(), batch, parameter_map=DENSE_MAP)
    if not on_probabilities:
        report.assert_close(1e-10)
        return
    with pytest.raises(AssertionError, match="grad input fake"):
        report.assert_close(1e-10)
    assert report["grad input fake"].status == "zero: theirs"


# -- DRAGAN: one-sided per-element perturbation, lambda inside ------------------------------------
def jax_dragan(lambda_inside):
    def penalty(params, real):
        import jax
        import jax.numpy as jnp

        noise = jax.random.uniform(jax.random.key(1), real.shape, dtype=real.dtype)
        perturbed = jax.lax.stop_gradient(real + 0.5 * jnp.std(real, ddof=1) * noise)
        gradient = jax.grad(lambda x: jax_conv_critic(params, x).sum())(perturbed)
        value = jnp.mean((jnp.sqrt((gradient.reshape(real.shape[0], -1) ** 2).sum(axis=1)) - 1) ** 2)
        return LAMBDA * value if lambda_inside else value
    return penalty


def our_dragan(critic, real, draws):
    return penalties.dragan_penalty(critic, real, delta=0.5 * real.numpy().std(ddof=1) * draws[0])


@pytest.mark.parametrize("lambda_inside", [False, True], ids=["lambda_outside", "lambda_inside"])
def test_dragan_with_lambda_inside_shows_the_factor(jax, rng, images, lambda_inside):
    report = compare_functions(jax_dragan(lambda_inside), our_dragan, jax_tree(jax, conv_critic_tree(rng)),
                               conv_critic(), {"real": images["real"]}, capture_random=True, second_order=True)
    assert report["grad input real"].status == "both zero"  # both sides stop the data's gradient
    if not lambda_inside:
        report.assert_close(1e-10)
        return
    with pytest.raises(AssertionError, match="factor 0.100"):
        report.assert_close(1e-10)


# -- layouts, draws and errors ------------------------------------------------------------------
def test_a_flax_conv_kernel_in_hwio_layout_maps_to_scratchgan_weights(jax, rng):
    def theirs(params, x):  # Flax's Conv: NHWC input, (kh, kw, in, out) kernel
        y = jax.lax.conv_general_dilated(x.transpose(0, 2, 3, 1), params["Conv_0"]["kernel"], (2, 2),
                                         ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return ((y + params["Conv_0"]["bias"]) ** 2).sum()

    tree = {"Conv_0": {"kernel": rng.standard_normal((3, 3, 2, 4)), "bias": rng.standard_normal(4)}}
    layer = sg.nn.Conv2d(2, 4, 3, stride=2, padding=1, dtype=numpy.float64)
    report = compare_functions(theirs, lambda m, x: (m(x) ** 2).sum(), jax_tree(jax, tree), layer,
                               [rng.standard_normal((2, 2, 5, 5))], second_order=True,
                               parameter_map={"weight": ("Conv_0.kernel", from_flax_kernel),
                                              "bias": "Conv_0.bias"})
    report.assert_close(1e-10)
    assert set(report.rows) >= {"grad weight", "grad bias", "grad2 weight", "grad input 0"}


def test_numpy_draws_inside_jax_code_are_replayed_in_its_gradient_calls(jax, rng):
    def theirs(_, x):  # a NumPy draw: JAX traces the function again for the gradient
        return (x * numpy.random.standard_normal(x.shape)).sum() ** 2

    report = compare_functions(theirs, lambda _, x, draws: (x * draws[0]).sum() ** 2, None, None,
                               [rng.standard_normal(4)], capture_random=True, framework="jax")
    report.assert_close(1e-12)


def test_draws_made_inside_jit_get_one_clear_error(jax, rng):
    @jax.jit
    def theirs(x):
        return (x * jax.random.normal(jax.random.key(0), x.shape)).sum()

    with pytest.raises(RuntimeError, match="tracer.*outside jit"):
        compare_functions(lambda _, x: theirs(x), lambda _, x, draws: (x * draws[0]).sum(), None, None,
                          [rng.standard_normal(4)], capture_random=True, framework="jax")


def test_a_kernel_in_the_wrong_layout_names_the_mapping_function(jax, rng):
    with pytest.raises(ValueError, match="'weight' has shape \\(3, 1\\) in JAX.*from_flax_kernel"):
        compare_functions(jax_dense_critic, lambda m, x: m(x), jax_tree(jax, dense_tree(rng)), linear_critic(),
                          [rng.standard_normal((2, 3))],
                          parameter_map={"weight": "params.Dense_0.kernel", "bias": "params.Dense_0.bias"})


def test_an_unmapped_parameter_is_named_with_both_sides_names(jax, rng):
    with pytest.raises(KeyError, match="'params.Dense_0.bias' is missing in the scratchgan module"):
        compare_functions(jax_dense_critic, lambda m, x: m(x), jax_tree(jax, dense_tree(rng)), linear_critic(),
                          [rng.standard_normal((2, 3))],
                          parameter_map={"weight": ("params.Dense_0.kernel", from_flax_kernel)})


def test_an_unknown_framework_is_refused(rng):
    with pytest.raises(ValueError, match="framework must be 'torch', 'jax' or None, got 'tf'"):
        compare_functions(lambda _, x: x.sum(), lambda _, x: x.sum(), None, None, [rng.standard_normal(2)],
                          framework="tf")
