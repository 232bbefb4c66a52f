"""Run folders are the user's data: --overwrite, checkpoints, the lock, divergence, signals, bad files.

Each test names one way a run could lose or corrupt data, or crash, and shows that it does not.
The fault-injection tests (kills at random moments, a disk that fills up, fuzzed checkpoints)
are in tests/test_run_faults.py.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy
import pytest

from scratchgan import cli, runs
from scratchgan.runs import RunFolder, load_checkpoint

pytestmark = pytest.mark.usefixtures("restore_backend")

TINY = ["--data", "ring8", "--steps", "20", "--batch-size", "32", "--hidden", "16", "--depth", "2",
        "--log-every", "5", "--checkpoint-every", "10", "--eval-samples", "200", "--no-progress"]


def train(out, *extra):
    return cli.main(["train", *TINY, *extra, "--out", str(out)])


def resume(out, *extra):
    return cli.main(["resume", str(out), "--no-progress", *extra])


def files_of(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def strict_lines(path: Path) -> list:
    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def finished_template(tmp_path_factory):
    out = tmp_path_factory.mktemp("template") / "run"
    assert train(out, "--lr-schedule", "constant") == 0
    return out


@pytest.fixture
def finished_run(finished_template, tmp_path):
    """A finished 20-step run (checkpoints at 10 and 20), a copy for each test."""
    return Path(shutil.copytree(finished_template, tmp_path / "run"))


# -- 1. --overwrite never destroys what scratchgan did not make ---------------------------------------
def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    precious = tmp_path / "precious"
    (precious / "data").mkdir(parents=True)
    (precious / "thesis.tex").write_text("\\documentclass{article}")
    (precious / "data" / "table.csv").write_text("a,b\n1,2\n")
    before = files_of(precious)
    assert train(precious, "--overwrite") == 2
    err = capsys.readouterr().err
    assert "not one (no .scratchgan-run marker)" in err and "thesis.tex" in err and "data/" in err
    assert files_of(precious) == before


def test_overwrite_refuses_a_run_folder_holding_the_users_files(finished_run, capsys):
    (finished_run / "notes.txt").write_text("my notes")
    (finished_run / "checkpoints" / "best.npz").write_bytes(b"mine")
    before = files_of(finished_run)
    assert train(finished_run, "--overwrite") == 2
    err = capsys.readouterr().err
    assert "will not remove files scratchgan did not write" in err and "notes.txt" in err
    assert files_of(finished_run) == before


@pytest.mark.parametrize("where", [".", ".."])
def test_overwrite_never_empties_the_current_folder_or_a_parent(finished_run, monkeypatch, capsys, where):
    inside = finished_run / "checkpoints" if where == ".." else finished_run
    monkeypatch.chdir(inside)
    before = files_of(finished_run)
    assert train(where, "--overwrite") == 2
    assert "current folder or one of its parents" in capsys.readouterr().err
    assert files_of(finished_run) == before


def test_overwrite_leaves_the_old_run_when_the_new_data_fail(finished_run, tmp_path, capsys):
    before = files_of(finished_run)
    bad = ["--data", "mnist", "--data-dir", str(tmp_path / "missing"), "--steps", "2", "--no-progress"]
    assert cli.main(["train", *bad, "--out", str(finished_run), "--overwrite"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert files_of(finished_run) == before


def test_overwrite_replaces_a_run_made_by_scratchgan(finished_run):
    assert train(finished_run, "--overwrite", "--seed", "7") == 0
    assert json.loads((finished_run / "config.json").read_text())["seed"] == 7


def test_overwrite_replaces_a_run_made_before_the_marker(finished_run):
    (finished_run / runs.MARKER).unlink()  # scratchgan 0.1 wrote no marker
    assert train(finished_run, "--overwrite", "--seed", "7") == 0
    assert (finished_run / runs.MARKER).is_file()


# -- 2. checkpoint arrays are checked against the live model before use --------------------------------
def reshaped(path: Path, key: str, value=None, drop=False):
    arrays = load_checkpoint(path)
    if drop:
        del arrays[key]
    else:
        arrays[key] = value
    with open(path, "wb") as stream:
        numpy.savez(stream, **arrays)


@pytest.mark.parametrize("backend_name", ["numpy", "numba"])
def test_a_wrong_shaped_optimizer_moment_is_passed_over_not_loaded(finished_run, capsys, backend_name):
    reshaped(finished_run / "checkpoints/step_20.npz", "optG/state/0/exp_avg", numpy.zeros(3, numpy.float32))
    assert resume(finished_run, "--steps", "30", "--backend", backend_name) == 0
    err = capsys.readouterr().err
    assert "passed over: step_20.npz: 'optG/state/0/exp_avg' is a float32 array of shape (3,)" in err
    assert "resuming from step_10.npz" in err
    assert int(load_checkpoint(finished_run / "checkpoints/step_30.npz")["step"]) == 30


@pytest.mark.parametrize("key, value, says", [
    ("step", numpy.array(-1), "'step' is -1, expected a step count >= 0"),
    ("G/0.weight", numpy.zeros((2, 2), numpy.float32), "'G/0.weight' is a float32 array of shape (2, 2)"),
    ("D/0.bias", numpy.zeros(16, numpy.float64), "'D/0.bias' is a float64 array of shape (16,), expected float32"),
    ("rng", numpy.array('{"bit_generator": "MT19937"}'), "'rng' is not a random generator state"),
    ("config", numpy.array("not json"), "'config' is not JSON"),
])
def test_a_checkpoint_that_does_not_fit_names_the_key(finished_run, capsys, key, value, says):
    for name in ("step_10.npz", "step_20.npz"):
        reshaped(finished_run / "checkpoints" / name, key, value)
    assert resume(finished_run, "--steps", "30") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no usable checkpoint: step_20.npz: " in err[0] and says in err[0], err


def test_a_checkpoint_missing_a_key_names_it(finished_run, capsys):
    for name in ("step_10.npz", "step_20.npz"):
        reshaped(finished_run / "checkpoints" / name, "rng", drop=True)
    assert resume(finished_run, "--steps", "30") == 2
    assert "key 'rng' is missing" in capsys.readouterr().err


# -- 3. a run stopped between its last checkpoint and its figures can be finished ---------------------------
def test_resume_finishes_a_run_killed_before_its_evaluation(finished_run, capsys):
    for name in ("metrics.json", "samples.png", "losses.png", "snapshots.png"):
        (finished_run / name).unlink()
    assert resume(finished_run) == 0
    assert json.loads((finished_run / "metrics.json").read_text())["steps"] == 20
    assert (finished_run / "samples.png").is_file()
    assert resume(finished_run) == 2
    assert "already at step 20 of 20" in capsys.readouterr().err


# -- 4, 5. torn and corrupt files -----------------------------------------------------------------------
def test_a_truncated_latest_checkpoint_falls_back_to_the_previous_one(finished_run, capsys):
    path = finished_run / "checkpoints/step_20.npz"
    path.write_bytes(path.read_bytes()[:5000])
    assert resume(finished_run, "--steps", "30") == 0
    err = capsys.readouterr().err
    assert "step_20.npz: is truncated or damaged" in err and "resuming from step_10.npz" in err


def test_a_text_file_as_checkpoint_says_it_is_not_an_npz(finished_run, capsys):
    for name in ("step_10.npz", "step_20.npz"):
        (finished_run / "checkpoints" / name).write_text("hello")
    assert resume(finished_run, "--steps", "30") == 2
    err = capsys.readouterr().err
    assert "is not an .npz archive (it starts with b'hell'" in err and "allow_pickle" not in err


def test_resume_removes_the_temporary_files_of_a_killed_writer(finished_run):
    stray = [finished_run / "checkpoints" / "tmpab12cd.npz.tmp", finished_run / "checkpoints" / ".step_30.npz.1a2b.tmp",
             finished_run / ".snapshots.npz.9f9f.tmp"]
    for path in stray:
        path.write_bytes(b"half")
    assert resume(finished_run, "--steps", "30") == 0
    assert not any(path.exists() for path in stray)


def test_a_torn_snapshots_file_is_a_warning_and_is_rewritten(finished_run, capsys):
    path = finished_run / "snapshots.npz"
    path.write_bytes(path.read_bytes()[:100])
    assert resume(finished_run, "--steps", "30") == 0
    assert "snapshots file" in capsys.readouterr().err
    assert load_checkpoint(path)  # written whole again at the next snapshot step


def test_a_torn_last_metrics_line_is_dropped_with_a_warning(finished_run, capsys):
    (finished_run / "checkpoints/step_20.npz").unlink()
    log = finished_run / "metrics.jsonl"
    log.write_text(log.read_text() + '{"step": 25, "d_lo')
    assert resume(finished_run) == 0
    assert "dropped a torn last line" in capsys.readouterr().err
    assert [r["step"] for r in strict_lines(log)] == [5, 10, 15, 20]


def test_a_damaged_metrics_line_before_the_last_is_one_error_naming_it(finished_run, capsys):
    log = finished_run / "metrics.jsonl"
    lines = log.read_text().splitlines()
    lines[1] = "garbage"
    log.write_text("\n".join(lines) + "\n")
    assert resume(finished_run, "--steps", "30") == 2
    assert f"{log} line 2 is not a metrics record" in capsys.readouterr().err


def test_a_config_json_of_the_wrong_type_is_one_line(finished_run, capsys):
    path = finished_run / "config.json"
    path.write_text(path.read_text().replace('"hidden": 16', '"hidden": "16"'))
    assert resume(finished_run, "--steps", "30") == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"scratchgan resume: error: {path}: config setting hidden must be an integer or null (the default), got '16' (str)")


# -- 6. one writer per folder -----------------------------------------------------------------------------
def test_a_second_writer_is_refused_naming_the_holder(finished_run, capsys):
    with RunFolder.open_existing(finished_run):
        assert resume(finished_run, "--steps", "30") == 2
        assert train(finished_run, "--overwrite") == 2
    err = capsys.readouterr().err
    assert err.count(f"is in use by another scratchgan process (pid {os.getpid()}") == 2
    assert resume(finished_run, "--steps", "30") == 0  # released


# -- 7. divergence is caught, and the logs stay strict JSON --------------------------------------------------
def test_a_diverging_run_stops_with_exit_3_keeping_the_last_finite_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(out, "--lr-g", "1e6", "--lr-d", "1e6", "--checkpoint-every", "1", "--penalty", "none") == 3
    err = capsys.readouterr().err
    assert "training diverged at step" in err and "--on-nonfinite continue" in err
    for _, path in RunFolder(out).checkpoints():
        arrays = load_checkpoint(path)
        assert all(numpy.isfinite(v).all() for k, v in arrays.items() if v.dtype.kind == "f"), path
    assert not (out / "metrics.json").exists()


def test_on_nonfinite_continue_finishes_with_null_values_counted(tmp_path):
    out = tmp_path / "run"
    assert train(out, "--lr-g", "1e6", "--lr-d", "1e6", "--penalty", "none", "--on-nonfinite", "continue") == 0
    records = strict_lines(out / "metrics.jsonl")
    metrics = json.loads((out / "metrics.json").read_text(), parse_constant=lambda name: 1 / 0)
    assert any(value is None for record in records for value in record.values())
    assert metrics["nonfinite_values"] >= 1


@pytest.mark.parametrize("flag, value", [("--lr-g", "nan"), ("--lr-d", "inf"), ("--lr-d", "-1e-3"),
                                         ("--beta1", "nan"), ("--on-nonfinite", "ignore")])
def test_non_finite_and_non_positive_settings_are_refused(tmp_path, capsys, flag, value):
    assert train(tmp_path / "run", f"{flag}={value}") == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "run").exists()


# -- 8. data too small for a batch are refused before any folder exists ----------------------------------------
@pytest.mark.parametrize("count", [0, 1, 5])
def test_image_data_smaller_than_a_batch_are_refused_before_the_folder(tmp_path, capsys, count):
    data = tmp_path / "tiny.npz"
    numpy.savez(data, x=numpy.zeros((count, 28, 28), numpy.uint8), y=numpy.zeros(count, numpy.uint8))
    code = cli.main(["train", "--data", "mnist", "--data-dir", str(data), "--batch-size", "8", "--steps", "1",
                     "--no-progress", "--out", str(tmp_path / "run")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and (f"holds {count} image(s)" in err or "no images" in err), err
    assert not (tmp_path / "run").exists()


# -- 9. a bad environment variable is one line, and a flag overrides it --------------------------------------
def command(*args, env=None, timeout=120):
    executable = Path(sys.executable).with_name("scratchgan")
    return subprocess.run([str(executable), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("variable, value", [("SCRATCHGAN_BACKEND", "nonsense"), ("SCRATCHGAN_BACKEND", "cupy"),
                                             ("SCRATCHGAN_ALLOCATOR", "bogus")])
def test_a_bad_environment_variable_is_one_line_and_info_says_it(tmp_path, variable, value):
    env = {variable: value}
    done = command("info", env=env)
    assert done.returncode == 0 and f"environment: {variable}" in done.stdout and not done.stderr, done.stderr
    done = command("train", *TINY, "--out", str(tmp_path / "run"), env=env)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"scratchgan train: error: {variable}")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args", [["--help"], ["list"]])
def test_help_and_list_work_under_a_bad_environment_variable(args):
    done = command(*args, env={"SCRATCHGAN_BACKEND": "cupy", "SCRATCHGAN_ALLOCATOR": "bogus"})
    assert done.returncode == 0 and not done.stderr, done.stderr


def test_the_backend_flag_overrides_a_bad_environment_variable(tmp_path):
    done = command("train", *TINY, "--backend", "numpy", "--out", str(tmp_path / "run"),
                   env={"SCRATCHGAN_BACKEND": "nonsense"})
    assert done.returncode == 0, done.stderr
    assert "backend numpy (--backend)" in done.stdout


def test_library_import_warns_about_a_bad_backend_variable():
    done = subprocess.run([sys.executable, "-c", "import scratchgan; print(scratchgan.get_backend())"],
                          capture_output=True, text=True, env={**os.environ, "SCRATCHGAN_BACKEND": "nonsense"})
    assert done.returncode == 0 and done.stdout.strip() == "numpy"
    assert "RuntimeWarning: SCRATCHGAN_BACKEND: set_backend: unknown backend 'nonsense'" in done.stderr


# -- 10. Ctrl-C checkpoints and says how to continue ---------------------------------------------------------
@pytest.mark.parametrize("signal_number, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_checkpoints_the_current_step_and_exits_130(tmp_path, signal_number, code):
    out = tmp_path / "run"
    args = [a if a != "20" else "100000" for a in TINY]
    process = subprocess.Popen([str(Path(sys.executable).with_name("scratchgan")), "train", *args, "--backend", "numpy",
                                "--checkpoint-every", "100000", "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal_number)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    (step, path), = RunFolder(out).checkpoints()
    assert err.strip() == f"scratchgan train: interrupted at step {step}; continue with: scratchgan resume {out}"
    assert int(load_checkpoint(path)["step"]) == step > 0


# -- 12. seconds add up, files follow the umask, default folders are unique --------------------------------------
def test_seconds_accumulate_across_resumes(finished_run):
    first = json.loads((finished_run / "progress.json").read_text())["seconds"]
    assert resume(finished_run, "--steps", "30") == 0
    metrics = json.loads((finished_run / "metrics.json").read_text())
    assert metrics["seconds"] > first > 0


def test_checkpoints_follow_the_umask_as_other_files(finished_run):
    modes = {oct(p.stat().st_mode & 0o777) for p in finished_run.rglob("*") if p.is_file()}
    assert modes == {oct(0o666 & ~current_umask())}


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_default_run_folders_are_unique_within_one_second(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runs.time, "strftime", lambda _pattern: "train-20260101-000000")
    claimed = [runs.claim_default_folder() for _ in range(3)]
    assert [p.name for p in claimed] == ["train-20260101-000000", "train-20260101-000000-2", "train-20260101-000000-3"]


def test_a_default_folder_is_removed_when_the_run_does_not_start(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    numpy.savez("one.npz", x=numpy.zeros((1, 28, 28), numpy.uint8), y=numpy.zeros(1, numpy.uint8))
    assert cli.main(["train", "--data", "mnist", "--data-dir", "one.npz", "--steps", "1", "--no-progress"]) == 2
    assert not Path("runs").exists() or not any(Path("runs").iterdir())
