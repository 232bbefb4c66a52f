"""Shape primitives: reshape, transpose, broadcast, indexing, concatenation, padding.

They come in adjoint pairs, so the set closes under differentiation:
reshape <-> reshape, transpose <-> inverse transpose, broadcast_to <-> sum,
getitem <-> index_add, concatenate -> slices, pad -> slice.
"""

from __future__ import annotations

import numpy

from scratchgan.autograd.function import Function
from scratchgan.ops import reduce as reduce_ops
from scratchgan.ops._common import check_axis


class Reshape(Function):
    """d reshape(x)/dx: reshape the gradient back to x's shape."""

    def forward(self, x):
        return x.reshape(self.shape)

    def backward(self, g):
        (x,) = self._inputs
        return (reshape(g, x.shape),)


class Transpose(Function):
    """d transpose(x, axes)/dx: transpose the gradient by the inverse permutation."""

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, g):
        inverse = tuple(int(i) for i in numpy.argsort(self.axes))
        return (Transpose.apply(g, axes=inverse),)


class BroadcastTo(Function):
    """d broadcast_to(x)/dx: sum the gradient over the broadcast axes (unbroadcast)."""

    def forward(self, x):
        return self.xp_of(x).broadcast_to(x, self.shape)

    def backward(self, g):
        (x,) = self._inputs
        return (reduce_ops.unbroadcast(g, x.shape),)


class GetItem(Function):
    """d x[index]/dx: scatter-add the gradient into zeros shaped like x."""

    def forward(self, x):
        return x[self.index]

    def backward(self, g):
        (x,) = self._inputs
        return (IndexAdd.apply(g, index=self.index, shape=x.shape),)


class IndexAdd(Function):
    """out = zeros(shape); out[index] += g (repeated indices add up). Its adjoint is getitem."""

    def forward(self, g):
        xp = self.xp_of(g)
        out = xp.zeros(self.shape, dtype=g.dtype)
        if _is_basic_index(self.index):
            out[self.index] = g  # basic indexing never repeats an element
        else:
            xp.add.at(out, self.index, g)
        return out

    def backward(self, gg):
        return (GetItem.apply(gg, index=self.index),)


class Concatenate(Function):
    """d concat(x_1..x_n)/dx_i: the slice of the gradient that x_i occupies."""

    def forward(self, *arrays):
        return self.xp_of(*arrays).concatenate(arrays, axis=self.axis)

    def backward(self, g):
        grads, start = [], 0
        for tensor in self._inputs:
            stop = start + tensor.shape[self.axis]
            index = (slice(None),) * self.axis + (slice(start, stop),)
            grads.append(GetItem.apply(g, index=index))
            start = stop
        return tuple(grads)


class Pad(Function):
    """d pad(x)/dx: the gradient with the padding sliced off."""

    def forward(self, x):
        return self.xp_of(x).pad(x, self.pad_width, mode="constant", constant_values=self.value)

    def backward(self, g):
        (x,) = self._inputs
        index = tuple(slice(before, before + n) for (before, _), n in zip(self.pad_width, x.shape))
        return (GetItem.apply(g, index=index),)


def _is_basic_index(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (slice, int, type(None), type(Ellipsis))) for p in parts)


# -- functional forms --------------------------------------------------------------
def _resolve_shape(size: int, shape, op: str) -> tuple:
    shape = tuple(int(n) for n in shape)
    if shape.count(-1) > 1:
        raise ValueError(f"{op}: only one dimension can be -1, got {shape}")
    known = 1
    for n in shape:
        if n != -1:
            known *= n
    if -1 in shape:
        if known == 0 or size % known:
            raise ValueError(f"{op}: cannot reshape {size} elements into {shape}")
        shape = tuple(size // known if n == -1 else n for n in shape)
    elif known != size:
        raise ValueError(f"{op}: cannot reshape {size} elements into shape {shape}")
    return shape


def reshape(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = _resolve_shape(x.size, shape, f"reshape{tuple(x.shape)}")
    if shape == x.shape:
        return x
    return Reshape.apply(x, shape=shape)


def transpose(x, *axes):
    """Permute the axes (NumPy's transpose): no axes reverses them."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    if not axes:
        axes = tuple(reversed(range(x.ndim)))
    if len(axes) != x.ndim:
        raise ValueError(f"transpose: axes {axes} are not a permutation of {x.ndim} dimensions")
    checked = tuple(check_axis(a, x.ndim, "transpose") for a in axes)
    if sorted(checked) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of {x.ndim} dimensions")
    return Transpose.apply(x, axes=checked)


permute = transpose


def swapaxes(x, axis1, axis2):
    axis1, axis2 = check_axis(axis1, x.ndim, "swapaxes", "axis1"), check_axis(axis2, x.ndim, "swapaxes", "axis2")
    if x.ndim == 0:
        return x
    axes = list(range(x.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, tuple(axes))


def broadcast_to(x, shape):
    shape = tuple(int(n) for n in shape)
    if shape == x.shape:
        return x
    try:
        numpy.broadcast_shapes(x.shape, shape)
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None
    if numpy.broadcast_shapes(x.shape, shape) != shape:
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}")
    return BroadcastTo.apply(x, shape=shape)


def expand(x, *shape):
    """PyTorch's expand: broadcast_to where -1 keeps a dimension."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    offset = len(shape) - x.ndim
    shape = tuple(x.shape[i - offset] if n == -1 else n for i, n in enumerate(shape))
    return broadcast_to(x, shape)


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dimensions start_dim..end_dim into one (PyTorch's flatten)."""
    if x.ndim == 0:
        return reshape(x, 1)
    start = check_axis(start_dim, x.ndim, "flatten", "start_dim")
    end = check_axis(end_dim, x.ndim, "flatten", "end_dim")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    merged = 1
    for n in x.shape[start:end + 1]:
        merged *= n
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


def squeeze(x, axis=None):
    """Remove axes of size 1 (all of them, or the named ones); a 0-d tensor's axis 0 or -1 is
    the tensor itself, as PyTorch."""
    if axis is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    axes = {check_axis(a, x.ndim, "squeeze") for a in axes}
    if x.ndim == 0:
        return x
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"squeeze: axis {a} has size {x.shape[a]}, expected 1")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x, axis):
    """Insert an axis of size 1 before ``axis`` (in [-ndim - 1, ndim], as PyTorch)."""
    axis = check_axis(axis, x.ndim, "unsqueeze", new_axis=True)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def getitem(x, index):
    """``x[index]``: basic slicing, integer arrays (Tensors or arrays) and boolean masks."""
    from scratchgan.autograd.tensor import Tensor

    def unwrap(part):
        return part.data if isinstance(part, Tensor) else part

    if isinstance(index, tuple):
        index = tuple(unwrap(p) for p in index)
    else:
        index = unwrap(index)
    if isinstance(index, list):
        index = numpy.asarray(index)
    if getattr(index, "dtype", None) == bool:
        if index.shape != x.shape[:index.ndim]:
            raise IndexError(f"getitem: boolean mask of shape {index.shape} does not match {x.shape}")
        index = tuple(x.xp.nonzero(index))  # integer form, so index_add can scatter it
    return GetItem.apply(x, index=index)


def concatenate(tensors, axis=0):
    tensors = tuple(tensors)
    if not tensors:
        raise ValueError("concatenate: need at least one tensor")
    ndim = tensors[0].ndim
    if ndim == 0:
        raise ValueError("concatenate: 0-d tensors cannot be concatenated; stack them instead")
    axis = check_axis(axis, ndim, "concatenate")
    for position, tensor in enumerate(tensors):
        if tensor.ndim != ndim or any(
            tensor.shape[i] != tensors[0].shape[i] for i in range(ndim) if i != axis
        ):
            raise ValueError(
                f"concatenate: tensor {position} has shape {tensor.shape}, incompatible with "
                f"{tensors[0].shape} along axis {axis}"
            )
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors, axis=0):
    """stack = unsqueeze each, then concatenate."""
    tensors = tuple(tensors)
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    for position, tensor in enumerate(tensors):
        if tensor.shape != tensors[0].shape:
            raise ValueError(
                f"stack: tensor {position} has shape {tensor.shape}, expected {tensors[0].shape}"
            )
    axis = check_axis(axis, tensors[0].ndim, "stack", new_axis=True)
    return concatenate([unsqueeze(t, axis) for t in tensors], axis=axis)


def pad(x, pad_width, value=0.0):
    """Constant padding; ``pad_width`` as NumPy: ((before, after), ...) per axis, or one int."""
    if isinstance(pad_width, int):
        pad_width = ((pad_width, pad_width),) * x.ndim
    pad_width = tuple((int(b), int(a)) for b, a in pad_width)
    if len(pad_width) != x.ndim or any(b < 0 or a < 0 for b, a in pad_width):
        raise ValueError(
            f"pad: pad_width needs one non-negative (before, after) pair per axis of a "
            f"{x.ndim}-d tensor, got {pad_width}"
        )
    return Pad.apply(x, pad_width=pad_width, value=value)
