"""Model factories with the published defaults and every size configurable.

Toy (2-D and 1-D) problems use MLPs; image models (DCGAN, conditional, AC-GAN, InfoGAN)
are added with the image-GAN work. Discriminators output one logit (or critic score)
per sample, shape (N, 1).
"""

from __future__ import annotations

from scratchgan import nn
from scratchgan.gan import tricks
from scratchgan.nn.utils import spectral_norm as apply_spectral_norm


def mlp_generator(latent_dim, out_dim, hidden=128, depth=3, dtype=None):
    """z -> [Linear -> ReLU] x depth -> Linear: the toy-benchmark generator (Metz et al. 2017 use 2x128)."""
    layers, width = [], latent_dim
    for _ in range(depth):
        layers += [nn.Linear(width, hidden, dtype=dtype), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, out_dim, dtype=dtype))
    return nn.Sequential(*layers)


def mlp_discriminator(in_dim, hidden=128, depth=3, negative_slope=0.2, minibatch_std=False,
                      minibatch_discrimination=0, spectral_norm=False, dtype=None):
    """x -> [Linear -> LeakyReLU(0.2)] x depth -> Linear(1).

    ``minibatch_std`` inserts a MinibatchStdDev feature before the last layer;
    ``minibatch_discrimination`` (number of kernels, 0 = off) a MinibatchDiscrimination
    layer there; ``spectral_norm`` normalises every Linear weight.
    """
    layers, width = [], in_dim
    for _ in range(depth):
        layers += [nn.Linear(width, hidden, dtype=dtype), nn.LeakyReLU(negative_slope)]
        width = hidden
    if minibatch_std:
        layers.append(tricks.MinibatchStdDev())
        width += 1
    if minibatch_discrimination:
        layers.append(tricks.MinibatchDiscrimination(width, num_kernels=minibatch_discrimination,
                                                     kernel_dim=8, dtype=dtype))
        width += minibatch_discrimination
    layers.append(nn.Linear(width, 1, dtype=dtype))
    model = nn.Sequential(*layers)
    return spectral_normalize(model) if spectral_norm else model


def spectral_normalize(model):
    """Spectral normalisation (Miyato et al. 2018) on every Linear, Conv2d and ConvTranspose2d
    weight of ``model`` that does not have it yet; returns the model."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)) and "weight" in module._parameters:
            apply_spectral_norm(module)
    return model
