"""The conditional GAN (Mirza & Osindero 2014; seed 001 'Conditional GAN', seed 000
'Conditional GANs'): G(z, y) against D(x, y), the class label fed to both players.

``Labelled`` holds what every labelled family shares (AC-GAN too): the real batch comes with
its labels, the fakes of D's step are asked for them, G's step draws uniform labels (or the
real batch's when G's loss reads real data), the grids show one class per row, and the
evaluation reports how often a classifier recognises the class asked for.
"""

from __future__ import annotations

import numpy

from scratchgan import random
from scratchgan.autograd.tensor import Tensor
from scratchgan.gan import models
from scratchgan.gan.games import register
from scratchgan.gan.games.adversarial import AdversarialGame
from scratchgan.gan.games.base import GRID_COLUMNS


class Labelled(AdversarialGame):
    """A family whose G takes class labels y."""

    conditional = True
    labelled = True
    unsupported = ("virtual_batch_norm", "pack")
    metric_curves = ("fid_fixed", "classes_covered", "class_accuracy")

    @classmethod
    def validate(cls, config):
        super().validate(config)
        if config.fc_hidden:
            raise ValueError(f"fc_hidden (a fully connected layer of that width in G and D) applies to dcgan, "
                             f"infogan, got {config.fc_hidden} with model {cls.name!r}")

    def build_generator(self):
        """G(z, y): the DCGAN generator on z ++ onehot(y)."""
        c = self.config
        channels, size = self.dataset.image_shape[0], self.dataset.image_shape[1]
        return models.cgan_generator(c.latent_dim, self.num_classes, size, channels, c.width, dtype=self.dtype)

    def real_batch(self, grad=True):
        data, labels = self.dataset.sample_with_labels(self.config.batch_size, random.generator())
        return Tensor(data.astype(self.dtype)).to(self.device), labels

    def fake_condition(self, real_condition, n):
        return real_condition if real_condition is not None else self.draw_condition(n, random.generator())

    def draw_condition(self, n, generator):
        """Labels uniform over the classes (int64 (n,))."""
        return generator.integers(0, self.num_classes, size=n)

    def fixed_condition(self, count, generator):
        """Class (i // 10) mod K for fixed latent i: the first 100 fill a 10 x 10 grid, a class a row."""
        return (numpy.arange(count) // GRID_COLUMNS).astype(numpy.int64) % self.num_classes

    def evaluation_figures(self, samples, condition, quick):
        from scratchgan.metrics import images as image_metrics

        accuracy = image_metrics.class_accuracy(samples, condition)
        figures = {"class_accuracy": accuracy["accuracy"]}
        if not quick:
            figures["per_class_accuracy"] = accuracy["per_class_accuracy"]
        return figures, {"class_accuracy": accuracy}

    def row_labels(self):
        names = getattr(self.dataset, "class_names", None) or [str(k) for k in range(self.num_classes)]
        return [f"class {names[k % self.num_classes]}" for k in range(GRID_COLUMNS)]

    def interpolation_condition(self, rows):
        return rows % self.num_classes


@register
class ConditionalGame(Labelled):
    name = "cgan"
    description = "conditional GAN: G(z, y), D(x, y) (Mirza & Osindero 2014)"

    def build_discriminator(self):
        c = self.config
        channels, size = self.dataset.image_shape[0], self.dataset.image_shape[1]
        return models.cgan_discriminator(self.num_classes, size, channels, c.width, batch_norm=c.d_batch_norm,
                                         dtype=self.dtype, **self.tricks_options())

    def d_outputs(self, x, condition, with_aux=False):
        return self.discriminator(x, condition), None

    def joint_condition(self, real_condition, fake_condition):
        return numpy.concatenate([real_condition, fake_condition])

    def critic(self, condition):
        """cGAN's D with the labels bound: a function of x alone."""
        return models.BoundLabels(self.discriminator, condition)

    def feature_modules(self):
        return self.discriminator.net

    def features(self, x, condition):
        return self.discriminator.features(x, condition, self.config.feature_matching_layer)
