"""Shared helpers of the PyTorch parity tests: tolerances and the one comparison they all use.

Tolerances are the issue's: float64 to 1e-10 and float32 to 1e-5, relative to the
largest magnitude of the reference, never comparing across precisions.
"""

import numpy

import scratchgan as sg

RTOL = {numpy.dtype(numpy.float64): 1e-10, numpy.dtype(numpy.float32): 1e-5}


def torch_dtype(torch, dtype):
    return {numpy.dtype(numpy.float64): torch.float64, numpy.dtype(numpy.float32): torch.float32}[
        numpy.dtype(dtype)]


def to_numpy(value):
    """A scratchgan Tensor, a NumPy array or a torch tensor as a NumPy array."""
    if isinstance(value, sg.Tensor):
        return value.numpy()
    if isinstance(value, numpy.ndarray):
        return value
    return value.detach().cpu().numpy()


def relative_error(ours, theirs) -> float:
    """max |ours - theirs| / max |theirs| (the absolute difference when both are all zeros)."""
    ours, theirs = numpy.asarray(ours, numpy.float64), numpy.asarray(theirs, numpy.float64)
    scale = numpy.abs(theirs).max(initial=0.0)
    diff = numpy.abs(ours - theirs).max(initial=0.0)
    return diff / scale if scale > 0 else diff


def assert_parity(ours, theirs, dtype, what):
    """Same shape, both of ``dtype``, and |ours - theirs| <= rtol (|theirs| + max|theirs|)."""
    ours, theirs = to_numpy(ours), to_numpy(theirs)
    dtype = numpy.dtype(dtype)
    assert ours.dtype == dtype, f"{what}: scratchgan dtype {ours.dtype}, expected {dtype}"
    assert theirs.dtype == dtype, f"{what}: torch dtype {theirs.dtype}, expected {dtype}"
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != torch {theirs.shape}"
    rtol = RTOL[dtype]
    scale = float(numpy.abs(theirs).max(initial=0.0))
    numpy.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * scale, err_msg=what)
