"""The ``scratchgan`` command: ``train`` (the main job), ``info``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from scratchgan import backend


def _default_out() -> str:
    return str(Path("runs") / time.strftime("train-%Y%m%d-%H%M%S"))


def build_parser() -> argparse.ArgumentParser:
    from scratchgan.fit import TARGETS, FitConfig

    defaults = FitConfig()
    parser = argparse.ArgumentParser(prog="scratchgan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser(
        "train", help="train the main job (for now: an MLP fitting a noisy 1-D function)")
    train.add_argument("--target", choices=sorted(TARGETS), default=defaults.target)
    train.add_argument("--steps", type=int, default=defaults.steps)
    train.add_argument("--batch-size", type=int, default=defaults.batch_size)
    train.add_argument("--hidden", type=int, default=defaults.hidden)
    train.add_argument("--lr", type=float, default=defaults.lr)
    train.add_argument("--noise", type=float, default=defaults.noise)
    train.add_argument("--seed", type=int, default=defaults.seed)
    train.add_argument("--dtype", choices=("float32", "float64"), default=defaults.dtype)
    train.add_argument("--log-every", type=int, default=defaults.log_every)
    train.add_argument("--backend", choices=backend.BACKENDS, default=None,
                       help="kernel set (default: numpy, the reference)")
    train.add_argument("--out", default=None, help="run folder (default: runs/train-<time>)")
    train.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    commands.add_parser("info", help="version and available backends")
    return parser


def _train(args) -> int:
    from scratchgan.fit import FitConfig, run_fit

    if args.backend:
        backend.set_backend(args.backend)
    config = FitConfig(target=args.target, steps=args.steps, batch_size=args.batch_size,
                       hidden=args.hidden, lr=args.lr, noise=args.noise, seed=args.seed,
                       dtype=args.dtype, log_every=args.log_every)
    out = args.out or _default_out()
    print(f"scratchgan train: backend {backend.get_backend()}, job fit ({config.target}), "
          f"{config.steps} steps, run folder {out}")
    metrics = run_fit(config, out, overwrite=args.overwrite, progress=not args.no_progress)
    print(f"done in {metrics['seconds']:.1f} s: train mse {metrics['train_mse']:.4f} "
          f"(noise variance {metrics['noise_variance']:.4f}), mse to the true function "
          f"{metrics['function_mse']:.4f}")
    print(f"wrote {out}/: config.json metrics.jsonl metrics.json checkpoints/ fit.png loss.png")
    return 0


def _info(_args) -> int:
    import scratchgan

    print(f"scratchgan {scratchgan.__version__}")
    print(f"active backend: {backend.get_backend()}")
    print(f"available backends: {', '.join(backend.available_backends())}")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"train": _train, "info": _info}
    try:
        return handlers[args.command](args)
    except (ValueError, RuntimeError, OSError) as error:
        print(f"scratchgan {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
