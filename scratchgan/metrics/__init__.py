"""Metrics: toy-distribution metrics (``toy``); classifier features, Frechet distance and
scores come beside it."""

from scratchgan.metrics import toy
