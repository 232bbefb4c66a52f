"""Unconditional GANs: G(z) against D(x) (Goodfellow et al. 2014; seed 000 'GANs').

* ``mlp``: MLP players, on toy 2-D/1-D data (Metz et al.'s toy setting) and on images (the
  fully connected MNIST GAN of Goodfellow et al. 2014).
* ``dcgan``: the convolutional players of Radford et al. (2015) (``models.dcgan_*``), with
  InfoGAN's fully connected layer as an option (``fc_hidden``); on the bundled MNIST its
  defaults are the main job's recipe, chosen by a study (docs/studies.md).

Both take PacGAN packing (``pack``: D sees m samples at once, Lin et al. 2018).
"""

from __future__ import annotations

import numpy

from scratchgan import nn
from scratchgan.gan import models, tricks
from scratchgan.gan.games import register
from scratchgan.gan.games.adversarial import AdversarialGame

# the main job, `scratchgan train` (DCGAN on the bundled MNIST), chosen by a study
# (docs/studies.md, "Choosing the main job"): InfoGAN's networks with a 512-unit fully
# connected layer and its learning rates, an EMA of G's weights (decay 0.99) for sampling,
# 1500 steps, within 5 minutes on 2 cores with evaluation; the PyTorch twin is
# benchmarks/dcgan_mnist_torch.py
MAIN_JOB_DEFAULTS = {"steps": 1500, "latent_dim": 62, "lr_g": 1e-3, "lr_d": 2e-4, "fc_hidden": 512, "ema": 0.99}


class _Unconditional(AdversarialGame):
    unsupported = ("virtual_batch_norm",)

    def packed(self, net):
        """D, packing ``pack`` samples when asked (its input built for m times the features)."""
        return tricks.Packed(net, self.config.pack) if self.config.pack > 1 else net

    def discriminator_values(self, points):
        if self.config.pack > 1:  # D's value on a pack of m copies of the point
            return super().discriminator_values(numpy.repeat(points, self.config.pack, axis=0))
        return super().discriminator_values(points)


@register
class MLPGame(_Unconditional):
    name = "mlp"
    description = "MLP generator and discriminator (toy data, or flattened images)"
    families = ("toy", "image")
    default_data = "ring8"
    conv_discriminator = False
    small_gemms = True

    @classmethod
    def validate(cls, config):
        super().validate(config)
        if config.d_batch_norm:
            raise ValueError("d_batch_norm: the MLP discriminator has no batch norm (conv models only)")
        if config.fc_hidden:
            raise ValueError(f"fc_hidden (a fully connected layer of that width in G and D) applies to dcgan, "
                             f"infogan, got {config.fc_hidden} with model 'mlp'")

    def build_generator(self):
        c, dt = self.config, self.dtype
        if self.family == "toy":
            return models.mlp_generator(c.latent_dim, self.dataset.dim, c.hidden, c.depth, dtype=dt,
                                        activation=self.activation)
        return models.mlp_image_generator(c.latent_dim, self.dataset.image_shape, c.hidden, c.depth, dtype=dt)

    def build_discriminator(self):
        c, dt, m = self.config, self.dtype, self.config.pack
        if self.family == "toy":
            return self.packed(models.mlp_discriminator(self.dataset.dim * m, c.hidden, c.depth, dtype=dt,
                                                        activation=self.activation, **self.tricks_options()))
        shape = self.dataset.image_shape
        packed_shape = (shape[0] * m,) + tuple(shape[1:])
        return self.packed(models.mlp_image_discriminator(packed_shape, c.hidden, c.depth, dtype=dt,
                                                          **self.tricks_options()))

    @property
    def activation(self):
        """The toy MLPs' hidden activation (config.mlp_activation): None keeps each model's own."""
        return nn.Tanh if self.config.mlp_activation == "tanh" else None

    def feature_modules(self):
        return self.discriminator.net if self.config.pack > 1 else self.discriminator


@register
class DCGANGame(_Unconditional):
    name = "dcgan"
    description = "DCGAN: convolutional G(z) and D(x) (Radford et al. 2015)"
    data_defaults = {"mnist": MAIN_JOB_DEFAULTS}
    unsupported = ()

    def build_generator(self):
        """The DCGAN generator; with ``virtual_batch_norm`` its batch norms become virtual ones,
        normalised by a reference batch of batch_size latents drawn once from the seed."""
        c = self.config
        channels, size = self.dataset.image_shape[0], self.dataset.image_shape[1]
        generator = models.dcgan_generator(c.latent_dim, size, channels, c.width, dtype=self.dtype,
                                           fc_hidden=c.fc_hidden)
        if not c.virtual_batch_norm:
            return generator
        reference = numpy.random.default_rng(c.seed + 9).standard_normal((c.batch_size, c.latent_dim))
        return models.VirtualBatchNormGenerator(models.virtual_batch_normalize(generator),
                                                reference.astype(self.dtype))

    def build_discriminator(self):
        c = self.config
        channels, size = self.dataset.image_shape[0], self.dataset.image_shape[1]
        return self.packed(models.dcgan_discriminator(size, channels, c.width, fc_hidden=c.fc_hidden,
                                                      batch_norm=c.d_batch_norm, dtype=self.dtype,
                                                      in_channels=channels * c.pack, **self.tricks_options()))

    def feature_modules(self):
        return self.discriminator.net if self.config.pack > 1 else self.discriminator
