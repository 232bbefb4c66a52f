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
