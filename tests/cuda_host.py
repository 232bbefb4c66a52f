"""Run the CUDA C kernels of ``kernels/cuda/`` on the CPU, so CI tests their arithmetic.

CuPy compiles a kernel source with NVRTC and launches it on a grid of blocks of threads.
Here the same source is compiled by the host C++ compiler with a short prelude that
turns ``__global__``/``__device__`` into plain C++ and ``threadIdx``/``blockIdx``/
``blockDim``/``gridDim`` into globals; a generated launcher runs every (block, thread)
of the grid one after another. That is exact for kernels written the way the project
writes them (kernels/cuda/README conventions): a grid-stride loop in which each thread
owns its outputs, with no shared memory, barriers, atomics or warp intrinsics.

The launcher also checks what a GPU would not: every pointer argument must be a
C-contiguous device array whose dtype matches the pointer's C type, and every scalar a
NumPy scalar of the parameter's exact C type (a ``float64`` passed for a ``float``
parameter is silently reinterpreted by a real launch).
"""

from __future__ import annotations

import ctypes
import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy

PRELUDE = r"""
#include <cmath>
using std::sqrt; using std::exp; using std::log; using std::cos; using std::sin;
using std::fabs; using std::tanh; using std::fmax; using std::fmin;
struct scratchgan_dim3 { unsigned int x, y, z; };
static scratchgan_dim3 threadIdx, blockIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
"""

_KERNEL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)', re.S)

# C type -> (ctypes type, NumPy dtype it must come as)
_SCALARS = {
    "float": (ctypes.c_float, numpy.float32),
    "double": (ctypes.c_double, numpy.float64),
    "int": (ctypes.c_int, numpy.int32),
    "unsigned int": (ctypes.c_uint, numpy.uint32),
    "long long": (ctypes.c_longlong, numpy.int64),
    "unsigned long long": (ctypes.c_ulonglong, numpy.uint64),
}


def _macros(options) -> dict:
    """-DNAME=VALUE options as a dict (the loader passes T and T_IS_DOUBLE this way)."""
    found = {}
    for option in options:
        match = re.fullmatch(r"-D(\w+)=(.*)", option)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def _parameters(signature: str, macros: dict):
    """'const T* x, T* out, long long n' -> [(is_pointer, C type with macros expanded, name)]."""
    parameters = []
    for declaration in (part.strip() for part in signature.split(",")):
        pointer = "*" in declaration
        words = declaration.replace("*", " ").replace("const", " ").replace("__restrict__", " ").split()
        ctype = " ".join(macros.get(word, word) for word in words[:-1])
        parameters.append((pointer, ctype, words[-1]))
    return parameters


def compiler() -> str | None:
    """The host C++ compiler, or None."""
    return shutil.which("g++") or shutil.which("c++")


class HostKernel:
    """One kernel of a HostModule, called as CuPy calls a RawKernel: kernel(grid, block, args)."""

    def __init__(self, library, name, parameters):
        self.name = name
        self.parameters = parameters
        self._launch = getattr(library, f"scratchgan_launch_{name}")
        self._launch.restype = None
        self._launch.argtypes = [ctypes.c_uint, ctypes.c_uint] + [
            ctypes.c_void_p if pointer else _SCALARS[ctype][0] for pointer, ctype, _ in parameters]

    def __call__(self, grid, block, args):
        grid, block = _one_dimensional(grid, "grid"), _one_dimensional(block, "block")
        if len(args) != len(self.parameters):
            raise TypeError(f"{self.name}: {len(args)} arguments, the kernel takes {len(self.parameters)}")
        converted = [_argument(self.name, parameter, value) for parameter, value in zip(self.parameters, args)]
        self._launch(grid, block, *converted)


def _one_dimensional(size, what) -> int:
    size = tuple(size) if isinstance(size, (tuple, list)) else (size,)
    if any(extent != 1 for extent in size[1:]) or not 0 < size[0]:
        raise ValueError(f"the project's kernels use 1-d launches, got {what} {size}")
    return int(size[0])


def _argument(kernel_name, parameter, value):
    pointer, ctype, name = parameter
    if pointer:
        if not isinstance(value, numpy.ndarray):
            raise TypeError(f"{kernel_name}: argument {name} must be a device array, got {type(value).__name__}")
        if not value.flags.c_contiguous:
            raise ValueError(f"{kernel_name}: argument {name} must be C-contiguous (a kernel reads raw memory)")
        expected = _SCALARS[ctype][1]
        if value.dtype != expected:
            raise TypeError(f"{kernel_name}: argument {name} is {ctype}*, got an array of {value.dtype}")
        return value.ctypes.data
    expected = _SCALARS[ctype][1]
    if type(value) is not expected:
        raise TypeError(f"{kernel_name}: argument {name} is {ctype}; pass numpy.{expected.__name__}, "
                        f"got {type(value).__name__} (a real launch would reinterpret its bytes)")
    return value


class HostModule:
    """A CUDA C source compiled for the CPU; ``get_function(name)`` as ``cupy.RawModule``."""

    def __init__(self, code: str, options=()):
        macros = _macros(options)
        kernels = [(name, _parameters(signature, macros)) for name, signature in _KERNEL.findall(code)]
        if not kernels:
            raise ValueError('HostModule: no extern "C" __global__ kernels found in the source')
        source = PRELUDE + code + "\n" + "\n".join(_launcher(name, parameters) for name, parameters in kernels)
        self._library = ctypes.CDLL(str(_compile(source, options)))
        self._kernels = {name: HostKernel(self._library, name, parameters) for name, parameters in kernels}

    def get_function(self, name: str) -> HostKernel:
        if name not in self._kernels:
            raise KeyError(f"HostModule: no kernel {name!r}; the source defines {sorted(self._kernels)}")
        return self._kernels[name]


def _launcher(name, parameters) -> str:
    declarations = ", ".join(
        f"{'void*' if pointer else ctype} {pname}" for pointer, ctype, pname in parameters)
    arguments = ", ".join(
        f"({ctype}*){pname}" if pointer else pname for pointer, ctype, pname in parameters)
    return f"""
extern "C" void scratchgan_launch_{name}(unsigned int grid, unsigned int block, {declarations}) {{
    gridDim = {{grid, 1, 1}};
    blockDim = {{block, 1, 1}};
    for (unsigned int b = 0; b < grid; ++b)
        for (unsigned int t = 0; t < block; ++t) {{
            blockIdx = {{b, 0, 0}};
            threadIdx = {{t, 0, 0}};
            {name}({arguments});
        }}
}}
"""


def _compile(source: str, options) -> Path:
    """Compile to a shared library once per (source, options), cached in the temp directory."""
    cxx = compiler()
    if cxx is None:
        raise RuntimeError("cuda_host: no C++ compiler (g++) found to run CUDA sources on the CPU")
    defines = [option for option in options if option.startswith("-D")]
    digest = hashlib.sha256((source + "\0" + " ".join(defines)).encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / "scratchgan-cuda-host"
    folder.mkdir(exist_ok=True)
    library = folder / f"{digest}.so"
    if not library.exists():
        source_file = folder / f"{digest}.cpp"
        source_file.write_text(source)
        partial = folder / f"{digest}.{id(source)}.tmp.so"
        done = subprocess.run([cxx, "-std=c++14", "-O2", "-ffp-contract=off", "-shared", "-fPIC", *defines, str(source_file),
                               "-o", str(partial)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"cuda_host: {cxx} could not compile {source_file}:\n{done.stderr}")
        partial.replace(library)  # atomic: a concurrent test process never loads a half-written file
    return library
