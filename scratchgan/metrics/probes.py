"""Probes of a representation: how well digit labels can be read off features f(x).

A representation learnt without labels (BiGAN's and ALI's encoder E(x), an adversarial
autoencoder's codes) is judged by a simple classifier fitted on labelled features of a
training split and scored on a held-out split (Donahue et al. 2017 report 1-nearest-neighbour
accuracy on MNIST in E's space). Both probes here are deterministic:

* ``linear_probe_accuracy``: ridge regression onto one-hot labels of standardised features,
  W = (F^T F + lambda n I)^-1 F^T Y with a bias column, prediction argmax F W (a linear
  least-squares classifier; no iterations, no learning rate);
* ``knn_accuracy``: the majority label of the k nearest training features (Euclidean),
  ties to the nearest.

Compare a probe's accuracy on E(x) with the same probe on the raw pixels and on a randomly
initialised encoder of the same architecture: features worth learning beat both.
"""

from __future__ import annotations

import numpy


def _features(owner, label, features) -> numpy.ndarray:
    features = numpy.asarray(features, dtype=numpy.float64)
    if features.ndim < 2 or len(features) == 0:
        raise ValueError(f"{owner}: {label} must be an array (N, ...) of N >= 1 rows, got shape {features.shape}")
    features = features.reshape(len(features), -1)
    if not numpy.isfinite(features).all():
        raise ValueError(f"{owner}: {label} holds NaN or infinite values")
    return features


def _labels(owner, label, labels, count) -> numpy.ndarray:
    labels = numpy.asarray(labels)
    if labels.shape != (count,) or labels.dtype.kind not in "iu" or (count and labels.min() < 0):
        raise ValueError(f"{owner}: {label} must be {count} class numbers >= 0, got shape {labels.shape} "
                         f"of dtype {labels.dtype}")
    return labels.astype(numpy.int64)


def _check(owner, train, train_labels, test, test_labels):
    train, test = _features(owner, "train features", train), _features(owner, "test features", test)
    if train.shape[1] != test.shape[1]:
        raise ValueError(f"{owner}: train features have {train.shape[1]} columns, test features {test.shape[1]}")
    return (train, _labels(owner, "train labels", train_labels, len(train)), test,
            _labels(owner, "test labels", test_labels, len(test)))


def linear_probe_accuracy(train, train_labels, test, test_labels, ridge: float = 1e-3) -> float:
    """Accuracy on the test split of the ridge least-squares classifier fitted on the train split."""
    train, train_labels, test, test_labels = _check("linear_probe_accuracy", train, train_labels, test, test_labels)
    if not ridge > 0:
        raise ValueError(f"linear_probe_accuracy: ridge must be positive, got {ridge}")
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = numpy.where(std > 1e-12, std, 1.0)  # constant columns (a pixel always black) stay 0

    def design(features):
        standard = (features - mean) / std
        return numpy.concatenate([standard, numpy.ones((len(features), 1))], axis=1)

    classes = int(max(train_labels.max(), test_labels.max())) + 1
    targets = numpy.eye(classes)[train_labels]
    f = design(train)
    gram = f.T @ f + ridge * len(f) * numpy.eye(f.shape[1])
    weights = numpy.linalg.solve(gram, f.T @ targets)
    return float(numpy.mean((design(test) @ weights).argmax(axis=1) == test_labels))


def knn_accuracy(train, train_labels, test, test_labels, k: int = 1, block: int = 1000) -> float:
    """Accuracy on the test split of k-nearest-neighbour voting among the train features."""
    train, train_labels, test, test_labels = _check("knn_accuracy", train, train_labels, test, test_labels)
    if not isinstance(k, (int, numpy.integer)) or not 1 <= k <= len(train):
        raise ValueError(f"knn_accuracy: k must be an integer in [1, {len(train)}], got {k!r}")
    classes = int(max(train_labels.max(), test_labels.max())) + 1
    train_norms = (train * train).sum(axis=1)
    correct = 0
    for start in range(0, len(test), block):
        chunk = test[start:start + block]
        distances = train_norms[None, :] - 2.0 * chunk @ train.T  # + |x|^2, the same for every train row
        nearest = numpy.argsort(distances, axis=1, kind="stable")[:, :k]
        votes = numpy.zeros((len(chunk), classes))
        for rank in range(k):  # a tie goes to the label met first, i.e. the nearer
            numpy.add.at(votes, (numpy.arange(len(chunk)), train_labels[nearest[:, rank]]), 1.0 + 1e-6 * (k - rank))
        correct += int(numpy.sum(votes.argmax(axis=1) == test_labels[start:start + block]))
    return correct / len(test)
