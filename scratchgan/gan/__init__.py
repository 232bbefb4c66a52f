"""GAN objectives, penalties, training tricks, models, the families as games, and the trainer."""

from scratchgan.gan import games, losses, models, penalties, tricks
from scratchgan.gan.config import TrainConfig
from scratchgan.gan.trainer import Trainer

__all__ = ["games", "losses", "models", "penalties", "tricks", "TrainConfig", "Trainer"]


def __getattr__(name):
    """``runner`` (run folders, progress bars, figures) is imported on first use: it is the
    layer above the trainer, and ``import scratchgan`` need not load it."""
    if name == "runner":
        import importlib

        return importlib.import_module("scratchgan.gan.runner")
    raise AttributeError(f"module 'scratchgan.gan' has no attribute {name!r}")
