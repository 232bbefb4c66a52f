"""Training runs on disk: ``run`` starts one in a fresh run folder, ``resume`` continues one.

A run folder holds config.json, metrics.jsonl (one line per logging step), metrics.json
(final figures), checkpoints/step_N.npz, snapshots.npz and the PNG figures. Resuming
from step N's checkpoint continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy
from tqdm import tqdm

from scratchgan import backend, viz
from scratchgan.autograd.tensor import Tensor
from scratchgan.gan.trainer import TrainConfig, Trainer
from scratchgan.metrics import toy as toy_metrics
from scratchgan.runs import RunFolder, load_checkpoint

SNAPSHOTS = 6
LOG2 = 0.6931471805599453
# loss values where D(x) = 1/2 everywhere: the equilibrium p_g = p_data (seed 000, 'Nash Equilibrium')
EQUILIBRIUM_LOSSES = {
    "nonsaturating": {"D at equilibrium: 2 log 2": 2 * LOG2, "G at equilibrium: log 2": LOG2},
    "minimax": {"D at equilibrium: 2 log 2": 2 * LOG2, "G at equilibrium: -log 2": -LOG2},
}
EVAL_SAMPLES = 5000


def run(config: TrainConfig, out_dir, overwrite=False, progress=True) -> dict:
    """Train ``config`` from scratch into ``out_dir``; returns the final metrics."""
    config.validate()
    folder = RunFolder(out_dir, overwrite=overwrite)
    folder.write_json("config.json", {**asdict(config), "backend": backend.get_backend()})
    trainer = Trainer(config)
    return _train(trainer, folder, progress, seconds_before=0.0)


def resume(out_dir, steps=None, progress=True) -> dict:
    """Continue the run in ``out_dir`` from its latest checkpoint, to ``steps`` (default: the config's)."""
    folder = RunFolder.open_existing(out_dir)
    values = folder.read_json("config.json")
    values.pop("backend", None)
    config = TrainConfig.from_dict(values)
    if steps is not None and int(steps) != config.steps:
        if config.lr_schedule != "constant":
            raise ValueError(
                f"this run's {config.lr_schedule} learning-rate schedule ends at step {config.steps}; "
                f"extending it would change the schedule it was trained with (start a new run, or "
                f"train with --lr-schedule constant to extend runs later)"
            )
        config.steps = int(steps)
    trainer = Trainer(config)
    trainer.load_state_arrays(load_checkpoint(folder.latest_checkpoint()))
    if trainer.step_count >= config.steps:
        raise ValueError(f"{out_dir} is already at step {trainer.step_count} of {config.steps}; "
                         f"pass --steps to train further")
    # only now that the checkpoint loaded: a failed resume leaves the folder as it was
    folder.write_json("config.json", {**asdict(config), "backend": backend.get_backend()})
    folder.truncate_metrics_log(trainer.step_count)
    previous = folder.read_json("metrics.json").get("seconds", 0.0) if (folder.path / "metrics.json").exists() else 0.0
    return _train(trainer, folder, progress, seconds_before=previous)


def _snapshot_steps(total):
    return sorted({max(1, round(total * i / (SNAPSHOTS - 1))) for i in range(SNAPSHOTS)})


def _train(trainer, folder, progress, seconds_before) -> dict:
    with backend.blas_threads(1):  # MLP-sized GEMMs: one thread is fastest (backend.blas_threads)
        return _train_loop(trainer, folder, progress, seconds_before)


def _train_loop(trainer, folder, progress, seconds_before) -> dict:
    config = trainer.config
    snapshot_steps = set(_snapshot_steps(config.steps))
    snapshots = _load_snapshots(folder)
    started = time.perf_counter()
    bar = tqdm(range(trainer.step_count + 1, config.steps + 1), desc=f"{config.loss} on {config.data}",
               disable=not progress, leave=False, initial=trainer.step_count, total=config.steps)
    for step in bar:
        logs = trainer.step()
        if step % config.log_every == 0 or step == config.steps:
            record = {**logs, **_quick_metrics(trainer)}
            folder.log_metrics(record)
            bar.set_postfix(d=f"{logs['d_loss']:.3f}", g=f"{logs['g_loss']:.3f}")
        if step in snapshot_steps:
            snapshots[step] = trainer.sample(latents=trainer.fixed_latents)
            numpy.savez(folder.path / "snapshots.npz", **{str(k): v for k, v in snapshots.items()})
        if step % config.checkpoint_every == 0 or step == config.steps:
            folder.save_checkpoint(step, trainer.state_arrays())
    seconds = seconds_before + time.perf_counter() - started
    metrics = _final_metrics(trainer, seconds)
    folder.write_json("metrics.json", metrics)
    _figures(trainer, folder, snapshots)
    return metrics


def _quick_metrics(trainer):
    """Mode statistics on the fixed latents (no draw from the global generator)."""
    dataset = trainer.dataset
    if dataset.modes is None:
        return {}
    stats = toy_metrics.mode_statistics(trainer.sample(latents=trainer.fixed_latents), dataset.modes,
                                        dataset.mode_std)
    return {"modes_covered": stats["modes_covered"], "high_quality_fraction": stats["high_quality_fraction"]}


def _final_metrics(trainer, seconds):
    config = trainer.config
    evaluation = numpy.random.default_rng(config.seed + 2)  # separate stream: resuming stays exact
    latents = Tensor(evaluation.standard_normal((EVAL_SAMPLES, config.latent_dim)).astype(trainer.dtype))
    samples = trainer.sample(latents=latents)
    reference = trainer.dataset.sample(EVAL_SAMPLES, evaluation)
    metrics = toy_metrics.toy_metrics(samples, trainer.dataset, reference=reference)
    metrics.update({"steps": trainer.step_count, "seconds": round(seconds, 3),
                    "backend": backend.get_backend()})
    return metrics


def _load_snapshots(folder):
    path = folder.path / "snapshots.npz"
    if not path.exists():
        return {}
    with numpy.load(path) as archive:
        return {int(k): archive[k] for k in archive.files}


def _figures(trainer, folder, snapshots):
    config = trainer.config
    real = trainer.dataset.sample(2000, numpy.random.default_rng(config.seed + 3))
    fake = trainer.sample(latents=trainer.fixed_latents)
    viz.plot_toy_samples(folder.path / "samples.png", real, fake, trainer.discriminator_values,
                         title=f"{config.loss} on {config.data}, step {trainer.step_count}",
                         output_kind=trainer.loss.output_kind)
    records = folder.read_metrics_log()
    if records:
        steps = [r["step"] for r in records]
        curves = {"discriminator": [r["d_loss"] for r in records], "generator": [r["g_loss"] for r in records]}
        viz.plot_curves(folder.path / "losses.png", steps, curves, f"{config.loss} losses", log_y=False,
                        references=None if config.label_smoothing != 1.0 or config.label_flip
                        else EQUILIBRIUM_LOSSES.get(config.loss))  # d_loss excludes the penalty
    if snapshots:
        ordered = sorted(snapshots.items())
        viz.plot_snapshots(folder.path / "snapshots.png", ordered, real,
                           title=f"{config.loss} on {config.data}: fixed latents over training")
