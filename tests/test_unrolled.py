"""Unrolling through D's own optimizer (Metz et al. 2017): each optimizer's differentiable step
against its real step, the unrolled loss through it (against plain steps, finite differences
and a manual unroll), and the trainer's setting that uses it."""

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchgan as sg
from scratchgan.gan import losses, tricks
from scratchgan.gan.trainer import TrainConfig, Trainer

OPTIMIZERS = {
    "sgd": (sg.optim.SGD, dict(lr=0.1)),
    "sgd_momentum_decay": (sg.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    "nesterov": (sg.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    "adam": (sg.optim.Adam, dict(lr=0.01, betas=(0.5, 0.999))),
    "adam_l2": (sg.optim.Adam, dict(lr=0.01, weight_decay=0.1)),
    "adamw": (sg.optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
    "rmsprop": (sg.optim.RMSprop, dict(lr=0.01)),
    "rmsprop_centered_momentum": (sg.optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.01)),
}


def tanh_discriminator(seed=3, in_dim=2, hidden=4):
    sg.manual_seed(seed)
    return sg.nn.Sequential(sg.nn.Linear(in_dim, hidden, dtype=numpy.float64), sg.nn.Tanh(),
                            sg.nn.Linear(hidden, 1, dtype=numpy.float64))


def quadratic_gradient(values, target):
    """The gradient of 0.5 ||p - target||^2 + 0.1 sum p^3 at ``values`` (changes with p)."""
    return values - target + 0.3 * values * values


@pytest.mark.parametrize("case", OPTIMIZERS)
@pytest.mark.parametrize("warm", [False, True], ids=["from_empty_state", "after_two_real_steps"])
def test_differentiable_steps_equal_the_optimizers_own_steps(case, warm, rng):
    kind, options = OPTIMIZERS[case]
    start, target = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    param = sg.Tensor(start.copy(), requires_grad=True)
    optimizer = kind([param], **options)
    if warm:
        for _ in range(2):
            param.grad = sg.Tensor(quadratic_gradient(param.numpy(), target))
            optimizer.step()
    value, slots = sg.Tensor(param.numpy().copy()), None
    for _ in range(4):  # the unrolled copy, then the real optimizer over the same gradients
        value, slots = optimizer.differentiable_step(param, value, sg.Tensor(quadratic_gradient(value.numpy(), target)),
                                                     slots)
    for _ in range(4):
        param.grad = sg.Tensor(quadratic_gradient(param.numpy(), target))
        optimizer.step()
    numpy.testing.assert_allclose(value.numpy(), param.numpy(), rtol=1e-12, atol=1e-14)


def test_the_differentiable_step_leaves_parameter_and_state_unchanged(rng):
    param = sg.Tensor(rng.standard_normal(3), requires_grad=True)
    optimizer = sg.optim.Adam([param], lr=0.1)
    param.grad = sg.Tensor(rng.standard_normal(3))
    optimizer.step()
    saved, state = param.numpy().copy(), {k: numpy.copy(v) for k, v in optimizer.state[id(param)].items()}
    optimizer.differentiable_step(param, sg.Tensor(param.numpy()), sg.Tensor(rng.standard_normal(3)))
    numpy.testing.assert_array_equal(param.numpy(), saved)
    for key, value in state.items():
        numpy.testing.assert_array_equal(optimizer.state[id(param)][key], value)


@pytest.mark.parametrize("options, setting", [(dict(amsgrad=True), "amsgrad"), (dict(maximize=True), "maximize")])
def test_settings_without_a_differentiable_step_are_refused(options, setting, rng):
    param = sg.Tensor(rng.standard_normal(3), requires_grad=True)
    optimizer = sg.optim.Adam([param], **options)
    with pytest.raises(ValueError, match=f"does not support {setting}"):
        optimizer.differentiable_step(param, sg.Tensor(param.numpy()), sg.Tensor(rng.standard_normal(3)))


def test_a_tensor_outside_the_optimizer_is_refused(rng):
    optimizer = sg.optim.Adam([sg.Tensor(rng.standard_normal(3), requires_grad=True)])
    stranger = sg.Tensor(rng.standard_normal(3), requires_grad=True)
    with pytest.raises(ValueError, match="not one of this optimizer's parameters"):
        optimizer.differentiable_step(stranger, sg.Tensor(stranger.numpy()), sg.Tensor(rng.standard_normal(3)))


# -- the unrolled loss through an optimizer ---------------------------------------------------------
def test_unrolling_through_plain_sgd_is_the_plain_unrolled_loss(rng):
    discriminator = tanh_discriminator()
    optimizer = sg.optim.SGD(discriminator.parameters(), lr=0.3)
    fake, real, loss = rng.standard_normal((6, 2)), rng.standard_normal((5, 2)), losses.get("nonsaturating")
    grads = []
    for through in (None, optimizer):
        x = sg.Tensor(fake, requires_grad=True)
        value = tricks.unrolled_generator_loss(loss, discriminator, x, sg.Tensor(real), 3, 0.3, through)
        (grad,) = sg.grad(value, x)
        grads.append((value.item(), grad.numpy()))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-13)
    numpy.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-11)


def adam_after_a_real_step(discriminator, rng):
    """D's Adam with a non-empty state: one real step on a random batch."""
    optimizer = sg.optim.Adam(discriminator.parameters(), lr=0.05, betas=(0.5, 0.999))
    loss = losses.get("nonsaturating")
    d_loss = loss.discriminator(discriminator(sg.Tensor(rng.standard_normal((5, 2)))),
                                discriminator(sg.Tensor(rng.standard_normal((5, 2)))))
    d_loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return optimizer


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**16), steps=st.integers(1, 3))
def test_the_loss_unrolled_through_adam_has_the_finite_difference_gradient(seed, steps):
    rng = numpy.random.default_rng(seed)
    discriminator = tanh_discriminator(seed % 97)
    optimizer = adam_after_a_real_step(discriminator, rng)
    fake, real, loss = rng.standard_normal((3, 2)), rng.standard_normal((4, 2)), losses.get("nonsaturating")

    def value(points):  # the look-ahead takes D's gradients, so this runs with gradients on
        return tricks.unrolled_generator_loss(loss, discriminator, sg.Tensor(points), sg.Tensor(real), steps, 0.0,
                                              optimizer).item()

    x = sg.Tensor(fake, requires_grad=True)
    (grad,) = sg.grad(tricks.unrolled_generator_loss(loss, discriminator, x, sg.Tensor(real), steps, 0.0, optimizer), x)
    h, numeric = 1e-6, numpy.zeros_like(fake)
    for index in numpy.ndindex(fake.shape):
        up, down = fake.copy(), fake.copy()
        up[index] += h
        down[index] -= h
        numeric[index] = (value(up) - value(down)) / (2 * h)
    numpy.testing.assert_allclose(grad.numpy(), numeric, rtol=1e-5, atol=1e-8)


def test_the_second_order_term_matters_through_adam(rng):
    """G's gradient through one unrolled Adam step differs from the gradient against D after a
    detached step: the look-ahead's own dependence on the fakes is in it."""
    discriminator = tanh_discriminator()
    optimizer = adam_after_a_real_step(discriminator, rng)
    fake, real, loss = rng.standard_normal((6, 2)), rng.standard_normal((5, 2)), losses.get("nonsaturating")
    x = sg.Tensor(fake, requires_grad=True)
    (through,) = sg.grad(tricks.unrolled_generator_loss(loss, discriminator, x, sg.Tensor(real), 1, 0.0, optimizer), x)
    params = dict(discriminator.named_parameters())
    detached_fake = sg.Tensor(fake)
    d_loss = loss.discriminator(discriminator(sg.Tensor(real)), discriminator(detached_fake))
    grads = sg.grad(d_loss, list(params.values()))
    stepped = {name: optimizer.differentiable_step(p, sg.Tensor(p.numpy()), sg.Tensor(g.numpy()))[0]
               for (name, p), g in zip(params.items(), grads)}
    y = sg.Tensor(fake, requires_grad=True)
    (frozen,) = sg.grad(loss.generator(sg.nn.utils.functional_call(discriminator, stepped, y)), y)
    assert numpy.abs(through.numpy() - frozen.numpy()).max() > 1e-6


# -- the trainer's setting --------------------------------------------------------------------------
def small_config(**overrides):
    values = dict(data="ring8", steps=3, batch_size=16, hidden=8, depth=2, latent_dim=4, unrolled=2,
                  unrolled_update="optimizer", mlp_activation="tanh", penalty=None, eval_samples=16, log_every=1)
    return TrainConfig(**{**values, **overrides})


def test_the_generators_update_leaves_d_and_its_optimizer_as_they_were():
    trainer = Trainer(small_config())
    trainer.step()
    d_params = [p.numpy().copy() for p in trainer.discriminator.parameters()]
    d_state = {key: {k: numpy.copy(v) for k, v in value.items()} for key, value in trainer.optimizer_d.state.items()}
    trainer.update("G")
    for param, saved in zip(trainer.discriminator.parameters(), d_params):
        numpy.testing.assert_array_equal(param.numpy(), saved)
    for key, value in d_state.items():
        for name, saved in value.items():
            numpy.testing.assert_array_equal(trainer.optimizer_d.state[key][name], saved)


def test_tanh_networks_are_built_for_the_toy_mlp():
    trainer = Trainer(small_config())
    for player in (trainer.generator, trainer.discriminator):
        kinds = [type(module).__name__ for module in player]
        assert kinds.count("Tanh") == 2 and "ReLU" not in kinds and "LeakyReLU" not in kinds


@pytest.mark.parametrize("overrides, message", [
    (dict(unrolled_update="adam"), "unrolled_update must be one of sgd, optimizer"),
    (dict(mlp_activation="gelu"), "mlp_activation must be one of default, tanh"),
    (dict(data="mnist", model="dcgan"), "mlp_activation applies to model 'mlp' on toy data"),
])
def test_bad_unrolling_settings_get_one_clear_error(overrides, message):
    with pytest.raises(ValueError, match=message):
        small_config(**overrides).validate()


def test_the_timeline_demo_draws_finished_run_folders(tmp_path, restore_backend):
    """demos/unrolled_timeline.py --runs: one row per run folder, its k from config.json and
    the snapshots the run wrote, the figure written."""
    import importlib.util
    import sys
    from pathlib import Path

    from scratchgan import cli

    folders = []
    for k in (1, 0):
        folder = tmp_path / f"k{k}"
        assert cli.main(["train", "--recipe", "ring8-unrolled", "--steps", "4", "--unrolled", str(k), "--batch-size",
                         "32", "--eval-samples", "64", "--out", str(folder), "--no-progress"]) == 0
        folders.append(str(folder))
    demos = Path(__file__).resolve().parents[1] / "demos"
    sys.path.insert(0, str(demos))
    spec = importlib.util.spec_from_file_location("unrolled_timeline_demo", demos / "unrolled_timeline.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    rows = demo.main(["--runs", *folders, "--out", str(tmp_path / "figures")])
    assert [name for name, _, _ in rows] == ["unrolled, k = 1", "standard GAN (k = 0)"]
    assert all(list(snapshots) == [1, 2, 3, 4] for _, snapshots, _ in rows)
    assert (tmp_path / "figures" / "unrolled_timeline.png").stat().st_size > 0
