"""AC-GAN (Odena et al. 2016; seed 004): G(z, y) against a D(x) whose trunk feeds two heads,
the real/fake logit and class logits. D minimises the adversarial loss plus
aux_weight (L_C(real) + L_C(fake)), G the adversarial loss plus aux_weight L_C(fake), with
L_C the cross-entropy of the class head against the true (real) or asked-for (fake) class.
"""

from __future__ import annotations

from scratchgan.gan import losses, models
from scratchgan.gan.games import register
from scratchgan.gan.games.adversarial import AuxiliaryHeadGame
from scratchgan.gan.games.conditional import Labelled


@register
class AuxiliaryClassifierGame(AuxiliaryHeadGame, Labelled):
    name = "acgan"
    description = "AC-GAN: G(z, y), D(x) with a class head (Odena et al. 2016)"
    real_aux = True
    fake_aux = True
    loss_curves = {"d_loss": "discriminator", "g_loss": "generator", "d_aux": "D class loss",
                   "g_aux": "G class loss"}

    def build_discriminator(self):
        c = self.config
        channels, size = self.dataset.image_shape[0], self.dataset.image_shape[1]
        return models.acgan_discriminator(self.num_classes, size, channels, c.width, dtype=self.dtype,
                                          batch_norm=c.d_batch_norm, **self.tricks_options())

    def discriminator_extra(self, real_aux, real_condition, fake_aux, fake_condition, logs):
        class_loss = (losses.auxiliary_classifier_loss(real_aux, real_condition)
                      + losses.auxiliary_classifier_loss(fake_aux, fake_condition))
        logs["d_aux"] = self.log(class_loss)
        return self.config.aux_weight * class_loss

    def generator_extra(self, fake, fake_aux, condition, logs):
        fake_aux = self.auxiliary_output(fake, fake_aux)
        class_loss = losses.auxiliary_classifier_loss(fake_aux, condition)
        logs["g_aux"] = self.log(class_loss)
        return self.config.aux_weight * class_loss
