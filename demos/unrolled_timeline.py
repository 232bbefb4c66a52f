"""The unrolled-GAN timeline (Metz et al. 2017, Figure 1): samples of the same fixed latents
over training on the ring of 8 Gaussians, for G trained against 10 unrolled steps of D's own
Adam and for the standard GAN (k = 0), every other setting the ``ring8-unrolled`` recipe's.

    python demos/unrolled_timeline.py                      # trains k = 10 and k = 0, seed 0 (~25 minutes)
    python demos/unrolled_timeline.py --ks 10 5 0 --seed 1
    python demos/unrolled_timeline.py --runs RUN_A RUN_B   # draws finished run folders instead

Prints the modes covered and the high-quality fraction of each panel (the counts of
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


def train(k, steps, seed):
    """(k, {step: samples of the fixed latents}) of one run with k unrolled steps, at the steps
    where ``scratchgan train`` takes its snapshots."""
    trainer = Trainer(recipes.get(RECIPE).train_config(unrolled=k, steps=steps, seed=seed))
    marks = runner._snapshot_steps(steps)
    snapshots = {}
    with blas_threads(1):
        for step in range(1, steps + 1):
            trainer.step()
            if step in marks:
                snapshots[step] = trainer.sample(latents=trainer.fixed_latents)
    return k, snapshots


def read(folder):
    """(k, {step: samples}, seed) of a finished run folder: its config's k and seed, and its
    snapshots.npz."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    with numpy.load(folder / "snapshots.npz") as stored:
        snapshots = {int(step): stored[step] for step in stored.files}
    return config["unrolled"], dict(sorted(snapshots.items())), config["seed"]


def plot(out_dir, rows, modes, title):
    import matplotlib.pyplot as plt

    columns = max(len(snapshots) for _, snapshots, _ in rows)
    figure, axes = plt.subplots(len(rows), columns, figsize=(2.2 * columns, 2.6 * len(rows)), squeeze=False)
    for row, (k, snapshots, stats) in zip(axes, rows):
        for panel, (step, points), stat in zip(row, snapshots.items(), stats):
            panel.scatter(points[:, 0], points[:, 1], s=3, alpha=0.5, color="tab:orange", linewidths=0)
            panel.scatter(modes[:, 0], modes[:, 1], s=24, marker="+", color="black", linewidths=1)
            panel.set_xlim(-2.7, 2.7)
            panel.set_ylim(-2.7, 2.7)
            panel.set_aspect("equal")
            panel.set_xticks([])
            panel.set_yticks([])
            panel.set_title(f"step {step}: {stat['modes_covered']} of 8", fontsize=8)
        row[0].set_ylabel("standard GAN (k = 0)" if k == 0 else f"unrolled, k = {k}", fontsize=9)
    figure.suptitle(title, fontsize=10)
    return _demo.save_figure(figure, out_dir, "unrolled_timeline.png", dpi=100)


def main(argv=None):
    def add(parser):
        parser.add_argument("--ks", type=int, nargs="+", default=[10, 0], help="unrolling steps, one row each")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's)")
        parser.add_argument("--runs", nargs="+", default=None, help="finished run folders to draw instead")

    args, out = _demo.arguments(__doc__, argv, add)
    if args.runs:
        read_runs = [read(folder) for folder in args.runs]
        runs = [(k, snapshots) for k, snapshots, _ in read_runs]
        seeds = ", ".join(sorted({str(seed) for _, _, seed in read_runs}))
        title = f"ring8: the same 512 latents over training (seed {seeds})"
    else:
        steps = 10 if args.quick else (args.steps or recipes.get(RECIPE).config["steps"])
        runs = [train(k, steps, args.seed) for k in ([1, 0] if args.quick else args.ks)]
        title = f"ring8, recipe {RECIPE}, seed {args.seed}: the same 512 latents over training"
    ring = toy.get("ring8")
    print("modes covered (of 8) / high-quality fraction of the fixed latents at each snapshot")
    rows = []
    for k, snapshots in runs:
        stats = [toy_metrics.mode_statistics(points, ring.modes, ring.mode_std) for points in snapshots.values()]
        rows.append((k, snapshots, stats))
        cells = ", ".join(f"step {step}: {s['modes_covered']} / {s['high_quality_fraction']:.2f}"
                          for step, s in zip(snapshots, stats))
        print(f"k = {k}: {cells}", flush=True)
        for s in stats:
            assert 0 <= s["modes_covered"] <= 8 and 0.0 <= s["high_quality_fraction"] <= 1.0
    print(f"wrote {plot(out, rows, numpy.asarray(ring.modes), title)}")
    return rows


if __name__ == "__main__":
    main()
