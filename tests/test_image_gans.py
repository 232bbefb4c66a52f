"""Image GANs: DCGAN, conditional GAN, AC-GAN and InfoGAN models, their training with every
loss, penalty and trick, their auxiliary terms against NumPy, exact resume, and the CLI defaults.

Everything trains on scikit-learn's 8x8 digits with tiny widths, so a step takes milliseconds.
"""

import math

import numpy
import pytest

import scratchgan as sg
from scratchgan import backend, cli
from scratchgan.gan import losses, models
from scratchgan.gan.trainer import FAMILY_DEFAULTS, IMAGE_STEPS, TrainConfig, Trainer

IMAGE_MODELS = ("dcgan", "cgan", "acgan", "infogan")


def tiny(**overrides):
    values = dict(data="digits8x8", model="dcgan", steps=4, batch_size=8, latent_dim=6, width=4,
                  eval_samples=20, log_every=2, checkpoint_every=2)
    values.update(overrides)
    return TrainConfig(**values)


def latents(n, dim=6, seed=0, dtype=numpy.float32):
    return sg.Tensor(numpy.random.default_rng(seed).standard_normal((n, dim)).astype(dtype))


def layer_types(model):
    return [type(module).__name__ for module in model]


def parameter_arrays(module):
    return {name: p.numpy().copy() for name, p in module.named_parameters()}


# -- DCGAN architecture ----------------------------------------------------------------------------
def test_default_dcgan_is_the_w2_mnist_architecture():
    generator, discriminator = models.dcgan_generator(), models.dcgan_discriminator()
    assert layer_types(generator) == ["Linear", "BatchNorm1d", "ReLU", "Unflatten", "ConvTranspose2d",
                                      "BatchNorm2d", "ReLU", "ConvTranspose2d", "Tanh"]
    assert layer_types(discriminator) == ["Conv2d", "LeakyReLU", "Conv2d", "BatchNorm2d", "LeakyReLU",
                                          "Flatten", "Linear"]
    shapes = {name: p.shape for name, p in generator.named_parameters()}
    assert shapes["0.weight"] == (128 * 7 * 7, 100) and shapes["4.weight"] == (128, 64, 4, 4)
    assert {name: p.shape for name, p in discriminator.named_parameters()}["6.weight"] == (1, 128 * 7 * 7)


@pytest.mark.parametrize("size, channels", [(8, 1), (28, 1), (32, 1), (64, 3)])
@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_dcgan_maps_latents_to_images_in_minus_one_one_and_images_to_one_logit(size, channels, dtype):
    generator = models.dcgan_generator(6, size, channels, width=4, dtype=dtype)
    discriminator = models.dcgan_discriminator(size, channels, width=4, dtype=dtype)
    images = generator(latents(3, dtype=dtype))
    assert images.shape == (3, channels, size, size) and images.dtype == dtype
    assert numpy.abs(images.numpy()).max() <= 1.0
    logits = discriminator(images)
    assert logits.shape == (3, 1) and logits.dtype == dtype


@pytest.mark.parametrize("size", [28, 32, 64])
def test_dcgan_follows_the_papers_architecture_rules(size):
    """Radford et al.: fractionally-strided convolutions in G, strided ones in D, no pooling, no
    hidden fully connected layer, batch norm except at G's output and D's input, ReLU and tanh
    in G, LeakyReLU(0.2) in D."""
    generator = list(models.dcgan_generator(100, size, 1, width=8))
    discriminator = list(models.dcgan_discriminator(size, 1, width=8))
    for model in (generator, discriminator):
        assert not any(isinstance(m, (sg.nn.AvgPool2d, sg.nn.Upsample)) for m in model)
    # G: every ConvT and the projection are followed by batch norm, except the output layer
    weighted = [i for i, m in enumerate(generator) if isinstance(m, (sg.nn.Linear, sg.nn.ConvTranspose2d))]
    assert all(isinstance(generator[i + 1], (sg.nn.BatchNorm1d, sg.nn.BatchNorm2d)) for i in weighted[:-1])
    assert isinstance(generator[weighted[-1] + 1], sg.nn.Tanh) and generator[-1] is generator[weighted[-1] + 1]
    assert all(isinstance(m, sg.nn.ConvTranspose2d) for m in generator[weighted[1]:] if hasattr(m, "weight")
               and not isinstance(m, sg.nn.BatchNorm2d))
    assert all(generator[i].stride == (2, 2) for i in weighted[1:])  # up-sampling by fractional strides
    assert {type(m) for m in generator if not hasattr(m, "weight") and not isinstance(m, sg.nn.Unflatten)} == \
        {sg.nn.ReLU, sg.nn.Tanh}
    assert not any(isinstance(m, sg.nn.Linear) for m in generator[1:])  # only the projection of z
    # D: no batch norm after the input layer, batch norm after every other convolution
    convolutions = [i for i, m in enumerate(discriminator) if isinstance(m, sg.nn.Conv2d)]
    assert isinstance(discriminator[1], sg.nn.LeakyReLU)
    hidden = convolutions[1:] if isinstance(discriminator[-1], sg.nn.Linear) else convolutions[1:-1]
    assert hidden and all(isinstance(discriminator[i + 1], sg.nn.BatchNorm2d) for i in hidden)
    assert all(discriminator[i].stride == (2, 2) for i in [convolutions[0], *hidden])
    assert {m.negative_slope for m in discriminator if isinstance(m, sg.nn.LeakyReLU)} == {0.2}
    assert not any(isinstance(m, sg.nn.Linear) for m in discriminator[:-1])  # only the output layer


def test_discriminator_without_batch_norm_has_no_batch_norm_layer():
    for model in (models.dcgan_discriminator(28, width=4, batch_norm=False),
                  models.acgan_discriminator(10, 28, width=4, batch_norm=False),
                  models.infogan_discriminator(10, 2, 28, width=4, batch_norm=False)):
        assert not any(isinstance(m, (sg.nn.BatchNorm1d, sg.nn.BatchNorm2d)) for m in model.modules())


def test_dcgan_weights_follow_the_dcgan_initialisation():
    generator = models.dcgan_generator(100, 28, 1, width=64)
    weight = generator[0].weight.numpy()
    assert abs(weight.std() - 0.02) < 0.002 and numpy.all(generator[0].bias.numpy() == 0)
    assert abs(generator[1].weight.numpy().mean() - 1.0) < 0.01


@pytest.mark.parametrize("size", [5, 30, 0])
def test_dcgan_refuses_image_sizes_not_divisible_by_4(size):
    with pytest.raises(ValueError, match="image_size must be a multiple of 4"):
        models.dcgan_generator(6, size)


# -- conditional, AC-GAN and InfoGAN models ------------------------------------------------------------
def test_conditional_generator_feeds_the_one_hot_label_with_z():
    generator = models.cgan_generator(6, 10, 8, 1, width=4)
    generator.eval()
    z, labels = latents(4), numpy.array([0, 3, 3, 9])
    expected = generator.net(sg.Tensor(numpy.concatenate([z.numpy(), numpy.eye(10, dtype=numpy.float32)[labels]],
                                                         axis=1)))
    numpy.testing.assert_array_equal(generator(z, labels).numpy(), expected.numpy())
    assert not numpy.array_equal(generator(z, labels).numpy(), generator(z, numpy.zeros(4, int)).numpy())


def test_conditional_discriminator_sees_the_label_as_one_hot_planes():
    discriminator = models.cgan_discriminator(10, 8, 1, width=4)
    assert discriminator.net[0].in_channels == 1 + 10
    x, labels = sg.Tensor(numpy.zeros((2, 1, 8, 8), numpy.float32)), numpy.array([2, 7])
    joint = discriminator.joint_input(x, labels).numpy()
    assert joint.shape == (2, 11, 8, 8)
    assert numpy.all(joint[0, 1 + 2] == 1) and numpy.all(joint[1, 1 + 7] == 1)
    assert joint[:, 1:].sum() == 2 * 64
    assert discriminator(x, labels).shape == (2, 1)


def test_conditional_mlp_models_concatenate_the_one_hot_label():
    generator = models.conditional_mlp_generator(6, 10, (1, 8, 8), hidden=16, depth=2)
    discriminator = models.conditional_mlp_discriminator(10, (1, 8, 8), hidden=16, depth=2)
    images = generator(latents(3), numpy.array([1, 2, 3]))
    assert images.shape == (3, 1, 8, 8)
    assert discriminator.net[0].in_features == 64 + 10
    assert discriminator(images, numpy.array([1, 2, 3])).shape == (3, 1)


def test_acgan_and_infogan_discriminators_have_a_logit_and_an_auxiliary_head():
    x = sg.Tensor(numpy.random.default_rng(0).uniform(-1, 1, (4, 1, 8, 8)).astype(numpy.float32))
    acgan = models.acgan_discriminator(10, 8, 1, width=4)
    logits, classes = acgan.forward_with_aux(x)
    assert logits.shape == (4, 1) and classes.shape == (4, 10)
    numpy.testing.assert_array_equal(acgan(x).numpy(), logits.numpy())
    logits, q = models.infogan_discriminator(10, 2, 8, 1, width=4).forward_with_aux(x)
    assert logits.shape == (4, 1) and q.shape == (4, 12)


def test_fc_hidden_puts_infogans_fully_connected_layer_into_dcgan():
    generator = models.dcgan_generator(16, 8, 1, width=4, fc_hidden=32)
    discriminator = models.dcgan_discriminator(8, 1, width=4, fc_hidden=32)
    assert [type(m).__name__ for m in list(generator)[:3]] == ["Linear", "BatchNorm1d", "ReLU"]
    assert generator[0].weight.shape == (32, 16) and generator[3].weight.shape[1] == 32
    assert [type(m).__name__ for m in list(discriminator)[-4:]] == ["Linear", "BatchNorm1d", "LeakyReLU", "Linear"]
    assert discriminator[-1].weight.shape == (1, 32)
    images = generator(sg.Tensor(numpy.random.default_rng(0).standard_normal((4, 16)).astype(numpy.float32)))
    assert images.shape == (4, 1, 8, 8) and discriminator(images).shape == (4, 1)


@pytest.mark.parametrize("model", ["mlp", "cgan"])
def test_fc_hidden_is_refused_where_the_model_has_no_such_layer(model):
    with pytest.raises(ValueError, match="fc_hidden .* applies to dcgan, infogan"):
        tiny(model=model, fc_hidden=16).validate()


def test_one_hot_rejects_labels_out_of_range():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        models.one_hot(numpy.array([0, 10]), 10, latents(2))


# -- latent interpolation --------------------------------------------------------------------------------
def test_interpolation_starts_and_ends_at_the_given_latents():
    start, end = numpy.random.default_rng(0).standard_normal((2, 3, 5))
    for spherical in (True, False):
        path = models.interpolate_latents(start, end, 7, spherical=spherical)
        assert path.shape == (7, 3, 5)
        numpy.testing.assert_allclose(path[0], start, atol=1e-12)
        numpy.testing.assert_allclose(path[-1], end, atol=1e-12)


def test_linear_interpolation_midpoint_is_the_mean_and_slerp_keeps_the_norm_between_equal_norms():
    start, end = numpy.array([3.0, 0.0]), numpy.array([0.0, 3.0])
    numpy.testing.assert_allclose(models.interpolate_latents(start, end, 3, spherical=False)[1], [1.5, 1.5])
    path = models.interpolate_latents(start, end, 5)
    numpy.testing.assert_allclose(numpy.linalg.norm(path, axis=1), 3.0)


# -- training with every loss and penalty ---------------------------------------------------------------
OBJECTIVES = {
    "nonsaturating": {"loss": "nonsaturating"},
    "wgan-gp": {"loss": "wasserstein", "penalty": "gradient_penalty"},
    "hinge+spectral_norm": {"loss": "hinge", "penalty": "spectral_norm"},
    "dragan": {"loss": "nonsaturating", "penalty": "dragan"},
}


@pytest.mark.parametrize("objective", list(OBJECTIVES.values()), ids=list(OBJECTIVES))
@pytest.mark.parametrize("model", ("mlp",) + IMAGE_MODELS)
def test_every_model_takes_a_finite_training_step_with_every_objective(model, objective):
    trainer = Trainer(tiny(model=model, hidden=16, depth=2, **objective))
    before = parameter_arrays(trainer.generator)
    logs = trainer.step()
    assert all(numpy.isfinite(value) for value in logs.values())
    if objective.get("penalty") in ("gradient_penalty", "dragan"):
        assert logs["penalty"] >= 0
    assert any(not numpy.array_equal(before[k], v) for k, v in parameter_arrays(trainer.generator).items())


@pytest.mark.parametrize("model", IMAGE_MODELS)
def test_float64_image_models_keep_float64_parameters_gradients_and_samples(model):
    trainer = Trainer(tiny(model=model, dtype="float64"))
    trainer.step()
    for module in (trainer.generator, trainer.discriminator):
        assert {p.dtype for p in module.parameters()} == {numpy.dtype(numpy.float64)}
    assert {p.grad.dtype for p in trainer.generator.parameters()} == {numpy.dtype(numpy.float64)}
    assert trainer.sample(3).shape == (3, 1, 8, 8)


TRICKS = {
    "replay": {"replay_size": 16},
    "feature_matching": {"feature_matching_layer": 2},
    "unrolled": {"unrolled": 1},
    "joint_batch_label_smoothing": {"separate_batches": False, "label_smoothing": 0.9, "label_flip": 0.1},
    "minibatch_layers_instance_noise": {"minibatch_std": True, "minibatch_discrimination": 3,
                                        "instance_noise": 0.1},
    "ema_d_steps_relativistic": {"ema": 0.9, "d_steps": 2, "loss": "relativistic_average", "penalty": "r1"},
    "weight_clipping_least_squares": {"loss": "least_squares", "penalty": "weight_clipping"},
}


@pytest.mark.parametrize("trick", list(TRICKS.values()), ids=list(TRICKS))
@pytest.mark.parametrize("model", IMAGE_MODELS)
def test_every_trick_trains_every_image_model(model, trick):
    trainer = Trainer(tiny(model=model, **trick))
    for _ in range(2):
        logs = trainer.step()
    assert all(numpy.isfinite(value) for value in logs.values())


def test_gradient_penalties_turn_the_discriminators_batch_norm_off_unless_asked():
    def batch_norms(trainer):
        return [m for m in trainer.discriminator.modules() if isinstance(m, (sg.nn.BatchNorm1d, sg.nn.BatchNorm2d))]

    for penalty in ("gradient_penalty", "dragan", "r1", "r2"):
        trainer = Trainer(tiny(loss="wasserstein", penalty=penalty))
        assert trainer.config.d_batch_norm is False and not batch_norms(trainer)
    assert batch_norms(Trainer(tiny(loss="wasserstein", penalty="gradient_penalty", d_batch_norm=True)))
    assert batch_norms(Trainer(tiny(penalty="spectral_norm")))
    assert batch_norms(Trainer(tiny()))


def test_the_conditional_critic_penalty_differentiates_through_the_label_bound_discriminator():
    trainer = Trainer(tiny(model="cgan", loss="wasserstein", penalty="gradient_penalty"))
    real, labels = trainer.game.real_batch()
    fake = trainer.generator(trainer.latent_batch(), labels).detach()
    value = trainer.game.penalty(real, fake, labels, labels)
    value.backward()
    assert numpy.isfinite(value.item())
    weights = [p for name, p in trainer.discriminator.named_parameters() if name.endswith("weight")]
    assert weights and all(p.grad is not None and numpy.abs(p.grad.numpy()).max() > 0 for p in weights)


# -- labels and codes ------------------------------------------------------------------------------------
def test_conditional_sampling_uses_the_requested_labels():
    trainer = Trainer(tiny(model="cgan"))
    trainer.step()
    z, labels = latents(10), numpy.arange(10)
    samples = trainer.sample(latents=z, condition=labels)
    trainer.generator.eval()
    expected = trainer.generator(z, labels).numpy().astype(numpy.float64)
    numpy.testing.assert_array_equal(samples, expected)
    assert not numpy.array_equal(samples, trainer.sample(latents=z, condition=(labels + 1) % 10))


def test_discriminator_step_asks_the_generator_for_the_real_batch_labels(monkeypatch):
    trainer = Trainer(tiny(model="acgan"))
    asked, seen = [], []
    original_generate, original_real = trainer.game.generate, trainer.game.real_batch

    def generate(generator, z, condition):
        asked.append(numpy.array(condition))
        return original_generate(generator, z, condition)

    def real_batch(grad=True):
        real, labels = original_real(grad)
        seen.append(labels)
        return real, labels

    monkeypatch.setattr(trainer.game, "generate", generate)
    monkeypatch.setattr(trainer.game, "real_batch", real_batch)
    trainer.update("D")
    numpy.testing.assert_array_equal(asked[0], seen[0])


def test_infogan_codes_are_one_hot_categorical_and_uniform_continuous():
    trainer = Trainer(tiny(model="infogan", categorical_codes=10, continuous_codes=2))
    codes = trainer.draw_condition(2000, numpy.random.default_rng(0))
    assert codes.shape == (2000, 12)
    numpy.testing.assert_array_equal(codes[:, :10].sum(axis=1), 1)
    assert set(numpy.unique(codes[:, :10])) == {0, 1}
    assert -1 <= codes[:, 10:].min() and codes[:, 10:].max() <= 1 and abs(codes[:, 10:].mean()) < 0.05


def test_fixed_labels_fill_the_grid_with_one_class_per_row():
    trainer = Trainer(tiny(model="cgan"))
    rows = trainer.fixed_condition[:100].reshape(10, 10)
    numpy.testing.assert_array_equal(rows, numpy.repeat(numpy.arange(10)[:, None], 10, axis=1))


# -- the auxiliary terms against NumPy -------------------------------------------------------------------
def numpy_log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - numpy.log(numpy.exp(shifted).sum(axis=1, keepdims=True))


def test_auxiliary_classifier_loss_is_the_cross_entropy_of_the_class_logits():
    rng = numpy.random.default_rng(1)
    logits, labels = rng.standard_normal((16, 10)), rng.integers(0, 10, 16)
    expected = -numpy.mean(numpy_log_softmax(logits)[numpy.arange(16), labels])
    value = losses.auxiliary_classifier_loss(sg.Tensor(logits), labels).item()
    assert value == pytest.approx(expected, rel=1e-12)


def test_information_terms_are_the_categorical_and_gaussian_log_likelihoods_and_the_mi_bound():
    rng = numpy.random.default_rng(2)
    n, k, c = 32, 10, 2
    q = rng.standard_normal((n, k + c))
    categories = rng.integers(0, k, n)
    codes = numpy.concatenate([numpy.eye(k)[categories], rng.uniform(-1, 1, (n, c))], axis=1)
    categorical_nll = -numpy.mean(numpy_log_softmax(q[:, :k])[numpy.arange(n), categories])
    gaussian_log_density = -0.5 * numpy.log(2 * numpy.pi) - 0.5 * (codes[:, k:] - q[:, k:]) ** 2
    continuous_nll = -numpy.mean(gaussian_log_density.sum(axis=1))
    terms = losses.information_terms(sg.Tensor(q), codes, k)
    assert terms["categorical_nll"].item() == pytest.approx(categorical_nll, rel=1e-12)
    assert terms["continuous_nll"].item() == pytest.approx(continuous_nll, rel=1e-12)
    assert terms["nll"].item() == pytest.approx(categorical_nll + continuous_nll, rel=1e-12)
    assert terms["mi_categorical"].item() == pytest.approx(math.log(k) - categorical_nll, rel=1e-12)
    # L_I = E log Q(c|x) + H(c), H(c) = log K + C log 2 (U(-1, 1) has differential entropy log 2)
    assert terms["mi_lower_bound"].item() == pytest.approx(math.log(k) + c * math.log(2) - categorical_nll - continuous_nll,
                                                    rel=1e-12)


def test_a_perfect_q_attains_the_categorical_mutual_information_log_k():
    codes = numpy.eye(10)[numpy.arange(10)]
    terms = losses.information_terms(sg.Tensor(codes * 50.0), codes, 10)
    assert terms["mi_categorical"].item() == pytest.approx(math.log(10), abs=1e-9)


class Recorder:
    """Wraps a discriminator's forward_with_aux and keeps what it returned."""

    def __init__(self, discriminator):
        self.original, self.outputs = discriminator.forward_with_aux, []

    def __call__(self, x):
        outputs = self.original(x)
        self.outputs.append(outputs)
        return outputs


def test_acgan_discriminator_step_adds_the_class_loss_on_real_and_fake(monkeypatch):
    trainer = Trainer(tiny(model="acgan", aux_weight=0.5))
    recorder = Recorder(trainer.discriminator)
    monkeypatch.setattr(trainer.discriminator, "forward_with_aux", recorder)
    seen = []
    original = trainer.game.real_batch
    monkeypatch.setattr(trainer.game, "real_batch", lambda grad=True: seen.append(original(grad)) or seen[-1])
    logs = trainer.update("D")
    labels = seen[0][1]  # the fakes were asked for the real batch's labels
    (_, real_classes), (_, fake_classes) = recorder.outputs
    expected = sum(-numpy.mean(numpy_log_softmax(classes.numpy().astype(numpy.float64))[numpy.arange(8), labels])
                   for classes in (real_classes, fake_classes))
    assert logs["d_aux"] == pytest.approx(expected, rel=1e-5)


def test_infogan_generator_step_logs_the_bound_of_its_q_outputs(monkeypatch):
    trainer = Trainer(tiny(model="infogan"))
    recorder = Recorder(trainer.discriminator)
    monkeypatch.setattr(trainer.discriminator, "forward_with_aux", recorder)
    drawn = []
    original = trainer.game.draw_condition
    monkeypatch.setattr(trainer.game, "draw_condition", lambda n, rng: drawn.append(original(n, rng)) or drawn[-1])
    logs = trainer.update("G")
    q, codes = recorder.outputs[0][1].numpy().astype(numpy.float64), drawn[0].astype(numpy.float64)
    categories = codes[:, :10].argmax(axis=1)
    categorical_nll = -numpy.mean(numpy_log_softmax(q[:, :10])[numpy.arange(8), categories])
    continuous_nll = numpy.mean((0.5 * (codes[:, 10:] - q[:, 10:]) ** 2).sum(axis=1)) + numpy.log(2 * numpy.pi)
    assert logs["g_info"] == pytest.approx(categorical_nll + continuous_nll, rel=1e-5)
    assert logs["mi_categorical"] == pytest.approx(math.log(10) - categorical_nll, rel=1e-4)


# -- checkpoints ------------------------------------------------------------------------------------------
RESUME_CONFIGS = {
    "dcgan": {"model": "dcgan"},
    "cgan_replay_ema": {"model": "cgan", "replay_size": 16, "ema": 0.9},
    "acgan_gradient_penalty": {"model": "acgan", "loss": "wasserstein", "penalty": "gradient_penalty"},
    "infogan_replay": {"model": "infogan", "replay_size": 16},
}


@pytest.mark.parametrize("overrides", list(RESUME_CONFIGS.values()), ids=list(RESUME_CONFIGS))
def test_restored_image_trainer_continues_bit_for_bit(overrides):
    original = Trainer(tiny(**overrides))
    for _ in range(2):
        original.step()
    checkpoint = original.state_arrays()
    original_logs = [original.step() for _ in range(2)]
    expected = original.state_arrays()
    restored = Trainer(tiny(**overrides))
    restored.load_state_arrays(checkpoint)
    assert [restored.step() for _ in range(2)] == original_logs
    resumed = restored.state_arrays()
    assert resumed.keys() == expected.keys()
    for key in expected:
        numpy.testing.assert_array_equal(resumed[key], expected[key], err_msg=key)


def test_evaluating_a_run_leaves_the_training_stream_untouched():
    """The classifier behind the image metrics initialises layers from the global generator
    when first loaded; the runner undoes that, so resuming in a fresh process stays exact."""
    from scratchgan.gan import runner
    from scratchgan.metrics import images as image_metrics

    trainer = Trainer(tiny(model="cgan"))
    image_metrics._cached_classifier.cache_clear()
    before = sg.random.get_state()
    with runner._training_stream_kept():
        runner._quick_metrics(trainer, with_fid=False)
    assert sg.random.get_state() == before


# -- configuration -------------------------------------------------------------------------------------------
def test_image_data_resolve_to_the_dcgan_defaults_and_toy_data_to_the_ring8_defaults():
    image, toy = TrainConfig(data="fashion_mnist").resolved(), TrainConfig(data="ring8").resolved()
    assert (image.model, image.data, image.loss, image.penalty) == ("dcgan", "fashion_mnist", "nonsaturating", "none")
    assert (image.steps, image.batch_size, image.latent_dim, image.fc_hidden, image.ema) == (IMAGE_STEPS, 64, 100,
                                                                                             0, 0.0)
    assert (image.lr_g, image.lr_d, image.beta1, image.beta2, image.lr_schedule) == (2e-4, 2e-4, 0.5, 0.999,
                                                                                      "constant")
    assert (toy.model, toy.penalty, toy.steps, toy.batch_size, toy.latent_dim) == ("mlp", "r1", 5000, 256, 16)
    assert (toy.lr_g, toy.lr_d, toy.lr_schedule) == (1e-3, 2e-3, "linear")
    assert TrainConfig(data="ring8", lr_g=5e-4).resolved().lr_g == 5e-4  # a given value wins
    info = TrainConfig(model="infogan").resolved()  # InfoGAN's paper: 62 noise dimensions, G's lr 1e-3
    assert (info.latent_dim, info.lr_g, info.lr_d) == (62, 1e-3, 2e-4)
    assert TrainConfig(model="infogan", latent_dim=100).resolved().latent_dim == 100
    assert set(FAMILY_DEFAULTS["toy"]) == set(FAMILY_DEFAULTS["image"])


@pytest.mark.parametrize("overrides, match", [
    ({"data": "ring8", "model": "dcgan"}, "model 'dcgan' needs image data"),
    ({"data": "ring8", "data_dir": "/tmp"}, "data_dir applies to image datasets"),
    ({"model": "stylegan"}, "unknown model 'stylegan'; expected one of: mlp, dcgan, cgan, acgan, infogan, bigan, ali, aae"),
    ({"model": "mlp", "d_batch_norm": True}, "MLP discriminator has no batch norm"),
    ({"data": "cifar"}, "unknown dataset 'cifar'; expected one of: .*ring8.*mnist"),
    ({"aux_weight": 0.0}, "aux_weight must be positive"),
    ({"continuous_codes": -1}, "continuous_codes must be >= 0"),
])
def test_validate_names_the_bad_image_setting(overrides, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**overrides).validate()


def test_feature_matching_layer_beyond_the_discriminator_is_refused_when_built():
    with pytest.raises(ValueError, match=r"feature_matching_layer must be in \[1, 6\] for this dcgan"):
        Trainer(tiny(feature_matching_layer=9))


# -- the command -----------------------------------------------------------------------------------------
def test_train_with_no_arguments_is_the_main_job_recipe_on_mnist():
    args = cli.build_parser().parse_args(["train"])
    config = cli._config_from_args(args).resolved()
    assert (config.model, config.data, config.loss, config.penalty) == ("dcgan", "mnist", "nonsaturating", "none")
    assert (config.steps, config.latent_dim, config.fc_hidden, config.ema) == (1500, 62, 512, 0.99)
    assert (config.lr_g, config.lr_d, config.batch_size, config.data_dir) == (1e-3, 2e-4, 64, None)
    assert args.backend is None and not args.no_progress


def test_the_main_job_recipe_yields_to_given_settings_and_other_models():
    assert TrainConfig(ema=0.0, steps=10).resolved().ema == 0.0
    assert TrainConfig(model="cgan").resolved().steps == IMAGE_STEPS
    assert TrainConfig(model="infogan").resolved().fc_hidden == 1024


def test_without_a_choice_the_command_takes_the_fastest_backend(monkeypatch, restore_backend):
    monkeypatch.delenv("SCRATCHGAN_BACKEND", raising=False)
    assert cli.choose_backend(None) == "fastest available; --backend to choose"
    assert backend.get_backend() == backend.fastest()
    assert cli.choose_backend("numpy") == "--backend" and backend.get_backend() == "numpy"
    monkeypatch.setenv("SCRATCHGAN_BACKEND", "numpy")
    assert cli.choose_backend(None) == "SCRATCHGAN_BACKEND"


def test_image_run_writes_pictures_and_metrics(tmp_path, capsys, restore_backend):
    import json

    out = tmp_path / "run"
    code = cli.main(["train", "--data", "digits8x8", "--model", "infogan", "--steps", "2", "--batch-size", "8",
                     "--latent-dim", "6", "--width", "4", "--eval-samples", "20", "--log-every", "2",
                     "--backend", "numpy", "--no-progress", "--out", str(out)])
    assert code == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == (f"scratchgan train: backend numpy (--backend), model infogan, loss nonsaturating, "
                     f"data digits8x8 (1797 images 8x8), 2 steps -> {out}")
    for name in ("samples.png", "snapshots.png", "interpolation.png", "traversal_c1.png", "traversal_c2.png",
                 "losses.png", "metrics.png", "checkpoints/step_2.npz", "config.json"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"fid", "inception_score", "steps", "seconds", "code_purity", "classes_covered", "kid", "kid_std",
            "precision", "recall", "density", "coverage"} <= set(metrics)
    assert metrics["steps"] == 2 and 1.0 <= metrics["inception_score"] <= 10.0
    config = json.loads((out / "config.json").read_text())
    assert config["backend"] == "numpy" and config["lr_g"] == 1e-3 and config["d_batch_norm"] is True
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"fid_fixed", "code_purity", "mi_categorical", "g_info", "d_info"} <= set(log[-1])


def test_conditional_run_reports_class_accuracy_and_resumes_exactly(tmp_path, restore_backend):
    import json

    from scratchgan.runs import load_checkpoint

    flags = ["train", "--data", "digits8x8", "--model", "cgan", "--steps", "3", "--batch-size", "8",
             "--latent-dim", "6", "--width", "4", "--eval-samples", "20", "--log-every", "3",
             "--checkpoint-every", "2", "--backend", "numpy", "--no-progress"]
    assert cli.main([*flags, "--out", str(tmp_path / "whole")]) == 0
    assert cli.main([*flags, "--out", str(tmp_path / "split")]) == 0
    (tmp_path / "split/checkpoints/step_3.npz").unlink()  # continue from step 2
    assert cli.main(["resume", str(tmp_path / "split"), "--backend", "numpy", "--no-progress"]) == 0
    whole, split = (load_checkpoint(tmp_path / name / "checkpoints/step_3.npz") for name in ("whole", "split"))
    assert sorted(whole) == sorted(split) and all(numpy.array_equal(whole[key], split[key]) for key in whole)
    assert (tmp_path / "whole/metrics.jsonl").read_text() == (tmp_path / "split/metrics.jsonl").read_text()
    metrics = json.loads((tmp_path / "whole/metrics.json").read_text())
    assert 0.0 <= metrics["class_accuracy"] <= 1.0 and len(metrics["per_class_accuracy"]) == 10


def test_the_dcgan_initialisation_reaches_1d_convolutions_too():
    model = sg.nn.Sequential(sg.nn.Conv1d(8, 64, 5), sg.nn.ConvTranspose1d(64, 64, 4))
    sg.nn.init.dcgan_init_(model)
    for layer in model:
        assert abs(layer.weight.numpy().std() - 0.02) < 0.003 and not layer.bias.numpy().any()
