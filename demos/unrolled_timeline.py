"""The unrolled-GAN timeline (Metz et al. 2017, Figure 1): samples of the same fixed latents
over training on the ring of 8 Gaussians, for G trained against 10 unrolled steps of D's own
Adam and for the standard GAN (k = 0), every other setting the ``ring8-unrolled`` recipe's.

    python demos/unrolled_timeline.py                      # trains k = 10 and k = 0, seed 0 (~25 minutes)
    python demos/unrolled_timeline.py --ks 10 5 0 --seed 1
    python demos/unrolled_timeline.py --ks 0 0 --losses least_squares nonsaturating   # LSGAN against GAN
    python demos/unrolled_timeline.py --runs RUN_A RUN_B   # draws finished run folders instead

A run folder of another loss in the same setting gets a row named by its loss (LSGAN
against the regular GAN: docs/studies/ring8-lsgan-mixture.toml). Prints the modes covered
and the high-quality fraction of each panel (the counts of
``scratchgan.metrics.toy.mode_statistics`` on the 512 fixed latents of a run's snapshots)
and writes ``unrolled_timeline.png``: one row per run, one column per snapshot step, the
mode centres marked.
"""

import json
from pathlib import Path

import numpy

import _demo
from scratchgan.backend import blas_threads
from scratchgan.data import toy
from scratchgan.gan import recipes, runner
from scratchgan.gan.trainer import Trainer
from scratchgan.metrics import toy as toy_metrics

RECIPE = "ring8-unrolled"


def label(unrolled, loss):
    """A row's name: the unrolling, and the loss where it is not the recipe's."""
    name = f"unrolled, k = {unrolled}" if unrolled else "standard GAN (k = 0)"
    return name if loss == recipes.get(RECIPE).config["loss"] else f"{loss.replace('_', ' ')}, k = {unrolled}"


def train(k, steps, seed, loss=None):
    """(row label, {step: samples of the fixed latents}) of one run with k unrolled steps (and
    ``loss`` in place of the recipe's), at the steps where ``scratchgan train`` snapshots."""
    overrides = {"loss": loss} if loss else {}
    trainer = Trainer(recipes.get(RECIPE).train_config(unrolled=k, steps=steps, seed=seed, **overrides))
    marks = runner._snapshot_steps(steps)
    snapshots = {}
    with blas_threads(1):
        for step in range(1, steps + 1):
            trainer.step()
            if step in marks:
                snapshots[step] = trainer.sample(latents=trainer.fixed_latents)
    return label(k, trainer.config.loss), snapshots


def read(folder):
    """(row label, {step: samples}, seed) of a finished run folder: from its config's k, loss
    and seed, and its snapshots.npz."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    with numpy.load(folder / "snapshots.npz") as stored:
        snapshots = {int(step): stored[step] for step in stored.files}
    return label(config["unrolled"], config["loss"]), dict(sorted(snapshots.items())), config["seed"]


def plot(out_dir, rows, modes, title):
    import matplotlib.pyplot as plt

    columns = max(len(snapshots) for _, snapshots, _ in rows)
    figure, axes = plt.subplots(len(rows), columns, figsize=(2.2 * columns, 2.6 * len(rows)), squeeze=False)
    for row, (name, snapshots, stats) in zip(axes, rows):
        for panel, (step, points), stat in zip(row, snapshots.items(), stats):
            panel.scatter(points[:, 0], points[:, 1], s=3, alpha=0.5, color="tab:orange", linewidths=0)
            panel.scatter(modes[:, 0], modes[:, 1], s=24, marker="+", color="black", linewidths=1)
            panel.set_xlim(-2.7, 2.7)
            panel.set_ylim(-2.7, 2.7)
            panel.set_aspect("equal")
            panel.set_xticks([])
            panel.set_yticks([])
            panel.set_title(f"step {step}: {stat['modes_covered']} of 8", fontsize=8)
        row[0].set_ylabel(name, fontsize=9)
    figure.suptitle(title, fontsize=10)
    return _demo.save_figure(figure, out_dir, "unrolled_timeline.png", dpi=100)


def main(argv=None):
    def add(parser):
        parser.add_argument("--ks", type=int, nargs="+", default=[10, 0], help="unrolling steps, one row each")
        parser.add_argument("--losses", nargs="+", default=None,
                            help="a loss per row (default: the recipe's), e.g. --ks 0 0 --losses least_squares "
                                 "nonsaturating")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's)")
        parser.add_argument("--runs", nargs="+", default=None, help="finished run folders to draw instead")

    args, out = _demo.arguments(__doc__, argv, add)
    if args.runs:
        read_runs = [read(folder) for folder in args.runs]
        runs = [(name, snapshots) for name, snapshots, _ in read_runs]
        seeds = ", ".join(sorted({str(seed) for _, _, seed in read_runs}))
        title = f"ring8: the same 512 latents over training (seed {seeds})"
    else:
        steps = 10 if args.quick else (args.steps or recipes.get(RECIPE).config["steps"])
        ks = [1, 0] if args.quick else args.ks
        losses = args.losses or [None] * len(ks)
        if len(losses) != len(ks):
            raise SystemExit(f"--losses gives {len(losses)} losses for {len(ks)} rows (--ks); expected one per row")
        runs = [train(k, steps, args.seed, loss) for k, loss in zip(ks, losses)]
        title = f"ring8, recipe {RECIPE}, seed {args.seed}: the same 512 latents over training"
    ring = toy.get("ring8")
    print("modes covered (of 8) / high-quality fraction of the fixed latents at each snapshot")
    rows = []
    for name, snapshots in runs:
        stats = [toy_metrics.mode_statistics(points, ring.modes, ring.mode_std) for points in snapshots.values()]
        rows.append((name, snapshots, stats))
        cells = ", ".join(f"step {step}: {s['modes_covered']} / {s['high_quality_fraction']:.2f}"
                          for step, s in zip(snapshots, stats))
        print(f"{name}: {cells}", flush=True)
        for s in stats:
            assert 0 <= s["modes_covered"] <= 8 and 0.0 <= s["high_quality_fraction"] <= 1.0
    print(f"wrote {plot(out, rows, numpy.asarray(ring.modes), title)}")
    return rows


if __name__ == "__main__":
    main()
