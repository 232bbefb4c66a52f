"""Mode collapse on the 8-Gaussian ring, and what fixes it: a table of modes covered per method.

Seed 000 ('Mode Collapse': the generator excels in a subspace but does not cover the
entire real distribution; 'Unroll GAN') and seed 002 ('Diversity - Mode Collapse').
Every method trains the same MLPs (the defaults of ``scratchgan train --data ring8``) on ``ring8``
(radius 2, std 0.02) for the same number of steps and seeds; only the objective or the
trick changes. A mode counts as covered when at least 1% of the samples are high-quality
samples (within 3 std) of it (``scratchgan.metrics.toy.mode_statistics``).

    python demos/mode_collapse.py                      # full table (about 20 minutes on 2 cores)
    python demos/mode_collapse.py --quick --out /tmp/mc
"""

import numpy

import _demo  # demos/_demo.py: arguments and figure saving shared by the demos

from scratchgan.backend import blas_threads
from scratchgan.gan.trainer import TrainConfig, Trainer
from scratchgan.metrics import toy as toy_metrics

PLAIN = dict(penalty="none", lr_schedule="constant", lr_d=1e-3)  # the vanilla GAN's settings
METHODS = {
    "vanilla (non-saturating)": dict(PLAIN),
    "minimax (saturating)": dict(PLAIN, loss="minimax"),
    "unrolled, k=5": dict(PLAIN, unrolled=5),
    "WGAN-GP, 5 critic steps": dict(PLAIN, loss="wasserstein", penalty="gradient_penalty", d_steps=5,
                                    lr_g=1e-4, lr_d=1e-4, beta1=0.5, beta2=0.9),
    "least squares": dict(PLAIN, loss="least_squares"),
    "hinge + spectral norm": dict(PLAIN, loss="hinge", penalty="spectral_norm"),
    "relativistic average": dict(PLAIN, loss="relativistic_average"),
    "minibatch std": dict(PLAIN, minibatch_std=True),
    "default: R1 + TTUR + linear decay": dict(),
}


def train_one(overrides, steps, seed):
    config = TrainConfig(data="ring8", steps=steps, seed=seed, **overrides)
    trainer = Trainer(config)
    with blas_threads(1):
        for _ in range(steps):
            trainer.step()
    evaluation = numpy.random.default_rng(1000 + seed)
    from scratchgan.autograd.tensor import Tensor

    latents = Tensor(evaluation.standard_normal((2000, trainer.config.latent_dim)).astype(trainer.dtype))
    samples = trainer.sample(latents=latents)
    stats = toy_metrics.mode_statistics(samples, trainer.dataset.modes, trainer.dataset.mode_std)
    return stats, samples


def plot(out_dir, results, seeds):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    figure, axes = plt.subplots(len(names), len(seeds), figsize=(2.2 * len(seeds), 2.0 * len(names)),
                                squeeze=False)
    for row, name in enumerate(names):
        for col, (stats, samples) in enumerate(results[name]):
            panel = axes[row][col]
            panel.scatter(samples[:, 0], samples[:, 1], s=1, alpha=0.4, color="tab:orange")
            panel.set_xlim(-2.6, 2.6)
            panel.set_ylim(-2.6, 2.6)
            panel.set_xticks([])
            panel.set_yticks([])
            panel.set_title(f"{stats['modes_covered']}/8, hq {stats['high_quality_fraction']:.2f}", fontsize=8)
            if col == 0:
                panel.set_ylabel(name, fontsize=7)
    _demo.save_figure(figure, out_dir, "mode_collapse.png", dpi=90)


def main(argv=None):
    def add(parser):
        parser.add_argument("--steps", type=int, default=3000)
        parser.add_argument("--seeds", type=int, default=3)

    args, out = _demo.arguments(__doc__, argv, add)  # --quick: two methods, one seed, 60 steps
    methods = dict(list(METHODS.items())[:1] + list(METHODS.items())[-1:]) if args.quick else METHODS
    steps, seeds = (60, [0]) if args.quick else (args.steps, list(range(args.seeds)))

    results = {name: [train_one(overrides, steps, seed) for seed in seeds] for name, overrides in methods.items()}
    print(f"ring8, {steps} steps, seeds {seeds}: modes covered (of 8) and high-quality fraction")
    print("| method | modes covered per seed | mean modes | mean high-quality fraction |")
    print("| --- | --- | --- | --- |")
    means = {}
    for name, runs in results.items():
        covered = [stats["modes_covered"] for stats, _ in runs]
        quality = numpy.mean([stats["high_quality_fraction"] for stats, _ in runs])
        means[name] = numpy.mean(covered)
        print(f"| {name} | {', '.join(map(str, covered))} | {means[name]:.1f} | {quality:.2f} |")
    plot(out, results, seeds)
    for runs in results.values():
        for stats, _ in runs:
            assert 0 <= stats["modes_covered"] <= 8 and 0.0 <= stats["high_quality_fraction"] <= 1.0
    if not args.quick and steps >= 3000:
        default = [stats["modes_covered"] for stats, _ in results["default: R1 + TTUR + linear decay"]]
        assert min(default) >= 7, f"the default covered {default} modes"
        assert means["default: R1 + TTUR + linear decay"] >= means["vanilla (non-saturating)"]
    return results


if __name__ == "__main__":
    main()
