"""BiGAN / ALI and the adversarial autoencoder: their players, their losses on hand-checkable
cases, resume, and the probes and prior metrics they report."""

import numpy
import pytest

import scratchgan as sg
from scratchgan.gan import games, models
from scratchgan.gan.games import aae
from scratchgan.gan.trainer import TrainConfig, Trainer
from scratchgan.metrics import probes


def tiny(model, **overrides):
    values = dict(data="digits8x8", model=model, steps=4, batch_size=16, width=4, latent_dim=5, dtype="float64",
                  log_every=2, eval_samples=50)
    if model in ("bigan", "ali"):
        values["fc_hidden"] = 8
    if model == "aae":
        values.update(hidden=16, latent_dim=2)
    values.update(overrides)
    return TrainConfig(**values)


# -- BiGAN and ALI ------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["bigan", "ali"])
def test_the_pair_games_update_g_and_e_together_against_d(model):
    trainer = Trainer(tiny(model))
    assert list(trainer.players) == ["G", "E", "D"]
    assert [(g.name, g.players) for g in trainer.groups] == [("D", ("D",)), ("G", ("G", "E"))]
    before = {name: [p.numpy().copy() for p in m.parameters()] for name, m in trainer.players.items()}
    trainer.update("D")
    assert all(numpy.array_equal(a, p.numpy()) for a, p in zip(before["E"], trainer.players["E"].parameters()))
    trainer.update("G")
    for name in ("G", "E", "D"):
        assert any(not numpy.array_equal(a, p.numpy()) for a, p in zip(before[name], trainer.players[name].parameters()))
    assert isinstance(trainer.players["E"], models.GaussianEncoder) == (model == "ali")


def test_bigan_generator_loss_is_the_discriminator_loss_with_the_pairs_swapped():
    """Non-saturating: G and E minimise softplus(-D(G(z), z)) + softplus(D(x, E(x)))."""
    trainer = Trainer(tiny("bigan"))
    game = trainer.game
    sg.manual_seed(5)
    loss, _ = game.generator_loss()
    sg.manual_seed(5)
    z = game.latent_batch()
    x, code = game.real_batch()
    fake_out = trainer.discriminator(trainer.generator(z), z).numpy()
    real_out = trainer.discriminator(x, code).numpy()
    expected = numpy.logaddexp(0, -fake_out).mean() + numpy.logaddexp(0, real_out).mean()
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_the_gaussian_encoder_reparameterises_and_returns_its_mean_in_eval_mode():
    encoder = models.dcgan_encoder(3, image_size=8, channels=1, width=4, stochastic=True, dtype=numpy.float64)
    x = sg.Tensor(numpy.random.default_rng(0).standard_normal((6, 1, 8, 8)))
    statistics = encoder.net.eval()(x).numpy()
    encoder.eval()
    numpy.testing.assert_allclose(encoder(x).numpy(), statistics[:, :3])
    encoder.train()
    sg.manual_seed(1)
    sampled = encoder(x).numpy()
    encoder.net.train()
    sg.manual_seed(1)
    stats = encoder.net(x).numpy()
    noise = sg.randn(6, 3, dtype=numpy.float64).numpy()
    numpy.testing.assert_allclose(sampled, stats[:, :3] + numpy.exp(stats[:, 3:] / 2) * noise, rtol=1e-10)


def test_the_joint_discriminator_gradients_first_and_second_order():
    d = models.joint_discriminator(2, image_size=8, channels=1, width=2, hidden=3, batch_norm=False,
                                   dtype=numpy.float64)
    rng = numpy.random.default_rng(2)
    x = sg.Tensor(rng.standard_normal((3, 1, 8, 8)), requires_grad=True)
    z = sg.Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    for module in list(d.modules()):  # smooth activations: finite differences need no kinks
        for name, child in list(module._modules.items()):
            if isinstance(child, sg.nn.LeakyReLU):
                module._modules[name] = sg.nn.Tanh()
    sg.gradcheck(lambda a, b: d(a, b), (x, z))
    sg.gradgradcheck(lambda a, b: d(a, b), (x, z))


@pytest.mark.parametrize("model", ["bigan", "ali", "aae"])
def test_an_encoder_game_resumes_exactly(model):
    trainer = Trainer(tiny(model, penalty="r1"))
    trainer.step()
    state = trainer.state_arrays()
    assert any(key.startswith("E/") for key in state)
    later = [trainer.step() for _ in range(2)]
    again = Trainer(tiny(model, penalty="r1"))
    again.load_state_arrays(state)
    assert [again.step() for _ in range(2)] == later


def test_a_bigan_run_reports_reconstruction_and_probes(tmp_path):
    from scratchgan.gan import runner

    metrics = runner.run(tiny("bigan"), out_dir=tmp_path / "run", progress=False)
    for key in ("reconstruction_mse", "probe_linear", "probe_1nn", "probe_linear_pixels", "probe_1nn_pixels",
                "probe_linear_random_encoder", "probe_1nn_random_encoder"):
        assert numpy.isfinite(metrics[key]), key
    assert 0 <= metrics["probe_1nn"] <= 1
    assert (tmp_path / "run" / "reconstructions.png").stat().st_size > 0


# -- the adversarial autoencoder ------------------------------------------------------------------------
def test_the_aae_has_a_reconstruction_and_a_regularisation_phase():
    trainer = Trainer(tiny("aae"))
    assert [(g.name, g.players) for g in trainer.groups] == [("AE", ("E", "G")), ("D", ("D",)), ("E", ("E",))]
    logs = trainer.step()
    assert {"reconstruction", "d_loss", "g_loss"} <= set(logs)


def test_the_aae_reconstruction_loss_is_the_mean_squared_error():
    trainer = Trainer(tiny("aae"))
    game = trainer.game
    ae = next(g for g in trainer.groups if g.name == "AE")
    sg.manual_seed(3)
    loss, _ = game.group_loss(ae, 0)
    sg.manual_seed(3)
    x = game.images()
    rebuilt = trainer.generator(trainer.players["E"](x)).numpy()
    assert loss.item() == pytest.approx(numpy.mean((rebuilt - x.numpy()) ** 2), rel=1e-12)


def test_the_mixture_prior_has_ten_components_on_a_circle():
    means = aae.mixture_means()
    numpy.testing.assert_allclose(numpy.linalg.norm(means, axis=1), aae.MIXTURE_RADIUS)
    trainer = Trainer(tiny("aae", prior="mixture"))
    draws = trainer.game.draw_latents(20000, numpy.random.default_rng(0))
    nearest = numpy.argmin(((draws[:, None] - means[None]) ** 2).sum(axis=2), axis=1)
    counts = numpy.bincount(nearest, minlength=10) / len(draws)
    numpy.testing.assert_allclose(counts, 0.1, atol=0.01)
    # the density integrates to 1 over the plane
    xs = numpy.linspace(-8, 8, 321)
    grid = numpy.stack(numpy.meshgrid(xs, xs), axis=-1).reshape(-1, 2)
    assert aae.prior_density(grid, "mixture").sum() * (xs[1] - xs[0]) ** 2 == pytest.approx(1.0, rel=1e-3)
    assert aae.prior_density(grid, "gaussian").sum() * (xs[1] - xs[0]) ** 2 == pytest.approx(1.0, rel=1e-3)


def test_aae_settings_are_checked():
    with pytest.raises(ValueError, match="unknown prior 'laplace'"):
        tiny("aae", prior="laplace").validate()
    with pytest.raises(ValueError, match="the mixture prior is 2-D"):
        tiny("aae", prior="mixture", latent_dim=3).validate()
    with pytest.raises(ValueError, match="model 'aae' needs image data"):
        TrainConfig(data="ring8", model="aae").validate()


def test_an_aae_run_reports_codes_against_the_prior(tmp_path):
    from scratchgan.gan import runner

    metrics = runner.run(tiny("aae", prior="mixture"), out_dir=tmp_path / "run", progress=False)
    for key in ("reconstruction_mse", "code_mmd", "code_mmd_prior_to_prior", "probe_linear", "probe_1nn"):
        assert numpy.isfinite(metrics[key]), key
    assert (tmp_path / "run" / "codes.png").stat().st_size > 0


def test_every_encoder_game_is_registered():
    assert {"bigan", "ali", "aae"} <= set(games.names())


# -- probes ---------------------------------------------------------------------------------------------
def test_the_linear_probe_separates_linearly_separable_classes():
    rng = numpy.random.default_rng(0)
    train = rng.standard_normal((200, 3))
    test = rng.standard_normal((100, 3))
    assert probes.linear_probe_accuracy(train, (train[:, 0] > 0).astype(int), test, (test[:, 0] > 0).astype(int)) > 0.95
    shuffled = rng.permutation((test[:, 0] > 0).astype(int))
    assert probes.linear_probe_accuracy(train, (train[:, 0] > 0).astype(int), test, shuffled) < 0.7


def test_the_nearest_neighbour_probe_on_a_hand_case():
    train = numpy.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [11.0, 0.0], [12.0, 0.0]])
    labels = numpy.array([0, 0, 1, 1, 1])
    test = numpy.array([[0.4, 0.0], [10.6, 0.0], [6.0, 0.0]])
    assert probes.knn_accuracy(train, labels, test, numpy.array([0, 1, 1]), k=1) == 1.0
    # k = 3 at 6.0: the nearest are 10 (4.0), 1 (5.0), 11 (5.0) -> two of class 1
    assert probes.knn_accuracy(train, labels, test, numpy.array([0, 1, 1]), k=3) == 1.0
    with pytest.raises(ValueError, match="k must be an integer in \\[1, 5\\]"):
        probes.knn_accuracy(train, labels, test, numpy.array([0, 1, 1]), k=6)
    with pytest.raises(ValueError, match="test labels must be 3 class numbers"):
        probes.knn_accuracy(train, labels, test, numpy.array([0, 1]))
