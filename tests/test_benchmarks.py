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
