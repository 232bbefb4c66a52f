"""Training runs on disk: ``run`` starts one in a fresh run folder, ``resume`` continues one.

A run folder holds config.json (the resolved config and the backend), metrics.jsonl (one
line per logging step), metrics.json (final figures), checkpoints/step_N.npz,
snapshots.npz and the PNG figures. Resuming from step N's checkpoint continues exactly as
the uninterrupted run would have.

Toy runs: samples.png (samples over the data, D's surface), snapshots.png, losses.png.
Image runs: samples.png (a 10 x 10 grid of fixed latents; one class or code per row for the
conditional games), snapshots.png (one row per training step), interpolation.png (a walk
between fixed latents, seed 001), the game's own figures (``Game.figures``: InfoGAN's
traversals, BiGAN's reconstructions, the AAE's codes), losses.png and metrics.png (FID and
class figures of the fixed latents over training). Their final figures (``metrics.json``)
come from ``scratchgan.metrics.images``: ``fid``, ``inception_score``, ``kid``, class
balance, and the game's own (``Game.evaluation_figures``, ``Game.final_figures``: class
accuracy, code purity, reconstruction error, probe accuracy).
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
import warnings
from dataclasses import asdict

import numpy
from tqdm import tqdm

from scratchgan import backend, random, viz
from scratchgan.autograd.tensor import Tensor
from scratchgan.gan import models
from scratchgan.gan.games.base import GRID_COLUMNS
from scratchgan.gan.trainer import TrainConfig, Trainer
from scratchgan.metrics import sample_quality
from scratchgan.metrics import toy as toy_metrics
from scratchgan.runs import RunFolder, RunFolderError, RunFolderWarning, load_checkpoint, strict_json

SNAPSHOTS = 6
LOG2 = 0.6931471805599453
# loss values where D(x) = 1/2 everywhere: the equilibrium p_g = p_data (seed 000, 'Nash Equilibrium')
EQUILIBRIUM_LOSSES = {
    "nonsaturating": {"D at equilibrium: 2 log 2": 2 * LOG2, "G at equilibrium: log 2": LOG2},
    "minimax": {"D at equilibrium: 2 log 2": 2 * LOG2, "G at equilibrium: -log 2": -LOG2},
}
GRID = GRID_COLUMNS * GRID_COLUMNS  # fixed latents shown in samples.png (10 x 10)
INTERPOLATION_ROWS, INTERPOLATION_STEPS = 8, 10


class NonFiniteError(RuntimeError):
    """Training produced a NaN or an infinity (``TrainConfig.on_nonfinite="stop"``)."""


class Interrupted(Exception):
    """Ctrl-C (or SIGTERM) stopped a run between two steps, after a checkpoint of the last one."""

    def __init__(self, step, folder, signal_number):
        super().__init__(f"interrupted at step {step}; continue with: scratchgan resume {folder}")
        self.step, self.signal_number = step, signal_number


def run(config: TrainConfig, out_dir=None, overwrite=False, progress=True, dataset=None) -> dict:
    """Train ``config`` from scratch into ``out_dir`` (None: a fresh ``runs/train-<time>``); returns
    the final metrics. The config, the data and the models are checked and built before the folder
    is touched: an error leaves an existing folder as it was. ``out_dir`` is the folder used."""
    trainer = Trainer(config, dataset=dataset)
    with RunFolder.create(out_dir, overwrite=overwrite) as folder:
        folder.write_json("config.json", {**asdict(trainer.config), "backend": backend.get_backend()})
        return _train(trainer, folder, progress, seconds_before=0.0)


def resume(out_dir, steps=None, progress=True) -> dict:
    """Continue the run in ``out_dir`` from its newest usable checkpoint to ``steps`` (default:
    the config's). A run whose training ended but whose evaluation did not (a kill after the
    last checkpoint) gets its evaluation and figures."""
    with RunFolder.open_existing(out_dir) as folder:
        config = _saved_config(folder)
        if steps is not None and int(steps) != config.steps:
            if config.lr_schedule != "constant":
                raise ValueError(
                    f"this run's {config.lr_schedule} learning-rate schedule ends at step {config.steps}; "
                    f"extending it would change the schedule it was trained with (start a new run, or "
                    f"train with --lr-schedule constant to extend runs later)"
                )
            config.steps = int(steps)
            config.validate()
        trainer = Trainer(config)
        _load_newest_checkpoint(trainer, folder)
        if trainer.step_count >= config.steps and _finished(folder, trainer.step_count):
            raise ValueError(f"{out_dir} is already at step {trainer.step_count} of {config.steps}; "
                             f"pass --steps to train further")
        # only now that a checkpoint loaded: a failed resume leaves the folder as it was
        folder.write_json("config.json", {**asdict(trainer.config), "backend": backend.get_backend()})
        folder.truncate_metrics_log(trainer.step_count)
        return _train(trainer, folder, progress, seconds_before=_seconds_so_far(folder))


def _saved_config(folder) -> TrainConfig:
    values = folder.read_json("config.json")
    values.pop("backend", None)
    try:
        config = TrainConfig.from_dict(values).resolved()
        config.validate()
    except (ValueError, TypeError) as error:
        raise ValueError(f"{folder.path / 'config.json'}: {error}") from None
    return config


def _load_newest_checkpoint(trainer, folder):
    """Load the newest checkpoint that reads and fits the trainer; a newer one that does not is
    passed over with a warning naming it and why. None usable: one error listing them."""
    problems = []
    for step, path in folder.checkpoints():
        try:
            trainer.load_state_arrays(load_checkpoint(path))  # checked whole first, then loaded
            if trainer.step_count != step:  # an older checkpoint, if any, is loaded over it next
                raise ValueError(f"it holds step {trainer.step_count}, not {step}")
        except (RunFolderError, ValueError) as error:
            problems.append(f"{path.name}: {str(error).removeprefix(f'checkpoint {path} ')}")
            continue
        if problems:
            warnings.warn(f"resuming from {path.name}, the newest usable checkpoint; passed over: "
                          + "; ".join(problems), RunFolderWarning, stacklevel=2)
        return
    if not problems:  # stopped before its first checkpoint: the config alone rebuilds step 0 exactly
        warnings.warn(f"{folder.path} has no checkpoint yet; training from step 0", RunFolderWarning, stacklevel=2)
        return
    more = f" (and {len(problems) - 1} older)" if len(problems) > 1 else ""
    raise RunFolderError(f"{folder.path} has no usable checkpoint: {problems[0]}{more}")


def _finished(folder, step) -> bool:
    """Whether the run's evaluation ended at ``step``: metrics.json is written last, after the figures."""
    try:
        return folder.read_json("metrics.json").get("steps") == step
    except RunFolderError:
        return False


def _seconds_so_far(folder) -> float:
    """Training seconds of the run's earlier processes, as recorded with the last checkpoint
    written (progress.json); 0 for a run without one."""
    try:
        progress = folder.read_json("progress.json")
        seconds = float(progress.get("seconds", 0.0))
    except (RunFolderError, TypeError, ValueError):
        return 0.0
    return seconds if math.isfinite(seconds) and seconds >= 0 else 0.0


def _snapshot_steps(total):
    return sorted({max(1, round(total * i / (SNAPSHOTS - 1))) for i in range(SNAPSHOTS)})


def _train(trainer, folder, progress, seconds_before) -> dict:
    compile_seconds = backend.warm_up(trainer.dtype)  # JIT kernels: compile before the first step
    if compile_seconds > 2.0 and progress:
        print(f"compiled the {backend.get_backend()} kernels in {compile_seconds:.1f} s (once per machine)",
              flush=True)
    if not trainer.game.small_gemms:  # convolution GEMMs gain from every core
        return _train_loop(trainer, folder, progress, seconds_before)
    with backend.blas_threads(1):  # MLP-sized GEMMs: one thread is fastest (backend.blas_threads)
        return _train_loop(trainer, folder, progress, seconds_before)


def _train_loop(trainer, folder, progress, seconds_before) -> dict:
    config = trainer.config
    snapshot_steps = set(_snapshot_steps(config.steps))
    snapshots = folder.load_snapshots(up_to_step=trainer.step_count)
    started = time.perf_counter()
    label = config.data if trainer.family == "toy" else f"{config.model} on {config.data}"
    bar = tqdm(range(trainer.step_count + 1, config.steps + 1), desc=f"{config.loss} {label}",
               disable=not progress, leave=False, initial=trainer.step_count, total=config.steps)
    with _stop_requests() as stop:
        for step in bar:
            logs = trainer.step()
            _check_finite(trainer, folder, logs)
            if step % config.log_every == 0 or step == config.steps:
                logs = {key: value if isinstance(value, (int, float)) else float(value)  # GPU: read back here only
                        for key, value in logs.items()}
                _check_finite(trainer, folder, logs)
                with _training_stream_kept():
                    record = {**logs, **_quick_metrics(trainer, with_fid=step in snapshot_steps)}
                folder.log_metrics(record)
                bar.set_postfix(d=f"{logs['d_loss']:.3f}", g=f"{logs['g_loss']:.3f}")
            if step in snapshot_steps:
                with _training_stream_kept():
                    snapshots[step] = _snapshot(trainer)
                folder.save_snapshots(snapshots)
            if step % config.checkpoint_every == 0 or step == config.steps or stop.signal_number:
                _checkpoint(trainer, folder, seconds_before + time.perf_counter() - started)
            if stop.signal_number:
                bar.close()
                raise Interrupted(step, folder.path, stop.signal_number)
    return _evaluate(trainer, folder, snapshots, seconds_before + time.perf_counter() - started)


def _checkpoint(trainer, folder, seconds):
    """The checkpoint of the current step (never of non-finite parameters, unless asked), then
    progress.json with the training seconds up to it."""
    if trainer.config.on_nonfinite == "stop":
        broken = trainer.nonfinite_parameters()
        if broken:
            _stop_nonfinite(trainer, folder, f"parameters {', '.join(broken[:3])} hold NaN or infinite values")
    folder.save_checkpoint(trainer.step_count, trainer.state_arrays())
    folder.write_json("progress.json", {"step": trainer.step_count, "seconds": round(seconds, 3)})


def _evaluate(trainer, folder, snapshots, seconds) -> dict:
    """Final metrics and figures; metrics.json last, so that its presence says the run is complete."""
    with _training_stream_kept():
        metrics = _final_metrics(trainer, seconds)
        _figures(trainer, folder, snapshots)
    # a null in the log is a value that was NaN or infinite when logged (RunFolder.log_metrics)
    nonfinite = (sum(value is None for record in folder.read_metrics_log() for value in record.values())
                 + strict_json(metrics)[1])
    if nonfinite:
        metrics["nonfinite_values"] = nonfinite  # written as null in metrics.jsonl / metrics.json
    folder.write_json("metrics.json", metrics)
    return metrics


def _check_finite(trainer, folder, logs):
    """Stop at the first NaN or infinite loss (``on_nonfinite="stop"``). Only host floats are
    read: on the GPU the losses are checked when read back, at the logging interval."""
    if trainer.config.on_nonfinite != "stop":
        return
    broken = [f"{key} = {value}" for key, value in logs.items()
              if isinstance(value, float) and not math.isfinite(value)]
    if broken:
        _stop_nonfinite(trainer, folder, ", ".join(broken))


def _stop_nonfinite(trainer, folder, what):
    found = folder.checkpoints()
    kept = (f"the last finite checkpoint is {found[0][1].relative_to(folder.path)}" if found
            else "no checkpoint was written")
    raise NonFiniteError(f"training diverged at step {trainer.step_count}: {what}; {kept}. Lower the learning "
                         f"rates (--lr-g, --lr-d), or pass --on-nonfinite continue to train on regardless")


class _StopRequest:
    signal_number = 0


@contextlib.contextmanager
def _stop_requests():
    """Ctrl-C and SIGTERM, between ``with`` and its end, ask the loop to stop after the current
    step (a step cut in half could not be resumed exactly); a second Ctrl-C stops at once.
    Signal handlers belong to the main thread: elsewhere (a Dask worker's thread) nothing changes."""
    request = _StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def ask_to_stop(number, _frame):
        if request.signal_number == signal.SIGINT and number == signal.SIGINT:
            raise KeyboardInterrupt
        request.signal_number = number

    previous = {number: signal.signal(number, ask_to_stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def _training_stream_kept():
    """Evaluation leaves the global generator as it found it: whatever it draws (a metric's
    classifier initialises its layers when first loaded, once per process) is undone, so a run
    resumed in a fresh process continues exactly as the uninterrupted one."""
    state = random.get_state()
    try:
        yield
    finally:
        random.set_state(state)


def _fixed_samples(trainer, count=None):
    return trainer.sample(latents=trainer.fixed_latents[:count] if count else trainer.fixed_latents,
                          condition=None if trainer.fixed_condition is None else trainer.fixed_condition[:count])


def _snapshot(trainer):
    if trainer.family == "toy":
        return trainer.sample(latents=trainer.fixed_latents)
    return _fixed_samples(trainer, GRID).astype(numpy.float32)  # (100, C, H, W): the grid only


# -- metrics ------------------------------------------------------------------------------------
def _quick_metrics(trainer, with_fid=True):
    """Figures of the fixed latents at a logging step (no draw from the global generator):
    toy: mode statistics; images: class figures of the first min(500, eval_samples) fixed
    samples, and at the snapshot steps (``with_fid``) the classifier's FID of them ("fid_fixed":
    biased upwards by their small number, a trend to compare along one run, not with ``fid``;
    only six times a run, as its matrix square root takes a second or two)."""
    if trainer.family == "image":
        count = min(len(trainer.fixed_latents), trainer.config.eval_samples)
        condition = None if trainer.fixed_condition is None else trainer.fixed_condition[:count]
        return _image_figures(trainer, _fixed_samples(trainer, count), condition, quick=True, with_fid=with_fid)
    dataset = trainer.dataset
    if dataset.modes is None:
        return {}
    stats = toy_metrics.mode_statistics(trainer.sample(latents=trainer.fixed_latents), dataset.modes,
                                        dataset.mode_std)
    return {"modes_covered": stats["modes_covered"], "high_quality_fraction": stats["high_quality_fraction"]}


def _final_metrics(trainer, seconds):
    config = trainer.config
    evaluation = numpy.random.default_rng(config.seed + 2)  # separate stream: resuming stays exact
    latents = Tensor(trainer.game.draw_latents(config.eval_samples, evaluation).astype(trainer.dtype))
    if trainer.family == "image":
        condition = trainer.draw_condition(config.eval_samples, evaluation)
        samples = trainer.sample(latents=latents, condition=condition)
        metrics = _image_figures(trainer, samples, condition, quick=False, generator=evaluation)
    else:
        samples = trainer.sample(latents=latents)
        reference = trainer.dataset.sample(config.eval_samples, evaluation)
        metrics = toy_metrics.toy_metrics(samples, trainer.dataset, reference=reference)
        finite = samples[numpy.isfinite(samples).all(axis=1)]
        if len(finite) > sample_quality.NEAREST_K:  # precision, recall, density, coverage on the raw samples
            metrics.update(sample_quality.sample_quality(reference, finite))
    metrics.update(trainer.game.final_figures(trainer, evaluation))
    metrics.update({"steps": trainer.step_count, "seconds": round(seconds, 3),
                    "backend": backend.get_backend()})
    return metrics


def _real_reference(trainer, count, generator):
    """Real images to compare with, or None for the bundled MNIST digits (whose classifier
    statistics ``classifier_fid`` caches)."""
    config = trainer.config
    if config.data == "mnist" and config.data_dir is None:
        return None
    generator = generator or numpy.random.default_rng(config.seed + 3)
    return trainer.dataset.sample(min(count, len(trainer.dataset)), generator)


def _image_figures(trainer, samples, condition, quick, generator=None, with_fid=True) -> dict:
    """fid, inception_score and class figures of generated images (``scratchgan.metrics.images``);
    the full dictionaries under "details" for the final metrics."""
    from scratchgan.metrics import images as image_metrics

    finite = numpy.isfinite(samples.reshape(len(samples), -1)).all(axis=1)
    figures = {"finite_fraction": float(finite.mean())}
    if finite.sum() < 2:  # a diverged generator: nothing to measure
        return figures
    samples = samples[finite]
    condition = None if condition is None else condition[finite]
    real = _real_reference(trainer, len(samples), generator) if with_fid or not quick else None
    if with_fid:
        figures["fid_fixed" if quick else "fid"] = image_metrics.classifier_fid(samples, real)
    balance = image_metrics.class_balance(samples)
    details = {"class_balance": balance}
    figures.update({"classes_covered": balance["classes_covered"],
                    "class_kl_from_uniform": balance["kl_from_uniform"]})
    if not quick:
        figures["inception_score"] = image_metrics.classifier_inception_score(samples)
        if len(samples) > sample_quality.NEAREST_K:
            kid = image_metrics.classifier_kid(samples, real)
            figures.update({"kid": kid["kid"], "kid_std": kid["kid_std"],
                            **image_metrics.classifier_sample_quality(samples, real)})
    game_figures, game_details = trainer.game.evaluation_figures(samples, condition, quick)
    figures.update(game_figures)
    details.update(game_details)
    if not quick:
        figures["details"] = details
    return figures


# -- figures ------------------------------------------------------------------------------------
def _figures(trainer, folder, snapshots):
    if trainer.family == "image":
        _image_figures_png(trainer, folder, snapshots)
    else:
        _toy_figures(trainer, folder, snapshots)
    _loss_figure(trainer, folder)


def _toy_figures(trainer, folder, snapshots):
    config = trainer.config
    real = trainer.dataset.sample(2000, numpy.random.default_rng(config.seed + 3))
    fake = trainer.sample(latents=trainer.fixed_latents)
    viz.plot_toy_samples(folder.path / "samples.png", real, fake, trainer.discriminator_values,
                         title=f"{config.loss} on {config.data}, step {trainer.step_count}",
                         output_kind=trainer.loss.output_kind, modes=trainer.dataset.modes)
    if snapshots:
        ordered = sorted(snapshots.items())
        viz.plot_snapshots(folder.path / "snapshots.png", ordered, real,
                           title=f"{config.loss} on {config.data}: fixed latents over training",
                           modes=trainer.dataset.modes)


def _loss_figure(trainer, folder):
    config = trainer.config
    records = folder.read_metrics_log()
    if not records:
        return
    steps = [r["step"] for r in records]
    names = trainer.game.loss_curves
    curves = {label: [r.get(key) for r in records] for key, label in names.items()
              if all(key in r for r in records)}
    title = f"{config.loss} losses"
    if trainer.family == "image":
        title = f"{config.model} on {config.data}: {title}"
    viz.plot_curves(folder.path / "losses.png", steps, curves, title, log_y=False,
                    references=None if config.label_smoothing != 1.0 or config.label_flip
                    else EQUILIBRIUM_LOSSES.get(config.loss))  # d_loss excludes the penalty and aux terms
    if trainer.family == "image":
        metric_curves = {key: [r.get(key) for r in records] for key in trainer.game.metric_curves}
        count = min(len(trainer.fixed_latents), config.eval_samples)
        viz.plot_metric_curves(folder.path / "metrics.png", steps, metric_curves,
                               f"{config.model} on {config.data}: {count} fixed latents over training",
                               log_names=("fid_fixed",))


def _image_figures_png(trainer, folder, snapshots):
    config, path = trainer.config, folder.path
    what = f"{config.model} ({config.loss}) on {config.data}"
    viz.plot_image_grid(path / "samples.png", _fixed_samples(trainer, GRID), GRID_COLUMNS, GRID_COLUMNS,
                        f"{what}, step {trainer.step_count}", row_labels=trainer.game.row_labels())
    if snapshots:
        columns = numpy.arange(GRID_COLUMNS) * GRID_COLUMNS  # one sample of each class / code
        ordered = [(step, images[columns[columns < len(images)]]) for step, images in sorted(snapshots.items())]
        viz.plot_image_snapshots(path / "snapshots.png", ordered, f"{what}: fixed latents over training")
    _interpolation_png(trainer, path / "interpolation.png", what)
    trainer.game.figures(trainer, path)


def _interpolation_png(trainer, path, what):
    """Rows: spherical walks between two fixed latents (seed 001 'A Journey in Latent Space'),
    the label (or categorical code) fixed along each row."""
    config = trainer.config
    ends = numpy.random.default_rng(config.seed + 5).standard_normal((2, INTERPOLATION_ROWS, config.latent_dim))
    path_points = models.interpolate_latents(ends[0], ends[1], INTERPOLATION_STEPS)  # (steps, rows, D)
    latents = path_points.transpose(1, 0, 2).reshape(-1, config.latent_dim)  # row by row
    rows = numpy.repeat(numpy.arange(INTERPOLATION_ROWS), INTERPOLATION_STEPS)
    condition = trainer.game.interpolation_condition(rows)
    images = trainer.sample(latents=Tensor(latents.astype(trainer.dtype)), condition=condition)
    labels = trainer.game.row_labels()
    viz.plot_image_grid(path, images, INTERPOLATION_ROWS, INTERPOLATION_STEPS,
                        f"{what}: spherical interpolation between fixed latents",
                        row_labels=labels[:INTERPOLATION_ROWS] if labels else None)


def written_files(folder_path) -> list[str]:
    """The names of a run folder's files and folders (not the hidden marker and lock), for the
    CLI's summary line."""
    from pathlib import Path

    return sorted(p.name + ("/" if p.is_dir() else "") for p in Path(folder_path).iterdir()
                  if not p.name.startswith("."))
