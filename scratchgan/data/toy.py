"""Toy distributions for GAN experiments: 1-D Gaussians, the 2-D mixtures of the mode-collapse
literature, swiss roll, moons, circles and the 2-D Iris data of seed 001.

Each distribution has a ``name``, a dimension ``dim``, ``sample(n, generator)`` returning a
float64 array of shape (n, dim), and, where it is a mixture of equal-weight isotropic
Gaussians, its mode centres ``modes`` (K, dim) and their common ``mode_std`` (both None
otherwise), which the mode-coverage metrics of ``scratchgan.metrics.toy`` read. Sampling
takes an explicit ``numpy.random.Generator`` so that every draw is reproducible.

    ring = scratchgan.data.toy.get("ring8")
    real = ring.sample(512, numpy.random.default_rng(0))    # (512, 2) float64
"""

from __future__ import annotations

import math

import numpy


def _number(owner: str, label: str, value, kind: str = "finite") -> float:
    """``value`` as a float that is finite and, for ``kind`` "positive" / "non-negative", > 0 / >= 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    allowed = {"finite": True, "positive": number > 0, "non-negative": number >= 0}[kind]
    if not (math.isfinite(number) and allowed):
        article = "a" if kind == "finite" else f"a {kind}"
        raise ValueError(f"{owner}: {label} must be {article} finite number, got {value!r}")
    return number


def _positive(owner: str, label: str, value) -> float:
    return _number(owner, label, value, "positive")


def _non_negative(owner: str, label: str, value) -> float:
    return _number(owner, label, value, "non-negative")


def _positive_int(owner: str, label: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or value < 1:
        raise ValueError(f"{owner}: {label} must be a positive integer, got {value!r}")
    return int(value)


def _read_only(array) -> numpy.ndarray:
    array = numpy.array(array, dtype=numpy.float64)
    array.setflags(write=False)
    return array


class ToyDataset:
    """A distribution to sample from: ``sample(n, generator) -> (n, dim) float64``."""

    name = ""
    dim = 2
    #: a one-line description; ``{...}`` fields are filled from ``params()``
    summary = ""

    def __init__(self):
        self.modes = None       # (K, dim) mode centres, or None
        self.mode_std = None    # the std of every mode, or None

    def sample(self, n: int, generator: numpy.random.Generator) -> numpy.ndarray:
        """n independent draws, shape (n, dim), float64."""
        if isinstance(n, bool) or not isinstance(n, (int, numpy.integer)) or n < 0:
            raise ValueError(f"{self.name}.sample: n must be a non-negative integer, got {n!r}")
        if not isinstance(generator, numpy.random.Generator):
            raise TypeError(f"{self.name}.sample: generator must be a numpy.random.Generator "
                            f"(e.g. numpy.random.default_rng(0)), got {type(generator).__name__}")
        samples = numpy.asarray(self._sample(int(n), generator), dtype=numpy.float64)
        return samples.reshape(int(n), self.dim)

    def _sample(self, n: int, generator: numpy.random.Generator) -> numpy.ndarray:
        raise NotImplementedError(f"{self.name}: sampling not defined")

    def params(self) -> dict:
        return {}

    def describe(self) -> str:
        """One line for ``scratchgan list``: name, dimension and what the distribution is."""
        return f"{self.name:<11} {self.dim}-D  {self.summary.format(**self.params())}"

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


class GaussianMixture(ToyDataset):
    """Equal-weight mixture of isotropic Gaussians N(mu_k, std^2 I), k = 1..K:
    draw k uniformly, then x = mu_k + std * eps, eps ~ N(0, I)."""

    def __init__(self, centres, std):
        super().__init__()
        self.modes = _read_only(centres)
        self.mode_std = _positive(self.name, "std", std)
        self.dim = self.modes.shape[1]

    def _sample(self, n, generator):
        components = generator.integers(0, len(self.modes), size=n)
        return self.modes[components] + self.mode_std * generator.standard_normal((n, self.dim))


class Gaussian1D(GaussianMixture):
    """x ~ N(mean, std^2): the single 1-D Gaussian of the seed's first GAN examples."""

    name = "gaussian1d"
    summary = "N(mean={mean}, std={std})"

    def __init__(self, mean=4.0, std=0.5):
        self.mean = _number(self.name, "mean", mean)
        super().__init__([[self.mean]], std)

    def params(self):
        return {"mean": self.mean, "std": self.mode_std}


class Bimodal1D(GaussianMixture):
    """x ~ 1/2 N(-offset, std^2) + 1/2 N(offset, std^2): the smallest case of mode collapse."""

    name = "bimodal1d"
    summary = "1/2 N(-{offset}, {std}^2) + 1/2 N({offset}, {std}^2)"

    def __init__(self, offset=2.0, std=0.4):
        self.offset = _positive(self.name, "offset", offset)
        super().__init__([[-self.offset], [self.offset]], std)

    def params(self):
        return {"offset": self.offset, "std": self.mode_std}


class Ring(GaussianMixture):
    """K Gaussians at mu_k = radius (cos 2 pi k/K, sin 2 pi k/K), std 0.02 by default: the
    mixture of Metz et al. 2017 (unrolled GANs) on which mode collapse is easy to see."""

    name = "ring8"
    summary = "{num_modes} Gaussians evenly spaced on a circle of radius {radius}, std {std}"

    def __init__(self, num_modes=8, radius=2.0, std=0.02):
        self.num_modes = _positive_int(self.name, "num_modes", num_modes)
        self.radius = _positive(self.name, "radius", radius)
        angles = 2 * numpy.pi * numpy.arange(self.num_modes) / self.num_modes
        super().__init__(self.radius * numpy.stack([numpy.cos(angles), numpy.sin(angles)], axis=1), std)

    def params(self):
        return {"num_modes": self.num_modes, "radius": self.radius, "std": self.mode_std}


class Grid(GaussianMixture):
    """size x size Gaussians at mu_ij = spacing (i - (size-1)/2, j - (size-1)/2), std 0.05:
    with the defaults the 25 modes {-4, -2, 0, 2, 4}^2 of the grid benchmark (VEEGAN, PacGAN)."""

    name = "grid25"
    summary = "{size}x{size} grid of Gaussians, spacing {spacing}, std {std}"

    def __init__(self, size=5, spacing=2.0, std=0.05):
        self.size = _positive_int(self.name, "size", size)
        self.spacing = _positive(self.name, "spacing", spacing)
        axis = self.spacing * (numpy.arange(self.size) - (self.size - 1) / 2)
        grid_x, grid_y = numpy.meshgrid(axis, axis, indexing="ij")
        super().__init__(numpy.stack([grid_x.ravel(), grid_y.ravel()], axis=1), std)

    def params(self):
        return {"size": self.size, "spacing": self.spacing, "std": self.mode_std}


class SwissRoll(ToyDataset):
    """t = 1.5 pi (1 + 2u), u ~ U(0, 1);  x = scale * t (cos t, sin t) / (4.5 pi) + noise * eps,
    eps ~ N(0, I): the 2-D swiss roll, scaled so that the curve lies in [-scale, scale]^2."""

    name = "swiss_roll"
    summary = "2-D swiss roll in [-{scale}, {scale}]^2, noise std {noise}"

    def __init__(self, scale=2.0, noise=0.05):
        super().__init__()
        self.scale = _positive(self.name, "scale", scale)
        self.noise = _non_negative(self.name, "noise", noise)

    def params(self):
        return {"scale": self.scale, "noise": self.noise}

    def _sample(self, n, generator):
        t = 1.5 * numpy.pi * (1 + 2 * generator.random(n))
        curve = t[:, None] * numpy.stack([numpy.cos(t), numpy.sin(t)], axis=1)  # (n, 2)
        return self.scale * curve / (4.5 * numpy.pi) + self.noise * generator.standard_normal((n, 2))


class Moons(ToyDataset):
    """Two interleaved half circles, each drawn with probability 1/2, theta ~ U(0, pi):
    upper (cos theta - 1/2, sin theta - 1/4), lower (1/2 - cos theta, 1/4 - sin theta),
    plus noise * eps, eps ~ N(0, I). (scikit-learn's make_moons, shifted to be centred at 0.)"""

    name = "moons"
    summary = "two interleaved half circles of radius 1, noise std {noise}"

    def __init__(self, noise=0.05):
        super().__init__()
        self.noise = _non_negative(self.name, "noise", noise)

    def params(self):
        return {"noise": self.noise}

    def _sample(self, n, generator):
        theta = numpy.pi * generator.random(n)
        upper = numpy.stack([numpy.cos(theta) - 0.5, numpy.sin(theta) - 0.25], axis=1)
        sign = numpy.where(generator.random(n) < 0.5, 1.0, -1.0)[:, None]  # +1 upper, -1 lower
        return sign * upper + self.noise * generator.standard_normal((n, 2))


class Circles(ToyDataset):
    """Two concentric circles, each drawn with probability 1/2, theta ~ U(0, 2 pi):
    x = r (cos theta, sin theta) + noise * eps with r = 1 (outer) or r = factor (inner)."""

    name = "circles"
    summary = "two concentric circles of radii 1 and {factor}, noise std {noise}"

    def __init__(self, factor=0.5, noise=0.05):
        super().__init__()
        self.factor = _positive(self.name, "factor", factor)
        self.noise = _non_negative(self.name, "noise", noise)

    def params(self):
        return {"factor": self.factor, "noise": self.noise}

    def _sample(self, n, generator):
        theta = 2 * numpy.pi * generator.random(n)
        radius = numpy.where(generator.random(n) < 0.5, 1.0, self.factor)[:, None]
        unit = numpy.stack([numpy.cos(theta), numpy.sin(theta)], axis=1)
        return radius * unit + self.noise * generator.standard_normal((n, 2))


class Iris2D(ToyDataset):
    """The 150 Iris flowers' (petal length, petal width) in cm (Fisher 1936), from the copy
    bundled with scikit-learn (no download); sampling draws rows uniformly with replacement,
    i.e. from the empirical distribution. Seed 001 trains its GAN on this '2D Iris data'."""

    name = "iris2d"
    summary = "the 150 Iris flowers' (petal length, petal width) in cm, drawn with replacement"

    def __init__(self):
        super().__init__()
        self._data = None

    @property
    def data(self) -> numpy.ndarray:
        """The 150 rows, (150, 2) float64 (read-only); loaded on first use."""
        if self._data is None:
            try:
                from sklearn.datasets import load_iris
            except ImportError:
                raise ImportError("iris2d: the Iris data comes from scikit-learn's bundled copy; "
                                  "pip install scikit-learn") from None
            self._data = _read_only(load_iris().data[:, 2:4])  # petal length, petal width
        return self._data

    def _sample(self, n, generator):
        return self.data[generator.integers(0, len(self.data), size=n)]


_REGISTRY = {cls.name: cls for cls in (
    Gaussian1D, Bimodal1D, Ring, Grid, SwissRoll, Moons, Circles, Iris2D,
)}


def names() -> list[str]:
    """The registered toy dataset names."""
    return list(_REGISTRY)


def get(name: str, **params) -> ToyDataset:
    """The toy dataset called ``name``, built with ``params`` (e.g. get("ring8", std=0.05))."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown toy dataset {name!r}; expected one of: {', '.join(_REGISTRY)}")
    try:
        return _REGISTRY[name](**params)
    except TypeError as error:
        raise ValueError(f"toy dataset {name!r}: bad parameters {params}: {error}") from None
