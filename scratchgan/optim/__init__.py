"""Optimizers with PyTorch's signatures and update rules: SGD (+ Nesterov), Adam, RMSprop."""

from scratchgan.optim.adam import Adam
from scratchgan.optim.optimizer import Optimizer
from scratchgan.optim.rmsprop import RMSprop
from scratchgan.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop"]
