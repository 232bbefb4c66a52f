"""End-to-end: the ``scratchgan`` command on tiny sizes."""

import json

import numpy
import pytest

from scratchgan import backend, cli
from scratchgan.runs import RunFolder, RunFolderError, load_checkpoint

# the toy job (the image main job is tested in test_image_gans.py)
TINY = ["--data", "ring8", "--steps", "20", "--batch-size", "32", "--hidden", "16", "--depth", "2", "--log-every", "10",
        "--checkpoint-every", "10", "--no-progress"]


pytestmark = pytest.mark.usefixtures("restore_backend")  # `scratchgan train` switches to the fastest backend


def train(tmp_path, name, *extra):
    out = tmp_path / name
    return cli.main(["train", *TINY, *extra, "--out", str(out)]), out


def test_train_writes_a_complete_run_folder(tmp_path, capsys):
    code, out = train(tmp_path, "run")
    assert code == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"scratchgan train: backend {backend.get_backend()} (")
    assert first.endswith(f"model mlp, loss nonsaturating, penalty r1, data ring8, 20 steps -> {out}")
    for name in ("config.json", "metrics.jsonl", "metrics.json", "samples.png", "losses.png",
                 "snapshots.png", "snapshots.npz", "checkpoints/step_10.npz", "checkpoints/step_20.npz"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 20 and metrics["num_modes"] == 8
    assert 0 <= metrics["modes_covered"] <= 8 and 0.0 <= metrics["high_quality_fraction"] <= 1.0
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [10, 20]
    assert {"d_loss", "g_loss", "modes_covered"} <= set(lines[0])


def test_resumed_run_equals_the_uninterrupted_run_bit_for_bit(tmp_path):
    _, whole = train(tmp_path, "whole", "--replay-size", "16", "--ema", "0.9")
    _, split = train(tmp_path, "split", "--replay-size", "16", "--ema", "0.9")
    # rewind the second run to its step-10 checkpoint, then resume it
    (split / "checkpoints/step_20.npz").unlink()
    assert cli.main(["resume", str(split), "--no-progress"]) == 0
    first, second = load_checkpoint(whole / "checkpoints/step_20.npz"), load_checkpoint(split / "checkpoints/step_20.npz")
    assert sorted(first) == sorted(second)
    for key in first:
        assert numpy.array_equal(first[key], second[key]), key
    assert (whole / "metrics.jsonl").read_text() == (split / "metrics.jsonl").read_text()


def test_a_lecam_run_resumes_with_its_anchors_bit_for_bit(tmp_path):
    _, whole = train(tmp_path, "whole", "--loss", "hinge", "--penalty", "lecam")
    _, split = train(tmp_path, "split", "--loss", "hinge", "--penalty", "lecam")
    (split / "checkpoints/step_20.npz").unlink()
    assert cli.main(["resume", str(split), "--no-progress"]) == 0
    first, second = load_checkpoint(whole / "checkpoints/step_20.npz"), load_checkpoint(split / "checkpoints/step_20.npz")
    assert "penalty/anchors" in first
    for key in first:
        assert numpy.array_equal(first[key], second[key]), key


def test_resume_can_extend_a_finished_constant_rate_run(tmp_path):
    _, out = train(tmp_path, "run", "--lr-schedule", "constant")
    assert cli.main(["resume", str(out), "--steps", "30", "--no-progress"]) == 0
    assert json.loads((out / "metrics.json").read_text())["steps"] == 30


def test_resume_refuses_to_stretch_a_decaying_schedule(tmp_path, capsys):
    _, out = train(tmp_path, "run", "--lr-schedule", "linear")
    assert cli.main(["resume", str(out), "--steps", "30", "--no-progress"]) == 2
    assert "schedule ends at step 20" in capsys.readouterr().err


def test_training_is_reproducible_for_a_seed(tmp_path):
    _, a = train(tmp_path, "a", "--seed", "3")
    _, b = train(tmp_path, "b", "--seed", "3")
    first, second = load_checkpoint(a / "checkpoints/step_20.npz"), load_checkpoint(b / "checkpoints/step_20.npz")
    assert all(numpy.array_equal(first[k], second[k]) for k in first)


@pytest.mark.parametrize("flags", [
    ["--loss", "wasserstein", "--penalty", "gradient_penalty", "--d-steps", "2"],
    ["--loss", "hinge", "--penalty", "spectral_norm"],
    ["--loss", "least_squares", "--loss-param", "preset=pearson", "--penalty", "r1"],
    ["--loss", "relativistic_average", "--penalty", "dragan", "--minibatch-std"],
    ["--penalty", "dragan", "--penalty-param", "perturbation=authors_code"],
    # the warm-up's first steps take 100 updates of D each: 3 steps here
    ["--loss", "wasserstein", "--penalty", "weight_clipping", "--d-steps-schedule", "wgan_warmup", "--steps", "3"],
    ["--loss", "wasserstein", "--penalty", "weight_clipping", "--optimizer", "rmsprop"],
    ["--loss", "wasserstein", "--penalty", "wgan_div"],
    ["--loss", "wasserstein", "--penalty", "max_gradient_penalty"],
    ["--loss", "hinge", "--penalty", "lecam"],
    ["--label-smoothing", "0.9", "--label-flip", "0.05", "--instance-noise", "0.1"],
    ["--feature-matching-layer", "2", "--minibatch-discrimination", "4"],
    ["--unrolled", "2", "--no-separate-batches"],
    ["--data", "bimodal1d", "--loss", "f_js"],
    ["--data", "swiss_roll", "--loss", "energy_based", "--optimizer", "sgd"],
], ids=lambda flags: " ".join(flags))
def test_every_kind_of_option_trains(tmp_path, flags):
    code, out = train(tmp_path, "run", *flags)
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["finite_fraction"] == 1.0


def test_penalty_params_flags_set_the_config_and_replace_a_recipes():
    def config(*flags):
        return cli._config_from_args(cli.build_parser().parse_args(["train", *flags]))

    assert config("--penalty", "dragan", "--penalty-param", "perturbation=authors_code",
                  "--penalty-param", "k=0.5").penalty_params == {"perturbation": "authors_code", "k": 0.5}
    assert config("--recipe", "ring8-dragan").penalty_params == {}
    assert config("--recipe", "ring8-dragan", "--penalty-param", "c=1").penalty_params == {"c": 1}
    with pytest.raises(ValueError, match="--penalty-param expects KEY=VALUE, got 'c'"):
        config("--penalty", "dragan", "--penalty-param", "c")


def test_a_bad_penalty_param_is_one_line_naming_it(tmp_path, capsys):
    code = cli.main(["train", "--data", "ring8", "--penalty", "dragan", "--penalty-param", "perturbation=code",
                     "--steps", "2", "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "perturbation must be one of 'paper', 'authors_code', got 'code'" in err
    assert err.count("\n") == 1 and not (tmp_path / "run").exists()


def test_train_refuses_to_overwrite_an_existing_run(tmp_path, capsys):
    _, out = train(tmp_path, "run")
    before = (out / "metrics.json").read_text()
    code, _ = train(tmp_path, "run", "--seed", "1")
    assert code == 2 and "--overwrite" in capsys.readouterr().err
    assert (out / "metrics.json").read_text() == before
    code, _ = train(tmp_path, "run", "--seed", "1", "--overwrite")
    assert code == 0


@pytest.mark.parametrize("flag, value, expected", [
    ("--loss", "vanilla", "expected one of: minimax, nonsaturating"),
    ("--penalty", "gp", "expected one of: none, gradient_penalty"),
    ("--data", "mnist2", "expected one of:"),
    ("--steps", "0", "steps must be a positive integer"),
])
def test_bad_names_and_values_give_one_clear_line(tmp_path, capsys, flag, value, expected):
    code, _ = train(tmp_path, "x", flag, value)
    err = capsys.readouterr().err
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1


def test_label_smoothing_on_a_critic_loss_is_refused(tmp_path, capsys):
    code, _ = train(tmp_path, "x", "--loss", "wasserstein", "--label-smoothing", "0.9")
    assert code == 2 and "cross-entropy losses" in capsys.readouterr().err


def test_resume_from_a_corrupt_checkpoint_gives_one_clear_line(tmp_path, capsys):
    _, out = train(tmp_path, "run", "--lr-schedule", "constant")
    for step in (10, 20):  # a corrupt newest one alone falls back (tests/test_run_safety.py)
        (out / f"checkpoints/step_{step}.npz").write_bytes(b"not a zip")
    config_before = (out / "config.json").read_text()
    assert cli.main(["resume", str(out), "--steps", "30", "--no-progress"]) == 2
    assert "is not an .npz archive" in capsys.readouterr().err
    assert (out / "config.json").read_text() == config_before  # a failed resume changes nothing


def test_resume_with_a_checkpoint_of_another_configuration_is_refused(tmp_path, capsys):
    _, out = train(tmp_path, "run", "--lr-schedule", "constant")
    _, other = train(tmp_path, "other", "--lr-schedule", "constant", "--hidden", "8")
    for step in (10, 20):
        (out / f"checkpoints/step_{step}.npz").write_bytes((other / f"checkpoints/step_{step}.npz").read_bytes())
    assert cli.main(["resume", str(out), "--steps", "30", "--no-progress"]) == 2
    assert "another configuration" in capsys.readouterr().err


def test_resume_of_a_folder_that_is_not_a_run_is_refused(tmp_path, capsys):
    assert cli.main(["resume", str(tmp_path), "--no-progress"]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_unwritable_run_folder_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RunFolderError, match="exists and is not a folder"):
        RunFolder.create(blocker)


def test_list_names_models_losses_penalties_tricks_and_datasets(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("infogan", "relativistic_average_ls", "gradient_penalty", "unrolled", "ring8", "iris2d", "mnist",
                 "fashion_mnist", "digits8x8"):
        assert name in out


def test_list_keeps_every_recipe_name_apart_from_its_summary(capsys):
    from scratchgan.gan import recipes

    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in recipes.names():
        line = next(line for line in lines if line.strip().startswith(name))
        assert line.split()[0] == name, line


def test_info_lists_backends(capsys):
    assert cli.main(["info"]) == 0
    assert "numpy" in capsys.readouterr().out
