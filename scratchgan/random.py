"""The global random generator behind initialisers, dropout, noise and data shuffling.

``manual_seed(s)`` makes everything that draws from it reproducible. The state can be
saved and restored (checkpoints) with ``get_state`` / ``set_state``.
"""

from __future__ import annotations

import numpy

_generator = numpy.random.default_rng(0)


def manual_seed(seed: int) -> numpy.random.Generator:
    """Reseed the global generator; returns it."""
    global _generator
    if not isinstance(seed, (int, numpy.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative integer, got {seed!r}")
    _generator = numpy.random.default_rng(int(seed))
    return _generator


def generator() -> numpy.random.Generator:
    """The global generator (NumPy's PCG64)."""
    return _generator


def get_state() -> dict:
    return _generator.bit_generator.state


def set_state(state: dict) -> None:
    _generator.bit_generator.state = state
