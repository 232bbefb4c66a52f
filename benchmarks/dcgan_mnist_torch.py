"""The PyTorch twin of scratchgan's main job (`scratchgan train`), for comparing classifier FIDs.

    python benchmarks/dcgan_mnist_torch.py [--steps 1500] [--seed 0] [--out FILE.json]
                                           [--samples-png FILE] [--threads 2]
    python benchmarks/dcgan_mnist_torch.py --fc-hidden 0 --latent-dim 100 --lr-g 2e-4 --ema 0 --steps 2000
                                           # the plain W2 DCGAN of benchmarks/workloads.py
    python -m benchmarks.dcgan_mnist_torch ...

Trains, in PyTorch on the CPU, the networks and the recipe of scratchgan's default image
run (``scratchgan.gan.games.unconditional.MAIN_JOB_DEFAULTS``), so the two classifier FIDs compare:

* the W2 DCGAN-MNIST of ``benchmarks/workloads.py`` with InfoGAN's fully connected layer
  (Chen et al. 2016, appendix C.1) of ``--fc-hidden`` units: G = Linear(z, fc) + BN1d + ReLU,
  then W2's generator on fc inputs; D = W2's convolutions, Linear(6272, fc) + BN1d +
  LeakyReLU(0.2), Linear(fc, 1); z ~ N(0, I_62);
* DCGAN initialisation (Radford et al. 2015): conv, transposed-conv and linear weights
  ~ N(0, 0.02), batch-norm scales ~ N(1, 0.02), every bias 0;
* the non-saturating loss on logits (BCE with logits): D minimises
  BCE(D(x), 1) + BCE(D(G(z).detach()), 0), the real and the fake batch passed separately
  (so batch norm sees one kind at a time), then G minimises BCE(D(G(z)), 1) through D;
  one D step and one G step per step;
* Adam with betas (0.5, 0.999), lr 1e-3 for G and 2e-4 for D (constant); batch 64;
* an exponential moving average of G's parameters (decay 0.99, buffers copied), which
  makes the samples, as scratchgan's ``tricks.EMA``;
* real batches from the bundled MNIST 5k (``scratchgan.data.images.get("mnist")``),
  reshuffled every epoch (78 batches of 64 per epoch, the last 8 images left out).

At the end the (EMA) generator makes 5,000 samples in eval mode (running batch-norm
statistics, as scratchgan's ``Trainer.sample``), and the script prints and writes as JSON:
``classifier_fid`` against the bundled MNIST 5k statistics, ``classifier_inception_score``
and a ``class_balance`` summary (``scratchgan.metrics.images``, computed on NumPy arrays),
the same FID with samples made in train mode (batch statistics, batches of 64) as a
diagnostic, the FID of the untrained generator (its initial weights, eval mode), the
losses, the seconds and the steps. The classifier FID is a Frechet distance on the
features of scratchgan's own digit classifier, not an Inception FID.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy

from benchmarks import workloads as wl

BATCH_SIZE = 64
BETAS = (0.5, 0.999)
NUM_SAMPLES = 5000
EVAL_SEED = 1234  # the latents of the evaluation samples, apart from the training stream


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python benchmarks/dcgan_mnist_torch.py",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500, help="D+G steps (default %(default)s)")
    parser.add_argument("--fc-hidden", type=int, default=512, help="InfoGAN's fully connected layer (0: none)")
    parser.add_argument("--latent-dim", type=int, default=62, help="dimension of z (default %(default)s)")
    parser.add_argument("--lr-g", type=float, default=1e-3, help="G's Adam learning rate (default %(default)s)")
    parser.add_argument("--lr-d", type=float, default=2e-4, help="D's Adam learning rate (default %(default)s)")
    parser.add_argument("--ema", type=float, default=0.99, help="EMA decay of G's weights (0: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, latents and batch order")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default %(default)s)")
    parser.add_argument("--samples", type=int, default=NUM_SAMPLES, help="samples for the metrics")
    parser.add_argument("--log-every", type=int, default=250, help="print the losses every N steps")
    parser.add_argument("--out", metavar="FILE.json", help="also write the figures to this JSON file")
    parser.add_argument("--samples-png", metavar="FILE", help="save an 8x8 grid of samples here")
    args = parser.parse_args(argv)
    for name in ("steps", "threads", "samples", "log_every", "latent_dim"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    if args.fc_hidden < 0 or not 0 <= args.ema < 1 or not (args.lr_g > 0 and args.lr_d > 0):
        parser.error("--fc-hidden must be >= 0, --ema in [0, 1) and the learning rates positive")
    if args.seed < 0:
        parser.error(f"--seed must be a non-negative integer, got {args.seed}")
    return args


def networks(nn, latent_dim, fc_hidden):
    """(G, D): W2's networks (``benchmarks/workloads.py``) on z of ``latent_dim``, with InfoGAN's
    fully connected layer of ``fc_hidden`` units in each (none for 0)."""
    if not fc_hidden:
        return wl.mnist_generator(nn, latent_dim), wl.mnist_discriminator(nn)
    generator = nn.Sequential(nn.Linear(latent_dim, fc_hidden), nn.BatchNorm1d(fc_hidden), nn.ReLU(),
                              *wl.mnist_generator(nn, fc_hidden))
    trunk = list(wl.mnist_discriminator(nn))[:-1]  # up to Flatten: (N, 6272)
    discriminator = nn.Sequential(*trunk, nn.Linear(128 * 7 * 7, fc_hidden), nn.BatchNorm1d(fc_hidden),
                                  nn.LeakyReLU(0.2), nn.Linear(fc_hidden, 1))
    return generator, discriminator


class EMA:
    """shadow <- decay shadow + (1 - decay) param after each G step; buffers copied (tricks.EMA)."""

    def __init__(self, torch, module, decay):
        self.torch, self.module, self.decay = torch, module, decay
        self.shadow = copy.deepcopy(module).eval()

    def update(self):
        with self.torch.no_grad():
            for param, shadow in zip(self.module.parameters(), self.shadow.parameters()):
                shadow.copy_(self.decay * shadow + (1.0 - self.decay) * param)
            for buffer, shadow in zip(self.module.buffers(), self.shadow.buffers()):
                shadow.copy_(buffer)


def dcgan_init_(torch, model):
    """Radford et al.: conv/linear weights ~ N(0, 0.02), BN scales ~ N(1, 0.02), biases 0."""
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
            torch.nn.init.normal_(module.weight, 0.0, 0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            torch.nn.init.normal_(module.weight, 1.0, 0.02)
            torch.nn.init.zeros_(module.bias)
    return model


def real_batches(images: numpy.ndarray, generator: numpy.random.Generator):
    """Batches of 64 real images forever, in a new random order each epoch (drop last)."""
    per_epoch = len(images) // BATCH_SIZE
    while True:
        order = generator.permutation(len(images))
        for start in range(0, per_epoch * BATCH_SIZE, BATCH_SIZE):
            yield images[order[start:start + BATCH_SIZE]]


def train(torch, generator, discriminator, images, args, ema=None, log=print):
    """``args.steps`` non-saturating steps; returns the last (d_loss, g_loss)."""
    steps, log_every = args.steps, args.log_every
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=args.lr_g, betas=BETAS)
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=args.lr_d, betas=BETAS)
    batches = real_batches(images, numpy.random.default_rng(args.seed))
    started = time.perf_counter()
    for step in range(1, steps + 1):
        real = torch.from_numpy(next(batches))
        fake = generator(torch.randn(BATCH_SIZE, args.latent_dim))

        d_optimizer.zero_grad(set_to_none=True)
        real_logits = discriminator(real)
        fake_logits = discriminator(fake.detach())
        d_loss = (bce(real_logits, torch.ones_like(real_logits))
                  + bce(fake_logits, torch.zeros_like(fake_logits)))
        d_loss.backward()
        d_optimizer.step()

        g_optimizer.zero_grad(set_to_none=True)
        fake_logits = discriminator(fake)
        g_loss = bce(fake_logits, torch.ones_like(fake_logits))
        g_loss.backward()
        g_optimizer.step()
        if ema is not None:
            ema.update()
        if step % log_every == 0 or step == steps:
            log(f"step {step:5d}/{steps}  d_loss {d_loss.item():.4f}  g_loss {g_loss.item():.4f}  "
                f"({time.perf_counter() - started:.0f} s)")
    return d_loss.item(), g_loss.item()


def generate(torch, generator, count, latent_dim, train_mode=False, batch_size=500):
    """``count`` samples (N, 1, 28, 28) float32 from fixed latents (seed EVAL_SEED); eval mode
    (running BN statistics) unless ``train_mode`` (batch statistics, batches of 64, running
    statistics left untouched)."""
    latents = torch.randn(count, latent_dim, generator=torch.Generator().manual_seed(EVAL_SEED))
    model = copy.deepcopy(generator).train(train_mode)
    size = BATCH_SIZE if train_mode else batch_size
    with torch.no_grad():
        chunks = [model(latents[start:start + size]) for start in range(0, count, size)]
    return torch.cat(chunks).numpy().astype(numpy.float32)


def evaluate(samples) -> dict:
    """The classifier metrics of ``samples`` against the bundled MNIST 5k."""
    from scratchgan.metrics import images as metrics

    balance = metrics.class_balance(samples)
    return {
        "classifier_fid": metrics.classifier_fid(samples),
        "classifier_inception_score": metrics.classifier_inception_score(samples),
        "class_balance": {key: balance[key] for key in
                          ("classes_covered", "min_fraction", "kl_from_uniform", "fractions")},
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from scratchgan.data import images as image_data
    from scratchgan.metrics import images as metrics

    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator, discriminator = (dcgan_init_(torch, net) for net in networks(torch.nn, args.latent_dim, args.fc_hidden))
    untrained = copy.deepcopy(generator)
    ema = EMA(torch, generator, args.ema) if args.ema else None
    images = numpy.ascontiguousarray(image_data.get("mnist").images)

    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads: DCGAN-MNIST fc {args.fc_hidden}, "
          f"z {args.latent_dim}, {args.steps} steps, batch {BATCH_SIZE}, Adam G {args.lr_g} D {args.lr_d} {BETAS}, "
          f"EMA {args.ema}, seed {args.seed}")
    train_started = time.perf_counter()
    d_loss, g_loss = train(torch, generator, discriminator, images, args, ema)
    train_seconds = time.perf_counter() - train_started

    sampler = generator if ema is None else ema.shadow
    samples = generate(torch, sampler, args.samples, args.latent_dim)
    result = {
        "framework": "torch", "torch_version": torch.__version__, "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "workload": "DCGAN-MNIST (scratchgan's main job)", "steps": args.steps, "seed": args.seed,
        "batch_size": BATCH_SIZE, "lr_g": args.lr_g, "lr_d": args.lr_d, "betas": list(BETAS),
        "latent_dim": args.latent_dim, "fc_hidden": args.fc_hidden, "ema": args.ema,
        "loss": "nonsaturating", "init": "dcgan", "data": "mnist (bundled 5k)",
        "num_samples": args.samples, "sample_mode": "eval",
        **evaluate(samples),
        "classifier_fid_train_mode": metrics.classifier_fid(generate(torch, sampler, args.samples, args.latent_dim,
                                                                     True)),
        "untrained_classifier_fid": metrics.classifier_fid(generate(torch, untrained, args.samples, args.latent_dim)),
        "final_d_loss": d_loss, "final_g_loss": g_loss,
        "seconds_training": round(train_seconds, 1),
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    balance = result["class_balance"]
    print(f"classifier FID {result['classifier_fid']:.2f} (train-mode BN {result['classifier_fid_train_mode']:.2f}, "
          f"untrained {result['untrained_classifier_fid']:.2f}); classifier IS "
          f"{result['classifier_inception_score']:.3f}; classes covered {balance['classes_covered']}/10, "
          f"KL from uniform {balance['kl_from_uniform']:.4f}; {result['seconds']:.0f} s")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    if args.samples_png:
        from scratchgan import viz

        viz.plot_image_grid(args.samples_png, samples[:64], 8, 8,
                            title=f"PyTorch twin of the main job, {args.steps} steps, seed {args.seed}")
        print(f"wrote {args.samples_png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
