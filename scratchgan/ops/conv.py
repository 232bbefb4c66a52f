"""Convolution as three primitives that close under differentiation (Chainer's design).

    y  = conv2d(x, w)              x (N, C, H, W), w (O, C, kh, kw)  -> y (N, O, Ho, Wo)
    x' = conv_transpose2d(y, w)    the adjoint of conv2d in its input: <conv2d(x, w), y> = <x, x'>
    w' = conv2d_weight(x, y)       the adjoint of conv2d in its weight: <conv2d(x, w), y> = <w, w'>

Because conv2d is bilinear, each primitive's backward is made of the other two:

    conv2d:           dx = conv_transpose2d(g, w),   dw = conv2d_weight(x, g)
    conv_transpose2d: dy = conv2d(g, w),             dw = conv2d_weight(g, y)
    conv2d_weight:    dx = conv_transpose2d(y, g),   dy = conv2d(x, g)

Only the forward array functions below are accelerated by a kernel set; the calculus
stays here. The NumPy references lower to one GEMM with im2col/col2im loops over
kernel offsets only (each iteration copies one strided slice).
Layouts are PyTorch's: NCHW, conv weight (out, in / groups, kh, kw), transposed-conv weight
(in, out / groups, kh, kw).

Groups: with ``groups = G`` the channels split into G blocks and output block g reads only
input block g, so the weight is block-diagonal and each block is a convolution of its own.
The three primitives take ``groups`` as a parameter; the identities above hold block by
block, so each backward passes its ``groups`` on and the set still closes. ``groups = 1``
runs the kernel set's forwards as before; groups of at least ``WIDE_GROUP`` channels run
them once per group, and narrower ones (depthwise) the grouped NumPy references (one im2col
and one batched matrix product over the groups), on every kernel set.
The 1-d forms ``conv1d`` and ``conv_transpose1d`` are the 2-d ones on (N, C, 1, L).
"""

from __future__ import annotations

from scratchgan import backend
from scratchgan.autograd import grad_mode
from scratchgan.autograd.function import Function
from scratchgan.autograd.tensor import Tensor
from scratchgan.ops import shape as shape_ops
from scratchgan.ops._common import as_tensor, pair
from scratchgan.ops.linalg import check_same_dtype, matmul_array


def conv_output_size(size, kernel, stride, padding, dilation):
    """floor((size + 2p - d(k - 1) - 1) / s) + 1, per spatial axis."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def transposed_output_size(size, kernel, stride, padding, dilation, output_padding):
    """(size - 1) s - 2p + d(k - 1) + output_padding + 1, per spatial axis."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def im2col(x, kernel_size, stride, padding, dilation, out_size):
    """x (N, C, H, W) -> columns (C, kh, kw, N, Ho, Wo): one strided slice per kernel offset."""
    xp = backend.get_array_module(x)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (ho, wo) = kernel_size, stride, padding, dilation, out_size
    n, c = x.shape[:2]
    padded = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    padded = padded.transpose(1, 0, 2, 3)  # (C, N, Hp, Wp), a view
    cols = xp.empty((c, kh, kw, n, ho, wo), dtype=x.dtype)
    for i in range(kh):
        top = i * dh
        for j in range(kw):
            left = j * dw
            cols[:, i, j] = padded[:, :, top:top + sh * (ho - 1) + 1:sh, left:left + sw * (wo - 1) + 1:sw]
    return cols


def col2im(cols, out_shape, stride, padding, dilation):
    """columns (C, kh, kw, N, H, W) -> image (N, C, Ho, Wo), adding overlapping contributions."""
    xp = backend.get_array_module(cols)
    c, kh, kw, n, h, w = cols.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    ho, wo = out_shape
    padded = xp.zeros((c, n, ho + 2 * ph, wo + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        top = i * dh
        for j in range(kw):
            left = j * dw
            padded[:, :, top:top + sh * (h - 1) + 1:sh, left:left + sw * (w - 1) + 1:sw] += cols[:, i, j]
    return padded[:, :, ph:ph + ho, pw:pw + wo].transpose(1, 0, 2, 3)


def conv2d_array(x, w, stride, padding, dilation):
    """Reference conv2d forward: y[n, o] = sum_{c, i, j} w[o, c, i, j] x_pad[n, c, s h + d i, s w + d j]."""
    xp = backend.get_array_module(x, w)
    n, c, h, wd = x.shape
    out_channels, _, kh, kw = w.shape
    ho = conv_output_size(h, kh, stride[0], padding[0], dilation[0])
    wo = conv_output_size(wd, kw, stride[1], padding[1], dilation[1])
    cols = im2col(x, (kh, kw), stride, padding, dilation, (ho, wo)).reshape(c * kh * kw, n * ho * wo)
    y = xp.matmul(w.reshape(out_channels, c * kh * kw), cols)  # (O, N*Ho*Wo)
    return xp.ascontiguousarray(y.reshape(out_channels, n, ho, wo).transpose(1, 0, 2, 3))


def conv_transpose2d_array(x, w, stride, padding, output_padding, dilation):
    """Reference transposed conv forward: scatter x[n, c] * w[c, o] into the output (col2im)."""
    xp = backend.get_array_module(x, w)
    n, c, h, wd = x.shape
    _, out_channels, kh, kw = w.shape
    ho = transposed_output_size(h, kh, stride[0], padding[0], dilation[0], output_padding[0])
    wo = transposed_output_size(wd, kw, stride[1], padding[1], dilation[1], output_padding[1])
    x_rows = x.transpose(1, 0, 2, 3).reshape(c, n * h * wd)
    cols = xp.matmul(w.reshape(c, out_channels * kh * kw).T, x_rows)  # (O*kh*kw, N*H*W)
    cols = cols.reshape(out_channels, kh, kw, n, h, wd)
    return xp.ascontiguousarray(col2im(cols, (ho, wo), stride, padding, dilation))


def conv2d_weight_array(x, gy, kernel_size, stride, padding, dilation):
    """Reference weight gradient: dw[o, c, i, j] = sum_{n, h, w} gy[n, o, h, w] x_pad[n, c, s h + d i, s w + d j]."""
    xp = backend.get_array_module(x, gy)
    n, c = x.shape[:2]
    out_channels, ho, wo = gy.shape[1:]
    kh, kw = kernel_size
    cols = im2col(x, kernel_size, stride, padding, dilation, (ho, wo)).reshape(c * kh * kw, n * ho * wo)
    gy_rows = gy.transpose(1, 0, 2, 3).reshape(out_channels, n * ho * wo)
    return xp.matmul(gy_rows, cols.T).reshape(out_channels, c, kh, kw)


# -- grouped references: the same lowering with one matrix product per group (a batched matmul).
# im2col's columns (C, kh, kw, N, Ho, Wo) start with the channel axis, so a reshape to
# (G, C/G kh kw, N Ho Wo) gives each group its own block of rows.
def grouped_conv2d_array(x, w, stride, padding, dilation, groups):
    """y[n, g O/G + o] = sum_{c < C/G, i, j} w[g O/G + o, c, i, j] x_pad[n, g C/G + c, s h + d i, s w + d j]."""
    xp = backend.get_array_module(x, w)
    n, c, h, wd = x.shape
    out_channels, per_group, kh, kw = w.shape
    ho = conv_output_size(h, kh, stride[0], padding[0], dilation[0])
    wo = conv_output_size(wd, kw, stride[1], padding[1], dilation[1])
    cols = im2col(x, (kh, kw), stride, padding, dilation, (ho, wo)).reshape(groups, per_group * kh * kw, n * ho * wo)
    y = matmul_array(w.reshape(groups, out_channels // groups, per_group * kh * kw), cols)  # (G, O/G, N*Ho*Wo)
    return xp.ascontiguousarray(y.reshape(out_channels, n, ho, wo).transpose(1, 0, 2, 3))


def grouped_conv_transpose2d_array(x, w, stride, padding, output_padding, dilation, groups):
    """Grouped transposed conv, w (C, O/G, kh, kw): group g scatters x[n, g C/G + c] * w[g C/G + c, o]."""
    xp = backend.get_array_module(x, w)
    n, c, h, wd = x.shape
    _, per_group_out, kh, kw = w.shape
    ho = transposed_output_size(h, kh, stride[0], padding[0], dilation[0], output_padding[0])
    wo = transposed_output_size(wd, kw, stride[1], padding[1], dilation[1], output_padding[1])
    x_rows = x.transpose(1, 0, 2, 3).reshape(groups, c // groups, n * h * wd)
    w_blocks = w.reshape(groups, c // groups, per_group_out * kh * kw).transpose(0, 2, 1)
    # depthwise: C/G = 1, an outer product per group, which matmul_array computes as a broadcast multiply
    cols = matmul_array(w_blocks, x_rows).reshape(groups * per_group_out, kh, kw, n, h, wd)
    return xp.ascontiguousarray(col2im(cols, (ho, wo), stride, padding, dilation))


def grouped_conv2d_weight_array(x, gy, kernel_size, stride, padding, dilation, groups):
    """dw[g O/G + o, c, i, j] = sum_{n, h, w} gy[n, g O/G + o, h, w] x_pad[n, g C/G + c, s h + d i, s w + d j]."""
    n, c = x.shape[:2]
    out_channels, ho, wo = gy.shape[1:]
    kh, kw = kernel_size
    cols = im2col(x, kernel_size, stride, padding, dilation, (ho, wo))
    cols = cols.reshape(groups, c // groups * kh * kw, n * ho * wo)
    gy_rows = gy.transpose(1, 0, 2, 3).reshape(groups, out_channels // groups, n * ho * wo)
    return matmul_array(gy_rows, cols.transpose(0, 2, 1)).reshape(out_channels, c // groups, kh, kw)


# With wide groups, the Numba kernel called once per group beat the batched reference (whose
# im2col and col2im are NumPy's); with narrow ones the per-call cost dominated. Forward and
# both gradients, 64 channels of 16x16, batch 8, float32: the kernel per group 2x faster at
# 16 and 32 channels per group, the batched reference 1.2x faster at 4 and 8 and 2.5x at 1
# (depthwise).
WIDE_GROUP = 16  # channels per group (of the first input) from which the kernel runs per group


def _blocks(array, axis, groups):
    """``array`` split into ``groups`` equal blocks along ``axis`` (views)."""
    size = array.shape[axis] // groups
    return [array[(slice(None),) * axis + (slice(g * size, (g + 1) * size),)] for g in range(groups)]


def _group_by_group(impl, a, a_axis, b, b_axis, out_axis, groups, *options):
    """``impl`` on each group's blocks of ``a`` and ``b``; the results joined along ``out_axis``."""
    parts = [impl(a_g, b_g, *options) for a_g, b_g in zip(_blocks(a, a_axis, groups), _blocks(b, b_axis, groups))]
    return backend.get_array_module(a, b).concatenate(parts, axis=out_axis)


def grouped_conv2d(x, w, stride, padding, dilation, groups):
    """conv2d with groups > 1: the set's kernel per group when groups are wide, else the batched reference."""
    if x.shape[1] // groups >= WIDE_GROUP:
        impl = backend.kernel("conv2d", conv2d_array)
        return _group_by_group(impl, x, 1, w, 0, 1, groups, stride, padding, dilation)
    return grouped_conv2d_array(x, w, stride, padding, dilation, groups)


def grouped_conv_transpose2d(x, w, stride, padding, output_padding, dilation, groups):
    """conv_transpose2d with groups > 1, dispatched as ``grouped_conv2d``."""
    if x.shape[1] // groups >= WIDE_GROUP:
        impl = backend.kernel("conv_transpose2d", conv_transpose2d_array)
        return _group_by_group(impl, x, 1, w, 0, 1, groups, stride, padding, output_padding, dilation)
    return grouped_conv_transpose2d_array(x, w, stride, padding, output_padding, dilation, groups)


def grouped_conv2d_weight(x, gy, kernel_size, stride, padding, dilation, groups):
    """conv2d_weight with groups > 1, dispatched as ``grouped_conv2d``; the blocks of dw stack on axis 0."""
    if x.shape[1] // groups >= WIDE_GROUP:
        impl = backend.kernel("conv2d_weight", conv2d_weight_array)
        return _group_by_group(impl, x, 1, gy, 1, 0, groups, kernel_size, stride, padding, dilation)
    return grouped_conv2d_weight_array(x, gy, kernel_size, stride, padding, dilation, groups)


def _output_padding_for(target_hw, source_hw, kernel_size, stride, padding, dilation):
    """The output_padding that makes conv_transpose2d of ``source_hw`` come out ``target_hw``."""
    return tuple(
        target - transposed_output_size(source, k, s, p, d, 0)
        for target, source, k, s, p, d in zip(target_hw, source_hw, kernel_size, stride, padding, dilation)
    )


def _add_bias(y, b):
    """y + b over the channel axis 1, in place when the dtypes allow (y is the kernel's new array)."""
    if b is None:
        return y
    b = b.reshape(1, -1, *([1] * (y.ndim - 2)))
    if backend.get_array_module(y).result_type(y, b) != y.dtype:
        return y + b
    y += b
    return y


def _bias_grad(g):
    """db = sum of g over every axis but the channel axis 1."""
    return g.sum(axis=(0,) + tuple(range(2, g.ndim)))


class Conv2d(Function):
    """y = conv2d(x, w) (+ b);  dx = conv_transpose2d(g, w),  dw = conv2d_weight(x, g),
    db = sum of g over (N, H, W).

    The bias is added in place into the convolution's output (one node, no second array),
    as in ``Linear``. The inputs are (x, w) or (x, w, b). ``groups`` (default 1): each of
    the G channel blocks is its own convolution, and the VJPs are taken with the same G."""

    groups = 1

    def forward(self, x, w, b=None):
        if self.groups > 1:
            y = grouped_conv2d(x, w, self.stride, self.padding, self.dilation, self.groups)
            return _add_bias(y, b)
        keeping = backend.kernel("conv2d_keeping_columns", None) if self.needs_input_grad[1] else None
        if keeping is not None:  # a kernel set that can hand its im2col columns to the weight gradient
            y, self.columns = keeping(x, w, self.stride, self.padding, self.dilation)
        else:
            y = backend.kernel("conv2d", conv2d_array)(x, w, self.stride, self.padding, self.dilation)
        return _add_bias(y, b)

    def backward(self, g):
        x, w = self.inputs[:2]
        kernel_size = w.shape[2:]
        grad_x = grad_w = None
        if self.needs_input_grad[0]:
            output_padding = _output_padding_for(
                x.shape[2:], g.shape[2:], kernel_size, self.stride, self.padding, self.dilation)
            grad_x = ConvTranspose2d.apply(g, w, stride=self.stride, padding=self.padding,
                                           output_padding=output_padding, dilation=self.dilation,
                                           groups=self.groups)
        if self.needs_input_grad[1]:
            grad_w = Conv2dWeight.apply(x, g, kernel_size=kernel_size, stride=self.stride,
                                        padding=self.padding, dilation=self.dilation,
                                        groups=self.groups, columns=getattr(self, "columns", None))
        if len(self._inputs) == 2:
            return grad_x, grad_w
        return grad_x, grad_w, _bias_grad(g) if self.needs_input_grad[2] else None


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, w) (+ b);  dx = conv2d(g, w),  dw = conv2d_weight(g, x),
    db = sum of g over (N, H, W). The inputs are (x, w) or (x, w, b), as for Conv2d;
    ``groups`` as for Conv2d, w (C, O / groups, kh, kw)."""

    groups = 1

    def forward(self, x, w, b=None):
        if self.groups > 1:
            y = grouped_conv_transpose2d(x, w, self.stride, self.padding, self.output_padding,
                                         self.dilation, self.groups)
            return _add_bias(y, b)
        impl = backend.kernel("conv_transpose2d", conv_transpose2d_array)
        return _add_bias(impl(x, w, self.stride, self.padding, self.output_padding, self.dilation), b)

    def backward(self, g):
        """dx and dw both read g's im2col columns (the same geometry). Without create_graph a
        kernel set's optional ``conv2d_and_weight`` computes both from one build of them
        (the Tensors it returns have no graph, which is all a first-order backward needs);
        otherwise each is its primitive, differentiable again."""
        x, w = self.inputs[:2]
        grad_x = grad_w = None
        both = self.needs_input_grad[0] and self.needs_input_grad[1] and self.groups == 1
        fused = backend.kernel("conv2d_and_weight", None) if both and not grad_mode.is_grad_enabled() else None
        if fused is not None:
            grad_x, grad_w = (Tensor(a) for a in fused(g.data, w.data, x.data, self.stride, self.padding,
                                                       self.dilation))
        if self.needs_input_grad[0] and grad_x is None:
            grad_x = Conv2d.apply(g, w, stride=self.stride, padding=self.padding,
                                  dilation=self.dilation, groups=self.groups)
        if self.needs_input_grad[1] and grad_w is None:
            grad_w = Conv2dWeight.apply(g, x, kernel_size=w.shape[2:], stride=self.stride,
                                        padding=self.padding, dilation=self.dilation, groups=self.groups)
        if len(self._inputs) == 2:
            return grad_x, grad_w
        return grad_x, grad_w, _bias_grad(g) if self.needs_input_grad[2] else None


class Conv2dWeight(Function):
    """w' = conv2d_weight(x, y);  dx = conv_transpose2d(y, g),  dy = conv2d(x, g).

    ``columns``: what the forward Conv2d kept for this gradient (x's im2col columns, or an
    array they are built from faster than from x, in a kernel set's own layout), or None; the
    kernel set that made them reads them instead of building them from x.
    ``groups`` as for Conv2d: w' has shape (O, C / groups, kh, kw)."""

    columns = None
    groups = 1

    def forward(self, x, gy):
        if self.groups > 1:
            return grouped_conv2d_weight(x, gy, self.kernel_size, self.stride, self.padding,
                                         self.dilation, self.groups)
        from_columns = backend.kernel("conv2d_weight_from_columns", None) if self.columns is not None else None
        if from_columns is not None:
            return from_columns(self.columns, x.shape, gy, self.kernel_size, self.stride, self.padding,
                                self.dilation)
        impl = backend.kernel("conv2d_weight", conv2d_weight_array)
        return impl(x, gy, self.kernel_size, self.stride, self.padding, self.dilation)

    def backward(self, g):
        x, gy = self.inputs
        grad_x = grad_gy = None
        if self.needs_input_grad[0]:
            output_padding = _output_padding_for(
                x.shape[2:], gy.shape[2:], self.kernel_size, self.stride, self.padding, self.dilation)
            grad_x = ConvTranspose2d.apply(gy, g, stride=self.stride, padding=self.padding,
                                           output_padding=output_padding, dilation=self.dilation,
                                           groups=self.groups)
        if self.needs_input_grad[1]:
            grad_gy = Conv2d.apply(x, g, stride=self.stride, padding=self.padding,
                                   dilation=self.dilation, groups=self.groups)
        return grad_x, grad_gy


# -- functional forms with argument checks ------------------------------------------
LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)"}


def single(value, name: str, op: str) -> tuple[int]:
    """An int or a 1-sequence of ints as a 1-tuple (PyTorch's ``_single``)."""
    if isinstance(value, int):
        return (value,)
    value = tuple(value)
    if len(value) != 1 or not isinstance(value[0], int):
        raise ValueError(f"{op}: {name} must be an int or a 1-tuple of ints, got {value}")
    return value


def _as_tuples(op, spatial, **values):
    """Each value as a tuple of one int per spatial axis (``single`` for 1-d, ``pair`` for 2-d)."""
    as_tuple = single if spatial == 1 else pair
    for name, value in values.items():
        if isinstance(value, str):
            raise ValueError(f"{op}: {name} must be an int or a tuple of {spatial} ints, got {value!r}")
    return tuple(as_tuple(value, name, op) for name, value in values.items())


def _check_input(op, x, w, spatial):
    if x.ndim != spatial + 2:  # PyTorch also takes an unbatched input; scratchgan asks for the batch axis
        raise ValueError(f"{op}: expected a {spatial + 2}-d input {LAYOUTS[spatial]}, got shape {x.shape}")
    if w.ndim != spatial + 2:
        raise ValueError(f"{op}: expected a {spatial + 2}-d weight, got shape {w.shape}")


def _check_groups(op, x, w, groups, transposed):
    """C and the weight's channel axes agree with ``groups``: w (O, C/G, ...), or (C, O/G, ...) transposed."""
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    channels = x.shape[1]
    if channels % groups:
        raise ValueError(f"{op}: input has {channels} channels (shape {x.shape}), not divisible by groups={groups}")
    expected = w.shape[0] if transposed else w.shape[1] * groups
    if channels != expected:
        per_group = "" if transposed or groups == 1 else f" ({w.shape[1]} per group, groups={groups})"
        raise ValueError(
            f"{op}: input has {channels} channels (shape {x.shape}), but the weight of shape "
            f"{w.shape} expects {expected}{per_group}"
        )
    if not transposed and w.shape[0] % groups:
        raise ValueError(
            f"{op}: the weight of shape {w.shape} has {w.shape[0]} output channels, not divisible "
            f"by groups={groups}"
        )


def _checked_bias(op, bias, weight, out_channels):
    bias = as_tensor(bias, weight)
    if bias.shape != (out_channels,):
        raise ValueError(f"{op}: bias has shape {bias.shape}, expected ({out_channels},) (one per output channel)")
    return bias


def _checked_inputs(op, x, weight, bias, out_channels):
    """(x, weight) or (x, weight, bias), one dtype, as the primitives take them."""
    inputs = (x, weight) if bias is None else (x, weight, _checked_bias(op, bias, weight, out_channels))
    check_same_dtype(op, **dict(zip(("input", "weight", "bias"), inputs)))
    return inputs


def _resolved_padding(op, padding, kernel_size, stride, dilation):
    """(padding on both sides, zeros added after the end) per spatial axis, from PyTorch's
    ``padding``: ints, "valid" (none) or "same" (d (k - 1) in all, its odd one at the end)."""
    no_padding = (0,) * len(kernel_size)
    if not isinstance(padding, str):
        (padding,) = _as_tuples(op, len(kernel_size), padding=padding)
        return padding, no_padding
    if padding == "valid":
        return no_padding, no_padding
    if padding != "same":
        raise ValueError(f"{op}: padding must be 'same', 'valid', an int or a tuple of ints, got {padding!r}")
    if any(s != 1 for s in stride):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride {stride})")
    totals = [d * (k - 1) for k, d in zip(kernel_size, dilation)]
    return tuple(total // 2 for total in totals), tuple(total % 2 for total in totals)


def _as_2d(t):
    """(N, C, L) -> (N, C, 1, L): a 1-d convolution is a 2-d one of height 1."""
    return shape_ops.reshape(t, t.shape[:2] + (1,) + t.shape[2:])


def _convolve(op, spatial, x, weight, bias, stride, padding, dilation, groups):
    """The checks and the call behind conv1d and conv2d (``spatial`` = 1 or 2 axes)."""
    _check_input(op, x, weight, spatial)
    _check_groups(op, x, weight, groups, transposed=False)
    stride, dilation = _as_tuples(op, spatial, stride=stride, dilation=dilation)
    kernel_size = weight.shape[2:]
    padding, padding_after = _resolved_padding(op, padding, kernel_size, stride, dilation)
    for size, k, s, p, d, after in zip(x.shape[2:], kernel_size, stride, padding, dilation, padding_after):
        if s < 1 or d < 1 or p < 0:
            raise ValueError(f"{op}: stride and dilation must be >= 1 and padding >= 0")
        if conv_output_size(size + after, k, s, p, d) < 1:
            raise ValueError(
                f"{op}: input of spatial size {tuple(x.shape[2:])} (padded by {padding}) is smaller "
                f"than the dilated kernel {tuple(kernel_size)}"
            )
    x, weight, *bias = _checked_inputs(op, x, weight, bias, weight.shape[0])
    if any(padding_after):  # padding="same" with an even d (k - 1): the odd zero goes at the end, as in PyTorch
        x = shape_ops.pad(x, ((0, 0), (0, 0)) + tuple((0, after) for after in padding_after))
    if spatial == 2:
        return Conv2d.apply(x, weight, *bias, stride=stride, padding=padding, dilation=dilation, groups=groups)
    y = Conv2d.apply(_as_2d(x), _as_2d(weight), *bias, stride=(1,) + stride, padding=(0,) + padding,
                     dilation=(1,) + dilation, groups=groups)
    return shape_ops.reshape(y, y.shape[:2] + y.shape[3:])


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """PyTorch's F.conv2d (zero padding): x (N, C, H, W), weight (O, C / groups, kh, kw).

    ``padding``: an int, a pair, "valid" or "same" (stride 1, as PyTorch). ``groups`` splits
    the channels into blocks, each convolved with its own block of filters; groups = C is a
    depthwise convolution. Unlike PyTorch, an unbatched (C, H, W) input is refused."""
    return _convolve("conv2d", 2, x, weight, bias, stride, padding, dilation, groups)


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """PyTorch's F.conv1d: x (N, C, L), weight (O, C / groups, k); conv2d on (N, C, 1, L).
    Arguments as for ``conv2d``, with one int per axis."""
    return _convolve("conv1d", 1, x, weight, bias, stride, padding, dilation, groups)


def _check_transposed_geometry(op, x, kernel_size, stride, padding, output_padding, dilation):
    for s, d, p, extra in zip(stride, dilation, padding, output_padding):
        if s < 1 or d < 1 or p < 0:
            raise ValueError(f"{op}: stride and dilation must be >= 1 and padding >= 0")
        if extra < 0 or (extra >= s and extra >= d):  # PyTorch's rule, per axis
            raise ValueError(
                f"{op}: output_padding {output_padding} must be non-negative and smaller than "
                f"the stride {stride} or the dilation {dilation}"
            )
    for size, k, s, p, d, extra in zip(x.shape[2:], kernel_size, stride, padding, dilation, output_padding):
        if transposed_output_size(size, k, s, p, d, extra) < 1:
            raise ValueError(f"{op}: padding {padding} leaves an empty output for input {x.shape}")


def _transposed_with_wide_output_padding(x, weight, stride, padding, output_padding, dilation, groups):
    """conv_transpose2d with stride <= output_padding < dilation on an axis (PyTorch allows it).

    conv2d of its gradient (the primitive's VJP) would have more rows than x, so it is built
    from ops whose VJPs are exact: the unpadded transposed convolution, zeros added at the
    end, and the crop by ``padding``. Output row o is row o + p of the unpadded one; rows
    past its end receive nothing."""
    full = ConvTranspose2d.apply(x, weight, stride=stride, padding=(0, 0), output_padding=(0, 0),
                                 dilation=dilation, groups=groups)
    after = tuple(max(0, extra - p) for extra, p in zip(output_padding, padding))
    if any(after):
        full = shape_ops.pad(full, ((0, 0), (0, 0)) + tuple((0, a) for a in after))
    sizes = [transposed_output_size(n, k, s, p, d, extra) for n, k, s, p, d, extra in
             zip(x.shape[2:], weight.shape[2:], stride, padding, dilation, output_padding)]
    return shape_ops.getitem(full, (slice(None), slice(None)) + tuple(
        slice(p, p + size) for p, size in zip(padding, sizes)))


def _convolve_transposed(op, spatial, x, weight, bias, stride, padding, output_padding, groups, dilation):
    """The checks and the call behind conv_transpose1d and conv_transpose2d."""
    _check_input(op, x, weight, spatial)
    _check_groups(op, x, weight, groups, transposed=True)
    stride, padding, output_padding, dilation = _as_tuples(
        op, spatial, stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
    _check_transposed_geometry(op, x, weight.shape[2:], stride, padding, output_padding, dilation)
    x, weight, *bias = _checked_inputs(op, x, weight, bias, weight.shape[1] * groups)
    if spatial == 1:
        x, weight = _as_2d(x), _as_2d(weight)
        stride, padding = (1,) + stride, (0,) + padding
        output_padding, dilation = (0,) + output_padding, (1,) + dilation
    if all(extra < s for extra, s in zip(output_padding, stride)):
        y = ConvTranspose2d.apply(x, weight, *bias, stride=stride, padding=padding,
                                  output_padding=output_padding, dilation=dilation, groups=groups)
    else:
        y = _transposed_with_wide_output_padding(x, weight, stride, padding, output_padding, dilation, groups)
        if bias:
            y = y + shape_ops.reshape(bias[0], (1, -1, 1, 1))
    return y if spatial == 2 else shape_ops.reshape(y, y.shape[:2] + y.shape[3:])


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """PyTorch's F.conv_transpose2d, in its argument order (groups before dilation):
    x (N, C, H, W), weight (C, O / groups, kh, kw). output_padding below the stride or the
    dilation on each axis, as PyTorch. Unlike PyTorch, an unbatched input is refused."""
    return _convolve_transposed("conv_transpose2d", 2, x, weight, bias, stride, padding, output_padding,
                                groups, dilation)


def conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """PyTorch's F.conv_transpose1d: x (N, C, L), weight (C, O / groups, k); conv_transpose2d
    on (N, C, 1, L)."""
    return _convolve_transposed("conv_transpose1d", 1, x, weight, bias, stride, padding, output_padding,
                                groups, dilation)


def conv2d_weight(x, grad_output, kernel_size, stride=1, padding=0, dilation=1, groups=1):
    """The weight gradient of conv2d as an op of its own: shape (O, C / groups, kh, kw)."""
    op = "conv2d_weight"
    kernel_size = pair(kernel_size, "kernel_size", op)
    stride, padding, dilation = (pair(stride, "stride", op), pair(padding, "padding", op),
                                 pair(dilation, "dilation", op))
    expected = tuple(conv_output_size(n, k, s, p, d) for n, k, s, p, d in
                     zip(x.shape[2:], kernel_size, stride, padding, dilation))
    if grad_output.ndim != 4 or grad_output.shape[0] != x.shape[0] or grad_output.shape[2:] != expected:
        raise ValueError(
            f"{op}: grad_output has shape {grad_output.shape}, expected (N={x.shape[0]}, O, "
            f"{expected[0]}, {expected[1]}) for input {x.shape}"
        )
    if not isinstance(groups, int) or groups < 1 or x.shape[1] % groups or grad_output.shape[1] % groups:
        raise ValueError(
            f"{op}: groups={groups!r} must be a positive int dividing the channels of the input "
            f"{x.shape} and of grad_output {grad_output.shape}"
        )
    check_same_dtype(op, input=x, grad_output=grad_output)
    return Conv2dWeight.apply(x, grad_output, kernel_size=kernel_size, stride=stride,
                              padding=padding, dilation=dilation, groups=groups)
