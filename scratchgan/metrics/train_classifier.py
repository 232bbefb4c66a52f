"""Train the digit classifier of ``scratchgan.metrics.images`` with scratchgan itself.

    python -m scratchgan.metrics.train_classifier [--out PATH] [--epochs N] [--seed S]

The data are the bundled MNIST 5k (``scratchgan.data.images.get("mnist")``, 500 digits per
class). ``held_out_split`` sets aside a fixed 1,000 of them (``dataset.split(1000,
numpy.random.default_rng(0))``, whatever ``--seed``) and trains on the other 4,000.

Training: ``DigitClassifier`` (scratchgan's Conv2d, LeakyReLU, Linear), cross-entropy
(``scratchgan.nn.functional.cross_entropy``), Adam (lr 1e-3, betas (0.9, 0.999), batch 64)
with a cosine decay of the learning rate to 0 over the epochs. Each training batch is
augmented (``random_affine``): every digit is rotated by up to 12 degrees, scaled by
0.9-1.1 and shifted by up to 2 pixels, which helps a net that sees only 4,000 digits (the
same recipe with 2-pixel shifts alone reached 97.2% after 40 epochs). The script prints
the loss and held-out accuracy of each epoch and writes the state dict with JSON metadata
(held-out accuracy, epochs, seed, architecture, augmentation, scratchgan version) to ``--out``.

The shipped ``digit_classifier.npz`` came from the defaults (``--epochs 30 --seed 0``) with
the NumPy backend: 97.5% held-out accuracy (99.6% on the training images). It took 11.4
minutes of wall time (7.2 minutes of CPU time) on a 2-core machine that other jobs shared;
an epoch costs about 3 seconds on idle cores.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy
import scipy.ndimage

import scratchgan as sg
from scratchgan.data import images as image_data
from scratchgan.metrics import images as metrics

#: the held-out split: this many images, drawn with numpy.random.default_rng(SPLIT_SEED)
TEST_COUNT = 1000
SPLIT_SEED = 0
BATCH_SIZE = 64
LEARNING_RATE = 1e-3
MAX_DEGREES = 12.0
MAX_SCALE = 0.1
MAX_SHIFT = 2.0  # pixels, each axis
EPOCHS = 30


def held_out_split():
    """(train, test) ``ImageDataset``s of the bundled MNIST 5k: 4,000 and 1,000 images, fixed."""
    return image_data.get("mnist").split(TEST_COUNT, numpy.random.default_rng(SPLIT_SEED))


def random_affine(images: numpy.ndarray, generator: numpy.random.Generator,
                  max_degrees: float = MAX_DEGREES, max_scale: float = MAX_SCALE,
                  max_shift: float = MAX_SHIFT) -> numpy.ndarray:
    """Each image (N, 1, H, W) rotated about its centre by an angle in [-max_degrees, max_degrees],
    scaled by a factor in [1 - max_scale, 1 + max_scale] and shifted by up to ``max_shift``
    pixels per axis (all uniform, drawn per image), with bilinear interpolation; what comes
    from outside the image is background (-1). Output pixel o reads the input at
    A o + b, A = R(angle) / scale, b = c - A (c + shift), c the centre (scipy.ndimage)."""
    count = len(images)
    angles = numpy.deg2rad(generator.uniform(-max_degrees, max_degrees, count))
    scales = generator.uniform(1 - max_scale, 1 + max_scale, count)
    shifts = generator.uniform(-max_shift, max_shift, (count, 2))
    centre = (numpy.array(images.shape[2:]) - 1) / 2
    transformed = numpy.empty_like(images)
    for index in range(count):
        cos, sin = math.cos(angles[index]), math.sin(angles[index])
        matrix = numpy.array([[cos, -sin], [sin, cos]]) / scales[index]
        offset = centre - matrix @ (centre + shifts[index])
        transformed[index, 0] = scipy.ndimage.affine_transform(images[index, 0], matrix, offset,
                                                               order=1, cval=-1.0)
    return transformed


def accuracy(model: metrics.DigitClassifier, dataset) -> float:
    """Fraction of ``dataset``'s images whose predicted class is their label."""
    return float(numpy.mean(model.predict(dataset.images) == dataset.labels))


def train(epochs: int = EPOCHS, seed: int = 0, log=print):
    """(model, metadata): a DigitClassifier trained on the 4,000 training images."""
    sg.manual_seed(seed)  # the initial weights
    generator = numpy.random.default_rng(seed)  # batch order and shifts
    train_set, test_set = held_out_split()
    model = metrics.DigitClassifier(**metrics.ARCHITECTURE)
    optimizer = sg.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    steps_per_epoch = train_set.num_batches(BATCH_SIZE)
    total_steps, step = epochs * steps_per_epoch, 0
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        losses = []
        for images, labels in train_set.batches(BATCH_SIZE, generator):
            # cosine decay: lr_t = lr (1 + cos(pi t / T)) / 2
            optimizer.param_groups[0]["lr"] = LEARNING_RATE * 0.5 * (1 + math.cos(math.pi * step / total_steps))
            loss = sg.nn.functional.cross_entropy(model(sg.Tensor(random_affine(images, generator))), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            step += 1
        test_accuracy = accuracy(model, test_set)
        log(f"epoch {epoch:2d}/{epochs}  loss {numpy.mean(losses):.4f}  held-out accuracy "
            f"{test_accuracy:.4f}  ({time.perf_counter() - started:.0f} s)")
    metadata = {
        "test_accuracy": test_accuracy,
        "train_accuracy": accuracy(model, train_set),
        "epochs": epochs,
        "seed": seed,
        "dataset": "mnist (bundled 5k)",
        "split": {"test_count": TEST_COUNT, "split_seed": SPLIT_SEED, "train_count": len(train_set)},
        "optimizer": {"name": "Adam", "lr": LEARNING_RATE, "schedule": "cosine", "batch_size": BATCH_SIZE},
        "augmentation": {"rotation_degrees": MAX_DEGREES, "scale": MAX_SCALE, "shift_pixels": MAX_SHIFT},
        "backend": sg.get_backend(),
        "scratchgan_version": getattr(sg, "__version__", "unknown"),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return model, metadata


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scratchgan.metrics.train_classifier",
                                     description="Train the digit classifier of the image metrics.")
    parser.add_argument("--out", default=metrics.CLASSIFIER_PATH, help="the .npz file to write "
                        "(default: the shipped weights, %(default)s)")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="passes over the 4,000 training images")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, batch order and augmentation")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be a positive integer, got {args.epochs}")
    if args.seed < 0:
        parser.error(f"--seed must be a non-negative integer, got {args.seed}")
    model, metadata = train(args.epochs, args.seed)
    metrics.save_classifier(model, args.out, metadata)
    print(f"held-out accuracy {metadata['test_accuracy']:.4f} on {TEST_COUNT} images; "
          f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
