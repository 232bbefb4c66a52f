"""The benchmark suite runs, and it compares equal work: scratchgan and PyTorch compute the
same losses from the same initial weights and data (float64), so its timings compare
like with like. Timings themselves are never asserted here (DESIGN.md)."""

import json
import math
import pathlib
import subprocess
import sys

import numpy
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import __main__ as bench_main  # noqa: E402
from benchmarks import workloads as wl  # noqa: E402

PARITY_RTOL = 1e-9
PARITY_BATCH = 2  # the architectures are the benchmark's; a small batch keeps float64 W3 quick


def _run_quick_w1(tmp_path):
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "benchmarks", "--quick", "--workloads", "W1", "--backends", "numpy",
               "--json", str(report)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout, json.loads(report.read_text())


@pytest.fixture(scope="module")
def quick_w1(tmp_path_factory):
    pytest.importorskip("torch")
    return _run_quick_w1(tmp_path_factory.mktemp("bench"))


def test_quick_run_prints_a_w1_row_with_finite_numbers(quick_w1):
    stdout, _ = quick_w1
    assert "scratchgan ms" in stdout and "torch ms" in stdout and "ratio" in stdout
    rows = [line for line in stdout.splitlines() if line.startswith("W1 ")]
    assert len(rows) == 1, stdout
    numbers = [float(token) for token in rows[0].replace("(", " ").replace(")", " ").replace("-", " ").split()
               if token[0].isdigit()]
    assert len(numbers) >= 12, rows[0]  # 2 x (median, min, max), ratio, 2 GFLOP/s, 2 x (step, abs) memory
    assert all(math.isfinite(value) and value >= 0 for value in numbers), rows[0]


def test_quick_run_report_has_positive_times_and_memory(quick_w1):
    _, report = quick_w1
    (row,) = report["workloads"]
    assert row["workload"] == "W1" and row["backend"] == "numpy"
    for key in ("scratchgan_ms", "torch_ms"):
        assert len(row[key]) == 2 and all(math.isfinite(t) and t > 0 for t in row[key])
    assert math.isfinite(row["ratio"]) and row["ratio"] > 0
    for key in ("scratchgan_memory_mib", "torch_memory_mib"):
        assert row[key]["peak_mib"] > 0 and row[key]["step_mib"] >= 0


@pytest.fixture
def one_torch_thread(torch):
    """float64 convolutions in PyTorch are several times slower on two threads when a core is busy."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(previous)


@pytest.mark.parametrize("name", sorted(wl.WORKLOADS))
def test_first_two_steps_compute_the_same_losses_as_torch_in_float64(one_torch_thread, name):
    workload = wl.WORKLOADS[name]
    torch_gan = wl.TorchGAN(workload, numpy.float64)
    scratchgan_gan = wl.ScratchganGAN(workload, numpy.float64, torch_gan.initial_state)
    for step, batch in enumerate(wl.make_batches(workload, count=2, dtype=numpy.float64, batch=PARITY_BATCH)):
        ours = scratchgan_gan.step(**scratchgan_gan.tensors(batch))
        theirs = torch_gan.step(**torch_gan.tensors(batch))
        for what, mine, reference in zip(("D loss", "G loss"), ours, theirs):
            assert mine == pytest.approx(reference, rel=PARITY_RTOL, abs=1e-12), f"{name} step {step} {what}"


@pytest.mark.parametrize("name, gflop", [("W1", 0.205), ("W2", 10.42), ("W3", 159.8), ("W4", 15.51)])
def test_flop_counts_match_the_hand_count(name, gflop):
    # W2 by hand: G 7.25 M multiply-adds per sample, D 6.63 M; 2 x 64 x (3 G + 9 D) = 10.42 GFLOP
    assert wl.flops_per_step(wl.WORKLOADS[name]) / 1e9 == pytest.approx(gflop, rel=2e-3)


def test_the_header_names_the_cpu_its_flags_and_numpy_s_blas(quick_w1):
    stdout, report = quick_w1
    machine = report["machine"]
    assert machine["cpu"] and f"scratchgan benchmarks: {machine['cpu']}" in stdout
    assert set(machine["cpu_flags"]) <= set(bench_main.CPU_FLAGS)
    assert "flags: " in stdout and "BLAS: " in stdout and "CPU capability" in stdout
    for blas in machine["numpy_blas_info"]:  # threadpoolctl's view: library, version, kernels
        assert blas["internal_api"] and blas["internal_api"] in stdout


@pytest.mark.parametrize("case", [case for name in ("W2", "W3") for case in wl.WORKLOADS[name].layers],
                         ids=lambda case: case.label)
def test_a_layer_s_gemms_do_its_counted_flops(case):
    """The GEMM-alone timing runs the products the layer performs: forward, input and weight
    gradients, whose multiply-adds are the layer's forward count three times."""
    gemms = wl.case_gemms(case)
    flops = sum(2.0 * m * k * n for m, k, n in gemms)
    assert flops == wl.layer_flops(case)
    assert (len(gemms) == 3) == (flops > 0)


def test_w4_times_the_layers_of_its_networks():
    assert wl.WORKLOADS["W4"].layers == wl.WORKLOADS["W2"].layers  # W2's generator; its critic less a BN


@pytest.fixture(scope="module")
def layer_rows(tmp_path_factory):
    """run_layers on two small layers (a convolution and an activation), quick settings."""
    pytest.importorskip("torch")
    import argparse
    import contextlib
    import dataclasses
    import io

    cases = (wl.LayerCase("Conv(4,8) 8->4", lambda nn: nn.Conv2d(4, 8, 4, 2, 1), (4, 4, 8, 8)),
             wl.LayerCase("LeakyReLU (4,4,8,8)", lambda nn: nn.LeakyReLU(0.2), (4, 4, 8, 8)))
    workloads = dict(wl.WORKLOADS, WT=dataclasses.replace(wl.WORKLOADS["W2"], name="WT", layers=cases))
    args = argparse.Namespace(workloads=["WT"], backends=["numpy"], repeats=2, warmup=1, seconds=0.0,
                              wait_quiet=0.0)
    report, stdout = {"layers": []}, io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(stdout):
        patch.setattr(wl, "WORKLOADS", workloads)
        bench_main.run_layers(args, report)
    return stdout.getvalue(), report["layers"]


def test_a_convolution_row_has_its_gemm_time_and_the_layer_over_gemm_ratio(layer_rows):
    stdout, rows = layer_rows
    assert "GEMM ms" in stdout and "sg/GEMM" in stdout
    conv_row = rows[0]
    assert len(conv_row["gemm_ms"]) == 2 and all(math.isfinite(t) and t > 0 for t in conv_row["gemm_ms"])
    assert math.isfinite(conv_row["layer_over_gemm"]) and conv_row["layer_over_gemm"] > 0
    (line,) = [line for line in stdout.splitlines() if line.startswith("Conv(4,8) 8->4")]
    numbers = [float(token) for token in line.split("numpy", 1)[1].replace("(", " ").replace(")", " ")
               .replace("-", " ").split()]
    assert len(numbers) == 13, line  # 2 x (median, min, max), ratio, 2 GFLOP/s, GEMM ms, GFLOP/s, ratio, other
    assert all(math.isfinite(value) and value >= 0 for value in numbers), line  # printed rounded: may show 0.0


def test_a_layer_without_gemms_has_no_gemm_columns(layer_rows):
    stdout, rows = layer_rows
    assert rows[1]["gemm_ms"] is None and rows[1]["layer_over_gemm"] is None
    (line,) = [line for line in stdout.splitlines() if line.startswith("LeakyReLU (4,4,8,8)")]
    assert line.split()[-4:-1] == ["-", "-", "-"], line
