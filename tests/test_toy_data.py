"""Toy distributions: shapes, dtypes, reproducibility, and where their mass lies."""

import sys

import numpy
import pytest

from scratchgan.data import toy

ALL = toy.names()
MIXTURES = [name for name in ALL if toy.get(name).modes is not None]


def rng(seed=0):
    return numpy.random.default_rng(seed)


def nearest_mode(samples, modes):
    return ((samples[:, None, :] - modes[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)


def test_registry_lists_every_distribution():
    assert set(ALL) == {"gaussian1d", "bimodal1d", "ring8", "grid25", "swiss_roll", "moons",
                        "circles", "iris2d"}


def test_mixtures_are_the_distributions_with_modes():
    assert set(MIXTURES) == {"gaussian1d", "bimodal1d", "ring8", "grid25"}


@pytest.mark.parametrize("name", ALL)
def test_sample_has_shape_n_by_dim_and_float64(name):
    dataset = toy.get(name)
    samples = dataset.sample(257, rng())
    assert samples.shape == (257, dataset.dim)
    assert samples.dtype == numpy.float64


@pytest.mark.parametrize("name", ALL)
def test_sample_of_zero_points_is_empty(name):
    dataset = toy.get(name)
    assert dataset.sample(0, rng()).shape == (0, dataset.dim)


@pytest.mark.parametrize("name", ALL)
def test_sample_is_reproducible_for_a_fixed_seed(name):
    dataset = toy.get(name)
    numpy.testing.assert_array_equal(dataset.sample(100, rng(7)), dataset.sample(100, rng(7)))


@pytest.mark.parametrize("name", ALL)
def test_different_seeds_give_different_samples(name):
    dataset = toy.get(name)
    assert not numpy.array_equal(dataset.sample(100, rng(1)), dataset.sample(100, rng(2)))


@pytest.mark.parametrize("generator", [None, 0, numpy.random.RandomState(0)])
def test_sample_requires_a_numpy_generator(generator):
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        toy.get("ring8").sample(10, generator)


@pytest.mark.parametrize("n", [-1, 2.5, "10", True])
def test_sample_rejects_a_bad_count(n):
    with pytest.raises(ValueError, match="non-negative integer"):
        toy.get("ring8").sample(n, rng())


@pytest.mark.parametrize("name", MIXTURES)
def test_mode_means_are_within_a_few_standard_errors_of_the_centres(name):
    dataset = toy.get(name)
    samples = dataset.sample(20000, rng(3))
    assigned = nearest_mode(samples, dataset.modes)
    for k, centre in enumerate(dataset.modes):
        members = samples[assigned == k]
        standard_error = dataset.mode_std / numpy.sqrt(len(members))
        assert numpy.all(numpy.abs(members.mean(axis=0) - centre) < 5 * standard_error)


@pytest.mark.parametrize("name", MIXTURES)
def test_modes_have_equal_weights(name):
    dataset = toy.get(name)
    n = 20000
    counts = numpy.bincount(nearest_mode(dataset.sample(n, rng(4)), dataset.modes),
                            minlength=len(dataset.modes))
    p = 1 / len(dataset.modes)
    assert numpy.all(numpy.abs(counts - n * p) <= 5 * numpy.sqrt(n * p * (1 - p)))


@pytest.mark.parametrize("name", MIXTURES)
def test_spread_around_each_mode_matches_mode_std(name):
    dataset = toy.get(name)
    samples = dataset.sample(20000, rng(5))
    residuals = samples - dataset.modes[nearest_mode(samples, dataset.modes)]
    numpy.testing.assert_allclose(residuals.std(axis=0), dataset.mode_std, rtol=0.05)


def test_gaussian1d_defaults_to_mean_4_std_half():
    dataset = toy.get("gaussian1d")
    numpy.testing.assert_array_equal(dataset.modes, [[4.0]])
    assert dataset.mode_std == 0.5


def test_bimodal1d_has_modes_at_minus_2_and_2_with_std_0_4():
    dataset = toy.get("bimodal1d")
    numpy.testing.assert_array_equal(dataset.modes, [[-2.0], [2.0]])
    assert dataset.mode_std == 0.4


def test_ring8_has_8_modes_evenly_spaced_on_radius_2():
    dataset = toy.get("ring8")
    numpy.testing.assert_allclose(numpy.linalg.norm(dataset.modes, axis=1), 2.0, rtol=1e-15)
    angles = numpy.sort(numpy.arctan2(dataset.modes[:, 1], dataset.modes[:, 0]) % (2 * numpy.pi))
    numpy.testing.assert_allclose(numpy.diff(angles), 2 * numpy.pi / 8, rtol=1e-12)
    assert dataset.mode_std == 0.02


def test_ring8_samples_lie_near_radius_2():
    radii = numpy.linalg.norm(toy.get("ring8").sample(5000, rng()), axis=1)
    assert numpy.all(numpy.abs(radii - 2.0) < 6 * 0.02)


def test_grid25_modes_are_the_grid_minus_4_to_4_step_2():
    dataset = toy.get("grid25")
    expected = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert {tuple(mode) for mode in dataset.modes.tolist()} == expected
    assert dataset.mode_std == 0.05


def test_modes_are_read_only():
    with pytest.raises(ValueError):
        toy.get("ring8").modes[0, 0] = 1.0


def test_swiss_roll_lies_in_the_scaled_square():
    samples = toy.get("swiss_roll", noise=0.0).sample(5000, rng())
    radii = numpy.linalg.norm(samples, axis=1)
    assert numpy.all(numpy.abs(samples) <= 2.0 + 1e-12)
    # t in [1.5 pi, 4.5 pi] scaled by 2 / (4.5 pi): radii in [2/3, 2]
    assert radii.min() >= 2 / 3 - 1e-12 and radii.max() <= 2.0 + 1e-12


def test_moons_without_noise_lie_on_two_unit_half_circles():
    samples = toy.get("moons", noise=0.0).sample(2000, rng())
    upper_centre, lower_centre = numpy.array([-0.5, -0.25]), numpy.array([0.5, 0.25])
    on_upper = (numpy.isclose(numpy.linalg.norm(samples - upper_centre, axis=1), 1.0, atol=1e-12)
                & (samples[:, 1] >= upper_centre[1] - 1e-12))
    on_lower = (numpy.isclose(numpy.linalg.norm(samples - lower_centre, axis=1), 1.0, atol=1e-12)
                & (samples[:, 1] <= lower_centre[1] + 1e-12))
    assert numpy.all(on_upper | on_lower)
    assert abs(on_upper.mean() - 0.5) < 0.05


def test_moons_are_centred_at_the_origin():
    samples = toy.get("moons").sample(20000, rng())
    assert numpy.all(numpy.abs(samples.mean(axis=0)) < 0.03)


def test_circles_without_noise_lie_on_radii_1_and_factor_in_equal_shares():
    samples = toy.get("circles", factor=0.3, noise=0.0).sample(4000, rng())
    radii = numpy.linalg.norm(samples, axis=1)
    on_outer = numpy.isclose(radii, 1.0, atol=1e-12)
    on_inner = numpy.isclose(radii, 0.3, atol=1e-12)
    assert numpy.all(on_outer | on_inner)
    assert abs(on_outer.mean() - 0.5) < 0.05


def test_iris2d_holds_the_150_flowers():
    assert toy.get("iris2d").data.shape == (150, 2)


def test_iris2d_features_are_petal_length_and_width_in_cm():
    data = toy.get("iris2d").data
    numpy.testing.assert_array_equal(data.min(axis=0), [1.0, 0.1])
    numpy.testing.assert_array_equal(data.max(axis=0), [6.9, 2.5])
    numpy.testing.assert_allclose(data.mean(axis=0), [3.758, 1.199333], atol=1e-5)


def test_iris2d_has_102_distinct_rows_because_petal_measurements_repeat():
    assert len(numpy.unique(toy.get("iris2d").data, axis=0)) == 102


def test_iris2d_samples_are_rows_of_the_data():
    dataset = toy.get("iris2d")
    rows = {tuple(row) for row in dataset.data.tolist()}
    assert all(tuple(row) in rows for row in dataset.sample(500, rng()).tolist())


def test_iris2d_without_scikit_learn_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        toy.get("iris2d").sample(1, rng())


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown toy dataset 'ring9'.*ring8.*grid25.*iris2d"):
        toy.get("ring9")


def test_unknown_parameter_is_a_value_error():
    with pytest.raises(ValueError, match="ring8.*bad parameters"):
        toy.get("ring8", sigma=0.1)


@pytest.mark.parametrize("params", [{"std": 0.0}, {"std": -1.0}, {"radius": float("nan")},
                                    {"num_modes": 0}, {"num_modes": 2.5}, {"std": "wide"}])
def test_bad_parameter_values_are_value_errors(params):
    with pytest.raises(ValueError, match="ring8"):
        toy.get("ring8", **params)


def test_parameters_change_the_distribution():
    dataset = toy.get("ring8", num_modes=3, radius=1.0, std=0.1)
    assert dataset.modes.shape == (3, 2) and dataset.mode_std == 0.1
    numpy.testing.assert_allclose(numpy.linalg.norm(dataset.modes, axis=1), 1.0)


def test_repr_shows_the_parameters():
    assert repr(toy.get("ring8")) == "Ring(num_modes=8, radius=2.0, std=0.02)"


@pytest.mark.parametrize("name", ALL)
def test_describe_is_one_line_starting_with_the_name(name):
    line = toy.get(name).describe()
    assert line.startswith(name) and "\n" not in line and f"{toy.get(name).dim}-D" in line
