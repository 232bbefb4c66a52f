"""EBGAN (Zhao et al. 2017): the autoencoder discriminator's energy, its derivatives, the game's
settings, the pulling-away term in G's loss, resume, and a run on the ring whose discriminator
loss stays bounded below (the parity of both losses with PyTorch: tests/test_parity_games.py)."""

import json

import numpy
import pytest

import scratchgan as sg
from scratchgan.gan import models
from scratchgan.gan.trainer import TrainConfig, Trainer


def toy(**overrides):
    values = dict(data="ring8", model="ebgan", loss="energy_based", steps=4, batch_size=32, hidden=8, depth=2,
                  latent_dim=3, code_dim=2, dtype="float64", log_every=2, eval_samples=200)
    values.update(overrides)
    return TrainConfig(**values)


def smooth(module):
    """``module`` with every LeakyReLU replaced by Tanh: finite differences need no kinks."""
    for child in list(module.modules()):
        for name, grandchild in list(child._modules.items()):
            if isinstance(grandchild, sg.nn.LeakyReLU):
                child._modules[name] = sg.nn.Tanh()
    return module


def test_the_energy_is_the_reconstruction_error_per_sample():
    d = models.mlp_energy_autoencoder(2, 3, hidden=5, depth=2, dtype=numpy.float64)
    x = numpy.random.default_rng(0).standard_normal((6, 2))
    energy, codes = d.energy_and_codes(sg.Tensor(x))
    rebuilt = d.decoder(d.encoder(sg.Tensor(x))).numpy()
    assert energy.shape == (6, 1) and codes.shape == (6, 3)
    numpy.testing.assert_allclose(energy.numpy()[:, 0], ((rebuilt - x) ** 2).mean(axis=1), rtol=1e-12)
    numpy.testing.assert_array_equal(d(sg.Tensor(x)).numpy(), energy.numpy())
    assert (energy.numpy() >= 0).all()


def test_the_image_autoencoder_rebuilds_images_of_the_input_shape():
    d = models.dcgan_energy_autoencoder(4, image_size=8, channels=1, width=2, dtype=numpy.float64)
    x = numpy.random.default_rng(1).uniform(-1, 1, (3, 1, 8, 8))
    energy, codes = d.energy_and_codes(sg.Tensor(x))
    assert energy.shape == (3, 1) and codes.shape == (3, 4)
    assert d.decoder(codes).shape == x.shape


@pytest.mark.parametrize("image", [False, True])
def test_the_energy_gradients_first_and_second_order(image):
    rng = numpy.random.default_rng(2)
    if image:
        d = models.dcgan_energy_autoencoder(2, image_size=8, channels=1, width=2, batch_norm=False,
                                            dtype=numpy.float64)
        for module in list(d.decoder.modules()):  # the decoder's batch norms: eval statistics, no batch mixing
            if isinstance(module, (sg.nn.BatchNorm1d, sg.nn.BatchNorm2d)):
                module.eval()
        x = sg.Tensor(rng.uniform(-1, 1, (2, 1, 8, 8)), requires_grad=True)
    else:
        d = models.mlp_energy_autoencoder(2, 3, hidden=4, depth=2, dtype=numpy.float64)
        x = sg.Tensor(rng.standard_normal((4, 2)), requires_grad=True)
    smooth(d)
    sg.gradcheck(lambda v: d(v), (x,))
    sg.gradgradcheck(lambda v: d(v), (x,))


def test_ebgan_needs_the_energy_based_loss_and_refuses_what_it_cannot_train():
    with pytest.raises(ValueError, match="model 'ebgan' trains with the energy-based loss .* use --loss "
                                         "energy_based, got 'nonsaturating'"):
        TrainConfig(data="ring8", model="ebgan").validate()
    with pytest.raises(ValueError, match="pack does not apply to model 'ebgan'"):
        toy(pack=2).validate()
    with pytest.raises(ValueError, match="minibatch_discrimination does not apply to model 'ebgan'"):
        toy(minibatch_discrimination=4).validate()
    with pytest.raises(ValueError, match=r"pt_weight \(the weight of the pulling-away term\) must be >= 0"):
        toy(pt_weight=-0.1).validate()
    with pytest.raises(ValueError, match="code_dim must be a positive integer, got 0"):
        toy(code_dim=0).validate()
    with pytest.raises(ValueError, match="energy_based: margin must be positive"):
        toy(loss_params={"margin": 0}).validate()


def test_the_players_are_an_mlp_generator_and_an_autoencoder_of_code_dim():
    trainer = Trainer(toy(code_dim=3))
    assert isinstance(trainer.discriminator, models.EnergyAutoencoder)
    assert trainer.discriminator.encoder[-1].weight.shape == (3, 8)
    assert Trainer(toy(code_dim=None)).discriminator.encoder[-1].weight.shape == (16, 8)  # the toy default
    assert trainer.game.small_gemms


def test_the_pulling_away_term_is_logged_and_added_to_g_loss_only_when_weighted():
    plain = Trainer(toy(seed=4)).step()
    assert "pulling_away" not in plain
    logs = Trainer(toy(seed=4, pt_weight=0.5)).step()
    assert 0 <= logs["pulling_away"] <= 1  # a mean of squared cosines
    assert logs["d_loss"] == plain["d_loss"]  # D's update does not see it
    assert logs["g_loss"] == pytest.approx(plain["g_loss"], rel=1e-12)  # g_loss logs the energy alone


def test_an_ebgan_run_resumes_exactly():
    trainer = Trainer(toy(pt_weight=0.1))
    trainer.step()
    state = trainer.state_arrays()
    later = [trainer.step() for _ in range(2)]
    again = Trainer(toy(pt_weight=0.1))
    again.load_state_arrays(state)
    assert [again.step() for _ in range(2)] == later


def test_an_ebgan_run_on_the_ring_keeps_its_energies_bounded(tmp_path):
    from scratchgan.gan import runner

    config = toy(steps=150, dtype="float32", pt_weight=0.1, log_every=10, loss_params={"margin": 0.5})
    metrics = runner.run(config, out_dir=tmp_path / "run", progress=False)
    assert metrics["finite_fraction"] == 1.0
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    # D(x) + [m - D(G(z))]+ of a non-negative energy: never below 0, never above the margin plus
    # the real energies; a scalar critic under the same loss falls below 0 (docs/reproductions.md)
    d_losses = [record["d_loss"] for record in records if "d_loss" in record]
    assert len(d_losses) >= 10 and min(d_losses) >= 0
    for name in ("samples.png", "losses.png"):
        assert (tmp_path / "run" / name).stat().st_size > 0
