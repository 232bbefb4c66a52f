"""The adversarial autoencoder (Makhzani et al. 2016, "Adversarial Autoencoders"; seed 000):
an autoencoder whose codes are made to follow a prior p(z) by a discriminator on codes.

Players: the encoder E(x) (q(z|x), deterministic), the decoder G(z) (the generative model:
it samples, from z ~ p(z)) and D(z). Each step has the paper's two phases:

* reconstruction, group "AE" = {E, G}: minimise ||G(E(x)) - x||^2 (mean over pixels);
* regularisation: group "D" tells prior samples z ~ p(z) ("real") from codes E(x)
  ("fake") with the adversarial loss (and its penalty, label smoothing); then group "E"
  (the encoder as the generator of codes) minimises the generator loss on D(E(x)).

Priors (``prior``): "gaussian", N(0, I) of latent_dim dimensions, and "mixture", 10
Gaussians in 2-D with means on a circle of radius 4 and standard deviation 0.5 (the
mixture of 10 Gaussians of the paper's Figure 4, without its label conditioning). The run's
own metrics: the reconstruction error on 1000 held-out images, the MMD between their codes
and as many prior samples (beside the MMD between two prior samples of that size, the
figure an exact match would give), and the probes of ``bigan`` on the codes; codes.png
shows the held-out codes coloured by class over the prior's density.
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

PRIORS = ("gaussian", "mixture")
MIXTURE_COMPONENTS, MIXTURE_RADIUS, MIXTURE_STD = 10, 4.0, 0.5
HELD_OUT = 1000


def mixture_means() -> numpy.ndarray:
    """The (10, 2) means of the mixture prior, on a circle of radius 4."""
    angles = 2 * numpy.pi * numpy.arange(MIXTURE_COMPONENTS) / MIXTURE_COMPONENTS
    return MIXTURE_RADIUS * numpy.stack([numpy.cos(angles), numpy.sin(angles)], axis=1)


def prior_density(points: numpy.ndarray, prior: str) -> numpy.ndarray:
    """p(z) at 2-D points (N, 2)."""
    if prior == "gaussian":
        return numpy.exp(-0.5 * (points ** 2).sum(axis=1)) / (2 * numpy.pi)
    squared = ((points[:, None, :] - mixture_means()[None]) ** 2).sum(axis=2)
    return numpy.exp(-0.5 * squared / MIXTURE_STD ** 2).mean(axis=1) / (2 * numpy.pi * MIXTURE_STD ** 2)


@register
class AdversarialAutoencoder(AdversarialGame):
    name = "aae"
    description = "adversarial autoencoder: E(x), decoder G(z), D on codes (Makhzani et al. 2016)"
    defaults = {"latent_dim": 2, "batch_size": 100, "steps": 3000, "lr_g": 1e-3, "lr_d": 2e-4, "hidden": 512,
                "depth": 2}
    conv_discriminator = False
    small_gemms = True
    unsupported = ("replay_size", "feature_matching_layer", "unrolled", "pack", "virtual_batch_norm",
                   "instance_noise", "fc_hidden", "d_batch_norm")
    loss_curves = {"reconstruction": "reconstruction ||G(E(x)) - x||^2", "d_loss": "discriminator on codes",
                   "g_loss": "encoder (as generator of codes)"}

    @classmethod
    def validate(cls, config):
        super().validate(config)
        if config.prior not in PRIORS:
            raise ValueError(f"unknown prior {config.prior!r}; expected one of: {', '.join(PRIORS)}")
        if config.prior == "mixture" and config.latent_dim != 2:
            raise ValueError(f"the mixture prior is 2-D: latent_dim must be 2, got {config.latent_dim}")

    def player_builders(self):
        return {"E": self.build_encoder, "G": self.build_generator, "D": self.build_discriminator}

    def groups(self):
        c = self.config
        return (Group("AE", ("E", "G"), c.lr_g, c.optimizer_g, 1),
                Group("D", ("D",), c.lr_d, c.optimizer_d, c.d_steps, c.d_steps_schedule),
                Group("E", ("E",), c.lr_g, c.optimizer_g, c.g_steps))

    def build_encoder(self):
        c = self.config
        return models.mlp_encoder(self.dataset.image_shape, c.latent_dim, c.hidden, c.depth, dtype=self.dtype)

    def build_generator(self):
        c = self.config
        return models.mlp_image_generator(c.latent_dim, self.dataset.image_shape, c.hidden, c.depth, dtype=self.dtype)

    def build_discriminator(self):
        c = self.config
        return models.mlp_discriminator(c.latent_dim, c.hidden, c.depth, dtype=self.dtype, **self.tricks_options())

    @property
    def encoder(self):
        return self.players["E"]

    # -- the prior -------------------------------------------------------------------------------------
    def draw_latents(self, n, generator):
        if self.config.prior == "gaussian":
            return generator.standard_normal((n, self.config.latent_dim))
        components = generator.integers(0, MIXTURE_COMPONENTS, size=n)
        return mixture_means()[components] + MIXTURE_STD * generator.standard_normal((n, 2))

    def latent_batch(self, n=None):
        n = n or self.config.batch_size
        return Tensor(self.draw_latents(n, random.generator()).astype(self.dtype)).to(self.device)

    # -- the phases ------------------------------------------------------------------------------------
    def images(self):
        data = self.dataset.sample(self.config.batch_size, random.generator())
        return Tensor(data.astype(self.dtype)).to(self.device)

    def group_loss(self, group, step):
        if group.name == "AE":
            x = self.images()
            difference = self.generator(self.encoder(x)) - x
            loss = (difference * difference).mean()
            return loss, {"reconstruction": self.log(loss)}
        if group.name == "D":
            prior = self.latent_batch()
            with no_grad():
                codes = self.encoder(self.images())
            d_loss = self.adversarial_discriminator_loss(self.discriminator(prior), self.discriminator(codes), prior)
            logs, total = {"d_loss": self.log(d_loss)}, d_loss
            penalty = self.penalty(prior, codes)
            if penalty is not None:
                logs["penalty"] = self.log(penalty)
                total = total + self.penalty_weight * penalty
            return total, logs
        g_loss = self.loss.generator(self.discriminator(self.encoder(self.images())),
                                     real_out=self.discriminator(self.latent_batch())
                                     if self.loss.generator_needs_real else None)
        return g_loss, {"g_loss": self.log(g_loss)}

    # -- evaluation and figures ------------------------------------------------------------------------
    def _held_out(self):
        return held_out_split(self.dataset, self.config.seed + 7, HELD_OUT)

    def encode(self, images):
        return encode(self.encoder, images, self.dtype, self.device)

    def final_figures(self, trainer, generator):
        from scratchgan.metrics import probes
        from scratchgan.metrics import toy as toy_metrics

        (train_x, train_y), (test_x, test_y) = self._held_out()
        codes = self.encode(test_x)
        rebuilt = trainer.sample(latents=Tensor(codes.astype(self.dtype)))
        prior = self.draw_latents(len(codes), generator)
        other = self.draw_latents(len(codes), generator)
        bandwidths = [toy_metrics.median_heuristic(prior)]
        train_codes = self.encode(train_x)
        return {"reconstruction_mse": float(numpy.mean((rebuilt - test_x) ** 2)),
                "code_mmd": toy_metrics.mmd_rbf(codes, prior, bandwidths),
                "code_mmd_prior_to_prior": toy_metrics.mmd_rbf(other, prior, bandwidths),
                "probe_linear": probes.linear_probe_accuracy(train_codes, train_y, codes, test_y),
                "probe_1nn": probes.knn_accuracy(train_codes, train_y, codes, test_y, k=1)}

    def figures(self, trainer, path):
        """codes.png: held-out codes coloured by class over the prior's density (2-D codes only),
        and reconstructions.png."""
        _, (test_x, test_y) = self._held_out()
        codes = self.encode(test_x)
        if self.config.latent_dim == 2:
            viz.plot_codes(path / "codes.png", codes, test_y, lambda points: prior_density(points, self.config.prior),
                           f"aae on {self.config.data}: codes of {len(codes)} held-out digits over the "
                           f"{self.config.prior} prior, step {trainer.step_count}")
        real = test_x[:50]
        rebuilt = trainer.sample(latents=Tensor(codes[:50].astype(self.dtype)))
        rows = numpy.concatenate([numpy.stack([real[i * 10:(i + 1) * 10], rebuilt[i * 10:(i + 1) * 10]])
                                  for i in range(5)]).reshape(-1, *real.shape[1:])
        viz.plot_image_grid(path / "reconstructions.png", rows, 10, 10,
                            f"aae on {self.config.data}: held-out x (odd rows) and G(E(x)) below",
                            row_labels=["x", "G(E(x))"] * 5)
