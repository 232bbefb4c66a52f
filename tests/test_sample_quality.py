"""KID, precision/recall and density/coverage: hand cases, brute-force twins, and the prdc package."""

import itertools

import numpy
import pytest
from prdc import compute_prdc

from scratchgan.metrics import sample_quality as sq


def points(*values):
    return numpy.array(values, dtype=float).reshape(-1, 1)


# -- hand-computed cases -----------------------------------------------------------------------------
def test_precision_and_recall_of_a_hand_computed_one_dimensional_case():
    real = points(0, 1, 2, 3)  # k = 1 radii: 1 everywhere
    fake = points(0.5, 10, 11)  # radii: 9.5, 1, 1
    result = sq.sample_quality(real, fake, k=1)
    assert result["precision"] == pytest.approx(1 / 3)  # only 0.5 lies inside a real ball
    # real 0, 1, 2, 3 within 9.5 of 0.5 (the ball of fake 0.5): all four
    assert result["recall"] == 1.0
    # 0.5 lies strictly inside the balls of 0 and 1: density = 2 / (1 * 3)
    assert result["density"] == pytest.approx(2 / 3)
    # real balls holding a fake: those of 0 and 1
    assert result["coverage"] == 0.5


def test_identical_sets_have_full_precision_recall_and_coverage():
    rng = numpy.random.default_rng(0)
    real = rng.standard_normal((200, 5))
    result = sq.sample_quality(real, real + 1e-9)
    assert result["precision"] == result["recall"] == result["coverage"] == 1.0


def test_nearest_neighbour_radii_equal_a_brute_force_sort():
    rng = numpy.random.default_rng(1)
    features = rng.standard_normal((1500, 3))  # more rows than one block
    brute = [sorted(numpy.linalg.norm(features - row, axis=1))[3] for row in features]
    numpy.testing.assert_allclose(sq.nearest_neighbour_radii(features, 3), brute, rtol=1e-9)


def test_kid_equals_the_unbiased_mmd_written_with_explicit_loops():
    rng = numpy.random.default_rng(2)
    real, fake = rng.standard_normal((12, 4)), rng.standard_normal((9, 4)) + 0.5

    def kernel(x, y):
        return (sum(a * b for a, b in zip(x, y)) / len(x) + 1) ** 3

    same = lambda s: sum(kernel(s[i], s[j]) for i, j in itertools.permutations(range(len(s)), 2)) / (len(s) * (len(s) - 1))
    cross = sum(kernel(x, y) for x in real for y in fake) / (len(real) * len(fake))
    assert sq.unbiased_mmd2(real, fake) == pytest.approx(same(real) + same(fake) - 2 * cross, rel=1e-12)
    # one subset, cut to the smaller set: 9 of the real rows (seed 0's draw) against all 9 generated
    result = sq.kernel_distance(real, fake, subsets=1, subset_size=100, seed=0)
    chosen = numpy.random.default_rng(0).choice(12, 9, replace=False)
    assert result["kid"] == pytest.approx(sq.unbiased_mmd2(real[chosen], fake), rel=1e-12)
    assert result["kid_std"] == 0.0 and result["subset_size"] == 9


def test_kid_is_unbiased_near_zero_for_two_samples_of_one_distribution():
    rng = numpy.random.default_rng(3)
    real, fake = rng.standard_normal((2000, 8)), rng.standard_normal((2000, 8))
    result = sq.kernel_distance(real, fake, subsets=20, subset_size=500)
    assert abs(result["kid"]) < 3 * result["kid_std"] / numpy.sqrt(20) + 1e-3
    shifted = sq.kernel_distance(real, fake + 1.0, subsets=20, subset_size=500)
    assert shifted["kid"] > 50 * max(abs(result["kid"]), 1e-4)


def test_the_metrics_do_not_depend_on_the_order_of_the_samples():
    rng = numpy.random.default_rng(4)
    real, fake = rng.standard_normal((300, 6)), 1.3 * rng.standard_normal((250, 6))
    first = sq.sample_quality(real, fake)
    second = sq.sample_quality(real[rng.permutation(300)], fake[rng.permutation(250)])
    assert first == second
    assert sq.unbiased_mmd2(real, fake) == pytest.approx(sq.unbiased_mmd2(real[::-1], fake[::-1]), rel=1e-12)


# -- parity with the prdc package (Naeem et al.'s reference code) -------------------------------------------
@pytest.mark.parametrize("real_count, fake_count, dim, k", [(400, 300, 16, 3), (1200, 1100, 2, 5), (50, 80, 128, 1)])
def test_precision_recall_density_coverage_equal_the_prdc_package(real_count, fake_count, dim, k, capsys):
    rng = numpy.random.default_rng(real_count)
    real = rng.standard_normal((real_count, dim))
    fake = 1.2 * rng.standard_normal((fake_count, dim)) + 0.2
    ours = sq.sample_quality(real, fake, k)
    theirs = compute_prdc(real, fake, k)
    for key in ("precision", "recall", "density", "coverage"):
        assert ours[key] == pytest.approx(float(theirs[key]), abs=1e-12), key


# -- bad input ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("real, fake, says", [
    (numpy.zeros((3, 2)), numpy.zeros((10, 2)), "real features has 3 samples; at least 4 are needed"),
    (numpy.zeros((10, 2)), numpy.zeros((10, 3)), "real features have 2 dimensions, generated ones 3"),
    (numpy.zeros((10, 2)), numpy.full((10, 2), numpy.nan), "generated features holds NaN or infinite values in 10"),
    (numpy.zeros(10), numpy.zeros((10, 2)), "must be a 2-D array (samples, features), got shape (10,)"),
])
def test_bad_input_is_one_error_naming_what_is_wrong(real, fake, says):
    with pytest.raises(ValueError) as caught:
        sq.sample_quality(real, fake, k=3)
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_kid_refuses_a_subset_size_of_zero():
    with pytest.raises(ValueError, match="subset_size must be a positive integer, got 0"):
        sq.kernel_distance(numpy.zeros((5, 2)), numpy.zeros((5, 2)), subset_size=0)


# -- on the shipped classifier's features, and in run folders ----------------------------------------------------
def test_the_classifier_metrics_tell_dropped_modes_from_low_fidelity():
    from scratchgan.data import images as image_data
    from scratchgan.metrics import images as metrics

    digits = image_data.get("mnist")
    order = numpy.random.default_rng(0).permutation(len(digits))
    half, other = digits.images[order[:1000]], digits.images[order[2500:3500]]
    real = metrics.classifier_sample_quality(half, other)
    dropped = metrics.classifier_sample_quality(digits.images[digits.labels < 5][:1000], other)
    noise = metrics.classifier_sample_quality(numpy.random.default_rng(1).uniform(-1, 1, (1000, 1, 28, 28)), other)
    assert real["precision"] > 0.8 and real["recall"] > 0.8 and real["coverage"] > 0.8
    assert dropped["precision"] > 0.8 and dropped["recall"] < 0.75 and dropped["coverage"] < 0.6  # mode dropping
    assert noise["precision"] < 0.05 and noise["density"] < 0.05  # low fidelity
    kid_real = metrics.classifier_kid(half, other, subsets=10, subset_size=500)
    kid_dropped = metrics.classifier_kid(digits.images[digits.labels < 5][:1000], other, subsets=10, subset_size=500)
    assert kid_dropped["kid"] > 20 * max(abs(kid_real["kid"]), kid_real["kid_std"])


def test_toy_runs_write_precision_recall_density_and_coverage(tmp_path, restore_backend):
    import json

    from scratchgan import cli

    out = tmp_path / "run"
    assert cli.main(["train", "--data", "ring8", "--steps", "10", "--batch-size", "32", "--hidden", "16",
                     "--depth", "2", "--eval-samples", "300", "--no-progress", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert all(0.0 <= metrics[key] <= 1.0 for key in ("precision", "recall", "coverage")) and metrics["density"] >= 0
