"""Regenerate the pictures of the tutorials from real runs of their own commands.

Each entry below is a tutorial's command, run as the page shows it, and the files of its run
folder that the page shows, copied into docs/figures/ under the entry's prefix:

    python tools/docs_figures.py                 # every entry (about two hours on 2 cores)
    python tools/docs_figures.py ring8 dcgan     # some of them
    python tools/docs_figures.py --list

The runs go to ``--runs`` (default: a fresh temporary folder, removed afterwards unless
``--keep``), never into docs/; only the listed PNG files are copied.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "figures"

# name -> (the command as its tutorial shows it, with RUN for the run folder; {run file: figure name})
ENTRIES = {
    "ring8": (
        "scratchgan train --data ring8 --out RUN",
        {"samples.png": "ring8_samples.png", "snapshots.png": "ring8_snapshots.png", "losses.png": "ring8_losses.png"},
    ),
    "dcgan": (
        "scratchgan train --out RUN",
        {"samples.png": "dcgan_samples.png", "snapshots.png": "dcgan_snapshots.png",
         "interpolation.png": "dcgan_interpolation.png", "losses.png": "dcgan_losses.png",
         "metrics.png": "dcgan_metrics.png"},
    ),
    "infogan": (
        "scratchgan train --model infogan --steps 2000 --checkpoint-every 500 --out RUN",
        {"samples.png": "infogan_samples.png", "traversal_c1.png": "infogan_traversal_c1.png",
         "traversal_c2.png": "infogan_traversal_c2.png", "metrics.png": "infogan_metrics.png"},
    ),
    "cgan": (
        "scratchgan train --model cgan --steps 1500 --checkpoint-every 500 --out RUN",
        {"samples.png": "cgan_samples.png", "snapshots.png": "cgan_snapshots.png", "metrics.png": "cgan_metrics.png"},
    ),
    "grid25-nonsaturating": (
        "scratchgan train --recipe grid25-nonsaturating --out RUN",
        {"samples.png": "grid25_nonsaturating_samples.png"},
    ),
    "ring8-wgan-gp": (
        "scratchgan train --recipe ring8-wgan-gp --out RUN",
        {"samples.png": "ring8_wgan_gp_samples.png"},
    ),
    "grid25-wgan-gp": (
        "scratchgan train --recipe grid25-wgan-gp --out RUN",
        {"samples.png": "grid25_wgan_gp_samples.png"},
    ),
    "swiss-roll-wgan-gp": (
        "scratchgan train --recipe swiss-roll-wgan-gp --out RUN",
        {"samples.png": "swiss_roll_wgan_gp_samples.png"},
    ),
    "ring8-dragan": (
        "scratchgan train --recipe ring8-dragan --out RUN",
        {"samples.png": "ring8_dragan_samples.png"},
    ),
    "ring8-hinge-sn": (
        "scratchgan train --recipe ring8-hinge-sn --out RUN",
        {"samples.png": "ring8_hinge_sn_samples.png"},
    ),
    "ebgan-ring8": (
        "scratchgan train --model ebgan --data ring8 --loss energy_based --hidden 128 --code-dim 2 "
        "--pt-weight 0.1 --lr-g 5e-4 --lr-d 5e-4 --steps 10000 --out RUN",
        {"samples.png": "ebgan_ring8_samples.png", "snapshots.png": "ebgan_ring8_snapshots.png"},
    ),
    "mnist-ebgan": (
        "scratchgan train --recipe mnist-ebgan --out RUN",
        {"samples.png": "ebgan_mnist_samples.png"},
    ),
    "mnist-hinge-sn": (
        "scratchgan train --recipe mnist-hinge-sn --out RUN",
        {"samples.png": "mnist_hinge_sn_samples.png"},
    ),
    "mnist-dragan": (
        "scratchgan train --recipe mnist-dragan --out RUN",
        {"samples.png": "mnist_dragan_samples.png"},
    ),
    "wgan-critics": (
        f"{sys.executable} demos/wgan_critic_surfaces.py --out RUN",
        {"wgan_critic_surfaces.png": "wgan_critic_surfaces.png"},
    ),
    "wgan-clipping": (
        f"{sys.executable} demos/wgan_clipping_estimate.py --out RUN",
        {"wgan_clipping_estimate.png": "wgan_clipping_estimate.png"},
    ),
    "unrolled-timeline": (
        f"{sys.executable} demos/unrolled_timeline.py --out RUN",
        {"unrolled_timeline.png": "unrolled_timeline.png"},
    ),
    "lsgan-mixture": (
        f"{sys.executable} demos/unrolled_timeline.py --ks 0 0 --losses least_squares nonsaturating --out RUN",
        {"unrolled_timeline.png": "lsgan_mixture_timeline.png"},
    ),
    "mode-collapse": (
        f"{sys.executable} demos/mode_collapse.py --seeds 1 --out RUN",
        {"mode_collapse.png": "mode_collapse.png"},
    ),
}


def run_entry(name: str, runs: Path) -> list[Path]:
    """Run one entry's command into ``runs/name`` and copy its figures; returns the copies."""
    command, copies = ENTRIES[name]
    folder = runs / name
    argv = [str(folder) if word == "RUN" else word for word in command.split()]
    if argv[0] == "scratchgan":
        argv += ["--no-progress"]
    started = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True)
    print(f"{name}: {time.perf_counter() - started:.0f} s: {command}", flush=True)
    written = []
    for source, target in copies.items():
        shutil.copyfile(folder / source, FIGURES / target)
        written.append(FIGURES / target)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"entries to run (default: all of {', '.join(ENTRIES)})")
    parser.add_argument("--runs", type=Path, help="folder for the run folders (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary run folders")
    parser.add_argument("--list", action="store_true", help="print the entries and their commands")
    args = parser.parse_args(argv)
    if args.list:
        for name, (command, copies) in ENTRIES.items():
            print(f"{name}: {command} -> {', '.join(copies.values())}")
        return
    unknown = [name for name in args.names if name not in ENTRIES]
    if unknown:
        parser.error(f"unknown entries {unknown}; expected some of {list(ENTRIES)}")
    runs = args.runs or Path(tempfile.mkdtemp(prefix="scratchgan-figures-"))
    runs.mkdir(parents=True, exist_ok=True)
    if any((runs / name).exists() for name in args.names or ENTRIES):
        parser.error(f"{runs} already holds a run folder of these entries; give an empty --runs")
    try:
        for name in args.names or ENTRIES:
            for path in run_entry(name, runs):
                print(f"  wrote {path.relative_to(ROOT)}")
    finally:
        if args.runs is None and not args.keep:
            shutil.rmtree(runs, ignore_errors=True)


if __name__ == "__main__":
    main()
