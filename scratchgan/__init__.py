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
from scratchgan import data, gan, nn, optim
from scratchgan.check import GradcheckError, gradcheck, gradgradcheck

__version__ = "0.1.0"
