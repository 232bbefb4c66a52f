"""Sample-quality metrics for toy distributions, on NumPy arrays of shape (N, D).

* ``mode_statistics``: how many modes of a Gaussian mixture a generator covers and how many
  of its samples land near a mode (the high-quality-sample convention of VEEGAN,
  Srivastava et al. 2017, used for the ring and grid mixtures of Metz et al. 2017).
* ``mmd_rbf``: the unbiased squared maximum mean discrepancy (Gretton et al. 2012) with a
  sum of Gaussian kernels.
* ``energy_distance``: Szekely's energy distance between the two empirical distributions.
* ``toy_metrics``: the dictionary the trainer writes to ``metrics.json``.

Pairwise quantities are computed in row blocks, so memory stays bounded for large N; the
cost is O(N M D) time.
"""

from __future__ import annotations

import math

import numpy

#: the most distances one block of a pairwise computation holds (512 KiB: stays in cache)
_BLOCK_ENTRIES = 1 << 16
#: the kernel widths of ``mmd_rbf``'s default, as multiples of the median pairwise distance
MEDIAN_MULTIPLIERS = (0.5, 1.0, 2.0)
#: the seed of the reference sample ``toy_metrics`` draws when it is given none
REFERENCE_SEED = 1234


def _points(owner: str, label: str, array, dim: int | None = None, min_rows: int = 1,
            finite: bool = True) -> numpy.ndarray:
    """``array`` as float64 (N, D), checked: 2-D, D == dim if given, N >= min_rows, finite."""
    array = numpy.asarray(array, dtype=numpy.float64)
    if array.ndim != 2:
        raise ValueError(f"{owner}: {label} must be a 2-D array (N, D), got shape {array.shape}")
    if dim is not None and array.shape[1] != dim:
        raise ValueError(f"{owner}: {label} must have {dim} columns to match, got shape {array.shape}")
    if array.shape[0] < min_rows:
        raise ValueError(f"{owner}: {label} needs at least {min_rows} rows, got shape {array.shape}")
    if finite and not numpy.isfinite(array).all():
        raise ValueError(f"{owner}: {label} contains NaN or infinite values")
    return array


def _blocks(num_rows: int, num_columns: int):
    """Row slices whose (rows, num_columns) blocks hold at most ``_BLOCK_ENTRIES`` entries."""
    step = max(1, _BLOCK_ENTRIES // max(num_columns, 1))
    for start in range(0, num_rows, step):
        yield slice(start, min(start + step, num_rows))


def _squared_distances(a: numpy.ndarray, b: numpy.ndarray) -> numpy.ndarray:
    """|a_i - b_j|^2, (N, M), summed coordinate by coordinate so that a_i == b_j gives exactly 0
    (the expansion |a|^2 - 2 a.b + |b|^2 cancels badly and leaves noise on the diagonal)."""
    result = numpy.zeros((a.shape[0], b.shape[0]))
    for column in range(a.shape[1]):
        result += (a[:, column, None] - b[None, :, column]) ** 2
    return result


def mode_statistics(samples, modes, std, quality_stds: float = 3.0, min_fraction: float = 0.01) -> dict:
    """Mode coverage of ``samples`` (N, D) for a mixture with centres ``modes`` (K, D) and std ``std``.

    A sample is high quality when its Euclidean distance to the nearest centre is at most
    ``quality_stds * std``; it is then assigned to that mode. Returns
      num_modes: K;   mode_counts: high-quality samples per mode (list of K ints);
      high_quality_fraction: high-quality samples / N. For perfect samples it is the chi-square
        mass P(chi^2_D <= quality_stds^2): 0.997 in 1-D but 1 - exp(-9/2) = 0.989 in 2-D;
      modes_covered: modes with count >= max(1, min_fraction * N). The threshold is a share of
        *all* samples so that a generator whose mass sweeps across the plane, leaving a few
        stray points near every centre, is not credited with modes it puts almost no mass on;
      mode_kl: KL(p || uniform) = sum_k p_k log(K p_k) for p = mode_counts / sum(mode_counts),
        0 when the high-quality samples are spread evenly, log K when they all sit on one
        mode. With no high-quality sample at all p is undefined and mode_kl is log K, the
        largest value KL(p || uniform) can take, so a generator that misses every mode never
        scores better than one that finds a single mode.
    Non-finite samples (a diverged generator) count as low quality.
    """
    modes = _points("mode_statistics", "modes", modes)
    samples = _points("mode_statistics", "samples", samples, dim=modes.shape[1], finite=False)
    std = float(std)
    if not (std > 0 and math.isfinite(std)):
        raise ValueError(f"mode_statistics: std must be a positive finite number, got {std!r}")
    if not quality_stds > 0:
        raise ValueError(f"mode_statistics: quality_stds must be positive, got {quality_stds!r}")
    if not 0 <= min_fraction <= 1:
        raise ValueError(f"mode_statistics: min_fraction must be in [0, 1], got {min_fraction!r}")

    num_samples, num_modes = samples.shape[0], modes.shape[0]
    nearest_mode = numpy.zeros(num_samples, dtype=numpy.int64)
    nearest_distance = numpy.full(num_samples, numpy.inf)
    with numpy.errstate(invalid="ignore", over="ignore"):
        for rows in _blocks(num_samples, num_modes):
            squared = _squared_distances(samples[rows], modes)  # (rows, K)
            squared[~numpy.isfinite(squared)] = numpy.inf
            nearest_mode[rows] = squared.argmin(axis=1)
            nearest_distance[rows] = numpy.sqrt(squared.min(axis=1))
    high_quality = nearest_distance <= quality_stds * std
    counts = numpy.bincount(nearest_mode[high_quality], minlength=num_modes)

    covered = int(numpy.sum(counts >= max(1.0, min_fraction * num_samples)))
    total = counts.sum()
    if total == 0:
        mode_kl = math.log(num_modes)
    else:
        shares = counts[counts > 0] / total  # 0 log 0 = 0
        mode_kl = float(numpy.sum(shares * numpy.log(num_modes * shares)))
    return {
        "num_modes": int(num_modes),
        "modes_covered": covered,
        "high_quality_fraction": float(total / num_samples),
        "mode_kl": max(mode_kl, 0.0),  # >= 0 in exact arithmetic; clip rounding
        "mode_counts": [int(count) for count in counts],
    }


def median_heuristic(x, y=None, max_points: int = 1000) -> float:
    """The median of |a - b| over distinct pairs of the pooled points (Gretton et al. 2012):
    a kernel width on the scale of the data. Uses ``max_points`` evenly spaced pooled rows
    (deterministic, and both samples are represented); falls back to 1.0 when the median
    is 0 (most points coincide)."""
    pooled = _points("median_heuristic", "x", x)
    if y is not None:
        pooled = numpy.concatenate([pooled, _points("median_heuristic", "y", y, dim=pooled.shape[1])])
    if pooled.shape[0] < 2:
        raise ValueError(f"median_heuristic: needs at least 2 points, got {pooled.shape[0]}")
    if pooled.shape[0] > max_points:
        pooled = pooled[numpy.linspace(0, pooled.shape[0] - 1, max_points).astype(numpy.int64)]
    upper = numpy.triu_indices(pooled.shape[0], k=1)
    median = float(numpy.median(numpy.sqrt(_squared_distances(pooled, pooled)[upper])))
    return median if median > 0 else 1.0


def _kernel_sum(a, b, bandwidths, same: bool) -> float:
    """sum_{i, j} sum_s exp(-|a_i - b_j|^2 / (2 s^2)), leaving out i == j when ``same``."""
    total = 0.0
    for rows in _blocks(a.shape[0], b.shape[0]):
        squared = _squared_distances(a[rows], b)
        kernel = numpy.empty_like(squared)
        for bandwidth in bandwidths:
            numpy.multiply(squared, -0.5 / (bandwidth * bandwidth), out=kernel)
            total += float(numpy.exp(kernel, out=kernel).sum())
    if same:
        total -= a.shape[0] * len(bandwidths)  # the diagonal: exp(0) = 1 per kernel
    return total


def mmd_rbf(x, y, bandwidths=None) -> float:
    """Unbiased squared MMD (Gretton et al. 2012, eq. 3) between x (m, D) and y (n, D):

        MMD_u^2 = sum_{i != j} k(x_i, x_j) / (m (m-1)) + sum_{i != j} k(y_i, y_j) / (n (n-1))
                  - 2 sum_{i, j} k(x_i, y_j) / (m n),   k(a, b) = sum_s exp(-|a - b|^2 / (2 s^2))
    ``bandwidths`` s: a number or a sequence; default ``median_heuristic(x, y)`` times
    (0.5, 1, 2). Being unbiased, the estimate is centred on 0 when x and y come from the same
    distribution, so it can be slightly negative.
    """
    x = _points("mmd_rbf", "x", x, min_rows=2)
    y = _points("mmd_rbf", "y", y, dim=x.shape[1], min_rows=2)
    if bandwidths is None:
        median = median_heuristic(x, y)
        bandwidths = [multiplier * median for multiplier in MEDIAN_MULTIPLIERS]
    try:
        widths = [float(s) for s in numpy.asarray(bandwidths, dtype=numpy.float64).ravel()]
    except (TypeError, ValueError):
        widths = []
    if not widths or not all(s > 0 and math.isfinite(s) for s in widths):
        raise ValueError(f"mmd_rbf: bandwidths must be positive finite numbers, got {bandwidths!r}")
    # Centring on the pooled mean changes no distance; it keeps coordinates small.
    centre = numpy.concatenate([x, y]).mean(axis=0)
    x, y = x - centre, y - centre
    m, n = x.shape[0], y.shape[0]
    return (_kernel_sum(x, x, widths, same=True) / (m * (m - 1))
            + _kernel_sum(y, y, widths, same=True) / (n * (n - 1))
            - 2.0 * _kernel_sum(x, y, widths, same=False) / (m * n))


def _mean_distance(a, b) -> float:
    """(1 / (N M)) sum_{i, j} |a_i - b_j|."""
    total = 0.0
    for rows in _blocks(a.shape[0], b.shape[0]):
        total += float(numpy.sqrt(_squared_distances(a[rows], b)).sum())
    return total / (a.shape[0] * b.shape[0])


def energy_distance(x, y) -> float:
    """Energy distance (Szekely & Rizzo) of the empirical distributions of x (m, D), y (n, D):

        2 E|X - Y| - E|X - X'| - E|Y - Y'|,   each E an average over all pairs (i == j included)
    Zero exactly when the two samples are equal as multisets, positive otherwise. In 1-D it
    is the square of scipy.stats.energy_distance.
    """
    x = _points("energy_distance", "x", x)
    y = _points("energy_distance", "y", y, dim=x.shape[1])
    value = 2.0 * _mean_distance(x, y) - _mean_distance(x, x) - _mean_distance(y, y)
    return max(value, 0.0)  # >= 0 in exact arithmetic; clip rounding


def toy_metrics(samples, dataset, reference=None, max_points: int = 1000) -> dict:
    """The final figures of a toy run, JSON-serialisable: ``num_samples``, ``finite_fraction``,
    ``mmd`` (``mmd_rbf``) and ``energy_distance`` against ``reference`` samples, plus
    ``mode_statistics`` when the dataset has modes.

    Without ``reference``, ``max_points`` samples are drawn from ``dataset`` with the fixed
    seed ``REFERENCE_SEED``, so every run of a dataset is compared with the same sample.
    The MMD kernel widths come from the reference alone (median heuristic times
    (0.5, 1, 2)), so MMD values of different generators on one dataset use the same kernel
    and compare. Both sides are subsampled to ``max_points`` rows (fixed seed) to bound the
    O(N^2) cost; MMD and energy distance are computed on finite samples only, and are None
    when fewer than 2 remain.
    """
    samples = _points("toy_metrics", "samples", samples, dim=dataset.dim, finite=False)
    generator = numpy.random.default_rng(REFERENCE_SEED)
    if reference is None:
        reference = dataset.sample(max_points, generator)
    reference = _points("toy_metrics", "reference", reference, dim=dataset.dim, min_rows=2)

    finite = numpy.isfinite(samples).all(axis=1)
    result = {
        "num_samples": int(samples.shape[0]),
        "finite_fraction": float(finite.mean()),
    }
    if dataset.modes is not None:
        result.update(mode_statistics(samples, dataset.modes, dataset.mode_std))

    def subsample(points):
        if points.shape[0] <= max_points:
            return points
        return points[numpy.sort(generator.choice(points.shape[0], max_points, replace=False))]

    finite_samples, reference = subsample(samples[finite]), subsample(reference)
    if finite_samples.shape[0] < 2:
        result.update(mmd=None, energy_distance=None)
        return result
    median = median_heuristic(reference)
    result["mmd"] = mmd_rbf(finite_samples, reference, [s * median for s in MEDIAN_MULTIPLIERS])
    result["energy_distance"] = energy_distance(finite_samples, reference)
    return result
