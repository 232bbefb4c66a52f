"""Numba-JIT CPU kernel set (selected with ``scratchgan.set_backend("numba")``).

Importing this module requires numba, so a missing install is reported by
``set_backend`` with the command that fixes it. The kernels themselves arrive with
the Numba issue; until then no primitive is overridden and every op runs its NumPy
reference, which is what ``KERNELS`` being empty means.
"""

import numba  # noqa: F401  (the dependency this kernel set stands on)

KERNELS: dict = {}
