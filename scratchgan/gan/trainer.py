"""The GAN trainer: a generic loop over the player groups of any game (``scratchgan.gan.games``),
deterministic for a seed, with checkpoints that resume a run bit for bit.

    config = TrainConfig(data="ring8", loss="nonsaturating", steps=3000)
    trainer = Trainer(config)
    for _ in range(trainer.config.steps):
        logs = trainer.step()          # each player group's updates, in the game's order

The game (``config.model``) names the players, groups them (the modules one optimizer
updates from one loss, how many updates per step, with which learning rate and optimizer)
and gives each group's loss. The trainer knows no family: it builds each group's optimizer,
applies the learning-rate schedule, historical averaging and the EMA of the sampling
player, freezes the players a group does not update, and checkpoints every player, every
optimizer and the game's own state.

Every random number (latents, labels and codes, data batches, label flips, interpolation
weights, noise) comes from the global generator (``scratchgan.random``), whose state is
checkpointed with the players, the optimizers and the tricks' state.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy

from scratchgan import backend, optim, random
from scratchgan.autograd.grad_mode import no_grad
from scratchgan.autograd.tensor import Tensor
from scratchgan.gan import losses, tricks
from scratchgan.gan.config import (FAMILY_DEFAULTS, GRADIENT_PENALTIES, IMAGE_STEPS, LR_SCHEDULES,  # noqa: F401
                                   ON_NONFINITE, OPTIMIZERS, PENALTY_WEIGHTS, RUN_SETTINGS, TrainConfig,
                                   check_dataset_size, dataset_names, family_of, load_dataset)
from scratchgan.gan.games.base import GRID_COLUMNS, section as _section  # noqa: F401

FIXED_SAMPLES = {"toy": 512, "image": 500}  # fixed latents for snapshots and quick metrics


def __getattr__(name):
    """``MAIN_JOB_DEFAULTS``, the main job's recipe, lives with its game (games/unconditional.py)."""
    if name == "MAIN_JOB_DEFAULTS":
        from scratchgan.gan.games.unconditional import MAIN_JOB_DEFAULTS

        return MAIN_JOB_DEFAULTS
    raise AttributeError(f"module 'scratchgan.gan.trainer' has no attribute {name!r}")


def build_optimizer(name, parameters, lr, config):
    """The optimizer ``name`` (config.OPTIMIZERS) over ``parameters``: Adam with (beta1, beta2),
    RMSprop, SGD with momentum beta1, or SGD with Nesterov momentum beta1."""
    if name == "adam":
        return optim.Adam(parameters, lr=lr, betas=(config.beta1, config.beta2))
    if name == "rmsprop":
        return optim.RMSprop(parameters, lr=lr)
    return optim.SGD(parameters, lr=lr, momentum=config.beta1, nesterov=name == "nesterov")


class Trainer:
    """The updates of ``config``'s game; its players and data built from the config unless given
    (``players``: {name: Module}; ``generator`` / ``discriminator``: players "G" / "D")."""

    def __init__(self, config: TrainConfig, generator=None, discriminator=None, dataset=None, device=None,
                 players=None):
        config = config.resolved()
        config.validate()
        self.config = config
        self.family = config.family
        random.manual_seed(config.seed)
        self.dtype = numpy.dtype(config.dtype)
        self.dataset = dataset if dataset is not None else load_dataset(config)
        check_dataset_size(config, self.dataset)
        self.loss = losses.get(config.loss, **config.loss_params)
        self.game = config.game(config, self.dataset, self.dtype, self.loss)
        given = dict(players or {})
        given.update({name: module for name, module in (("G", generator), ("D", discriminator))
                      if module is not None})
        builders = self.game.player_builders()
        unknown = sorted(set(given) - set(builders))
        if unknown:
            raise ValueError(f"model {config.model!r} has no players {unknown}; its players are "
                             f"{', '.join(builders)}")
        # built in the game's order, each only when not given (initialisation draws from the global stream)
        players = self.game.prepare_players({name: given[name] if name in given else build()
                                             for name, build in builders.items()})
        # the players, their optimizer state and every per-step draw live on one device: the GPU
        # when the cupy kernel set is active (backend.default_device), else the CPU
        self.device = device if device is not None else backend.default_device()
        self.players = {name: module.to(self.device) for name, module in players.items()}
        self.game.setup(self.players, self.device)
        self.groups = self.game.groups()
        self.optimizers = {group.name: build_optimizer(group.optimizer, self._parameters(group), group.lr, config)
                           for group in self.groups}
        self.game.bind_optimizers(self.optimizers)
        self.ema = tricks.EMA(self.players[self.game.sampler], config.ema) if config.ema else None
        self.history = ({group.name: tricks.HistoricalAverage(self._parameters(group)) for group in self.groups}
                        if config.historical_averaging else {})
        self.step_count = 0
        # for snapshots and quick metrics, from a stream outside the global one
        fixed = numpy.random.default_rng(config.seed + 1)
        count = FIXED_SAMPLES[self.family]
        self.fixed_latents = Tensor(self.game.draw_latents(count, fixed).astype(self.dtype)).to(self.device)
        self.fixed_condition = self.game.fixed_condition(count, fixed)

    def _parameters(self, group):
        return [p for name in group.players for p in self.players[name].parameters()]

    # -- the players, by their usual names -----------------------------------------------------------
    @property
    def generator(self):
        """The sampling player (G)."""
        return self.players[self.game.sampler]

    @property
    def discriminator(self):
        return self.players["D"]

    @property
    def optimizer_g(self):
        return self.optimizers["G"]

    @property
    def optimizer_d(self):
        return self.optimizers["D"]

    @property
    def labelled(self) -> bool:
        """Whether G takes class labels."""
        return self.game.labelled

    @property
    def conditional(self) -> bool:
        """Whether G takes a second input (labels or codes)."""
        return self.game.conditional

    @property
    def num_classes(self) -> int:
        return self.game.num_classes

    def latent_batch(self, n=None):
        return self.game.latent_batch(n)

    def draw_condition(self, n, generator):
        return self.game.draw_condition(n, generator)

    # -- updates ---------------------------------------------------------------------------------------
    def _set_learning_rates(self):
        """Linear schedule: lr (1 - t / steps) at step t = 0..steps-1, reaching lr/steps at the end.
        A function of the step count alone, so resuming continues the same schedule."""
        factor = 1.0
        if self.config.lr_schedule == "linear":
            factor = max(0.0, 1.0 - self.step_count / self.config.steps)
        for group in self.groups:
            for param_group in self.optimizers[group.name].param_groups:
                param_group["lr"] = group.lr * factor

    def update(self, group) -> dict:
        """One update of player group ``group`` (a ``Group`` or its name): its loss (plus
        historical averaging), with the players outside it frozen, then its optimizer's step."""
        if isinstance(group, str):
            group = next(g for g in self.groups if g.name == group)
        frozen = [name for name in self.players
                  if name not in group.players and name not in self.game.gradients_through(group)]
        optimizer = self.optimizers[group.name]
        for name in frozen:  # their weights get no gradient (skips their backward)
            self.players[name].requires_grad_(False)
        try:
            loss, logs = self.game.group_loss(group, self.step_count)
            if self.history:
                average = self.history[group.name].penalty()
                logs[f"{group.name}_historical_average"] = self.game.log(average)
                loss = loss + self.config.historical_averaging * average
            optimizer.zero_grad()
            loss.backward()
        finally:
            for name in frozen:
                self.players[name].requires_grad_(True)
        optimizer.step()
        for name in self.players:  # no gradient outlives its update (a loss through another player's
            if name not in group.players:  # updates, e.g. unrolling, leaves some there)
                self.players[name].zero_grad()
        self.game.after_update(group)
        if self.history:
            self.history[group.name].update()
        if self.ema is not None and self.game.sampler in group.players:
            self.ema.update()
        return logs

    def step(self) -> dict:
        """Each player group's updates (``group.count(step)`` each), in the game's order. The logs'
        values are floats on the CPU and 0-d device arrays on the GPU (``Game.log``).

        A game of small GEMMs (the toy MLPs) steps with one BLAS thread: two threads take as
        long on an idle machine and up to 16x longer when another process holds a core
        (``backend.blas_threads``)."""
        if self.game.small_gemms:
            with backend.blas_threads(1):
                return self._step()
        return self._step()

    def _step(self) -> dict:
        self._set_learning_rates()
        logs = {}
        for group in self.groups:
            for _ in range(group.count(self.step_count)):
                logs.update(self.update(group))
        self.step_count += 1
        logs["step"] = self.step_count
        return logs

    # -- sampling ---------------------------------------------------------------------------------------
    @no_grad()
    def sample(self, n=None, latents=None, condition=None, batch_size=500) -> numpy.ndarray:
        """Generated samples (from the EMA copy of the sampler when EMA is on, in eval mode), as
        a float64 NumPy array. ``condition``: the labels or codes to ask for (drawn from the
        global generator, like missing latents, when not given). Image models generate in
        batches of ``batch_size``."""
        model = self.ema.shadow if self.ema is not None else self.generator
        z = latents.to(self.device) if latents is not None else self.game.latent_batch(n)
        if condition is None and self.game.conditional:
            condition = self.game.draw_condition(z.shape[0], random.generator())
        was_training = model.training
        model.eval()
        try:
            if self.family == "toy":
                return self.game.generate(model, z, condition).numpy().astype(numpy.float64)
            chunks = [self.game.generate(model, z[start:start + batch_size],
                                         None if condition is None else condition[start:start + batch_size])
                      .numpy().astype(numpy.float64) for start in range(0, z.shape[0], batch_size)]
            return numpy.concatenate(chunks)
        finally:
            model.train(was_training)

    def discriminator_values(self, points: numpy.ndarray) -> numpy.ndarray:
        """D's raw outputs on points (toy figures), in training-sized batches."""
        return self.game.discriminator_values(points)

    # -- checkpoints -------------------------------------------------------------------------------------
    def _module_sections(self):
        sections = dict(self.players)
        if self.ema is not None:
            sections["EMA"] = self.ema.shadow
        return sections

    def state_arrays(self) -> dict:
        """Everything needed to continue exactly: players, optimizers, the game's and the tricks'
        state, step, RNG, config."""
        arrays = {"step": numpy.array(self.step_count),
                  "config": numpy.array(json.dumps(asdict(self.config), sort_keys=True)),
                  "rng": numpy.array(json.dumps(random.get_state()))}
        for prefix, module in self._module_sections().items():
            arrays.update({f"{prefix}/{k}": backend.to_numpy(v) for k, v in module.state_dict().items()})
        for name, optimizer in self.optimizers.items():
            arrays.update(_flatten_optimizer(f"opt{name}", optimizer))
        arrays.update(self.game.state_arrays())
        for name, history in self.history.items():
            arrays.update({f"history{name}/{k}": v for k, v in history.state_arrays().items()})
        return arrays

    def nonfinite_parameters(self) -> list[str]:
        """The names of the players' parameters that hold a NaN or an infinity."""
        return [f"{prefix}/{name}" for prefix, module in self.players.items()
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
        for prefix, module in self._module_sections().items():
            module.load_state_dict(_section(arrays, prefix))
        for name, optimizer in self.optimizers.items():
            _restore_optimizer(f"opt{name}", optimizer, arrays)
        self.game.load_state_arrays(arrays)
        for name, history in self.history.items():
            history.load_state_arrays(_section(arrays, f"history{name}"))
        random.set_state(json.loads(str(arrays["rng"])))

    def check_state_arrays(self, arrays: dict):
        """One ValueError naming the first key of ``arrays`` that this trainer cannot continue
        from: a missing or unexpected key, a shape, dtype or value that does not fit the live
        players and optimizers, or another configuration. Checks only; changes nothing."""
        own = self.state_arrays()
        _check_scalar(arrays, "step", "iu")
        if int(arrays["step"]) < 0:
            raise ValueError(f"'step' is {int(arrays['step'])}, expected a step count >= 0")
        self._check_config(_json_entry(arrays, "config", dict))
        _check_rng_state(_json_entry(arrays, "rng", dict))
        modules = tuple(self._module_sections())
        for prefix in modules:
            _check_same_arrays(prefix, _section(own, prefix), _section(arrays, prefix))
        for name, optimizer in self.optimizers.items():
            _check_optimizer_arrays(f"opt{name}", optimizer, arrays)
        self.game.check_state_arrays(arrays)
        for name, history in self.history.items():
            history.check_state_arrays(f"history{name}", _section(arrays, f"history{name}"))
        sections = (modules + tuple(f"opt{name}" for name in self.optimizers) + self.game.state_sections()
                    + tuple(f"history{name}" for name in self.history))
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
