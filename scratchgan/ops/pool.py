"""Pooling and resampling: the index and weight rules of PyTorch's CPU kernels, on arrays.

No primitive lives here. Each op is a composition of primitives whose derivatives of every
order already exist; this module computes, on arrays, the constants those compositions need:

    max_pool2d    y = getitem(x, argmax of each window)            (gather; backward index_add)
    avg_pool2d    y = conv2d(x, ones) / divisor                    (divisor from the window sizes)
    interpolate   nearest: y = getitem(x, source rows and columns)
                  bilinear: y = M_h x M_w^T, M with two weights per row  (matmul along H and W)

The rules are those of PyTorch 2.13's ATen (``Pool.h``: ``pooling_output_shape``,
``pool2d_shape_check``; ``cpu/MaxPoolKernel.cpp``; ``cpu/AvgPoolKernel.cpp``; ``UpSample.h``:
``nearest_idx``, ``area_pixel_compute_source_index``, ``guard_index_and_lambda``), down to the
float32 arithmetic of the nearest-neighbour source index.
"""

from __future__ import annotations

import math
import numbers

import numpy

from scratchgan import backend


# -- arguments ----------------------------------------------------------------------------
def int_pair(value, name: str, op: str) -> tuple[int, int]:
    """An int or a sequence of two ints as a pair (PyTorch's ``_pair``); bools are refused."""
    def is_int(v):
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)

    if is_int(value):
        return (int(value), int(value))
    if not isinstance(value, (tuple, list)) or not all(is_int(v) for v in value):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if len(value) != 2:
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {len(value)} values {tuple(value)}")
    return (int(value[0]), int(value[1]))


def pool_geometry(op, kernel_size, stride, padding, dilation=1):
    """(kernel, stride, padding, dilation) as checked pairs; stride None (or empty) = kernel_size.

    PyTorch's ``pool2d_shape_check``: kernel, stride and dilation positive, padding
    non-negative and at most half the kernel (``padding <= kernel // 2``, whatever the dilation).
    """
    kernel = int_pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None or (isinstance(stride, (tuple, list)) and not stride) \
        else int_pair(stride, "stride", op)
    padding, dilation = int_pair(padding, "padding", op), int_pair(dilation, "dilation", op)
    for name, values in (("kernel_size", kernel), ("stride", stride), ("dilation", dilation)):
        if min(values) <= 0:
            raise ValueError(f"{op}: {name} must be positive, got {values}")
    if min(padding) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding}")
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel_size {kernel}")
    return kernel, stride, padding, dilation


def pool_output_size(size, kernel, stride, padding, dilation, ceil_mode):
    """PyTorch's ``pooling_output_shape`` along one axis:

        out = floor_or_ceil((size + 2p - d(k - 1) - 1) / s) + 1,

    and with ceil_mode the last window is dropped when it would start in the right padding,
    ``(out - 1) s >= size + p``.
    """
    span = size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def pool_output_shape(op, spatial, geometry, ceil_mode):
    """(Ho, Wo) of a pooling of a (H, W) input, refusing an empty output."""
    kernel, stride, padding, dilation = geometry
    out = tuple(pool_output_size(n, k, s, p, d, ceil_mode)
                for n, k, s, p, d in zip(spatial, kernel, stride, padding, dilation))
    if min(out) <= 0:
        raise ValueError(
            f"{op}: the output size {out} is not positive: input (H, W) = {tuple(spatial)} is too small "
            f"for kernel_size {kernel}, stride {stride}, padding {padding}, dilation {dilation}"
        )
    return out


# -- max pooling ------------------------------------------------------------------------------
def first_valid_positions(size, kernel, stride, padding, dilation, out_size):
    """Along one axis, the first input position each window reads (start + d i >= 0), and
    whether the window reads any input position at all (not only padding)."""
    start = numpy.arange(out_size) * stride - padding
    steps_into_input = numpy.maximum(0, (-start + dilation - 1) // dilation)
    first = start + dilation * steps_into_input
    reads_input = (steps_into_input < kernel) & (first < size)
    return first, reads_input


def max_pool2d_indices(x, kernel_size, stride, padding, dilation, out_size):
    """The flat index h * W + w of each window's maximum in its (N, C) plane: (N, C, Ho, Wo) int64.

    PyTorch's CPU rule: the window is scanned in row-major order and an element is taken when
    ``value > best or isnan(value)`` (best starting at -inf), so ties go to the first maximum
    and a NaN wins (the last NaN of the window); an all -inf window keeps its first element.
    Padding is -inf and never taken. The loop runs over the kh * kw kernel offsets, each
    comparing one strided slice of all windows (im2col's pattern), never over pixels.
    """
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (ho, wo) = kernel_size, stride, padding, dilation, out_size
    # -inf on every side a window reaches: p on the left, up to the last window's end on the right
    right_h = max(0, (ho - 1) * sh + (kh - 1) * dh + 1 - ph - h)
    right_w = max(0, (wo - 1) * sw + (kw - 1) * dw + 1 - pw - w)
    padded = xp.pad(x, ((0, 0), (0, 0), (ph, right_h), (pw, right_w)), constant_values=-numpy.inf)
    first_rows, _ = first_valid_positions(h, kh, sh, ph, dh, ho)
    first_cols, _ = first_valid_positions(w, kw, sw, pw, dw, wo)
    best = xp.full((n, c, ho, wo), -numpy.inf, dtype=x.dtype)
    best_index = xp.empty((n, c, ho, wo), dtype=numpy.int64)
    best_index[...] = xp.asarray(first_rows[:, None] * w + first_cols[None, :])
    rows, cols = numpy.arange(ho) * sh - ph, numpy.arange(wo) * sw - pw
    for i in range(kh):
        for j in range(kw):
            window = padded[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw]
            taken = (window > best) | xp.isnan(window)
            offset_index = xp.asarray((rows + i * dh)[:, None] * w + (cols + j * dw)[None, :])
            xp.copyto(best, window, where=taken)
            xp.copyto(best_index, xp.broadcast_to(offset_index, best_index.shape), where=taken)
    return best_index


# -- average pooling --------------------------------------------------------------------------
def avg_pool_window_sizes(size, kernel, stride, padding, out_size):
    """Along one axis, (elements of each window inside the padded input, of them inside the
    input): PyTorch's ``pool_size`` before and after clipping the window to the input."""
    start = numpy.arange(out_size) * stride - padding
    end = numpy.minimum(start + kernel, size + padding)
    inside = numpy.minimum(end, size) - numpy.maximum(start, 0)
    return end - start, inside


def avg_pool2d_divisors(spatial, kernel, stride, padding, out_size, count_include_pad, divisor_override):
    """The divisor of each window's sum, (Ho, Wo) float64: divisor_override, or the window's
    element count in the padded input (count_include_pad) or in the input itself."""
    if divisor_override is not None:
        return numpy.full(out_size, float(divisor_override))
    counts = [avg_pool_window_sizes(n, k, s, p, o) for n, k, s, p, o in zip(spatial, kernel, stride, padding, out_size)]
    (padded_h, inside_h), (padded_w, inside_w) = counts
    if count_include_pad:
        return numpy.outer(padded_h, padded_w).astype(numpy.float64)
    return numpy.outer(inside_h, inside_w).astype(numpy.float64)


# -- resampling -------------------------------------------------------------------------------
def nearest_source_indices(in_size, out_size, scale=None):
    """PyTorch's ``nearest_idx``: src = min(floor(dst * r), in - 1) in float32 arithmetic, where
    r = float32(1 / scale) when a scale factor was given, else float32(in) / out; out = in and
    out = 2 in are special-cased (dst and dst >> 1). The float32 rounding is kept on purpose:
    it picks a different source than the exact floor(dst * in / out) for some sizes (2 -> 82)."""
    dst = numpy.arange(out_size)
    if out_size == in_size:
        return dst
    if out_size == 2 * in_size:
        return dst >> 1
    f32 = numpy.float32
    ratio = f32(1.0 / scale) if scale is not None and scale > 0 else f32(in_size) / f32(out_size)
    return numpy.minimum(numpy.floor(dst.astype(f32) * ratio).astype(numpy.int64), in_size - 1)


def linear_source_weights(in_size, out_size, align_corners, scale, dtype):
    """PyTorch's ``compute_source_index_and_lambda``: for each output index the two input
    neighbours i0 <= i1 and their weights l0 + l1 = 1, computed in ``dtype`` as ATen does:

        align_corners:  src = (in - 1) / (out - 1) * dst
        otherwise:      src = max(r (dst + 1/2) - 1/2, 0),  r = 1 / scale or in / out
        i0 = min(floor(src), in - 1),  l1 = clip(src - i0, 0, 1),  i1 = i0 + (i0 < in - 1).
    """
    t = numpy.dtype(dtype).type
    dst = numpy.arange(out_size).astype(dtype)
    if out_size == in_size:  # copied, as ATen does, whatever the scale
        index = numpy.arange(out_size)
        return index, index, numpy.ones(out_size, dtype), numpy.zeros(out_size, dtype)
    if align_corners:
        ratio = t(in_size - 1) / t(out_size - 1) if out_size > 1 else t(0)
        source = ratio * dst
    else:
        ratio = t(1.0 / scale) if scale is not None and scale > 0 else t(in_size) / t(out_size)
        source = numpy.maximum(ratio * (dst + t(0.5)) - t(0.5), t(0))
    # ATen floors with floorf, so a float64 source index is rounded to float32 first
    first = numpy.minimum(numpy.floor(source.astype(numpy.float32)).astype(numpy.int64), in_size - 1)
    upper_weight = numpy.clip(source - first.astype(dtype), t(0), t(1)).astype(dtype)
    second = first + (first < in_size - 1)
    return first, second, (t(1) - upper_weight).astype(dtype), upper_weight


def linear_resample_matrix(in_size, out_size, align_corners, scale, dtype):
    """The (out, in) matrix M of linear interpolation along one axis: y = M x, two weights a row."""
    first, second, lower_weight, upper_weight = linear_source_weights(in_size, out_size, align_corners, scale, dtype)
    matrix = numpy.zeros((out_size, in_size), dtype=dtype)
    rows = numpy.arange(out_size)
    matrix[rows, first] = lower_weight
    matrix[rows, second] += upper_weight  # i0 = i1 at the last input: the weights add up to 1
    return matrix


RESAMPLE_MODES = ("nearest", "bilinear")
UNAVAILABLE_MODES = ("linear", "bicubic", "trilinear", "area", "nearest-exact", "lanczos")


def check_resample_options(op, size, scale_factor, mode, align_corners):
    """Checks what does not depend on the input; returns align_corners (None -> False for bilinear)."""
    if mode not in RESAMPLE_MODES:
        hint = " (PyTorch has it; scratchgan does not)" if mode in UNAVAILABLE_MODES else ""
        raise ValueError(f"{op}: mode must be 'nearest' or 'bilinear', got {mode!r}{hint}")
    if align_corners is not None and not isinstance(align_corners, bool):
        raise TypeError(f"{op}: align_corners must be None, True or False, got {align_corners!r}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError(f"{op}: align_corners can only be set with mode='bilinear', got "
                         f"align_corners={align_corners} with mode='nearest'")
    if size is not None and scale_factor is not None:
        raise ValueError(f"{op}: give only one of size and scale_factor, got size={size!r} and "
                         f"scale_factor={scale_factor!r}")
    if size is None and scale_factor is None:
        raise ValueError(f"{op}: give size or scale_factor, got neither")
    return bool(align_corners) if mode == "bilinear" else None


def _per_axis(value, kind, name, op):
    """``value`` for each of the two spatial axes: one value, or a sequence of two."""
    if isinstance(value, (tuple, list)):
        if not all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
            raise TypeError(f"{op}: {name} must be a number or a pair of them, got {value!r}")
        if len(value) != 2:
            raise ValueError(f"{op}: {name} must have one value per spatial axis (H, W) of the 4-d "
                             f"input, got {len(value)}: {tuple(value)}")
        return tuple(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be a number or a pair of them, got {value!r}")
    return (value, value)


def resample_output_size(op, spatial, size, scale_factor):
    """((Ho, Wo), (scale_h, scale_w) or (None, None)): the output size from ``size``, or
    int(in * scale) as PyTorch's ``compute_output_size``, whose scales the source index then uses."""
    if size is not None:
        out, scales = _per_axis(size, numbers.Integral, "size", op), (None, None)
        out = tuple(int(n) for n in out)
    else:
        scales = tuple(float(s) for s in _per_axis(scale_factor, numbers.Real, "scale_factor", op))
        if not all(math.isfinite(s) for s in scales):
            raise ValueError(f"{op}: scale_factor must be finite, got {scale_factor!r}")
        out = tuple(int(n * s) for n, s in zip(spatial, scales))
    if min(out) <= 0:
        raise ValueError(f"{op}: the output size must be positive, got {out} from input (H, W) = "
                         f"{tuple(spatial)} with size={size!r}, scale_factor={scale_factor!r}")
    return out, scales
