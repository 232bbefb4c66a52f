"""Reverse-mode autodiff: Tensor, Function, the graph walk, and grad modes."""

from scratchgan.autograd.engine import backward, grad
from scratchgan.autograd.function import Function
from scratchgan.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from scratchgan.autograd.tensor import Tensor

__all__ = ["Tensor", "Function", "backward", "grad", "no_grad", "enable_grad",
           "set_grad_enabled", "is_grad_enabled"]
