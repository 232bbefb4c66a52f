"""The game interface: what a GAN family tells the trainer, and nothing more.

A game names its players (modules, built in a fixed order from the config), groups them
into player groups (the modules one optimizer updates from one loss, with that group's
learning rate, optimizer and number of updates per step), draws what a step needs (real
batches, latents, labels, codes), and gives each group's loss as a Tensor with what it logs.
The trainer (``scratchgan.gan.trainer``) knows no family: it alternates the groups, applies
the learning-rate schedule, EMA and historical averaging, and checkpoints every player,
every group's optimizer and whatever state the game keeps (``state_arrays``).

A family is one module under ``scratchgan/gan/games/`` holding one ``Game`` subclass (or a
few related ones) registered with ``@register``. docs/architecture.md, "GAN families are
games", says how to add one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy

from scratchgan.autograd import factories
from scratchgan.autograd.grad_mode import no_grad
from scratchgan.autograd.tensor import Tensor

GRID_COLUMNS = 10  # fixed latents i of a labelled model ask for class (i // 10) mod K: grid rows per class
# Arjovsky et al.'s critic schedule: 100 critic updates for G's first 25 updates and every 500th
WGAN_WARMUP_STEPS, WGAN_WARMUP_FIRST, WGAN_WARMUP_EVERY = 100, 25, 500


@dataclass(frozen=True)
class Group:
    """A player group: the players ``players`` (names of the game's modules) that one optimizer
    updates from one loss, ``steps`` times per trainer step, with learning rate ``lr`` and
    optimizer ``optimizer`` (a name of ``config.OPTIMIZERS``). Its optimizer's state is
    checkpointed under "opt" + ``name``. ``schedule`` (config ``d_steps_schedule``, for D groups):
    "constant", or "wgan_warmup", Arjovsky et al.'s critic schedule (``count``)."""

    name: str
    players: tuple
    lr: float
    optimizer: str
    steps: int = 1
    schedule: str = "constant"

    def count(self, step: int) -> int:
        """The group's updates in trainer step ``step`` (0-based, = the generator updates done).

        "wgan_warmup" (Arjovsky et al. 2017, arXiv:1701.07875, their code's ``Diters``): the
        critic gets ``WGAN_WARMUP_STEPS`` updates in the first ``WGAN_WARMUP_FIRST`` steps and in
        every ``WGAN_WARMUP_EVERY``-th, so its estimate is near the supremum before G follows it."""
        if self.schedule == "wgan_warmup" and (step < WGAN_WARMUP_FIRST or step % WGAN_WARMUP_EVERY == 0):
            return WGAN_WARMUP_STEPS
        return self.steps



class Game:
    """The base of every game. Subclasses set the class attributes, name their players' builders in
    ``player_builders`` and define ``groups`` and ``group_loss``; the rest has defaults that
    fit a generator G(z) sampled from z ~ N(0, I)."""

    name = ""  # the --model name
    description = ""
    families = ("image",)  # the data families it trains on ("toy", "image")
    default_data = "mnist"  # what `scratchgan list` suggests
    defaults: dict = {}  # settings left at None, over the data family's (config.FAMILY_DEFAULTS)
    data_defaults: dict = {}  # {dataset: settings} over those
    conv_discriminator = True  # d_batch_norm defaults to on (unless a gradient penalty is used)
    small_gemms = False  # MLP-sized matrix products: one BLAS thread is fastest (backend.blas_threads)
    sampler = "G"  # the player that generates samples (its EMA copy when EMA is on)
    conditional = False  # whether the sampler takes a second input (labels, codes)
    labelled = False  # whether that input is a class label
    # TrainConfig settings this game cannot honour, refused with one clear error when set
    unsupported: tuple = ()
    # the loss curves of losses.png: {logged key: label}
    loss_curves = {"d_loss": "discriminator", "g_loss": "generator"}
    # the metric curves of metrics.png (image runs), of the logged keys
    metric_curves = ("fid_fixed", "classes_covered")

    # -- configuration ---------------------------------------------------------------------------
    @classmethod
    def validate(cls, config):
        """One ValueError for a setting of the resolved ``config`` that this game cannot train."""
        if config.family not in cls.families:
            from scratchgan.gan.config import dataset_names

            needed = " or ".join(f"{family} data ({', '.join(dataset_names()[family])})" for family in cls.families)
            raise ValueError(f"model {cls.name!r} needs {needed}; {config.data!r} is a {config.family} dataset"
                             + (" (use --model mlp)" if config.family == "toy" else ""))
        if config.family == "toy" and config.data_dir is not None:
            raise ValueError(f"data_dir applies to image datasets; {config.data!r} is a toy dataset")

    @classmethod
    def check_supported(cls, config):
        """Refuse the settings of ``unsupported`` that differ from their defaults."""
        from scratchgan.gan.config import TrainConfig

        plain = TrainConfig(data=config.data, model=cls.name).resolved()
        for name in cls.unsupported:
            if getattr(config, name) != getattr(plain, name):
                raise ValueError(f"{name} does not apply to model {cls.name!r} ({cls.description}); "
                                 f"leave it at {getattr(plain, name)!r}")

    def __init__(self, config, dataset, dtype, loss):
        self.config, self.dataset, self.dtype, self.loss = config, dataset, numpy.dtype(dtype), loss
        self.family = config.family
        self.num_classes = getattr(dataset, "num_classes", 0)
        self.device = "cpu"
        self.players = {}
        self.optimizers = {}

    def player_builders(self) -> dict:
        """{player name: a function of no arguments that builds it}, in the order they are built
        (parameter initialisation draws from the global generator); ``Trainer(players=...)``
        passes modules to use instead of some."""
        raise NotImplementedError

    def prepare_players(self, players: dict) -> dict:
        """Change the players before they move to the device (e.g. spectral normalisation of D)."""
        return players

    def setup(self, players: dict, device):
        """Take the players (on ``device``) before training; games create their tricks' state here."""
        self.players, self.device = players, device

    def groups(self) -> tuple:
        """The player groups in their update order (a tuple of ``Group``)."""
        raise NotImplementedError

    def bind_optimizers(self, optimizers: dict):
        """Take the trainer's optimizers ({group name: optimizer}) once they are built: a loss
        may read one's rule and state (unrolling through D's own update); none is stepped here."""
        self.optimizers = optimizers

    # -- one update --------------------------------------------------------------------------------
    def group_loss(self, group: Group, step: int):
        """(loss Tensor, logs) of ``group`` at trainer step ``step``."""
        raise NotImplementedError

    def gradients_through(self, group: Group) -> tuple:
        """Players outside ``group`` whose parameters the group's loss differentiates through
        (unrolled GANs); the others are frozen during the group's update."""
        return ()

    def after_update(self, group: Group):
        """Called after each update of ``group`` (e.g. weight clipping)."""

    def log(self, value: Tensor):
        """A logged scalar: a float on the CPU; on the GPU a 0-d device array, read back only
        when the caller converts it (``float(v)``, at its logging interval), since every
        read-back waits for the GPU to finish."""
        return value.item() if self.device == "cpu" else value.detach().data

    # -- draws -------------------------------------------------------------------------------------
    def draw_latents(self, n, generator) -> numpy.ndarray:
        """n latents of the prior as a host array (fixed latents, evaluation): z ~ N(0, I)."""
        return generator.standard_normal((n, self.config.latent_dim))

    def latent_batch(self, n=None) -> Tensor:
        """A batch of latents from the global generator, on the game's device."""
        n = n or self.config.batch_size
        return factories.randn(n, self.config.latent_dim, dtype=self.dtype, device=self.device)

    def draw_condition(self, n, generator):
        """What G is asked for besides z (labels, codes), drawn from ``generator``, or None."""
        return None

    def fixed_condition(self, count, generator):
        """The condition of the fixed latents (snapshots, grids), or None."""
        return None

    def generate(self, model, z, condition):
        """Samples of generator ``model`` (the sampler or its EMA copy) for z and condition."""
        return model(z) if condition is None else model(z, condition)

    def discriminator_values(self, points: numpy.ndarray) -> numpy.ndarray:
        """D's raw outputs on toy points (the figure's surface); games with a D of x only."""
        raise NotImplementedError(f"model {self.name!r} has no discriminator of x alone to draw")

    # -- state ---------------------------------------------------------------------------------------
    def state_arrays(self) -> dict:
        """The game's own state besides its players' (e.g. a replay pool), by key."""
        return {}

    def check_state_arrays(self, arrays: dict):
        """One ValueError for a key of ``state_arrays`` output that does not fit this game."""

    def load_state_arrays(self, arrays: dict):
        """Continue from ``state_arrays`` output (checked before)."""

    def state_sections(self) -> tuple:
        """The key prefixes (before "/") of ``state_arrays``."""
        return ()

    # -- evaluation and figures (the runner) -----------------------------------------------------------
    def evaluation_figures(self, samples, condition, quick) -> tuple[dict, dict]:
        """(figures, details) the game adds to an image run's metrics for generated ``samples``
        asked for with ``condition``: e.g. class accuracy of a labelled game."""
        return {}, {}

    def final_figures(self, trainer, generator) -> dict:
        """Final metrics of the game's own (reconstruction, probes), drawn from ``generator``."""
        return {}

    def row_labels(self):
        """Names of the 10 rows of the sample grids (the class or code asked for), or None."""
        return None

    def interpolation_condition(self, rows: numpy.ndarray):
        """The condition held along each interpolation row (row index -> condition), or None."""
        return None

    def figures(self, trainer, path):
        """The game's own figures in run folder ``path`` (InfoGAN traversals, reconstructions)."""


def section(arrays, prefix):
    """The entries of ``arrays`` under "prefix/", keyed by the rest of their names."""
    start = prefix + "/"
    return {k[len(start):]: v for k, v in arrays.items() if k.startswith(start)}


def held_out_split(dataset, seed, count=1000):
    """((train images, labels), (test images, labels)): ``count`` images (at most a fifth)
    held out by a permutation fixed by ``seed``, for probes and reconstruction errors."""
    order = numpy.random.default_rng(seed).permutation(len(dataset.images))
    test = order[:min(count, len(order) // 5)]
    train = order[len(test):]
    return ((dataset.images[train], dataset.labels[train]), (dataset.images[test], dataset.labels[test]))


@no_grad()
def encode(encoder, images, dtype, device, batch_size=500) -> numpy.ndarray:
    """``encoder`` on host images in eval mode, in batches, as a float64 host array."""
    was_training = encoder.training
    encoder.eval()
    try:
        chunks = [encoder(Tensor(images[i:i + batch_size].astype(dtype)).to(device)).numpy()
                  for i in range(0, len(images), batch_size)]
    finally:
        encoder.train(was_training)
    return numpy.concatenate(chunks).astype(numpy.float64)
