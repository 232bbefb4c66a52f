"""Lipschitz and smoothness penalties on the discriminator, and WGAN weight clipping.

Each penalty returns its value *without* the weight lambda; add ``lam * penalty`` to
the discriminator loss. Gradient norms are taken over the whole sample (every axis but
the batch axis): a widely copied WGAN-GP implementation took it over axis 1 only, which
is a different penalty. Each penalty differentiates through D twice: the inner
gradient is computed with ``create_graph=True``, so the outer backward reaches D's
weights.
"""

from __future__ import annotations

from scratchgan.autograd import engine, factories
from scratchgan.autograd.grad_mode import no_grad
from scratchgan.autograd.tensor import Tensor
from scratchgan.ops import elementwise as ew


def per_sample_norm(gradient):
    """||g_n||_2 over all non-batch axes, shape (N,), with derivative 0 (not NaN) where g_n = 0."""
    axes = tuple(range(1, gradient.ndim))
    squared = (gradient * gradient).sum(axis=axes)
    positive = squared.data > 0
    safe = ew.where(positive, squared, 1.0)  # sqrt'(0) is infinite; zero rows contribute 0 instead
    return ew.where(positive, safe.sqrt(), 0.0)


def input_gradient(discriminator, x):
    """d sum(D(x)) / dx, as part of the graph (create_graph=True), and D(x)."""
    x = x.detach().requires_grad_()
    output = discriminator(x)
    (gradient,) = engine.grad(output.sum(), x, create_graph=True)
    return gradient, output


def _uniform_per_sample(real):
    shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    return factories.rand(*shape, dtype=real.dtype, device=real.device)  # drawn where real lives


def gradient_penalty(discriminator, real, fake, alpha=None, center=1.0, one_sided=False):
    """WGAN-GP (Gulrajani et al. 2017): E (||grad D(x_hat)|| - center)^2, x_hat = a real + (1-a) fake.

    ``alpha`` (shape (N, 1, ..., 1) or broadcastable) is drawn U[0, 1] per sample when not
    given. ``one_sided=True`` penalises only norms above ``center``: E max(0, ||g|| - center)^2.
    """
    if real.shape != fake.shape:
        raise ValueError(f"gradient_penalty: real has shape {real.shape} but fake has {fake.shape}")
    alpha = _uniform_per_sample(real) if alpha is None else alpha
    alpha = alpha if isinstance(alpha, Tensor) else Tensor(real.xp.asarray(alpha, dtype=real.dtype))
    interpolated = alpha * real.detach() + (1 - alpha) * fake.detach()
    gradient, _ = input_gradient(discriminator, interpolated)
    excess = per_sample_norm(gradient) - center
    if one_sided:
        excess = ew.relu(excess)
    return (excess * excess).mean()


def dragan_penalty(discriminator, real, k=1.0, c=10.0, delta=None):
    """DRAGAN (Kodali et al. 2017; seed 000 'DRAGAN'): E_{x, delta ~ N(0, cI)} (||grad D(x + delta)|| - k)^2.

    Regularises D's gradient in a region around the real data. ``delta`` defaults to
    Gaussian noise of variance ``c`` (the paper's lambda=10, k=1, c=10); pass ``delta``
    to use another perturbation.
    """
    if delta is None:
        delta = factories.randn(*real.shape, dtype=real.dtype, device=real.device) * c ** 0.5
    elif not isinstance(delta, Tensor):
        delta = Tensor(real.xp.asarray(delta, dtype=real.dtype))
    if delta.shape != real.shape:
        raise ValueError(f"dragan_penalty: delta has shape {delta.shape}, expected {real.shape}")
    gradient, _ = input_gradient(discriminator, real.detach() + delta)
    excess = per_sample_norm(gradient) - k
    return (excess * excess).mean()


def r1_penalty(discriminator, real):
    """R1 (Mescheder et al. 2018): E ||grad D(x)||^2 on real data."""
    gradient, _ = input_gradient(discriminator, real)
    axes = tuple(range(1, gradient.ndim))
    return (gradient * gradient).sum(axis=axes).mean()


def r2_penalty(discriminator, fake):
    """R2 (Mescheder et al. 2018): E ||grad D(G(z))||^2 on generated data."""
    return r1_penalty(discriminator, fake)


@no_grad()
def clip_weights(module, clip_value=0.01):
    """WGAN weight clipping (Arjovsky et al. 2017; seed 001): every parameter into [-c, c],
    applied after each critic update. 'A clearly terrible way to enforce a Lipschitz
    constraint' (the WGAN paper), kept for the original algorithm."""
    if clip_value <= 0:
        raise ValueError(f"clip_weights: clip_value must be positive, got {clip_value}")
    for parameter in module.parameters():
        parameter.data = parameter.xp.clip(parameter.data, -clip_value, clip_value)


NAMES = ("none", "gradient_penalty", "dragan", "r1", "r2", "weight_clipping", "spectral_norm")
