"""`scratchgan study`: a grid of trainings on Dask, resumable, with one table and its figures."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy
import pyarrow.parquet
import pytest

from scratchgan import backend, cli, study
from scratchgan.runs import RunFolder
from scratchgan.study import execute

pytestmark = pytest.mark.usefixtures("restore_backend")

SPEC = """
name = "tiny ring8"
seeds = 2
metrics = ["modes_covered", "high_quality_fraction"]

[base]
data = "ring8"
steps = 12
batch_size = 32
hidden = 16
depth = 2
log_every = 6
checkpoint_every = 6
eval_samples = 200

[[methods]]
name = "non-saturating"
loss = "nonsaturating"

[[methods]]
name = "hinge"
loss = "hinge"
"""


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="session")
def _finished_study(once_per_session):
    """The tiny study on a LocalCluster of 2 workers, run once for the test run."""
    def run(folder):
        (folder / "tiny.toml").write_text(SPEC)
        previous = backend.get_backend()
        try:
            assert run_study(folder / "tiny.toml", folder / "study") == 0
        finally:
            backend.set_backend(previous)

    return once_per_session("finished-study", run) / "study"


@pytest.fixture
def finished(_finished_study, tmp_path, restore_backend):
    """A finished copy of the tiny study (its spec in ``spec_file``), for a test to change."""
    out = tmp_path / "study"
    shutil.copytree(_finished_study, out)
    return out


def run_study(spec_file, out, *extra):
    return cli.main(["study", str(spec_file), "--out", str(out), "--workers", "2", "--backend", "numpy",
                     "--no-progress", *extra])


def read_table(out):
    with open(out / "results.csv", newline="") as stream:
        return list(csv.DictReader(stream))


def test_a_toy_study_on_a_local_cluster_writes_a_complete_table_and_its_figures(spec_file, finished, monkeypatch,
                                                                                 capsys):
    out = finished  # the shared study, run on a LocalCluster of 2 workers
    table = read_table(out)
    assert [(row["method"], row["seed"], row["status"]) for row in table] == [
        ("non-saturating", "0", "done"), ("non-saturating", "1", "done"), ("hinge", "0", "done"), ("hinge", "1", "done")]
    assert all(0 <= int(row["modes_covered"]) <= 8 and float(row["seconds"]) > 0 for row in table)
    parquet = pyarrow.parquet.read_table(out / "results.parquet").to_pylist()
    assert [row["task"] for row in parquet] == [row["task"] for row in table]
    for name in ("box_modes_covered.png", "box_high_quality_fraction.png"):
        assert (out / name).stat().st_size > 10_000
    for row in table:  # each task is an ordinary, finished run folder
        assert json.loads((out / "runs" / row["task"] / "metrics.json").read_text())["steps"] == 12

    # a second invocation starts no cluster and trains nothing
    monkeypatch.setattr(execute, "start_client", lambda *a: pytest.fail("started a cluster for a finished study"))
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("step_*.npz")}
    capsys.readouterr()
    assert cli.main(["study", str(spec_file), "--out", str(out), "--workers", "1", "--backend", "numpy",
                     "--no-progress"]) == 0
    assert "4 runs (2 methods x 2 seeds) on a local cluster of 1 worker," in capsys.readouterr().out
    assert stamps == {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("step_*.npz")}


def test_a_failed_task_is_recorded_and_run_again_only_with_retry_failed(spec_file, tmp_path, capsys):
    out = tmp_path / "study"
    task = study.load_spec(spec_file).tasks()[1]
    held = RunFolder.create(out / "runs" / task.id)  # another process holds this run folder
    assert run_study(spec_file, out) == 2
    assert f"failed: {task.id}: RunFolderError: run folder" in capsys.readouterr().out
    statuses = {row["task"]: row["status"] for row in read_table(out)}
    assert statuses[task.id] == "failed" and list(statuses.values()).count("done") == 3
    held.release()
    assert run_study(spec_file, out) == 2  # not retried without the flag
    assert run_study(spec_file, out, "--retry-failed") == 0
    assert {row["status"] for row in read_table(out)} == {"done"}


def test_a_task_stopped_with_its_worker_resumes_from_its_checkpoint(spec_file, finished):
    out = finished
    task = study.load_spec(spec_file).tasks()[0]
    run = out / "runs" / task.id
    for name in ("metrics.json", "checkpoints/step_12.npz"):  # as if its worker died after step 6
        (run / name).unlink()
    assert study.task_state(out, task) == "started"
    assert run_study(spec_file, out) == 0
    assert json.loads((run / "metrics.json").read_text())["steps"] == 12


def test_the_same_study_runs_on_an_existing_scheduler_with_two_workers(spec_file, tmp_path):
    scheduler_file = tmp_path / "scheduler.json"
    dask = str(Path(sys.executable).with_name("dask"))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                   "--scheduler-file", str(scheduler_file)], **quiet)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        processes += [subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard",
                                        "--host", "127.0.0.1"], **quiet) for _ in range(2)]
        out = tmp_path / "study"
        assert run_study(spec_file, out, "--scheduler", address) == 0
        assert [row["status"] for row in read_table(out)] == ["done"] * 4
    finally:
        for process in processes[::-1]:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def test_ctrl_c_cancels_the_study_and_the_same_command_continues_it(spec_file, tmp_path):
    spec_file.write_text(SPEC.replace("steps = 12", "steps = 200").replace("checkpoint_every = 6",
                                                                          "checkpoint_every = 20"))
    out = tmp_path / "study"
    command = [str(Path(sys.executable).with_name("scratchgan")), "study", str(spec_file), "--out", str(out),
               "--workers", "2", "--backend", "numpy", "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while not list((out / "runs").glob("*/checkpoints/step_*.npz")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "interrupted; run the same command again" in err
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [row["status"] for row in read_table(out)] == ["done"] * 4


# -- bad input: one line each ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, says", [
    ('[grid]\nlsos = ["hinge"]', "unknown setting 'lsos' in [grid] (did you mean 'loss'?); valid settings: data,"),
    ('[base]\ndata = "ring8"\n[grid]\nloss = ["hinge", "bogus"]', "unknown loss 'bogus'; expected one of: minimax,"),
    ('[[methods]]\nname = "x"\npenalty = "r3"', "unknown penalty 'r3'; expected one of:"),
    ('colour = "red"', "unknown entry 'colour' in the study spec; expected: name, seeds"),
    ('[random]\nsamples = 2\nlr_g = { normal = [0, 1] }', "[random] lr_g must be one of"),
    ("seeds = [1, 1]", "seeds must be distinct"),
    ("[grid\n", "is not valid TOML"),
])
def test_a_bad_spec_is_one_line_naming_the_entry(tmp_path, capsys, text, says):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert cli.main(["study", str(path), "--out", str(tmp_path / "study"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err
    assert not (tmp_path / "study").exists()


def test_an_unreachable_scheduler_is_one_line(spec_file, tmp_path, capsys):
    assert run_study(spec_file, tmp_path / "study", "--scheduler", "tcp://127.0.0.1:9") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err, err


def test_a_study_folder_of_another_spec_is_refused(spec_file, finished, capsys):
    out = finished
    spec_file.write_text(SPEC.replace("seeds = 2", "seeds = 3"))
    assert run_study(spec_file, out) == 2
    assert "belongs to another spec (differs in: seeds)" in capsys.readouterr().err


# -- the table and figures ----------------------------------------------------------------------------------
def test_report_rebuilds_table_and_figures_from_the_run_folders(finished):
    out = finished
    before = (out / "results.csv").read_text()
    for name in ("results.csv", "results.parquet", "box_modes_covered.png"):
        (out / name).unlink()
    assert cli.main(["study", "--report", str(out)]) == 0
    assert (out / "results.csv").read_text() == before and (out / "box_modes_covered.png").exists()


def test_random_search_draws_the_same_settings_for_a_seed_and_spans_the_range(tmp_path):
    path = tmp_path / "search.toml"
    path.write_text('[base]\ndata = "ring8"\n[[methods]]\nname = "ns"\n'
                    '[random]\nsamples = 40\nlr_g = { log_uniform = [1e-4, 1e-2] }\nbeta1 = { choice = [0.0, 0.5] }')
    first, second = study.load_spec(path).tasks(), study.load_spec(path).tasks()
    assert first == second and len(first) == 40
    rates = numpy.array([t.settings["lr_g"] for t in first])
    assert 1e-4 <= rates.min() < 3e-4 and 3e-3 < rates.max() <= 1e-2
    assert {t.settings["beta1"] for t in first} == {0.0, 0.5}


def test_the_budget_curve_is_the_best_value_over_random_orders():
    budget, median, low, high = study.best_so_far([5.0, 1.0, 3.0], higher_is_better=False, orderings=2000)
    assert list(budget) == [1, 2, 3]
    assert median[-1] == low[-1] == high[-1] == 1.0  # all three tried: the best of them
    assert median[0] == 3.0 and low[0] == 1.0 and high[0] == 5.0  # one tried: any of them


def test_a_method_searched_over_settings_gets_a_budget_figure(tmp_path):
    path = tmp_path / "search.toml"
    path.write_text(SPEC.replace("seeds = 2", "seeds = 1").split("[[methods]]")[0]
                    + '[[methods]]\nname = "ns"\n[grid]\nlr_d = [1e-3, 3e-3]\n')
    out = tmp_path / "study"
    assert run_study(path, out) == 0
    assert [row["lr_d"] for row in read_table(out)] == ["0.001", "0.003"]
    assert (out / "budget_modes_covered.png").stat().st_size > 10_000


def test_report_sorts_the_methods_by_any_metric_best_first(finished, capsys):
    out = finished
    assert cli.main(["study", "--report", str(out), "--sort", "mmd"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "runs 2/2" in line]
    medians = [float(line.split("mmd median ")[1].split()[0]) for line in lines]
    assert medians == sorted(medians)  # lower is better
    assert cli.main(["study", "--report", str(out), "--sort", "fidd"]) == 2
    assert "no run has the metric 'fidd'; the table has:" in capsys.readouterr().err


def test_probe_accuracies_are_higher_is_better_and_distances_lower():
    from scratchgan.study.spec import higher_is_better

    assert higher_is_better("probe_linear") and higher_is_better("probe_1nn_pixels")
    assert higher_is_better("modes_covered")
    assert not higher_is_better("code_mmd") and not higher_is_better("fid") and not higher_is_better("reconstruction_mse")


def test_long_method_names_under_the_boxes_wrap_instead_of_overlapping(tmp_path, monkeypatch):
    import importlib

    report = importlib.import_module("scratchgan.study.report")
    labels = []
    monkeypatch.setattr(report.files, "save_figure", lambda figure, path, dpi: labels.extend(
        tick.get_text() for tick in figure.axes[0].get_xticklabels()))
    names = ["ring8-nonsaturating + minibatch discrimination", "short"]
    done = [{"method": name, "modes_covered": value} for name in names for value in (7, 8)]
    report.box_figure(tmp_path / "box.png", done, "modes_covered", "a study")
    assert labels == ["ring8-nonsaturating +\nminibatch discrimination", "short"]
