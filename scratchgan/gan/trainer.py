"""The GAN trainer: alternating updates with every loss, penalty and trick, for toy MLPs and
image models (DCGAN, conditional GAN, AC-GAN, InfoGAN), deterministic for a seed, with
checkpoints that resume a run bit for bit.

    config = TrainConfig(data="ring8", loss="nonsaturating", steps=3000)
    trainer = Trainer(config)
    for _ in range(trainer.config.steps):
        logs = trainer.step()          # d_steps discriminator updates, one generator update

Settings left at None take the default of the dataset's family (``FAMILY_DEFAULTS``): toy
2-D/1-D data train the MLP GAN with R1, TTUR and a linear decay; image data train DCGAN with
the published DCGAN settings. ``TrainConfig.resolved()`` fills them in; the Trainer keeps
(and checkpoints, and the run folder records) the resolved config.

Every random number (latents, labels and codes, data batches, label flips, interpolation
weights, noise) comes from the global generator (``scratchgan.random``), whose state is
checkpointed with the models, the optimizers and the tricks' state.
"""

from __future__ import annotations

import functools
import json
import math
import typing
from dataclasses import asdict, dataclass, field, fields

import numpy

from scratchgan import backend, optim, random
from scratchgan.autograd import factories
from scratchgan.autograd.grad_mode import no_grad
from scratchgan.autograd.tensor import Tensor
from scratchgan.gan import losses, models, penalties, tricks
from scratchgan.ops.shape import concatenate

OPTIMIZERS = ("adam", "rmsprop", "sgd")
# lambda for each penalty when none is given: WGAN-GP and DRAGAN as published (10); R1/R2 at
# 0.1, measured on ring8 (covers 8/8 modes with 81-86% high-quality samples over seeds 0-2,
# where 0.01 lost modes and 1.0 oscillated; docs/gan-training.md)
PENALTY_WEIGHTS = {"gradient_penalty": 10.0, "dragan": 10.0, "r1": 0.1, "r2": 0.1}
LR_SCHEDULES = ("constant", "linear")
# what a run does when a loss or a parameter becomes NaN or infinite (TrainConfig.on_nonfinite)
ON_NONFINITE = ("stop", "continue")
# settings that change how a run is logged and kept, not what it computes: a checkpoint
# resumes under other values of these
RUN_SETTINGS = ("log_every", "checkpoint_every", "on_nonfinite")
MODELS = ("mlp", "dcgan", "cgan", "acgan", "infogan")
LABELLED_MODELS = ("cgan", "acgan")  # G(z, y) for class labels y
AUX_MODELS = ("acgan", "infogan")  # D with a second head (class logits, InfoGAN's Q)
# penalties on D's input gradient per sample: a batch-normalised D mixes the samples of a batch,
# so conv critics under them default to no batch norm (Gulrajani et al. 2017, section 4)
GRADIENT_PENALTIES = ("gradient_penalty", "dragan", "r1", "r2")
# generator updates of the image runs other than the main job (cgan, acgan, infogan, other data)
IMAGE_STEPS = 2000
FAMILY_DEFAULTS = {
    # ring8 defaults, measured in docs/gan-training.md
    "toy": {"model": "mlp", "penalty": "r1", "steps": 5000, "batch_size": 256, "latent_dim": 16,
            "lr_g": 1e-3, "lr_d": 2e-3, "lr_schedule": "linear", "fc_hidden": 0, "ema": 0.0},
    # DCGAN (Radford et al. 2015): Adam 2e-4, beta1 0.5, batch 64, z ~ N(0, I) of 100 dimensions
    "image": {"model": "dcgan", "penalty": "none", "steps": IMAGE_STEPS, "batch_size": 64, "latent_dim": 100,
              "lr_g": 2e-4, "lr_d": 2e-4, "lr_schedule": "constant", "fc_hidden": 0, "ema": 0.0},
}
# where a model's paper used other settings than DCGAN's (None fields only): InfoGAN's MNIST
# experiment (Chen et al. 2016, appendix C.1) has 62 noise dimensions, G's lr 1e-3 (D's 2e-4)
# and a fully connected layer of 1024 units in G and D
MODEL_DEFAULTS = {"infogan": {"latent_dim": 62, "lr_g": 1e-3, "fc_hidden": 1024}}
# the main job, `scratchgan train` (DCGAN on the bundled MNIST), chosen by a study
# (docs/studies.md, "Choosing the main job"): InfoGAN's networks with a 512-unit fully
# connected layer and its learning rates, an EMA of G's weights (decay 0.99) for sampling,
# 1500 steps, within 5 minutes on 2 cores with evaluation; the PyTorch twin is
# benchmarks/dcgan_mnist_torch.py
MAIN_JOB = ("mnist", "dcgan")
MAIN_JOB_DEFAULTS = {"steps": 1500, "latent_dim": 62, "lr_g": 1e-3, "lr_d": 2e-4, "fc_hidden": 512, "ema": 0.99}
FC_MODELS = ("dcgan", "infogan")  # models that take fc_hidden (a fully connected layer in G and D)
FIXED_SAMPLES = {"toy": 512, "image": 500}  # fixed latents for snapshots and quick metrics
GRID_COLUMNS = 10  # fixed latents i of a labelled model ask for class (i // 10) mod K: grid rows per class


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


def _check_dataset_size(config, dataset):
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
    from it. None means the default of the dataset's family (``FAMILY_DEFAULTS``)."""

    data: str = "mnist"
    data_dir: str | None = None
    model: str | None = None
    loss: str = "nonsaturating"
    loss_params: dict = field(default_factory=dict)
    penalty: str | None = None
    penalty_weight: float | None = None  # None: the penalty's standard weight (PENALTY_WEIGHTS)
    clip_value: float = 0.01
    steps: int | None = None
    batch_size: int | None = None
    latent_dim: int | None = None
    hidden: int = 64
    depth: int = 3
    width: int = 64
    fc_hidden: int | None = None  # None: 1024 for infogan (Chen et al.'s MNIST networks), 512 for the main job
    d_batch_norm: bool | None = None  # None: on for conv D unless a gradient penalty is used
    aux_weight: float = 1.0
    info_weight: float = 1.0
    categorical_codes: int = 10
    continuous_codes: int = 2
    optimizer: str = "adam"
    lr_g: float | None = None
    lr_d: float | None = None
    beta1: float = 0.5
    beta2: float = 0.999
    lr_schedule: str | None = None
    d_steps: int = 1
    label_smoothing: float = 1.0
    label_flip: float = 0.0
    replay_size: int = 0
    feature_matching_layer: int = 0
    instance_noise: float = 0.0
    instance_noise_steps: int = 1000
    separate_batches: bool = True
    minibatch_std: bool = False
    minibatch_discrimination: int = 0
    ema: float | None = None  # None: 0.99 for the main job, else 0 (off)
    unrolled: int = 0
    unrolled_lr: float = 1e-2
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

    def resolved(self) -> "TrainConfig":
        """A copy with every None setting replaced by the main job's default (DCGAN on MNIST), else
        its model's, else its family's; d_batch_norm resolves to True for conv discriminators
        unless a gradient penalty is used."""
        values = asdict(self)
        model = values["model"] or FAMILY_DEFAULTS[self.family]["model"]
        defaults = {**FAMILY_DEFAULTS[self.family], **MODEL_DEFAULTS.get(model, {}),
                    **(MAIN_JOB_DEFAULTS if (self.data, model) == MAIN_JOB else {})}
        for name, value in defaults.items():
            if values[name] is None:
                values[name] = value
        if values["d_batch_norm"] is None:
            values["d_batch_norm"] = values["model"] != "mlp" and values["penalty"] not in GRADIENT_PENALTIES
        return TrainConfig(**values)

    def validate(self):
        """One clear ValueError for the first invalid setting (of the resolved config)."""
        c = self.resolved()
        c._validate_model()
        losses.get(c.loss, **c.loss_params)  # raises with the valid names
        if c.penalty not in penalties.NAMES:
            raise ValueError(f"unknown penalty {c.penalty!r}; expected one of: {', '.join(penalties.NAMES)}")
        if c.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {c.optimizer!r}; expected one of: {', '.join(OPTIMIZERS)}")
        if c.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {c.lr_schedule!r}; expected one of: {', '.join(LR_SCHEDULES)}")
        if c.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {c.dtype!r}")
        for name in ("steps", "batch_size", "latent_dim", "hidden", "depth", "width", "d_steps", "log_every",
                     "checkpoint_every", "categorical_codes"):
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
        c._validate_tricks()

    def _validate_model(self):
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; expected one of: {', '.join(MODELS)}")
        if self.family == "toy":
            if self.model != "mlp":
                raise ValueError(f"model {self.model!r} needs image data ({', '.join(dataset_names()['image'])}); "
                                 f"{self.data!r} is a toy dataset (use --model mlp)")
            if self.data_dir is not None:
                raise ValueError(f"data_dir applies to image datasets; {self.data!r} is a toy dataset")
        if self.model == "mlp" and self.d_batch_norm:
            raise ValueError("d_batch_norm: the MLP discriminator has no batch norm (conv models only)")
        if self.fc_hidden < 0 or (self.fc_hidden and self.model not in FC_MODELS):
            raise ValueError(f"fc_hidden (a fully connected layer of that width in G and D) applies to "
                             f"{', '.join(FC_MODELS)} and must be >= 0, got {self.fc_hidden} with model {self.model!r}")
        if self.continuous_codes < 0:
            raise ValueError(f"continuous_codes must be >= 0, got {self.continuous_codes}")

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


class Trainer:
    """Alternating GAN updates for a ``TrainConfig`` (models and data built from it unless given).

    Conditional models: a real batch comes with its labels; in D's step the fakes are asked
    for the real batch's labels (real and fake batches match class for class, and a gradient
    penalty's interpolates have one label); in G's step labels are drawn uniformly, or are the
    real batch's when G's loss also looks at real data (feature matching, unrolling,
    relativistic losses). InfoGAN's codes are drawn from their prior for every fake batch.
    """

    def __init__(self, config: TrainConfig, generator=None, discriminator=None, dataset=None, device=None):
        config = config.resolved()
        config.validate()
        self.config = config
        self.family = config.family
        random.manual_seed(config.seed)
        self.dtype = numpy.dtype(config.dtype)
        self.dataset = dataset if dataset is not None else load_dataset(config)
        _check_dataset_size(config, self.dataset)
        self.num_classes = getattr(self.dataset, "num_classes", 0)
        self.loss = losses.get(config.loss, **config.loss_params)
        if generator is None:
            generator = self._build_generator()
        if discriminator is None:
            discriminator = self._build_discriminator()
        if config.penalty == "spectral_norm":
            models.spectral_normalize(discriminator)  # also a discriminator passed in
        # the models, their optimizer state and every per-step draw live on one device: the GPU
        # when the cupy kernel set is active (backend.default_device), else the CPU
        self.device = device if device is not None else backend.default_device()
        self.generator, self.discriminator = generator.to(self.device), discriminator.to(self.device)
        self._check_feature_layer()
        self.optimizer_g = self._optimizer(self.generator, config.lr_g)
        self.optimizer_d = self._optimizer(self.discriminator, config.lr_d)
        self.replay = tricks.ReplayPool(config.replay_size) if config.replay_size else None
        self.instance_noise = (tricks.InstanceNoise(config.instance_noise, config.instance_noise_steps)
                               if config.instance_noise else None)
        self.ema = tricks.EMA(self.generator, config.ema) if config.ema else None
        self.penalty_weight = (config.penalty_weight if config.penalty_weight is not None
                               else PENALTY_WEIGHTS.get(config.penalty))
        self.step_count = 0
        # for snapshots and quick metrics, from a stream outside the global one
        fixed = numpy.random.default_rng(config.seed + 1)
        count = FIXED_SAMPLES[self.family]
        self.fixed_latents = Tensor(fixed.standard_normal((count, config.latent_dim)).astype(self.dtype)).to(self.device)
        self.fixed_condition = self._fixed_condition(count, fixed)

    # -- models ------------------------------------------------------------------------------------
    @property
    def labelled(self) -> bool:
        """Whether G takes class labels (cgan, acgan)."""
        return self.config.model in LABELLED_MODELS

    @property
    def conditional(self) -> bool:
        """Whether G takes a second input (labels or InfoGAN codes)."""
        return self.labelled or self.config.model == "infogan"

    def _build_generator(self):
        c, dt = self.config, self.dtype
        if self.family == "toy":
            return models.mlp_generator(c.latent_dim, self.dataset.dim, c.hidden, c.depth, dtype=dt)
        shape = self.dataset.image_shape
        channels, size = shape[0], shape[1]
        if c.model == "mlp":
            return models.mlp_image_generator(c.latent_dim, shape, c.hidden, c.depth, dtype=dt)
        if c.model == "dcgan":
            return models.dcgan_generator(c.latent_dim, size, channels, c.width, dtype=dt, fc_hidden=c.fc_hidden)
        if c.model == "infogan":
            return models.infogan_generator(c.latent_dim, c.categorical_codes, c.continuous_codes, size,
                                            channels, c.width, fc_hidden=c.fc_hidden, dtype=dt)
        return models.cgan_generator(c.latent_dim, self.num_classes, size, channels, c.width, dtype=dt)

    def _build_discriminator(self):
        c, dt = self.config, self.dtype
        tricks_options = {"minibatch_std": c.minibatch_std, "minibatch_discrimination": c.minibatch_discrimination}
        if self.family == "toy":
            return models.mlp_discriminator(self.dataset.dim, c.hidden, c.depth, dtype=dt, **tricks_options)
        shape = self.dataset.image_shape
        channels, size = shape[0], shape[1]
        if c.model == "mlp":
            return models.mlp_image_discriminator(shape, c.hidden, c.depth, dtype=dt, **tricks_options)
        options = dict(tricks_options, batch_norm=c.d_batch_norm, dtype=dt)
        if c.model == "dcgan":
            return models.dcgan_discriminator(size, channels, c.width, fc_hidden=c.fc_hidden, **options)
        if c.model == "cgan":
            return models.cgan_discriminator(self.num_classes, size, channels, c.width, **options)
        if c.model == "acgan":
            return models.acgan_discriminator(self.num_classes, size, channels, c.width, **options)
        return models.infogan_discriminator(c.categorical_codes, c.continuous_codes, size, channels, c.width,
                                            fc_hidden=c.fc_hidden, **options)

    def _feature_modules(self):
        """The Sequential whose first k modules give feature matching's features."""
        d = self.discriminator
        if isinstance(d, models.ConditionalDiscriminator):
            return d.net
        if isinstance(d, models.AuxiliaryDiscriminator):
            return d.trunk
        return d

    def _check_feature_layer(self):
        layer = self.config.feature_matching_layer
        if layer and self.family == "image":
            count = len(self._feature_modules())
            if not 0 < layer < count:
                raise ValueError(f"feature_matching_layer must be in [1, {count - 1}] for this "
                                 f"{self.config.model} discriminator, got {layer}")

    def _optimizer(self, module, lr):
        c = self.config
        if c.optimizer == "adam":
            return optim.Adam(module.parameters(), lr=lr, betas=(c.beta1, c.beta2))
        if c.optimizer == "rmsprop":
            return optim.RMSprop(module.parameters(), lr=lr)
        return optim.SGD(module.parameters(), lr=lr, momentum=c.beta1)

    # -- batches, labels and codes -----------------------------------------------------------------
    def real_batch(self):
        return self.real_batch_with_labels()[0]

    def real_batch_with_labels(self):
        """(real data Tensor, its labels for a labelled model, else None)."""
        if self.labelled:
            data, labels = self.dataset.sample_with_labels(self.config.batch_size, random.generator())
            return Tensor(data.astype(self.dtype)).to(self.device), labels
        data = self.dataset.sample(self.config.batch_size, random.generator())
        return Tensor(data.astype(self.dtype)).to(self.device), None  # a host-to-device copy, no sync

    def latent_batch(self, n=None):
        n = n or self.config.batch_size
        return factories.randn(n, self.config.latent_dim, dtype=self.dtype, device=self.device)

    def draw_condition(self, n, generator):
        """What G is asked for, drawn from ``generator``: labels uniform over the classes (int64
        (n,)), InfoGAN codes one-hot Cat(K) ++ U(-1, 1)^C ((n, K + C)), or None."""
        c = self.config
        if self.labelled:
            return generator.integers(0, self.num_classes, size=n)
        if c.model != "infogan":
            return None
        codes = numpy.zeros((n, c.categorical_codes + c.continuous_codes), dtype=self.dtype)
        codes[numpy.arange(n), generator.integers(0, c.categorical_codes, size=n)] = 1
        codes[:, c.categorical_codes:] = generator.uniform(-1.0, 1.0, (n, c.continuous_codes))
        return codes

    def _fixed_condition(self, count, generator):
        """Labels or codes of the fixed latents: class / categorical code (i // 10) mod K, so the
        first 100 fill a 10 x 10 grid with one class per row; uniform continuous codes."""
        c = self.config
        rows = (numpy.arange(count) // GRID_COLUMNS).astype(numpy.int64)
        if self.labelled:
            return rows % self.num_classes
        if c.model != "infogan":
            return None
        codes = numpy.zeros((count, c.categorical_codes + c.continuous_codes), dtype=self.dtype)
        codes[numpy.arange(count), rows % c.categorical_codes] = 1
        codes[:, c.categorical_codes:] = generator.uniform(-1.0, 1.0, (count, c.continuous_codes))
        return codes

    def _generate(self, generator, z, condition):
        return generator(z) if condition is None else generator(z, condition)

    def _d_outputs(self, x, condition, with_aux=False):
        """(D's logits (N, 1), its auxiliary head's output or None)."""
        d = self.discriminator
        if self.config.model == "cgan":
            return d(x, condition), None
        if with_aux and self.config.model in AUX_MODELS:
            return d.forward_with_aux(x)
        return d(x), None

    def _critic(self, condition):
        """D as a function of x alone (penalties, unrolling): cGAN's D with the labels bound."""
        if self.config.model == "cgan":
            return models.BoundLabels(self.discriminator, condition)
        return self.discriminator

    def _discriminate(self, real, real_condition, fake, fake_condition):
        """D on real and fake: two separate batches (batch-norm friendly, seed 000) or one joint one.
        Returns ((real logits, real aux), (fake logits, fake aux)); aux is None unless needed."""
        if self.instance_noise is not None:
            real = self.instance_noise.apply(real, self.step_count)
            fake = self.instance_noise.apply(fake, self.step_count)
        real_aux = self.config.model == "acgan"  # InfoGAN's Q only reads fakes
        fake_aux = self.config.model in AUX_MODELS
        if self.config.separate_batches:
            return (self._d_outputs(real, real_condition, real_aux),
                    self._d_outputs(fake, fake_condition, fake_aux))
        condition = (numpy.concatenate([real_condition, fake_condition]) if self.config.model == "cgan"
                     else None)
        joint, aux = self._d_outputs(concatenate([real, fake], axis=0), condition, fake_aux)
        n = real.shape[0]
        split_aux = (None, None) if aux is None else (aux[:n], aux[n:])
        return (joint[:n], split_aux[0]), (joint[n:], split_aux[1])

    # -- updates ---------------------------------------------------------------------------------
    def discriminator_step(self) -> dict:
        c = self.config
        real, real_labels = self.real_batch_with_labels()
        fake_condition = real_labels if self.labelled else self.draw_condition(c.batch_size, random.generator())
        with no_grad():
            fake = self._generate(self.generator, self.latent_batch(), fake_condition)
        if self.replay is not None:
            fake, fake_condition = self.replay.query_with_condition(fake, fake_condition)
        (real_out, real_aux), (fake_out, fake_aux) = self._discriminate(real, real_labels, fake, fake_condition)
        if c.label_smoothing != 1.0 or c.label_flip:
            d_loss = tricks.discriminator_loss_with_targets(
                real_out, fake_out,
                tricks.discriminator_targets(len(real), True, c.label_smoothing, c.label_flip, real),
                tricks.discriminator_targets(len(real), False, 1.0, c.label_flip, real))
        else:
            d_loss = self.loss.discriminator(real_out, fake_out)
        logs = {"d_loss": self._log(d_loss)}
        total = d_loss
        auxiliary = self._discriminator_aux_loss(real_aux, real_labels, fake_aux, fake_condition, logs)
        if auxiliary is not None:
            total = total + auxiliary
        penalty = self._penalty(real, fake, real_labels, fake_condition)
        if penalty is not None:
            logs["penalty"] = self._log(penalty)
            total = total + self.penalty_weight * penalty
        self.optimizer_d.zero_grad()
        total.backward()
        self.optimizer_d.step()
        if c.penalty == "weight_clipping":
            penalties.clip_weights(self.discriminator, c.clip_value)
        return logs

    def _discriminator_aux_loss(self, real_aux, real_labels, fake_aux, fake_condition, logs):
        """AC-GAN: aux_weight (L_C(real) + L_C(fake)); InfoGAN: info_weight (-E log Q(c | G(z, c)))."""
        c = self.config
        if c.model == "acgan":
            class_loss = (losses.auxiliary_classifier_loss(real_aux, real_labels)
                          + losses.auxiliary_classifier_loss(fake_aux, fake_condition))
            logs["d_aux"] = self._log(class_loss)
            return c.aux_weight * class_loss
        if c.model == "infogan":
            terms = losses.information_terms(fake_aux, fake_condition, c.categorical_codes)
            logs["d_info"] = self._log(terms["nll"])
            return c.info_weight * terms["nll"]
        return None

    def _penalty(self, real, fake, real_condition=None, fake_condition=None):
        name = self.config.penalty
        if name == "gradient_penalty":  # interpolates take the real batch's labels
            return penalties.gradient_penalty(self._critic(real_condition), real, fake)
        if name == "dragan":
            return penalties.dragan_penalty(self._critic(real_condition), real)
        if name == "r1":
            return penalties.r1_penalty(self._critic(real_condition), real)
        if name == "r2":
            return penalties.r2_penalty(self._critic(fake_condition), fake)
        return None  # none, weight_clipping (after the step), spectral_norm (in the model)

    def generator_step(self) -> dict:
        c = self.config
        # D's weights get no gradient from G's loss (skips their backward), except when
        # unrolling, which differentiates through D's updates.
        self.discriminator.requires_grad_(bool(c.unrolled))
        try:
            g_loss, logs = self._generator_loss()
            self.optimizer_g.zero_grad()
            g_loss.backward()
        finally:
            self.discriminator.requires_grad_(True)
        self.optimizer_g.step()
        self.discriminator.zero_grad()  # only unrolling leaves gradients there
        if self.ema is not None:
            self.ema.update()
        return logs

    def _generator_loss(self):
        """(G's total loss, logs): the adversarial loss ("g_loss") plus AC-GAN's or InfoGAN's term."""
        c = self.config
        z = self.latent_batch()
        need_real = self.loss.generator_needs_real or c.feature_matching_layer or c.unrolled
        real, real_labels = self.real_batch_with_labels() if need_real else (None, None)
        condition = (real_labels if self.labelled and real_labels is not None
                     else self.draw_condition(c.batch_size, random.generator()))
        fake = self._generate(self.generator, z, condition)
        fake_aux = None
        if c.feature_matching_layer:
            g_loss = tricks.feature_matching_loss(self._features(real, real_labels), self._features(fake, condition))
        elif c.unrolled:
            g_loss = tricks.unrolled_generator_loss(self.loss, self._critic(condition), fake, real,
                                                    c.unrolled, c.unrolled_lr)
        else:
            fake_out, fake_aux = self._d_outputs(fake, condition, with_aux=True)
            real_out = self._d_outputs(real, real_labels)[0] if real is not None else None
            g_loss = self.loss.generator(fake_out, real_out=real_out)
        logs = {"g_loss": self._log(g_loss)}
        if c.model in AUX_MODELS:
            if fake_aux is None:
                fake_aux = self.discriminator.forward_with_aux(fake)[1]
            g_loss = g_loss + self._generator_aux_loss(fake_aux, condition, logs)
        return g_loss, logs

    def _generator_aux_loss(self, fake_aux, condition, logs):
        c = self.config
        if c.model == "acgan":
            class_loss = losses.auxiliary_classifier_loss(fake_aux, condition)
            logs["g_aux"] = self._log(class_loss)
            return c.aux_weight * class_loss
        terms = losses.information_terms(fake_aux, condition, c.categorical_codes)
        logs.update({"g_info": self._log(terms["nll"]), "mi_categorical": self._log(terms["mi_categorical"]),
                     "mi_lower_bound": self._log(terms["mi_lower_bound"])})
        return c.info_weight * terms["nll"]

    def _features(self, x, labels):
        layer = self.config.feature_matching_layer
        if self.config.model == "cgan":
            return self.discriminator.features(x, labels, layer)
        return tricks.sequential_features(self._feature_modules(), x, layer)

    def _set_learning_rates(self):
        """Linear schedule: lr (1 - t / steps) at step t = 0..steps-1, reaching lr/steps at the end.
        A function of the step count alone, so resuming continues the same schedule."""
        factor = 1.0
        if self.config.lr_schedule == "linear":
            factor = max(0.0, 1.0 - self.step_count / self.config.steps)
        for optimizer, lr in ((self.optimizer_g, self.config.lr_g), (self.optimizer_d, self.config.lr_d)):
            for group in optimizer.param_groups:
                group["lr"] = lr * factor

    def _log(self, value: Tensor):
        """A logged scalar: a float on the CPU; on the GPU a 0-d device array, read back only
        when the caller converts it (``float(v)``, at its logging interval), since every
        read-back waits for the GPU to finish."""
        return value.item() if self.device == "cpu" else value.detach().data

    def step(self) -> dict:
        """``d_steps`` discriminator updates, then one generator update. The logs' values are
        floats on the CPU and 0-d device arrays on the GPU (see ``_log``)."""
        self._set_learning_rates()
        logs = {}
        for _ in range(self.config.d_steps):
            logs.update(self.discriminator_step())
        logs.update(self.generator_step())
        self.step_count += 1
        logs["step"] = self.step_count
        return logs

    # -- sampling ---------------------------------------------------------------------------------
    @no_grad()
    def sample(self, n=None, latents=None, condition=None, batch_size=500) -> numpy.ndarray:
        """Generated samples (from the EMA generator when EMA is on, in eval mode), as a float64
        NumPy array. ``condition``: the labels or InfoGAN codes to ask for (drawn from the
        global generator, like missing latents, when not given). Image models generate in
        batches of ``batch_size``."""
        model = self.ema.shadow if self.ema is not None else self.generator
        z = latents.to(self.device) if latents is not None else self.latent_batch(n)
        if condition is None and self.conditional:
            condition = self.draw_condition(z.shape[0], random.generator())
        was_training = model.training
        model.eval()
        try:
            if self.family == "toy":
                return self._generate(model, z, condition).numpy().astype(numpy.float64)
            chunks = [self._generate(model, z[start:start + batch_size],
                                     None if condition is None else condition[start:start + batch_size])
                      .numpy().astype(numpy.float64) for start in range(0, z.shape[0], batch_size)]
            return numpy.concatenate(chunks)
        finally:
            model.train(was_training)

    @no_grad()
    def discriminator_values(self, points: numpy.ndarray) -> numpy.ndarray:
        """D's raw outputs on points, in training-sized batches (minibatch layers see batches
        of the size they were trained on; memory stays bounded)."""
        size = self.config.batch_size
        starts = list(range(0, len(points), size))
        if len(starts) > 1 and len(points) - starts[-1] < 2:
            starts.pop()  # a lone last point joins the previous batch (batch statistics need 2)
        bounds = starts[1:] + [len(points)]
        chunks = [self.discriminator(Tensor(points[a:b].astype(self.dtype)).to(self.device)).numpy()[:, 0]
                  for a, b in zip(starts, bounds)]
        return numpy.concatenate(chunks)

    # -- checkpoints ------------------------------------------------------------------------------
    def state_arrays(self) -> dict:
        """Everything needed to continue exactly: models, optimizers, tricks, step, RNG, config."""
        arrays = {"step": numpy.array(self.step_count),
                  "config": numpy.array(json.dumps(asdict(self.config), sort_keys=True)),
                  "rng": numpy.array(json.dumps(random.get_state()))}
        for prefix, module in (("G", self.generator), ("D", self.discriminator)):
            arrays.update({f"{prefix}/{k}": backend.to_numpy(v) for k, v in module.state_dict().items()})
        if self.ema is not None:
            arrays.update({f"EMA/{k}": backend.to_numpy(v) for k, v in self.ema.shadow.state_dict().items()})
        for prefix, optimizer in (("optG", self.optimizer_g), ("optD", self.optimizer_d)):
            arrays.update(_flatten_optimizer(prefix, optimizer))
        if self.replay is not None:
            arrays.update({f"replay/{k}": v for k, v in self.replay.state_arrays().items()})
        return arrays

    def nonfinite_parameters(self) -> list[str]:
        """The names of G's and D's parameters that hold a NaN or an infinity."""
        return [f"{prefix}/{name}" for prefix, module in (("G", self.generator), ("D", self.discriminator))
                for name, parameter in module.named_parameters()
                if not bool(parameter.xp.isfinite(parameter.data).all())]

    def load_state_arrays(self, arrays: dict):
        """Continue from ``state_arrays()`` output. Every array is checked against this trainer
        first (``check_state_arrays``), and the load is all or nothing: on any error the trainer
        is as it was."""
        self.check_state_arrays(arrays)
        before = self.state_arrays()
        try:
            self._load_state_arrays(arrays)
        except (ValueError, TypeError, KeyError) as error:
            self._load_state_arrays(before)
            raise ValueError(f"cannot load the state: {error}") from None

    def _load_state_arrays(self, arrays: dict):
        self.step_count = int(arrays["step"])
        for prefix, module in (("G", self.generator), ("D", self.discriminator)):
            module.load_state_dict(_section(arrays, prefix))
        if self.ema is not None:
            self.ema.shadow.load_state_dict(_section(arrays, "EMA"))
        for prefix, optimizer in (("optG", self.optimizer_g), ("optD", self.optimizer_d)):
            _restore_optimizer(prefix, optimizer, arrays)
        if self.replay is not None:
            self.replay.load_state_arrays(_section(arrays, "replay"))
        random.set_state(json.loads(str(arrays["rng"])))

    def check_state_arrays(self, arrays: dict):
        """One ValueError naming the first key of ``arrays`` that this trainer cannot continue
        from: a missing or unexpected key, a shape, dtype or value that does not fit the live
        models and optimizers, or another configuration. Checks only; changes nothing."""
        own = self.state_arrays()
        _check_scalar(arrays, "step", "iu")
        if int(arrays["step"]) < 0:
            raise ValueError(f"'step' is {int(arrays['step'])}, expected a step count >= 0")
        self._check_config(_json_entry(arrays, "config", dict))
        _check_rng_state(_json_entry(arrays, "rng", dict))
        modules = ("G", "D") + (("EMA",) if self.ema is not None else ())
        for prefix in modules:
            _check_same_arrays(prefix, _section(own, prefix), _section(arrays, prefix))
        for prefix, optimizer in (("optG", self.optimizer_g), ("optD", self.optimizer_d)):
            _check_optimizer_arrays(prefix, optimizer, arrays)
        if self.replay is not None:
            self._check_replay(_section(arrays, "replay"))
        sections = modules + ("optG", "optD") + (("replay",) if self.replay is not None else ())
        unexpected = sorted(key for key in arrays if key not in ("step", "config", "rng")
                            and not key.startswith(tuple(p + "/" for p in sections)))
        if unexpected:
            raise ValueError(f"unexpected keys {unexpected[:5]} (this run has no such state)")

    def _check_config(self, values: dict):
        try:  # resolved, so a checkpoint written before a setting existed compares with its default
            saved = asdict(TrainConfig.from_dict(values).resolved())
        except (ValueError, TypeError) as error:
            raise ValueError(f"'config' is not a valid configuration ({error})") from None
        own = asdict(self.config)
        # a constant-lr run may be extended (resume --steps); a scheduled one depends on steps
        extendable = RUN_SETTINGS + (("steps",) if own["lr_schedule"] == "constant" else ())
        different = sorted(k for k in own if k not in extendable and saved.get(k) != own[k])
        if different:
            raise ValueError(f"checkpoint is from another configuration (differs in: {', '.join(different)})")

    def _check_replay(self, arrays: dict):
        samples, conditions = arrays.get("samples"), arrays.get("conditions")
        if samples is None:
            if conditions is not None:
                raise ValueError("'replay/conditions' is there without 'replay/samples'")
            return
        shape = (self.dataset.dim,) if self.family == "toy" else tuple(self.dataset.image_shape)
        if samples.dtype != self.dtype or samples.shape[1:] != shape or not 0 < len(samples) <= self.replay.capacity:
            raise ValueError(f"'replay/samples' is a {samples.dtype} array of shape {samples.shape}, expected "
                             f"{self.dtype} of shape (k, {', '.join(map(str, shape))}) with 1 <= k <= "
                             f"{self.replay.capacity}")
        if self.conditional != (conditions is not None):
            raise ValueError("'replay/conditions' " + ("is missing" if self.conditional else "is unexpected"))
        if conditions is not None and (len(conditions) != len(samples) or conditions.dtype.kind not in "iuf"):
            raise ValueError(f"'replay/conditions' is a {conditions.dtype} array of shape {conditions.shape}, "
                             f"expected {len(samples)} numeric rows")


def _check_scalar(arrays, key, kinds):
    if key not in arrays:
        raise ValueError(f"key {key!r} is missing")
    value = arrays[key]
    if value.shape != () or value.dtype.kind not in kinds:
        expected = {"iu": "an integer", "U": "a string"}.get(kinds, kinds)
        raise ValueError(f"{key!r} is a {value.dtype} array of shape {value.shape}, expected {expected}")


def _json_entry(arrays, key, kind):
    _check_scalar(arrays, key, "U")
    try:
        value = json.loads(str(arrays[key]))
    except ValueError as error:
        raise ValueError(f"{key!r} is not JSON ({error})") from None
    if not isinstance(value, kind):
        raise ValueError(f"{key!r} holds {type(value).__name__}, expected {kind.__name__}")
    return value


def _check_rng_state(state: dict):
    host = {k: v for k, v in state.items() if k != "device"}
    try:
        numpy.random.PCG64().state = host  # NumPy checks the state dict itself
        device = state.get("device", {"seed": 0, "offset": 0})
        if not all(isinstance(device[k], int) and 0 <= device[k] < 2**64 for k in ("seed", "offset")):
            raise ValueError("the device stream's seed and offset must be integers in [0, 2**64)")
    except (ValueError, TypeError, KeyError, OverflowError) as error:
        raise ValueError(f"'rng' is not a random generator state ({type(error).__name__}: {error})") from None


def _check_same_arrays(prefix, expected: dict, found: dict):
    missing, unexpected = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    if missing or unexpected:
        raise ValueError(f"the {prefix} section does not fit this model: missing keys "
                         f"{[prefix + '/' + k for k in missing[:5]]}, unexpected keys "
                         f"{[prefix + '/' + k for k in unexpected[:5]]}")
    for key, array in expected.items():
        if found[key].shape != array.shape or found[key].dtype != array.dtype:
            raise ValueError(f"'{prefix}/{key}' is a {found[key].dtype} array of shape {found[key].shape}, "
                             f"expected {array.dtype} of shape {array.shape}")


def _check_optimizer_arrays(prefix, optimizer, arrays):
    """The optimizer's groups (JSON) and each state array against its parameter's shape and dtype;
    which state names an optimizer needs, its ``load_state_dict`` checks."""
    groups = _json_entry(arrays, f"{prefix}/param_groups", list)
    if not all(isinstance(group, dict) for group in groups):
        raise ValueError(f"'{prefix}/param_groups' must be a list of objects")
    params = [param for group in optimizer.param_groups for param in group["params"]]
    for key, value in _section(arrays, f"{prefix}/state").items():
        index, _, name = key.partition("/")
        full = f"{prefix}/state/{key}"
        if not index.isdigit() or int(index) >= len(params) or not name:
            raise ValueError(f"unexpected key {full!r} (this optimizer has parameters 0..{len(params) - 1})")
        param = params[int(index)]
        if value.ndim == 0:
            if value.dtype.kind not in "iuf" or not numpy.isfinite(value) or value < 0:
                raise ValueError(f"{full!r} is {value!r}, expected a finite number >= 0")
        elif value.shape != param.shape or value.dtype != param.dtype:
            raise ValueError(f"{full!r} is a {value.dtype} array of shape {value.shape}, expected "
                             f"{param.dtype} of shape {param.shape} (its parameter's)")


def _section(arrays, prefix):
    start = prefix + "/"
    return {k[len(start):]: v for k, v in arrays.items() if k.startswith(start)}


def _flatten_optimizer(prefix, optimizer) -> dict:
    state = optimizer.state_dict()
    arrays = {f"{prefix}/param_groups": numpy.array(json.dumps(state["param_groups"]))}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            arrays[f"{prefix}/state/{index}/{key}"] = backend.to_numpy(value)  # checkpoints are host arrays
    return arrays


def _restore_optimizer(prefix, optimizer, arrays):
    groups = json.loads(str(arrays[f"{prefix}/param_groups"]))
    for group in groups:
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
    state = {}
    for key, value in _section(arrays, f"{prefix}/state").items():
        index, name = key.split("/", 1)
        state.setdefault(int(index), {})[name] = value if value.ndim else value.item()
    optimizer.load_state_dict({"state": state, "param_groups": groups})
