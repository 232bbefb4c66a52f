"""What every demo shares: its command-line arguments and how it saves a figure.

A demo is run as ``python demos/NAME.py [--quick] [--out DIR]``; Python then puts demos/
on the import path, so ``import _demo`` finds this file.
"""

import argparse
from pathlib import Path


def arguments(doc, argv=None, add=None):
    """Parse ``--out`` (PNG folder, created) and ``--quick`` (small sizes), plus what ``add(parser)``
    declares; returns (args, out_dir)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", default="demos/out", help="folder for the PNG figures")
    parser.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    if add is not None:
        add(parser)
    args = parser.parse_args(argv)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    return args, out_dir


def save_figure(fig, out_dir, name, dpi=120):
    """Lay out, write ``out_dir/name`` and close the figure; returns the path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(out_dir) / name
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
