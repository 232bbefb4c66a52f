"""Image metrics: the Frechet distance against closed forms, the shipped digit classifier's
held-out accuracy, and the classifier FID, Inception score, class balance, class accuracy
and code purity on cases with known answers."""

import json
import math

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from scratchgan.data import images as image_data
from scratchgan.metrics import images as metrics
from scratchgan.metrics.train_classifier import held_out_split

MNIST = image_data.get("mnist")


def rng(seed=0):
    return numpy.random.default_rng(seed)


def random_covariance(dim, seed, rank=None):
    """A random symmetric PSD (dim, dim) matrix of the given rank (full by default)."""
    factor = rng(seed).standard_normal((dim, rank or dim))
    return factor @ factor.T / (rank or dim)


def psd_sqrt(matrix):
    """The symmetric square root of a PSD matrix through its eigendecomposition."""
    values, vectors = numpy.linalg.eigh(matrix)
    return (vectors * numpy.sqrt(numpy.clip(values, 0, None))) @ vectors.T


def reference_frechet(mu1, sigma1, mu2, sigma2):
    """The same distance by a different route: tr (S1 S2)^(1/2) = tr (S1^(1/2) S2 S1^(1/2))^(1/2),
    a symmetric PSD matrix whose root eigh computes stably."""
    root1 = psd_sqrt(sigma1)
    cross = psd_sqrt(root1 @ sigma2 @ root1)
    diff = mu1 - mu2
    return float(diff @ diff + numpy.trace(sigma1) + numpy.trace(sigma2) - 2 * numpy.trace(cross))


positive_vectors = st.integers(1, 8).flatmap(lambda dim: st.tuples(
    *[hnp.arrays(numpy.float64, dim, elements=st.floats(0.01, 10.0)) for _ in range(2)],
    *[hnp.arrays(numpy.float64, dim, elements=st.floats(-5.0, 5.0)) for _ in range(2)],
))


# --- Frechet distance ------------------------------------------------------------------------

@given(positive_vectors)
def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form(vectors):
    # diagonal S1, S2 commute: (S1 S2)^(1/2) = diag(sqrt(s1 s2)), so
    # d^2 = |mu1 - mu2|^2 + sum (sqrt s1 - sqrt s2)^2
    variances1, variances2, mu1, mu2 = vectors
    expected = numpy.sum((mu1 - mu2) ** 2) + numpy.sum((numpy.sqrt(variances1) - numpy.sqrt(variances2)) ** 2)
    value = metrics.frechet_distance(mu1, numpy.diag(variances1), mu2, numpy.diag(variances2))
    assert value == pytest.approx(expected, rel=1e-7, abs=1e-9)


@given(positive_vectors, st.integers(0, 2**32 - 1))
def test_frechet_distance_of_commuting_covariances_is_the_closed_form(vectors, seed):
    # S_i = Q diag(s_i) Q^T with one orthogonal Q: the same closed form in the eigenbasis
    variances1, variances2, mu1, mu2 = vectors
    basis, _ = numpy.linalg.qr(rng(seed).standard_normal((len(mu1), len(mu1))))
    sigma1, sigma2 = (basis * variances1) @ basis.T, (basis * variances2) @ basis.T
    expected = numpy.sum((mu1 - mu2) ** 2) + numpy.sum((numpy.sqrt(variances1) - numpy.sqrt(variances2)) ** 2)
    assert metrics.frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("dim", [1, 5, 64])
def test_frechet_distance_of_a_gaussian_with_itself_is_zero(dim):
    mu, sigma = rng(dim).standard_normal(dim), random_covariance(dim, seed=dim)
    assert metrics.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8 * dim)


@pytest.mark.parametrize("dim", [2, 10, 64])
def test_frechet_distance_is_symmetric_and_matches_the_symmetrised_form(dim):
    mu1, mu2 = rng(1).standard_normal(dim), rng(2).standard_normal(dim)
    sigma1, sigma2 = random_covariance(dim, 3), random_covariance(dim, 4)  # do not commute
    forward = metrics.frechet_distance(mu1, sigma1, mu2, sigma2)
    assert forward == pytest.approx(metrics.frechet_distance(mu2, sigma2, mu1, sigma1), rel=1e-9)
    assert forward == pytest.approx(reference_frechet(mu1, sigma1, mu2, sigma2), rel=1e-7)


def test_frechet_distance_of_singular_covariances_is_the_low_rank_closed_form():
    # rank 3 of 20, as features that never fire: S1 S2 is singular. With S1 = A A^T and
    # S2 = B B^T, the nonzero eigenvalues of S1 S2 are those of (A^T B)(A^T B)^T, so
    # tr (S1 S2)^(1/2) is the sum of the singular values of the 3 x 3 matrix A^T B
    factor1, factor2 = rng(5).standard_normal((20, 3)), rng(6).standard_normal((20, 3))
    sigma1, sigma2 = factor1 @ factor1.T, factor2 @ factor2.T
    mu1, mu2 = rng(7).standard_normal(20), numpy.zeros(20)
    cross_trace = numpy.linalg.svd(factor1.T @ factor2, compute_uv=False).sum()
    expected = mu1 @ mu1 + numpy.trace(sigma1) + numpy.trace(sigma2) - 2 * cross_trace
    assert metrics.frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-9)
    assert metrics.frechet_distance(mu2, numpy.zeros((20, 20)), mu2, numpy.zeros((20, 20))) == 0.0


def test_frechet_distance_of_sample_statistics_approaches_the_closed_form():
    dim, count = 4, 200_000
    mu1, mu2 = numpy.zeros(dim), numpy.array([1.0, -0.5, 0.0, 2.0])
    variances1, variances2 = numpy.array([1.0, 2.0, 0.5, 1.0]), numpy.array([4.0, 1.0, 0.5, 0.25])
    samples1 = mu1 + numpy.sqrt(variances1) * rng(1).standard_normal((count, dim))
    samples2 = mu2 + numpy.sqrt(variances2) * rng(2).standard_normal((count, dim))
    expected = numpy.sum((mu1 - mu2) ** 2) + numpy.sum((numpy.sqrt(variances1) - numpy.sqrt(variances2)) ** 2)
    value = metrics.frechet_distance(*metrics.statistics_of_features(samples1),
                                     *metrics.statistics_of_features(samples2))
    assert value == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("arguments, message", [
    ((numpy.zeros(3), numpy.eye(3), numpy.zeros(4), numpy.eye(4)), "same dimension"),
    ((numpy.zeros(3), numpy.eye(2), numpy.zeros(3), numpy.eye(3)), r"sigma1 must be a \(D, D\)"),
    ((numpy.zeros((3, 1)), numpy.eye(3), numpy.zeros(3), numpy.eye(3)), "mu1 must be a vector"),
    ((numpy.zeros(3), numpy.eye(3), numpy.full(3, numpy.nan), numpy.eye(3)), "finite"),
])
def test_frechet_distance_rejects_mismatched_or_non_finite_statistics(arguments, message):
    with pytest.raises(ValueError, match=message):
        metrics.frechet_distance(*arguments)


def test_trace_sqrt_product_of_a_random_psd_pair_matches_scipy_sqrtm():
    # the general case sqrtm handles well (both full rank, not commuting): 1e-8 relative
    import scipy.linalg

    for dim in (2, 17, 128):
        sigma1, sigma2 = random_covariance(dim, 7 + dim), random_covariance(dim, 8 + dim)
        expected = float(numpy.trace(scipy.linalg.sqrtm(sigma1 @ sigma2)).real)
        assert metrics._trace_sqrt_product(sigma1, sigma2, metrics.FRECHET_EPS) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("rank1, rank2", [(3, 3), (3, 20), (20, 5), (0, 20)])
def test_frechet_distance_of_singular_commuting_covariances_is_the_closed_form_without_eps(rank1, rank2):
    # zero variances (features that never fire), where sqrtm(S1 S2) is singular and pytorch-fid
    # falls back to eps I: the eigenvalue route needs no offset and keeps the closed form
    dim = 20
    basis, _ = numpy.linalg.qr(rng(9).standard_normal((dim, dim)))
    variances1 = numpy.where(numpy.arange(dim) < rank1, rng(10).uniform(0.1, 3.0, dim), 0.0)
    variances2 = numpy.where(numpy.arange(dim) < rank2, rng(11).uniform(0.1, 3.0, dim), 0.0)
    sigma1, sigma2 = (basis * variances1) @ basis.T, (basis * variances2) @ basis.T
    mu1, mu2 = rng(12).standard_normal(dim), rng(13).standard_normal(dim)
    expected = numpy.sum((mu1 - mu2) ** 2) + numpy.sum((numpy.sqrt(variances1) - numpy.sqrt(variances2)) ** 2)
    assert metrics.frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_accepts_covariances_rounded_to_float32():
    # rank 40 of 128 stored in float32: zero eigenvalues become +-1e-7 of the largest, the
    # negative ones are set to 0, not refused; the positive ones' square roots (3e-4 each)
    # are the precision float32 leaves
    sigma1, sigma2 = random_covariance(128, 14, rank=40), random_covariance(128, 15)
    mu = numpy.zeros(128)
    exact = metrics.frechet_distance(mu, sigma1, mu, sigma2)
    rounded = metrics.frechet_distance(mu, sigma1.astype(numpy.float32), mu, sigma2.astype(numpy.float32))
    assert rounded == pytest.approx(exact, rel=1e-3)


def test_frechet_distance_retries_a_failed_decomposition_with_eps_on_both_diagonals(monkeypatch):
    # pytorch-fid's fallback: a non-finite first attempt is recomputed from S1 + eps I, S2 + eps I
    sigma1, sigma2, eps = random_covariance(6, 16), random_covariance(6, 17), 1e-3
    attempts = []
    decompose = metrics._symmetric_eigen

    def fail_first(matrix, vectors):
        attempts.append(matrix.copy())
        return None if len(attempts) == 1 else decompose(matrix, vectors)

    monkeypatch.setattr(metrics, "_symmetric_eigen", fail_first)
    value = metrics._trace_sqrt_product(sigma1, sigma2, eps)
    numpy.testing.assert_allclose(attempts[1], sigma1 + eps * numpy.eye(6), rtol=0, atol=0)
    shifted = sigma1 + eps * numpy.eye(6), sigma2 + eps * numpy.eye(6)
    monkeypatch.setattr(metrics, "_symmetric_eigen", decompose)
    assert value == pytest.approx(metrics._trace_sqrt_product(*shifted, eps), rel=1e-12)


def test_frechet_distance_that_overflows_even_with_eps_is_an_error_naming_it():
    sigma = 1e160 * random_covariance(4, 18)
    with pytest.raises(ValueError, match=r"not finite even with eps = 1e-06 added to the diagonals"):
        metrics.frechet_distance(numpy.zeros(4), sigma, numpy.zeros(4), sigma)


@pytest.mark.parametrize("which", ["sigma1", "sigma2"])
def test_frechet_distance_rejects_a_covariance_that_is_not_positive_semi_definite(which):
    psd, indefinite = random_covariance(5, 19), numpy.diag([1.0, 2.0, -0.5, 1.0, 1.0])
    sigma1, sigma2 = (indefinite, psd) if which == "sigma1" else (psd, indefinite)
    with pytest.raises(ValueError, match=f"{which} must be positive semi-definite"):
        metrics.frechet_distance(numpy.zeros(5), sigma1, numpy.zeros(5), sigma2)


def test_frechet_distance_rejects_a_covariance_that_is_not_symmetric():
    sigma = random_covariance(4, 20)
    sigma[0, 1] += 0.1
    with pytest.raises(ValueError, match=r"sigma2 must be a symmetric covariance, but max \|sigma2 - sigma2\^T\| = 0.1"):
        metrics.frechet_distance(numpy.zeros(4), numpy.eye(4), numpy.zeros(4), sigma)


# --- the shipped classifier ------------------------------------------------------------------

def test_shipped_classifier_reaches_its_stated_held_out_accuracy():
    classifier = metrics.load_classifier()
    _, test_set = held_out_split()
    accuracy = float(numpy.mean(classifier.predict(test_set.images) == test_set.labels))
    stated = classifier.metadata["test_accuracy"]
    assert stated >= 0.97
    assert accuracy >= stated - 0.003


def test_shipped_classifier_is_small_float32_and_outputs_the_documented_shapes():
    classifier = metrics.load_classifier()
    assert classifier is metrics.load_classifier()  # cached
    assert all(array.dtype == numpy.float32 for array in classifier.state_dict().values())
    assert sum(array.size for array in classifier.state_dict().values()) < 250_000
    images = MNIST.images[:7]
    assert classifier.features(images).shape == (7, metrics.ARCHITECTURE["hidden"])
    probabilities = classifier.probabilities(images)
    assert probabilities.shape == (7, 10) and numpy.allclose(probabilities.sum(axis=1), 1.0)
    predictions = classifier.predict(images)
    assert predictions.dtype == numpy.int64 and numpy.array_equal(predictions, probabilities.argmax(axis=1))


def test_classifier_file_with_a_wrong_shape_is_refused_with_the_key(tmp_path):
    model = metrics.DigitClassifier(**metrics.ARCHITECTURE)
    path = tmp_path / "bad.npz"
    metrics.save_classifier(model, path, {"test_accuracy": 0.0})
    arrays = dict(numpy.load(path))
    arrays["head.weight"] = numpy.zeros((10, 7), dtype=numpy.float32)
    numpy.savez(path, **arrays)
    with pytest.raises(metrics.ClassifierFileError, match=r"head\.weight \(10, 7\) \(expected \(10, 128\)\)"):
        metrics.load_classifier(path)


def test_classifier_file_without_metadata_or_not_an_npz_is_refused(tmp_path):
    (tmp_path / "plain.npz").write_bytes(b"not a zip file")
    with pytest.raises(metrics.ClassifierFileError, match="not a readable .npz"):
        metrics.load_classifier(tmp_path / "plain.npz")
    numpy.savez(tmp_path / "bare.npz", **metrics.DigitClassifier().state_dict())
    with pytest.raises(metrics.ClassifierFileError, match="no valid 'metadata'"):
        metrics.load_classifier(tmp_path / "bare.npz")


def test_saved_classifier_round_trips_weights_and_metadata(tmp_path):
    model = metrics.DigitClassifier(channels=(4, 8, 4), hidden=16)
    metrics.save_classifier(model, tmp_path / "small.npz", {"epochs": 3})
    loaded = metrics.load_classifier(tmp_path / "small.npz")
    assert loaded.metadata["epochs"] == 3 and loaded.metadata["architecture"]["hidden"] == 16
    for key, array in model.state_dict().items():
        numpy.testing.assert_array_equal(loaded.state_dict()[key], array)


# --- resizing ----------------------------------------------------------------------------------

def test_resize_of_a_2x_enlarged_digit_averages_back_to_the_digit():
    digits = MNIST.images[:3]
    doubled = numpy.repeat(numpy.repeat(digits, 2, axis=2), 2, axis=3)  # (3, 1, 56, 56)
    numpy.testing.assert_allclose(metrics.resize_images(doubled), digits, atol=1e-6)


@pytest.mark.parametrize("size", [8, 32, 64, 27, 29])
def test_resize_keeps_the_range_and_constant_images(size):
    images = rng(size).uniform(-1, 1, (2, 1, size, size)).astype(numpy.float32)
    resized = metrics.resize_images(images)
    assert resized.shape == (2, 1, 28, 28) and resized.dtype == numpy.float32
    assert resized.min() >= -1 - 1e-6 and resized.max() <= 1 + 1e-6
    numpy.testing.assert_allclose(metrics.resize_images(numpy.full((1, 1, size, size), -1.0)), -1.0, atol=1e-6)


def test_resize_matches_pytorch_bilinear_when_enlarging_and_area_when_shrinking(torch):
    functional = torch.nn.functional
    small = rng(1).uniform(-1, 1, (2, 1, 8, 8))
    enlarged = functional.interpolate(torch.from_numpy(small), size=(28, 28), mode="bilinear", align_corners=False)
    numpy.testing.assert_allclose(metrics.resize_images(small), enlarged.numpy(), atol=1e-6)
    large = rng(2).uniform(-1, 1, (2, 1, 56, 84))  # integer ratios, where PyTorch's area is exact
    shrunk = functional.interpolate(torch.from_numpy(large), size=(28, 28), mode="area")
    numpy.testing.assert_allclose(metrics.resize_images(large), shrunk.numpy(), atol=1e-6)


def test_digits_padded_to_32x32_are_still_recognised():
    _, test_set = held_out_split()
    padded = numpy.pad(test_set.images[:500], ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=-1.0)
    accuracy = numpy.mean(metrics.load_classifier().predict(padded) == test_set.labels[:500])
    assert accuracy > 0.9


# --- classifier FID and Inception score ----------------------------------------------------------

@pytest.fixture(scope="module")
def halves():
    """Two disjoint halves of the bundled MNIST 5k (2,500 digits each, every class in both)."""
    order = rng(7).permutation(len(MNIST))
    return MNIST.images[order[:2500]], MNIST.images[order[2500:]]


@pytest.fixture(scope="module")
def real_vs_real(halves):
    return metrics.classifier_fid(*halves)


def total_feature_variance():
    """tr S of the bundled MNIST features: the scale of the classifier FID."""
    return float(numpy.trace(metrics.real_statistics()[1]))


def test_classifier_fid_of_two_halves_of_mnist_is_under_two_percent_of_the_feature_variance(real_vs_real):
    assert 0 <= real_vs_real < 0.02 * total_feature_variance()


def test_classifier_fid_of_uniform_noise_is_over_ten_times_real_vs_real(halves, real_vs_real):
    noise = rng(3).uniform(-1, 1, (2500, 1, 28, 28))
    assert metrics.classifier_fid(noise, halves[1]) > 10 * real_vs_real


def test_classifier_fid_of_blank_images_is_over_ten_times_real_vs_real(halves, real_vs_real):
    black = numpy.full((500, 1, 28, 28), -1.0)  # constant features: a singular covariance
    assert metrics.classifier_fid(black, halves[1]) > 10 * real_vs_real


def test_classifier_fid_defaults_to_the_bundled_mnist_statistics(halves):
    mu, sigma = metrics.real_statistics()
    assert mu.shape == (128,) and sigma.shape == (128, 128) and not mu.flags.writeable
    assert metrics.classifier_fid(halves[0]) < 0.02 * total_feature_variance()


def test_classifier_inception_score_of_real_digits_is_near_ten():
    score = metrics.classifier_inception_score(MNIST.images[::5])  # 1,000 digits, 100 per class
    assert 9.0 < score <= 10.0


def test_classifier_inception_score_of_one_repeated_digit_is_one():
    repeated = numpy.repeat(MNIST.images[:1], 300, axis=0)
    assert metrics.classifier_inception_score(repeated) == pytest.approx(1.0, abs=1e-6)


def test_classifier_inception_score_splits_average_the_chunks():
    images = MNIST.images[:400]
    chunks = [metrics.classifier_inception_score(images[i:i + 100]) for i in range(0, 400, 100)]
    assert metrics.classifier_inception_score(images, splits=4) == pytest.approx(numpy.mean(chunks))


# --- class balance and accuracy ---------------------------------------------------------------------

def test_label_balance_of_uniform_labels_covers_all_classes_with_zero_kl():
    balance = metrics.label_balance(numpy.arange(1000) % 10)
    assert balance["classes_covered"] == 10 and balance["kl_from_uniform"] == pytest.approx(0.0, abs=1e-12)
    assert balance["counts"] == [100] * 10 and json.loads(json.dumps(balance)) == balance


def test_label_balance_of_one_class_has_kl_log_ten():
    balance = metrics.label_balance(numpy.full(50, 3))
    assert balance["classes_covered"] == 1 and balance["kl_from_uniform"] == pytest.approx(math.log(10))


def test_class_balance_detects_a_generator_of_digits_zero_to_four_only():
    low_digits = MNIST.images[MNIST.labels < 5][::2]  # 1,250 images
    balance = metrics.class_balance(low_digits)
    assert balance["classes_covered"] == 5
    assert sum(balance["fractions"][:5]) > 0.97
    assert balance["kl_from_uniform"] == pytest.approx(math.log(2), abs=0.1)


def test_class_accuracy_with_true_labels_is_high_and_with_shuffled_labels_near_chance():
    _, test_set = held_out_split()
    result = metrics.class_accuracy(test_set.images, test_set.labels)
    assert result["accuracy"] > 0.95 and all(value > 0.85 for value in result["per_class_accuracy"])
    assert sum(map(sum, result["confusion"])) == len(test_set)
    shuffled = rng(4).permutation(test_set.labels)
    assert abs(metrics.class_accuracy(test_set.images, shuffled)["accuracy"] - 0.1) < 0.04


def test_class_accuracy_reports_none_for_a_class_never_requested():
    result = metrics.class_accuracy(MNIST.images[:20], numpy.zeros(20, dtype=numpy.int64))
    assert result["per_class_count"][0] == 20 and result["per_class_accuracy"][1:] == [None] * 9


# --- code purity ---------------------------------------------------------------------------------

def test_code_purity_of_a_perfect_permuted_mapping_is_one():
    codes = numpy.arange(1000) % 10
    result = metrics.code_purity(codes, (codes * 3 + 1) % 10)
    assert result["purity"] == 1.0 and result["assignment_accuracy"] == 1.0
    assert result["distinct_classes"] == 10
    assert result["code_to_class"] == {code: (code * 3 + 1) % 10 for code in range(10)}


def test_code_purity_of_codes_unrelated_to_classes_is_low():
    result = metrics.code_purity(rng(5).integers(0, 10, 5000), rng(6).integers(0, 10, 5000))
    assert result["purity"] < 0.15 and result["assignment_accuracy"] < 0.15


def test_code_purity_of_every_code_on_one_class_is_pure_but_maps_to_one_class():
    result = metrics.code_purity(numpy.arange(100) % 10, numpy.full(100, 7))
    assert result["purity"] == 1.0 and result["distinct_classes"] == 1
    assert result["assignment_accuracy"] == pytest.approx(0.1)


def test_code_purity_rejects_labels_of_another_length():
    with pytest.raises(ValueError, match=r"predicted_labels must have shape \(10,\)"):
        metrics.code_purity(numpy.zeros(10, dtype=int), numpy.zeros(9, dtype=int))


# --- bad inputs ----------------------------------------------------------------------------------

BAD_IMAGES = [
    (numpy.zeros((4, 28, 28)), r"\(4, 28, 28\) \(3-D\); expected images \(N, 1, H, W\)"),
    (numpy.zeros((4, 3, 28, 28)), "3 channels"),
    (numpy.zeros((0, 1, 28, 28)), "empty"),
    (numpy.full((2, 1, 28, 28), numpy.nan), "2 of 2 images contain NaN"),
    (numpy.full((2, 1, 28, 28), 255.0), r"values lie in \[255, 255\]; expected .* \[-1, 1\]"),
    (numpy.array([["a"]]), "not numbers"),
]


@pytest.mark.parametrize("images, message", BAD_IMAGES)
@pytest.mark.parametrize("metric", [metrics.classifier_fid, metrics.classifier_inception_score,
                                    metrics.class_balance, metrics.feature_statistics,
                                    metrics.load_classifier().features])
def test_bad_images_raise_one_value_error_naming_the_problem(metric, images, message):
    with pytest.raises(ValueError, match=message):
        metric(images)


def test_class_accuracy_rejects_labels_out_of_range_or_of_the_wrong_length():
    images = MNIST.images[:4]
    with pytest.raises(ValueError, match=r"must lie in 0\.\.9"):
        metrics.class_accuracy(images, [0, 1, 2, 10])
    with pytest.raises(ValueError, match=r"must have shape \(4,\)"):
        metrics.class_accuracy(images, [0, 1])


def test_feature_statistics_needs_two_images():
    with pytest.raises(ValueError, match="at least 2 images"):
        metrics.feature_statistics(MNIST.images[:1])
