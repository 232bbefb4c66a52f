"""python -m benchmarks [--workloads W1,W2] [--backends numpy,numba] [--device cuda] [--repeats N] [--quick]

Prints, per workload and scratchgan backend, the step time of scratchgan and of PyTorch
(median and min-max over alternating repetitions), their ratio, the achieved GFLOP/s
and the peak memory of each; then the same per layer for the DCGAN layers of the
chosen workloads. See benchmarks/harness.py for how time and memory are measured.

``--device cuda`` times the workloads on the GPU: scratchgan's cupy kernel set against
PyTorch CUDA, in the same run (per-layer timings and peak RSS are CPU figures and are
skipped there).
"""

from __future__ import annotations

import argparse
import json
import os
import platform

import numpy

from benchmarks import harness
from benchmarks import workloads as wl
from scratchgan import backend as scratchgan_backend


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="W1,W2,W3,W4", help="comma-separated, from W1,W2,W3,W4")
    parser.add_argument("--backends", default=None,
                        help="scratchgan kernel sets, comma-separated (default: every available CPU one)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: scratchgan's cupy set against PyTorch CUDA (needs a GPU)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions per contender")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per contender first")
    parser.add_argument("--seconds", type=float, default=0.3, help="target length of one repetition")
    parser.add_argument("--memory-steps", type=int, default=3, help="steps run in each memory subprocess")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--no-layers", action="store_true", help="skip the per-layer timings")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 repetitions of 1 step, 1 warm-up, 1 memory step")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="before each workload and layer, wait up to this long for other processes "
                             "to leave the CPUs (under 0.15 cores over 5 s)")
    parser.add_argument("--json", metavar="PATH", help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup, args.seconds, args.memory_steps = 2, 1, 0.0, 1
    args.workloads = [name.strip().upper() for name in args.workloads.split(",") if name.strip()]
    unknown = [name for name in args.workloads if name not in wl.WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; expected some of {', '.join(wl.WORKLOADS)}")
    if args.device == "cuda":
        args.backends = ["cupy"] if args.backends is None else args.backends.split(",")
        args.no_memory = args.no_layers = True
    elif args.backends is None:
        from scratchgan.backend import available_backends

        args.backends = [name for name in available_backends() if name != "cupy"]
    else:
        args.backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    return args


# the instruction-set extensions that decide which GEMM kernels BLAS, oneDNN and Numba's LLVM pick
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_description():
    """{"model", "flags"}: the CPU's model name and which of CPU_FLAGS it has (/proc/cpuinfo)."""
    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return {"model": model, "flags": [flag for flag in CPU_FLAGS if flag in flags]}


def blas_description():
    """NumPy's BLAS libraries as threadpoolctl sees them: library, version, the kernels it picked
    for this CPU (OpenBLAS's DYNAMIC_ARCH core type, e.g. Haswell or SkylakeX) and its threads."""
    from threadpoolctl import threadpool_info

    found = []
    for info in threadpool_info():
        if info["user_api"] == "blas":
            found.append({key: info.get(key) for key in
                          ("internal_api", "version", "architecture", "threading_layer", "num_threads")})
    return found


def _blas_line(blas):
    if not blas:
        return "unknown"
    return "; ".join(f"{info['internal_api']} {info['version'] or ''}, {info['architecture'] or '?'} kernels, "
                     f"{info['threading_layer']} threading".replace(" ,", ",") for info in blas)


def machine_description():
    import torch

    cpu, blas = cpu_description(), blas_description()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu["model"], "cpu_flags": cpu["flags"], "gpu": gpu, "nproc": os.cpu_count(),
        "python": platform.python_version(), "numpy": numpy.__version__, "numpy_blas": _blas_line(blas),
        "numpy_blas_info": blas, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), "load_average": os.getloadavg(),
        "allocator": scratchgan_backend.allocator(),
    }


def _ms(timing):
    return f"{1e3 * timing.median:8.2f} ({1e3 * timing.low:.2f}-{1e3 * timing.high:.2f})"


def _gflops(flops, timing):
    return f"{flops / timing.median / 1e9:6.1f}" if flops else "     -"


def _memory(figures):
    return "-" if figures is None else f"{figures['step_mib']:6.0f} ({figures['peak_mib']:.0f})"


def run_workloads(args, report):
    header = (f"{'workload':<9} {'backend':<8} {'scratchgan ms (min-max)':>26} {'torch ms (min-max)':>24} "
              f"{'ratio':>6} {'GFLOP/s sg':>10} {'torch':>6} {'sg MiB step (abs)':>18} {'torch MiB step (abs)':>20} "
              f"{'other':>5}")
    print(header)
    print("-" * len(header))
    for name in args.workloads:
        workload = wl.WORKLOADS[name]
        flops = wl.flops_per_step(workload)
        if args.wait_quiet:
            harness.wait_until_quiet(args.wait_quiet)
        timings = harness.time_workload(workload, args.backends, args.repeats, args.warmup, args.seconds,
                                        device=args.device)
        torch_memory = None if args.no_memory else harness.measure_memory(name, "torch", steps=args.memory_steps)
        for backend in args.backends:
            sg_memory = None if args.no_memory else harness.measure_memory(name, "scratchgan", backend,
                                                                           steps=args.memory_steps)
            sg, torch = timings[backend], timings["torch"]
            print(f"{name:<9} {backend:<8} {_ms(sg):>26} {_ms(torch):>24} {sg.median / torch.median:6.2f} "
                  f"{_gflops(flops, sg):>10} {_gflops(flops, torch):>6} {_memory(sg_memory):>18} "
                  f"{_memory(torch_memory):>20} {sg.other_load:5.2f}", flush=True)
            report["workloads"].append({
                "workload": name, "title": workload.title, "backend": backend, "batch": workload.batch,
                "gflop_per_step": flops / 1e9, "scratchgan_ms": [1e3 * s for s in sg.samples],
                "torch_ms": [1e3 * s for s in torch.samples], "ratio": sg.median / torch.median,
                "scratchgan_first_step_ms": 1e3 * sg.first, "torch_first_step_ms": 1e3 * torch.first,
                "scratchgan_memory_mib": sg_memory, "torch_memory_mib": torch_memory,
                "other_load_cores": sg.other_load,
            })


def run_layers(args, report):
    cases = []
    for name in args.workloads:
        cases += [case for case in wl.WORKLOADS[name].layers if case not in cases]
    if not cases:
        return
    print("\nlayers: forward + backward (input and parameter gradients), float32, batch 64. GEMM = the "
          "layer's matrix products alone (forward, input and weight gradients, as im2col lowers them), "
          "NumPy matmul on preallocated contiguous operands, same shapes and BLAS threads, in the same "
          "alternation; sg/GEMM = scratchgan / GEMM")
    header = (f"{'layer (forward+backward)':<24} {'input':<16} {'backend':<8} {'scratchgan ms (min-max)':>26} "
              f"{'torch ms (min-max)':>24} {'ratio':>6} {'GFLOP/s sg':>10} {'torch':>6} {'GEMM ms':>8} "
              f"{'GFLOP/s':>7} {'sg/GEMM':>7} {'other':>5}")
    print(header)
    print("-" * len(header))
    for case in cases:
        flops = wl.layer_flops(case)
        if args.wait_quiet:
            harness.wait_until_quiet(args.wait_quiet)
        timings = harness.time_layer(case, args.backends, args.repeats, args.warmup, args.seconds)
        for backend in args.backends:
            sg, torch = timings[backend], timings["torch"]
            shape = "x".join(str(n) for n in case.input_shape)
            gemm = timings.get(harness.GEMM)
            gemm_columns = (f"{1e3 * gemm.median:8.2f} {_gflops(flops, gemm):>7} {sg.median / gemm.median:7.2f}"
                            if gemm else f"{'-':>8} {'-':>7} {'-':>7}")
            print(f"{case.label:<24} {shape:<16} {backend:<8} {_ms(sg):>26} {_ms(torch):>24} "
                  f"{sg.median / torch.median:6.2f} {_gflops(flops, sg):>10} {_gflops(flops, torch):>6} "
                  f"{gemm_columns} {sg.other_load:5.2f}", flush=True)
            report["layers"].append({
                "layer": case.label, "input_shape": list(case.input_shape), "backend": backend,
                "gflop": flops / 1e9, "scratchgan_ms": [1e3 * s for s in sg.samples],
                "torch_ms": [1e3 * s for s in torch.samples], "ratio": sg.median / torch.median,
                "gemm_ms": [1e3 * s for s in gemm.samples] if gemm else None,
                "layer_over_gemm": sg.median / gemm.median if gemm else None,
                "other_load_cores": sg.other_load,
            })


def main(argv=None):
    args = parse_args(argv)
    import torch

    torch.set_num_threads(harness.TORCH_THREADS)
    machine = machine_description()
    absent = [flag for flag in CPU_FLAGS if flag not in machine["cpu_flags"]]
    flags = " ".join(machine["cpu_flags"]) + (f" (absent: {' '.join(absent)})" if absent else "")
    print(f"scratchgan benchmarks: {machine['cpu']}, {machine['nproc']} CPUs, flags: {flags.strip()}")
    print(f"numpy {machine['numpy']}, BLAS: {machine['numpy_blas']}; torch {machine['torch']} "
          f"({machine['torch_threads']} threads, CPU capability {machine['torch_cpu_capability']})")
    length = f"~{args.seconds:g} s" if args.seconds > 0 else "1 step"
    if args.device == "cuda":
        print(f"device: {machine['gpu']} (scratchgan cupy kernel set against PyTorch CUDA)")
    print(f"float32; {args.repeats} alternating repetitions of {length} after {args.warmup} warm-up "
          f"step(s); time per step: median (min-max); ratio = scratchgan / torch; "
          f"load average {machine['load_average'][0]:.2f}")
    allocator = machine["allocator"]
    print(f"allocator: {allocator['policy']} ({allocator['reason']}), the same for both frameworks "
          f"(process-wide; SCRATCHGAN_ALLOCATOR=system for glibc's default)")
    print("other = cores' worth of CPU used by other processes during that row's timing "
          "(0 = quiet machine, 1 = one of the cores taken)")
    if not args.no_memory:
        print(f"memory: peak RSS of a fresh process over {args.memory_steps} step(s), MiB: step = peak - RSS "
              f"before the first step, abs = whole-process peak (libraries included)")
    print()
    report = {"machine": machine, "args": {k: v for k, v in vars(args).items()}, "workloads": [], "layers": []}
    run_workloads(args, report)
    if not args.no_layers:
        run_layers(args, report)
    report["load_average_end"] = os.getloadavg()
    print(f"\nload average at the end: {report['load_average_end'][0]:.2f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=1)
    return report


if __name__ == "__main__":
    main()
