"""Matplotlib figures written as PNG files (no screen needed: the Agg backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)


def plot_curves(path, steps, curves: dict, title: str, ylabel: str = "loss", log_y: bool = True):
    """One line per named curve against the training step."""
    figure, axes = plt.subplots(figsize=(6, 4))
    for name, values in curves.items():
        axes.plot(steps, values, label=name)
    if log_y:
        axes.set_yscale("log")
    axes.set_xlabel("step")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_function_fit(path, x_data, y_data, x_grid, y_true, y_model, title: str):
    """Training points, the true function and the model's prediction on a grid."""
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.scatter(x_data, y_data, s=6, alpha=0.4, color="gray", label="training data")
    axes.plot(x_grid, y_true, color="black", linestyle="--", label="true function")
    axes.plot(x_grid, y_model, color="tab:red", label="model")
    axes.set_xlabel("x")
    axes.set_ylabel("y")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
