"""Reference values of the sample-quality metrics on the shipped digit classifier's features.

    python benchmarks/sample_quality_reference.py [--run RUN_DIR] [--out FILE.json]

Rows: real MNIST half against the other half; digits 0-4 only; one digit repeated; uniform
noise; and, with ``--run``, the samples of a trained image run (its newest checkpoint,
5,000 samples from the evaluation latents). Each row: classifier FID, classifier KID (mean
and std over 100 subsets of 1,000), precision, recall, density and coverage (k = 3). Then
the sample-size bias: FID and KID of the run's samples (or of a real half) at 500, 1,000
and 5,000 samples against the bundled MNIST 5k; and the time of each metric on 5,000 x 128
features.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy


def run_samples(run_dir, count=5000):
    from scratchgan.autograd.tensor import Tensor
    from scratchgan.gan.runner import _load_newest_checkpoint, _saved_config
    from scratchgan.gan.trainer import Trainer
    from scratchgan.runs import RunFolder

    folder = RunFolder(run_dir)
    trainer = Trainer(_saved_config(folder))
    _load_newest_checkpoint(trainer, folder)
    latents = numpy.random.default_rng(trainer.config.seed + 2).standard_normal((count, trainer.config.latent_dim))
    return trainer.sample(latents=Tensor(latents.astype(trainer.dtype))).astype(numpy.float32)


def row(fake, real):
    from scratchgan.metrics import images as metrics

    kid = metrics.classifier_kid(fake, real)
    return {"fid": metrics.classifier_fid(fake, real), "kid": kid["kid"], "kid_std": kid["kid_std"],
            **metrics.classifier_sample_quality(fake, real)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a trained image run folder whose samples get a row")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args(argv)
    from scratchgan.data import images as image_data
    from scratchgan.metrics import images as metrics
    from scratchgan.metrics import sample_quality as sq

    digits = image_data.get("mnist")
    images, labels = digits.images, digits.labels
    order = numpy.random.default_rng(0).permutation(len(images))
    half, other = images[order[:2500]], images[order[2500:]]
    rows = {"MNIST half vs the other half": row(half, other),
            "digits 0-4 only (2,500) vs all": row(images[labels < 5][:2500], None),
            "one digit repeated 2,500 times vs all": row(numpy.repeat(images[:1], 2500, axis=0), None),
            "uniform noise (2,500) vs all": row(numpy.random.default_rng(1).uniform(-1, 1, (2500, 1, 28, 28))
                                                .astype(numpy.float32), None)}
    fake = run_samples(args.run) if args.run else None
    if fake is not None:
        rows[f"trained run {Path(args.run).name} (5,000) vs all"] = row(fake, None)
    for name, values in rows.items():
        print(f"{name:45s} " + "  ".join(f"{k} {v:.4g}" for k, v in values.items()))
    bias = {}
    source = fake if fake is not None else numpy.concatenate([half, other])
    for count in (500, 1000, 5000):
        subset = source[:count]
        kid = metrics.classifier_kid(subset, None, subset_size=min(1000, count))
        bias[count] = {"fid": metrics.classifier_fid(subset), "kid": kid["kid"], "kid_std": kid["kid_std"]}
        print(f"{count:5d} samples: FID {bias[count]['fid']:.2f}  KID {kid['kid']:.3f} +- {kid['kid_std']:.3f}")
    rng = numpy.random.default_rng(2)
    real, generated = rng.standard_normal((5000, 128)), rng.standard_normal((5000, 128)) + 0.1
    timings = {}
    for name, call in (("kid (100 subsets of 1000)", lambda: sq.kernel_distance(real, generated)),
                       ("precision, recall, density, coverage", lambda: sq.sample_quality(real, generated))):
        started = time.perf_counter()
        call()
        timings[name] = round(time.perf_counter() - started, 2)
        print(f"{name} on 5000 x 128: {timings[name]} s")
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": rows, "bias": bias, "seconds": timings}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
