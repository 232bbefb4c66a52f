"""The GAN trainer: alternating updates with every loss, penalty and trick, deterministic
for a seed, with checkpoints that resume a run bit for bit.

    config = TrainConfig(data="ring8", loss="nonsaturating", steps=3000)
    trainer = Trainer(config)
    for _ in range(config.steps):
        logs = trainer.step()          # d_steps discriminator updates, one generator update

Every random number (latents, data batches, label flips, interpolation weights, noise)
comes from the global generator (``scratchgan.random``), whose state is checkpointed
with the models, the optimizers and the tricks' state.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

import numpy

from scratchgan import optim, random
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


@dataclass
class TrainConfig:
    """Everything that defines a run; saved as config.json, so a run is reproducible from it."""

    data: str = "ring8"
    loss: str = "nonsaturating"
    loss_params: dict = field(default_factory=dict)
    penalty: str = "r1"
    penalty_weight: float | None = None  # None: the penalty's standard weight (PENALTY_WEIGHTS)
    clip_value: float = 0.01
    steps: int = 5000
    batch_size: int = 256
    latent_dim: int = 16
    hidden: int = 64
    depth: int = 3
    optimizer: str = "adam"
    lr_g: float = 1e-3
    lr_d: float = 2e-3
    beta1: float = 0.5
    beta2: float = 0.999
    lr_schedule: str = "linear"
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
    ema: float = 0.0
    unrolled: int = 0
    unrolled_lr: float = 1e-2
    seed: int = 0
    dtype: str = "float32"
    log_every: int = 100
    checkpoint_every: int = 1000

    def validate(self):
        """One clear ValueError for the first invalid setting."""
        from scratchgan.data import toy

        if self.data not in toy.names():
            raise ValueError(f"unknown dataset {self.data!r}; expected one of: {', '.join(toy.names())}")
        losses.get(self.loss, **self.loss_params)  # raises with the valid names
        if self.penalty not in penalties.NAMES:
            raise ValueError(f"unknown penalty {self.penalty!r}; expected one of: {', '.join(penalties.NAMES)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; expected one of: {', '.join(OPTIMIZERS)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r}; expected one of: {', '.join(LR_SCHEDULES)}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        for name in ("steps", "batch_size", "latent_dim", "hidden", "depth", "d_steps", "log_every",
                     "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.penalty_weight is not None and self.penalty_weight <= 0:
            raise ValueError(f"penalty_weight must be positive, got {self.penalty_weight}")
        for name in ("lr_g", "lr_d", "unrolled_lr"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
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
        if self.feature_matching_layer and not 0 < self.feature_matching_layer < 2 * self.depth + 1:
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
        return cls(**values)


class Trainer:
    """Alternating GAN updates for a ``TrainConfig`` (models built from it unless given)."""

    def __init__(self, config: TrainConfig, generator=None, discriminator=None, dataset=None):
        from scratchgan.data import toy

        config.validate()
        self.config = config
        random.manual_seed(config.seed)
        self.dtype = numpy.dtype(config.dtype)
        self.dataset = dataset if dataset is not None else toy.get(config.data)
        self.loss = losses.get(config.loss, **config.loss_params)
        if generator is None:
            generator = models.mlp_generator(config.latent_dim, self.dataset.dim, config.hidden,
                                             config.depth, dtype=self.dtype)
        if discriminator is None:
            discriminator = models.mlp_discriminator(
                self.dataset.dim, config.hidden, config.depth, minibatch_std=config.minibatch_std,
                minibatch_discrimination=config.minibatch_discrimination, dtype=self.dtype)
        if config.penalty == "spectral_norm":
            models.spectral_normalize(discriminator)  # also a discriminator passed in
        self.generator, self.discriminator = generator, discriminator
        self.optimizer_g = self._optimizer(self.generator, config.lr_g)
        self.optimizer_d = self._optimizer(self.discriminator, config.lr_d)
        self.replay = tricks.ReplayPool(config.replay_size) if config.replay_size else None
        self.instance_noise = (tricks.InstanceNoise(config.instance_noise, config.instance_noise_steps)
                               if config.instance_noise else None)
        self.ema = tricks.EMA(self.generator, config.ema) if config.ema else None
        self.penalty_weight = (config.penalty_weight if config.penalty_weight is not None
                               else PENALTY_WEIGHTS.get(config.penalty))
        self.step_count = 0
        fixed = numpy.random.default_rng(config.seed + 1).standard_normal((512, config.latent_dim))
        self.fixed_latents = Tensor(fixed.astype(self.dtype))  # for snapshots, outside the global stream

    def _optimizer(self, module, lr):
        c = self.config
        if c.optimizer == "adam":
            return optim.Adam(module.parameters(), lr=lr, betas=(c.beta1, c.beta2))
        if c.optimizer == "rmsprop":
            return optim.RMSprop(module.parameters(), lr=lr)
        return optim.SGD(module.parameters(), lr=lr, momentum=c.beta1)

    # -- batches -------------------------------------------------------------------------------
    def real_batch(self):
        data = self.dataset.sample(self.config.batch_size, random.generator())
        return Tensor(data.astype(self.dtype))

    def latent_batch(self, n=None):
        n = n or self.config.batch_size
        return Tensor(random.generator().standard_normal((n, self.config.latent_dim)).astype(self.dtype))

    def _discriminate(self, real, fake):
        """D on real and fake: two separate batches (batch-norm friendly, seed 000) or one joint one."""
        if self.instance_noise is not None:
            real = self.instance_noise.apply(real, self.step_count)
            fake = self.instance_noise.apply(fake, self.step_count)
        if self.config.separate_batches:
            return self.discriminator(real), self.discriminator(fake)
        joint = self.discriminator(concatenate([real, fake], axis=0))
        n = real.shape[0]
        return joint[:n], joint[n:]

    # -- updates ---------------------------------------------------------------------------------
    def discriminator_step(self) -> dict:
        c = self.config
        real = self.real_batch()
        with no_grad():
            fake = self.generator(self.latent_batch())
        if self.replay is not None:
            fake = self.replay.query(fake)
        real_out, fake_out = self._discriminate(real, fake)
        if c.label_smoothing != 1.0 or c.label_flip:
            d_loss = tricks.discriminator_loss_with_targets(
                real_out, fake_out,
                tricks.discriminator_targets(len(real), True, c.label_smoothing, c.label_flip, real),
                tricks.discriminator_targets(len(real), False, 1.0, c.label_flip, real))
        else:
            d_loss = self.loss.discriminator(real_out, fake_out)
        logs = {"d_loss": d_loss.item()}
        total = d_loss
        penalty = self._penalty(real, fake)
        if penalty is not None:
            logs["penalty"] = penalty.item()
            total = d_loss + self.penalty_weight * penalty
        self.optimizer_d.zero_grad()
        total.backward()
        self.optimizer_d.step()
        if c.penalty == "weight_clipping":
            penalties.clip_weights(self.discriminator, c.clip_value)
        return logs

    def _penalty(self, real, fake):
        name, d = self.config.penalty, self.discriminator
        if name == "gradient_penalty":
            return penalties.gradient_penalty(d, real, fake)
        if name == "dragan":
            return penalties.dragan_penalty(d, real)
        if name == "r1":
            return penalties.r1_penalty(d, real)
        if name == "r2":
            return penalties.r2_penalty(d, fake)
        return None  # none, weight_clipping (after the step), spectral_norm (in the model)

    def generator_step(self) -> dict:
        c = self.config
        # D's weights get no gradient from G's loss (skips their backward), except when
        # unrolling, which differentiates through D's updates.
        self.discriminator.requires_grad_(bool(c.unrolled))
        try:
            g_loss = self._generator_loss()
            self.optimizer_g.zero_grad()
            g_loss.backward()
        finally:
            self.discriminator.requires_grad_(True)
        self.optimizer_g.step()
        self.discriminator.zero_grad()  # only unrolling leaves gradients there
        if self.ema is not None:
            self.ema.update()
        return {"g_loss": g_loss.item()}

    def _generator_loss(self):
        c = self.config
        fake = self.generator(self.latent_batch())
        need_real = self.loss.generator_needs_real or c.feature_matching_layer or c.unrolled
        real = self.real_batch() if need_real else None
        if c.feature_matching_layer:
            g_loss = tricks.feature_matching_loss(
                tricks.sequential_features(self.discriminator, real, c.feature_matching_layer),
                tricks.sequential_features(self.discriminator, fake, c.feature_matching_layer))
        elif c.unrolled:
            g_loss = tricks.unrolled_generator_loss(self.loss, self.discriminator, fake, real,
                                                    c.unrolled, c.unrolled_lr)
        else:
            real_out = self.discriminator(real) if real is not None else None
            g_loss = self.loss.generator(self.discriminator(fake), real_out=real_out)
        return g_loss

    def _set_learning_rates(self):
        """Linear schedule: lr (1 - t / steps) at step t = 0..steps-1, reaching lr/steps at the end.
        A function of the step count alone, so resuming continues the same schedule."""
        factor = 1.0
        if self.config.lr_schedule == "linear":
            factor = max(0.0, 1.0 - self.step_count / self.config.steps)
        for optimizer, lr in ((self.optimizer_g, self.config.lr_g), (self.optimizer_d, self.config.lr_d)):
            for group in optimizer.param_groups:
                group["lr"] = lr * factor

    def step(self) -> dict:
        """``d_steps`` discriminator updates, then one generator update."""
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
    def sample(self, n=None, latents=None) -> numpy.ndarray:
        """Generated samples (from the EMA generator when EMA is on), as a NumPy array."""
        model = self.ema.shadow if self.ema is not None else self.generator
        was_training = model.training
        model.eval()
        try:
            z = latents if latents is not None else self.latent_batch(n)
            return model(z).numpy().astype(numpy.float64)
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
        chunks = [self.discriminator(Tensor(points[a:b].astype(self.dtype))).numpy()[:, 0]
                  for a, b in zip(starts, bounds)]
        return numpy.concatenate(chunks)

    # -- checkpoints ------------------------------------------------------------------------------
    def state_arrays(self) -> dict:
        """Everything needed to continue exactly: models, optimizers, tricks, step, RNG, config."""
        arrays = {"step": numpy.array(self.step_count),
                  "config": numpy.array(json.dumps(asdict(self.config), sort_keys=True)),
                  "rng": numpy.array(json.dumps(random.get_state()))}
        for prefix, module in (("G", self.generator), ("D", self.discriminator)):
            arrays.update({f"{prefix}/{k}": v for k, v in module.state_dict().items()})
        if self.ema is not None:
            arrays.update({f"EMA/{k}": v for k, v in self.ema.shadow.state_dict().items()})
        for prefix, optimizer in (("optG", self.optimizer_g), ("optD", self.optimizer_d)):
            arrays.update(_flatten_optimizer(prefix, optimizer))
        if self.replay is not None:
            arrays.update({f"replay/{k}": v for k, v in self.replay.state_arrays().items()})
        return arrays

    def load_state_arrays(self, arrays: dict):
        saved = json.loads(str(arrays["config"]))
        own = asdict(self.config)
        # a constant-lr run may be extended (resume --steps); a scheduled one depends on steps
        extendable = ("log_every", "checkpoint_every") + (("steps",) if own["lr_schedule"] == "constant" else ())
        different = sorted(k for k in own if k not in extendable and saved.get(k) != own[k])
        if different:
            raise ValueError(f"checkpoint is from another configuration (differs in: {', '.join(different)})")
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


def _section(arrays, prefix):
    start = prefix + "/"
    return {k[len(start):]: v for k, v in arrays.items() if k.startswith(start)}


def _flatten_optimizer(prefix, optimizer) -> dict:
    state = optimizer.state_dict()
    arrays = {f"{prefix}/param_groups": numpy.array(json.dumps(state["param_groups"]))}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            arrays[f"{prefix}/state/{index}/{key}"] = numpy.asarray(value)
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
