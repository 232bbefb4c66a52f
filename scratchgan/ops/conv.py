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
Layouts are PyTorch's: NCHW, conv weight (out, in, kh, kw), transposed-conv weight
(in, out, kh, kw).
"""

from __future__ import annotations

from scratchgan import backend
from scratchgan.autograd.function import Function
from scratchgan.ops._common import as_tensor, pair
from scratchgan.ops.linalg import check_same_dtype


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
    as in ``Linear``. The inputs are (x, w) or (x, w, b)."""

    def forward(self, x, w, b=None):
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
                                           output_padding=output_padding, dilation=self.dilation)
        if self.needs_input_grad[1]:
            grad_w = Conv2dWeight.apply(x, g, kernel_size=kernel_size, stride=self.stride,
                                        padding=self.padding, dilation=self.dilation,
                                        columns=getattr(self, "columns", None))
        if len(self._inputs) == 2:
            return grad_x, grad_w
        return grad_x, grad_w, _bias_grad(g) if self.needs_input_grad[2] else None


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, w) (+ b);  dx = conv2d(g, w),  dw = conv2d_weight(g, x),
    db = sum of g over (N, H, W). The inputs are (x, w) or (x, w, b), as for Conv2d."""

    def forward(self, x, w, b=None):
        impl = backend.kernel("conv_transpose2d", conv_transpose2d_array)
        return _add_bias(impl(x, w, self.stride, self.padding, self.output_padding, self.dilation), b)

    def backward(self, g):
        x, w = self.inputs[:2]
        grad_x = grad_w = None
        if self.needs_input_grad[0]:
            grad_x = Conv2d.apply(g, w, stride=self.stride, padding=self.padding,
                                  dilation=self.dilation)
        if self.needs_input_grad[1]:
            grad_w = Conv2dWeight.apply(g, x, kernel_size=w.shape[2:], stride=self.stride,
                                        padding=self.padding, dilation=self.dilation)
        if len(self._inputs) == 2:
            return grad_x, grad_w
        return grad_x, grad_w, _bias_grad(g) if self.needs_input_grad[2] else None


class Conv2dWeight(Function):
    """w' = conv2d_weight(x, y);  dx = conv_transpose2d(y, g),  dy = conv2d(x, g).

    ``columns``: x's im2col columns kept by the forward Conv2d (a kernel set's own layout),
    or None; the kernel set that made them reads them instead of building them again."""

    columns = None

    def forward(self, x, gy):
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
                                           output_padding=output_padding, dilation=self.dilation)
        if self.needs_input_grad[1]:
            grad_gy = Conv2d.apply(x, g, stride=self.stride, padding=self.padding,
                                   dilation=self.dilation)
        return grad_x, grad_gy


# -- functional forms with argument checks ------------------------------------------
def _check_input(op, x, w, channel_axis):
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-d input (N, C, H, W), got shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"{op}: expected a 4-d weight, got shape {w.shape}")
    if x.shape[1] != w.shape[channel_axis]:
        raise ValueError(
            f"{op}: input has {x.shape[1]} channels (shape {x.shape}), but the weight of shape "
            f"{w.shape} expects {w.shape[channel_axis]}"
        )


def _checked_bias(op, bias, weight, out_channels):
    bias = as_tensor(bias, weight)
    if bias.shape != (out_channels,):
        raise ValueError(f"{op}: bias has shape {bias.shape}, expected ({out_channels},) (one per output channel)")
    return bias


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """PyTorch's F.conv2d (groups=1, zero padding)."""
    op = "conv2d"
    _check_input(op, x, weight, channel_axis=1)
    stride, padding, dilation = (pair(stride, "stride", op), pair(padding, "padding", op),
                                 pair(dilation, "dilation", op))
    kernel_size = weight.shape[2:]
    for size, k, s, p, d in zip(x.shape[2:], kernel_size, stride, padding, dilation):
        if s < 1 or d < 1 or p < 0:
            raise ValueError(f"{op}: stride and dilation must be >= 1 and padding >= 0")
        if conv_output_size(size, k, s, p, d) < 1:
            raise ValueError(
                f"{op}: input of spatial size {tuple(x.shape[2:])} (padded by {padding}) is smaller "
                f"than the dilated kernel {tuple(kernel_size)}"
            )
    inputs = (x, weight) if bias is None else (x, weight, _checked_bias(op, bias, weight, weight.shape[0]))
    check_same_dtype(op, **dict(zip(("input", "weight", "bias"), inputs)))
    return Conv2d.apply(*inputs, stride=stride, padding=padding, dilation=dilation)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, dilation=1):
    """PyTorch's F.conv_transpose2d (groups=1); weight (in, out, kh, kw)."""
    op = "conv_transpose2d"
    _check_input(op, x, weight, channel_axis=0)
    stride, padding = pair(stride, "stride", op), pair(padding, "padding", op)
    output_padding, dilation = pair(output_padding, "output_padding", op), pair(dilation, "dilation", op)
    for s, d, p, op_ in zip(stride, dilation, padding, output_padding):
        if s < 1 or d < 1 or p < 0:
            raise ValueError(f"{op}: stride and dilation must be >= 1 and padding >= 0")
        if not 0 <= op_ < s:  # PyTorch also allows op < dilation; its adjoint is then ill-shaped
            raise ValueError(
                f"{op}: output_padding {output_padding} must be non-negative and smaller than "
                f"the stride {stride}"
            )
    for size, k, s, p, d, op_ in zip(x.shape[2:], weight.shape[2:], stride, padding, dilation, output_padding):
        if transposed_output_size(size, k, s, p, d, op_) < 1:
            raise ValueError(f"{op}: padding {padding} leaves an empty output for input {x.shape}")
    inputs = (x, weight) if bias is None else (x, weight, _checked_bias(op, bias, weight, weight.shape[1]))
    check_same_dtype(op, **dict(zip(("input", "weight", "bias"), inputs)))
    return ConvTranspose2d.apply(*inputs, stride=stride, padding=padding,
                                 output_padding=output_padding, dilation=dilation)


def conv2d_weight(x, grad_output, kernel_size, stride=1, padding=0, dilation=1):
    """The weight gradient of conv2d as an op of its own: shape (O, C, kh, kw)."""
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
    check_same_dtype(op, input=x, grad_output=grad_output)
    return Conv2dWeight.apply(x, grad_output, kernel_size=kernel_size, stride=stride,
                              padding=padding, dilation=dilation)
