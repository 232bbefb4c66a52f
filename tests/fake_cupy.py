"""A stand-in for CuPy that keeps its arrays in NumPy memory: the GPU code paths in CI.

The project's machines have no GPU, so ``install()`` puts this module in
``sys.modules["cupy"]`` and everything that asks for CuPy (``backend.get_array_module``,
``Tensor.to("cuda")``, the ``cupy`` kernel set) runs against it. It keeps the rules of
CuPy that catch real bugs on a CPU:

* a device array is its own type (``fake_cupy.ndarray``, module "cupy"), so
  ``Tensor.device`` says "cuda" and the array module follows the data;
* mixing a host NumPy array into a device computation is a ``TypeError``, as in CuPy
  (reductions return 0-d device arrays, not host scalars, as in CuPy);
* only names that CuPy has exist (``tests/data/cupy_api.json``, recorded from cupy 14.2),
  so a NumPy-only function used on device data fails here as it would on a GPU;
* ``RawModule`` compiles the CUDA C source for the CPU (``tests/cuda_host.py``) and
  runs the real kernel code;
* every device-to-host transfer (``get``, ``asnumpy``, ``item``, ``float``, ``bool``,
  ``tolist``) is counted in ``synchronizations``, since each one waits for the GPU:
  tests assert that a training step makes none outside its logging interval.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy

from tests import cuda_host

_API = json.loads((Path(__file__).parent / "data" / "cupy_api.json").read_text())
_MODULE_NAMES = frozenset(_API["module"])
# functions that take host data by design (uploads); everything else rejects host arrays
_UPLOADS = frozenset({"asarray", "array", "asanyarray"})
_CREATION = frozenset({"empty", "zeros", "ones", "full", "arange", "eye", "identity", "linspace"})

synchronizations = 0
uploads = 0


class ndarray(numpy.ndarray):
    """A device array: NumPy memory, CuPy's rules (see the module docstring)."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        _reject_host(f"{ufunc.__name__}.{method}" if method != "__call__" else ufunc.__name__, inputs)
        inputs = tuple(_host_view(value) for value in inputs)
        if out is not None:
            kwargs["out"] = tuple(_host_view(value) for value in out)
        return _device(getattr(ufunc, method)(*inputs, **kwargs))

    def __array_function__(self, func, types_, args, kwargs):
        _reject_host(func.__name__, args)
        return _device(func(*_unwrap(args), **_unwrap(kwargs)))

    # the transfers CuPy makes explicit, each a synchronisation
    def get(self, stream=None, out=None):
        _count_sync()
        return numpy.array(self.view(numpy.ndarray))

    def item(self, *args):
        _count_sync()
        return self.view(numpy.ndarray).item(*args)

    def tolist(self):
        _count_sync()
        return self.view(numpy.ndarray).tolist()

    def __float__(self):
        _count_sync()
        return float(self.view(numpy.ndarray))

    def __int__(self):
        _count_sync()
        return int(self.view(numpy.ndarray))

    def __bool__(self):
        _count_sync()
        return bool(self.view(numpy.ndarray))

    def __repr__(self):
        return "fake_cupy." + repr(self.view(numpy.ndarray))

    @property
    def device(self):
        return cuda.Device(0)


def _count_sync():
    global synchronizations
    synchronizations += 1


def _reject_host(name, values):
    for value in _flatten(values):
        if type(value) is numpy.ndarray:
            raise TypeError(f"cupy.{name}: a host numpy.ndarray {value.shape} mixed with device arrays "
                            f"(CuPy raises here: move it with cupy.asarray first)")


def _flatten(values):
    for value in values:
        if isinstance(value, (list, tuple)):
            yield from _flatten(value)
        else:
            yield value


def _host_view(value):
    return value.view(numpy.ndarray) if isinstance(value, ndarray) else value


def _unwrap(value):
    if isinstance(value, ndarray):
        return value.view(numpy.ndarray)
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(item) for item in value)
    if isinstance(value, dict):
        return {key: _unwrap(item) for key, item in value.items()}
    return value


def _device(result):
    """NumPy results as device arrays; NumPy scalars as 0-d device arrays (CuPy's reductions)."""
    if isinstance(result, numpy.ndarray):
        return result.view(ndarray)
    if isinstance(result, numpy.generic) and not isinstance(result, (numpy.str_, numpy.bytes_)):
        return numpy.asarray(result).view(ndarray)
    if isinstance(result, tuple):
        return tuple(_device(item) for item in result)
    if isinstance(result, list):
        return [_device(item) for item in result]
    return result


def _device_function(name):
    function = getattr(numpy, name)

    def call(*args, **kwargs):
        global uploads
        if name in _UPLOADS:
            if any(type(value) is numpy.ndarray for value in _flatten(args[:1])):
                uploads += 1
        else:
            _reject_host(name, args)
        unwrapped = _unwrap(args)
        result = function(*unwrapped, **_unwrap(kwargs))
        for original, plain in zip(args, unwrapped):  # "returns its argument" keeps the object,
            if result is plain and isinstance(original, ndarray):  # as CuPy's ascontiguousarray does
                return original
        return _device(result)

    call.__name__ = name
    return call


class _Ufunc:
    """A NumPy ufunc with CuPy's rules: called, or through .at/.reduce/.accumulate/.outer."""

    def __init__(self, ufunc):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        _reject_host(self.__name__, args)
        return _device(self._ufunc(*_unwrap(args), **_unwrap(kwargs)))

    def __getattr__(self, method):
        bound = getattr(self._ufunc, method)
        if not callable(bound):
            return bound

        def call(*args, **kwargs):
            _reject_host(f"{self.__name__}.{method}", args)
            return _device(bound(*_unwrap(args), **_unwrap(kwargs)))  # .at works in place on a view

        return call


def asnumpy(array, stream=None, out=None):
    if isinstance(array, ndarray):
        return array.get()
    return numpy.asarray(array)


def get_array_module(*arrays):
    return module if any(isinstance(array, ndarray) for array in arrays) else numpy


class RawModule:
    """``cupy.RawModule(code=..., options=...)``: the CUDA C source run on the CPU."""

    def __init__(self, code=None, options=(), name_expressions=None, **unused):
        if name_expressions:
            raise NotImplementedError("fake_cupy.RawModule: the project's kernels use no templates")
        self._host = cuda_host.HostModule(code, options)

    def get_function(self, name):
        return self._host.get_function(name)


class _Device:
    def __init__(self, index=0):
        self.id = index

    def synchronize(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


cuda = types.SimpleNamespace(
    Device=_Device,
    is_available=lambda: True,
    runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),
    get_current_stream=lambda: types.SimpleNamespace(synchronize=lambda: None),
)


class _FakeCupyModule(types.ModuleType):
    """Module attributes: this file's names, else NumPy's under CuPy's API (device results)."""

    def __getattr__(self, name):
        if name.startswith("__") or name not in _MODULE_NAMES or not hasattr(numpy, name):
            raise AttributeError(f"module 'cupy' has no attribute {name!r} (fake_cupy: not in CuPy "
                                 f"{_API['cupy_version']}'s namespace, or not emulated)")
        value = getattr(numpy, name)
        if isinstance(value, numpy.ufunc):
            value = _Ufunc(value)
        elif callable(value) and not isinstance(value, type):
            value = _device_function(name)
        setattr(self, name, value)
        return value


module = sys.modules[__name__]


def install():
    """Make ``import cupy`` return this module; returns the previous entry (None if none)."""
    previous = sys.modules.get("cupy")
    sys.modules["cupy"] = _fake
    return previous


def uninstall(previous):
    if previous is None:
        sys.modules.pop("cupy", None)
    else:
        sys.modules["cupy"] = previous


def reset_counters():
    global synchronizations, uploads
    synchronizations = 0
    uploads = 0


# the object installed as "cupy": this module's own names first, NumPy's under CuPy's API next
_fake = _FakeCupyModule("cupy", __doc__)
for _name in ("ndarray", "asnumpy", "get_array_module", "RawModule", "cuda"):
    setattr(_fake, _name, globals()[_name])
_fake.__version__ = _API["cupy_version"] + "+fake"
ndarray.__module__ = "cupy"
module = _fake
