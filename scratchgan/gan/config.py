"""``TrainConfig``: everything that defines a training run, its defaults and its checks.

Settings left at None take the default of the dataset's family (``FAMILY_DEFAULTS``), over
which the game's own defaults (``Game.defaults``, ``Game.data_defaults``) are laid: toy
2-D/1-D data train the MLP GAN with R1, TTUR and a linear decay; image data train DCGAN with
the published DCGAN settings; the main job (DCGAN on the bundled MNIST) its study-chosen
recipe. ``TrainConfig.resolved()`` fills them in; the Trainer keeps (and checkpoints, and the
run folder records) the resolved config. What a setting means to a family (its players, its
networks) is the family's game's business (``scratchgan.gan.games``).
"""

from __future__ import annotations

import functools
import math
import typing
from dataclasses import asdict, dataclass, field, fields

import numpy

from scratchgan.gan import losses, penalties, tricks

# "nesterov": SGD with Nesterov momentum (Sutskever et al. 2013), momentum beta1 as for "sgd"
OPTIMIZERS = ("adam", "rmsprop", "sgd", "nesterov")
# lambda for each penalty when none is given: WGAN-GP and DRAGAN as published (10), and the
# max-gradient penalty with WGAN-GP's; R1/R2 at 0.1, measured on ring8 (covers 8/8 modes with
# 81-86% high-quality samples over seeds 0-2, where 0.01 lost modes and 1.0 oscillated;
# docs/gan-training.md); WGAN-div 1 (its k = 2 is inside the penalty, as in Wu et al. 2018);
# LeCam 0.3, the authors' BigGAN CIFAR-10 setting (Tseng et al. 2021)
PENALTY_WEIGHTS = {"gradient_penalty": 10.0, "max_gradient_penalty": 10.0, "dragan": 10.0, "r1": 0.1,
                   "r2": 0.1, "wgan_div": 1.0, "lecam": 0.3}
LR_SCHEDULES = ("constant", "linear")
D_STEPS_SCHEDULES = ("constant", "wgan_warmup")  # games.base.Group.count
# how the unrolled GAN's look-ahead updates D (TrainConfig.unrolled_update): plain gradient steps
# of unrolled_lr, or D's own optimizer from its current state, as Metz et al.'s notebook does
UNROLLED_UPDATES = ("sgd", "optimizer")
# hidden activations of the toy MLP players: ReLU in G and LeakyReLU(0.2) in D, or tanh in both
# (the 2x128 tanh networks of Metz et al.'s notebook)
MLP_ACTIVATIONS = ("default", "tanh")
# what a run does when a loss or a parameter becomes NaN or infinite (TrainConfig.on_nonfinite)
ON_NONFINITE = ("stop", "continue")
# settings that change how a run is logged and kept, not what it computes: a checkpoint
# resumes under other values of these
RUN_SETTINGS = ("log_every", "checkpoint_every", "on_nonfinite")
# penalties on D's input gradient per sample: a batch-normalised D mixes the samples of a batch,
# so conv critics under them default to no batch norm (Gulrajani et al. 2017, section 4)
GRADIENT_PENALTIES = ("gradient_penalty", "max_gradient_penalty", "dragan", "r1", "r2", "wgan_div")
# generator updates of the image runs other than the main job (other families, other data)
IMAGE_STEPS = 2000
FAMILY_DEFAULTS = {
    # ring8 defaults, measured in docs/gan-training.md
    "toy": {"model": "mlp", "penalty": "r1", "steps": 5000, "batch_size": 256, "latent_dim": 16,
            "lr_g": 1e-3, "lr_d": 2e-3, "lr_schedule": "linear", "fc_hidden": 0, "ema": 0.0,
            "hidden": 64, "depth": 3, "width": 64},
    # DCGAN (Radford et al. 2015): Adam 2e-4, beta1 0.5, batch 64, z ~ N(0, I) of 100 dimensions
    "image": {"model": "dcgan", "penalty": "none", "steps": IMAGE_STEPS, "batch_size": 64, "latent_dim": 100,
              "lr_g": 2e-4, "lr_d": 2e-4, "lr_schedule": "constant", "fc_hidden": 0, "ema": 0.0,
              "hidden": 64, "depth": 3, "width": 64},
}


def dataset_names() -> dict:
    """{"toy": [...], "image": [...]}: the dataset names of each family."""
    from scratchgan.data import images, toy

    return {"toy": toy.names(), "image": images.names()}


def family_of(data: str) -> str:
    """"toy" or "image": the family of dataset ``data`` (ValueError naming every dataset)."""
    for family, names in dataset_names().items():
        if data in names:
            return family
    everything = [name for names in dataset_names().values() for name in names]
    raise ValueError(f"unknown dataset {data!r}; expected one of: {', '.join(everything)}")


def check_dataset_size(config, dataset):
    """Image data must fill a batch, and the metrics need two images (a covariance)."""
    if not hasattr(dataset, "__len__"):
        return  # a toy distribution: samples without end
    needed = max(config.batch_size, 2)
    if len(dataset) < needed:
        source = config.data if config.data_dir is None else config.data_dir
        raise ValueError(f"data {source} holds {len(dataset)} image(s); training needs at least {needed} "
                         f"(one batch of {config.batch_size}, and 2 for the metrics): give more images or "
                         f"a smaller --batch-size")


def load_dataset(config: "TrainConfig"):
    """The dataset of ``config``: a toy distribution, or image data (bundled or from data_dir)."""
    from scratchgan.data import images, toy

    if family_of(config.data) == "toy":
        return toy.get(config.data)
    return images.get(config.data, config.data_dir)


_KIND_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a mapping",
               type(None): "null (the default)"}


@functools.cache
def _field_kinds(name) -> tuple:
    """The types a TrainConfig field admits (``int | None`` -> (int, NoneType))."""
    hint = typing.get_type_hints(TrainConfig)[name]
    return typing.get_args(hint) or (hint,)


def _is_of_kind(value, kind) -> bool:
    """Whether ``value`` fits a field of type ``kind``: bool is no int, an int is a float (as JSON)."""
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, (int, numpy.integer)) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float, numpy.integer, numpy.floating)) and not isinstance(value, bool)
    return isinstance(value, kind)


@dataclass
class TrainConfig:
    """Everything that defines a run; saved (resolved) as config.json, so a run is reproducible
    from it. None means the default of the dataset's family (``FAMILY_DEFAULTS``), or the game's."""

    data: str = "mnist"
    data_dir: str | None = None
    model: str | None = None
    loss: str = "nonsaturating"
    loss_params: dict = field(default_factory=dict)
    penalty: str | None = None
    penalty_weight: float | None = None  # None: the penalty's standard weight (PENALTY_WEIGHTS)
    penalty_params: dict = field(default_factory=dict)  # the penalty's settings (penalties.get)
    clip_value: float = 0.01
    steps: int | None = None
    batch_size: int | None = None
    latent_dim: int | None = None
    hidden: int | None = None  # None: 64 (512 for aae)
    depth: int | None = None  # None: 3 (2 for aae)
    width: int | None = None  # None: 64 (32 for bigan and ali)
    fc_hidden: int | None = None  # None: 1024 for infogan (Chen et al.'s MNIST networks), 512 for the main job
    d_batch_norm: bool | None = None  # None: on for conv D unless a gradient penalty is used
    aux_weight: float = 1.0
    info_weight: float = 1.0
    categorical_codes: int = 10
    continuous_codes: int = 2
    prior: str = "gaussian"  # the code prior of an adversarial autoencoder
    code_dim: int | None = None  # None: the game's (ebgan: the width of its autoencoder's code)
    pt_weight: float = 0.0  # EBGAN's pulling-away term in G's loss (0 = off)
    optimizer: str = "adam"
    optimizer_g: str | None = None  # None: ``optimizer``
    optimizer_d: str | None = None  # None: ``optimizer``
    lr_g: float | None = None
    lr_d: float | None = None
    beta1: float = 0.5
    beta2: float = 0.999
    lr_schedule: str | None = None
    d_steps: int = 1
    d_steps_schedule: str = "constant"  # or "wgan_warmup": Arjovsky et al.'s 100 critic steps now and then
    g_steps: int = 1
    label_smoothing: float = 1.0
    label_flip: float = 0.0
    replay_size: int = 0
    feature_matching_layer: int = 0
    instance_noise: float = 0.0
    instance_noise_steps: int = 1000
    separate_batches: bool = True
    minibatch_std: bool = False
    minibatch_discrimination: int = 0
    pack: int = 1
    historical_averaging: float = 0.0
    virtual_batch_norm: bool = False
    ema: float | None = None  # None: 0.99 for the main job, else 0 (off)
    unrolled: int = 0
    unrolled_lr: float = 1e-2
    unrolled_update: str = "sgd"  # or "optimizer": D's own rule and state (Metz et al.'s notebook)
    mlp_activation: str = "default"  # or "tanh" in both toy MLPs (Metz et al.'s notebook)
    seed: int = 0
    dtype: str = "float32"
    log_every: int = 100
    checkpoint_every: int = 1000
    eval_samples: int = 5000
    on_nonfinite: str = "stop"

    def __post_init__(self):
        for spec in fields(self):
            value = getattr(self, spec.name)
            kinds = _field_kinds(spec.name)
            if not any(_is_of_kind(value, kind) for kind in kinds):
                expected = " or ".join(_KIND_NAMES.get(kind, kind.__name__) for kind in kinds)
                raise ValueError(f"config setting {spec.name} must be {expected}, got {value!r} "
                                 f"({type(value).__name__})")

    @property
    def family(self) -> str:
        return family_of(self.data)

    @property
    def game(self):
        """The game class of this config's model (``scratchgan.gan.games``)."""
        from scratchgan.gan import games

        return games.get(self.model or FAMILY_DEFAULTS[self.family]["model"])

    def resolved(self) -> "TrainConfig":
        """A copy with every None setting replaced by the game's default for this dataset, else
        the game's, else the data family's; optimizer_g / optimizer_d resolve to ``optimizer``,
        d_batch_norm to True for conv discriminators unless a gradient penalty is used."""
        values = asdict(self)
        game = self.game
        defaults = {**FAMILY_DEFAULTS[self.family], "model": game.name, **game.defaults,
                    **game.data_defaults.get(self.data, {})}
        for name, value in defaults.items():
            if values[name] is None:
                values[name] = value
        for name in ("optimizer_g", "optimizer_d"):
            if values[name] is None:
                values[name] = values["optimizer"]
        if values["d_batch_norm"] is None:
            values["d_batch_norm"] = game.conv_discriminator and values["penalty"] not in GRADIENT_PENALTIES
        return TrainConfig(**values)

    def validate(self):
        """One clear ValueError for the first invalid setting (of the resolved config)."""
        c = self.resolved()
        game = c.game
        game.validate(c)
        losses.get(c.loss, **c.loss_params)  # raises with the valid names
        if c.penalty not in penalties.NAMES:
            raise ValueError(f"unknown penalty {c.penalty!r}; expected one of: {', '.join(penalties.NAMES)}")
        penalties.check_settings(c.penalty, c.penalty_params)
        for name in ("optimizer", "optimizer_g", "optimizer_d"):
            if getattr(c, name) not in OPTIMIZERS:
                raise ValueError(f"unknown {name} {getattr(c, name)!r}; expected one of: {', '.join(OPTIMIZERS)}")
        if c.d_steps_schedule not in D_STEPS_SCHEDULES:
            raise ValueError(f"unknown d_steps_schedule {c.d_steps_schedule!r}; expected one of: "
                             f"{', '.join(D_STEPS_SCHEDULES)}")
        if c.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {c.lr_schedule!r}; expected one of: {', '.join(LR_SCHEDULES)}")
        if c.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {c.dtype!r}")
        if c.code_dim is not None and c.code_dim < 1:
            raise ValueError(f"code_dim must be a positive integer, got {c.code_dim}")
        if c.pt_weight < 0:
            raise ValueError(f"pt_weight (the weight of the pulling-away term) must be >= 0 (0 = off), "
                             f"got {c.pt_weight}")
        for name in ("steps", "batch_size", "latent_dim", "hidden", "depth", "width", "d_steps", "g_steps",
                     "log_every", "checkpoint_every", "categorical_codes", "pack"):
            if getattr(c, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(c, name)}")
        if c.eval_samples < 2:
            raise ValueError(f"eval_samples must be at least 2, got {c.eval_samples}")
        if c.penalty_weight is not None and c.penalty_weight <= 0:
            raise ValueError(f"penalty_weight must be positive, got {c.penalty_weight}")
        for name in ("lr_g", "lr_d", "unrolled_lr", "aux_weight", "info_weight"):
            if not getattr(c, name) > 0:  # also refuses NaN
                raise ValueError(f"{name} must be positive, got {getattr(c, name)}")
        for spec in fields(c):
            value = getattr(c, spec.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{spec.name} must be a finite number, got {value}")
        if c.on_nonfinite not in ON_NONFINITE:
            raise ValueError(f"on_nonfinite must be one of {', '.join(ON_NONFINITE)}, got {c.on_nonfinite!r}")
        if c.fc_hidden < 0:
            raise ValueError(f"fc_hidden must be >= 0, got {c.fc_hidden}")
        if c.continuous_codes < 0:
            raise ValueError(f"continuous_codes must be >= 0, got {c.continuous_codes}")
        if c.historical_averaging < 0:
            raise ValueError(f"historical_averaging (the weight of ||theta - mean of past theta||^2) must be "
                             f">= 0 (0 = off), got {c.historical_averaging}")
        if c.unrolled_update not in UNROLLED_UPDATES:
            raise ValueError(f"unrolled_update must be one of {', '.join(UNROLLED_UPDATES)}, got "
                             f"{c.unrolled_update!r}")
        if c.mlp_activation not in MLP_ACTIVATIONS:
            raise ValueError(f"mlp_activation must be one of {', '.join(MLP_ACTIVATIONS)}, got {c.mlp_activation!r}")
        if c.mlp_activation != "default" and (c.model != "mlp" or c.family != "toy"):
            raise ValueError(f"mlp_activation applies to model 'mlp' on toy data, got model {c.model!r} on "
                             f"{c.data!r}; leave it at 'default'")
        if c.batch_size % c.pack:
            raise ValueError(f"pack {c.pack}: D sees packs of {c.pack} samples, so batch_size must be a "
                             f"multiple of it, got {c.batch_size}")
        c._validate_tricks()
        game.check_supported(c)

    def _validate_tricks(self):
        if not 0.5 < self.label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in (0.5, 1] (1 = off), got {self.label_smoothing}")
        if not 0.0 <= self.label_flip < 0.5:
            raise ValueError(f"label_flip must be in [0, 0.5), got {self.label_flip}")
        if self.clip_value <= 0:
            raise ValueError(f"clip_value must be positive, got {self.clip_value}")
        if self.instance_noise < 0 or self.instance_noise_steps < 1:
            raise ValueError(f"instance_noise must be >= 0 and instance_noise_steps >= 1, got "
                             f"{self.instance_noise}, {self.instance_noise_steps}")
        if self.label_smoothing != 1.0 or self.label_flip:
            if self.loss not in tricks.LOGIT_LOSSES:
                raise ValueError(
                    f"label smoothing and label flipping apply to cross-entropy losses "
                    f"({', '.join(tricks.LOGIT_LOSSES)}), not to {self.loss!r}"
                )
        if self.feature_matching_layer < 0:
            raise ValueError(f"feature_matching_layer must be >= 0, got {self.feature_matching_layer}")
        if (self.family == "toy" and self.feature_matching_layer
                and not 0 < self.feature_matching_layer < 2 * self.depth + 1):
            raise ValueError(f"feature_matching_layer must be in [1, {2 * self.depth}], got "
                             f"{self.feature_matching_layer}")
        if self.unrolled < 0 or self.replay_size < 0 or self.minibatch_discrimination < 0:
            raise ValueError("unrolled, replay_size and minibatch_discrimination must be >= 0")
        if self.ema and not 0.0 < self.ema < 1.0:
            raise ValueError(f"ema decay must be in (0, 1) (0 = off), got {self.ema}")

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"config has unknown keys {unknown}")
        return cls(**values)  # __post_init__ checks every value's type
