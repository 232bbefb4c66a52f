"""Optimizers with PyTorch's signatures and update rules: SGD (+ Nesterov), Adam, AdamW, RMSprop."""

from scratchgan.optim.adam import Adam
from scratchgan.optim.adamw import AdamW
from scratchgan.optim.optimizer import Optimizer
from scratchgan.optim.rmsprop import RMSprop
from scratchgan.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop"]
