"""The two-player game of a generator G and a discriminator D, with every trick on it.

Player groups: "D" (``d_steps`` updates per trainer step, lr_d, optimizer_d), then "G"
(``g_steps`` updates, lr_g, optimizer_g): seed 003's "k steps for D, then G", and the
reverse. D's loss is the adversarial loss on a real and a fake batch (with one-sided label
smoothing, noisy labels, a replay pool of past fakes, instance noise, joint or separate
batches) plus the penalty of ``config.penalty`` on the critic; G's loss is the adversarial
loss, or feature matching, or the loss against an unrolled D.

A family changes what D and G see through the hooks below (the condition that comes with a
real batch, how D scores a sample and its condition, an auxiliary head's losses), never the
update itself: ``unconditional``, ``conditional``, ``acgan``, ``infogan`` and ``bigan`` are
such hooks. Conditional families: a real batch comes with its labels; in D's step the fakes
are asked for the real batch's labels (real and fake batches match class for class, and a
gradient penalty's interpolates have one label); in G's step labels are drawn uniformly, or
are the real batch's when G's loss also looks at real data (feature matching, unrolling,
relativistic losses).
"""

from __future__ import annotations

import numpy

from scratchgan import random
from scratchgan.autograd.grad_mode import no_grad
from scratchgan.autograd.tensor import Tensor
from scratchgan.gan import models, penalties, tricks
from scratchgan.gan.config import PENALTY_WEIGHTS
from scratchgan.gan.games.base import Game, Group, section
from scratchgan.ops.shape import concatenate


class AdversarialGame(Game):
    """G against D. Players "G" and "D"; subclasses build them and override the hooks."""

    real_aux = False  # whether D's auxiliary head reads the real batch (AC-GAN)
    fake_aux = False  # whether it reads the fake batch (AC-GAN, InfoGAN's Q)
    generator_needs_real = False  # whether G's loss always needs a real batch (BiGAN's encoder)

    # -- players and groups ------------------------------------------------------------------------
    def groups(self):
        c = self.config
        return (Group("D", ("D",), c.lr_d, c.optimizer_d, c.d_steps, c.d_steps_schedule),
                Group("G", ("G",), c.lr_g, c.optimizer_g, c.g_steps))

    def player_builders(self):
        return {"G": self.build_generator, "D": self.build_discriminator}

    def build_generator(self):
        raise NotImplementedError

    def tricks_options(self):
        """D's minibatch layers, as the model factories take them."""
        c = self.config
        return {"minibatch_std": c.minibatch_std, "minibatch_discrimination": c.minibatch_discrimination}

    def build_discriminator(self):
        raise NotImplementedError

    def prepare_players(self, players):
        if self.config.penalty == "spectral_norm":
            models.spectral_normalize(players["D"])  # also a discriminator passed in
        return players

    def setup(self, players, device):
        super().setup(players, device)
        c = self.config
        self.check_feature_layer()
        self.replay = tricks.ReplayPool(c.replay_size) if c.replay_size else None
        self.instance_noise = (tricks.InstanceNoise(c.instance_noise, c.instance_noise_steps)
                               if c.instance_noise else None)
        self.penalty_weight = c.penalty_weight if c.penalty_weight is not None else PENALTY_WEIGHTS.get(c.penalty)
        # none, weight_clipping (after the step) and spectral_norm (in the model) are not registry entries
        self.penalty_term = penalties.get(c.penalty, **c.penalty_params) if c.penalty in penalties.names() else None

    @property
    def generator(self):
        return self.players["G"]

    @property
    def discriminator(self):
        return self.players["D"]

    # -- hooks ---------------------------------------------------------------------------------------
    def real_batch(self, grad=True):
        """(a real batch Tensor, the condition D sees with it, or None). ``grad``: whether the
        condition may carry gradients (BiGAN's E(x) in G's step)."""
        data = self.dataset.sample(self.config.batch_size, random.generator())
        return Tensor(data.astype(self.dtype)).to(self.device), None  # a host-to-device copy, no sync

    def fake_condition(self, real_condition, n):
        """What G is asked for in a step, given the real batch's condition (None when none was drawn)."""
        return None

    def generate_fake(self, z, condition):
        """(G's samples for z and condition, the condition D sees with them)."""
        return self.generate(self.generator, z, condition), condition

    def d_outputs(self, x, condition, with_aux=False):
        """(D's logits (N, 1), its auxiliary head's output or None)."""
        return self.discriminator(x), None

    def joint_condition(self, real_condition, fake_condition):
        """The condition of the joint real-and-fake batch (``separate_batches`` off)."""
        return None

    def critic(self, condition):
        """D as a function of x alone (penalties, unrolling)."""
        return self.discriminator

    def feature_modules(self):
        """The Sequential whose first k modules give feature matching's features."""
        return self.discriminator

    def features(self, x, condition):
        return tricks.sequential_features(self.feature_modules(), x, self.config.feature_matching_layer)

    def discriminator_extra(self, real_aux, real_condition, fake_aux, fake_condition, logs):
        """A term added to D's loss (AC-GAN's class loss, InfoGAN's information term), or None."""
        return None

    def generator_extra(self, fake, fake_aux, condition, logs):
        """A term added to G's loss, or None."""
        return None

    def generator_adversarial_loss(self, fake_out, real_out):
        return self.loss.generator(fake_out, real_out=real_out)

    def check_feature_layer(self):
        layer = self.config.feature_matching_layer
        if layer and self.family == "image":
            count = len(self.feature_modules())
            if not 0 < layer < count:
                raise ValueError(f"feature_matching_layer must be in [1, {count - 1}] for this "
                                 f"{self.name} discriminator, got {layer}")

    # -- the losses ------------------------------------------------------------------------------------
    def group_loss(self, group, step):
        if group.name == "D":
            return self.discriminator_loss(step)
        return self.generator_loss()

    def gradients_through(self, group):
        return ("D",) if group.name == "G" and self.config.unrolled else ()

    def after_update(self, group):
        if group.name == "D" and self.config.penalty == "weight_clipping":
            penalties.clip_weights(self.discriminator, self.config.clip_value)

    def discriminate(self, real, real_condition, fake, fake_condition, step):
        """D on real and fake: two separate batches (batch-norm friendly, seed 000) or one joint one.
        Returns ((real logits, real aux), (fake logits, fake aux)); aux is None unless needed."""
        if self.instance_noise is not None:
            real = self.instance_noise.apply(real, step)
            fake = self.instance_noise.apply(fake, step)
        if self.config.separate_batches:
            return (self.d_outputs(real, real_condition, self.real_aux),
                    self.d_outputs(fake, fake_condition, self.fake_aux))
        condition = self.joint_condition(real_condition, fake_condition)
        joint, aux = self.d_outputs(concatenate([real, fake], axis=0), condition, self.fake_aux)
        n = real.shape[0]
        split_aux = (None, None) if aux is None else (aux[:n], aux[n:])
        return (joint[:n], split_aux[0]), (joint[n:], split_aux[1])

    def discriminator_loss(self, step):
        c = self.config
        real, real_condition = self.real_batch(grad=False)
        fake_condition = self.fake_condition(real_condition, c.batch_size)
        with no_grad():
            fake, fake_condition = self.generate_fake(self.latent_batch(), fake_condition)
        if self.replay is not None:
            fake, fake_condition = self.replay.query_with_condition(fake, fake_condition)
        (real_out, real_aux), (fake_out, fake_aux) = self.discriminate(real, real_condition, fake, fake_condition,
                                                                       step)
        d_loss = self.adversarial_discriminator_loss(real_out, fake_out, real)
        logs = {"d_loss": self.log(d_loss)}
        total = d_loss
        extra = self.discriminator_extra(real_aux, real_condition, fake_aux, fake_condition, logs)
        if extra is not None:
            total = total + extra
        penalty = self.penalty(real, fake, real_condition, fake_condition)
        if penalty is not None:
            logs["penalty"] = self.log(penalty)
            total = total + self.penalty_weight * penalty
        return total, logs

    def adversarial_discriminator_loss(self, real_out, fake_out, like):
        """D's adversarial loss: the loss's, or the cross-entropy against smoothed or flipped targets."""
        c = self.config
        if c.label_smoothing != 1.0 or c.label_flip:
            size = len(real_out)
            return tricks.discriminator_loss_with_targets(
                real_out, fake_out,
                tricks.discriminator_targets(size, True, c.label_smoothing, c.label_flip, like),
                tricks.discriminator_targets(size, False, 1.0, c.label_flip, like))
        return self.loss.discriminator(real_out, fake_out)

    def penalty(self, real, fake, real_condition=None, fake_condition=None):
        """The registry's penalty of ``config.penalty`` on the critic, or None."""
        if self.penalty_term is None:
            return None
        # a penalty on the fake batch alone (R2) sees the fakes' condition; interpolates and
        # everything else take the real batch's
        condition = fake_condition if self.penalty_term.reads == "fake" else real_condition
        return self.penalty_term(self.critic(condition), real, fake)

    def generator_loss(self):
        """(G's total loss, logs): the adversarial loss ("g_loss") plus the family's own term."""
        c = self.config
        z = self.latent_batch()
        need_real = (self.loss.generator_needs_real or c.feature_matching_layer or c.unrolled
                     or self.generator_needs_real)
        real, real_condition = self.real_batch(grad=True) if need_real else (None, None)
        condition = self.fake_condition(real_condition, c.batch_size)
        fake, fake_condition = self.generate_fake(z, condition)
        fake_aux = None
        if c.feature_matching_layer:
            g_loss = tricks.feature_matching_loss(self.features(real, real_condition),
                                                  self.features(fake, fake_condition))
        elif c.unrolled:
            optimizer = self.optimizers["D"] if c.unrolled_update == "optimizer" else None
            g_loss = tricks.unrolled_generator_loss(self.loss, self.critic(fake_condition), fake, real,
                                                    c.unrolled, c.unrolled_lr, optimizer)
        else:
            fake_out, fake_aux = self.d_outputs(fake, fake_condition, with_aux=True)
            real_out = self.d_outputs(real, real_condition)[0] if real is not None else None
            g_loss = self.generator_adversarial_loss(fake_out, real_out)
        logs = {"g_loss": self.log(g_loss)}
        extra = self.generator_extra(fake, fake_aux, condition, logs)
        if extra is not None:
            g_loss = g_loss + extra
        return g_loss, logs

    # -- figures of toy runs ---------------------------------------------------------------------------
    @no_grad()
    def discriminator_values(self, points):
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

    # -- state: the replay pool and the penalty's own (LeCam's anchors) ----------------------------------
    def _penalty_has_state(self):
        return self.penalty_term is not None and bool(self.penalty_term.state_arrays())

    def state_sections(self):
        return (("replay",) if self.replay is not None else ()) + (("penalty",) if self._penalty_has_state() else ())

    def state_arrays(self):
        arrays = {}
        if self.replay is not None:
            arrays.update({f"replay/{k}": v for k, v in self.replay.state_arrays().items()})
        if self._penalty_has_state():
            arrays.update({f"penalty/{k}": v for k, v in self.penalty_term.state_arrays().items()})
        return arrays

    def load_state_arrays(self, arrays):
        if self.replay is not None:
            self.replay.load_state_arrays(section(arrays, "replay"))
        if self._penalty_has_state():
            self.penalty_term.load_state_arrays(section(arrays, "penalty"))

    def check_state_arrays(self, arrays):
        if self._penalty_has_state():
            self.penalty_term.check_state_arrays(section(arrays, "penalty"))
        if self.replay is None:
            return
        arrays = section(arrays, "replay")
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


class AuxiliaryHeadGame(AdversarialGame):
    """A game whose D is a ``models.AuxiliaryDiscriminator``: a trunk feeding the adversarial
    head and an auxiliary one (AC-GAN's classes, InfoGAN's Q); feature matching reads the trunk."""

    def d_outputs(self, x, condition, with_aux=False):
        if with_aux:
            return self.discriminator.forward_with_aux(x)
        return self.discriminator(x), None

    def feature_modules(self):
        return self.discriminator.trunk

    def features(self, x, condition):
        return tricks.sequential_features(self.discriminator.trunk, x, self.config.feature_matching_layer)

    def auxiliary_output(self, fake, fake_aux):
        """The auxiliary head on G's fakes (computed when G's loss did not read D's heads:
        feature matching, unrolling)."""
        return fake_aux if fake_aux is not None else self.discriminator.forward_with_aux(fake)[1]
