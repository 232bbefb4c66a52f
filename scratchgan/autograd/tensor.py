"""``Tensor``: an array (NumPy or CuPy) plus what reverse mode needs.

A Tensor holds ``data`` (the array), ``requires_grad``, ``grad`` (a Tensor or None),
the ``Function`` that created it (None for leaves) and a version counter that every
in-place change increments, so a backward that would read a stale value refuses to.

Arithmetic, reductions and shape methods (``+``, ``@``, ``sum``, ``reshape``, ...) are
differentiable ops defined in ``scratchgan.ops``; ``scratchgan/ops/tensor_methods.py``
attaches them to this class, one line per method.
"""

from __future__ import annotations

import numpy

from scratchgan import backend
from scratchgan.autograd import engine

DEFAULT_FLOAT = numpy.float32  # as PyTorch: Python floats become float32 tensors


NUMBER_KINDS = "biufc"  # bool, signed and unsigned int, float, complex: what a Tensor may hold


def _to_array(data, dtype):
    """Convert user data to a backend array; Python floats default to float32.

    Anything that does not convert to numbers (strings, None, dicts, object arrays) is
    refused, as ``torch.tensor`` refuses it. The check reads the converted array's dtype
    kind: one comparison on this hot path (an array in), no pass over the data. Complex
    numbers are numbers here, as in PyTorch."""
    if isinstance(data, Tensor):
        data = data.data
    xp = backend.get_array_module(data)
    array = xp.asarray(data)
    if array.dtype.kind not in NUMBER_KINDS:
        raise TypeError(f"Tensor: expected numbers (bool, int or float data), got {_describe(data, array)}")
    if dtype is not None:
        array = array.astype(dtype, copy=False)
        if array.dtype.kind not in NUMBER_KINDS:
            raise TypeError(f"Tensor: expected a numeric dtype (bool, int or float), got dtype {array.dtype}")
        return array
    if not isinstance(data, (numpy.ndarray, numpy.generic)) and xp is numpy and array.dtype == numpy.float64:
        array = array.astype(DEFAULT_FLOAT)
    return array


def _describe(data, array) -> str:
    """What was received, for an error: the type and, for arrays and sequences, the dtype."""
    if array.dtype.kind == "O" and not hasattr(data, "dtype"):
        return f"{type(data).__name__} {data!r:.60}"
    return f"{type(data).__name__} of dtype {array.dtype}"


class Tensor:
    """An n-dimensional array that records the operations applied to it."""

    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operators
    __hash__ = object.__hash__  # identity hash, although == is elementwise

    def __init__(self, data, requires_grad=False, dtype=None):
        self._data = _to_array(data, dtype)
        self._version = 0
        self._creator = None
        self.grad = None
        self._requires_grad = False
        self.requires_grad = requires_grad

    @classmethod
    def _from_op(cls, array, requires_grad: bool) -> "Tensor":
        """An op's output: the array is already a backend array of a floating or op-chosen dtype."""
        tensor = cls.__new__(cls)
        tensor._data = array
        tensor._version = 0
        tensor._creator = None
        tensor.grad = None
        tensor._requires_grad = requires_grad
        return tensor

    # -- the array and its metadata -------------------------------------------
    @property
    def data(self):
        """The underlying array. Assigning to it (also ``t.data -= x``) counts as an in-place change."""
        return self._data

    @data.setter
    def data(self, value):
        value = value.data if isinstance(value, Tensor) else value
        if value.shape != self._data.shape:
            raise ValueError(
                f"Tensor.data: new array has shape {value.shape}, expected {self._data.shape}"
            )
        self._data = value
        self._version += 1

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        value = bool(value)
        if value and self._data.dtype.kind not in "fc":
            raise TypeError(
                f"Tensor.requires_grad: only floating-point tensors can require gradients, "
                f"got dtype {self._data.dtype}"
            )
        if self._creator is not None and not value:
            raise RuntimeError(
                "Tensor.requires_grad: cannot turn off gradients of a non-leaf tensor; "
                "use .detach() instead"
            )
        self._requires_grad = value

    @property
    def is_leaf(self) -> bool:
        return self._creator is None

    @property
    def shape(self) -> tuple:
        return self._data.shape

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        """Number of elements (NumPy naming)."""
        return int(self._data.size)

    @property
    def xp(self):
        """The array module of the data: numpy or cupy."""
        return backend.get_array_module(self._data)

    @property
    def device(self) -> str:
        return "cpu" if self.xp is numpy else "cuda"

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # -- leaving the graph ------------------------------------------------------
    def numpy(self) -> numpy.ndarray:
        """The data as a NumPy array (copied from the GPU if needed); shares memory on the CPU."""
        return backend.to_numpy(self._data)

    def item(self):
        """The single element as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"Tensor.item: tensor has {self._data.size} elements, expected 1")
        return self._data.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def detach(self) -> "Tensor":
        """A new leaf sharing the same data, outside the graph."""
        detached = Tensor(self._data)
        detached._version = self._version
        return detached

    def to(self, device=None, dtype=None) -> "Tensor":
        """A copy on ``device`` ("cpu" | "cuda") and/or cast to ``dtype``; self if nothing changes."""
        result = self
        if dtype is not None and numpy.dtype(dtype) != self.dtype:
            result = result.astype(dtype)
        if device is not None and device != self.device:
            result = _move(result, str(device))
        return result

    def double(self) -> "Tensor":
        return self.to(dtype=numpy.float64)

    def float(self) -> "Tensor":
        return self.to(dtype=numpy.float32)

    # -- reverse mode -------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad."""
        engine.backward(self, None if gradient is None else (gradient,),
                        retain_graph=retain_graph, create_graph=create_graph)

    def requires_grad_(self, requires_grad=True) -> "Tensor":
        self.requires_grad = requires_grad
        return self

    def zero_grad_(self):
        self.grad = None

    def __repr__(self) -> str:
        body = numpy.array2string(self.numpy(), separator=", ", prefix="Tensor(")
        extras = [f"dtype={self.dtype}"]
        if self.device != "cpu":
            extras.append(f"device={self.device!r}")
        if self._creator is not None:
            extras.append(f"grad_fn={self._creator.name}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return f"Tensor({body}, {', '.join(extras)})"

    def __bool__(self):
        if self._data.size != 1:
            raise ValueError(
                f"the truth value of a Tensor with {self._data.size} elements is ambiguous"
            )
        return bool(self._data)


DEVICES = ("cpu", "cuda")


def array_module_for(device: str):
    """The array module of a device: numpy for "cpu", cupy for "cuda" (one line if missing)."""
    if device == "cpu":
        return numpy
    if device == "cuda":
        try:
            import cupy
        except ImportError as error:
            raise backend.BackendUnavailableError(
                "device 'cuda': cupy is not installed; install it with: "
                "pip install 'scratchgan[gpu]'  (or: pip install cupy-cuda12x)"
            ) from error
        return cupy
    raise ValueError(f"unknown device {device!r}; expected one of {', '.join(DEVICES)}")


def _move(tensor: Tensor, device: str) -> Tensor:
    """A copy of the data on another device, as a new leaf (keeps requires_grad of leaves)."""
    xp = array_module_for(device)
    array = backend.to_numpy(tensor.data) if xp is numpy else xp.asarray(tensor.data)
    return Tensor(array, requires_grad=tensor.requires_grad and tensor.is_leaf)
