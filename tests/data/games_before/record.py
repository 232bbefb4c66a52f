"""Record the trainer's state after a few steps of each family and trick path, for the test that
the games move is bit-identical (tests/test_games.py). Run from the repository root:

    python tests/data/games_before/record.py

fingerprints.json beside this script was written by it at commit f276239, the last commit whose
trainer knew every family by name; re-recording it on a later commit would test nothing. For each
case it holds every state array's shape, dtype and SHA-256 of its bytes (the JSON config entry
is kept as text, as its keys grow with new settings), and the sum of each float array, to see
how far a mismatch is.
"""

import hashlib
import json
import pathlib
import sys

import numpy

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3]))

from scratchgan.gan.trainer import TrainConfig, Trainer  # noqa: E402

STEPS = 3
TOY = dict(data="ring8", steps=10, batch_size=32, hidden=16, depth=2, latent_dim=4, dtype="float64")
IMAGE = dict(data="digits8x8", steps=10, batch_size=16, hidden=16, depth=2, width=4, latent_dim=6,
             dtype="float64", log_every=1)
CASES = {
    "toy_mlp": dict(TOY),
    "toy_tricks": dict(TOY, unrolled=2, label_smoothing=0.9, label_flip=0.1, instance_noise=0.1, replay_size=64,
                       ema=0.9, minibatch_discrimination=4, d_steps=2, penalty="gradient_penalty"),
    "toy_feature_matching": dict(TOY, feature_matching_layer=2, loss="wasserstein", penalty="weight_clipping",
                                 optimizer="rmsprop"),
    "toy_relativistic": dict(TOY, loss="relativistic_average", separate_batches=False, penalty="r2",
                             optimizer="sgd", minibatch_std=True),
    "image_mlp": dict(IMAGE, model="mlp"),
    "dcgan": dict(IMAGE, model="dcgan", fc_hidden=8, ema=0.9, minibatch_std=True),
    "dcgan_spectral": dict(IMAGE, model="dcgan", penalty="spectral_norm", loss="hinge"),
    "cgan": dict(IMAGE, model="cgan", penalty="gradient_penalty", replay_size=32, separate_batches=False),
    "cgan_feature_matching": dict(IMAGE, model="cgan", feature_matching_layer=2, ema=0.9),
    "cgan_unrolled": dict(IMAGE, model="cgan", unrolled=1, loss="least_squares", penalty="r1"),
    "acgan": dict(IMAGE, model="acgan", label_smoothing=0.9, instance_noise=0.05, d_steps=2),
    "acgan_joint": dict(IMAGE, model="acgan", separate_batches=False, replay_size=32, penalty="dragan"),
    "infogan": dict(IMAGE, model="infogan", fc_hidden=8, continuous_codes=2, categorical_codes=4),
    "infogan_relativistic": dict(IMAGE, model="infogan", fc_hidden=8, loss="relativistic_average_ls",
                                 unrolled=1, penalty="r1", replay_size=32),
}


def final_state(values) -> dict:
    trainer = Trainer(TrainConfig(**values))
    for _ in range(STEPS):
        trainer.step()
    state = trainer.state_arrays()
    state["samples"] = trainer.sample(latents=trainer.fixed_latents[:20],
                                      condition=None if trainer.fixed_condition is None
                                      else trainer.fixed_condition[:20])
    return state


def fingerprint(array: numpy.ndarray) -> dict:
    array = numpy.ascontiguousarray(array)
    entry = {"shape": list(array.shape), "dtype": str(array.dtype),
             "sha256": hashlib.sha256(array.tobytes()).hexdigest()}
    if array.dtype.kind == "f":
        entry["sum"] = float(array.sum())
    return entry


def fingerprints(values) -> dict:
    state = final_state(values)
    return {key: str(array) if key == "config" else fingerprint(array) for key, array in state.items()}


if __name__ == "__main__":
    path = pathlib.Path(__file__).parent / "fingerprints.json"
    path.write_text(json.dumps({name: fingerprints(values) for name, values in CASES.items()}, indent=1,
                               sort_keys=True) + "\n")
    print(path, path.stat().st_size, "bytes")
