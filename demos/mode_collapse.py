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


def _ring_modes():
    from scratchgan.data import toy

    return toy.get("ring8").modes


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


def plot(out_dir, results, seeds, modes, steps):
    """One panel per method (its first seed's run), three across, with the mode centres and
    their 3-std circles: a sample inside a circle is a high-quality sample of that mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    columns = min(3, len(names))
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 3.5 * rows), squeeze=False)
    for panel in axes.ravel()[len(names):]:
        panel.set_visible(False)
    for index, name in enumerate(names):
        stats, samples = results[name][0]
        panel = axes.ravel()[index]
        panel.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.4, color="tab:orange", label="generated")
        for centre in modes:
            panel.add_patch(plt.Circle(centre, 3 * 0.02, fill=False, color="black", linewidth=0.8))
        panel.scatter(modes[:, 0], modes[:, 1], s=30, marker="+", color="black", linewidths=1, label="mode centres")
        panel.set_xlim(-2.6, 2.6)
        panel.set_ylim(-2.6, 2.6)
        panel.set_aspect("equal")
        panel.tick_params(labelsize=7)
        panel.set_title(f"{name}\n{stats['modes_covered']}/8 modes, {100 * stats['high_quality_fraction']:.0f}% high quality",
                        fontsize=9)
        if index % columns == 0:
            panel.set_ylabel("$x_2$", fontsize=9)
        if index >= len(names) - columns:
            panel.set_xlabel("$x_1$", fontsize=9)
    axes[0][0].legend(loc="center", fontsize=7, markerscale=2)
    figure.suptitle(f"ring8 after {steps} steps, seed {seeds[0]}", fontsize=11)
    _demo.save_figure(figure, out_dir, "mode_collapse.png", dpi=100)


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
    plot(out, results, seeds, numpy.asarray(_ring_modes()), steps)
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
