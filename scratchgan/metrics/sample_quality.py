"""Sample-quality metrics on feature vectors (classifier features of images, or raw toy samples).

* ``kernel_distance``: KID, the unbiased MMD^2 between real and generated features with the
  cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets, with its
  standard deviation (Binkowski et al. 2018, "Demystifying MMD GANs", arXiv:1801.01401).
  Unbiased: its expectation does not depend on the sample size, unlike FID's.
* ``precision_recall``: improved precision and recall (Kynkaenniemi et al. 2019,
  arXiv:1904.06991). Each sample set's manifold is the union of balls around its points,
  of radius the distance to its k-th nearest neighbour; precision is the share of generated
  samples inside the real manifold (fidelity), recall the share of real samples inside the
  generated one (diversity).
* ``density_coverage`` (Naeem et al. 2020, arXiv:2002.09797): density counts how many real
  balls hold each generated sample, divided by k (about 1 when the distributions match, more
  when samples crowd where the real ones are dense); coverage is the share of real balls
  that hold at least one generated sample. Both use the real balls only, so outliers among
  the generated samples do not inflate them.

All use Euclidean distances, computed in float64 in blocks of rows, so 5,000 x 5,000
distances never sit in memory at once.
"""

from __future__ import annotations

import numpy

NEAREST_K = 3  # k of the k-NN radii (Kynkaenniemi et al. and Naeem et al. use 3 and 5)
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000  # as TF-GAN and torch-fidelity
BLOCK_ROWS = 1024


def _features(owner: str, label: str, features, minimum: int) -> numpy.ndarray:
    array = numpy.asarray(features, dtype=numpy.float64)
    if array.ndim != 2 or array.shape[1] < 1:
        raise ValueError(f"{owner}: {label} must be a 2-D array (samples, features), got shape {array.shape}")
    if len(array) < minimum:
        raise ValueError(f"{owner}: {label} has {len(array)} samples; at least {minimum} are needed")
    if not numpy.isfinite(array).all():
        bad = int((~numpy.isfinite(array)).any(axis=1).sum())
        raise ValueError(f"{owner}: {label} holds NaN or infinite values in {bad} of its {len(array)} samples")
    return array


def _pair(owner: str, real, fake, minimum: int):
    real = _features(owner, "real features", real, minimum)
    fake = _features(owner, "generated features", fake, minimum)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"{owner}: real features have {real.shape[1]} dimensions, generated ones "
                         f"{fake.shape[1]}; expected the same")
    return real, fake


def pairwise_distances(a, b) -> numpy.ndarray:
    """Euclidean distances (len(a), len(b)) from ||a||^2 + ||b||^2 - 2 a.b, clipped at 0."""
    squared = (numpy.sum(a * a, axis=1)[:, None] + numpy.sum(b * b, axis=1)[None, :] - 2.0 * (a @ b.T))
    return numpy.sqrt(numpy.maximum(squared, 0.0))


def nearest_neighbour_radii(features, k: int = NEAREST_K) -> numpy.ndarray:
    """Per sample, the distance to its k-th nearest other sample (itself excluded)."""
    features = _features("nearest_neighbour_radii", "features", features, k + 1)
    radii = numpy.empty(len(features))
    for start in range(0, len(features), BLOCK_ROWS):
        distances = pairwise_distances(features[start:start + BLOCK_ROWS], features)
        radii[start:start + BLOCK_ROWS] = numpy.partition(distances, k, axis=1)[:, k]  # index 0: itself
    return radii


def _check_k(owner, k):
    if isinstance(k, bool) or not isinstance(k, (int, numpy.integer)) or k < 1:
        raise ValueError(f"{owner}: k must be a positive integer, got {k!r}")


def precision_recall(real, fake, k: int = NEAREST_K) -> dict:
    """{"precision", "recall"}: the share of generated samples inside the real k-NN manifold,
    and of real samples inside the generated one (Kynkaenniemi et al. 2019)."""
    full = sample_quality(real, fake, k)
    return {"precision": full["precision"], "recall": full["recall"]}


def density_coverage(real, fake, k: int = NEAREST_K) -> dict:
    """{"density", "coverage"} (Naeem et al. 2020): density = sum over generated samples of the
    real balls holding each, / (k M); coverage = the share of real balls holding a generated
    sample, that is of real samples whose nearest generated sample is nearer than their radius."""
    full = sample_quality(real, fake, k)
    return {"density": full["density"], "coverage": full["coverage"]}


def sample_quality(real, fake, k: int = NEAREST_K) -> dict:
    """Precision, recall, density and coverage from one pass over the real-generated distances."""
    _check_k("sample_quality", k)
    real, fake = _pair("sample_quality", real, fake, k + 1)
    real_radii, fake_radii = nearest_neighbour_radii(real, k), nearest_neighbour_radii(fake, k)
    inside_real = numpy.zeros(len(fake), dtype=numpy.int64)  # real balls holding each generated sample
    real_covered = numpy.zeros(len(real), dtype=bool)  # real samples inside some generated ball
    nearest_fake = numpy.full(len(real), numpy.inf)
    for start in range(0, len(real), BLOCK_ROWS):
        rows = slice(start, start + BLOCK_ROWS)
        distances = pairwise_distances(real[rows], fake)  # (block of real, all generated)
        inside_real += (distances < real_radii[rows, None]).sum(axis=0)
        real_covered[rows] = (distances < fake_radii[None, :]).any(axis=1)
        nearest_fake[rows] = distances.min(axis=1)
    return {"precision": float((inside_real > 0).mean()), "recall": float(real_covered.mean()),
            "density": float(inside_real.sum() / (k * len(fake))), "coverage": float((nearest_fake < real_radii).mean())}


def polynomial_kernel(a, b) -> numpy.ndarray:
    """k(x, y) = (x.y / d + 1)^3, d the feature dimension (Binkowski et al.'s KID kernel)."""
    base = a @ b.T / a.shape[1] + 1.0
    return base * base * base  # (a power of 3 by multiplication: several times faster than ** 3)


def unbiased_mmd2(real, fake) -> float:
    """The unbiased estimate of MMD^2 with the polynomial kernel: the means of k over distinct
    real pairs and distinct generated pairs, minus twice the mean over real-generated pairs."""
    m, n = len(real), len(fake)
    k_rr, k_ff, k_rf = polynomial_kernel(real, real), polynomial_kernel(fake, fake), polynomial_kernel(real, fake)
    return float((k_rr.sum() - numpy.trace(k_rr)) / (m * (m - 1)) + (k_ff.sum() - numpy.trace(k_ff)) / (n * (n - 1))
                 - 2.0 * k_rf.mean())


def kernel_distance(real, fake, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE,
                    seed: int = 0) -> dict:
    """{"kid", "kid_std", "subsets", "subset_size"}: the mean and standard deviation of
    ``unbiased_mmd2`` over ``subsets`` random subsets of ``subset_size`` samples of each set
    (drawn without replacement within a subset; the size is cut to the smaller set)."""
    for name, value in (("subsets", subsets), ("subset_size", subset_size)):
        if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or value < 1:
            raise ValueError(f"kernel_distance: {name} must be a positive integer, got {value!r}")
    real, fake = _pair("kernel_distance", real, fake, 2)
    size = min(subset_size, len(real), len(fake))
    generator = numpy.random.default_rng(seed)
    estimates = [unbiased_mmd2(real[generator.choice(len(real), size, replace=False)],
                               fake[generator.choice(len(fake), size, replace=False)]) for _ in range(subsets)]
    return {"kid": float(numpy.mean(estimates)), "kid_std": float(numpy.std(estimates)), "subsets": subsets,
            "subset_size": size}
