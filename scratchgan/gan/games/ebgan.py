"""EBGAN (Zhao et al. 2017, "Energy-based Generative Adversarial Network", arXiv:1609.03126;
seed 001 'Energy Based GAN'): G(z) against a discriminator that is an autoencoder, whose
energy is its reconstruction error (``models.EnergyAutoencoder``).

    L_D = D(x) + [m - D(G(z))]^+,   L_G = D(G(z)) + lambda_PT f_PT(Enc(G(z)))

with the margin m of the ``energy_based`` loss (``--loss-param margin=M``) and the
pulling-away term f_PT (``penalties.pulling_away_term``, weight ``pt_weight``), the squared
cosine similarity of the codes of a generated batch, which pushes G's samples apart in the
encoder's space (the paper's EBGAN-PT, section 2.4). The energy is never negative, so D
cannot lower real energies without bound as a scalar critic under ``energy_based`` can:
real energies fall towards 0 and fake energies rise towards m.

Players: ``mlp`` networks on toy data (the generator of the ``mlp`` game; an MLP autoencoder
with a code of ``code_dim``), DCGAN networks on images (the encoder a DCGAN discriminator's
trunk with a linear code, the decoder a DCGAN generator of the code).
"""

from __future__ import annotations

from scratchgan.gan import models, penalties
from scratchgan.gan.games import register
from scratchgan.gan.games.adversarial import AdversarialGame


@register
class EBGANGame(AdversarialGame):
    name = "ebgan"
    description = "EBGAN: D an autoencoder, its energy the reconstruction error (Zhao et al. 2017)"
    families = ("toy", "image")
    default_data = "ring8"
    # the code: 32 for images (an EBGAN MNIST setting), 16 for toys
    data_family_code = {"toy": 16, "image": 32}
    # the autoencoder has no place for minibatch layers or packs; feature matching reads a Sequential
    unsupported = ("pack", "minibatch_std", "minibatch_discrimination", "feature_matching_layer",
                   "virtual_batch_norm", "fc_hidden")
    loss_curves = {"d_loss": "discriminator: D(x) + [m - D(G(z))]+", "g_loss": "generator: D(G(z))",
                   "pulling_away": "pulling-away term of G's codes"}

    @classmethod
    def validate(cls, config):
        super().validate(config)
        if config.loss != "energy_based":
            raise ValueError(f"model 'ebgan' trains with the energy-based loss (its D outputs an energy): "
                             f"use --loss energy_based, got {config.loss!r}")
        if config.pt_weight and config.batch_size < 2:
            raise ValueError("pt_weight: the pulling-away term compares samples of a batch; batch_size must be "
                             f"at least 2, got {config.batch_size}")

    def __init__(self, config, dataset, dtype, loss):
        super().__init__(config, dataset, dtype, loss)
        self.small_gemms = self.family == "toy"  # MLP-sized products there: one BLAS thread

    @property
    def code_dim(self):
        return self.config.code_dim or self.data_family_code[self.family]

    def build_generator(self):
        c, dt = self.config, self.dtype
        if self.family == "toy":
            return models.mlp_generator(c.latent_dim, self.dataset.dim, c.hidden, c.depth, dtype=dt)
        channels, size = self.dataset.image_shape[0], self.dataset.image_shape[1]
        return models.dcgan_generator(c.latent_dim, size, channels, c.width, dtype=dt)

    def build_discriminator(self):
        c, dt = self.config, self.dtype
        if self.family == "toy":
            return models.mlp_energy_autoencoder(self.dataset.dim, self.code_dim, c.hidden, c.depth, dtype=dt)
        channels, size = self.dataset.image_shape[0], self.dataset.image_shape[1]
        return models.dcgan_energy_autoencoder(self.code_dim, size, channels, c.width, batch_norm=c.d_batch_norm,
                                               dtype=dt)

    def d_outputs(self, x, condition, with_aux=False):
        """(energies (N, 1), the codes Enc(x) when asked: the pulling-away term's input)."""
        if with_aux:
            return self.discriminator.energy_and_codes(x)
        return self.discriminator(x), None

    def generator_extra(self, fake, fake_aux, condition, logs):
        """lambda_PT f_PT(Enc(G(z))): the codes come with the energies (or, when G's loss did not
        read D's outputs, as under unrolling, from the encoder)."""
        if not self.config.pt_weight:
            return None
        codes = fake_aux if fake_aux is not None else self.discriminator.encoder(fake)
        term = penalties.pulling_away_term(codes)
        logs["pulling_away"] = self.log(term)
        return self.config.pt_weight * term
