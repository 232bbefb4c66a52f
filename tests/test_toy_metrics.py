"""Toy metrics: mode coverage, MMD and energy distance against cases with known answers."""

import itertools
import json
import math

import numpy
import pytest
import scipy.stats

from scratchgan.data import toy as data
from scratchgan.metrics import toy as metrics

RING = data.get("ring8")


def rng(seed=0):
    return numpy.random.default_rng(seed)


def ring_stats(samples, **options):
    return metrics.mode_statistics(samples, RING.modes, RING.mode_std, **options)


def naive_mmd(x, y, bandwidths):
    """The unbiased estimator written as loops over pairs: the reference for ``mmd_rbf``."""
    def k(a, b):
        return sum(math.exp(-float(numpy.sum((a - b) ** 2)) / (2 * s * s)) for s in bandwidths)
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    xy = sum(k(a, b) for a in x for b in y) / (m * n)
    return xx + yy - 2 * xy


# mode_statistics

def test_samples_from_ring8_cover_all_8_modes():
    stats = ring_stats(RING.sample(8000, rng()))
    assert stats["num_modes"] == 8 and stats["modes_covered"] == 8


def test_high_quality_fraction_of_perfect_2d_samples_is_the_chi_square_mass():
    # |x - mu|^2 / std^2 ~ chi^2 with 2 degrees of freedom: P(|x - mu| <= 3 std) = 1 - exp(-9/2)
    n, expected = 8000, 1 - math.exp(-4.5)
    fraction = ring_stats(RING.sample(n, rng()))["high_quality_fraction"]
    assert abs(fraction - expected) < 5 * math.sqrt(expected * (1 - expected) / n)


def test_samples_from_ring8_are_over_99_percent_high_quality_within_4_stds():
    assert ring_stats(RING.sample(8000, rng()), quality_stds=4.0)["high_quality_fraction"] > 0.99


def test_samples_from_ring8_have_mode_kl_near_zero():
    assert 0 <= ring_stats(RING.sample(8000, rng()))["mode_kl"] < 0.005


def test_samples_from_one_mode_cover_1_of_8_with_mode_kl_log_8():
    samples = RING.modes[3] + RING.mode_std * rng().standard_normal((2000, 2))
    stats = ring_stats(samples)
    assert stats["modes_covered"] == 1
    assert stats["mode_counts"][3] == sum(stats["mode_counts"]) > 0
    assert stats["mode_kl"] == pytest.approx(math.log(8), rel=1e-12)


def test_uniform_noise_far_from_the_modes_has_no_high_quality_samples():
    samples = rng().uniform(10.0, 20.0, size=(1000, 2))
    stats = ring_stats(samples)
    assert stats["high_quality_fraction"] == 0.0
    assert stats["modes_covered"] == 0 and stats["mode_counts"] == [0] * 8


def test_without_high_quality_samples_mode_kl_is_log_k():
    samples = rng().uniform(10.0, 20.0, size=(1000, 2))
    assert ring_stats(samples)["mode_kl"] == pytest.approx(math.log(8), rel=1e-12)


def test_a_high_quality_sample_is_within_quality_stds_of_a_centre():
    centre, std = RING.modes[0], RING.mode_std
    samples = numpy.stack([centre + [2.99 * std, 0], centre + [3.01 * std, 0]])
    assert ring_stats(samples)["mode_counts"][0] == 1
    assert ring_stats(samples, quality_stds=4.0)["mode_counts"][0] == 2


def test_a_few_stray_samples_do_not_cover_a_mode():
    on_mode_0 = numpy.repeat(RING.modes[:1], 1000, axis=0)
    strays_on_mode_1 = numpy.repeat(RING.modes[1:2], 5, axis=0)
    samples = numpy.concatenate([on_mode_0, strays_on_mode_1])
    assert ring_stats(samples, min_fraction=0.01)["modes_covered"] == 1
    assert ring_stats(samples, min_fraction=0.0)["modes_covered"] == 2


def test_mode_kl_is_kl_of_the_histogram_to_uniform():
    # 3 samples on mode 0, 1 on mode 1, 0 elsewhere: p = (3/4, 1/4, 0, ...)
    samples = RING.modes[[0, 0, 0, 1]]
    expected = 0.75 * math.log(8 * 0.75) + 0.25 * math.log(8 * 0.25)
    assert ring_stats(samples)["mode_kl"] == pytest.approx(expected, rel=1e-12)


def test_non_finite_samples_count_as_low_quality():
    samples = numpy.array([RING.modes[0], [numpy.nan, 0.0], [numpy.inf, numpy.inf]])
    stats = ring_stats(samples)
    assert stats["high_quality_fraction"] == pytest.approx(1 / 3)
    assert stats["mode_counts"][0] == 1


def test_mode_statistics_are_plain_python_numbers():
    stats = ring_stats(RING.sample(100, rng()))
    json.dumps(stats)
    assert all(type(count) is int for count in stats["mode_counts"])
    assert type(stats["mode_kl"]) is float and type(stats["modes_covered"]) is int


def test_mode_statistics_reject_one_dimensional_samples():
    with pytest.raises(ValueError, match=r"mode_statistics: samples must be a 2-D array \(N, D\), got shape \(10,\)"):
        ring_stats(numpy.zeros(10))


def test_mode_statistics_reject_samples_of_the_wrong_dimension():
    with pytest.raises(ValueError, match=r"samples must have 2 columns.*got shape \(10, 3\)"):
        ring_stats(numpy.zeros((10, 3)))


@pytest.mark.parametrize("options", [{"quality_stds": 0.0}, {"min_fraction": 1.5}])
def test_mode_statistics_reject_bad_options(options):
    with pytest.raises(ValueError, match="mode_statistics"):
        ring_stats(numpy.zeros((10, 2)), **options)


def test_mode_statistics_reject_a_non_positive_std():
    with pytest.raises(ValueError, match="std must be a positive"):
        metrics.mode_statistics(numpy.zeros((10, 2)), RING.modes, 0.0)


# mmd_rbf

def test_mmd_matches_the_pairwise_loop_reference():
    x, y = rng(1).standard_normal((7, 3)), rng(2).standard_normal((5, 3)) + 0.5
    bandwidths = [0.5, 1.0, 3.0]
    assert metrics.mmd_rbf(x, y, bandwidths) == pytest.approx(naive_mmd(x, y, bandwidths), rel=1e-12)


def test_mmd_of_two_samples_of_one_distribution_is_near_zero():
    x, y = rng(1).standard_normal((300, 2)), rng(2).standard_normal((300, 2))
    assert abs(metrics.mmd_rbf(x, y)) < 0.02


def test_mmd_is_unbiased_so_it_is_negative_for_some_samples_of_one_distribution():
    values = [metrics.mmd_rbf(rng(seed).standard_normal((100, 2)), rng(100 + seed).standard_normal((100, 2)))
              for seed in range(8)]
    assert min(values) < 0 < max(values)


def test_mmd_of_shifted_distributions_is_clearly_positive():
    x, y = rng(1).standard_normal((300, 2)), rng(2).standard_normal((300, 2)) + 1.0
    assert metrics.mmd_rbf(x, y) > 0.3


def test_mmd_default_bandwidths_are_the_median_heuristic_times_half_one_two():
    x, y = rng(1).standard_normal((40, 2)), rng(2).standard_normal((30, 2))
    median = metrics.median_heuristic(x, y)
    assert metrics.mmd_rbf(x, y) == pytest.approx(metrics.mmd_rbf(x, y, [0.5 * median, median, 2 * median]))


def test_mmd_accepts_a_single_bandwidth():
    x, y = rng(1).standard_normal((20, 2)), rng(2).standard_normal((20, 2))
    assert metrics.mmd_rbf(x, y, 0.7) == metrics.mmd_rbf(x, y, [0.7])


def test_median_heuristic_is_the_median_pairwise_distance():
    # distances 1, 3, 2 between 0, 1, 3
    assert metrics.median_heuristic(numpy.array([[0.0], [1.0], [3.0]])) == 2.0


def test_mmd_rejects_samples_of_different_dimensions():
    with pytest.raises(ValueError, match=r"mmd_rbf: y must have 2 columns.*got shape \(5, 3\)"):
        metrics.mmd_rbf(numpy.zeros((5, 2)), numpy.zeros((5, 3)))


def test_mmd_needs_two_rows_per_sample():
    with pytest.raises(ValueError, match="mmd_rbf: x needs at least 2 rows"):
        metrics.mmd_rbf(numpy.zeros((1, 2)), numpy.zeros((5, 2)))


@pytest.mark.parametrize("bandwidths", [[], [0.0], [-1.0, 1.0], "wide"])
def test_mmd_rejects_bad_bandwidths(bandwidths):
    with pytest.raises(ValueError, match="mmd_rbf: bandwidths must be positive"):
        metrics.mmd_rbf(numpy.zeros((5, 2)), numpy.ones((5, 2)), bandwidths)


def test_mmd_rejects_non_finite_samples():
    with pytest.raises(ValueError, match="NaN or infinite"):
        metrics.mmd_rbf(numpy.full((5, 2), numpy.nan), numpy.zeros((5, 2)))


# energy_distance

@pytest.mark.parametrize("a, b", [(0.0, 1.0), (-2.5, 4.0), (3.0, 3.0)])
def test_energy_distance_of_two_point_masses_is_twice_their_gap(a, b):
    x, y = numpy.full((5, 1), a), numpy.full((3, 1), b)
    assert metrics.energy_distance(x, y) == pytest.approx(2 * abs(a - b), rel=1e-15, abs=0)


def test_energy_distance_of_point_masses_in_2d_uses_the_euclidean_norm():
    x, y = numpy.zeros((4, 2)), numpy.full((6, 2), [3.0, 4.0])
    assert metrics.energy_distance(x, y) == pytest.approx(10.0, rel=1e-15)


def test_energy_distance_of_a_point_mass_and_a_two_point_mixture():
    # 2 E|X-Y| = 2 * 1/2,  E|X-X'| = 0,  E|Y-Y'| = 1/2
    assert metrics.energy_distance(numpy.array([[0.0]]), numpy.array([[0.0], [1.0]])) == pytest.approx(0.5)


def test_energy_distance_in_1d_is_the_square_of_scipys():
    x, y = rng(1).standard_normal((50, 1)), rng(2).exponential(size=(70, 1))
    expected = scipy.stats.energy_distance(x[:, 0], y[:, 0]) ** 2
    assert metrics.energy_distance(x, y) == pytest.approx(expected, rel=1e-10)


def test_energy_distance_of_a_sample_with_itself_is_zero():
    x = rng().standard_normal((50, 2))
    assert metrics.energy_distance(x, x) == 0.0


def test_energy_distance_rejects_samples_of_different_dimensions():
    with pytest.raises(ValueError, match=r"energy_distance: y must have 1 columns.*got shape \(5, 2\)"):
        metrics.energy_distance(numpy.zeros((5, 1)), numpy.zeros((5, 2)))


def test_energy_distance_rejects_one_dimensional_arrays():
    with pytest.raises(ValueError, match=r"energy_distance: x must be a 2-D array"):
        metrics.energy_distance(numpy.zeros(5), numpy.zeros((5, 1)))


# toy_metrics

def test_toy_metrics_of_a_mixture_include_mode_statistics_and_mmd():
    result = metrics.toy_metrics(RING.sample(1000, rng()), RING)
    assert {"num_modes", "modes_covered", "high_quality_fraction", "mode_kl", "mode_counts",
            "mmd", "energy_distance", "num_samples", "finite_fraction"} <= set(result)
    assert result["modes_covered"] == 8 and abs(result["mmd"]) < 0.02


def test_toy_metrics_without_modes_leave_mode_statistics_out():
    swiss_roll = data.get("swiss_roll")
    result = metrics.toy_metrics(swiss_roll.sample(300, rng()), swiss_roll)
    assert "modes_covered" not in result and "mmd" in result


def test_toy_metrics_are_json_serialisable():
    result = metrics.toy_metrics(RING.sample(300, rng()), RING)
    assert json.loads(json.dumps(result)) == result


def test_toy_metrics_draw_the_same_default_reference_every_time():
    samples = RING.sample(300, rng())
    assert metrics.toy_metrics(samples, RING) == metrics.toy_metrics(samples, RING)


def test_toy_metrics_compare_with_the_given_reference():
    samples = RING.sample(300, rng())
    assert metrics.toy_metrics(samples, RING, reference=samples)["energy_distance"] == 0.0


def test_toy_metrics_of_collapsed_samples_show_high_mmd():
    collapsed = RING.modes[0] + RING.mode_std * rng().standard_normal((500, 2))
    assert metrics.toy_metrics(collapsed, RING)["mmd"] > 0.3


def test_toy_metrics_of_diverged_samples_report_no_mmd():
    result = metrics.toy_metrics(numpy.full((10, 2), numpy.nan), RING)
    assert result["finite_fraction"] == 0.0 and result["mmd"] is None
    assert result["high_quality_fraction"] == 0.0


def test_toy_metrics_reject_samples_of_the_wrong_dimension():
    with pytest.raises(ValueError, match="toy_metrics: samples must have 2 columns"):
        metrics.toy_metrics(numpy.zeros((10, 1)), RING)
