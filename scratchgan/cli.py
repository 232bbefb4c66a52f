"""The ``scratchgan`` command: ``train`` (the main job), ``resume``, ``study``, ``list``, ``info``."""

from __future__ import annotations

import argparse
import errno
import os
import sys
import typing
import warnings
from pathlib import Path
from dataclasses import fields

from scratchgan import backend

HELP = {
    "data": "dataset (scratchgan list): image data train image models, toy data the MLP GAN",
    "data_dir": "directory with the full MNIST / Fashion-MNIST files (IDX or npz), or an .npz file",
    "model": "GAN family (scratchgan list): mlp | dcgan | cgan | acgan | infogan | bigan | ali | aae",
    "loss": "adversarial loss (scratchgan list)",
    "penalty": "penalty or constraint on D (scratchgan list)",
    "penalty_weight": "lambda in front of the penalty (default: 10 for gradient_penalty, max_gradient_penalty "
                      "and dragan, 0.1 for r1 and r2, 1 for wgan_div, 0.3 for lecam)",
    "clip_value": "WGAN weight clipping bound c",
    "steps": "generator updates",
    "batch_size": "samples per batch (real and fake each)",
    "latent_dim": "dimension of z ~ N(0, I)",
    "hidden": "width of the MLP layers",
    "depth": "hidden layers in G and D",
    "width": "base channels of the convolutional models (DCGAN's ngf = ndf)",
    "fc_hidden": "a fully connected layer of this width after z in G and before the logit in D (InfoGAN's "
                 "MNIST networks; 1024 for infogan; 0 = none)",
    "d_batch_norm": "batch norm in D's hidden conv layers (default: on, off under a gradient penalty)",
    "aux_weight": "AC-GAN: weight of the auxiliary classification loss",
    "info_weight": "InfoGAN: lambda in front of the mutual-information bound",
    "categorical_codes": "InfoGAN: values of the categorical code",
    "continuous_codes": "InfoGAN: continuous codes ~ U(-1, 1)",
    "prior": "AAE: the prior of the codes, gaussian | mixture (10 Gaussians on a circle)",
    "code_dim": "width of the autoencoder's code in EBGAN's discriminator (ebgan)",
    "pt_weight": "weight of EBGAN's pulling-away term on the codes of G's samples (ebgan; 0 = off)",
    "optimizer": "adam | rmsprop | sgd | nesterov (SGD with Nesterov momentum), for every player",
    "optimizer_g": "the generator side's optimizer (default: --optimizer)",
    "optimizer_d": "the discriminator's optimizer (default: --optimizer)",
    "lr_g": "generator learning rate",
    "lr_d": "discriminator learning rate (TTUR when it differs from --lr-g)",
    "beta1": "Adam beta1 (SGD momentum)",
    "beta2": "Adam beta2",
    "lr_schedule": "constant | linear (decay to 0 over the run)",
    "d_steps": "discriminator updates per step",
    "d_steps_schedule": "constant (d_steps every step) or wgan_warmup (Arjovsky et al.'s critic schedule: "
                        "100 updates in the first 25 steps and every 500th)",
    "g_steps": "generator updates per step, after the discriminator's",
    "label_smoothing": "one-sided label smoothing: D's target for real data (1 = off, e.g. 0.9)",
    "label_flip": "probability of flipping each of D's labels",
    "replay_size": "historical generated batches: pool size (0 = off)",
    "feature_matching_layer": "feature matching on the output of D's first N modules (0 = off)",
    "instance_noise": "instance noise std at step 0 (0 = off)",
    "instance_noise_steps": "steps over which instance noise anneals to 0",
    "separate_batches": "D sees real-only and fake-only batches",
    "minibatch_std": "minibatch standard-deviation feature in D",
    "minibatch_discrimination": "minibatch discrimination kernels in D (0 = off)",
    "pack": "PacGAN: D sees packs of this many samples (1 = off; mlp, dcgan)",
    "historical_averaging": "weight of ||theta - mean of past theta||^2 in each player's loss (0 = off)",
    "virtual_batch_norm": "virtual batch norm in G: statistics of a fixed reference batch (dcgan)",
    "ema": "EMA decay of the generator's weights, which then make the samples (0 = off)",
    "unrolled": "unrolled GAN: differentiable D steps in G's loss (0 = off)",
    "unrolled_lr": "step size of the unrolled D updates (unrolled_update sgd)",
    "unrolled_update": "sgd (plain steps of unrolled_lr) | optimizer (D's own optimizer from its state, as "
                       "Metz et al.)",
    "mlp_activation": "default (ReLU in G, LeakyReLU(0.2) in D) | tanh (both; Metz et al.'s toy networks); "
                      "toy mlp only",
    "seed": "random seed (runs are deterministic for a seed)",
    "dtype": "float32 | float64",
    "log_every": "steps between metrics.jsonl lines",
    "checkpoint_every": "steps between checkpoints",
    "eval_samples": "generated samples for the final metrics",
    "on_nonfinite": "stop | continue: on a NaN or infinite loss or parameter, stop (keeping the last finite "
                    "checkpoint, exit 3) or train on",
}
EXIT_ERROR, EXIT_DIVERGED = 2, 3
EXIT_SIGNAL = {2: 130, 15: 143}  # the shell's 128 + signal number, for SIGINT and SIGTERM


def _field_type(name):
    """The type of a TrainConfig field, without its None (``int | None`` -> int)."""
    from scratchgan.gan.trainer import TrainConfig

    hint = typing.get_type_hints(TrainConfig)[name]
    options = [option for option in typing.get_args(hint) if option is not type(None)] or [hint]
    return options[0]


def _default_text(name, default):
    from scratchgan.gan.config import FAMILY_DEFAULTS
    from scratchgan.gan.trainer import MAIN_JOB_DEFAULTS

    if default is not None:
        return f" (default: {default})"
    if name in FAMILY_DEFAULTS["toy"]:
        main = f"{MAIN_JOB_DEFAULTS[name]} for dcgan on mnist (the main job), " if name in MAIN_JOB_DEFAULTS else ""
        return (f" (default: {main}{FAMILY_DEFAULTS['image'][name]} for other image runs, "
                f"{FAMILY_DEFAULTS['toy'][name]} for toy data)")
    return ""


# the dict settings and their repeatable KEY=VALUE flags
PARAM_FLAGS = {"loss_params": "--loss-param", "penalty_params": "--penalty-param"}


def _add_config_flags(parser):
    from scratchgan.gan.trainer import TrainConfig

    defaults = TrainConfig()
    for spec in fields(TrainConfig):
        if spec.name in PARAM_FLAGS:
            continue
        flag = "--" + spec.name.replace("_", "-")
        default = getattr(defaults, spec.name)
        kind = _field_type(spec.name)
        text = HELP[spec.name] + ("" if kind is bool else _default_text(spec.name, default))
        # SUPPRESS: a flag not given leaves no attribute, so a recipe's setting is kept
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=text)
        else:
            parser.add_argument(flag, type=kind, default=argparse.SUPPRESS, help=text)
    parser.add_argument("--loss-param", action="append", default=[], metavar="KEY=VALUE",
                        help="a loss parameter, e.g. --loss-param preset=pearson (repeatable)")
    parser.add_argument("--penalty-param", action="append", default=[], metavar="KEY=VALUE",
                        help="a penalty parameter, e.g. --penalty-param perturbation=authors_code "
                             "for dragan (repeatable)")
    parser.add_argument("--recipe", default=None, metavar="NAME",
                        help="start from a recipe's settings (scratchgan list; or a .toml recipe file); "
                             "the flags given override them")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scratchgan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a GAN (default: DCGAN, non-saturating loss, on the bundled "
                                              "MNIST digits)")
    _add_config_flags(train)
    train.add_argument("--backend", choices=backend.BACKENDS, default=None,
                       help="kernel set (default: $SCRATCHGAN_BACKEND, else the fastest available)")
    train.add_argument("--out", default=None, help="run folder (default: a new runs/train-<time>)")
    train.add_argument("--overwrite", action="store_true",
                       help="replace an existing run folder made by scratchgan (never a folder holding "
                            "other files)")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    resume = commands.add_parser("resume", help="continue a run from its latest checkpoint")
    resume.add_argument("run_dir")
    resume.add_argument("--steps", type=int, default=None, help="train to this many steps (default: the config's)")
    resume.add_argument("--backend", choices=backend.BACKENDS, default=None,
                        help="kernel set (default: $SCRATCHGAN_BACKEND, else the fastest available)")
    resume.add_argument("--no-progress", action="store_true")

    study = commands.add_parser(
        "study", help="many trainings (methods x settings x seeds) on Dask: one table, box and budget figures",
        description="Run a study: the tasks of SPEC (a TOML file; see docs/studies.md) and/or --grid, each an "
                    "ordinary run folder under the study folder, on a local Dask cluster (one single-threaded "
                    "worker per core) or an existing one (--scheduler). Running it again skips finished tasks "
                    "and resumes stopped ones.")
    study.add_argument("spec", nargs="?", default=None, help="study spec (TOML)")
    study.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                       help="a setting and its values, crossed with the spec's grid (repeatable)")
    study.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="a setting shared by every task (repeatable)")
    study.add_argument("--seeds", default=None, metavar="0,1,2", help="seeds of every setting (default: the spec's, "
                                                                       "else 0)")
    study.add_argument("--out", default=None, help="study folder (default: studies/<spec name>)")
    study.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                       help="an existing Dask scheduler (its workers must see the study folder at the same path)")
    study.add_argument("--workers", type=int, default=None, help="local worker processes (default: one per core)")
    study.add_argument("--retry-failed", action="store_true", help="run the failed tasks again")
    study.add_argument("--backend", choices=("numpy", "numba"), default=None,
                       help="kernel set of every task (default: the fastest available)")
    study.add_argument("--report", metavar="DIR", default=None,
                       help="only rebuild the table and figures of study folder DIR from its run folders")
    study.add_argument("--sort", metavar="METRIC", default=None,
                       help="order the summary by the median of this metric, best first (fid, kid, precision, ...)")
    study.add_argument("--no-progress", action="store_true", help="hide the progress bar")

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
    """The recipe's settings (if any), then every flag given on the command line."""
    from scratchgan.gan import recipes
    from scratchgan.gan.trainer import TrainConfig

    values = dict(recipes.get(args.recipe).config) if args.recipe else {}
    values.update({spec.name: getattr(args, spec.name) for spec in fields(TrainConfig)
                   if spec.name not in PARAM_FLAGS and hasattr(args, spec.name)})
    for name, flag in PARAM_FLAGS.items():
        items = getattr(args, flag.removeprefix("--").replace("-", "_"))
        if items:  # the flags replace the recipe's parameters as a whole
            values[name] = {}
        for item in items:
            if "=" not in item:
                raise ValueError(f"{flag} expects KEY=VALUE, got {item!r}")
            key, value = item.split("=", 1)
            values[name][key] = _parse_value(value)
    return TrainConfig.from_dict(values)


def _print_metrics(metrics, out):
    shown = {k: v for k, v in metrics.items()
             if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "steps"}
    summary = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items())
    print(f"done: {metrics['steps']} steps; {summary}")
    from scratchgan.gan.runner import written_files

    print(f"wrote {out}/: {' '.join(written_files(out))}")


def choose_backend(requested=None) -> str:
    """Set the kernel set and say why: ``--backend``, else $SCRATCHGAN_BACKEND, else the fastest
    available one. Returns the reason. A bad $SCRATCHGAN_ALLOCATOR, or a bad $SCRATCHGAN_BACKEND
    that no --backend overrides, is one ValueError."""
    if backend.allocator_problem():
        raise ValueError(backend.allocator_problem())
    if requested:
        backend.set_backend(requested)
        return "--backend"
    if os.environ.get("SCRATCHGAN_BACKEND"):
        try:
            backend.apply_environment_backend()
        except backend.BackendUnavailableError as error:
            raise ValueError(f"SCRATCHGAN_BACKEND: {error} (or pass --backend)") from None
        except ValueError as error:
            raise ValueError(f"SCRATCHGAN_BACKEND: {error} (or pass --backend)") from None
        return "SCRATCHGAN_BACKEND"
    backend.set_backend(backend.fastest())
    return "fastest available; --backend to choose"


def _describe_data(config, dataset) -> str:
    if config.family == "toy":
        return config.data
    _, height, width = dataset.image_shape
    source = "" if config.data_dir is None else f" from {config.data_dir}"
    return f"{config.data} ({len(dataset)} images {height}x{width}{source})"


def _train(args) -> int:
    from scratchgan import runs
    from scratchgan.gan import runner
    from scratchgan.gan.trainer import load_dataset

    reason = choose_backend(args.backend)
    if args.recipe:
        from scratchgan.gan import recipes

        recipe = recipes.get(args.recipe)
        print(f"scratchgan train: recipe {recipe.label}: {recipe.summary} ({recipe.paper})", flush=True)
    config = _config_from_args(args).resolved()
    config.validate()
    dataset = load_dataset(config)  # a data error is one line, before anything is written
    claimed = args.out is None
    out = args.out or str(runs.claim_default_folder())
    penalty = "" if config.penalty == "none" else f", penalty {config.penalty}"
    print(f"scratchgan train: backend {backend.get_backend()} ({reason}), model {config.model}, "
          f"loss {config.loss}{penalty}, data {_describe_data(config, dataset)}, {config.steps} steps -> {out}",
          flush=True)
    args.run_dir = out  # for the error messages that say how to continue
    try:
        metrics = runner.run(config, out, overwrite=args.overwrite, progress=not args.no_progress, dataset=dataset)
    except BaseException:
        if claimed:
            runs.remove_if_unused(out)
        raise
    _print_metrics(metrics, out)
    return 0


def _resume(args) -> int:
    from scratchgan.gan import runner

    reason = choose_backend(args.backend)
    print(f"scratchgan resume: backend {backend.get_backend()} ({reason}), run folder {args.run_dir}", flush=True)
    metrics = runner.resume(args.run_dir, steps=args.steps, progress=not args.no_progress)
    _print_metrics(metrics, args.run_dir)
    return 0


def _study(args) -> int:
    import re

    from scratchgan import study

    if args.report:
        _print_study(study.report(args.report), args.report, None, args.sort)
        return 0
    if args.spec is None and not args.grid:
        raise ValueError("give a study spec (a TOML file) or at least one --grid KEY=V1,V2")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    spec = study.load_spec(args.spec, grid=args.grid, base=args.set, seeds=args.seeds)
    out = args.out or str(Path("studies") / (re.sub(r"[^A-Za-z0-9._-]+", "-", spec.name).strip("-") or "study"))
    kernel_set = args.backend or backend.fastest()
    tasks = spec.tasks()

    def counted(count, noun):
        return f"{count} {noun}{'s' if count != 1 else ''}"

    workers = args.workers or os.cpu_count()
    where = args.scheduler or f"a local cluster of {counted(workers, 'worker')}"
    print(f"scratchgan study: {counted(len(tasks), 'run')} ({counted(len({t.method for t in tasks}), 'method')} x "
          f"{counted(len(spec.seeds), 'seed')}) on {where}, backend {kernel_set} -> {out}", flush=True)
    args.run_dir = out
    rows = study.run_study(spec, out, scheduler=args.scheduler, workers=args.workers, retry_failed=args.retry_failed,
                           kernel_set=kernel_set, progress=not args.no_progress)
    _print_study(rows, out, spec.metrics, args.sort)
    failed = [row for row in rows if row["status"] == "failed"]
    return EXIT_ERROR if failed else 0


def _print_study(rows, out, metrics, sort=None):
    from scratchgan import study
    from scratchgan.study.spec import higher_is_better

    metrics = metrics or [key for key in ("fid", "modes_covered", "high_quality_fraction") if any(key in r for r in rows)]
    if sort is not None:
        found = sorted({key for row in rows for key, value in row.items() if isinstance(value, (int, float))})
        if sort not in found:
            raise ValueError(f"--sort: no run has the metric {sort!r}; the table has: {', '.join(found)}")
        metrics = [sort] + [m for m in metrics if m != sort]
    lines = study.summary(rows, metrics)
    if sort is not None:
        sign = -1 if higher_is_better(sort) else 1
        lines.sort(key=lambda line: (line[sort] is None, sign * line[sort][0] if line[sort] else 0))
    for line in lines:
        figures = "; ".join(f"{m} median {v[0]:.4g} [{v[1]:.4g}, {v[2]:.4g}]" if v else f"{m} -"
                            for m, v in ((m, line[m]) for m in metrics))
        print(f"  {line['method']:<28} runs {line['runs']:<7} {figures}")
    for row in rows:
        if row["status"] == "failed":
            print(f"  failed: {row['task']}: {row['error']} (retry with --retry-failed)")
    print(f"wrote {out}/: results.csv results.parquet and figures")


def _list(_args) -> int:
    from scratchgan.data import images, toy
    from scratchgan.gan import games, losses, penalties, recipes, tricks

    print("models (--model; the data it trains on by default):")
    for name in games.names():
        game = games.get(name)
        print(f"  {name:<10}{game.description} [{game.default_data}]")
    column = 2 + max(len(name) for name in [*recipes.names(), *tricks.NAMES, *toy.names(), *images.names()])
    print("recipes (--recipe):")
    for name in recipes.names():
        print(f"  {name:<{column}}{recipes.get(name).summary}")
    print("losses:    " + ", ".join(losses.names()))
    print("penalties: " + ", ".join(penalties.NAMES))
    print("tricks:")
    for name, text in tricks.NAMES.items():
        print(f"  {name:<{column}}{text}")
    print("datasets:")
    for name in toy.names():
        print(f"  {name:<{column}}{toy.get(name).describe()}")
    for name in images.names():
        print(f"  {name:<{column}}{_describe_image_set(images, name)}")
    return 0


def _describe_image_set(images, name) -> str:
    try:
        return images.get(name).describe()
    except (ValueError, ImportError) as error:  # needs --data-dir, or an optional package
        return f"image data, needs --data-dir ({str(error).split(';')[0]})"


def _info(_args) -> int:
    import scratchgan

    print(f"scratchgan {scratchgan.__version__}")
    print(f"active backend: {backend.get_backend()}")
    print(f"available backends: {', '.join(backend.available_backends())}")
    allocator = backend.allocator()
    print(f"allocator: {allocator['policy']} ({allocator['reason']}; SCRATCHGAN_ALLOCATOR=system leaves malloc alone)")
    for problem in backend.environment_problems():
        print(f"environment: {problem}")
    return 0


def _how_to_continue(args) -> str:
    """What to run after a stop: resume, once the run folder has its config."""
    if (Path(args.run_dir) / "config.json").is_file():
        return f"continue with: scratchgan resume {args.run_dir}"
    return "run the same command again"


def main(argv=None) -> int:
    from scratchgan.gan.runner import Interrupted, NonFiniteError
    from scratchgan.runs import RunFolderWarning

    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"train": _train, "resume": _resume, "study": _study, "list": _list, "info": _info}
    say = f"scratchgan {args.command}"
    with warnings.catch_warnings():
        warnings.simplefilter("always", RunFolderWarning)
        show = warnings.showwarning

        def one_line(message, category, *rest, **options):  # a run folder's repairs: one line each
            if issubclass(category, RunFolderWarning):
                print(f"{say}: warning: {message}", file=sys.stderr)
            else:
                show(message, category, *rest, **options)

        warnings.showwarning = one_line
        try:
            return handlers[args.command](args)
        except BrokenPipeError:  # output piped into a command that stopped reading (head)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except Interrupted as stop:
            print(f"{say}: {stop}", file=sys.stderr)
            return EXIT_SIGNAL.get(stop.signal_number, 130)
        except KeyboardInterrupt:
            hint = f"; {_how_to_continue(args)}" if getattr(args, "run_dir", None) else ""
            print(f"{say}: interrupted{hint}", file=sys.stderr)
            return 130
        except NonFiniteError as error:
            print(f"{say}: error: {error}", file=sys.stderr)
            return EXIT_DIVERGED
        except (ValueError, RuntimeError, OSError, KeyError, ImportError, TypeError) as error:
            message = error.args[0] if isinstance(error, KeyError) and error.args else error
            if isinstance(error, OSError) and error.errno == errno.ENOSPC and getattr(args, "run_dir", None):
                message = f"{message}; once there is space, {_how_to_continue(args)}"
            print(f"{say}: error: {message}", file=sys.stderr)
            return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
