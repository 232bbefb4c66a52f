"""The global random generators behind initialisers, dropout, noise and data shuffling.

Two streams, one seed:

* the host generator (NumPy's PCG64) draws everything that lives on the CPU;
* the device stream draws GPU tensors on the GPU (``randn(..., device="cuda")``): a
  counter-based Philox4x32-10 stream (``scratchgan.kernels.philox``), whose whole state
  is (seed, offset), so a draw needs no state on the device and a checkpoint stores two
  integers. Its NumPy twin gives the same bits on the CPU (tests compare them).

``manual_seed(s)`` makes everything that draws from either reproducible. The state of
both can be saved and restored (checkpoints) with ``get_state`` / ``set_state``.
"""

from __future__ import annotations

import numpy

_generator = numpy.random.default_rng(0)
_device_stream = {"seed": 0, "offset": 0}  # Philox key and blocks consumed so far


def manual_seed(seed: int) -> numpy.random.Generator:
    """Reseed the global generator; returns it."""
    global _generator
    if not isinstance(seed, (int, numpy.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative integer, got {seed!r}")
    _generator = numpy.random.default_rng(int(seed))
    _device_stream.update(seed=int(seed) % 2**64, offset=0)
    return _generator


def generator() -> numpy.random.Generator:
    """The global generator (NumPy's PCG64)."""
    return _generator


def device_draw(kind: str, shape, dtype):
    """Uniform [0, 1) ("uniform") or standard normal ("normal") samples drawn on the GPU
    from the device stream, which advances by the Philox blocks the draw consumed."""
    from scratchgan.kernels import cupy_gpu  # imports cupy: only reached for GPU tensors

    array, blocks = cupy_gpu.philox(kind, shape, dtype, _device_stream["seed"], _device_stream["offset"])
    _device_stream["offset"] = (_device_stream["offset"] + blocks) % 2**64
    return array


def get_state() -> dict:
    """The host generator's state (NumPy's PCG64 dict) with the device stream under "device"."""
    return {**_generator.bit_generator.state, "device": dict(_device_stream)}


def set_state(state: dict) -> None:
    """Restore a ``get_state()`` (a state without "device", from before the GPU backend,
    restores the host generator only)."""
    state = dict(state)
    device = state.pop("device", None)
    _generator.bit_generator.state = state
    if device is not None:
        _device_stream.update(seed=int(device["seed"]), offset=int(device["offset"]))
