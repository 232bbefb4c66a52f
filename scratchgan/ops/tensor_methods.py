"""Attach the differentiable ops to ``Tensor`` as operators and methods, one line each.

Kept in one table so a reader sees every method a Tensor has and the op behind it.
Method names follow NumPy (``sum(axis=None, keepdims=False)``, ``reshape(*shape)``,
``transpose(*axes)``, ``astype``); a few PyTorch aliases (``permute``, ``flatten``,
``unsqueeze``, ``expand``) are there for readers coming from it.
"""

from __future__ import annotations

from scratchgan.autograd.tensor import Tensor
from scratchgan.ops import elementwise as ew
from scratchgan.ops import indexing as ix
from scratchgan.ops import linalg
from scratchgan.ops import reduce as rd
from scratchgan.ops import shape as sh
from scratchgan.ops._common import as_tensor


def _reflected(op):
    """``other op self`` for a number or array on the left; the op promotes a number itself."""
    return lambda self, other: op(other, self)


def _reflected_matmul(self, other):
    return linalg.matmul(as_tensor(other, self), self)


def _compare(name):
    def compare(self, other):
        other = other.data if isinstance(other, Tensor) else other
        return Tensor(getattr(self.data, name)(other))  # booleans: not differentiable

    return compare


METHODS = {
    "__add__": ew.add, "__radd__": _reflected(ew.add),
    "__sub__": ew.sub, "__rsub__": _reflected(ew.sub),
    "__mul__": ew.mul, "__rmul__": _reflected(ew.mul),
    "__truediv__": ew.div, "__rtruediv__": _reflected(ew.div),
    "__pow__": ew.pow, "__rpow__": _reflected(ew.pow),
    "__matmul__": linalg.matmul, "__rmatmul__": _reflected_matmul,
    "__neg__": ew.neg, "__pos__": lambda self: self, "__abs__": ew.abs,
    "__getitem__": sh.getitem,
    "__lt__": _compare("__lt__"), "__le__": _compare("__le__"),
    "__gt__": _compare("__gt__"), "__ge__": _compare("__ge__"),
    "__eq__": _compare("__eq__"), "__ne__": _compare("__ne__"),
    "exp": ew.exp, "log": ew.log, "log1p": ew.log1p, "sqrt": ew.sqrt, "abs": ew.abs,
    "clip": ew.clip, "maximum": ew.maximum, "minimum": ew.minimum, "astype": ew.cast,
    "sigmoid": ew.sigmoid, "tanh": ew.tanh, "relu": ew.relu, "leaky_relu": ew.leaky_relu,
    "softplus": ew.softplus, "log_sigmoid": ew.log_sigmoid,
    "sin": ew.sin, "cos": ew.cos, "log2": ew.log2, "log10": ew.log10, "exp2": ew.exp2,
    "rsqrt": ew.rsqrt, "sign": ew.sign, "erf": ew.erf, "logaddexp": ew.logaddexp,
    "isnan": ew.isnan, "isinf": ew.isinf, "isfinite": ew.isfinite,
    "sum": rd.sum_, "mean": rd.mean, "var": rd.var, "max": rd.max_, "min": rd.min_,
    "logsumexp": rd.logsumexp, "softmax": rd.softmax, "log_softmax": rd.log_softmax,
    "reshape": sh.reshape, "transpose": sh.transpose, "permute": sh.permute,
    "swapaxes": sh.swapaxes, "flatten": sh.flatten, "squeeze": sh.squeeze,
    "unsqueeze": sh.unsqueeze, "broadcast_to": sh.broadcast_to, "expand": sh.expand,
    "pad": sh.pad, "matmul": linalg.matmul,
    "std": rd.std, "prod": rd.prod, "cumsum": rd.cumsum, "argmax": rd.argmax, "argmin": rd.argmin,
    "flip": ix.flip, "roll": ix.roll, "gather": ix.gather, "tril": ix.tril, "triu": ix.triu,
    "repeat": ix.repeat,  # PyTorch's repeat (NumPy's tile), not NumPy's element-wise repeat
}


def install():
    for name, function in METHODS.items():
        setattr(Tensor, name, function)
    Tensor.T = property(lambda self: sh.transpose(self))
