"""The benchmark workloads W1-W4, written once for scratchgan and PyTorch.

Each architecture is a function of an ``nn`` namespace: ``scratchgan.nn`` and
``torch.nn`` take the same constructor signatures and use the same parameter names,
so ``mnist_generator(sg.nn)`` and ``mnist_generator(torch.nn)`` are the same network.
PyTorch initialises it; scratchgan loads that state dict, so the two compute the same
numbers (tests/test_benchmarks.py holds the first losses equal in float64) and a timing
comparison compares equal work.

One *step* is one discriminator (critic) update and one generator update with Adam,
the PyTorch DCGAN example's loop: G(z) is computed once, D is trained on real data and
on G(z).detach(), then the generator's loss backpropagates through D into G.

| name | model | batch | objective |
| W1 | MLP GAN on 2-D data (8 Gaussians on a ring) | 256 | non-saturating |
| W2 | DCGAN-MNIST 28x28 | 64 | non-saturating |
| W3 | DCGAN 64x64x3 (Radford et al. 2016), ngf = ndf = 64 | 64 | non-saturating |
| W4 | W2's generator, W2's critic without batch norm | 64 | WGAN-GP, lambda 10 |

The non-saturating objective is cross-entropy on logits: D minimises
E sp(-D(x)) + E sp(D(G(z))) and G minimises E sp(-D(G(z))) (sp = softplus), which is
``scratchgan.gan.losses.get("nonsaturating")`` and PyTorch's
``binary_cross_entropy_with_logits`` with targets 1 and 0. The WGAN-GP critic has no
batch norm because the penalty is defined per sample (Gulrajani et al. 2017, section 4);
its generator keeps W2's. Image data are synthetic (uniform in [-1, 1]): the time of a
step does not depend on the pixel values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy

LATENT_DIM = 100


# -- architectures (nn is scratchgan.nn or torch.nn) -------------------------------------------
def mlp_generator(nn, latent_dim=8, hidden=128, out_dim=2):
    """8-128-128-128-2 with ReLU."""
    return nn.Sequential(
        nn.Linear(latent_dim, hidden), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, out_dim),
    )


def mlp_discriminator(nn, in_dim=2, hidden=128):
    """2-128-128-128-1 with LeakyReLU(0.2); outputs a logit."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, 1),
    )


def mnist_generator(nn, latent_dim=LATENT_DIM):
    """z (N, 100) -> (N, 1, 28, 28): Linear + BN1d + ReLU, two stride-2 transposed convolutions."""
    return nn.Sequential(
        nn.Linear(latent_dim, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(),
        nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),  # (N, 64, 14, 14)
        nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(),  # (N, 1, 28, 28)
    )


def mnist_discriminator(nn, batch_norm=True):
    """(N, 1, 28, 28) -> logit (N, 1): two stride-2 convolutions with LeakyReLU(0.2), Linear."""
    middle = [nn.BatchNorm2d(128)] if batch_norm else []
    return nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),  # (N, 64, 14, 14)
        nn.Conv2d(64, 128, 4, 2, 1), *middle, nn.LeakyReLU(0.2),  # (N, 128, 7, 7)
        nn.Flatten(), nn.Linear(128 * 7 * 7, 1),
    )


def mnist_critic(nn):
    """W2's discriminator without batch norm (a per-sample gradient penalty needs per-sample outputs)."""
    return mnist_discriminator(nn, batch_norm=False)


def dcgan64_generator(nn, ngf=64, channels=3):
    """Radford et al.: z (N, 100, 1, 1) -> 4 -> 8 -> 16 -> 32 -> 64, widths 8ngf..ngf, BN + ReLU, Tanh."""
    layers = [nn.ConvTranspose2d(LATENT_DIM, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU()]
    for width in (ngf * 8, ngf * 4, ngf * 2):
        layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU()]
    layers += [nn.ConvTranspose2d(ngf, channels, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


def dcgan64_discriminator(nn, ndf=64, channels=3):
    """The mirror: 64 -> 32 -> 16 -> 8 -> 4 with LeakyReLU(0.2), BN except after the first layer,
    a final 4x4 convolution to (N, 1, 1, 1), flattened to a logit (N, 1)."""
    layers = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
    for width in (ndf, ndf * 2, ndf * 4):
        layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2)]
    layers += [nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Flatten()]
    return nn.Sequential(*layers)


# -- workloads ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    batch: int
    latent_shape: tuple  # per sample
    data_shape: tuple  # per sample
    generator: Callable
    discriminator: Callable
    objective: str = "nonsaturating"  # or "wgan-gp"
    lr: float = 2e-4
    betas: tuple = (0.5, 0.999)
    gp_weight: float = 10.0
    # BLAS threads for scratchgan: MLP-sized GEMMs run fastest on one (scratchgan.backend.blas_threads)
    blas_threads: int = 2
    layers: tuple = field(default=(), repr=False)  # per-layer cases (LayerCase) timed with this workload


@dataclass(frozen=True)
class LayerCase:
    """One layer timed alone, forward + backward (gradients of the input and the parameters)."""

    label: str
    build: Callable  # nn -> Module
    input_shape: tuple  # with the batch axis


W2_LAYERS = (
    LayerCase("Linear(100, 6272)", lambda nn: nn.Linear(100, 128 * 7 * 7), (64, 100)),
    LayerCase("BatchNorm1d(6272)", lambda nn: nn.BatchNorm1d(128 * 7 * 7), (64, 128 * 7 * 7)),
    LayerCase("ConvT(128,64) 7->14", lambda nn: nn.ConvTranspose2d(128, 64, 4, 2, 1), (64, 128, 7, 7)),
    LayerCase("BatchNorm2d(64) 14x14", lambda nn: nn.BatchNorm2d(64), (64, 64, 14, 14)),
    LayerCase("ConvT(64,1) 14->28", lambda nn: nn.ConvTranspose2d(64, 1, 4, 2, 1), (64, 64, 14, 14)),
    LayerCase("Conv(1,64) 28->14", lambda nn: nn.Conv2d(1, 64, 4, 2, 1), (64, 1, 28, 28)),
    LayerCase("LeakyReLU (64,64,14,14)", lambda nn: nn.LeakyReLU(0.2), (64, 64, 14, 14)),
    LayerCase("Conv(64,128) 14->7", lambda nn: nn.Conv2d(64, 128, 4, 2, 1), (64, 64, 14, 14)),
    LayerCase("Linear(6272, 1)", lambda nn: nn.Linear(128 * 7 * 7, 1), (64, 128 * 7 * 7)),
)

W3_LAYERS = (
    LayerCase("ConvT(100,512) 1->4", lambda nn: nn.ConvTranspose2d(100, 512, 4, 1, 0, bias=False), (64, 100, 1, 1)),
    LayerCase("ConvT(512,256) 4->8", lambda nn: nn.ConvTranspose2d(512, 256, 4, 2, 1, bias=False), (64, 512, 4, 4)),
    LayerCase("ConvT(256,128) 8->16", lambda nn: nn.ConvTranspose2d(256, 128, 4, 2, 1, bias=False), (64, 256, 8, 8)),
    LayerCase("ConvT(128,64) 16->32", lambda nn: nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), (64, 128, 16, 16)),
    LayerCase("ConvT(64,3) 32->64", lambda nn: nn.ConvTranspose2d(64, 3, 4, 2, 1, bias=False), (64, 64, 32, 32)),
    LayerCase("Conv(3,64) 64->32", lambda nn: nn.Conv2d(3, 64, 4, 2, 1, bias=False), (64, 3, 64, 64)),
    LayerCase("Conv(64,128) 32->16", lambda nn: nn.Conv2d(64, 128, 4, 2, 1, bias=False), (64, 64, 32, 32)),
    LayerCase("Conv(128,256) 16->8", lambda nn: nn.Conv2d(128, 256, 4, 2, 1, bias=False), (64, 128, 16, 16)),
    LayerCase("Conv(256,512) 8->4", lambda nn: nn.Conv2d(256, 512, 4, 2, 1, bias=False), (64, 256, 8, 8)),
    LayerCase("Conv(512,1) 4->1", lambda nn: nn.Conv2d(512, 1, 4, 1, 0, bias=False), (64, 512, 4, 4)),
)

WORKLOADS = {
    "W1": Workload("W1", "MLP GAN, 2-D ring data", 256, (8,), (2,), mlp_generator, mlp_discriminator,
                   lr=1e-3, betas=(0.5, 0.999), blas_threads=1),
    "W2": Workload("W2", "DCGAN-MNIST 28x28", 64, (LATENT_DIM,), (1, 28, 28), mnist_generator,
                   mnist_discriminator, layers=W2_LAYERS),
    "W3": Workload("W3", "DCGAN 64x64x3, ngf=ndf=64", 64, (LATENT_DIM, 1, 1), (3, 64, 64),
                   dcgan64_generator, dcgan64_discriminator, layers=W3_LAYERS),
    # W4's layers are W2's: the same generator, and its critic is W2's discriminator less BatchNorm2d(128)
    "W4": Workload("W4", "DCGAN-MNIST, WGAN-GP critic", 64, (LATENT_DIM,), (1, 28, 28), mnist_generator,
                   mnist_critic, objective="wgan-gp", lr=1e-4, betas=(0.0, 0.9), layers=W2_LAYERS),
}


# -- data ----------------------------------------------------------------------------------------
def make_batches(workload, count=4, dtype=numpy.float32, seed=0, batch=None):
    """``count`` dicts of NumPy arrays {real, latent, alpha}; the same arrays feed both frameworks."""
    rng = numpy.random.default_rng(seed)
    batch = workload.batch if batch is None else batch
    batches = []
    for _ in range(count):
        if workload.data_shape == (2,):  # 8 Gaussians of std 0.02 on a circle of radius 2
            angles = 2 * math.pi * rng.integers(0, 8, batch) / 8
            real = 2.0 * numpy.stack([numpy.cos(angles), numpy.sin(angles)], axis=1)
            real = real + 0.02 * rng.standard_normal((batch, 2))
        else:
            real = rng.uniform(-1.0, 1.0, (batch,) + workload.data_shape)
        batches.append({
            "real": real.astype(dtype),
            "latent": rng.standard_normal((batch,) + workload.latent_shape).astype(dtype),
            "alpha": rng.random((batch,) + (1,) * len(workload.data_shape)).astype(dtype),  # WGAN-GP mix
        })
    return batches


# -- one training step, per framework ---------------------------------------------------------------
class ScratchganGAN:
    """G, D and their Adam optimizers in scratchgan; ``step`` returns (d_loss, g_loss) as floats
    (reading them back also waits for a GPU to finish the step, so a step's time is complete)."""

    framework = "scratchgan"

    def __init__(self, workload, dtype=numpy.float32, state=None, device="cpu"):
        import scratchgan as sg

        self.sg, self.workload, self.device = sg, workload, device
        self.generator = workload.generator(sg.nn)
        self.discriminator = workload.discriminator(sg.nn)
        if numpy.dtype(dtype) == numpy.float64:
            self.generator.double()
            self.discriminator.double()
        if state is not None:  # PyTorch's initial weights, so both compute the same numbers
            self.generator.load_state_dict(state["generator"])
            self.discriminator.load_state_dict(state["discriminator"])
        self.generator.to(device)
        self.discriminator.to(device)
        self.g_optimizer = sg.optim.Adam(self.generator.parameters(), lr=workload.lr, betas=workload.betas)
        self.d_optimizer = sg.optim.Adam(self.discriminator.parameters(), lr=workload.lr, betas=workload.betas)
        self.loss = sg.gan.losses.get("wasserstein" if workload.objective == "wgan-gp" else "nonsaturating")

    def tensors(self, batch):
        return {key: self.sg.Tensor(value).to(self.device) for key, value in batch.items()}

    def step(self, real, latent, alpha):
        fake = self.generator(latent)
        self.d_optimizer.zero_grad()
        real_logits = self.discriminator(real)
        fake_logits = self.discriminator(fake.detach())
        d_loss = self.loss.discriminator(real_logits, fake_logits)
        if self.workload.objective == "wgan-gp":
            penalty = self.sg.gan.penalties.gradient_penalty(self.discriminator, real, fake, alpha=alpha)
            d_loss = d_loss + self.workload.gp_weight * penalty
        d_loss.backward()
        self.d_optimizer.step()

        self.g_optimizer.zero_grad()
        g_loss = self.loss.generator(self.discriminator(fake))
        g_loss.backward()
        self.g_optimizer.step()
        return d_loss.item(), g_loss.item()


class TorchGAN:
    """The same GAN in PyTorch, initialised by PyTorch from ``seed``; ``initial_state`` feeds scratchgan."""

    framework = "torch"

    def __init__(self, workload, dtype=numpy.float32, seed=0, device="cpu"):
        import torch

        self.torch, self.workload, self.device = torch, workload, device
        torch.manual_seed(seed)
        torch_dtype = torch.float64 if numpy.dtype(dtype) == numpy.float64 else torch.float32
        self.generator = workload.generator(torch.nn).to(torch_dtype)
        self.discriminator = workload.discriminator(torch.nn).to(torch_dtype)
        self.initial_state = {
            "generator": {k: v.detach().numpy().copy() for k, v in self.generator.state_dict().items()},
            "discriminator": {k: v.detach().numpy().copy() for k, v in self.discriminator.state_dict().items()},
        }
        self.generator.to(device)
        self.discriminator.to(device)
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=workload.lr, betas=workload.betas)
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=workload.lr, betas=workload.betas)

    def tensors(self, batch):
        return {key: self.torch.from_numpy(value).to(self.device) for key, value in batch.items()}

    def _gradient_penalty(self, real, fake, alpha):
        """E (||grad D(x_hat)||_2 - 1)^2 over all non-batch axes, x_hat = alpha real + (1 - alpha) fake."""
        mixed = (alpha * real + (1 - alpha) * fake.detach()).requires_grad_(True)
        (gradient,) = self.torch.autograd.grad(self.discriminator(mixed).sum(), mixed, create_graph=True)
        return ((gradient.flatten(1).norm(2, dim=1) - 1) ** 2).mean()

    def step(self, real, latent, alpha):
        bce = self.torch.nn.functional.binary_cross_entropy_with_logits
        fake = self.generator(latent)
        self.d_optimizer.zero_grad(set_to_none=True)
        real_logits = self.discriminator(real)
        fake_logits = self.discriminator(fake.detach())
        if self.workload.objective == "wgan-gp":
            d_loss = fake_logits.mean() - real_logits.mean()
            d_loss = d_loss + self.workload.gp_weight * self._gradient_penalty(real, fake, alpha)
        else:
            d_loss = (bce(real_logits, self.torch.ones_like(real_logits))
                      + bce(fake_logits, self.torch.zeros_like(fake_logits)))
        d_loss.backward()
        self.d_optimizer.step()

        self.g_optimizer.zero_grad(set_to_none=True)
        fake_logits = self.discriminator(fake)
        if self.workload.objective == "wgan-gp":
            g_loss = -fake_logits.mean()
        else:
            g_loss = bce(fake_logits, self.torch.ones_like(fake_logits))
        g_loss.backward()
        self.g_optimizer.step()
        return d_loss.item(), g_loss.item()


# -- floating-point work ----------------------------------------------------------------------------
def layer_macs(module, input_shape, output_shape) -> int:
    """Multiply-adds of one forward pass of a Linear or (transposed) convolution, per batch."""
    kind = type(module).__name__
    batch = input_shape[0]
    if kind == "Linear":
        return batch * module.in_features * module.out_features
    if kind == "Conv2d":  # every output element sums C_in kh kw products
        kh, kw = module.kernel_size
        return math.prod(output_shape) * module.in_channels * kh * kw
    if kind == "ConvTranspose2d":  # every input element scatters into C_out kh kw outputs
        kh, kw = module.kernel_size
        return math.prod(input_shape) * module.out_channels * kh * kw
    return 0


def model_macs(model, input_shape) -> int:
    """Multiply-adds of one forward pass of a scratchgan Sequential on ``input_shape``."""
    import scratchgan as sg

    total = 0
    x = sg.Tensor(numpy.zeros((2,) + tuple(input_shape[1:]), dtype=numpy.float32) + 0.5)
    with sg.no_grad():
        for module in model:
            y = module(x)
            total += layer_macs(module, (input_shape[0],) + x.shape[1:], (input_shape[0],) + y.shape[1:])
            x = y
    return total


# Forward-pass equivalents per step (backward ~ 2 forwards: the input and the weight gradients).
# Non-saturating: G forward+backward (3); D on real, on fake, and in G's loss, each forward+backward (3 x 3).
# WGAN-GP adds the penalty pass on D: forward (1), input gradient (1), and the backward of both (2 + 2).
PASSES = {"nonsaturating": (3, 9), "wgan-gp": (3, 15)}


def flops_per_step(workload, batch=None) -> float:
    """Floating-point operations (2 per multiply-add) of the linear and convolution layers in one step;
    batch norm, activations, losses and Adam are left out (a few percent)."""
    import scratchgan as sg

    batch = workload.batch if batch is None else batch
    with sg.no_grad():
        g_macs = model_macs(workload.generator(sg.nn), (batch,) + workload.latent_shape)
        d_macs = model_macs(workload.discriminator(sg.nn), (batch,) + workload.data_shape)
    g_passes, d_passes = PASSES[workload.objective]
    return 2.0 * (g_passes * g_macs + d_passes * d_macs)


def layer_gemms(module, input_shape, output_shape) -> list:
    """The matrix products (m, k, n), C (m, n) = A (m, k) @ B (k, n), that the forward and the
    backward (input and weight gradients) of a Linear or (transposed) convolution perform when
    lowered to GEMMs (im2col: K = C kh kw); [] for other layers. Their FLOPs are layer_macs' x 6.

    Conv2d, x (N, C, H, W) -> y (N, O, Ho, Wo), P = N Ho Wo pixels, K = C kh kw:
    y = cols (P, K) @ w (K, O); dcols = gy (P, O) @ w^T (O, K); dw = gy^T (O, P) @ cols (P, K).
    ConvTranspose2d is its adjoint, x (N, C, H, W), P = N H W, K = O kh kw:
    cols = x (P, C) @ w (C, K); dx = dcols (P, K) @ w^T (K, C); dw = x^T (C, P) @ dcols (P, K).
    """
    kind = type(module).__name__
    if kind == "Linear":
        batch, k, n = input_shape[0], module.in_features, module.out_features
        return [(batch, k, n), (batch, n, k), (n, batch, k)]
    if kind not in ("Conv2d", "ConvTranspose2d"):
        return []
    kh, kw = module.kernel_size
    if kind == "Conv2d":
        pixels, k, channels = math.prod(output_shape) // output_shape[1], module.in_channels * kh * kw, \
            module.out_channels
    else:
        pixels, k, channels = math.prod(input_shape) // input_shape[1], module.out_channels * kh * kw, \
            module.in_channels
    return [(pixels, k, channels), (pixels, channels, k), (channels, pixels, k)]


def _case_shapes(case):
    """(scratchgan module, input shape, output shape) of one LayerCase, at its batch."""
    import scratchgan as sg

    module = case.build(sg.nn)
    with sg.no_grad():
        x = sg.Tensor(numpy.zeros((2,) + case.input_shape[1:], dtype=numpy.float32))
        y = module(x)
    return module, case.input_shape, (case.input_shape[0],) + y.shape[1:]


def case_gemms(case) -> list:
    """``layer_gemms`` of one LayerCase: the GEMMs its forward + backward row performs."""
    return layer_gemms(*_case_shapes(case))


def layer_flops(case) -> float:
    """Forward + backward floating-point operations of one LayerCase (3 forwards; 0 for BN, activations)."""
    return 2.0 * 3 * layer_macs(*_case_shapes(case))
