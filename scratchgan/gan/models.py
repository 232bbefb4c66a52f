"""Model factories with the published defaults and every size configurable.

Toy (2-D and 1-D) problems use MLPs. Image models (1 channel or more, square images):

* ``dcgan_generator`` / ``dcgan_discriminator``: DCGAN (Radford et al. 2015; seed 000
  'DCGAN', seed 003 'DCGAN', seed 004 'DC-GAN'): fractionally-strided (transposed)
  convolutions in G and strided convolutions in D, batch norm in both except G's output
  and D's input layer, ReLU in G with a tanh output, LeakyReLU(0.2) in D, no pooling and
  no hidden fully connected layer. Two layouts:
    - 28x28 (any side divisible by 4 that is not a power of two >= 16, e.g. 8): the
      MNIST layout of ``benchmarks/workloads.py`` (W2): a linear projection of z to
      (2w, s/4, s/4), two stride-2 transposed convolutions; D mirrors it and ends with
      one Linear to the logit.
    - 16/32/64/128 (powers of two): the paper's layout (W3 for 64): z as a (z, 1, 1) map,
      a 4x4 transposed convolution to (w 2^k, 4, 4), then stride-2 blocks halving the
      width; D mirrors it and ends with a 4x4 convolution to the logit.
  ``w`` = ``width`` (the paper's ngf = ndf = 64), initialised by ``nn.init.dcgan_init_``.
* ``cgan_*``: the conditional GAN (Mirza & Osindero 2014; seed 001 'Conditional GAN',
  seed 000 'Conditional GANs'): the label is fed to both players, as a one-hot vector
  concatenated to z in G, and to D as one-hot planes concatenated to the image channels
  (conv) or to the flattened image (MLP).
* ``acgan_discriminator``: AC-GAN (Odena et al. 2016; seed 004): D's trunk feeds two
  heads, the real/fake logit and class logits; G is the conditional generator.
* ``infogan_*``: InfoGAN (Chen et al. 2016; seed 000 'InfoGAN'): G(z, c) with c a one-hot
  categorical code and continuous codes; D's trunk feeds the logit and the Q head, which
  predicts the code (categorical logits and the means of the continuous codes). By default
  the paper's MNIST networks: the DCGAN ones with one more fully connected layer (1024) in
  G and in D's shared trunk.

Every discriminator outputs one logit (or critic score) per sample, shape (N, 1); those
with an auxiliary head also have ``forward_with_aux(x) -> (logits (N, 1), aux (N, A))``.
"""

from __future__ import annotations

import functools
import math

import numpy

from scratchgan import nn
from scratchgan.autograd import factories
from scratchgan.autograd.tensor import Tensor
from scratchgan.gan import tricks
from scratchgan.nn.module import Module
from scratchgan.nn.utils import spectral_norm as apply_spectral_norm
from scratchgan.ops import shape as shape_ops

NEGATIVE_SLOPE = 0.2  # LeakyReLU slope in every discriminator (Radford et al. 2015)


# -- toy MLPs ----------------------------------------------------------------------------------
def mlp_generator(latent_dim, out_dim, hidden=128, depth=3, dtype=None, activation=None):
    """z -> [Linear -> ReLU] x depth -> Linear: the toy-benchmark generator (Metz et al. 2017 use
    2x128 with tanh: ``activation=nn.Tanh``)."""
    return nn.Sequential(*_mlp_layers(latent_dim, out_dim, hidden, depth, activation or nn.ReLU, dtype))


def _mlp_layers(in_dim, out_dim, hidden, depth, activation, dtype):
    layers, width = [], in_dim
    for _ in range(depth):
        layers += [nn.Linear(width, hidden, dtype=dtype), activation()]
        width = hidden
    layers.append(nn.Linear(width, out_dim, dtype=dtype))
    return layers


def mlp_discriminator(in_dim, hidden=128, depth=3, negative_slope=NEGATIVE_SLOPE, minibatch_std=False,
                      minibatch_discrimination=0, spectral_norm=False, dtype=None, activation=None):
    """x -> [Linear -> LeakyReLU(0.2)] x depth -> Linear(1); ``activation`` (a module class,
    e.g. nn.Tanh for Metz et al.'s 2x128 tanh critic) replaces the LeakyReLU.

    ``minibatch_std`` inserts a MinibatchStdDev feature before the last layer;
    ``minibatch_discrimination`` (number of kernels, 0 = off) a MinibatchDiscrimination
    layer there; ``spectral_norm`` normalises every Linear weight.
    """
    layers, width = [], in_dim
    for _ in range(depth):
        layers += [nn.Linear(width, hidden, dtype=dtype),
                   activation() if activation else nn.LeakyReLU(negative_slope)]
        width = hidden
    layers += _minibatch_layers(width, minibatch_std, minibatch_discrimination, dtype)
    width += int(minibatch_std) + minibatch_discrimination
    layers.append(nn.Linear(width, 1, dtype=dtype))
    model = nn.Sequential(*layers)
    return spectral_normalize(model) if spectral_norm else model


def _minibatch_layers(features, minibatch_std, minibatch_discrimination, dtype):
    """The optional minibatch layers on (N, features) inputs: std feature, then discrimination."""
    layers = []
    if minibatch_std:
        layers.append(tricks.MinibatchStdDev())
        features += 1
    if minibatch_discrimination:
        layers.append(tricks.MinibatchDiscrimination(features, num_kernels=minibatch_discrimination,
                                                     kernel_dim=8, dtype=dtype))
    return layers


def mlp_image_generator(latent_dim, image_shape, hidden=128, depth=3, dtype=None):
    """z -> MLP -> tanh -> (N, C, H, W): the fully connected MNIST generator of Goodfellow et al. (2014)."""
    layers = _mlp_layers(latent_dim, math.prod(image_shape), hidden, depth, nn.ReLU, dtype)
    return nn.Sequential(*layers, nn.Tanh(), nn.Unflatten(1, tuple(image_shape)))


def mlp_image_discriminator(image_shape, hidden=128, depth=3, **options):
    """(N, C, H, W) -> flatten -> ``mlp_discriminator`` -> logit (N, 1)."""
    mlp = mlp_discriminator(math.prod(image_shape), hidden, depth, **options)
    return nn.Sequential(nn.Flatten(), *mlp)


# -- DCGAN ---------------------------------------------------------------------------------------
def _layout(image_size):
    """(layout, blocks): "paper" for powers of two >= 16 (stride-2 blocks between the 4x4 map and the
    image), "mnist" for other sides divisible by 4 (a linear projection to s/4 x s/4, two blocks)."""
    if not isinstance(image_size, (int, numpy.integer)) or image_size < 4 or image_size % 4:
        raise ValueError(f"dcgan: image_size must be a multiple of 4 (28, 32, 64, ...), got {image_size!r}")
    if image_size >= 16 and image_size & (image_size - 1) == 0:
        return "paper", int(math.log2(image_size)) - 3
    return "mnist", 2


def dcgan_generator(latent_dim=100, image_size=28, channels=1, width=64, dtype=None, fc_hidden=0):
    """z (N, latent_dim) -> images (N, channels, image_size, image_size) in (-1, 1).

    ``fc_hidden`` > 0 puts Linear(z, fc_hidden) + BN1d + ReLU first (the InfoGAN MNIST
    generator of Chen et al. 2016, appendix C.1, which Lucic et al. 2018 use for MNIST).

    28x28: Linear(z, 2w 7 7) + BN1d + ReLU, ConvT(2w, w, 4, 2, 1) + BN2d + ReLU,
    ConvT(w, C, 4, 2, 1) + Tanh (W2 of benchmarks/workloads.py for w = 64).
    64x64: ConvT(z, 8w, 4, 1, 0) + BN + ReLU to 4x4, three ConvT(., ./2, 4, 2, 1) + BN + ReLU
    blocks, ConvT(w, C, 4, 2, 1) + Tanh (Radford et al.'s Figure 1; 32x32 has one block fewer).
    """
    if fc_hidden:
        return nn.init.dcgan_init_(nn.Sequential(*_fc_block(latent_dim, fc_hidden, nn.ReLU(), dtype),
                                                 *dcgan_generator(fc_hidden, image_size, channels, width, dtype)))
    layout, blocks = _layout(image_size)
    if layout == "mnist":
        side = image_size // 4
        layers = [nn.Linear(latent_dim, 2 * width * side * side, dtype=dtype),
                  nn.BatchNorm1d(2 * width * side * side, dtype=dtype), nn.ReLU(),
                  nn.Unflatten(1, (2 * width, side, side)),
                  nn.ConvTranspose2d(2 * width, width, 4, 2, 1, dtype=dtype), nn.BatchNorm2d(width, dtype=dtype),
                  nn.ReLU(),
                  nn.ConvTranspose2d(width, channels, 4, 2, 1, dtype=dtype), nn.Tanh()]
    else:
        top = width * 2 ** blocks
        layers = [nn.Unflatten(1, (latent_dim, 1, 1)),
                  nn.ConvTranspose2d(latent_dim, top, 4, 1, 0, bias=False, dtype=dtype),
                  nn.BatchNorm2d(top, dtype=dtype), nn.ReLU()]
        for level in range(blocks):
            wide = top // 2 ** level
            layers += [nn.ConvTranspose2d(wide, wide // 2, 4, 2, 1, bias=False, dtype=dtype),
                       nn.BatchNorm2d(wide // 2, dtype=dtype), nn.ReLU()]
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False, dtype=dtype), nn.Tanh()]
    return nn.init.dcgan_init_(nn.Sequential(*layers))


def _fc_block(in_features, fc_hidden, activation, dtype, batch_norm=True):
    """Linear(in, fc_hidden) [+ BN1d] + activation: the fully connected layer of InfoGAN's MNIST networks."""
    norm = [nn.BatchNorm1d(fc_hidden, dtype=dtype)] if batch_norm else []
    return [nn.Linear(in_features, fc_hidden, dtype=dtype), *norm, activation]


def dcgan_trunk(image_size=28, in_channels=1, width=64, batch_norm=True, negative_slope=NEGATIVE_SLOPE,
                dtype=None):
    """D's convolutional layers, (N, C, s, s) -> a feature map (N, F, s', s'), and F s' s'.

    No batch norm on the input layer (Radford et al.); ``batch_norm=False`` leaves it out of
    every layer (a critic under a per-sample gradient penalty, Gulrajani et al. 2017 section 4)."""
    layout, blocks = _layout(image_size)
    bias = layout == "mnist"  # W2 keeps PyTorch's default biases; the paper's layout has none
    layers = [nn.Conv2d(in_channels, width, 4, 2, 1, bias=bias, dtype=dtype), nn.LeakyReLU(negative_slope)]
    for level in range(blocks - 1 if layout == "mnist" else blocks):
        wide = width * 2 ** level
        layers.append(nn.Conv2d(wide, 2 * wide, 4, 2, 1, bias=bias, dtype=dtype))
        if batch_norm:
            layers.append(nn.BatchNorm2d(2 * wide, dtype=dtype))
        layers.append(nn.LeakyReLU(negative_slope))
    channels_out = width * 2 ** (blocks - 1 if layout == "mnist" else blocks)
    side = image_size // 4 if layout == "mnist" else 4
    return layers, channels_out, side


def _conv_trunk_with_tricks(image_size, in_channels, width, batch_norm, minibatch_std,
                            minibatch_discrimination, dtype):
    """Trunk layers ending in flat features (N, F), with the optional minibatch layers."""
    layers, channels, side = dcgan_trunk(image_size, in_channels, width, batch_norm, dtype=dtype)
    if minibatch_std:
        layers.append(tricks.MinibatchStdDev())  # one more channel
        channels += 1
    layers.append(nn.Flatten())
    features = channels * side * side
    if minibatch_discrimination:
        layers.append(tricks.MinibatchDiscrimination(features, num_kernels=minibatch_discrimination,
                                                     kernel_dim=8, dtype=dtype))
        features += minibatch_discrimination
    return layers, features


def dcgan_discriminator(image_size=28, channels=1, width=64, batch_norm=True, minibatch_std=False,
                        minibatch_discrimination=0, spectral_norm=False, dtype=None, in_channels=None, fc_hidden=0):
    """images (N, C, s, s) -> logits (N, 1).

    ``fc_hidden`` > 0 puts Linear(F, fc_hidden) [+ BN1d] + LeakyReLU(0.2) before the logit
    (InfoGAN's MNIST discriminator, Chen et al. 2016, appendix C.1).

    28x28: Conv(C, w, 4, 2, 1) + LeakyReLU(0.2), Conv(w, 2w, 4, 2, 1) + BN2d + LeakyReLU(0.2),
    Flatten, Linear(2w 7 7, 1) (W2 for w = 64). 64x64: Conv(C, w) + LeakyReLU, three
    Conv(., 2., 4, 2, 1) + BN + LeakyReLU blocks, Conv(8w, 1, 4, 1, 0), Flatten (W3).
    ``in_channels`` overrides C for inputs with extra planes (the conditional D).
    """
    in_channels = channels if in_channels is None else in_channels
    layout, _ = _layout(image_size)
    if layout == "paper" and not minibatch_discrimination and not fc_hidden:
        layers, top, _ = dcgan_trunk(image_size, in_channels, width, batch_norm, dtype=dtype)
        if minibatch_std:
            layers.append(tricks.MinibatchStdDev())
            top += 1
        layers += [nn.Conv2d(top, 1, 4, 1, 0, bias=False, dtype=dtype), nn.Flatten()]
    else:
        layers, features = _conv_trunk_with_tricks(image_size, in_channels, width, batch_norm, minibatch_std,
                                                   minibatch_discrimination, dtype)
        if fc_hidden:
            layers += _fc_block(features, fc_hidden, nn.LeakyReLU(NEGATIVE_SLOPE), dtype, batch_norm)
            features = fc_hidden
        layers.append(nn.Linear(features, 1, dtype=dtype))
    model = nn.init.dcgan_init_(nn.Sequential(*layers))
    return spectral_normalize(model) if spectral_norm else model


# -- conditioning --------------------------------------------------------------------------------
def one_hot(labels, num_classes, like):
    """Integer labels (N,) -> a constant one-hot Tensor (N, num_classes) of ``like``'s dtype and device."""
    labels = numpy.asarray(labels.numpy() if isinstance(labels, Tensor) else labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"one_hot: expected integer labels (N,), got shape {labels.shape} of dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"one_hot: labels must lie in [0, {num_classes}), got values in "
                         f"[{labels.min()}, {labels.max()}]")
    table = numpy.zeros((len(labels), num_classes), dtype=like.dtype)
    table[numpy.arange(len(labels)), labels] = 1
    return Tensor(like.xp.asarray(table))


def _check_batch(owner, x, condition):
    if len(condition) != x.shape[0]:
        raise ValueError(f"{owner}: {len(condition)} labels or codes for a batch of {x.shape[0]}")


class ConditionalGenerator(Module):
    """G(z, y) = net(z ++ onehot(y)): the label joins the noise (Mirza & Osindero 2014;
    seed 001 'Conditional GAN': 'simply feed y to both generator and discriminator')."""

    def __init__(self, net, num_classes):
        super().__init__()
        self.net, self.num_classes = net, int(num_classes)

    def forward(self, z, labels):
        _check_batch("ConditionalGenerator", z, labels)
        return self.net(shape_ops.concatenate([z, one_hot(labels, self.num_classes, z)], axis=1))


class ConditionalDiscriminator(Module):
    """D(x, y) = net(x ++ onehot(y)): one-hot planes (N, K, H, W) concatenated to an image's
    channels, or the one-hot vector to a flat input (N, F)."""

    def __init__(self, net, num_classes):
        super().__init__()
        self.net, self.num_classes = net, int(num_classes)

    def joint_input(self, x, labels):
        _check_batch("ConditionalDiscriminator", x, labels)
        code = one_hot(labels, self.num_classes, x)  # (N, K)
        if x.ndim == 4:
            planes = (x.shape[0], self.num_classes) + tuple(x.shape[2:])
            code = shape_ops.broadcast_to(code.reshape(x.shape[0], self.num_classes, 1, 1), planes)
        return shape_ops.concatenate([x, code], axis=1)

    def forward(self, x, labels):
        return self.net(self.joint_input(x, labels))

    def features(self, x, labels, layer):
        """The output of the first ``layer`` modules of ``net`` (feature matching)."""
        return tricks.sequential_features(self.net, self.joint_input(x, labels), layer)


class BoundLabels(Module):
    """x -> D(x, labels) with the second input fixed: a conditional D (labels) or a D of pairs
    (BiGAN's codes) as a function of x alone, for gradient penalties (grad_x D(x, y)) and
    unrolled updates (functional_call)."""

    def __init__(self, discriminator, labels):
        super().__init__()
        self.discriminator, self.labels = discriminator, labels

    def forward(self, x):
        return self.discriminator(x, self.labels)


class AuxiliaryDiscriminator(Module):
    """A shared trunk with two heads: ``forward(x)`` = adversarial(trunk(x)), the logit (N, 1);
    ``forward_with_aux(x)`` also returns auxiliary(trunk(x)) (AC-GAN's class logits,
    InfoGAN's Q head)."""

    def __init__(self, trunk, adversarial, auxiliary):
        super().__init__()
        self.trunk, self.adversarial, self.auxiliary = trunk, adversarial, auxiliary

    def forward(self, x):
        return self.adversarial(self.trunk(x))

    def forward_with_aux(self, x):
        features = self.trunk(x)
        return self.adversarial(features), self.auxiliary(features)

    def features(self, x, layer):
        """The output of the first ``layer`` modules of the trunk (feature matching)."""
        return tricks.sequential_features(self.trunk, x, layer)


class InfoGenerator(Module):
    """G(z, c) = net(z ++ c), c = (one-hot categorical code, continuous codes) (N, K + C) (Chen et al. 2016)."""

    def __init__(self, net, code_dim):
        super().__init__()
        self.net, self.code_dim = net, int(code_dim)

    def forward(self, z, codes):
        _check_batch("InfoGenerator", z, codes)
        codes = codes if isinstance(codes, Tensor) else Tensor(z.xp.asarray(codes, dtype=z.dtype))
        if codes.ndim != 2 or codes.shape[1] != self.code_dim:
            raise ValueError(f"InfoGenerator: codes must have shape (N, {self.code_dim}), got {codes.shape}")
        return self.net(shape_ops.concatenate([z, codes], axis=1))


# -- the conditional, AC-GAN and InfoGAN factories ---------------------------------------------------
def cgan_generator(latent_dim=100, num_classes=10, image_size=28, channels=1, width=64, dtype=None):
    """G(z, y): the DCGAN generator on z ++ onehot(y)."""
    return ConditionalGenerator(dcgan_generator(latent_dim + num_classes, image_size, channels, width, dtype),
                                num_classes)


def cgan_discriminator(num_classes=10, image_size=28, channels=1, width=64, **options):
    """D(x, y): the DCGAN discriminator on the image channels ++ K one-hot planes."""
    net = dcgan_discriminator(image_size, channels, width, in_channels=channels + num_classes, **options)
    return ConditionalDiscriminator(net, num_classes)


def conditional_mlp_generator(latent_dim, num_classes, image_shape, hidden=128, depth=3, dtype=None):
    """G(z, y) = MLP(z ++ onehot(y)) -> (N, C, H, W) (Mirza & Osindero's MNIST model is an MLP)."""
    return ConditionalGenerator(mlp_image_generator(latent_dim + num_classes, image_shape, hidden, depth, dtype),
                                num_classes)


def conditional_mlp_discriminator(num_classes, image_shape, hidden=128, depth=3, **options):
    """D(x, y) = MLP(flatten(x) ++ onehot(y))."""
    net = mlp_discriminator(math.prod(image_shape) + num_classes, hidden, depth, **options)
    return _FlatConditionalDiscriminator(net, num_classes)


class _FlatConditionalDiscriminator(ConditionalDiscriminator):
    """ConditionalDiscriminator on flat inputs: the one-hot joins the flattened image."""

    def joint_input(self, x, labels):
        _check_batch("ConditionalDiscriminator", x, labels)
        flat = x.reshape(x.shape[0], -1)
        return shape_ops.concatenate([flat, one_hot(labels, self.num_classes, x)], axis=1)


def _two_head_discriminator(aux_head, image_size, channels, width, batch_norm=True, minibatch_std=False,
                            minibatch_discrimination=0, spectral_norm=False, dtype=None, fc_hidden=0):
    layers, features = _conv_trunk_with_tricks(image_size, channels, width, batch_norm, minibatch_std,
                                               minibatch_discrimination, dtype)
    if fc_hidden:  # a shared fully connected layer (InfoGAN's MNIST discriminator)
        layers += _fc_block(features, fc_hidden, nn.LeakyReLU(NEGATIVE_SLOPE), dtype, batch_norm)
        features = fc_hidden
    model = AuxiliaryDiscriminator(nn.Sequential(*layers), nn.Linear(features, 1, dtype=dtype),
                                   aux_head(features))
    nn.init.dcgan_init_(model)
    return spectral_normalize(model) if spectral_norm else model


def acgan_discriminator(num_classes=10, image_size=28, channels=1, width=64, dtype=None, **options):
    """x -> (logit (N, 1), class logits (N, K)) from one DCGAN trunk (Odena et al. 2016)."""
    return _two_head_discriminator(lambda features: nn.Linear(features, num_classes, dtype=dtype),
                                   image_size, channels, width, dtype=dtype, **options)


def infogan_generator(latent_dim=62, categorical=10, continuous=2, image_size=28, channels=1, width=64,
                      fc_hidden=1024, dtype=None):
    """G(z, c), c = one-hot(categorical) ++ continuous codes: InfoGAN's MNIST generator (Chen et al.
    2016, appendix C.1): Linear(z ++ c, fc_hidden) + BN1d + ReLU, then the DCGAN generator
    (fc_hidden = 0: the DCGAN generator on z ++ c alone). The paper's noise has 62 dimensions."""
    code_dim = categorical + continuous
    return InfoGenerator(dcgan_generator(latent_dim + code_dim, image_size, channels, width, dtype, fc_hidden),
                         code_dim)


def infogan_discriminator(categorical=10, continuous=2, image_size=28, channels=1, width=64,
                          fc_hidden=1024, q_hidden=128, batch_norm=True, dtype=None, **options):
    """x -> (logit (N, 1), Q(c|x) (N, K + C)): InfoGAN's MNIST discriminator (Chen et al. 2016,
    appendix C.1): the DCGAN trunk, then a shared Linear(F, fc_hidden) + BN1d + LeakyReLU(0.2)
    (none when fc_hidden = 0), feeding the logit and the Q head Linear(fc_hidden, q_hidden)
    [+ BN1d] + LeakyReLU(0.2) + Linear(q_hidden, K + C): Q's categorical logits, then the means
    of the continuous codes (unit variance, as the InfoGAN code's MNIST setting)."""
    def q_head(features):
        norm = [nn.BatchNorm1d(q_hidden, dtype=dtype)] if batch_norm else []
        return nn.Sequential(nn.Linear(features, q_hidden, dtype=dtype), *norm, nn.LeakyReLU(NEGATIVE_SLOPE),
                             nn.Linear(q_hidden, categorical + continuous, dtype=dtype))

    return _two_head_discriminator(q_head, image_size, channels, width, batch_norm=batch_norm, dtype=dtype,
                                   fc_hidden=fc_hidden, **options)


# -- encoders and joint discriminators (BiGAN / ALI, adversarial autoencoders) --------------------
class GaussianEncoder(Module):
    """x -> z = mu(x) + sigma(x) eps, eps ~ N(0, I) from the global generator (the
    reparameterisation trick, Kingma & Welling 2014): ALI's stochastic encoder (Dumoulin et
    al. 2017). ``net`` outputs (mu, log sigma^2) side by side, (N, 2 D); in eval mode the
    encoder returns mu (the features a probe reads)."""

    def __init__(self, net, latent_dim):
        super().__init__()
        self.net, self.latent_dim = net, int(latent_dim)

    def forward(self, x):
        statistics = self.net(x)
        mean, log_variance = statistics[:, :self.latent_dim], statistics[:, self.latent_dim:]
        if not self.training:
            return mean
        noise = factories.randn(*mean.shape, dtype=mean.dtype, device=mean.device)
        return mean + (log_variance * 0.5).exp() * noise


def dcgan_encoder(latent_dim, image_size=28, channels=1, width=64, fc_hidden=0, batch_norm=True,
                  stochastic=False, dtype=None):
    """images (N, C, s, s) -> codes (N, latent_dim): the DCGAN discriminator's trunk, then
    [Linear(F, fc_hidden) + BN1d + LeakyReLU(0.2)] and a Linear to the code (BiGAN's
    deterministic encoder, Donahue et al. 2017), or to (mu, log sigma^2) of a Gaussian
    (``stochastic``: ALI's encoder, ``GaussianEncoder``)."""
    layers, features = _conv_trunk_with_tricks(image_size, channels, width, batch_norm, False, 0, dtype)
    if fc_hidden:
        layers += _fc_block(features, fc_hidden, nn.LeakyReLU(NEGATIVE_SLOPE), dtype, batch_norm)
        features = fc_hidden
    layers.append(nn.Linear(features, latent_dim * (2 if stochastic else 1), dtype=dtype))
    net = nn.init.dcgan_init_(nn.Sequential(*layers))
    return GaussianEncoder(net, latent_dim) if stochastic else net


class JointDiscriminator(Module):
    """D(x, z) = joint(x_net(x) ++ z_net(z)): BiGAN's and ALI's discriminator on pairs (Donahue
    et al. 2017, Dumoulin et al. 2017): a convolutional path for x, a fully connected one for
    z, and fully connected layers on both together, ending in one logit (N, 1)."""

    def __init__(self, x_net, z_net, joint):
        super().__init__()
        self.x_net, self.z_net, self.joint = x_net, z_net, joint

    def forward(self, x, z):
        if x.shape[0] != z.shape[0]:
            raise ValueError(f"JointDiscriminator: {x.shape[0]} images with {z.shape[0]} codes")
        return self.joint(shape_ops.concatenate([self.x_net(x), self.z_net(z)], axis=1))


def joint_discriminator(latent_dim, image_size=28, channels=1, width=64, hidden=512, batch_norm=True,
                        minibatch_std=False, minibatch_discrimination=0, dtype=None):
    """x path: the DCGAN trunk to flat features; z path: Linear(D, hidden) + LeakyReLU(0.2);
    joint: Linear(F + hidden, hidden) + LeakyReLU(0.2) + Linear(hidden, 1). No batch norm on
    the z path and the joint layers (they see real and fake pairs of one batch together)."""
    layers, features = _conv_trunk_with_tricks(image_size, channels, width, batch_norm, minibatch_std,
                                               minibatch_discrimination, dtype)
    x_net = nn.Sequential(*layers)
    z_net = nn.Sequential(nn.Linear(latent_dim, hidden, dtype=dtype), nn.LeakyReLU(NEGATIVE_SLOPE))
    joint = nn.Sequential(nn.Linear(features + hidden, hidden, dtype=dtype), nn.LeakyReLU(NEGATIVE_SLOPE),
                          nn.Linear(hidden, 1, dtype=dtype))
    return nn.init.dcgan_init_(JointDiscriminator(x_net, z_net, joint))


def mlp_encoder(image_shape, latent_dim, hidden=512, depth=2, dtype=None):
    """(N, C, H, W) -> flatten -> [Linear -> ReLU] x depth -> Linear(latent_dim): the adversarial
    autoencoder's encoder q(z|x) (Makhzani et al. 2016 use two layers of 1000 on MNIST)."""
    return nn.Sequential(nn.Flatten(), *_mlp_layers(math.prod(image_shape), latent_dim, hidden, depth, nn.ReLU,
                                                    dtype))


class EnergyAutoencoder(Module):
    """EBGAN's discriminator (Zhao et al. 2017, arXiv:1609.03126, section 2.3; seed 001):
    an autoencoder whose energy is its reconstruction error per sample,

        D(x) = ||Dec(Enc(x)) - x||^2 / n,   n = the number of features of one sample,

    as an (N, 1) column, so that the energy-based loss reads it as any D's output. It is
    non-negative, which bounds the energy below where a scalar critic's is not.
    ``energy_and_codes`` also returns Enc(x), the codes the pulling-away term reads."""

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def energy_and_codes(self, x):
        codes = self.encoder(x)
        error = self.decoder(codes) - x
        n = x.shape[0]
        rows = error.reshape(n, -1)
        return (rows * rows).mean(axis=1, keepdims=True), codes

    def forward(self, x):
        return self.energy_and_codes(x)[0]


def mlp_energy_autoencoder(in_dim, code_dim, hidden=128, depth=3, negative_slope=NEGATIVE_SLOPE, dtype=None):
    """Toy EBGAN discriminator: encoder x -> [Linear -> LeakyReLU(0.2)] x depth -> Linear(code_dim),
    decoder code -> [Linear -> LeakyReLU(0.2)] x depth -> Linear(in_dim)."""
    activation = functools.partial(nn.LeakyReLU, negative_slope)
    return EnergyAutoencoder(nn.Sequential(*_mlp_layers(in_dim, code_dim, hidden, depth, activation, dtype)),
                             nn.Sequential(*_mlp_layers(code_dim, in_dim, hidden, depth, activation, dtype)))


def dcgan_energy_autoencoder(code_dim, image_size=28, channels=1, width=64, batch_norm=True, dtype=None):
    """Image EBGAN discriminator: the DCGAN encoder (D's trunk, then a Linear to the code) and a
    DCGAN generator of the code as decoder (its Tanh output matches images in [-1, 1]); the
    shape of the paper's convolutional autoencoders (Zhao et al. 2017, appendix C), at DCGAN's
    widths."""
    encoder = dcgan_encoder(code_dim, image_size, channels, width, batch_norm=batch_norm, dtype=dtype)
    decoder = dcgan_generator(code_dim, image_size, channels, width, dtype=dtype)
    return EnergyAutoencoder(encoder, decoder)


class VirtualBatchNormGenerator(Module):
    """G(z) with virtual batch norm (Salimans et al. 2016, section 3.4): every call first
    forwards the fixed reference latents (a buffer, drawn once) through ``net``, whose
    VirtualBatchNorm layers keep that batch's statistics, then normalises each sample of z
    with them and itself, so a sample no longer depends on the other samples of its batch.
    Gradients reach G's weights through both passes, as in the paper."""

    def __init__(self, net, reference_latents):
        super().__init__()
        self.net = net
        self.register_buffer("reference_latents", Tensor(numpy.asarray(reference_latents)))

    def forward(self, z):
        with nn.reference_batch(self.net):
            self.net(self.reference_latents)
        return self.net(z)


def virtual_batch_normalize(model):
    """Replace every BatchNorm1d / BatchNorm2d of ``model`` by a VirtualBatchNorm1d / 2d of the
    same width, eps and dtype (scale 1, shift 0); returns the model."""
    replacements = {nn.BatchNorm1d: nn.VirtualBatchNorm1d, nn.BatchNorm2d: nn.VirtualBatchNorm2d}
    for module in list(model.modules()):
        for name, child in list(module._modules.items()):
            if type(child) in replacements:
                module._modules[name] = replacements[type(child)](child.num_features, eps=child.eps,
                                                                  affine=child.affine, dtype=child.weight.dtype)
    return model


def spectral_normalize(model):
    """Spectral normalisation (Miyato et al. 2018) on every Linear, Conv2d and ConvTranspose2d
    weight of ``model`` that does not have it yet; returns the model."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)) and "weight" in module._parameters:
            apply_spectral_norm(module)
    return model


# -- latent space ------------------------------------------------------------------------------
def interpolate_latents(start, end, count, spherical=True):
    """``count`` points from ``start`` to ``end`` (arrays (D,) or (N, D)), ends included:
    'a walk in latent space' (seed 001 'A Journey in Latent Space'; the GAN paper's Figure 3
    interpolates linearly). ``spherical`` follows the great circle (slerp, White 2016):
    p(t) = sin((1-t) W)/sin W start + sin(t W)/sin W end, W the angle between them, which
    keeps the norm typical of Gaussian z; linear is (1-t) start + t end. Returns
    (count, D) or (count, N, D)."""
    start, end = numpy.asarray(start, dtype=numpy.float64), numpy.asarray(end, dtype=numpy.float64)
    if start.shape != end.shape or count < 2:
        raise ValueError(f"interpolate_latents: start and end must have one shape and count >= 2, got "
                         f"{start.shape}, {end.shape}, count {count}")
    t = numpy.linspace(0.0, 1.0, count).reshape((count,) + (1,) * start.ndim)
    if not spherical:
        return (1 - t) * start + t * end
    norms = numpy.linalg.norm(start, axis=-1, keepdims=True) * numpy.linalg.norm(end, axis=-1, keepdims=True)
    cosine = numpy.clip(numpy.sum(start * end, axis=-1, keepdims=True) / numpy.maximum(norms, 1e-12), -1, 1)
    omega = numpy.arccos(cosine)
    sine = numpy.sin(omega)
    nearly_parallel = sine < 1e-6  # slerp tends to lerp there
    safe = numpy.where(nearly_parallel, 1.0, sine)
    slerp = (numpy.sin((1 - t) * omega) * start + numpy.sin(t * omega) * end) / safe
    return numpy.where(nearly_parallel, (1 - t) * start + t * end, slerp)
