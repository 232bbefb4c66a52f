"""PyTorch's padding modes: constant, reflect, replicate and circular; negative pads crop.

No new primitive. Constant padding is the ``Pad`` primitive of ops/shape.py, after a crop by
slicing. The other three modes are gathers: along each padded axis, output position j reads
input position ``index[j]``, a constant integer array built from the pads and the size
(``reflect_indices``, ``replicate_indices``, ``circular_indices``). The VJP of a gather is a
scatter-add: input element i receives the sum of the gradients of every output position that
reads it, so a reflected border pixel also receives the gradient of its mirror image.

The gather is taken as runs of its index (``_gather``): basic slices with step 1 or -1, a
broadcast for a repeated edge, joined by ``concatenate``. Each run's VJP writes its part of
the gradient into the input's shape, and the engine adds the parts that meet at one element:
the same scatter-add, without ``add.at``. Slicing, broadcasting and concatenation are linear
shape primitives whose backwards are shape primitives again, so the derivatives of every
order come from existing primitives.

Negative pads follow ATen. In reflect and replicate padding the index map is that of the
whole axis, padded by the positive pads and then cropped by the negative ones; circular
padding crops first and wraps around what is left. Which crops are allowed differs by
mode, as in PyTorch 2.13 (``_check_sizes`` has the table).
"""

from __future__ import annotations

import numbers

import numpy

from scratchgan.ops import shape as shape_ops

MODES = ("constant", "reflect", "replicate", "circular")


# -- index maps: output position j of one axis reads input position index[j] ----------------------
def reflect_indices(size: int, before: int, after: int) -> numpy.ndarray:
    """The axis mirrored about its first and last elements, which are not repeated:
    ``x[2], x[1] | x[0] ... x[n-1] | x[n-2], x[n-3]``; a negative pad crops that sequence."""
    position = numpy.abs(numpy.arange(-before, size + after))  # j - before, mirrored about 0
    return numpy.where(position > size - 1, 2 * (size - 1) - position, position)


def replicate_indices(size: int, before: int, after: int) -> numpy.ndarray:
    """The edge elements repeated: ``x[0], x[0] | x[0] ... x[n-1] | x[n-1]``; a negative pad
    crops that sequence."""
    return numpy.clip(numpy.arange(-before, size + after), 0, size - 1)


def circular_indices(size: int, before: int, after: int) -> numpy.ndarray:
    """The kept elements (the axis less its negative pads) repeated periodically:
    ``x[n-2], x[n-1] | x[0] ... x[n-1] | x[0], x[1]``."""
    start, kept = max(-before, 0), size - max(-before, 0) - max(-after, 0)
    if kept == 0:  # nothing kept, so nothing padded (pad refuses a positive pad here)
        return numpy.arange(0)
    return start + numpy.arange(-max(before, 0), kept + max(after, 0)) % kept


INDICES = {"reflect": reflect_indices, "replicate": replicate_indices, "circular": circular_indices}


# -- the functional form ---------------------------------------------------------------------------
def pad(x, pad, mode="constant", value=None):
    """PyTorch's ``F.pad``: ``pad = (left, right, top, bottom, front, back)`` pads the last
    ``len(pad) // 2`` dims, the last one first; a negative pad crops.

    ``mode="constant"`` fills with ``value`` (default 0) and pads any number of dims;
    ``"reflect"``, ``"replicate"`` and ``"circular"`` pad the last 1, 2 or 3 dims of a
    2-3, 3-4 or 4-5 d input (unbatched or batched) and take no ``value`` other than 0.
    Reflect pads must be smaller than the dim, circular pads at most its size.

    Deliberately refused, where PyTorch returns uninitialised memory or raises an error
    about overlapping memory: a circular pad larger than what the crops leave of its dim
    (``(-1, 4)`` on a dim of 4 keeps 3 elements and would wrap around them more than once).
    """
    widths, dims = _check_arguments(x, pad, mode, value)  # ((before, after), ...) per axis
    _check_sizes(x.shape, widths, dims, mode)
    if mode == "constant":
        return _pad_constant(x, widths, 0.0 if value is None else value)
    indices = INDICES[mode]
    for axis, (before, after) in enumerate(widths):
        if before or after:
            x = _gather(x, axis, indices(x.shape[axis], before, after))
    return x


def _pad_constant(x, widths, value):
    """Crop by slicing, then the ``Pad`` primitive: the values outside x have no gradient."""
    if any(before < 0 or after < 0 for before, after in widths):
        crop = tuple(slice(max(-before, 0), n - max(-after, 0)) for (before, after), n in zip(widths, x.shape))
        x = shape_ops.getitem(x, crop)
    return shape_ops.pad(x, tuple((max(before, 0), max(after, 0)) for before, after in widths), value=value)


def _gather(x, axis, index):
    """``x[..., index, ...]`` along ``axis``, as runs of the index: a run with step 1 or -1 is a
    basic slice, a repeated position a broadcast of one slice, and the runs are concatenated.

    The same values as ``getitem(x, index array)``, whose backward scatters with ``add.at``
    element by element (5x slower than PyTorch on a (8, 64, 32, 32) batch; these runs are 2x):
    each run's adjoint writes its part of the gradient into x's shape, and the engine adds the
    parts of the runs that read one element, the scatter-add of the repeated indices.
    """
    parts = [_take_run(x, axis, *run) for run in _runs(index)]
    if len(parts) == 1:
        return parts[0]
    return shape_ops.concatenate(parts, axis=axis)


def _runs(index):
    """The index as maximal runs (start, step, length) with step 1, -1 or 0; greedy, so an
    element between two runs belongs to the first. Any other step gives runs of length 1."""
    runs, i = [], 0
    while i < len(index):
        step = int(index[i + 1] - index[i]) if i + 1 < len(index) else 1
        length = 1
        if step in (-1, 0, 1):
            while i + length < len(index) and index[i + length] - index[i + length - 1] == step:
                length += 1
        runs.append((int(index[i]), step if length > 1 else 1, length))
        i += length
    return runs or [(0, 1, 0)]


def _take_run(x, axis, start, step, length):
    """x[..., start + step * arange(length), ...] along ``axis`` by basic slicing (x itself for
    the whole axis in order); step 0 broadcasts the one slice."""
    before = (slice(None),) * axis
    if step == 0:
        edge = shape_ops.getitem(x, before + (slice(start, start + 1),))
        return shape_ops.broadcast_to(edge, x.shape[:axis] + (length,) + x.shape[axis + 1:])
    if step == 1 and start == 0 and length == x.shape[axis]:
        return x
    stop = start + step * length
    part = slice(start, stop if stop >= 0 else None, step)  # a stop of -1 would mean the last element
    return shape_ops.getitem(x, before + (part,))


# -- argument checks -------------------------------------------------------------------------------
def _check_arguments(x, pad, mode, value):
    """The pads as one (before, after) pair per axis of x and the number of padded dims, after
    PyTorch's checks of the mode, the value, the pad length and (for the non-constant modes)
    the input's rank."""
    if mode not in MODES:
        raise ValueError(f"pad: mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    if not isinstance(pad, (tuple, list)) or not all(
            isinstance(p, numbers.Integral) and not isinstance(p, (bool, numpy.bool_)) for p in pad):
        raise TypeError(f"pad: pad must be a tuple of ints, got {pad!r}")
    if len(pad) % 2:
        raise ValueError(f"pad: pad must have an even length (a pair per padded dim), got {tuple(pad)}")
    dims = len(pad) // 2
    if dims > x.ndim:
        raise ValueError(
            f"pad: {len(pad)} pad values pad {dims} dims, more than the {x.ndim} of the input of "
            f"shape {tuple(x.shape)}")
    if mode != "constant" and value is not None and value != 0:
        raise ValueError(f"pad: mode {mode!r} takes no value (it is only for mode 'constant'), got value={value}")
    if mode != "constant":
        if dims not in (1, 2, 3):
            raise ValueError(
                f"pad: mode {mode!r} pads the last 1, 2 or 3 dims (2, 4 or 6 pad values), got {tuple(pad)}")
        if x.ndim not in (dims + 1, dims + 2):
            raise ValueError(
                f"pad: mode {mode!r} with {len(pad)} pad values needs a {dims + 1}-d or {dims + 2}-d "
                f"(batched) input, got shape {tuple(x.shape)}")
    widths = [(0, 0)] * x.ndim
    for i in range(dims):
        widths[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return tuple(widths), dims


def _check_sizes(shape, widths, dims, mode):
    """PyTorch 2.13's conditions, per mode, on a padded dim of size n padded by (before, after):

    | mode | refused when |
    | --- | --- |
    | constant | the crops remove more than n elements |
    | reflect | a pad >= n; a dim other than the batch dim is empty; an output size < 0, or all padded dims empty |
    | replicate | a dim other than the batch dim is empty; an output size < 0, or all padded dims empty |
    | circular | a pad > n; the crops remove more than n elements; a pad > what the crops leave |

    The last row is stricter than PyTorch, which returns uninitialised memory for a pad larger
    than what its crops leave (or raises an error about overlapping memory), and accepts some
    crops of more than n elements where the output is empty.
    """
    if mode in ("reflect", "replicate"):
        _check_non_empty(shape, dims, mode)
    for axis, (before, after) in enumerate(widths):
        size, out = shape[axis], shape[axis] + before + after
        kept = size - max(-before, 0) - max(-after, 0)
        where = f"dim {axis} of size {size} padded by ({before}, {after}), input shape {tuple(shape)}"
        if mode == "reflect" and max(before, after) >= size:
            raise ValueError(f"pad: reflect padding must be smaller than the dim it pads: {where}")
        if mode == "circular" and max(before, after) > size:
            raise ValueError(f"pad: circular padding must be at most the size of the dim it pads: {where}")
        if (out if mode in ("reflect", "replicate") else kept) < 0:
            raise ValueError(f"pad: the negative pads crop more elements than the dim has: {where}")
        if mode == "circular" and max(before, after) > kept:
            raise ValueError(
                f"pad: circular padding must be at most the {kept} elements that the negative pads "
                f"leave of the dim: {where}")
    if mode in ("reflect", "replicate"):
        outputs = tuple(n + before + after for n, (before, after) in zip(shape[-dims:], widths[-dims:]))
        if all(n == 0 for n in outputs):
            raise ValueError(
                f"pad: {mode} padding must leave an element in one of the padded dims, got output "
                f"sizes {outputs} from input shape {tuple(shape)}")


def _check_non_empty(shape, dims, mode):
    """Reflect and replicate padding need every dim non-empty, except the batch dim (dim 0 of
    an input with dims + 2 dims), as ATen's kernels."""
    inner = shape[1:] if len(shape) == dims + 2 else shape
    if 0 in inner:
        batch = " (only the batch dim, dim 0 of a batched input, may be 0)" if len(shape) == dims + 2 else ""
        raise ValueError(f"pad: mode {mode!r} needs non-empty dims{batch}, got shape {tuple(shape)}")
