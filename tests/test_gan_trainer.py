"""The Trainer: update counts, isolation of the two players, determinism, exact resume, config checks."""

import re

import numpy
import pytest

import scratchgan as sg
from scratchgan.gan.trainer import TrainConfig, Trainer


def tiny(**overrides):
    # a plain baseline on ring8 (no penalty, constant learning rate); the defaults are tested in test_cli
    values = dict(data="ring8", steps=10, batch_size=32, hidden=16, depth=2, latent_dim=4, penalty="none",
                  lr_schedule="constant")
    values.update(overrides)
    return TrainConfig(**values)


def parameter_arrays(module):
    return {name: p.numpy().copy() for name, p in module.named_parameters()}


def assert_same_arrays(left, right):
    assert left.keys() == right.keys()
    for key in left:
        numpy.testing.assert_array_equal(left[key], right[key], err_msg=key)


# -- one step -----------------------------------------------------------------------------------
@pytest.mark.parametrize("d_steps", [1, 3])
def test_step_runs_d_steps_discriminator_updates_per_generator_update(d_steps):
    trainer = Trainer(tiny(d_steps=d_steps))
    trainer.step()
    trainer.step()
    d_counts = {state["step"] for state in trainer.optimizer_d.state.values()}
    g_counts = {state["step"] for state in trainer.optimizer_g.state.values()}
    assert d_counts == {2 * d_steps}
    assert g_counts == {2}


def test_the_wgan_warmup_schedule_gives_the_critic_100_updates_in_the_first_25_steps_and_every_500th():
    group = sg.gan.games.base.Group("D", ("D",), 1e-3, "adam", steps=5, schedule="wgan_warmup")
    counts = [group.count(step) for step in range(1502)]
    assert [step for step, count in enumerate(counts) if count == 100] == [*range(25), 500, 1000, 1500]
    assert set(counts) == {5, 100}
    assert sg.gan.games.base.Group("D", ("D",), 1e-3, "adam", steps=5).count(0) == 5


def test_the_trainer_follows_the_d_steps_schedule_also_after_a_resume_point():
    trainer = Trainer(tiny(d_steps=2, d_steps_schedule="wgan_warmup"))
    trainer.step()
    assert {state["step"] for state in trainer.optimizer_d.state.values()} == {100}
    trainer.step_count = 30  # as a run resumed at step 30: past the warm-up, the plain d_steps
    trainer.step()
    assert {state["step"] for state in trainer.optimizer_d.state.values()} == {102}
    assert {state["step"] for state in trainer.optimizer_g.state.values()} == {2}


def test_an_unknown_d_steps_schedule_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="d_steps_schedule 'often'; expected one of: constant, wgan_warmup"):
        tiny(d_steps_schedule="often").validate()


def test_penalty_params_reach_the_trainers_penalty_and_change_its_updates():
    paper, authors = (Trainer(tiny(penalty="dragan", penalty_params=params))
                      for params in ({}, {"perturbation": "authors_code", "k": 0.5}))
    assert paper.game.penalty_term.params["perturbation"] == "paper"
    assert authors.game.penalty_term.params["perturbation"] == "authors_code"
    assert authors.game.penalty_term.params["k"] == 0.5
    paper.step()
    authors.step()
    assert any(not numpy.array_equal(a, b) for a, b in zip(parameter_arrays(paper.players["D"]).values(),
                                                           parameter_arrays(authors.players["D"]).values()))


@pytest.mark.parametrize("penalty, params, message", [
    ("weight_clipping", {"k": 1}, "penalty 'weight_clipping' takes no settings"),
    ("r1", {"k": 1}, "penalty 'r1' takes no settings"),
    ("dragan", {"kk": 1}, "'kk' in penalty_params is unknown; the settings are: k, c, perturbation"),
    ("gradient_penalty", {"norm_axes": 1}, "'norm_axes' in penalty_params is not a config setting"),
    ("dragan", {"c": "ten"}, "setting c must be a finite number, got 'ten'"),
    ("dragan", {"c": float("inf")}, "setting c must be a finite number"),
    ("gradient_penalty", {"one_sided": 1}, "setting one_sided must be true or false, got 1"),
    ("dragan", {"perturbation": "code"}, "perturbation must be one of 'paper', 'authors_code', got 'code'"),
])
def test_bad_penalty_params_are_one_value_error_naming_the_setting(penalty, params, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        tiny(penalty=penalty, penalty_params=params).validate()


def test_step_increments_the_step_count():
    trainer = Trainer(tiny())
    assert trainer.step_count == 0
    assert trainer.step()["step"] == 1
    trainer.step()
    assert trainer.step_count == 2


def test_step_logs_both_losses():
    logs = Trainer(tiny()).step()
    assert {"d_loss", "g_loss", "step"} <= logs.keys()
    assert "penalty" not in logs
    assert numpy.isfinite(logs["d_loss"]) and numpy.isfinite(logs["g_loss"])


@pytest.mark.parametrize("penalty", ["gradient_penalty", "dragan", "r1", "r2"])
def test_step_logs_the_penalty_when_one_is_set(penalty):
    logs = Trainer(tiny(loss="wasserstein", penalty=penalty)).step()
    assert {"d_loss", "g_loss", "penalty"} <= logs.keys()
    assert numpy.isfinite(logs["penalty"]) and logs["penalty"] >= 0


def test_generator_step_leaves_the_discriminator_untouched():
    trainer = Trainer(tiny())
    trainer.update("D")
    before = parameter_arrays(trainer.discriminator)
    trainer.update("G")
    assert all(p.grad is None for p in trainer.discriminator.parameters())
    assert all(p.requires_grad for p in trainer.discriminator.parameters())
    assert_same_arrays(parameter_arrays(trainer.discriminator), before)


def test_unrolled_generator_step_leaves_the_discriminator_untouched():
    trainer = Trainer(tiny(unrolled=2))
    trainer.update("D")
    before = parameter_arrays(trainer.discriminator)
    trainer.update("G")
    assert all(p.grad is None for p in trainer.discriminator.parameters())
    assert_same_arrays(parameter_arrays(trainer.discriminator), before)


def test_generator_step_updates_the_generator():
    trainer = Trainer(tiny())
    before = parameter_arrays(trainer.generator)
    trainer.update("G")
    after = parameter_arrays(trainer.generator)
    assert all(not numpy.array_equal(after[name], before[name]) for name in before)


def test_discriminator_step_leaves_the_generator_untouched():
    trainer = Trainer(tiny(replay_size=64))
    before = parameter_arrays(trainer.generator)
    trainer.update("D")
    trainer.update("D")
    assert all(p.grad is None for p in trainer.generator.parameters())
    assert_same_arrays(parameter_arrays(trainer.generator), before)


def test_weight_clipping_keeps_every_discriminator_parameter_within_the_clip_value():
    trainer = Trainer(tiny(loss="wasserstein", penalty="weight_clipping", clip_value=0.01, lr_d=0.1))
    trainer.step()
    for name, array in parameter_arrays(trainer.discriminator).items():
        assert numpy.abs(array).max() <= 0.01, name


def test_spectral_norm_config_normalises_every_linear_layer():
    trainer = Trainer(tiny(penalty="spectral_norm"))
    linears = [m for m in trainer.discriminator.modules() if isinstance(m, sg.nn.Linear)]
    assert len(linears) == 3
    for layer in linears:
        assert {"weight_orig", "bias"} == set(layer._parameters)
        assert {"weight_u", "weight_v"} <= set(layer._buffers)
    trainer.step()  # trains through the normalised weights


def test_models_have_the_configured_dtype():
    trainer = Trainer(tiny(dtype="float64"))
    for module in (trainer.generator, trainer.discriminator):
        assert {p.dtype for p in module.parameters()} == {numpy.dtype(numpy.float64)}
    trainer.step()
    assert trainer.sample(5).shape == (5, 2)


# -- determinism --------------------------------------------------------------------------------
def run_parameters(config, steps=5):
    trainer = Trainer(config)
    for _ in range(steps):
        trainer.step()
    return {**{f"G/{k}": v for k, v in parameter_arrays(trainer.generator).items()},
            **{f"D/{k}": v for k, v in parameter_arrays(trainer.discriminator).items()}}


def test_same_seed_gives_identical_parameters():
    assert_same_arrays(run_parameters(tiny(seed=7)), run_parameters(tiny(seed=7)))


def test_different_seeds_give_different_parameters():
    first, second = run_parameters(tiny(seed=7)), run_parameters(tiny(seed=8))
    assert any(not numpy.array_equal(first[key], second[key]) for key in first)


# -- checkpoints --------------------------------------------------------------------------------
RESUME_CONFIGS = {
    "plain": {},
    "replay": {"replay_size": 64},
    "ema": {"ema": 0.9},
    "label_flip_and_smoothing": {"label_flip": 0.1, "label_smoothing": 0.9},
    "instance_noise": {"instance_noise": 0.1, "instance_noise_steps": 4},
    "gradient_penalty_d_steps": {"loss": "wasserstein", "penalty": "gradient_penalty", "d_steps": 2},
    "spectral_norm_rmsprop": {"penalty": "spectral_norm", "optimizer": "rmsprop"},
    "minibatch_layers_sgd": {"minibatch_std": True, "minibatch_discrimination": 4, "optimizer": "sgd"},
    "unrolled": {"unrolled": 1},
    "feature_matching_joint_batch": {"feature_matching_layer": 2, "separate_batches": False},
}


@pytest.mark.parametrize("overrides", list(RESUME_CONFIGS.values()), ids=list(RESUME_CONFIGS))
def test_restored_trainer_continues_bit_for_bit(overrides):
    config = tiny(**overrides)
    original = Trainer(config)
    for _ in range(3):
        original.step()
    checkpoint = original.state_arrays()
    original_logs = [original.step() for _ in range(3)]
    expected = original.state_arrays()

    restored = Trainer(tiny(**overrides))  # reseeds the global generator; the checkpoint resets it
    restored.load_state_arrays(checkpoint)
    assert restored.step_count == 3
    restored_logs = [restored.step() for _ in range(3)]
    assert restored_logs == original_logs
    assert_same_arrays(restored.state_arrays(), expected)


def test_checkpoint_may_resume_with_a_longer_run():
    trainer = Trainer(tiny(steps=10))
    trainer.step()
    Trainer(tiny(steps=50)).load_state_arrays(trainer.state_arrays())


def test_checkpoint_from_another_configuration_is_refused_naming_the_key():
    trainer = Trainer(tiny(lr_d=1e-3))
    trainer.step()
    other = Trainer(tiny(lr_d=2e-3))
    with pytest.raises(ValueError, match=r"differs in: lr_d\)"):
        other.load_state_arrays(trainer.state_arrays())


# -- sampling and evaluation -------------------------------------------------------------------
def test_sample_uses_the_ema_generator():
    trainer = Trainer(tiny(ema=0.5))
    for _ in range(3):
        trainer.step()
    z = sg.Tensor(numpy.random.default_rng(0).standard_normal((10, 4)).astype(numpy.float32))
    samples = trainer.sample(latents=z)
    assert samples.dtype == numpy.float64 and samples.shape == (10, 2)
    numpy.testing.assert_array_equal(samples, trainer.ema.shadow(z).numpy().astype(numpy.float64))
    assert not numpy.array_equal(samples, trainer.generator(z).numpy().astype(numpy.float64))


def test_sample_without_ema_uses_the_generator():
    trainer = Trainer(tiny())
    trainer.step()
    z = sg.Tensor(numpy.random.default_rng(0).standard_normal((10, 4)).astype(numpy.float32))
    numpy.testing.assert_array_equal(trainer.sample(latents=z), trainer.generator(z).numpy())


def test_discriminator_values_evaluates_minibatch_discrimination_in_training_sized_batches():
    trainer = Trainer(tiny(minibatch_discrimination=4))
    trainer.step()
    points = numpy.random.default_rng(0).standard_normal((1000, 2))
    values = trainer.discriminator_values(points)
    assert values.shape == (1000,)
    assert numpy.all(numpy.isfinite(values))
    last_chunk = trainer.discriminator(sg.Tensor(points[992:].astype(numpy.float32))).numpy()[:, 0]
    numpy.testing.assert_array_equal(values[992:], last_chunk)


def test_discriminator_values_handles_a_last_batch_of_one_point_with_minibatch_std():
    trainer = Trainer(tiny(minibatch_std=True))
    values = trainer.discriminator_values(numpy.random.default_rng(0).standard_normal((33, 2)))
    assert values.shape == (33,)


# -- configuration checks -------------------------------------------------------------------------
@pytest.mark.parametrize("overrides, match", [
    ({"data": "nope"}, r"unknown dataset 'nope'; expected one of: .*ring8"),
    ({"loss": "nope"}, r"unknown loss 'nope'; expected one of: .*nonsaturating.*wasserstein"),
    ({"penalty": "nope"}, r"unknown penalty 'nope'; expected one of: .*gradient_penalty.*spectral_norm"),
    ({"optimizer": "nope"}, r"unknown optimizer 'nope'; expected one of: adam, rmsprop, sgd"),
])
def test_validate_names_the_valid_choices(overrides, match):
    with pytest.raises(ValueError, match=match):
        tiny(**overrides).validate()


@pytest.mark.parametrize("overrides", [{"label_smoothing": 0.9}, {"label_flip": 0.1}])
@pytest.mark.parametrize("loss", ["wasserstein", "hinge", "least_squares"])
def test_validate_refuses_label_tricks_with_non_cross_entropy_losses(overrides, loss):
    with pytest.raises(ValueError, match=f"not to '{loss}'"):
        tiny(loss=loss, **overrides).validate()


BAD_NUMBERS = {
    "steps": ({"steps": 0}, "steps must be a positive integer"),
    "batch_size": ({"batch_size": -1}, "batch_size must be a positive integer"),
    "d_steps": ({"d_steps": 0}, "d_steps must be a positive integer"),
    "lr_g": ({"lr_g": 0.0}, "lr_g must be positive"),
    "lr_d": ({"lr_d": -1e-3}, "lr_d must be positive"),
    "ema_one": ({"ema": 1.0}, "ema decay must be in"),
    "ema_negative": ({"ema": -0.5}, "ema decay must be in"),
    "replay_size": ({"replay_size": -1}, "replay_size"),
    "unrolled": ({"unrolled": -1}, "unrolled"),
    "feature_matching_layer": ({"feature_matching_layer": 5}, r"feature_matching_layer must be in \[1, 4\]"),
    "dtype": ({"dtype": "float16"}, "dtype must be float32 or float64"),
}


@pytest.mark.parametrize("overrides, match", list(BAD_NUMBERS.values()), ids=list(BAD_NUMBERS))
def test_validate_rejects_bad_numbers(overrides, match):
    with pytest.raises(ValueError, match=match):
        tiny(**overrides).validate()


# Settings the tricks themselves refuse; validate promises "one clear ValueError for the first
# invalid setting", so they should fail there rather than at the first training step.
BAD_TRICK_SETTINGS = {
    "label_flip": ({"label_flip": 0.6}, "label_flip"),
    "label_smoothing": ({"label_smoothing": 0.3}, "label_smoothing"),
    "clip_value": ({"loss": "wasserstein", "penalty": "weight_clipping", "clip_value": 0.0}, "clip_value"),
    "instance_noise": ({"instance_noise": -0.1}, "instance_noise"),
    "instance_noise_steps": ({"instance_noise": 0.1, "instance_noise_steps": 0}, "instance_noise_steps"),
}


@pytest.mark.parametrize("overrides, match", list(BAD_TRICK_SETTINGS.values()), ids=list(BAD_TRICK_SETTINGS))
def test_validate_rejects_trick_settings_the_tricks_refuse(overrides, match):
    with pytest.raises(ValueError, match=match):
        tiny(**overrides).validate()


def test_trainer_validates_its_config():
    with pytest.raises(ValueError, match="unknown optimizer"):
        Trainer(tiny(optimizer="adamw"))


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match=r"unknown keys \['learning_rate'\]"):
        TrainConfig.from_dict({"steps": 3, "learning_rate": 0.1})


def test_linear_schedule_decays_both_learning_rates_to_the_last_step():
    trainer = Trainer(tiny(lr_schedule="linear", steps=4, lr_g=1e-3, lr_d=2e-3))
    seen_g, seen_d = [], []
    for _ in range(4):
        trainer.step()
        seen_g.append(trainer.optimizer_g.param_groups[0]["lr"])
        seen_d.append(trainer.optimizer_d.param_groups[0]["lr"])
    factors = [1.0, 0.75, 0.5, 0.25]
    assert seen_g == pytest.approx([1e-3 * f for f in factors])
    assert seen_d == pytest.approx([2e-3 * f for f in factors])


@pytest.mark.parametrize("penalty, weight", [("gradient_penalty", 10.0), ("dragan", 10.0), ("r1", 0.1), ("r2", 0.1)])
def test_penalty_weight_defaults_to_the_penalty_standard(penalty, weight):
    assert Trainer(tiny(penalty=penalty)).game.penalty_weight == weight
    assert Trainer(tiny(penalty=penalty, penalty_weight=3.0)).game.penalty_weight == 3.0
