"""Numba-JIT CPU kernel set (selected with ``scratchgan.set_backend("numba")``).

Each kernel computes the same array function as its NumPy reference in
``scratchgan.ops`` (named in its docstring) and is tested against it on random shapes
(tests/test_kernels.py). Only forward array functions live here; every derivative is
still written in Tensor ops in ``scratchgan.ops``.

Where the time goes, and what each kernel removes (benchmarks/profile_w2.py):

* Convolutions lower to one BLAS GEMM each (NumPy's ``matmul`` with a preallocated
  output); the NumPy references spend more time around the GEMM than in it: im2col
  copies one strided slice per kernel offset, col2im adds them back one by one into a
  padded buffer, and the results are transposed and copied to NCHW. Here im2col, col2im
  and the layout changes are single passes that write each element once, with
  padding handled by bounds checks instead of a padded copy.
* Elementwise chains a GAN step runs on every activation (leaky ReLU and its
  gradient, batch-norm statistics and normalisation, the Adam update) are fused into
  one pass each instead of one NumPy temporary per operator.
* Three optional kernels have no NumPy twin of their own: ``conv2d_keeping_columns``
  returns conv2d's output with the im2col columns it built, and
  ``conv2d_weight_from_columns`` computes the weight gradient from them, so a forward's
  columns are built once per step; ``conv2d_and_weight`` computes conv2d and the weight
  gradient of the same input from one build of its columns (a transposed convolution's
  backward). All are tested against conv2d's and conv2d_weight's references.

Threads: the GEMMs run on BLAS's threads; the Numba kernels are serial. Measured on the
2-core benchmark machine, ``parallel=True`` loops did not pay: Numba's OpenMP pool and
OpenBLAS's worker threads both spin after their work, and on two cores they took each
other's time (the same layout kernels gave a 494 ms W2 step with Numba's two threads
and 295 ms with one), and the serial layout passes already run at memory speed. One thread pool at a
time means no oversubscription, and ``backend.blas_threads`` bounds the only pool.
``SCRATCHGAN_NUMBA_SPLIT=1`` opts in to running the large passes in two halves on the
caller's thread and one worker thread (``_halves``); it is off by default because it showed
no consistent gain where it was measured (docs/performance.md).

``cache=True`` stores the compiled machine code beside this file (``__pycache__``, or
Numba's user-wide cache directory when that is not writable), so compilation happens
once per machine and dtype; ``warm_up()`` compiles every kernel ahead of a run.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy
from numba import njit

# The cache files record the module's import name, and a process that imports this file under
# another one (``import kernels.numba_cpu`` from the repository root) writes entries that
# scratchgan.kernels.numba_cpu then fails to load (ModuleNotFoundError inside Numba): refused.
if __name__ != "scratchgan.kernels.numba_cpu":
    raise ImportError(f"import the Numba kernel set as scratchgan.kernels.numba_cpu, not as {__name__}: "
                      "its compiled-code cache records the module's name")

# error_model="numpy": a float division by zero gives inf or nan as in NumPy (the references'
# semantics) instead of Python's ZeroDivisionError, whose per-division check kept LLVM from
# vectorising every loop that divides (the Adam update: 2.8 -> 0.35 ms for 627k parameters,
# the same bits)
_JIT = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")
# sums may be reassociated (vectorised), as NumPy's pairwise sums are; nothing else is relaxed
_JIT_SUMS = dict(cache=True, nogil=True, fastmath={"reassoc"}, error_model="numpy")


# -- two threads for the memory-bound passes -------------------------------------------------------
# Off unless SCRATCHGAN_NUMBA_SPLIT=1: on the 2-core benchmark machine, shared with other work
# while it was measured, the split gave no consistent gain (paired split/serial medians of
# 0.98-1.04 per conv layer), like the earlier trials of Numba's own thread pools.
SPLIT = os.environ.get("SCRATCHGAN_NUMBA_SPLIT", "0") == "1"
SPLIT_BYTES = 4 << 20  # passes over less than this stay on one thread (waking the second one costs more)
_worker = {"pid": None, "pool": None}


def _second_thread():
    """One worker thread beside the caller's (made again after a fork: threads do not survive one)."""
    if _worker["pid"] != os.getpid():
        _worker["pid"], _worker["pool"] = os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="scratchgan")
    return _worker["pool"]


def _halves(kernel, n, args_for, nbytes):
    """kernel(*args_for(start, stop)) over [0, n) in two halves on two threads (the kernels are
    nogil and each half writes its own rows), or in one call when the pass is small."""
    if not SPLIT or n < 2 or nbytes < SPLIT_BYTES:
        kernel(*args_for(0, n))
        return
    middle = n // 2
    second = _second_thread().submit(kernel, *args_for(middle, n))
    try:
        kernel(*args_for(0, middle))
    finally:
        second.result()


# -- convolution: NHWC layout passes around one GEMM ------------------------------------------
# Tensors are NCHW (PyTorch's layout), but im2col and col2im are cheap only in NHWC, where
# the C values of one pixel are contiguous: a kernel offset then copies C-long runs
# (memcpy speed, ~1 ms for a 12.8 MB column matrix) instead of gathering single strided
# values (~7 ms). Each convolution therefore transposes its input to NHWC once (a pass
# over the input, 4x smaller than the columns for a 4x4 stride-2 kernel), runs one GEMM
# on (pixels, kh kw C) rows, and returns its (pixels, O) result as it is: NHWC memory seen
# through NCHW strides ("channels-last", as PyTorch calls it). Batch norm, leaky ReLU and
# the next convolution read that layout without a copy (batch norm as (N H W, C) pixel
# rows); NumPy ops are layout-agnostic, and a reshape that needs NCHW order (a flatten
# before a Linear layer) copies then. Only NHWC inputs in NCHW memory pay a transpose.


@njit(**_JIT)
def _im2col_nhwc(x, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, cols):
    """cols[(n, oy, ox), (i, j, c)] = x[n, s oy - p + d i, s ox - p + d j, c] (0 outside); x NHWC."""
    n, h, w, c = x.shape
    for b in range(n):
        for oy in range(ho):
            for ox in range(wo):
                row = (b * ho + oy) * wo + ox
                for i in range(kh):
                    iy = oy * sh - ph + i * dh
                    for j in range(kw):
                        ix = ox * sw - pw + j * dw
                        base = (i * kw + j) * c
                        if iy < 0 or iy >= h or ix < 0 or ix >= w:
                            for k in range(c):
                                cols[row, base + k] = 0
                        else:
                            for k in range(c):
                                cols[row, base + k] = x[b, iy, ix, k]


@njit(**_JIT)
def _col2im_nhwc(cols, n, h, w, kh, kw, sh, sw, ph, pw, dh, dw, out):
    """out[n, s y - p + d i, s x - p + d j, o] += cols[(n, y, x), (i, j, o)], zeroed first; out NHWC."""
    _, ho, wo, channels = out.shape
    out[:] = 0
    for b in range(n):
        for y in range(h):
            for x in range(w):
                row = (b * h + y) * w + x
                for i in range(kh):
                    oy = y * sh - ph + i * dh
                    if oy < 0 or oy >= ho:
                        continue
                    for j in range(kw):
                        ox = x * sw - pw + j * dw
                        if ox < 0 or ox >= wo:
                            continue
                        base = (i * kw + j) * channels
                        for k in range(channels):
                            out[b, oy, ox, k] += cols[row, base + k]


# Few channels (the image layers: C = 1 or 3 in, O = 1 or 3 out): an NHWC run of C values
# is too short to copy fast, so these layers use channel-major columns (C kh kw, N Ho Wo),
# whose rows are long runs along the image width.
FEW_CHANNELS = 16


@njit(**_JIT)
def _im2col_channel_major(x, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, cols):
    """cols[(c, i, j), (n, oy, ox)] = x[n, c, s oy - p + d i, s ox - p + d j] (0 outside); x NCHW."""
    n, c, h, w = x.shape
    for row in range(c * kh * kw):
        ci = row // (kh * kw)
        i = (row // kw) % kh
        j = row % kw
        offset = j * dw - pw
        first = 0  # the output columns ox whose input column s ox + offset lies inside [0, w)
        while first < wo and first * sw + offset < 0:
            first += 1
        last = wo
        while last > first and (last - 1) * sw + offset >= w:
            last -= 1
        for b in range(n):
            for oy in range(ho):
                iy = oy * sh - ph + i * dh
                start = (b * ho + oy) * wo
                if iy < 0 or iy >= h:
                    cols[row, start:start + wo] = 0
                    continue
                cols[row, start:start + first] = 0
                for ox in range(first, last):
                    cols[row, start + ox] = x[b, ci, iy, ox * sw + offset]
                cols[row, start + last:start + wo] = 0


@njit(**_JIT)
def _col2im_pixels_to_nchw(cols, n, h, w, kh, kw, sh, sw, ph, pw, dh, dw, out):
    """out[n, o, s y - p + d i, s x - p + d j] += cols[(n, y, x), (o, i, j)], zeroed first; out NCHW.

    The few-output-channel layout: the GEMM before it writes one row of O kh kw values per
    input pixel (x's pixel rows times w, BLAS's fastest orientation for these thin products),
    and each image's output (O Ho Wo values) stays in L1 while its rows are added in."""
    _, channels, ho, wo = out.shape
    out[:] = 0
    for b in range(n):
        for y in range(h):
            for x in range(w):
                source = cols[(b * h + y) * w + x]
                for o in range(channels):
                    for i in range(kh):
                        oy = y * sh - ph + i * dh
                        if oy < 0 or oy >= ho:
                            continue
                        for j in range(kw):
                            ox = x * sw - pw + j * dw
                            if 0 <= ox < wo:
                                out[b, o, oy, ox] += source[(o * kh + i) * kw + j]


@njit(**_JIT)
def _col2im_channel_major(cols, n, h, w, kh, kw, sh, sw, ph, pw, dh, dw, out):
    """out[n, o, s y - p + d i, s x - p + d j] += cols[(o, i, j), (n, y, x)], zeroed first; out NCHW."""
    _, channels, ho, wo = out.shape
    out[:] = 0
    for o in range(channels):
        for i in range(kh):
            for j in range(kw):
                row = (o * kh + i) * kw + j
                offset = j * dw - pw
                first = 0
                while first < w and first * sw + offset < 0:
                    first += 1
                last = w
                while last > first and (last - 1) * sw + offset >= wo:
                    last -= 1
                for b in range(n):
                    for y in range(h):
                        oy = y * sh - ph + i * dh
                        if oy < 0 or oy >= ho:
                            continue
                        start = (b * h + y) * w
                        for x in range(first, last):
                            out[b, o, oy, x * sw + offset] += cols[row, start + x]


@njit(**_JIT)
def _swap_leading_axes(a, out):
    """out[j, i, k] = a[i, j, k]: (N, C, HW) <-> (C, N, HW), copying contiguous HW runs."""
    first, second, inner = a.shape
    for i in range(first):
        for j in range(second):
            for k in range(inner):
                out[j, i, k] = a[i, j, k]


def swap_leading_axes(a):
    """(A, B, K) -> a C-contiguous (B, A, K) copy."""
    out = numpy.empty((a.shape[1], a.shape[0], a.shape[2]), dtype=a.dtype)
    _swap_leading_axes(numpy.ascontiguousarray(a), out)
    return out


@njit(**_JIT)
def _planes_to_pixels(x, out, tile):
    """out[b, q, c] = x[b, c, q] in (tile x tile) blocks: each block reads ``tile`` runs of its
    planes and writes ``tile`` runs of pixel rows, and both stay in L1 while it does."""
    n, c, p = x.shape
    for b in range(n):
        for c0 in range(0, c, tile):
            c1 = min(c0 + tile, c)
            for p0 in range(0, p, tile):
                p1 = min(p0 + tile, p)
                for k in range(c0, c1):
                    for q in range(p0, p1):
                        out[b, q, k] = x[b, k, q]


# NumPy's strided copy reads one value per plane for each pixel; with planes of 4 KiB (32x32
# float32) the C values of a pixel fall on the same few cache sets and evict each other. Timed
# right after a GEMM, as in a layer (BLAS's threads still spinning; medians of 12 alternating
# calls, 2-core AMD EPYC, avx2): (64, 64, 32, 32) 14.1 ms in NumPy against 10.0 in blocks,
# (64, 32, 64, 64) 22.6 against 13.4, but (64, 128, 16, 16) 3.1 against 4.4, so smaller planes
# keep NumPy's copy
BLOCKED_PLANE = 1024


def to_nhwc(x):
    """(N, C, H, W) -> a C-contiguous (N, H, W, C) array: x's own memory (a view) when x is
    channels-last, else a copy."""
    n, c, h, w = x.shape
    if channels_last(x) or h * w < BLOCKED_PLANE or c < FEW_CHANNELS:
        return numpy.ascontiguousarray(x.transpose(0, 2, 3, 1))
    out = numpy.empty((n, h, w, c), dtype=x.dtype)
    _planes_to_pixels(numpy.ascontiguousarray(x).reshape(n, c, h * w), out.reshape(n, h * w, c), 32)
    return out


def channels_last(x) -> bool:
    """Whether an (N, C, H, W) array's memory is NHWC (PyTorch's channels_last): the layout
    the NHWC paths below return, as a view with NCHW shape."""
    return x.ndim == 4 and x.transpose(0, 2, 3, 1).flags.c_contiguous and not x.flags.c_contiguous


def nchw_view(x_nhwc):
    """(N, H, W, C) contiguous -> the same memory as an (N, C, H, W) array (no copy)."""
    return x_nhwc.transpose(0, 3, 1, 2)


def pixel_rows(x):
    """(N, C, H, W) -> (N H W, C): a view when x is channels-last, else a copy."""
    return to_nhwc(x).reshape(-1, x.shape[1])


def channel_rows(x):
    """(N, C, H, W) -> (C, N H W): the transpose of ``pixel_rows`` (a view) when x is
    channels-last, else a copy moving contiguous H*W runs."""
    if channels_last(x):
        return pixel_rows(x).T
    n, c = x.shape[:2]
    return swap_leading_axes(x.reshape(n, c, -1)).reshape(c, -1)


def _one_patch(h, w, kernel_size, padding, out_size) -> bool:
    """Whether a kernel covers the whole unpadded (h, w) image at one output pixel (a DCGAN
    critic's last layer, a generator's first): NHWC columns are then the image's memory
    itself, and a transposed convolution's GEMM writes its output with no col2im."""
    return tuple(padding) == (0, 0) and tuple(kernel_size) == (h, w) and tuple(out_size) == (1, 1)


def im2col_nhwc(x_nhwc, kernel_size, stride, padding, dilation, out_size):
    """x (N, H, W, C) -> cols (N*Ho*Wo, kh*kw*C): row = output pixel, column = (i, j, c)."""
    n, h, w, c = x_nhwc.shape
    (kh, kw), (ho, wo) = kernel_size, out_size
    if _one_patch(h, w, kernel_size, padding, out_size):  # the columns are x's own rows
        return x_nhwc.reshape(n, h * w * c)
    cols = numpy.empty((n * ho * wo, kh * kw * c), dtype=x_nhwc.dtype)
    geometry = (kh, kw, stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1], ho, wo)
    _halves(_im2col_nhwc, n, lambda start, stop: (x_nhwc[start:stop], *geometry,
                                                  cols[start * ho * wo:stop * ho * wo]), cols.nbytes)
    return cols


def im2col_channel_major(x, kernel_size, stride, padding, dilation, out_size):
    """x (N, C, H, W) -> cols (C*kh*kw, N*Ho*Wo), the layout of ``ops.conv.im2col`` flattened."""
    x = numpy.ascontiguousarray(x)
    n, c = x.shape[:2]
    (kh, kw), (ho, wo) = kernel_size, out_size
    cols = numpy.empty((c * kh * kw, n * ho * wo), dtype=x.dtype)
    _im2col_channel_major(x, kh, kw, stride[0], stride[1], padding[0], padding[1], dilation[0],
                          dilation[1], ho, wo, cols)
    return cols


def _conv_size(size, kernel, stride, padding, dilation):
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _kernel_rows(w, dtype):
    """(A, B, kh, kw) -> (A, kh*kw*B): the weight in the column order (i, j, channel) of im2col_nhwc."""
    return numpy.ascontiguousarray(w.transpose(0, 2, 3, 1), dtype=dtype).reshape(w.shape[0], -1)


# The column matrix of a large layer is big (64 MB for W3's Conv(64, 128) at 32x32, batch 64):
# the NHWC paths build it for a slice of the batch at a time, at most this many bytes, which
# bounds the step's peak memory and keeps each slice's columns warm in cache for its GEMM.
COLUMN_BYTES = 16 * 2**20


def _batch_slices(n, row_bytes):
    """Consecutive [start, stop) ranges of the batch whose columns fit in COLUMN_BYTES."""
    per_slice = max(1, min(n, COLUMN_BYTES // max(1, row_bytes)))
    return [(start, min(n, start + per_slice)) for start in range(0, n, per_slice)]


def conv2d(x, w, stride, padding, dilation):
    """Twin of ``ops.conv.conv2d_array``.

    The output is channels-last (NHWC memory seen as NCHW, ``nchw_view``): each GEMM writes
    pixel rows, so no transpose back is needed, and the next convolution, batch norm or
    elementwise kernel reads that layout as it is.
    Few input channels: y (N Ho Wo, O) = cols (C kh kw, N Ho Wo)^T @ w (O, C kh kw)^T.
    Otherwise, per batch slice: y (n Ho Wo, O) = cols (n Ho Wo, kh kw C) @ w'^T with
    w'[o, (i, j, c)] = w[o, c, i, j] (the transposes are BLAS flags)."""
    return _conv2d(x, w, stride, padding, dilation, keep_columns=False)[0]


# The weight gradient dw = gy^T cols needs the same columns as the forward: a forward that
# builds them in one piece of at most this many bytes hands them to its node, and the
# backward skips the second im2col (W2: 6 of a step's 16 column builds, all in the
# discriminator, for 13.6 MB more per forward pass until its backward). Larger layers rebuild them slice by
# slice, which keeps the peak memory of W3 within 1.2x PyTorch's.
KEEP_COLUMNS_BYTES = COLUMN_BYTES


def conv2d_keeping_columns(x, w, stride, padding, dilation):
    """``conv2d``, and what the weight gradient (``conv2d_weight_from_columns``) can start from:
    the im2col columns it built when they were built in one piece small enough to keep;
    otherwise the NHWC copy of an NCHW x it made for them (x's size, a quarter of the columns'
    for a 4x4 stride-2 kernel: transposing x again took as long as building two slices of
    columns for W3's Conv(64, 128) at 32x32), or None when x is channels-last (it is its own
    NHWC view)."""
    return _conv2d(x, w, stride, padding, dilation, keep_columns=True)[:2]


def conv2d_and_weight(x, w, gy, stride, padding, dilation):
    """(``conv2d(x, w)``, ``conv2d_weight(x, gy)``) from one build of x's im2col columns: a
    transposed convolution's backward needs both for the same x (its output gradient), dx =
    conv2d(g, w) and dw = conv2d_weight(g, x). A layer whose columns are built a batch slice at
    a time runs both GEMMs on each slice while it is warm, instead of building the slices twice
    (tested against conv2d's and conv2d_weight's references)."""
    y, _, dw = _conv2d(x, w, stride, padding, dilation, keep_columns=False, gy=gy)
    return y, dw


def _conv2d(x, w, stride, padding, dilation, keep_columns, gy=None):
    """(y, kept columns or None, and conv2d_weight(x, gy) from the same columns when gy is given)."""
    n, c, h, wd = x.shape
    out_channels, _, kh, kw = w.shape
    ho = _conv_size(h, kh, stride[0], padding[0], dilation[0])
    wo = _conv_size(wd, kw, stride[1], padding[1], dilation[1])
    dtype = numpy.result_type(x, w)
    x = x.astype(dtype, copy=False)
    out = numpy.empty((n, ho, wo, out_channels), dtype=dtype)
    if c < FEW_CHANNELS:
        cols = im2col_channel_major(x, (kh, kw), stride, padding, dilation, (ho, wo))
        w_matrix = numpy.ascontiguousarray(w, dtype=dtype).reshape(out_channels, -1)
        numpy.matmul(cols.T, w_matrix.T, out=out.reshape(-1, out_channels))
        dw = None if gy is None else _conv2d_weight(x.shape, None, cols, gy, (kh, kw), stride, padding, dilation)
        return nchw_view(out), _kept(cols, keep_columns), dw
    x_nhwc, w_rows = to_nhwc(x), _kernel_rows(w, dtype)
    weight = None if gy is None else _WeightSums(gy, dtype)
    slices = _batch_slices(n, ho * wo * kh * kw * c * dtype.itemsize)
    for start, stop in slices:
        cols = im2col_nhwc(x_nhwc[start:stop], (kh, kw), stride, padding, dilation, (ho, wo))
        numpy.matmul(cols, w_rows.T, out=out[start:stop].reshape(-1, out_channels))
        if weight is not None:
            weight.add(start * ho * wo, stop * ho * wo, cols)
    dw = None if weight is None else weight.result(kh, kw, c)
    kept = _kept(cols, keep_columns and len(slices) == 1)
    if keep_columns and kept is None and not numpy.may_share_memory(x_nhwc, x):
        kept = x_nhwc
    return nchw_view(out), kept, dw


class _WeightSums:
    """dw = sum over batch slices of gy (O, rows of the slice) @ cols (rows, kh kw C), the NHWC
    weight gradient accumulated slice by slice; ``result`` reorders it to (O, C, kh, kw)."""

    def __init__(self, gy, dtype):
        self.gy_channels = channel_rows(gy.astype(dtype, copy=False))  # (O, N Ho Wo), a view if channels-last
        self.sums = self.part = None

    def add(self, first, last, cols):
        rows = self.gy_channels[:, first:last]
        if self.sums is None:
            self.sums = numpy.matmul(rows, cols)
            return
        if self.part is None:
            self.part = numpy.empty_like(self.sums)
        numpy.matmul(rows, cols, out=self.part)
        self.sums += self.part

    def result(self, kh, kw, c):
        out_channels = self.sums.shape[0]
        return numpy.ascontiguousarray(self.sums.reshape(out_channels, kh, kw, c).transpose(0, 3, 1, 2))


def _kept(cols, keep):
    return cols if keep and cols.nbytes < KEEP_COLUMNS_BYTES else None


def conv_transpose2d(x, w, stride, padding, output_padding, dilation):
    """Twin of ``ops.conv.conv_transpose2d_array``: cols = x rows @ w'' then col2im.

    Few output channels, added into NCHW: cols (N H W, O kh kw) = x (N H W, C) @ w (C, O kh kw)
    when x is channels-last, else cols (O kh kw, N H W) = w^T @ x (C, N H W). Otherwise, per
    batch slice: cols (n H W, kh kw O) = x (n H W, C) @ w'' with
    w''[c, (i, j, o)] = w[c, o, i, j], added into NHWC memory, returned channels-last.
    x's pixel rows are a view when x is channels-last, else one copy."""
    n, c, h, wd = x.shape
    _, out_channels, kh, kw = w.shape
    ho = (h - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + output_padding[0] + 1
    wo = (wd - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + output_padding[1] + 1
    dtype = numpy.result_type(x, w)
    x = x.astype(dtype, copy=False)
    geometry = (kh, kw, stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1])
    if out_channels < FEW_CHANNELS:
        w_matrix = numpy.ascontiguousarray(w, dtype=dtype).reshape(c, -1)  # (C, O kh kw)
        out = numpy.empty((n, out_channels, ho, wo), dtype=dtype)
        if channels_last(x):  # x's pixel rows are a view: the GEMM's fastest orientation
            cols = numpy.empty((n * h * wd, out_channels * kh * kw), dtype=dtype)
            numpy.matmul(pixel_rows(x), w_matrix, out=cols)
            _col2im_pixels_to_nchw(cols, n, h, wd, *geometry, out)
        else:  # an NCHW x gives contiguous channel rows cheaply (a pixel-row copy is a slow transpose)
            cols = numpy.empty((out_channels * kh * kw, n * h * wd), dtype=dtype)
            numpy.matmul(w_matrix.T, channel_rows(x), out=cols)
            _col2im_channel_major(cols, n, h, wd, *geometry, out)
        return out
    x_rows, w_cols = pixel_rows(x), _kernel_rows(w, dtype)
    out_nhwc = numpy.empty((n, ho, wo, out_channels), dtype=dtype)
    for start, stop in _batch_slices(n, h * wd * kh * kw * out_channels * dtype.itemsize):
        rows = x_rows[start * h * wd:stop * h * wd]  # (n H W, C)
        if _one_patch(ho, wo, (kh, kw), padding, (h, wd)):  # one input pixel per image: no overlaps
            numpy.matmul(rows, w_cols, out=out_nhwc[start:stop].reshape(rows.shape[0], -1))
            continue
        cols = numpy.empty((rows.shape[0], kh * kw * out_channels), dtype=dtype)
        numpy.matmul(rows, w_cols, out=cols)
        _halves(lambda part, images, out_part: _col2im_nhwc(part, images, h, wd, *geometry, out_part),
                stop - start, lambda first, last: (cols[first * h * wd:last * h * wd], last - first,
                                                   out_nhwc[start + first:start + last]), cols.nbytes)
    return nchw_view(out_nhwc)


def conv2d_weight(x, gy, kernel_size, stride, padding, dilation):
    """Twin of ``ops.conv.conv2d_weight_array``: dw = sum over batch slices of
    gy (O, n Ho Wo) @ cols (n Ho Wo, kh kw C), reordered to (O, C, kh, kw) at the end."""
    return _conv2d_weight(x.shape, x, None, gy, kernel_size, stride, padding, dilation)


def conv2d_weight_from_columns(columns, x_shape, gy, kernel_size, stride, padding, dilation):
    """``conv2d_weight`` from the columns a forward kept (``conv2d_keeping_columns`` on an
    input of shape ``x_shape``): the same GEMM, without building them again."""
    return _conv2d_weight(x_shape, None, columns, gy, kernel_size, stride, padding, dilation)


def _conv2d_weight(x_shape, x, columns, gy, kernel_size, stride, padding, dilation):
    n, c = x_shape[:2]
    out_channels, ho, wo = gy.shape[1:]
    kh, kw = kernel_size
    dtype = numpy.result_type(gy, x if x is not None else columns)
    few = c < FEW_CHANNELS
    x_nhwc = None
    if columns is not None and columns.ndim == 4 and not few:  # the forward's NHWC copy of x
        if columns.shape != (n, *x_shape[2:], c):
            raise ValueError(f"conv2d_weight_from_columns: an NHWC input of shape {columns.shape}, expected "
                             f"{(n, *x_shape[2:], c)} for an input of shape {tuple(x_shape)}")
        x_nhwc, columns = columns.astype(dtype, copy=False), None
    elif columns is not None:
        expected = (c * kh * kw, n * ho * wo) if few else (n * ho * wo, kh * kw * c)
        if columns.shape != expected:
            raise ValueError(f"conv2d_weight_from_columns: columns of shape {columns.shape}, expected "
                             f"{expected} for an input of shape {tuple(x_shape)}")
        columns = columns.astype(dtype, copy=False)
    else:
        x = x.astype(dtype, copy=False)
    if few:
        cols = columns if columns is not None else \
            im2col_channel_major(x, kernel_size, stride, padding, dilation, (ho, wo))
        # gy^T @ cols^T: dw^T = cols @ gy (both untransposed) is faster on one BLAS thread, but
        # with two, OpenBLAS splits its tiny (C kh kw, O) output and K = N Ho Wo runs serially:
        # 46-650 ms against 17-35 ms for W3's Conv(3, 64) on the shared 2-core machine
        dw = numpy.empty((out_channels, c * kh * kw), dtype=dtype)
        numpy.matmul(channel_rows(gy.astype(dtype, copy=False)), cols.T, out=dw)
        return dw.reshape(out_channels, c, kh, kw)
    weight = _WeightSums(gy, dtype)
    if columns is not None:
        weight.add(0, n * ho * wo, columns)
    else:
        x_nhwc = to_nhwc(x) if x_nhwc is None else x_nhwc
        for start, stop in _batch_slices(n, ho * wo * kh * kw * c * dtype.itemsize):
            cols = im2col_nhwc(x_nhwc[start:stop], kernel_size, stride, padding, dilation, (ho, wo))
            weight.add(start * ho * wo, stop * ho * wo, cols)
    return weight.result(kh, kw, c)


# -- fused elementwise chains -------------------------------------------------------------------
@njit(**_JIT)
def _leaky_relu(x, slope, out):
    for k in range(x.size):
        value = x[k]
        out[k] = value if value > 0 else value * slope


@njit(**_JIT)
def _leaky_relu_grad(g, x, slope, out):
    for k in range(x.size):
        out[k] = g[k] if x[k] > 0 else g[k] * slope


def _memory_order(x):
    """The axis order in which x's memory is C-contiguous: NCHW, or NHWC for a channels-last
    array (kept as it is: elementwise kernels run over memory and return the same layout)."""
    return (0, 2, 3, 1) if channels_last(x) else tuple(range(x.ndim))


def _in_memory_order(a, order, dtype=None):
    """a's elements flat in memory ``order`` (a view when a is laid out that way, else a copy)."""
    return numpy.ascontiguousarray(a.transpose(order), dtype=dtype).reshape(-1)


def _empty_in_order(shape, order, dtype):
    """An empty array of ``shape`` whose memory is laid out in axis ``order``, and its flat memory."""
    memory = numpy.empty(tuple(shape[axis] for axis in order), dtype=dtype)
    return memory.transpose(numpy.argsort(order)), memory.reshape(-1)


def leaky_relu(x, slope):
    """Twin of ``ops.elementwise.leaky_relu_array``: one pass, no temporaries, x's layout."""
    order = _memory_order(x)
    out, out_flat = _empty_in_order(x.shape, order, x.dtype)
    x_flat, slope = _in_memory_order(x, order), x.dtype.type(slope)
    _halves(_leaky_relu, x.size, lambda start, stop: (x_flat[start:stop], slope, out_flat[start:stop]),
            x.nbytes)
    return out


def leaky_relu_grad(g, x, slope):
    """Twin of ``ops.elementwise.leaky_relu_grad_array``: g where x > 0, slope g elsewhere."""
    dtype = numpy.result_type(g, x)
    order = _memory_order(x)
    out, out_flat = _empty_in_order(g.shape, order, dtype)
    g_flat, x_flat, slope = _in_memory_order(g, order, dtype), _in_memory_order(x, order), dtype.type(slope)
    _halves(_leaky_relu_grad, x.size, lambda start, stop: (g_flat[start:stop], x_flat[start:stop], slope,
                                                           out_flat[start:stop]), x.nbytes)
    return out


@njit(**_JIT_SUMS)
def _batch_norm_train(x, weight, bias, eps, y, mean, var, first, last):
    """x (N, C, P): per channel in [first, last), mean and biased var over (N, P) (float64 sums), then y."""
    n, _, p = x.shape
    count = n * p
    for c in range(first, last):
        total = 0.0
        for b in range(n):
            for k in range(p):
                total += x[b, c, k]
        mu = total / count
        squares = 0.0
        for b in range(n):
            for k in range(p):
                d = x[b, c, k] - mu
                squares += d * d
        sigma2 = squares / count
        mean[c] = mu
        var[c] = sigma2
        scale = weight[c] / numpy.sqrt(var[c] + eps)  # in x's dtype, as the reference
        shift = bias[c]
        mu_x = mean[c]
        for b in range(n):
            for k in range(p):
                y[b, c, k] = (x[b, c, k] - mu_x) * scale + shift


@njit(**_JIT_SUMS)
def _batch_norm_backward(g, x, weight, mean, invstd, dx, dweight, dbias, first, last):
    """dbias = sum g, dweight = sum g x_hat, dx = gamma/sigma (g - dbias/count - x_hat dweight/count),
    per channel in [first, last)."""
    n, _, p = x.shape
    count = n * p
    for c in range(first, last):
        mu, inv = mean[c], invstd[c]
        sum_g = 0.0
        sum_g_xhat = 0.0
        for b in range(n):
            for k in range(p):
                sum_g += g[b, c, k]
                sum_g_xhat += g[b, c, k] * ((x[b, c, k] - mu) * inv)
        dbias[c] = sum_g
        dweight[c] = sum_g_xhat
        scale = weight[c] * inv
        mean_g = dbias[c] / count
        mean_g_xhat = dweight[c] / count
        for b in range(n):
            for k in range(p):
                x_hat = (x[b, c, k] - mu) * inv
                dx[b, c, k] = scale * (g[b, c, k] - mean_g - x_hat * mean_g_xhat)


@njit(**_JIT_SUMS)
def _batch_norm_train_rows(x, weight, bias, eps, y, mean, var, first, last):
    """BatchNorm1d on x (N, C), channels [first, last): the same sums, row by row so that memory
    is read in order. The per-channel sums are in x's dtype, as NumPy's references sum along
    axis 0 (float64 sums of float32 rows, converted at every add, took 1.4x as long)."""
    n, channels = x.shape
    totals = numpy.zeros(channels, x.dtype)
    for b in range(n):
        for c in range(first, last):
            totals[c] += x[b, c]
    for c in range(first, last):
        mean[c] = totals[c] / n
    squares = numpy.zeros(channels, x.dtype)
    for b in range(n):
        for c in range(first, last):
            d = x[b, c] - mean[c]
            squares[c] += d * d
    scale = numpy.empty_like(mean)
    for c in range(first, last):
        var[c] = squares[c] / n
        scale[c] = weight[c] / numpy.sqrt(var[c] + eps)
    for b in range(n):
        for c in range(first, last):
            y[b, c] = (x[b, c] - mean[c]) * scale[c] + bias[c]


@njit(**_JIT_SUMS)
def _batch_norm_backward_rows(g, x, weight, mean, invstd, dx, dweight, dbias, first, last):
    """The backward of ``_batch_norm_train_rows``: sums in x's dtype, and the per-channel factors
    of dx (gamma / sigma, dbias / n, dweight / (n sigma)) computed once, not per element."""
    n, channels = x.shape
    sum_g = numpy.zeros(channels, x.dtype)
    sum_g_xhat = numpy.zeros(channels, x.dtype)
    for b in range(n):
        for c in range(first, last):
            sum_g[c] += g[b, c]
            sum_g_xhat[c] += g[b, c] * ((x[b, c] - mean[c]) * invstd[c])
    scale = numpy.empty_like(mean)
    mean_g = numpy.empty_like(mean)
    slope = numpy.empty_like(mean)
    for c in range(first, last):
        dbias[c] = sum_g[c]
        dweight[c] = sum_g_xhat[c]
        scale[c] = weight[c] * invstd[c]
        mean_g[c] = dbias[c] / n
        slope[c] = invstd[c] * (dweight[c] / n)
    for b in range(n):
        for c in range(first, last):
            dx[b, c] = scale[c] * (g[b, c] - mean_g[c] - (x[b, c] - mean[c]) * slope[c])


def _by_channels(kernel, channels, args, nbytes):
    """kernel(*args, first, last) over two halves of the channels on two threads (whole arrays
    and a channel range, so the loops keep their contiguous, vectorised form); each channel's
    sums are the same whichever thread computes them.

    The range is unsigned: indexing with a signed loop variable that does not start at 0 makes
    Numba wrap negative indices on every access, which kept LLVM from vectorising (6-8x slower)."""
    _halves(kernel, channels, lambda first, last: (*args, numpy.uint64(first), numpy.uint64(last)), nbytes)


def _channels_view(a):
    """(N, C, *spatial) -> a C-contiguous (N, C, P) view (a copy only if a is not contiguous)."""
    return numpy.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], -1)


def batch_norm_train(x, weight, bias, eps):
    """Twin of ``ops.norm.batch_norm_train_array``: statistics and output in three passes over x
    (a channels-last x is read as its (N H W, C) pixel rows and y keeps that layout)."""
    if channels_last(x):
        rows = pixel_rows(x)
        y_nhwc = numpy.empty(x.transpose(0, 2, 3, 1).shape, dtype=x.dtype)
        mean = numpy.empty(x.shape[1], dtype=x.dtype)
        var = numpy.empty(x.shape[1], dtype=x.dtype)
        _by_channels(_batch_norm_train_rows, x.shape[1],
                     (rows, weight.astype(x.dtype, copy=False), bias.astype(x.dtype, copy=False), x.dtype.type(eps),
                      y_nhwc.reshape(rows.shape), mean, var), x.nbytes)
        return nchw_view(y_nhwc), mean, var
    x3 = _channels_view(x)
    y = numpy.empty_like(x3)
    mean = numpy.empty(x.shape[1], dtype=x.dtype)
    var = numpy.empty(x.shape[1], dtype=x.dtype)
    weight, bias = weight.astype(x.dtype, copy=False), bias.astype(x.dtype, copy=False)
    if x3.shape[2] == 1:  # (N, C): BatchNorm1d
        kernel, x3, y3 = _batch_norm_train_rows, x3[:, :, 0], y[:, :, 0]
    else:
        kernel, y3 = _batch_norm_train, y
    _by_channels(kernel, x.shape[1], (x3, weight, bias, x.dtype.type(eps), y3, mean, var), x.nbytes)
    return y.reshape(x.shape), mean, var


def batch_norm_backward(g, x, weight, mean, invstd):
    """Twin of ``ops.norm.batch_norm_backward_array``: (dx, dweight, dbias) in two passes."""
    if channels_last(x):
        rows, g_rows = pixel_rows(x), pixel_rows(g.astype(x.dtype, copy=False))
        dx_nhwc = numpy.empty(x.transpose(0, 2, 3, 1).shape, dtype=x.dtype)
        dweight = numpy.empty(x.shape[1], dtype=x.dtype)
        dbias = numpy.empty(x.shape[1], dtype=x.dtype)
        _by_channels(_batch_norm_backward_rows, x.shape[1],
                     (g_rows, rows, weight.astype(x.dtype, copy=False), mean, invstd, dx_nhwc.reshape(rows.shape),
                      dweight, dbias), x.nbytes)
        return nchw_view(dx_nhwc), dweight, dbias
    x3, g3 = _channels_view(x), _channels_view(g.astype(x.dtype, copy=False))
    dx = numpy.empty_like(x3)
    dweight = numpy.empty(x.shape[1], dtype=x.dtype)
    dbias = numpy.empty(x.shape[1], dtype=x.dtype)
    weight = weight.astype(x.dtype, copy=False)
    if x3.shape[2] == 1:
        kernel, arrays = _batch_norm_backward_rows, (g3[:, :, 0], x3[:, :, 0], weight, mean, invstd, dx[:, :, 0])
    else:
        kernel, arrays = _batch_norm_backward, (g3, x3, weight, mean, invstd, dx)
    _by_channels(kernel, x.shape[1], arrays + (dweight, dbias), x.nbytes)
    return dx.reshape(x.shape), dweight, dbias


@njit(**_JIT)
def _adam_update(param, grad, exp_avg, exp_avg_sq, one_minus_beta1, beta2, one_minus_beta2,
                 step_size, bias_correction2_sqrt, eps, out):
    for k in range(param.size):
        g = grad[k]
        m = exp_avg[k] + one_minus_beta1 * (g - exp_avg[k])
        v = exp_avg_sq[k] * beta2 + one_minus_beta2 * g * g
        exp_avg[k] = m
        exp_avg_sq[k] = v
        out[k] = param[k] - step_size * (m / (numpy.sqrt(v) / bias_correction2_sqrt + eps))


def _contiguous(array):
    """``array`` C-contiguous (itself when it already is) and of its own shape: NumPy's
    ascontiguousarray makes a 0-d array 1-d, which a 0-d parameter's moments must not become."""
    contiguous = numpy.ascontiguousarray(array)
    return contiguous if contiguous.shape == array.shape else contiguous.reshape(array.shape)


def adam_update(param, grad, exp_avg, exp_avg_sq, beta1, beta2, step_size, bias_correction2_sqrt, eps):
    """Twin of ``optim.adam.adam_update_array`` (the scalars rounded to the array's dtype
    as NumPy rounds Python floats): one pass; the moments are updated in place
    (they belong to the optimizer), the parameter is a new array (its tensor's version changes)."""
    if not param.shape == grad.shape == exp_avg.shape == exp_avg_sq.shape:  # the loop trusts the sizes
        raise ValueError(
            f"adam_update: param, grad, exp_avg and exp_avg_sq must have one shape, got {param.shape}, "
            f"{grad.shape}, {exp_avg.shape} and {exp_avg_sq.shape}"
        )
    dtype = param.dtype.type
    flat = param.reshape(-1)
    out = numpy.empty_like(flat)
    exp_avg, exp_avg_sq = _contiguous(exp_avg), _contiguous(exp_avg_sq)
    arrays = (numpy.ascontiguousarray(flat), numpy.ascontiguousarray(grad, dtype=param.dtype).reshape(-1),
              exp_avg.reshape(-1), exp_avg_sq.reshape(-1))
    scalars = (dtype(1 - beta1), dtype(beta2), dtype(1 - beta2), dtype(step_size), dtype(bias_correction2_sqrt),
               dtype(eps))
    _halves(_adam_update, flat.size,
            lambda start, stop: (*(a[start:stop] for a in arrays), *scalars, out[start:stop]), 4 * param.nbytes)
    return out.reshape(param.shape), exp_avg, exp_avg_sq


# -- pairwise L1 distances (minibatch discrimination) ------------------------------------------
# The planes (B, C, N) hold one group's and channel's N row values side by side: each inner
# loop runs over j, contiguous, and vectorises.


@njit(**_JIT)
def _pairwise_l1(planes, out):
    groups, channels, n = planes.shape
    for b in range(groups):
        for i in range(n):
            row = out[b, i]
            value = planes[b, 0, i]
            for j in range(n):
                row[j] = abs(value - planes[b, 0, j])
            for c in range(1, channels):  # channels in order: the reference's rounding
                value = planes[b, c, i]
                for j in range(n):
                    row[j] += abs(value - planes[b, c, j])


def pairwise_l1(m):
    """Twin of ``ops.pairwise.pairwise_l1_array``: d[b, i, j] = sum_c |m[b,i,c] - m[b,j,c]|."""
    groups, n, channels = m.shape
    out = numpy.empty((groups, n, n), dtype=m.dtype)
    if channels == 0:
        out[...] = 0
        return out
    _pairwise_l1(numpy.ascontiguousarray(m.transpose(0, 2, 1)), out)
    return out


# Constants of these loops are float32, which stays float32 with float32 arrays and promotes
# exactly with float64 ones: a zero made as ``x[0] * 0`` (an int64 literal) is float64 in
# Numba's typing, and sums in float64 of float32 terms, converted at every add, kept LLVM
# from vectorising them (8.4 million sign terms of a ring step's pass: 3.8 -> 1.0 ms).
@njit(**_JIT, inline="always")
def _sign(difference):
    """1, -1 or 0 as float32 (0 also for NaN, as the references' two comparisons give), as a
    select LLVM vectorises (numpy.sign and two masked sums did not)."""
    return numpy.float32(1) if difference > 0 else (numpy.float32(-1) if difference < 0 else numpy.float32(0))


@njit(**_JIT_SUMS)
def _pairwise_sign_contract(planes, w, out):
    groups, channels, n = planes.shape
    for b in range(groups):
        for c in range(channels):
            values = planes[b, c]
            for i in range(n):
                value, weights = values[i], w[b, i]
                total = numpy.float32(0)
                for j in range(n):
                    total += weights[j] * _sign(value - values[j])
                out[b, i, c] = total


def pairwise_sign_contract(m, w):
    """Twin of ``ops.pairwise.pairwise_sign_contract_array``: y[b,i,c] = sum_j w[b,i,j] s[b,i,j,c]."""
    out = numpy.empty(m.shape, dtype=m.dtype)
    _pairwise_sign_contract(numpy.ascontiguousarray(m.transpose(0, 2, 1)),
                            numpy.ascontiguousarray(w, dtype=m.dtype), out)
    return out


@njit(**_JIT)
def _pairwise_sign_dot(planes, weights, out):
    groups, channels, n = planes.shape
    for b in range(groups):
        for i in range(n):
            row = out[b, i]
            row[:] = 0
            for c in range(channels):
                value, weight, values = planes[b, c, i], weights[b, c, i], planes[b, c]
                for j in range(n):
                    row[j] += weight * _sign(value - values[j])


def pairwise_sign_dot(m, h):
    """Twin of ``ops.pairwise.pairwise_sign_dot_array``: y[b,i,j] = sum_c s[b,i,j,c] h[b,i,c]."""
    groups, n, _ = m.shape
    out = numpy.empty((groups, n, n), dtype=m.dtype)
    _pairwise_sign_dot(numpy.ascontiguousarray(m.transpose(0, 2, 1)),
                       numpy.ascontiguousarray(h.transpose(0, 2, 1), dtype=m.dtype), out)
    return out


def pairwise_l1_closeness(m):
    """Twin of ``ops.pairwise.pairwise_l1_closeness_array``: the distances in one pass, then
    NumPy's SIMD exp in place (a scalar exp per pair in the loop was slower)."""
    kernel = pairwise_l1(m)
    numpy.exp(numpy.negative(kernel, out=kernel), out=kernel)
    return kernel.sum(axis=2) - 1, kernel


@njit(**_JIT_SUMS)
def _sign_contract_row(planes, b, i, weights, out):
    """out[c] = sum_j weights[j] sign(planes[b, c, i] - planes[b, c, j]) for every channel c of
    row i of group b."""
    for c in range(planes.shape[1]):
        values = planes[b, c]
        value = values[i]
        total = numpy.float32(0)
        for j in range(values.shape[0]):
            total += weights[j] * _sign(value - values[j])
        out[c] = total


@njit(**_JIT_SUMS)
def _pairwise_l1_closeness_grad(planes, g, kernel, out, weights):
    groups, _, n = planes.shape
    for b in range(groups):
        for i in range(n):
            gi = g[b, i]
            for j in range(n):  # negated: dm = -sum_j (g_i + g_j) e_ij s_ijc
                weights[j] = -((gi + g[b, j]) * kernel[b, i, j])
            _sign_contract_row(planes, b, i, weights, out[b, i])


def pairwise_l1_closeness_grad(m, g, kernel):
    """Twin of ``ops.pairwise.pairwise_l1_closeness_grad_array``: dm[b,i,c] =
    -sum_j (g[b,i] + g[b,j]) e[b,i,j] s[b,i,j,c], the weights of row i built once for its C channels."""
    groups, n, channels = m.shape
    out = numpy.empty(m.shape, dtype=m.dtype)
    _pairwise_l1_closeness_grad(numpy.ascontiguousarray(m.transpose(0, 2, 1)), numpy.ascontiguousarray(g, dtype=m.dtype),
                                numpy.ascontiguousarray(kernel, dtype=m.dtype), out, numpy.empty(n, dtype=m.dtype))
    return out


@njit(**_JIT_SUMS)
def _pairwise_l1_closeness_grad_backward(planes, grad_planes, g, kernel, grad_m, grad_g, row, weights):
    groups, channels, n = planes.shape
    for b in range(groups):
        for i in range(n):
            for j in range(n):
                row[j] = 0
            for c in range(channels):  # row[j] = Q[b, i, j] = sum_c s[b,i,j,c] (G[b,i,c] - G[b,j,c])
                value, own = planes[b, c, i], grad_planes[b, c, i]
                values, grads = planes[b, c], grad_planes[b, c]
                for j in range(n):  # a sign times a difference: 2.5x faster here than two selects
                    row[j] += _sign(value - values[j]) * (own - grads[j])
            gi = g[b, i]
            total = numpy.float32(0)
            for j in range(n):
                weighted = kernel[b, i, j] * row[j]
                total += weighted
                weights[j] = (gi + g[b, j]) * weighted
            grad_g[b, i] = -total
            _sign_contract_row(planes, b, i, weights, grad_m[b, i])  # dm[b, i, c] = sum_j weights[j] s[b, i, j, c]


def pairwise_l1_closeness_grad_backward(m, g, kernel, grad):
    """Twin of ``ops.pairwise.pairwise_l1_closeness_grad_backward_array``: per row i, Q's row from
    C passes over j, then dg and the weights (g[b,i] + g[b,j]) e Q of dm's C passes; no (B, N, N)
    array is written."""
    groups, n, channels = m.shape
    grad_m, grad_g = numpy.empty(m.shape, dtype=m.dtype), numpy.empty((groups, n), dtype=m.dtype)
    _pairwise_l1_closeness_grad_backward(
        numpy.ascontiguousarray(m.transpose(0, 2, 1)), numpy.ascontiguousarray(grad.transpose(0, 2, 1), dtype=m.dtype),
        numpy.ascontiguousarray(g, dtype=m.dtype), numpy.ascontiguousarray(kernel, dtype=m.dtype), grad_m, grad_g,
        numpy.empty(n, dtype=m.dtype), numpy.empty(n, dtype=m.dtype))
    return grad_m, grad_g


def warm_up(dtype=numpy.float32) -> float:
    """Compile (or load from the cache) every kernel for ``dtype``; returns the seconds it took.

    About 6 s the first time on a 2-core machine, well under 1 s once cached: the trainer
    calls it before its first step, so that step's time is the step's."""
    import time

    started = time.perf_counter()
    dtype = numpy.dtype(dtype).type
    x = numpy.ones((2, 16, 4, 4), dtype=dtype)
    few = numpy.ones((2, 1, 4, 4), dtype=dtype)
    for source in (x, few):
        c = source.shape[1]
        w = numpy.ones((c, c, 3, 3), dtype=dtype)
        y = conv2d(source, w, (1, 1), (1, 1), (1, 1))
        conv_transpose2d(y, w, (1, 1), (1, 1), (0, 0), (1, 1))
        conv2d_weight(source, y, (3, 3), (1, 1), (1, 1), (1, 1))
    for shape in ((2, 16, 4, 4), (2, 16)):
        a, ones = numpy.ones(shape, dtype=dtype), numpy.ones(16, dtype=dtype)
        _, mean, var = batch_norm_train(a, ones, ones, 1e-5)
        batch_norm_backward(a, a, ones, mean, 1 / numpy.sqrt(var + dtype(1e-5)))
    leaky_relu_grad(x, leaky_relu(x, 0.2), 0.2)
    conv_transpose2d(nchw_view(to_nhwc(x)), numpy.ones((16, 1, 3, 3), dtype=dtype), (1, 1), (1, 1), (0, 0),
                     (1, 1))  # few output channels from a channels-last input (_col2im_pixels_to_nchw)
    _planes_to_pixels(x.reshape(2, 16, 16), numpy.empty((2, 16, 16), dtype=dtype), 32)  # to_nhwc's blocks
    adam_update(x, x, x.copy(), x.copy(), 0.5, 0.999, 1e-3, 1.0, 1e-8)
    m, g = numpy.ones((2, 4, 3), dtype=dtype), numpy.ones((2, 4), dtype=dtype)  # minibatch discrimination's
    _, closeness = pairwise_l1_closeness(m)
    pairwise_l1_closeness_grad(m, g, closeness)
    pairwise_l1_closeness_grad_backward(m, g, closeness, m)
    pairwise_sign_dot(m, pairwise_sign_contract(m, closeness))
    return time.perf_counter() - started


KERNELS: dict = {
    "pairwise_l1": pairwise_l1,
    "pairwise_sign_contract": pairwise_sign_contract,
    "pairwise_sign_dot": pairwise_sign_dot,
    "pairwise_l1_closeness": pairwise_l1_closeness,
    "pairwise_l1_closeness_grad": pairwise_l1_closeness_grad,
    "pairwise_l1_closeness_grad_backward": pairwise_l1_closeness_grad_backward,
    "adam_update": adam_update,
    "batch_norm_train": batch_norm_train,
    "batch_norm_backward": batch_norm_backward,
    "leaky_relu": leaky_relu,
    "leaky_relu_grad": leaky_relu_grad,
    "conv2d": conv2d,
    "conv_transpose2d": conv_transpose2d,
    "conv2d_weight": conv2d_weight,
    "conv2d_keeping_columns": conv2d_keeping_columns,
    "conv2d_weight_from_columns": conv2d_weight_from_columns,
    "conv2d_and_weight": conv2d_and_weight,
}
