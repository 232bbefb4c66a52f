"""CuPy GPU kernel set (selected with ``scratchgan.set_backend("cupy")``).

Each kernel computes the same array function as its NumPy reference in ``scratchgan.ops``
(named in its docstring) for arrays that live on the GPU. The GEMMs are CuPy's
``matmul`` (cuBLAS); around them, the CUDA C kernels of ``kernels/cuda/`` do the passes
that would otherwise be one CuPy temporary per operator: im2col and col2im (conv.cu),
the batch-norm normalisation and its input gradient (batch_norm.cu), leaky ReLU and its
gradient and the Adam update (elementwise.cu), and the Philox random numbers (philox.cu).
The per-channel sums of batch norm are CuPy reductions. Every derivative is still
written in Tensor ops in ``scratchgan.ops``; only forward array functions live here.

The CUDA C sources follow three rules, so that one source serves NVRTC on a GPU and the
CPU emulator of the tests (tests/cuda_host.py), which runs the same code in CI:

* the element type is the macro ``scalar_t`` (``-Dscalar_t=float`` or ``double``; a module
  is compiled once per dtype), and ``SCALAR_IS_DOUBLE`` is 0 or 1;
* no ``#include`` (NVRTC has no standard headers) and only math functions that CUDA and
  C++'s ``<cmath>`` share (sqrt, exp, log, cos, sin);
* ``extern "C" __global__`` kernels over a grid-stride loop in which each thread owns the
  outputs it writes: no shared memory, barriers, atomics or warp intrinsics. col2im is
  therefore a gather (each image element sums the columns that read it), which is also
  deterministic, where a scatter would need atomics.

No kernel synchronises with the host: the sizes come from array shapes, the scalars are
passed as NumPy scalars of the kernel's type, and nothing is read back.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import cupy
import numpy

SOURCES = Path(__file__).parent / "cuda"
BLOCK = 256  # threads per block
MAX_GRID = 65535  # blocks per launch; the grid-stride loops cover any size beyond
_C_TYPES = {"float32": "float", "float64": "double"}


def device_problem() -> str | None:
    """Why this kernel set cannot run here (no driver, no device), or None when a GPU is there."""
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # CUDARuntimeError: no driver, or a driver older than the runtime
        return f"{type(error).__name__}: {error}"
    return None if count > 0 else "no CUDA device found"


@functools.lru_cache(maxsize=None)
def _module(source: str, dtype_name: str):
    """``kernels/cuda/<source>.cu`` compiled for one dtype (NVRTC; CuPy caches it on disk)."""
    if dtype_name not in _C_TYPES:
        raise TypeError(f"cupy kernels: dtype {dtype_name} is not supported; expected float32 or float64")
    scalar = _C_TYPES[dtype_name]
    options = (f"-Dscalar_t={scalar}", f"-DSCALAR_IS_DOUBLE={int(scalar == 'double')}")
    return cupy.RawModule(code=(SOURCES / f"{source}.cu").read_text(), options=options)


def _launch(source, name, dtype, count, *args):
    """Run kernel ``name`` of ``source`` over ``count`` work items (grid-stride, 1-d)."""
    if count == 0:
        return
    grid = min((count + BLOCK - 1) // BLOCK, MAX_GRID)
    _module(source, numpy.dtype(dtype).name).get_function(name)((grid,), (BLOCK,), args)


def _size(value) -> numpy.int64:
    return numpy.int64(value)


# -- convolution: im2col / col2im around one cuBLAS GEMM ----------------------------------------
def _conv_size(size, kernel, stride, padding, dilation):
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def im2col(x, kernel_size, stride, padding, dilation, out_size):
    """x (N, C, H, W) -> columns (C kh kw, N Ho Wo), ``ops.conv.im2col`` flattened."""
    x = cupy.ascontiguousarray(x)
    n, c, h, w = x.shape
    (kh, kw), (ho, wo) = kernel_size, out_size
    cols = cupy.empty((c * kh * kw, n * ho * wo), dtype=x.dtype)
    geometry = (n, c, h, w, kh, kw, *stride, *padding, *dilation, ho, wo)
    _launch("conv", "im2col", x.dtype, cols.size, x, cols, *map(_size, geometry))
    return cols


def col2im(cols, image_shape, kernel_size, stride, padding, dilation, cols_size):
    """columns (C kh kw, N H W) -> image (N, C, Ho, Wo) summing overlaps, ``ops.conv.col2im``."""
    n, c, h, w = image_shape
    (kh, kw), (ho, wo) = kernel_size, cols_size
    image = cupy.empty(image_shape, dtype=cols.dtype)
    geometry = (n, c, h, w, kh, kw, *stride, *padding, *dilation, ho, wo)
    _launch("conv", "col2im", cols.dtype, image.size, cupy.ascontiguousarray(cols), image,
            *map(_size, geometry))
    return image


def conv2d(x, w, stride, padding, dilation):
    """Twin of ``ops.conv.conv2d_array``: y (O, N Ho Wo) = w (O, C kh kw) @ cols, then NCHW."""
    n, c, h, wd = x.shape
    out_channels, _, kh, kw = w.shape
    ho = _conv_size(h, kh, stride[0], padding[0], dilation[0])
    wo = _conv_size(wd, kw, stride[1], padding[1], dilation[1])
    dtype = cupy.result_type(x, w)
    cols = im2col(x.astype(dtype, copy=False), (kh, kw), stride, padding, dilation, (ho, wo))
    y = cupy.matmul(cupy.ascontiguousarray(w, dtype=dtype).reshape(out_channels, -1), cols)
    return cupy.ascontiguousarray(y.reshape(out_channels, n, ho, wo).transpose(1, 0, 2, 3))


def conv_transpose2d(x, w, stride, padding, output_padding, dilation):
    """Twin of ``ops.conv.conv_transpose2d_array``: cols (O kh kw, N H W) = w^T @ x rows, then col2im."""
    n, c, h, wd = x.shape
    _, out_channels, kh, kw = w.shape
    ho = (h - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + output_padding[0] + 1
    wo = (wd - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + output_padding[1] + 1
    dtype = cupy.result_type(x, w)
    x_rows = cupy.ascontiguousarray(x.transpose(1, 0, 2, 3), dtype=dtype).reshape(c, n * h * wd)
    cols = cupy.matmul(cupy.ascontiguousarray(w, dtype=dtype).reshape(c, -1).T, x_rows)
    return col2im(cols, (n, out_channels, ho, wo), (kh, kw), stride, padding, dilation, (h, wd))


def conv2d_weight(x, gy, kernel_size, stride, padding, dilation):
    """Twin of ``ops.conv.conv2d_weight_array``: dw (O, C kh kw) = gy rows (O, N Ho Wo) @ cols^T."""
    n, c = x.shape[:2]
    out_channels, ho, wo = gy.shape[1:]
    dtype = cupy.result_type(x, gy)
    cols = im2col(x.astype(dtype, copy=False), kernel_size, stride, padding, dilation, (ho, wo))
    gy_rows = cupy.ascontiguousarray(gy.transpose(1, 0, 2, 3), dtype=dtype).reshape(out_channels, -1)
    return cupy.matmul(gy_rows, cols.T).reshape(out_channels, c, *kernel_size)


# -- batch norm: CuPy reductions for the sums, one kernel for each elementwise pass -------------
def _channels(a):
    """(N, C, *spatial) -> a C-contiguous (N, C, P) view (a copy only if a is not contiguous)."""
    return cupy.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], -1)


def batch_norm_train(x, weight, bias, eps):
    """Twin of ``ops.norm.batch_norm_train_array``: (y, mean, biased var) per channel."""
    x3 = _channels(x)
    dtype = x.dtype
    mean = x3.mean(axis=(0, 2))
    var = x3.var(axis=(0, 2))  # biased (ddof=0), as the reference
    scale = cupy.ascontiguousarray(weight.astype(dtype, copy=False) / cupy.sqrt(var + dtype.type(eps)))
    y = cupy.empty_like(x3)
    _launch("batch_norm", "batch_norm_apply", dtype, y.size, x3, mean, scale,
            cupy.ascontiguousarray(bias, dtype=dtype), y, _size(y.size), _size(x3.shape[1]),
            _size(x3.shape[2]))
    return y.reshape(x.shape), mean, var


def batch_norm_backward(g, x, weight, mean, invstd):
    """Twin of ``ops.norm.batch_norm_backward_array``: (dx, dweight, dbias)."""
    x3 = _channels(x)
    dtype = x.dtype
    g3 = _channels(g.astype(dtype, copy=False))
    count = x3.shape[0] * x3.shape[2]
    mean = cupy.ascontiguousarray(mean, dtype=dtype)
    invstd = cupy.ascontiguousarray(invstd, dtype=dtype)
    dbias = g3.sum(axis=(0, 2))
    dweight = (g3 * (x3 - mean[:, None])).sum(axis=(0, 2)) * invstd  # sum g x_hat
    dx = cupy.empty_like(x3)
    _launch("batch_norm", "batch_norm_backward_input", dtype, dx.size, g3, x3, mean, invstd,
            cupy.ascontiguousarray(weight, dtype=dtype), dbias / dtype.type(count),
            dweight / dtype.type(count), dx, _size(dx.size), _size(x3.shape[1]), _size(x3.shape[2]))
    return dx.reshape(x.shape), dweight, dbias


# -- fused elementwise chains -------------------------------------------------------------------
def leaky_relu(x, slope):
    """Twin of ``ops.elementwise.leaky_relu_array``: one pass, no temporaries."""
    x = cupy.ascontiguousarray(x)
    out = cupy.empty_like(x)
    _launch("elementwise", "leaky_relu", x.dtype, x.size, x, out, _size(x.size), x.dtype.type(slope))
    return out


def leaky_relu_grad(g, x, slope):
    """Twin of ``ops.elementwise.leaky_relu_grad_array``: g where x > 0, slope g elsewhere."""
    dtype = cupy.result_type(g, x)
    g = cupy.ascontiguousarray(g, dtype=dtype)
    out = cupy.empty_like(g)
    _launch("elementwise", "leaky_relu_grad", dtype, g.size, g, cupy.ascontiguousarray(x, dtype=dtype),
            out, _size(g.size), dtype.type(slope))
    return out


def adam_update(param, grad, exp_avg, exp_avg_sq, beta1, beta2, step_size, bias_correction2_sqrt, eps):
    """Twin of ``optim.adam.adam_update_array`` (the scalars rounded to the array's dtype, as
    NumPy rounds Python floats): one pass; the moments are updated in place, the parameter
    is a new array (its tensor's version changes)."""
    dtype = param.dtype.type
    param = cupy.ascontiguousarray(param)
    exp_avg, exp_avg_sq = cupy.ascontiguousarray(exp_avg), cupy.ascontiguousarray(exp_avg_sq)
    out = cupy.empty_like(param)
    _launch("elementwise", "adam_update", param.dtype, param.size, param,
            cupy.ascontiguousarray(grad, dtype=param.dtype), exp_avg, exp_avg_sq, out, _size(param.size),
            dtype(1 - beta1), dtype(beta2), dtype(1 - beta2), dtype(step_size),
            dtype(bias_correction2_sqrt), dtype(eps))
    return out, exp_avg, exp_avg_sq


# -- random numbers on the device ----------------------------------------------------------------
def philox(kind: str, shape, dtype, seed: int, offset: int):
    """Uniform [0, 1) or standard normal samples drawn on the GPU from the Philox stream
    (seed, offset) of ``kernels/philox.py`` (its NumPy twin, bit for bit); returns
    (array, Philox blocks consumed)."""
    from scratchgan.kernels import philox as twin

    if kind not in ("uniform", "normal"):
        raise ValueError(f"philox: kind must be 'uniform' or 'normal', got {kind!r}")
    dtype = numpy.dtype(dtype)
    out = cupy.empty(shape, dtype=dtype)
    blocks = twin.blocks_for(out.size, dtype)
    _launch("philox", f"philox_{kind}", dtype, blocks, numpy.uint64(seed), numpy.uint64(offset),
            out, _size(out.size))
    return out, blocks


def warm_up(dtype=numpy.float32) -> float:
    """Compile every CUDA source for ``dtype`` (NVRTC; CuPy caches the binaries on disk)."""
    started = time.perf_counter()
    for source in ("conv", "batch_norm", "elementwise", "philox"):
        _module(source, numpy.dtype(dtype).name).get_function(
            {"conv": "im2col", "batch_norm": "batch_norm_apply", "elementwise": "leaky_relu",
             "philox": "philox_normal"}[source])
    return time.perf_counter() - started


KERNELS: dict = {
    "adam_update": adam_update,
    "batch_norm_train": batch_norm_train,
    "batch_norm_backward": batch_norm_backward,
    "leaky_relu": leaky_relu,
    "leaky_relu_grad": leaky_relu_grad,
    "conv2d": conv2d,
    "conv_transpose2d": conv_transpose2d,
    "conv2d_weight": conv2d_weight,
}
