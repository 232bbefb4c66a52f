"""Where the scratchgan W2 step (DCGAN-MNIST, batch 64, float32) spends its time.

    python benchmarks/profile_w2.py [--backend numpy] [--steps 5] [--top 10]
    python -m benchmarks.profile_w2 ...

Two views of the same steps, after two warm-up steps:

1. By op (``Function`` subclass): the time of its ``forward`` in the forward pass and of
   its ``backward`` (inclusive: the ops that backward calls run inside it, which is what
   an op's backward costs), in ms per step and as a share of the step. Each Function
   call is bracketed with a timer for this view (cProfile cannot tell a forward called by
   a backward from one in the forward pass). ``Adam.step`` is listed as an op of its own;
   "outside ops" is the rest: graph traversal, module calls, Python glue.
2. Flat cProfile: the functions with the most own time (``tottime``), NumPy's included,
   so a hot copy, transpose or reduction inside an op is visible by name.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness
from benchmarks import workloads as wl


def _function_classes():
    from scratchgan.autograd.function import Function

    found, stack = [], [Function]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            found.append(sub)
            stack.append(sub)
    return found


@contextmanager
def op_timer():
    """Time every Function's forward (outermost, outside backward) and backward (inclusive).

    Yields {(op name, "forward" | "backward"): [seconds, calls]}.
    """
    from scratchgan.optim.optimizer import Optimizer

    totals = defaultdict(lambda: [0.0, 0])
    depth = {"forward": 0, "backward": 0}

    def wrap(method, phase, label=None):
        def timed(self, *args, **kwargs):
            outermost = depth["forward"] == 0 and depth["backward"] == 0
            depth[phase] += 1
            start = time.perf_counter()
            try:
                return method(self, *args, **kwargs)
            finally:
                depth[phase] -= 1
                if outermost:
                    entry = totals[(label or type(self).__name__, phase)]
                    entry[0] += time.perf_counter() - start
                    entry[1] += 1
        return timed

    patched = []
    for cls in _function_classes():
        for phase in ("forward", "backward"):
            if phase in cls.__dict__:
                patched.append((cls, phase, cls.__dict__[phase]))
                setattr(cls, phase, wrap(cls.__dict__[phase], phase))
    optimizers = [Optimizer] + [cls for cls in Optimizer.__subclasses__()]
    for cls in optimizers:
        if "step" in cls.__dict__:
            patched.append((cls, "step", cls.__dict__["step"]))
            setattr(cls, "step", wrap(cls.__dict__["step"], "forward", label=f"{cls.__name__}.step"))
    try:
        yield totals
    finally:
        for cls, name, original in reversed(patched):
            setattr(cls, name, original)


def _prepared_step(backend_name, workload):
    gan = wl.ScratchganGAN(workload)  # scratchgan's own init: the cost of a step does not depend on it
    step = harness._cycling_step(gan, wl.make_batches(workload))
    with harness.scratchgan_context(backend_name, workload.blas_threads):
        step()
        step()  # warm-up: Adam's state, JIT compilation, BLAS buffers
    return step


def by_op(backend_name="numpy", steps=5):
    """(ms per step, [(op, forward ms, backward ms, forward calls, backward calls), ...] per step,
    sorted by total time)."""
    workload = wl.WORKLOADS["W2"]
    step = _prepared_step(backend_name, workload)
    with harness.scratchgan_context(backend_name, workload.blas_threads), op_timer() as totals:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        elapsed = time.perf_counter() - start
    ops = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])  # forward ms, backward ms, forward calls, backward calls
    for (name, phase), (seconds, calls) in totals.items():
        column = 0 if phase == "forward" else 1
        ops[name][column] += 1e3 * seconds / steps
        ops[name][2 + column] += calls / steps
    rows = sorted(((name, *figures) for name, figures in ops.items()), key=lambda row: -(row[1] + row[2]))
    return 1e3 * elapsed / steps, rows


def flat_profile(backend_name="numpy", steps=5):
    """(ms per step, pstats.Stats) of a cProfile run of ``steps`` W2 steps."""
    workload = wl.WORKLOADS["W2"]
    step = _prepared_step(backend_name, workload)
    profiler = cProfile.Profile()
    with harness.scratchgan_context(backend_name, workload.blas_threads):
        start = time.perf_counter()
        profiler.enable()
        for _ in range(steps):
            step()
        profiler.disable()
        elapsed = time.perf_counter() - start
    return 1e3 * elapsed / steps, pstats.Stats(profiler)


def _short_name(func):
    filename, line, name = func
    if filename == "~":  # a builtin, e.g. <method 'matmul' of ...> or <built-in method numpy...>
        return name
    parts = Path(filename).parts
    tail = "/".join(parts[-2:]) if "scratchgan" in parts or "benchmarks" in parts else parts[-1]
    return f"{tail}:{line}({name})"


def print_report(backend_name="numpy", steps=5, top=10):
    step_ms, rows = by_op(backend_name, steps)
    accounted = sum(row[1] + row[2] for row in rows)
    print(f"scratchgan W2 step (DCGAN-MNIST, batch 64, float32), backend {backend_name}: "
          f"{step_ms:.1f} ms per step (timed ops), mean of {steps} steps")
    print(f"\nby op: forward (in the forward pass) and backward (inclusive), ms per step; top {top}")
    print(f"{'op':<24} {'forward':>8} {'backward':>9} {'total':>8} {'share':>6} {'calls f/b':>10}")
    for name, forward, backward, forward_calls, backward_calls in rows[:top]:
        total = forward + backward
        print(f"{name:<24} {forward:8.2f} {backward:9.2f} {total:8.2f} {100 * total / step_ms:5.1f}% "
              f"{forward_calls:5.0f}/{backward_calls:<4.0f}")
    rest = sum(row[1] + row[2] for row in rows[top:])
    print(f"{'(other ops)':<24} {'':>8} {'':>9} {rest:8.2f} {100 * rest / step_ms:5.1f}%")
    outside = step_ms - accounted
    print(f"{'(outside ops)':<24} {'':>8} {'':>9} {outside:8.2f} {100 * outside / step_ms:5.1f}%")

    step_ms, stats = flat_profile(backend_name, steps)
    print(f"\nflat cProfile (own time, tottime), {step_ms:.1f} ms per step under the profiler; top {top}")
    print(f"{'function':<60} {'ms/step':>8} {'share':>6} {'calls':>6}")
    entries = sorted(stats.stats.items(), key=lambda item: -item[1][2])
    for func, (_, calls, tottime, _, _) in entries[:top]:
        ms = 1e3 * tottime / steps
        print(f"{_short_name(func)[:60]:<60} {ms:8.2f} {100 * ms / step_ms:5.1f}% {calls / steps:6.0f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numpy", help="scratchgan kernel set (numpy, numba)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args(argv)
    print_report(args.backend, args.steps, args.top)


if __name__ == "__main__":
    main()
