"""GAN objectives, penalties, training tricks, models and the trainer."""

from scratchgan.gan import losses, models, penalties, tricks
from scratchgan.gan.trainer import TrainConfig, Trainer

__all__ = ["losses", "models", "penalties", "tricks", "TrainConfig", "Trainer"]


def __getattr__(name):
    """``runner`` (run folders, progress bars, figures) is imported on first use: it is the
    layer above the trainer, and ``import scratchgan`` need not load it."""
    if name == "runner":
        import importlib

        return importlib.import_module("scratchgan.gan.runner")
    raise AttributeError(f"module 'scratchgan.gan' has no attribute {name!r}")
