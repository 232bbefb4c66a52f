"""Which array module holds the data, and which kernel set runs the heavy primitives.

Two independent choices, kept apart on purpose:

* The *array module* (``numpy`` or ``cupy``) follows the data: an op asks
  ``get_array_module(*arrays)`` and never calls ``numpy.`` on tensor data directly,
  so the same op code runs on the CPU and on the GPU.
* The *kernel set* ("numpy" | "numba" | "cupy") decides who computes the forward array
  function of a heavy primitive (conv2d, conv_transpose2d, conv2d_weight, matmul).
  Every primitive has a readable NumPy reference in ``scratchgan.ops``; an
  accelerated kernel set may override it by name. Ops ask
  ``kernel(name, reference)`` and get the active set's version, or the reference.

The calculus (every backward) never depends on the kernel set: only forward array
functions are accelerated.
"""

from __future__ import annotations

import importlib
import os
from typing import Callable

import numpy

BACKENDS = ("numpy", "numba", "cupy")

# name -> module path of the kernel set; each module exposes KERNELS: dict[str, Callable]
_KERNEL_SET_MODULES = {
    "numba": "scratchgan.kernels.numba_cpu",
    "cupy": "scratchgan.kernels.cupy_gpu",
}
_INSTALL_HINTS = {
    "numba": "pip install numba  (a dependency of scratchgan; is the install complete?)",
    "cupy": "pip install 'scratchgan[gpu]'  (or: pip install cupy-cuda12x)",
}

_active_name = "numpy"
_active_kernels: dict[str, Callable] = {}


class BackendUnavailableError(RuntimeError):
    """An optional dependency needed by the requested backend is missing."""


def get_array_module(*arrays):
    """Return ``cupy`` if any argument is a CuPy array, else ``numpy`` (Chainer's rule)."""
    for array in arrays:
        if type(array) is numpy.ndarray:  # the common case, checked without string work
            continue
        module = type(array).__module__
        if module.startswith("cupy"):
            return importlib.import_module("cupy")
    return numpy


def to_numpy(array) -> numpy.ndarray:
    """A NumPy copy (or view) of a NumPy or CuPy array."""
    if type(array).__module__.startswith("cupy"):
        return array.get()
    return numpy.asarray(array)


def _load_kernel_set(name: str) -> dict[str, Callable]:
    if name == "numpy":
        return {}
    try:
        module = importlib.import_module(_KERNEL_SET_MODULES[name])
    except ImportError as error:
        raise BackendUnavailableError(
            f"set_backend({name!r}): {error.name or 'a dependency'} is not installed; "
            f"install it with: {_INSTALL_HINTS[name]}"
        ) from error
    problem = module.device_problem() if hasattr(module, "device_problem") else None
    if problem is not None:
        raise BackendUnavailableError(
            f"set_backend({name!r}): {name} is installed but cannot reach a GPU ({problem}); "
            f"use --backend numba (or numpy) on this machine"
        )
    return dict(module.KERNELS)


def set_backend(name: str) -> None:
    """Select the kernel set: "numpy" (readable reference), "numba" (fast CPU), "cupy" (GPU)."""
    global _active_name, _active_kernels
    if name not in BACKENDS:
        raise ValueError(f"set_backend: unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")
    _active_kernels = _load_kernel_set(name)
    _active_name = name


def get_backend() -> str:
    """The name of the active kernel set."""
    return _active_name


def default_device() -> str:
    """Where a job puts its models and data: "cuda" when the cupy set is active, else "cpu"."""
    return "cuda" if _active_name == "cupy" else "cpu"


def kernel(name: str, reference: Callable) -> Callable:
    """The active kernel set's implementation of primitive ``name``, or the NumPy ``reference``.

    The "cupy" set computes only on GPU arrays: for CPU arrays (a classifier evaluated on
    the host during a GPU run) it hands over to the fastest CPU implementation."""
    found = _active_kernels.get(name)
    if found is None:
        return reference
    if _active_name != "cupy":
        return found
    cpu = _cpu_kernels().get(name, reference)

    def on_the_data_device(*args):
        return (cpu if type(args[0]) is numpy.ndarray else found)(*args)

    return on_the_data_device


_cpu_kernel_cache: dict = {}


def _cpu_kernels() -> dict:
    """The numba kernel set if it imports (the CPU fallback of the cupy set), else none."""
    if "table" not in _cpu_kernel_cache:
        try:
            _cpu_kernel_cache["table"] = _load_kernel_set("numba")
        except BackendUnavailableError:
            _cpu_kernel_cache["table"] = {}
    return _cpu_kernel_cache["table"]


def warm_up(dtype=numpy.float32) -> float:
    """Compile the active kernel set's kernels for ``dtype`` now (JIT sets only: Numba compiles
    on first use, once per machine with its cache); returns the seconds it took, 0 for none."""
    if _active_name == "numpy":
        return 0.0
    module = importlib.import_module(_KERNEL_SET_MODULES[_active_name])
    return module.warm_up(dtype) if hasattr(module, "warm_up") else 0.0


def blas_threads(count: int):
    """Context manager limiting BLAS (and OpenMP) threads to ``count`` inside the block.

    Small matrices (the toy MLP GANs: 256x128 by 128x128) run fastest on one thread,
    whose sync-free GEMM takes about 0.1 ms; two OpenBLAS threads take as long on an
    idle 2-core machine and up to 9x longer when another process holds a core, because
    the waiting thread spins. Large convolution GEMMs gain from every core.
    """
    global _THREADPOOLS
    if count < 1:
        raise ValueError(f"blas_threads: count must be >= 1, got {count}")
    if _THREADPOOLS is None:  # finding the BLAS and OpenMP libraries takes ~0.2 ms: once
        from threadpoolctl import ThreadpoolController

        _THREADPOOLS = ThreadpoolController()
    return _THREADPOOLS.limit(limits=count)  # ~10 us: cheap enough for every training step


_THREADPOOLS = None  # threadpoolctl's controller, made on the first blas_threads call


def available_backends() -> list[str]:
    """Backends whose optional dependencies import on this machine."""
    found = ["numpy"]
    for name in ("numba", "cupy"):
        try:
            _load_kernel_set(name)
        except BackendUnavailableError:
            continue
        found.append(name)
    return found


def fastest() -> str:
    """The fastest kernel set for CPU tensors on this machine: "numba" when it imports, else "numpy".

    ("cupy" accelerates only tensors that live on the GPU, so it is never chosen for CPU data.)
    """
    return "numba" if "numba" in available_backends() else "numpy"


# -- the C allocator behind NumPy's arrays -----------------------------------------------------
# A training step allocates and frees the same large arrays every step: activations,
# gradients and im2col columns, about 150 MB in the DCGAN-MNIST step (benchmark W2). glibc's
# malloc serves blocks above a moving threshold (128 KiB at start, at most 32 MiB) with fresh
# mmap()s and gives the top of its heap back to the kernel once more than twice that threshold
# is free, which a step's end always frees. So every step wrote to fresh pages again: on the
# 2-core benchmark machine W2 took ~2,100 page faults and ~15 ms of kernel time per step
# (PyTorch's step ~5,000). With blocks up to 32 MiB taken from the heap, and the heap kept
# until 1 GiB lies free at its top, a warm step takes ~25 page faults, and W2's step time
# fell by ~8% (alternating fresh processes, 6 pairs). The price: up to 1 GiB of freed memory
# stays with the process for its next step instead of going back to the system.
GLIBC_MMAP_THRESHOLD = 32 * 2**20  # the largest value glibc accepts on 64-bit systems
GLIBC_TRIM_THRESHOLD = 2**30
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers (glibc's malloc.h)
_allocator = {"policy": "system", "reason": "not configured"}


def configure_allocator(policy: str | None = None) -> dict:
    """Apply ``policy`` to the C allocator (process-wide) and return what was done.

    "reuse" (the default, set when scratchgan is imported) keeps freed blocks up to 32 MiB in
    the heap for the next step (glibc ``mallopt``; see the comment above for the figures);
    "system" leaves malloc as it is. ``None`` reads ``SCRATCHGAN_ALLOCATOR`` ("reuse" when
    unset). Only glibc (Linux) is tuned; elsewhere the policy stays "system". Returns
    {"policy": the policy in effect, "reason": why}. Once applied, glibc keeps the settings
    for the life of the process (its adaptive threshold does not come back).
    """
    if policy is None:
        policy = os.environ.get("SCRATCHGAN_ALLOCATOR", "reuse")
    if policy not in ("reuse", "system"):
        raise ValueError(f"configure_allocator: unknown policy {policy!r}; expected 'reuse' or 'system' "
                         "(SCRATCHGAN_ALLOCATOR)")
    if policy == "system":
        if _allocator["policy"] == "reuse":
            raise RuntimeError("configure_allocator('system'): glibc's malloc was already tuned in this "
                               "process; set SCRATCHGAN_ALLOCATOR=system before importing scratchgan")
        _allocator.update(policy="system", reason="left as the system configures it")
        return dict(_allocator)
    if _allocator["policy"] == "reuse":
        return dict(_allocator)
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        _allocator.update(policy="system", reason=f"not glibc ({platform.system()}): nothing to tune")
        return dict(_allocator)
    libc = ctypes.CDLL(None)
    if not (libc.mallopt(_M_MMAP_THRESHOLD, GLIBC_MMAP_THRESHOLD)
            and libc.mallopt(_M_TRIM_THRESHOLD, GLIBC_TRIM_THRESHOLD)):
        _allocator.update(policy="system", reason="glibc refused mallopt")
        return dict(_allocator)
    _allocator.update(policy="reuse", reason=f"glibc mallopt: mmap threshold {GLIBC_MMAP_THRESHOLD >> 20} MiB, "
                                             f"trim threshold {GLIBC_TRIM_THRESHOLD >> 20} MiB")
    return dict(_allocator)


def allocator() -> dict:
    """The allocator policy in effect: {"policy": "reuse" | "system", "reason": ...}."""
    return dict(_allocator)


def environment_problems() -> list[str]:
    """What is wrong with $SCRATCHGAN_BACKEND or $SCRATCHGAN_ALLOCATOR, one line each (none: [])."""
    return [problem for problem in _environment.values() if problem]


def allocator_problem() -> str | None:
    """What is wrong with $SCRATCHGAN_ALLOCATOR (None: nothing)."""
    return _environment["allocator"]


def apply_environment_backend() -> str | None:
    """Select the kernel set that $SCRATCHGAN_BACKEND names; returns it (None when unset).
    Raises the BackendUnavailableError or ValueError that ``set_backend`` gives for it."""
    name = os.environ.get("SCRATCHGAN_BACKEND")
    if name:
        set_backend(name)
    return name or None


# Environment variables are read when scratchgan is imported. A bad value must not make the
# import fail: the CLI's --help, list and info must still answer, and a --backend flag must be
# able to override the variable. So a problem is kept here, and said by the CLI (one line) and
# by ``environment_problems()``; the kernel set stays "numpy" until a valid one is chosen.
_environment = {"backend": None, "allocator": None}
try:
    configure_allocator()
except (ValueError, RuntimeError) as _error:
    _environment["allocator"] = f"SCRATCHGAN_ALLOCATOR: {_error}"
try:
    apply_environment_backend()
except (ValueError, BackendUnavailableError) as _error:
    _environment["backend"] = f"SCRATCHGAN_BACKEND: {_error}"
