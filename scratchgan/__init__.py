"""scratchgan: a GAN engine written from scratch on NumPy.

    import scratchgan as sg
    x = sg.Tensor(np_array, requires_grad=True); y = f(x); y.backward(); x.grad.numpy()
"""

from scratchgan.autograd import (
    Function, Tensor, backward, enable_grad, grad, is_grad_enabled, no_grad, set_grad_enabled,
)
from scratchgan import ops  # attaches the operators to Tensor
from scratchgan.ops import *  # noqa: F401,F403  (sg.exp, sg.conv2d, ... as functions)
from scratchgan.autograd.factories import (
    arange, full, ones, ones_like, rand, randint, randn, randn_like, tensor, zeros, zeros_like,
)
from scratchgan.backend import available_backends, get_backend, set_backend
from scratchgan.random import manual_seed
from scratchgan import backend, data, gan, nn, optim
from scratchgan.check import GradcheckError, gradcheck, gradgradcheck

__version__ = "0.1.0"


def _warn_about_the_environment():
    """A bad $SCRATCHGAN_BACKEND or $SCRATCHGAN_ALLOCATOR leaves the numpy kernel set (and the
    system allocator) in place: said once here, as a warning, for library use. The
    ``scratchgan`` command says it itself, as one line, and lets --backend override it."""
    import os
    import sys
    import warnings

    if os.path.basename(sys.argv[0] if sys.argv else "") == "scratchgan":
        return
    for problem in backend.environment_problems():
        warnings.warn(f"{problem}; scratchgan uses the numpy kernel set until set_backend() chooses one",
                      RuntimeWarning, stacklevel=3)


_warn_about_the_environment()
