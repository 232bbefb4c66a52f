"""The ``scratchgan`` command: ``train`` (the main job), ``resume``, ``list``, ``info``."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import fields
from pathlib import Path

from scratchgan import backend

HELP = {
    "data": "dataset (scratchgan list)",
    "loss": "adversarial loss (scratchgan list)",
    "penalty": "penalty or constraint on D (scratchgan list)",
    "penalty_weight": "lambda in front of the penalty (default: 10 for gradient_penalty and dragan, 0.1 for r1 and r2)",
    "clip_value": "WGAN weight clipping bound c",
    "steps": "generator updates",
    "batch_size": "samples per batch (real and fake each)",
    "latent_dim": "dimension of z ~ N(0, I)",
    "hidden": "width of the MLP layers",
    "depth": "hidden layers in G and D",
    "optimizer": "adam | rmsprop | sgd",
    "lr_g": "generator learning rate",
    "lr_d": "discriminator learning rate (TTUR when it differs from --lr-g)",
    "beta1": "Adam beta1 (SGD momentum)",
    "beta2": "Adam beta2",
    "lr_schedule": "constant | linear (decay to 0 over the run)",
    "d_steps": "discriminator updates per generator update",
    "label_smoothing": "one-sided label smoothing: D's target for real data (1 = off, e.g. 0.9)",
    "label_flip": "probability of flipping each of D's labels",
    "replay_size": "historical generated batches: pool size (0 = off)",
    "feature_matching_layer": "feature matching on the output of D's first N modules (0 = off)",
    "instance_noise": "instance noise std at step 0 (0 = off)",
    "instance_noise_steps": "steps over which instance noise anneals to 0",
    "separate_batches": "D sees real-only and fake-only batches",
    "minibatch_std": "minibatch standard-deviation feature in D",
    "minibatch_discrimination": "minibatch discrimination kernels in D (0 = off)",
    "ema": "EMA decay of the generator's weights for sampling (0 = off)",
    "unrolled": "unrolled GAN: differentiable D steps in G's loss (0 = off)",
    "unrolled_lr": "step size of the unrolled D updates",
    "seed": "random seed (runs are deterministic for a seed)",
    "dtype": "float32 | float64",
    "log_every": "steps between metrics.jsonl lines",
    "checkpoint_every": "steps between checkpoints",
}


def _default_out() -> str:
    return str(Path("runs") / time.strftime("train-%Y%m%d-%H%M%S"))


def _add_config_flags(parser):
    from scratchgan.gan.trainer import TrainConfig

    defaults = TrainConfig()
    for spec in fields(TrainConfig):
        if spec.name == "loss_params":
            continue
        flag = "--" + spec.name.replace("_", "-")
        default = getattr(defaults, spec.name)
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default,
                                help=HELP[spec.name])
        elif default is None:
            parser.add_argument(flag, type=float, default=None, help=HELP[spec.name])
        else:
            parser.add_argument(flag, type=type(default), default=default,
                                help=f"{HELP[spec.name]} (default: {default})")
    parser.add_argument("--loss-param", action="append", default=[], metavar="KEY=VALUE",
                        help="a loss parameter, e.g. --loss-param preset=pearson (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scratchgan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a GAN (default: non-saturating GAN on the 8-Gaussian ring)")
    _add_config_flags(train)
    train.add_argument("--backend", choices=backend.BACKENDS, default=None, help="kernel set (default: numpy)")
    train.add_argument("--out", default=None, help="run folder (default: runs/train-<time>)")
    train.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    resume = commands.add_parser("resume", help="continue a run from its latest checkpoint")
    resume.add_argument("run_dir")
    resume.add_argument("--steps", type=int, default=None, help="train to this many steps (default: the config's)")
    resume.add_argument("--no-progress", action="store_true")

    commands.add_parser("list", help="losses, penalties, tricks and datasets")
    commands.add_parser("info", help="version and available backends")
    return parser


def _parse_value(text):
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return {"true": True, "false": False}.get(text.lower(), text)


def _config_from_args(args):
    from scratchgan.gan.trainer import TrainConfig

    values = {spec.name: getattr(args, spec.name) for spec in fields(TrainConfig) if spec.name != "loss_params"}
    loss_params = {}
    for item in args.loss_param:
        if "=" not in item:
            raise ValueError(f"--loss-param expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        loss_params[key] = _parse_value(value)
    return TrainConfig(loss_params=loss_params, **values)


def _print_metrics(metrics, out):
    shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and k != "steps"}
    summary = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items())
    print(f"done: {metrics['steps']} steps; {summary}")
    print(f"wrote {out}/: config.json metrics.jsonl metrics.json checkpoints/ samples.png losses.png snapshots.png")


def _train(args) -> int:
    from scratchgan.gan import runner

    if args.backend:
        backend.set_backend(args.backend)
    config = _config_from_args(args)
    config.validate()
    out = args.out or _default_out()
    print(f"scratchgan train: backend {backend.get_backend()}, {config.loss} loss, penalty {config.penalty}, "
          f"data {config.data}, {config.steps} steps, run folder {out}")
    metrics = runner.run(config, out, overwrite=args.overwrite, progress=not args.no_progress)
    _print_metrics(metrics, out)
    return 0


def _resume(args) -> int:
    from scratchgan.gan import runner

    print(f"scratchgan resume: backend {backend.get_backend()}, run folder {args.run_dir}")
    metrics = runner.resume(args.run_dir, steps=args.steps, progress=not args.no_progress)
    _print_metrics(metrics, args.run_dir)
    return 0


def _list(_args) -> int:
    from scratchgan.data import toy
    from scratchgan.gan import losses, penalties, tricks

    print("losses:    " + ", ".join(losses.names()))
    print("penalties: " + ", ".join(penalties.NAMES))
    print("tricks:")
    for name, text in tricks.NAMES.items():
        print(f"  {name:<26}{text}")
    print("datasets:")
    for name in toy.names():
        print(f"  {name:<26}{toy.get(name).describe()}")
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
    handlers = {"train": _train, "resume": _resume, "list": _list, "info": _info}
    try:
        return handlers[args.command](args)
    except BrokenPipeError:  # output piped into a command that stopped reading (head)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, RuntimeError, OSError, KeyError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"scratchgan {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
