"""Timing and memory measurement of the workloads, scratchgan against PyTorch in the same run.

Timing: every contender runs ``warmup`` untimed steps (Adam's state, BLAS buffers and
JIT compilation happen there), then ``repeats`` repetitions alternate between the
contenders (scratchgan on each backend, PyTorch), in reversed order on every other
repetition so that neither always runs right after the other. A repetition times
enough consecutive steps to last about ``seconds`` and records the mean time of one
step; the table gives the median over repetitions and their min-max. The ratio is
scratchgan's median over PyTorch's.

Memory: each (workload, framework, backend) runs alone in a fresh Python process,
which builds the models and data, resets the kernel's peak-RSS counter
(``/proc/self/clear_refs``), runs ``memory_steps`` steps and reads the peak resident
set size (``VmHWM``). "step" memory is that peak minus the resident size just before
the first step (optimizer state, activations, gradients, temporaries); "abs" is the
whole process's peak, libraries included (``import torch`` alone is ~300 MB). The same
method for both frameworks, so they compare; it counts every allocator (NumPy,
PyTorch's, glibc's arenas), not only tensor bytes.

Threads: PyTorch runs with ``torch.set_num_threads(2)``; scratchgan runs inside
``scratchgan.backend.blas_threads(workload.blas_threads)`` (1 for the MLP workload,
whose GEMMs are fastest on one thread, else 2).
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy

from benchmarks import workloads as wl
from scratchgan import backend as scratchgan_backend  # noqa: F401  (importing it applies the allocator policy)

# Importing scratchgan tunes glibc's malloc for the whole process (scratchgan.backend.configure_allocator):
# it is imported here, before anything is measured, so that every PyTorch row too (timed in this
# process, memory in a child that imports this module) runs with the same allocator as scratchgan's.
# SCRATCHGAN_ALLOCATOR=system measures both with glibc's default instead.

TORCH_THREADS = 2


@dataclass
class Timing:
    """Seconds per step (or per call) over repetitions."""

    samples: list = field(default_factory=list)
    first: float = float("nan")  # the first warm-up step: cold caches, allocation, JIT compilation
    other_load: float = float("nan")  # cores used by other processes meanwhile (OtherLoad)

    @property
    def median(self):
        return statistics.median(self.samples)

    @property
    def low(self):
        return min(self.samples)

    @property
    def high(self):
        return max(self.samples)


# -- other processes on the machine ------------------------------------------------------------
def _machine_busy_seconds():
    """CPU-seconds spent by all CPUs outside idle and iowait since boot (steal included)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def _own_busy_seconds():
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class OtherLoad:
    """Cores' worth of CPU that *other* processes used while the block ran (0 = a quiet machine,
    1 = one core taken): the machine's busy time from /proc/stat minus this process's own."""

    def __enter__(self):
        self.cores = float("nan")
        try:
            self._start = (time.perf_counter(), _machine_busy_seconds(), _own_busy_seconds())
        except OSError:
            self._start = None
        return self

    def __exit__(self, *exc):
        if self._start is not None:
            wall, machine, own = self._start
            wall = time.perf_counter() - wall
            other = (_machine_busy_seconds() - machine) - (_own_busy_seconds() - own)
            self.cores = max(0.0, other) / wall if wall > 0 else 0.0
        return False


def wait_until_quiet(max_seconds, threshold=0.15, window=5.0):
    """Sleep until other processes use under ``threshold`` cores over ``window`` seconds, or
    ``max_seconds`` pass; returns the last reading."""
    deadline = time.monotonic() + max_seconds
    while True:
        with OtherLoad() as load:
            time.sleep(window)
        if load.cores < threshold or time.monotonic() >= deadline:
            return load.cores


# -- the timing loop ----------------------------------------------------------------------------
@contextmanager
def scratchgan_context(backend_name, threads):
    """Select a scratchgan kernel set and limit BLAS threads for the duration of the block."""
    from scratchgan import backend

    previous = backend.get_backend()
    backend.set_backend(backend_name)
    try:
        with backend.blas_threads(threads):
            yield
    finally:
        backend.set_backend(previous)


def _timed_calls(call, count):
    start = time.perf_counter()
    for _ in range(count):
        call()
    return time.perf_counter() - start


def alternate(contenders, repeats, warmup, seconds):
    """``contenders``: {label: (context factory, call)}; returns {label: Timing} per call, with
    the CPU that other processes used during the whole measurement.

    Each contender's calls per repetition are calibrated on its last warm-up call so a
    repetition lasts about ``seconds`` (at least one call; exactly one when seconds is 0).
    """
    timings, counts = {label: Timing() for label in contenders}, {}
    with OtherLoad() as other:
        for label, (context, call) in contenders.items():
            with context():
                for index in range(max(1, warmup)):
                    elapsed = _timed_calls(call, 1)
                    if index == 0:
                        timings[label].first = elapsed
            counts[label] = max(1, round(seconds / elapsed)) if seconds > 0 else 1
        order = list(contenders)
        for repetition in range(repeats):
            for label in order if repetition % 2 == 0 else order[::-1]:
                context, call = contenders[label]
                gc.collect()
                with context():
                    timings[label].samples.append(_timed_calls(call, counts[label]) / counts[label])
    for timing in timings.values():
        timing.other_load = other.cores
    return timings


def _cycling_step(gan, batches):
    """A no-argument call running one training step on the next of the prepared batches."""
    tensors = [gan.tensors(batch) for batch in batches]
    position = [0]

    def call():
        batch = tensors[position[0] % len(tensors)]
        position[0] += 1
        gan.step(**batch)

    return call


def time_workload(workload, backends, repeats, warmup, seconds, dtype=numpy.float32, device="cpu"):
    """{"torch": Timing, backend: Timing, ...} for one workload; PyTorch initialises both.
    ``device="cuda"``: both frameworks on the GPU (scratchgan's cupy set, PyTorch CUDA)."""
    torch_gan = wl.TorchGAN(workload, dtype, device=device)
    batches = wl.make_batches(workload, dtype=dtype)
    contenders = {}
    for name in backends:
        gan = wl.ScratchganGAN(workload, dtype, torch_gan.initial_state, device=device)
        contenders[name] = (lambda name=name: scratchgan_context(name, workload.blas_threads),
                            _cycling_step(gan, batches))
    contenders["torch"] = (_nothing, _cycling_step(torch_gan, batches))
    return alternate(contenders, repeats, warmup, seconds)


@contextmanager
def _nothing():
    yield


def _layer_call(module, x, cotangent):
    """One forward + backward of ``module`` on ``x`` (which requires grad), gradients reset each call."""
    def call():
        module.zero_grad(set_to_none=True)
        x.grad = None
        output = module(x)
        output.backward(cotangent)

    return call


GEMM = "gemm"  # the label of the layer's GEMMs alone among time_layer's contenders


def _gemms_call(shapes, dtype=numpy.float32, seed=0):
    """A no-argument call running the products (m, k, n) of ``shapes`` with NumPy's matmul on
    preallocated C-contiguous operands and outputs: the floor a GEMM-lowered layer can reach."""
    rng = numpy.random.default_rng(seed)
    operands = [(rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype),
                 numpy.empty((m, n), dtype=dtype)) for m, k, n in shapes]

    def call():
        for a, b, c in operands:
            numpy.matmul(a, b, out=c)

    return call


def _blas_context(threads):
    from scratchgan import backend

    return lambda: backend.blas_threads(threads)


def _in_output_layout(layer, x_array, cotangent, backend_name):
    """``cotangent`` laid out in memory as the layer's output is on that kernel set (NCHW, or
    channels-last from the Numba convolutions): in a network the gradient reaching a layer comes
    from the backward of the ops after it, which keep the layout of their input."""
    import scratchgan as sg

    with scratchgan_context(backend_name, 2), sg.no_grad():
        output = layer(sg.Tensor(x_array)).data
    laid_out = numpy.empty_like(output)  # the same strides as output
    laid_out[...] = cotangent
    return laid_out


def time_layer(case, backends, repeats, warmup, seconds):
    """{"torch": Timing, backend: Timing, ..., GEMM: Timing} for one layer, forward + backward,
    float32; GEMM (for layers lowered to matrix products) is the time of those products alone,
    on the same shapes and BLAS threads, alternating with the others. The input is NCHW (as data
    arrive); the cotangent has the layout of the layer's output (``_in_output_layout``)."""
    import scratchgan as sg
    import torch

    rng = numpy.random.default_rng(0)
    x_array = rng.standard_normal(case.input_shape).astype(numpy.float32)
    torch.manual_seed(0)
    torch_layer = case.build(torch.nn)
    torch_x = torch.from_numpy(x_array).requires_grad_(True)
    with torch.no_grad():
        cotangent = rng.standard_normal(tuple(torch_layer(torch_x).shape)).astype(numpy.float32)
    state = {k: v.detach().numpy().copy() for k, v in torch_layer.state_dict().items()}
    contenders = {}
    for name in backends:
        layer = case.build(sg.nn)
        layer.load_state_dict(state)
        contenders[name] = (lambda name=name: scratchgan_context(name, 2),
                            _layer_call(layer, sg.Tensor(x_array, requires_grad=True),
                                        sg.Tensor(_in_output_layout(layer, x_array, cotangent, name))))
    contenders["torch"] = (_nothing, _layer_call(torch_layer, torch_x, torch.from_numpy(cotangent)))
    gemms = wl.case_gemms(case)
    if gemms:
        contenders[GEMM] = (_blas_context(2), _gemms_call(gemms))
    return alternate(contenders, repeats, warmup, seconds)


# -- memory, one fresh process per measurement ---------------------------------------------------
def _proc_status_kib(key):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def memory_child(workload_name, framework, backend_name, steps, dtype_name):
    """Run in a fresh process: build, reset the peak, run ``steps`` steps; print one JSON line."""
    workload = wl.WORKLOADS[workload_name]
    dtype = numpy.dtype(dtype_name)
    batches = wl.make_batches(workload, dtype=dtype)
    if framework == "torch":
        import torch

        torch.set_num_threads(TORCH_THREADS)
        gan, context = wl.TorchGAN(workload, dtype), _nothing()
    else:  # scratchgan's own init: memory does not depend on the values, and torch stays out of the process
        gan, context = wl.ScratchganGAN(workload, dtype), scratchgan_context(backend_name, workload.blas_threads)
    step = _cycling_step(gan, batches)
    with context:
        gc.collect()
        reset = _reset_peak_rss()
        before = _proc_status_kib("VmRSS")
        for _ in range(steps):
            step()
        peak = _proc_status_kib("VmHWM")
    print(json.dumps({"before_mib": before / 1024, "peak_mib": peak / 1024, "reset": reset}))


def measure_memory(workload_name, framework, backend_name="numpy", steps=3, dtype_name="float32"):
    """{"before_mib", "peak_mib", "step_mib", "reset"} from a fresh subprocess (see memory_child)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "benchmarks.harness", "memory", workload_name, framework,
               backend_name, str(steps), dtype_name]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=root, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"memory measurement {' '.join(command[3:])} failed:\n{result.stderr[-2000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["step_mib"] = figures["peak_mib"] - figures["before_mib"]
    return figures


if __name__ == "__main__" and len(sys.argv) == 7 and sys.argv[1] == "memory":
    memory_child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
