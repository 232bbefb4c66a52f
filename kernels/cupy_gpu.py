"""CuPy GPU kernel set (selected with ``scratchgan.set_backend("cupy")``).

Importing this module requires cupy, so a missing install is reported by
``set_backend`` with the command that fixes it. The NumPy references already run on
CuPy arrays (the array module follows the data); custom CUDA kernels arrive with the
GPU issue, and until then ``KERNELS`` overrides nothing.
"""

import cupy  # noqa: F401  (the dependency this kernel set stands on)

KERNELS: dict = {}
