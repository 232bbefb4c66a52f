"""benchmarks/dcgan_mnist_torch.py: a few PyTorch steps end to end, JSON and sample grid written."""

import json

import pytest


def test_a_three_step_torch_run_writes_the_classifier_metrics_and_a_grid(tmp_path, capsys):
    pytest.importorskip("torch")
    from benchmarks import dcgan_mnist_torch as script

    out, png = tmp_path / "run.json", tmp_path / "samples.png"
    assert script.main(["--steps", "3", "--samples", "64", "--log-every", "1",
                        "--out", str(out), "--samples-png", str(png)]) == 0
    result = json.loads(out.read_text())
    assert result["steps"] == 3 and result["num_samples"] == 64 and result["framework"] == "torch"
    for key in ("classifier_fid", "classifier_fid_train_mode", "untrained_classifier_fid",
                "classifier_inception_score", "seconds"):
        assert isinstance(result[key], float) and result[key] >= 0, key
    assert 0 <= result["class_balance"]["classes_covered"] <= 10
    assert png.stat().st_size > 0
    assert "step     3/3" in capsys.readouterr().out


@pytest.mark.parametrize("argument", [["--steps", "0"], ["--seed", "-1"], ["--samples", "0"]])
def test_non_positive_options_are_refused(argument):
    from benchmarks import dcgan_mnist_torch as script

    with pytest.raises(SystemExit):
        script.parse_args(argument)


def test_the_twin_trains_the_main_jobs_networks_and_recipe():
    torch = pytest.importorskip("torch")
    from benchmarks import dcgan_mnist_torch as script
    from scratchgan.gan.trainer import MAIN_JOB_DEFAULTS, TrainConfig, Trainer

    args = script.parse_args([])
    assert {name: getattr(args, name) for name in MAIN_JOB_DEFAULTS} == MAIN_JOB_DEFAULTS
    trainer = Trainer(TrainConfig(eval_samples=100))
    for ours, twin in zip((trainer.generator, trainer.discriminator),
                          script.networks(torch.nn, args.latent_dim, args.fc_hidden)):
        assert {k: v.shape for k, v in ours.state_dict().items()} == \
               {k: tuple(v.shape) for k, v in twin.state_dict().items()}
