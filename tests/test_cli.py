"""End-to-end: the ``scratchgan`` command on tiny sizes."""

import json

import numpy
import pytest

from scratchgan import cli
from scratchgan.runs import RunFolder, RunFolderError, load_checkpoint


def test_train_writes_a_complete_run_folder(tmp_path):
    out = tmp_path / "run"
    code = cli.main(["train", "--steps", "60", "--log-every", "20", "--out", str(out), "--no-progress"])
    assert code == 0
    for name in ("config.json", "metrics.jsonl", "metrics.json", "fit.png", "loss.png",
                 "checkpoints/step_60.npz"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 60 and metrics["seconds"] > 0
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [20, 40, 60]
    checkpoint = load_checkpoint(out / "checkpoints/step_60.npz")
    assert checkpoint["0.weight"].shape == (64, 1) and checkpoint["0.weight"].dtype == numpy.float32


def test_train_learns_the_function(tmp_path):
    cli.main(["train", "--steps", "400", "--out", str(tmp_path / "r"), "--no-progress"])
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["function_mse"] < 0.05  # the 'wave' target has variance of order 1


def test_train_is_reproducible_for_a_seed(tmp_path):
    for name in ("a", "b"):
        cli.main(["train", "--steps", "30", "--seed", "3", "--out", str(tmp_path / name), "--no-progress"])
    first = load_checkpoint(tmp_path / "a/checkpoints/step_30.npz")
    second = load_checkpoint(tmp_path / "b/checkpoints/step_30.npz")
    assert all(numpy.array_equal(first[k], second[k]) for k in first)


def test_train_refuses_to_overwrite_an_existing_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--steps", "5", "--out", str(out), "--no-progress"]) == 0
    before = (out / "metrics.json").read_text()
    assert cli.main(["train", "--steps", "7", "--out", str(out), "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "metrics.json").read_text() == before
    assert cli.main(["train", "--steps", "7", "--out", str(out), "--overwrite", "--no-progress"]) == 0
    assert json.loads((out / "metrics.json").read_text())["steps"] == 7


def test_bad_arguments_give_one_clear_line(tmp_path, capsys):
    assert cli.main(["train", "--steps", "0", "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "steps must be a positive integer" in capsys.readouterr().err


def test_unwritable_run_folder_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RunFolderError, match="not a directory"):
        RunFolder(blocker)


def test_corrupt_checkpoint_is_reported(tmp_path):
    bad = tmp_path / "step_1.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(RunFolderError, match="corrupt"):
        load_checkpoint(bad)


def test_info_lists_backends(capsys):
    assert cli.main(["info"]) == 0
    assert "numpy" in capsys.readouterr().out
