"""BiGAN and ALI: a generator G(z), an encoder E(x), and a discriminator of pairs D(x, z)
(Donahue et al. 2017, "Adversarial Feature Learning"; Dumoulin et al. 2017, "Adversarially
Learned Inference"; seed 000 'BiGANs: encoder, decoder, discriminator').

D tells real pairs (x, E(x)), x ~ data, from generated pairs (G(z), z), z ~ N(0, I):

    min_{G,E} max_D  E_x log D(x, E(x)) + E_z log(1 - D(G(z), z)).

At the optimum the two joint distributions match, so E inverts G (Donahue et al.,
Theorem 2). Player groups: "D", then "G" = {G, E} with one optimizer. G and E minimise D's
loss with the pairs' roles swapped, L_D(real <- (G(z), z), fake <- (x, E(x))): for the
cross-entropy losses that is the non-saturating objective with inverted labels that both
papers train with, and for any other loss (hinge, Wasserstein, least squares) its
counterpart. ``bigan``'s encoder is deterministic; ``ali``'s is Gaussian, z = mu(x) +
sigma(x) eps (reparameterised). Penalties act on x with the pair's code held fixed.

The run's own metrics: the reconstruction error of G(E(x)) on 1000 held-out images, and the
digit accuracy of a linear and a 1-nearest-neighbour probe on E(x), beside the same probes
on the raw pixels and on a randomly initialised encoder (``scratchgan.metrics.probes``).
"""

from __future__ import annotations

import numpy

from scratchgan import random, viz
from scratchgan.autograd.grad_mode import no_grad
from scratchgan.autograd.tensor import Tensor
from scratchgan.gan import models
from scratchgan.gan.games import register
from scratchgan.gan.games.adversarial import AdversarialGame
from scratchgan.gan.games.base import Group, encode, held_out_split
from scratchgan.ops.shape import concatenate

PROBE_TEST = 1000  # held-out images of the probes and the reconstruction error
RECONSTRUCTION_ROWS = 5  # pairs of rows (real, G(E(real))) in reconstructions.png


class _PairGame(AdversarialGame):
    stochastic_encoder = False
    # three players of DCGAN's size cost 3 DCGANs a step: width 32 keeps a run within minutes on 2 cores
    defaults = {"latent_dim": 32, "fc_hidden": 512, "width": 32, "steps": 1500}
    generator_needs_real = True  # E's loss reads real pairs
    unsupported = ("replay_size", "feature_matching_layer", "unrolled", "pack", "virtual_batch_norm")
    loss_curves = {"d_loss": "discriminator", "g_loss": "generator and encoder"}

    def player_builders(self):
        return {"G": self.build_generator, "E": self.build_encoder, "D": self.build_discriminator}

    def groups(self):
        c = self.config
        return (Group("D", ("D",), c.lr_d, c.optimizer_d, c.d_steps, c.d_steps_schedule),
                Group("G", ("G", "E"), c.lr_g, c.optimizer_g, c.g_steps))

    def _shape(self):
        return self.dataset.image_shape[0], self.dataset.image_shape[1]

    def build_generator(self):
        c = self.config
        channels, size = self._shape()
        return models.dcgan_generator(c.latent_dim, size, channels, c.width, dtype=self.dtype, fc_hidden=c.fc_hidden)

    def build_encoder(self, batch_norm=True):
        c = self.config
        channels, size = self._shape()
        return models.dcgan_encoder(c.latent_dim, size, channels, c.width, fc_hidden=c.fc_hidden,
                                    batch_norm=batch_norm, stochastic=self.stochastic_encoder, dtype=self.dtype)

    def build_discriminator(self):
        c = self.config
        channels, size = self._shape()
        return models.joint_discriminator(c.latent_dim, size, channels, c.width, hidden=c.fc_hidden or 512,
                                          batch_norm=c.d_batch_norm, dtype=self.dtype, **self.tricks_options())

    @property
    def encoder(self):
        return self.players["E"]

    # -- the pairs ---------------------------------------------------------------------------------
    def real_batch(self, grad=True):
        data = self.dataset.sample(self.config.batch_size, random.generator())
        x = Tensor(data.astype(self.dtype)).to(self.device)
        if grad:
            return x, self.encoder(x)
        with no_grad():
            return x, self.encoder(x)

    def generate_fake(self, z, condition):
        return self.generator(z), z

    def d_outputs(self, x, condition, with_aux=False):
        return self.discriminator(x, condition), None

    def joint_condition(self, real_condition, fake_condition):
        return concatenate([real_condition, fake_condition], axis=0)

    def critic(self, condition):
        return models.BoundLabels(self.discriminator, condition.detach())

    def generator_adversarial_loss(self, fake_out, real_out):
        """G and E minimise D's loss with the roles of the pairs swapped."""
        return self.loss.discriminator(fake_out, real_out)

    # -- evaluation ----------------------------------------------------------------------------------
    def _held_out(self):
        return held_out_split(self.dataset, self.config.seed + 7, PROBE_TEST)

    def encode(self, encoder, images):
        """E(x) in eval mode (ALI: the mean), as a float64 host array."""
        return encode(encoder, images, self.dtype, self.device)

    def reconstruct(self, trainer, images):
        """G(E(x)) with the sampling generator (its EMA copy when EMA is on)."""
        codes = self.encode(self.encoder, images)
        return trainer.sample(latents=Tensor(codes.astype(self.dtype)))

    def final_figures(self, trainer, generator):
        from scratchgan.metrics import probes

        (train_x, train_y), (test_x, test_y) = self._held_out()
        figures = {"reconstruction_mse": float(numpy.mean((self.reconstruct(trainer, test_x) - test_x) ** 2))}
        state = random.get_state()
        try:  # a randomly initialised encoder of the same architecture, its weights from the seed
            random.manual_seed(self.config.seed + 8)
            untrained = self.build_encoder().to(self.device)
        finally:
            random.set_state(state)
        for name, features in (("", lambda x: self.encode(self.encoder, x)),
                               ("_random_encoder", lambda x: self.encode(untrained, x)),
                               ("_pixels", lambda x: x.reshape(len(x), -1))):
            train_f, test_f = features(train_x), features(test_x)
            figures[f"probe_linear{name}"] = probes.linear_probe_accuracy(train_f, train_y, test_f, test_y)
            figures[f"probe_1nn{name}"] = probes.knn_accuracy(train_f, train_y, test_f, test_y, k=1)
        return figures

    def figures(self, trainer, path):
        """reconstructions.png: rows of held-out digits, each above its reconstruction G(E(x))."""
        _, (test_x, _) = self._held_out()
        real = test_x[:RECONSTRUCTION_ROWS * 10]
        rebuilt = self.reconstruct(trainer, real)
        rows = numpy.concatenate([numpy.stack([real[i * 10:(i + 1) * 10], rebuilt[i * 10:(i + 1) * 10]])
                                  for i in range(RECONSTRUCTION_ROWS)]).reshape(-1, *real.shape[1:])
        viz.plot_image_grid(path / "reconstructions.png", rows, 2 * RECONSTRUCTION_ROWS, 10,
                            f"{self.name} on {self.config.data}: held-out x (odd rows) and G(E(x)) below",
                            row_labels=["x", "G(E(x))"] * RECONSTRUCTION_ROWS)


@register
class BiGAN(_PairGame):
    name = "bigan"
    description = "BiGAN: G(z), a deterministic encoder E(x), D(x, z) (Donahue et al. 2017)"


@register
class ALI(_PairGame):
    name = "ali"
    description = "ALI: G(z), a Gaussian encoder E(x), D(x, z) (Dumoulin et al. 2017)"
    stochastic_encoder = True
