"""The function-fitting job: an MLP regressor trained with Adam on a noisy 1-D function.

A small, real end-to-end run of the engine (data, model, loss, backward, optimizer,
run folder, figures). It stands in for ``scratchgan train``'s main job until the GAN
trainer takes over that command.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy
from tqdm import tqdm

from scratchgan import backend, nn, optim, random, viz
from scratchgan.autograd.grad_mode import no_grad
from scratchgan.autograd.tensor import Tensor
from scratchgan.ops import loss as losses
from scratchgan.runs import RunFolder

TARGETS = {
    "sine": lambda x: numpy.sin(3 * x),
    "wave": lambda x: numpy.sin(3 * x) + 0.3 * x ** 2,
    "abs": numpy.abs,
}


@dataclass
class FitConfig:
    target: str = "wave"
    steps: int = 1500
    batch_size: int = 128
    hidden: int = 64
    lr: float = 1e-2
    noise: float = 0.1
    num_points: int = 1024
    seed: int = 0
    dtype: str = "float32"
    log_every: int = 50

    def validate(self):
        if self.target not in TARGETS:
            raise ValueError(f"unknown target {self.target!r}; expected one of {', '.join(TARGETS)}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        for name in ("steps", "batch_size", "hidden", "num_points", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")


def make_model(hidden: int, dtype) -> nn.Module:
    return nn.Sequential(
        nn.Linear(1, hidden, dtype=dtype), nn.Tanh(),
        nn.Linear(hidden, hidden, dtype=dtype), nn.Tanh(),
        nn.Linear(hidden, 1, dtype=dtype),
    )


def run_fit(config: FitConfig, out_dir, overwrite=False, progress=True) -> dict:
    """Train, write the run folder, and return the final metrics."""
    config.validate()
    folder = RunFolder(out_dir, overwrite=overwrite)
    folder.write_json("config.json", {"job": "fit", "backend": backend.get_backend(), **asdict(config)})
    dtype = numpy.dtype(config.dtype)
    generator = random.manual_seed(config.seed)
    function = TARGETS[config.target]
    x_data = generator.uniform(-2, 2, size=(config.num_points, 1))
    y_data = function(x_data) + config.noise * generator.standard_normal(x_data.shape)
    x_data, y_data = x_data.astype(dtype), y_data.astype(dtype)
    model = make_model(config.hidden, dtype)
    optimizer = optim.Adam(model.parameters(), lr=config.lr)

    started = time.perf_counter()
    history_steps, history_loss = [], []
    bar = tqdm(range(1, config.steps + 1), desc="fit", disable=not progress, leave=False)
    for step in bar:
        batch = generator.integers(0, config.num_points, size=config.batch_size)
        prediction = model(Tensor(x_data[batch]))
        loss = losses.mse_loss(prediction, Tensor(y_data[batch]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % config.log_every == 0 or step == config.steps:
            value = loss.item()
            history_steps.append(step)
            history_loss.append(value)
            folder.log_metrics({"step": step, "loss": value})
            bar.set_postfix(loss=f"{value:.4f}")
    seconds = time.perf_counter() - started

    x_grid = numpy.linspace(-2, 2, 400, dtype=dtype)[:, None]
    with no_grad():
        y_model = model(Tensor(x_grid)).numpy()
        train_mse = float(losses.mse_loss(model(Tensor(x_data)), Tensor(y_data)).item())
    y_true = function(x_grid)
    metrics = {
        "steps": config.steps,
        "seconds": round(seconds, 3),
        "train_mse": train_mse,
        "noise_variance": config.noise ** 2,
        "function_mse": float(numpy.mean((y_model - y_true) ** 2)),
    }
    folder.write_json("metrics.json", metrics)
    folder.save_checkpoint(config.steps, {**model.state_dict(), "step": numpy.array(config.steps)})
    viz.plot_function_fit(folder.path / "fit.png", x_data[:, 0], y_data[:, 0], x_grid[:, 0],
                          y_true[:, 0], y_model[:, 0],
                          f"MLP fit of '{config.target}' after {config.steps} steps")
    viz.plot_curves(folder.path / "loss.png", history_steps, {"mse (batch)": history_loss},
                    "training loss")
    return metrics
