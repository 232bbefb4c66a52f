"""Accelerated forward kernels, installed as ``scratchgan.kernels``.

Each kernel-set module (``numba_cpu``, ``cupy_gpu``) exposes ``KERNELS``: a dict from a
primitive's name ("conv2d", "conv_transpose2d", "conv2d_weight", "matmul", ...) to an
array function with the same signature as its NumPy reference in ``scratchgan.ops``.
A primitive missing from ``KERNELS`` runs its NumPy reference. See
``scratchgan.backend`` and docs/architecture.md.
"""
