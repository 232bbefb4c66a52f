"""``Function``: one node of the graph, forward on arrays and backward on Tensors.

The one rule of the autodiff (docs/architecture.md): ``forward`` computes on raw
arrays, ``backward`` computes with Tensor operations. Because backward is made of
differentiable ops, running it with graph recording on (``create_graph=True``) builds
the graph of the gradient itself, so second derivatives work for every op.
"""

from __future__ import annotations

import weakref

import numpy

from scratchgan import backend
from scratchgan.autograd import grad_mode
from scratchgan.autograd.tensor import Tensor


class Function:
    """Base class of every differentiable primitive.

    Subclasses implement

    * ``forward(self, *arrays) -> array``: the value, from the inputs' raw arrays; it may
      keep arrays it will need (masks, statistics) as attributes of ``self``;
    * ``backward(self, grad_output) -> tuple``: one Tensor (or None) per input, the
      vector-Jacobian product, written with Tensor operations. It reads the inputs and
      the output as Tensors through ``self.inputs`` and ``self.output``, and may skip an
      input whose ``self.needs_input_grad[i]`` is False.

    During ``forward``, ``self.needs_input_grad[i]`` says whether input i requires grad
    with recording on (all False otherwise): a forward may keep an array for backward
    (a convolution's im2col columns) only when that gradient can be asked for.

    Non-Tensor arguments (stride, axis, a boolean mask) are keyword parameters of
    ``apply`` and become attributes of the node.
    """

    # defaults for a node that records nothing; apply() sets them on recording nodes
    needs_input_grad: tuple = ()
    _inputs: tuple = ()
    _input_versions: tuple = ()
    _output_ref = None
    _output_version = 0
    _freed = False

    def __init__(self, **params):
        self.__dict__.update(params)

    xp_of = staticmethod(backend.get_array_module)  # numpy or cupy, following the data

    @property
    def name(self) -> str:
        return type(self).__name__

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on Tensors; record the node when any input requires grad."""
        for position, value in enumerate(inputs):
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"{cls.__name__}: input {position} must be a Tensor, got {type(value).__name__}"
                )
        if len(inputs) > 1:
            first = type(inputs[0]._data)
            for tensor in inputs[1:]:
                if type(tensor._data) is not first:
                    _check_same_device(cls.__name__, inputs)
                    break
        node = cls(**params)
        recording = grad_mode._enabled  # which gradients backward may be asked for (the engine refines it)
        node.needs_input_grad = tuple([recording and t._requires_grad for t in inputs])
        output_data = node.forward(*[tensor._data for tensor in inputs])
        if isinstance(output_data, numpy.generic):  # NumPy reductions return scalars, not 0-d arrays
            output_data = numpy.asarray(output_data)
        requires_grad = True in node.needs_input_grad
        output = Tensor._from_op(output_data, requires_grad)
        if requires_grad:
            node._inputs = inputs
            node._input_versions = tuple([t._version for t in inputs])
            node._output_ref = weakref.ref(output)  # a strong reference would be a cycle
            output._creator = node
        return output

    def forward(self, *arrays):
        raise NotImplementedError(f"{self.name} does not define forward")

    def backward(self, grad_output):
        raise NotImplementedError(f"{self.name} does not define backward")

    # -- what backward may read -------------------------------------------------
    @property
    def inputs(self) -> tuple:
        """The input Tensors, checked against in-place changes since forward."""
        self._check_alive()
        for position, (tensor, version) in enumerate(zip(self._inputs, self._input_versions)):
            if tensor._version != version:
                raise RuntimeError(
                    f"{self.name}.backward: input {position} (shape {tensor.shape}) was modified "
                    f"in place after the forward pass (version {tensor._version}, expected "
                    f"{version}); its gradient would be wrong. Recompute the forward pass after "
                    f"changing it (e.g. after optimizer.step())."
                )
        return self._inputs

    @property
    def output(self):
        """The output Tensor (alive whenever backward reaches this node)."""
        self._check_alive()
        output = self._output_ref()
        if output is None:
            raise RuntimeError(f"{self.name}.backward: the output Tensor no longer exists")
        if output._version != self._output_version:
            raise RuntimeError(
                f"{self.name}.backward: the output (shape {output.shape}) was modified in place "
                f"after the forward pass; its gradient would be wrong"
            )
        return output

    def _check_alive(self):
        if self._freed:
            raise RuntimeError(
                f"{self.name}: trying to backward through the graph a second time, but its "
                f"saved values were freed by the first backward; pass retain_graph=True to the "
                f"first backward (or grad) call if you need to go through it again"
            )

    def release(self):
        """Called by the engine right after this node's backward when the graph is not retained:
        drop what backward read (the input Tensors, and arrays forward kept as attributes), so
        a spent graph holds no activations even while its loss Tensor is still referenced (as
        PyTorch frees saved tensors). The graph's shape is kept, as PyTorch keeps its
        ``next_functions``: each input becomes a data-free ``_ReleasedInput`` (its creator, or
        the leaf itself when it requires grad, as the leaf is the key of its gradient), so a
        later walk that needs this node reaches it and ``_check_alive`` refuses it, instead
        of finding no path and returning no gradient."""
        self._freed = True
        self._inputs = tuple(_ReleasedInput.of(tensor) for tensor in self._inputs)
        self._input_versions = ()
        for name, value in list(vars(self).items()):
            if isinstance(value, Tensor) or hasattr(value, "__array_interface__") or \
                    type(value).__module__.startswith("cupy"):
                delattr(self, name)


class _ReleasedInput:
    """What a released node keeps of a non-leaf input, or of a leaf that needs no gradient:
    the creator (the graph's shape) and whether it required grad, no data."""

    __slots__ = ("_creator", "requires_grad")

    def __init__(self, creator, requires_grad):
        self._creator, self.requires_grad = creator, requires_grad

    @classmethod
    def of(cls, tensor):
        if tensor._creator is None and tensor.requires_grad:
            return tensor  # a leaf the walk may be asked for: its identity is its gradient's key
        return cls(tensor._creator, tensor.requires_grad)


def _check_same_device(op_name: str, inputs) -> None:
    """One op computes on one device: mixing a CPU and a GPU tensor is an error naming both."""
    devices = [tensor.device for tensor in inputs]
    if len(set(devices)) > 1:
        where = ", ".join(f"input {position} on {device}" for position, device in enumerate(devices))
        raise RuntimeError(
            f"{op_name}: expected all inputs on one device, got {where}; move them with "
            f".to('cuda') or .to('cpu') (Module.to for a model's parameters)"
        )
