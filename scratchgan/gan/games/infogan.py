"""InfoGAN (Chen et al. 2016; seed 000 'InfoGAN'): G(z, c) with c a one-hot categorical code
and continuous codes, against a D(x) whose trunk also feeds the Q head, which predicts the
code of a fake. Both G and Q minimise info_weight (-E log Q(c | G(z, c))), the variational
lower bound of the mutual information I(c; G(z, c)) up to the code's entropy.

Defaults (None settings): the paper's MNIST experiment (appendix C.1): 62 noise dimensions,
G's learning rate 1e-3 (D's 2e-4) and a fully connected layer of 1024 units in G and D.
"""

from __future__ import annotations

import numpy

from scratchgan import random, viz
from scratchgan.autograd.tensor import Tensor
from scratchgan.gan import losses, models
from scratchgan.gan.games import register
from scratchgan.gan.games.adversarial import AuxiliaryHeadGame
from scratchgan.gan.games.base import GRID_COLUMNS

TRAVERSAL_VALUES = numpy.linspace(-2.0, 2.0, 10)  # past the prior's [-1, 1], as Chen et al.'s Figure 2


@register
class InfoGAN(AuxiliaryHeadGame):
    name = "infogan"
    description = "InfoGAN: G(z, c), D(x) with the Q head (Chen et al. 2016)"
    defaults = {"latent_dim": 62, "lr_g": 1e-3, "fc_hidden": 1024}
    conditional = True
    fake_aux = True  # Q reads fakes only
    unsupported = ("virtual_batch_norm", "pack")
    loss_curves = {"d_loss": "discriminator", "g_loss": "generator", "d_info": "D -E log Q(c|x)",
                   "g_info": "G -E log Q(c|x)"}
    metric_curves = ("fid_fixed", "classes_covered", "code_purity", "code_assignment_accuracy", "mi_categorical")

    def build_generator(self):
        c = self.config
        channels, size = self.dataset.image_shape[0], self.dataset.image_shape[1]
        return models.infogan_generator(c.latent_dim, c.categorical_codes, c.continuous_codes, size, channels,
                                        c.width, fc_hidden=c.fc_hidden, dtype=self.dtype)

    def build_discriminator(self):
        c = self.config
        channels, size = self.dataset.image_shape[0], self.dataset.image_shape[1]
        return models.infogan_discriminator(c.categorical_codes, c.continuous_codes, size, channels, c.width,
                                            fc_hidden=c.fc_hidden, batch_norm=c.d_batch_norm, dtype=self.dtype,
                                            **self.tricks_options())

    # -- codes ---------------------------------------------------------------------------------------
    def codes(self, categories, continuous):
        """One-hot categorical codes ++ continuous codes, (n, K + C) of the game's dtype."""
        c = self.config
        codes = numpy.zeros((len(categories), c.categorical_codes + c.continuous_codes), dtype=self.dtype)
        codes[numpy.arange(len(categories)), categories] = 1
        codes[:, c.categorical_codes:] = continuous
        return codes

    def draw_condition(self, n, generator):
        """Codes one-hot Cat(K) ++ U(-1, 1)^C ((n, K + C))."""
        c = self.config
        categories = generator.integers(0, c.categorical_codes, size=n)
        return self.codes(categories, generator.uniform(-1.0, 1.0, (n, c.continuous_codes)))

    def fixed_condition(self, count, generator):
        """Categorical code (i // 10) mod K for fixed latent i, uniform continuous codes."""
        c = self.config
        rows = (numpy.arange(count) // GRID_COLUMNS).astype(numpy.int64)
        return self.codes(rows % c.categorical_codes, generator.uniform(-1.0, 1.0, (count, c.continuous_codes)))

    def fake_condition(self, real_condition, n):
        return self.draw_condition(n, random.generator())  # drawn from the prior for every fake batch

    # -- D and its heads -------------------------------------------------------------------------------
    def discriminator_extra(self, real_aux, real_condition, fake_aux, fake_condition, logs):
        terms = losses.information_terms(fake_aux, fake_condition, self.config.categorical_codes)
        logs["d_info"] = self.log(terms["nll"])
        return self.config.info_weight * terms["nll"]

    def generator_extra(self, fake, fake_aux, condition, logs):
        fake_aux = self.auxiliary_output(fake, fake_aux)
        terms = losses.information_terms(fake_aux, condition, self.config.categorical_codes)
        logs.update({"g_info": self.log(terms["nll"]), "mi_categorical": self.log(terms["mi_categorical"]),
                     "mi_lower_bound": self.log(terms["mi_lower_bound"])})
        return self.config.info_weight * terms["nll"]

    # -- evaluation and figures ------------------------------------------------------------------------
    def evaluation_figures(self, samples, condition, quick):
        from scratchgan.metrics import images as image_metrics

        codes = condition[:, :self.config.categorical_codes].argmax(axis=1)
        purity = image_metrics.code_purity(codes, image_metrics.load_classifier().predict(samples))
        figures = {"code_purity": purity["purity"], "code_assignment_accuracy": purity["assignment_accuracy"]}
        if not quick:
            figures["code_to_class"] = purity["code_to_class"]
        return figures, {"code_purity": purity}

    def row_labels(self):
        return [f"code {k % self.config.categorical_codes}" for k in range(GRID_COLUMNS)]

    def interpolation_condition(self, rows):
        return self.codes(rows % self.config.categorical_codes, numpy.zeros((len(rows), self.config.continuous_codes)))

    def figures(self, trainer, path):
        """Chen et al. (2016), Figure 2: one categorical code value per row, continuous code j
        varied across the columns, the other codes at 0 and z fixed (traversal_c<j>.png).
        Without continuous codes, the categorical code per row and a different z per column."""
        c = self.config
        categories = numpy.arange(c.categorical_codes)
        rng = numpy.random.default_rng(c.seed + 6)
        columns = len(TRAVERSAL_VALUES)
        if c.continuous_codes == 0:
            z = numpy.tile(rng.standard_normal((columns, c.latent_dim)), (len(categories), 1))
            codes = self.codes(numpy.repeat(categories, columns), numpy.zeros((len(z), 0)))
            images = trainer.sample(latents=Tensor(z.astype(self.dtype)), condition=codes)
            viz.plot_image_grid(path / "traversal.png", images, len(categories), columns,
                                "InfoGAN: categorical code per row, a different z per column",
                                row_labels=[f"code {k}" for k in categories])
            return
        z = numpy.tile(rng.standard_normal((1, c.latent_dim)), (len(categories) * columns, 1))
        for j in range(c.continuous_codes):
            continuous = numpy.zeros((len(z), c.continuous_codes))
            continuous[:, j] = numpy.tile(TRAVERSAL_VALUES, len(categories))
            codes = self.codes(numpy.repeat(categories, columns), continuous)
            images = trainer.sample(latents=Tensor(z.astype(self.dtype)), condition=codes)
            viz.plot_image_grid(path / f"traversal_c{j + 1}.png", images, len(categories), columns,
                                f"InfoGAN: categorical code per row, continuous code c{j + 1} across",
                                row_labels=[f"code {k}" for k in categories],
                                column_labels=[f"{v:.1f}" for v in TRAVERSAL_VALUES])
