"""Fault injection: a run killed at any moment, a disk that fills at any write, a checkpoint with
any damage. Each must end in an exact resume or one clear line: never a traceback, a signal, a
torn file or a result that differs from the uninterrupted run.
"""

import errno
import os
import random
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy
import pytest

from scratchgan import cli, files
from scratchgan.gan.runner import _load_newest_checkpoint, _saved_config
from scratchgan.gan.trainer import Trainer
from scratchgan.runs import RunFolder, load_checkpoint

pytestmark = pytest.mark.usefixtures("restore_backend")

# every step checkpointed, so that kills land in checkpoint, snapshot and log writes alike
RUN = ["--data", "ring8", "--steps", "30", "--batch-size", "32", "--hidden", "16", "--depth", "2",
       "--log-every", "2", "--checkpoint-every", "1", "--eval-samples", "200", "--no-progress", "--backend", "numpy"]

# a scratchgan command that SIGKILLs itself in the middle of its KILL_AT_WRITE-th file write
# (half of the bytes written): the worst moment for a torn file
KILLER = """
import os, signal, sys
from scratchgan import cli, files
target, count, write_all = int(os.environ["KILL_AT_WRITE"]), [0], files._write_all
def dying(descriptor, data):
    count[0] += 1
    if count[0] == target:
        os.write(descriptor, bytes(data[: len(data) // 2]))
        os.kill(os.getpid(), signal.SIGKILL)
    write_all(descriptor, data)
files._write_all = dying
sys.exit(cli.main(sys.argv[1:]))
"""


def uninterrupted(folder: Path, args=RUN):
    assert cli.main(["train", *args, "--out", str(folder)]) == 0
    return folder


def assert_same_run(first: Path, second: Path):
    last = max(step for step, _ in RunFolder(first).checkpoints())
    a, b = (load_checkpoint(f / f"checkpoints/step_{last}.npz") for f in (first, second))
    assert sorted(a) == sorted(b)
    for key in a:
        assert numpy.array_equal(a[key], b[key]), key
    assert (first / "metrics.jsonl").read_bytes() == (second / "metrics.jsonl").read_bytes()
    s, t = load_checkpoint(first / "snapshots.npz"), load_checkpoint(second / "snapshots.npz")
    assert sorted(s) == sorted(t) and all(numpy.array_equal(s[k], t[k]) for k in s)
    assert not [p for p in second.rglob("*") if files.is_temporary(p)]


def test_runs_killed_at_random_moments_resume_to_the_uninterrupted_run(tmp_path):
    """SIGKILL many times, in the middle of file writes (chosen at random) and at random times;
    after each kill the run is continued with the command a user would type, until it ends."""
    reference = uninterrupted(tmp_path / "reference")
    chooser = random.Random(0)
    kills, outcomes = 0, []
    for attempt in range(2):  # two runs, each killed until it completes
        out = tmp_path / f"killed-{attempt}"
        kills += kill_until_done(out, chooser, outcomes)
        assert_same_run(reference, out)
    print(f"kills: {kills}; exit codes in order: {outcomes}")
    assert kills >= 10, outcomes


def kill_until_done(out, chooser, outcomes) -> int:
    kills, command = 0, ["train", *RUN, "--out", str(out)]
    for attempt in range(40):
        env = {**os.environ, "KILL_AT_WRITE": str(chooser.randint(1, 16) if attempt % 3 else 10**9)}
        process = subprocess.Popen([sys.executable, "-c", KILLER, *command], env=env, text=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if attempt % 3 == 0:  # a kill at a random time once training runs (steps, writes or evaluation)
            progress = out / "progress.json"
            seen = progress.stat().st_mtime_ns if progress.exists() else None
            while process.poll() is None and (progress.stat().st_mtime_ns if progress.exists() else None) == seen:
                time.sleep(0.002)
            time.sleep(chooser.uniform(0.0, 0.15))
            process.kill()
        _, err = process.communicate(timeout=120)
        outcomes.append(process.returncode)
        if process.returncode == 0:
            return kills
        if process.returncode == -9:
            kills += 1
        else:
            assert "Traceback" not in err and err.count("\n") <= 2, err
            assert "no config.json" in err, err  # killed before the run folder had its config
        command = (["resume", str(out), "--no-progress", "--backend", "numpy"] if (out / "config.json").is_file()
                   else ["train", *RUN, "--out", str(out)])
    raise AssertionError(f"the run did not complete: {outcomes}")


@pytest.fixture
def write_count(tmp_path, monkeypatch):
    """How many file writes the short run makes."""
    count, write_all = [0], files._write_all

    def counting(descriptor, data):
        count[0] += 1
        write_all(descriptor, data)

    monkeypatch.setattr(files, "_write_all", counting)
    uninterrupted(tmp_path / "counted", SHORT)
    monkeypatch.setattr(files, "_write_all", write_all)
    return count[0]


SHORT = [a if a != "30" else "3" for a in RUN]


def test_a_full_disk_at_any_write_is_one_line_and_the_run_resumes(tmp_path, monkeypatch, capsys, write_count):
    reference = uninterrupted(tmp_path / "reference", SHORT)
    write_all = files._write_all
    for failing in range(1, write_count + 1):
        out = tmp_path / f"full-{failing}"
        count = [0]

        def full_disk(descriptor, data):
            count[0] += 1
            if count[0] == failing:
                raise OSError(errno.ENOSPC, "No space left on device")
            write_all(descriptor, data)

        monkeypatch.setattr(files, "_write_all", full_disk)
        capsys.readouterr()
        assert cli.main(["train", *SHORT, "--out", str(out)]) == 2, failing
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"cannot write {out}" in err[0] and "no space left on the device" in err[0], err
        monkeypatch.setattr(files, "_write_all", write_all)
        if (out / "config.json").is_file():
            assert "continue with: scratchgan resume" in err[0]
            assert cli.main(["resume", str(out), "--no-progress", "--backend", "numpy"]) == 0, failing
        else:
            assert "run the same command again" in err[0]
            assert cli.main(["train", *SHORT, "--out", str(out)]) == 0, failing
        assert_same_run(reference, out)
    assert write_count >= 15


# -- checkpoint fuzzing -------------------------------------------------------------------------------
def damaged_copies(data: bytes, arrays: dict, rng: numpy.random.Generator):
    """(what, bytes or arrays) of a few hundred damaged checkpoints."""
    for cut in sorted(set(rng.integers(0, len(data), 50).tolist()) | {0, 1, 4, 30, len(data) - 1}):
        yield f"truncated at {cut}", data[:cut]
    for where in rng.integers(0, len(data), 100).tolist():
        flipped = bytearray(data)
        flipped[where] ^= 1 << int(rng.integers(0, 8))
        yield f"bit flip at byte {where}", bytes(flipped)
    for key in arrays:
        yield f"without {key}", {k: v for k, v in arrays.items() if k != key}
        value = arrays[key]
        yield f"{key} reshaped", {**arrays, key: value.reshape(-1)[:-1] if value.size > 1 else numpy.zeros((2, 2))}
        yield f"{key} as float64", {**arrays, key: value.astype(numpy.float64) if value.dtype.kind != "U" else
                                    numpy.array(1.5)}
        yield f"{key} as text", {**arrays, key: numpy.array("x" * 3)}
    yield "an extra key", {**arrays, "G/extra.weight": numpy.zeros(3, numpy.float32)}
    yield "not a zip", b"step 3\n"
    yield "empty", b""


@pytest.mark.parametrize("kernel_set", ["numba"])  # where a misfit array would write out of bounds
def test_fuzzed_checkpoints_resume_from_an_intact_one_or_say_why_in_one_line(tmp_path, kernel_set):
    """Each damaged newest checkpoint is either passed over (the previous intact one loads) or,
    when it is the only one, refused with one error naming it; the trainer then takes a step:
    a loaded array that did not fit would corrupt memory here (the Numba kernels)."""
    run = uninterrupted(tmp_path / "run", [*SHORT[:-2], "--backend", kernel_set])
    (run / "checkpoints/step_1.npz").unlink()  # left: step_2 (intact) and step_3 (damaged below)
    folder = RunFolder(run)
    newest = run / "checkpoints/step_3.npz"
    data, arrays = newest.read_bytes(), load_checkpoint(newest)
    config = _saved_config(folder)
    intact = {2: load_checkpoint(run / "checkpoints/step_2.npz")}
    outcomes = {"passed over": 0, "loaded": 0, "refused": 0}
    trainer = Trainer(config)  # one for every case: a refused load must leave it as it was
    for what, damage in damaged_copies(data, arrays, numpy.random.default_rng(0)):
        if isinstance(damage, dict):
            with open(newest, "wb") as stream:
                numpy.savez(stream, **damage)
        else:
            newest.write_bytes(damage)
        for alone in (False, True):
            if alone:
                (run / "checkpoints/step_2.npz").rename(run / "step_2.aside")
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    _load_newest_checkpoint(trainer, folder)
            except (ValueError, RuntimeError) as error:
                assert alone, (what, error)
                trainer.step()  # the trainer as it was: still a valid state
                assert "\n" not in str(error) and "step_3.npz" in str(error), (what, error)
                outcomes["refused"] += 1
            else:
                if trainer.step_count == 2:
                    outcomes["passed over"] += 1
                    assert any("step_3.npz" in str(w.message) for w in caught), what
                else:
                    outcomes["loaded"] += 1  # a flip in a field that holds no array data (a zip timestamp)
                    loaded = trainer.state_arrays()
                    assert all(numpy.array_equal(loaded[key], arrays[key]) for key in arrays), what
                trainer.step()
            finally:
                if alone:
                    (run / "step_2.aside").rename(run / "checkpoints/step_2.npz")
    print(f"fuzzed checkpoint cases: {outcomes}")
    assert sum(outcomes.values()) >= 300, outcomes
    assert outcomes["passed over"] > 100 and outcomes["refused"] > 100, outcomes
    assert load_checkpoint(run / "checkpoints/step_2.npz").keys() == intact[2].keys()

